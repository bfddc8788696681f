//! [`SesClient`] over aws-sdk-sesv2.

use async_trait::async_trait;
use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{
    Body, BulkEmailContent, BulkEmailEntry, Content, Destination, EmailContent,
    EmailTemplateContent, Message, MessageHeader, MessageTag, ReplacementEmailContent,
    ReplacementTemplate, Template,
};

use crate::classify::{classify, classify_bulk_entry};
use crate::client::{AccountQuota, BulkMessage, EmailMessage, SesClient, MAX_BULK_ENTRIES};
use crate::error::SesError;
use crate::outcome::SendOutcome;
use crate::sdk_error::{error_info, TransmitProbe};

/// Character set of every text part; SES defaults to 7-bit ASCII otherwise.
const CHARSET: &str = "UTF-8";

/// An SES account in one region, reached through aws-sdk-sesv2.
///
/// Sends are never retried by the SDK, whatever the client's own retry
/// configuration is, because SES has no idempotency key: a retried request
/// whose first attempt was accepted delivers twice. Calls that do not send
/// use `read_retry`.
#[derive(Clone, Debug)]
pub struct AwsSesClient {
    client: aws_sdk_sesv2::Client,
    read_retry: RetryConfig,
    /// `<account id>/<region>`, for logs.
    label: String,
}

impl AwsSesClient {
    /// Wraps an SDK client. `label` names the account in logs (an account id
    /// and region, never a secret).
    pub fn new(client: aws_sdk_sesv2::Client, read_retry: RetryConfig, label: String) -> Self {
        Self {
            client,
            read_retry,
            label,
        }
    }

    fn no_retry() -> aws_sdk_sesv2::config::Builder {
        aws_sdk_sesv2::config::Builder::default().retry_config(RetryConfig::disabled())
    }

    fn with_read_retry(&self) -> aws_sdk_sesv2::config::Builder {
        aws_sdk_sesv2::config::Builder::default().retry_config(self.read_retry.clone())
    }

    /// Sends at most [`MAX_BULK_ENTRIES`] entries in one call and returns one
    /// outcome per entry, or the one outcome of a call that failed as a whole.
    async fn send_bulk_chunk(
        &self,
        message: &BulkMessage,
        entries: &[crate::client::BulkEntry],
    ) -> Result<Vec<SendOutcome>, SendOutcome> {
        let request = bulk_request_parts(message, entries).map_err(|err| invalid_input(&err))?;

        let probe = TransmitProbe::default();
        let result = self
            .client
            .send_bulk_email()
            .from_email_address(&message.from)
            .set_reply_to_addresses(non_empty(message.reply_to.clone()))
            .default_content(request.content)
            .set_default_email_tags(request.default_tags)
            .set_bulk_email_entries(Some(request.entries))
            .set_configuration_set_name(message.configuration_set.clone())
            .customize()
            .config_override(Self::no_retry())
            .interceptor(probe.clone())
            .send()
            .await;

        let output =
            result.map_err(|err| self.classify_send_error("SendBulkEmail", &err, &probe))?;

        let results = output.bulk_email_entry_results();
        if results.len() != entries.len() {
            tracing::warn!(
                account = %self.label,
                entries = entries.len(),
                results = results.len(),
                "SES SendBulkEmail returned a different number of results than entries"
            );
        }
        let outcomes = (0..entries.len())
            .map(|position| match results.get(position) {
                Some(result) => classify_bulk_entry(
                    result.status().map(|status| status.as_str()),
                    result.message_id(),
                    result.error(),
                ),
                None => SendOutcome::Unknown {
                    reason: format!(
                        "SES returned {} results for {} entries",
                        results.len(),
                        entries.len()
                    ),
                },
            })
            .collect();
        Ok(outcomes)
    }

    fn classify_send_error<E>(
        &self,
        operation: &'static str,
        err: &SdkError<E, aws_sdk_sesv2::config::http::HttpResponse>,
        probe: &TransmitProbe,
    ) -> SendOutcome
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let info = error_info(err, probe.transmitted());
        let outcome = classify(&info);
        // The message text is left out: SES quotes addresses in it.
        tracing::debug!(
            account = %self.label,
            operation,
            error = info.label(),
            outcome = outcome.label(),
            "SES send failed"
        );
        outcome
    }

    fn call_error<E>(
        operation: &'static str,
        err: SdkError<E, aws_sdk_sesv2::config::http::HttpResponse>,
        probe: &TransmitProbe,
    ) -> SesError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        SesError::Call {
            operation,
            info: error_info(&err, probe.transmitted()),
            source: Box::new(err),
        }
    }

    async fn update_template(
        &self,
        name: &str,
        content: EmailTemplateContent,
    ) -> Result<(), SesError> {
        let probe = TransmitProbe::default();
        self.client
            .update_email_template()
            .template_name(name)
            .template_content(content)
            .customize()
            .config_override(self.with_read_retry())
            .interceptor(probe.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|err| Self::call_error("UpdateEmailTemplate", err, &probe))
    }

    async fn create_template(
        &self,
        name: &str,
        content: EmailTemplateContent,
    ) -> Result<(), SesError> {
        let probe = TransmitProbe::default();
        self.client
            .create_email_template()
            .template_name(name)
            .template_content(content)
            .customize()
            .config_override(self.with_read_retry())
            .interceptor(probe.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|err| Self::call_error("CreateEmailTemplate", err, &probe))
    }
}

#[async_trait]
impl SesClient for AwsSesClient {
    async fn send_email(&self, message: &EmailMessage) -> SendOutcome {
        let content = match simple_content(message) {
            Ok(content) => content,
            Err(err) => return invalid_input(&err),
        };
        let tags = match message_tags(&message.tags) {
            Ok(tags) => tags,
            Err(err) => return invalid_input(&err),
        };

        let probe = TransmitProbe::default();
        let result = self
            .client
            .send_email()
            .from_email_address(&message.from)
            .destination(Destination::builder().to_addresses(&message.to).build())
            .set_reply_to_addresses(non_empty(message.reply_to.clone()))
            .content(content)
            .set_email_tags(tags)
            .set_configuration_set_name(message.configuration_set.clone())
            .customize()
            .config_override(Self::no_retry())
            .interceptor(probe.clone())
            .send()
            .await;

        match result {
            Ok(output) => match output.message_id() {
                Some(id) if !id.is_empty() => SendOutcome::Sent {
                    message_id: id.to_owned(),
                },
                _ => SendOutcome::Unknown {
                    reason: "SES accepted the message without a message id".to_owned(),
                },
            },
            Err(err) => self.classify_send_error("SendEmail", &err, &probe),
        }
    }

    async fn send_bulk_email(&self, message: &BulkMessage) -> Vec<SendOutcome> {
        let mut outcomes = Vec::with_capacity(message.entries.len());
        for chunk in message.entries.chunks(MAX_BULK_ENTRIES) {
            match self.send_bulk_chunk(message, chunk).await {
                Ok(chunk_outcomes) => outcomes.extend(chunk_outcomes),
                // A throttled or paused account rejects the next calls too,
                // so the entries not sent yet share the outcome unsent.
                Err(
                    outcome @ (SendOutcome::RetryLater { .. } | SendOutcome::PauseAccount { .. }),
                ) => {
                    outcomes.resize(message.entries.len(), outcome);
                    break;
                }
                Err(outcome) => outcomes.resize(outcomes.len() + chunk.len(), outcome),
            }
        }
        outcomes
    }

    async fn get_account(&self) -> Result<AccountQuota, SesError> {
        let probe = TransmitProbe::default();
        let output = self
            .client
            .get_account()
            .customize()
            .config_override(self.with_read_retry())
            .interceptor(probe.clone())
            .send()
            .await
            .map_err(|err| Self::call_error("GetAccount", err, &probe))?;

        let quota = output.send_quota().ok_or(SesError::MissingField {
            operation: "GetAccount",
            field: "SendQuota",
        })?;
        Ok(AccountQuota {
            max_send_rate: quota.max_send_rate(),
            max_24h_send: quota.max24_hour_send(),
            sent_last_24h: quota.sent_last24_hours(),
            sending_enabled: output.sending_enabled(),
            production_access_enabled: output.production_access_enabled(),
            enforcement_status: output.enforcement_status().map(str::to_owned),
        })
    }

    async fn upsert_template(
        &self,
        name: &str,
        subject: &str,
        html: &str,
        text: Option<&str>,
    ) -> Result<(), SesError> {
        let content = EmailTemplateContent::builder()
            .subject(subject)
            .html(html)
            .set_text(text.map(str::to_owned))
            .build();

        // Most publishes replace a template that exists, so update first.
        match self.update_template(name, content.clone()).await {
            Err(err) if err.is_not_found() => {}
            other => return other,
        }
        match self.create_template(name, content.clone()).await {
            // Another publish created it between the two calls.
            Err(err) if err.is_already_exists() => self.update_template(name, content).await,
            other => other,
        }
    }

    async fn delete_template(&self, name: &str) -> Result<(), SesError> {
        let probe = TransmitProbe::default();
        let result = self
            .client
            .delete_email_template()
            .template_name(name)
            .customize()
            .config_override(self.with_read_retry())
            .interceptor(probe.clone())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match Self::call_error("DeleteEmailTemplate", err, &probe) {
                err if err.is_not_found() => Ok(()),
                err => Err(err),
            },
        }
    }
}

/// The parts of a `SendBulkEmail` request that can fail to build.
struct BulkRequestParts {
    content: BulkEmailContent,
    default_tags: Option<Vec<MessageTag>>,
    entries: Vec<BulkEmailEntry>,
}

fn bulk_request_parts(
    message: &BulkMessage,
    entries: &[crate::client::BulkEntry],
) -> Result<BulkRequestParts, BuildError> {
    let content = BulkEmailContent::builder()
        .template(
            Template::builder()
                .template_name(&message.template_name)
                .template_data(&message.default_template_data)
                .build(),
        )
        .build();

    let entries = entries
        .iter()
        .map(|entry| {
            let replacement = ReplacementEmailContent::builder()
                .replacement_template(
                    ReplacementTemplate::builder()
                        .replacement_template_data(&entry.template_data)
                        .build(),
                )
                .build();
            Ok(BulkEmailEntry::builder()
                .destination(Destination::builder().to_addresses(&entry.to).build())
                .replacement_email_content(replacement)
                .set_replacement_tags(message_tags(&entry.tags)?)
                .set_replacement_headers(message_headers(&entry.headers)?)
                .build())
        })
        .collect::<Result<Vec<_>, BuildError>>()?;

    Ok(BulkRequestParts {
        content,
        default_tags: message_tags(&message.default_tags)?,
        entries,
    })
}

fn simple_content(message: &EmailMessage) -> Result<EmailContent, BuildError> {
    let body = Body::builder()
        .html(text_content(&message.html)?)
        .set_text(message.text.as_deref().map(text_content).transpose()?)
        .build();
    let simple = Message::builder()
        .subject(text_content(&message.subject)?)
        .body(body)
        .set_headers(message_headers(&message.headers)?)
        .build();
    Ok(EmailContent::builder().simple(simple).build())
}

fn text_content(data: &str) -> Result<Content, BuildError> {
    Content::builder().data(data).charset(CHARSET).build()
}

fn message_tags(tags: &[(String, String)]) -> Result<Option<Vec<MessageTag>>, BuildError> {
    let tags = tags
        .iter()
        .map(|(name, value)| MessageTag::builder().name(name).value(value).build())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(non_empty(tags))
}

fn message_headers(headers: &[(String, String)]) -> Result<Option<Vec<MessageHeader>>, BuildError> {
    let headers = headers
        .iter()
        .map(|(name, value)| MessageHeader::builder().name(name).value(value).build())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(non_empty(headers))
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

fn invalid_input(err: &BuildError) -> SendOutcome {
    SendOutcome::Failed {
        reason: format!("invalid SES request: {err}"),
    }
}
