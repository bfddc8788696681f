//! The content of a batch's messages: sender, subject and body, rendered per
//! recipient with the same Handlebars rules SES applies to stored templates.

use std::collections::BTreeSet;

use schemas::batches::AudienceType;
use schemas::unsubscribe::{UnsubscribeClaims, UnsubscribeKeys};
use ses::render::{self, RecipientFields, Template};
use ses::{BulkEntry, BulkMessage, EmailMessage};
use store::{Batch, ClaimedRecipient, Store, StoreError};

/// The keys and base URL of each recipient's one-click unsubscribe link.
#[derive(Clone, Debug)]
pub struct UnsubscribeLinks {
    pub keys: UnsubscribeKeys,
    /// Base URL of the public API, without a trailing slash.
    pub base_url: String,
}

impl UnsubscribeLinks {
    /// Returns the link of `recipient`, scoped to the batch's topic for a
    /// topic broadcast and global for everything else.
    fn url(&self, batch: &Batch, recipient: &ClaimedRecipient) -> String {
        let topic_id = match batch.audience_type {
            AudienceType::Topic => batch.topic_id,
            _ => None,
        };
        let token = self.keys.sign(&UnsubscribeClaims {
            organization_id: batch.organization_id,
            contact_id: recipient.contact_id,
            topic_id,
        });
        format!("{}/unsubscribe/{token}", self.base_url)
    }
}

/// Reason a batch's content cannot be sent.
#[derive(Debug)]
pub enum ContentError {
    Store(StoreError),
    /// The batch cannot be sent as it is; the reason is shown to the user.
    Invalid(String),
}

/// A batch's content, translated and parsed once per chunk.
pub struct Content {
    from: String,
    reply_to: Vec<String>,
    subject: Template,
    html: Template,
    organization_name: String,
    /// Name of the published SES template, when the batch uses one; SES
    /// then renders each message itself through `SendBulkEmail`.
    ses_template: Option<String>,
    template_id: Option<String>,
    /// Every variable the subject or body uses, padded with `""` for
    /// recipients that lack it so that rendering never fails on absence.
    variables: BTreeSet<String>,
    unsubscribe: UnsubscribeLinks,
}

impl Content {
    pub async fn load(
        store: &Store,
        batch: &Batch,
        unsubscribe: &UnsubscribeLinks,
    ) -> Result<Content, ContentError> {
        let Some(from_email) = batch.from_email.as_deref().filter(|f| !f.trim().is_empty()) else {
            return Err(ContentError::Invalid(
                "No sender email configured: set `from` on the batch".into(),
            ));
        };
        let from = ses::headers::sender_display(batch.from_name.as_deref(), from_email.trim());
        let reply_to = batch.reply_to.iter().cloned().collect();

        let (subject, html, ses_template) = match batch.template_id {
            Some(template_id) => {
                let template = store
                    .get_template(batch.organization_id, template_id)
                    .await
                    .map_err(ContentError::Store)?
                    .ok_or_else(|| {
                        ContentError::Invalid("the batch's template was not found".into())
                    })?;
                let summary = &template.detail.summary;
                let subject = batch
                    .subject
                    .clone()
                    .or(summary.subject.clone())
                    .unwrap_or_default();
                let html = template
                    .detail
                    .content
                    .as_ref()
                    .and_then(|c| c.compiled_html.clone())
                    .unwrap_or_default();
                let published = template
                    .ses_template_name
                    .clone()
                    .filter(|_| summary.published_at.is_some());
                (subject, html, published)
            }
            None => (
                batch.subject.clone().unwrap_or_default(),
                batch.html_content.clone().unwrap_or_default(),
                None,
            ),
        };
        if subject.trim().is_empty() {
            return Err(ContentError::Invalid("the batch has no subject".into()));
        }
        if html.trim().is_empty() && ses_template.is_none() {
            return Err(ContentError::Invalid(
                "the batch has no HTML content".into(),
            ));
        }

        let subject = render::translate_authoring(&subject);
        let html = render::translate_authoring(&html);
        let invalid = |what: &str, err: render::RenderError| {
            ContentError::Invalid(format!("the {what} is not a valid template: {err}"))
        };
        let mut variables =
            render::referenced_variables(&subject).map_err(|err| invalid("subject", err))?;
        variables.extend(render::referenced_variables(&html).map_err(|err| invalid("body", err))?);
        let organization_name = store
            .get_org(batch.organization_id)
            .await
            .map_err(ContentError::Store)?
            .map(|org| org.name)
            .unwrap_or_default();

        Ok(Content {
            from,
            reply_to,
            subject: Template::compile(&subject).map_err(|err| invalid("subject", err))?,
            html: Template::compile(&html).map_err(|err| invalid("body", err))?,
            organization_name,
            ses_template,
            template_id: batch.template_id.map(|id| id.to_string()),
            variables,
            unsubscribe: unsubscribe.clone(),
        })
    }

    fn data(
        &self,
        batch: &Batch,
        recipient: &ClaimedRecipient,
        unsubscribe_url: &str,
    ) -> serde_json::Map<String, serde_json::Value> {
        let fields = RecipientFields {
            email: recipient.email.clone(),
            first_name: recipient.first_name.clone(),
            last_name: recipient.last_name.clone(),
            company: recipient.company.clone(),
            job_title: recipient.job_title.clone(),
            properties: recipient.properties.clone(),
        };
        // TODO: pass a preferences URL once a preference centre exists;
        // until then {{preferencesUrl}} renders empty.
        let mut data = render::recipient_data(
            &fields,
            &self.organization_name,
            Some(unsubscribe_url),
            None,
            &batch.variable_mappings,
        );
        render::pad(&mut data, &self.variables);
        data
    }

    fn tags(&self, batch: &Batch, recipient: &ClaimedRecipient) -> Vec<(String, String)> {
        ses::tags::message_tags(
            &batch.id.to_string(),
            &batch.organization_id.to_string(),
            &recipient.contact_id.to_string(),
            self.template_id.as_deref(),
        )
    }

    /// Renders one recipient's message for `SendEmail`. A render error fails
    /// that recipient so raw `{{...}}` is never delivered.
    pub fn email_message(
        &self,
        batch: &Batch,
        recipient: &ClaimedRecipient,
    ) -> Result<EmailMessage, String> {
        let unsubscribe_url = self.unsubscribe.url(batch, recipient);
        let data = self.data(batch, recipient, &unsubscribe_url);
        let subject = self
            .subject
            .render(&data)
            .map_err(|err| format!("rendering the subject failed: {err}"))?;
        let html = self
            .html
            .render(&data)
            .map_err(|err| format!("rendering the body failed: {err}"))?;
        Ok(EmailMessage {
            from: self.from.clone(),
            to: recipient.email.clone(),
            reply_to: self.reply_to.clone(),
            subject,
            text: Some(render::html_to_text(&html)),
            html,
            headers: ses::headers::list_unsubscribe_headers(&unsubscribe_url),
            tags: self.tags(batch, recipient),
            configuration_set: None,
        })
    }

    /// Builds the `SendBulkEmail` call for a published template, or `None`
    /// when the batch is sent message by message.
    pub fn bulk_message(
        &self,
        batch: &Batch,
        recipients: &[&ClaimedRecipient],
    ) -> Option<BulkMessage> {
        let template_name = self.ses_template.clone()?;
        let defaults = render::default_template_data(&self.variables);
        let entries = recipients
            .iter()
            .map(|recipient| {
                let unsubscribe_url = self.unsubscribe.url(batch, recipient);
                BulkEntry {
                    to: recipient.email.clone(),
                    template_data: serde_json::Value::Object(self.data(
                        batch,
                        recipient,
                        &unsubscribe_url,
                    ))
                    .to_string(),
                    headers: ses::headers::list_unsubscribe_headers(&unsubscribe_url),
                    tags: self.tags(batch, recipient),
                }
            })
            .collect();
        Some(BulkMessage {
            from: self.from.clone(),
            reply_to: self.reply_to.clone(),
            template_name,
            default_template_data: serde_json::Value::Object(defaults).to_string(),
            default_tags: Vec::new(),
            configuration_set: None,
            entries,
        })
    }
}
