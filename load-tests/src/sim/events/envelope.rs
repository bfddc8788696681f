//! The two envelopes that carry an SES event to a webhook: the EventBridge event that an
//! API destination posts, and the SNS notification of an HTTP(S) subscription.

use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use serde::Serialize;
use serde_json::Value;

use super::record::{build_record, ses_time, AcceptedMail, EventType, Origin};
use super::sns::SnsSigning;
use super::WebhookSecret;

/// The header that carries the connection's webhook secret in EventBridge posts.
pub const API_KEY_HEADER: &str = "x-wraps-api-key";

/// The header that SNS sets to the message type on every HTTP(S) delivery.
pub const SNS_MESSAGE_TYPE_HEADER: &str = "x-amz-sns-message-type";

const SNS_MESSAGE_ID_HEADER: &str = "x-amz-sns-message-id";
const SNS_TOPIC_ARN_HEADER: &str = "x-amz-sns-topic-arn";

/// The envelope and its credentials.
#[derive(Debug, Clone)]
pub(crate) enum Envelope {
    EventBridge {
        secret: WebhookSecret,
    },
    Sns {
        signing: SnsSigning,
        topic_arn: String,
    },
}

/// One event, ready to post and to repost unchanged on a retry, as EventBridge and SNS
/// do: the event `id` or the SNS `MessageId` stays the same.
#[derive(Debug, Clone)]
pub(crate) struct Post {
    pub(crate) event: EventType,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

#[derive(Serialize)]
struct EventBridgeEvent<'a> {
    version: &'static str,
    id: String,
    #[serde(rename = "detail-type")]
    detail_type: &'static str,
    source: &'static str,
    account: &'a str,
    time: String,
    region: &'a str,
    resources: Vec<String>,
    detail: Value,
}

impl Envelope {
    /// Builds the post of `event` for `mail`, happening at `at`.
    pub(crate) fn wrap(
        &self,
        mail: &AcceptedMail,
        event: EventType,
        at: DateTime<Utc>,
        origin: &Origin,
    ) -> anyhow::Result<Post> {
        let record = build_record(mail, event, at, origin);
        match self {
            Envelope::EventBridge { secret } => {
                let resources = mail
                    .configuration_set
                    .iter()
                    .map(|name| origin.configuration_set_arn(name))
                    .collect();
                let envelope = EventBridgeEvent {
                    version: "0",
                    id: uuid::Uuid::new_v4().to_string(),
                    detail_type: event.detail_type(),
                    source: "aws.ses",
                    account: &origin.account,
                    time: ses_time(at),
                    region: &origin.region,
                    resources,
                    detail: record,
                };
                let body = serde_json::to_vec(&envelope).context("serialising an event failed")?;
                Ok(Post {
                    event,
                    headers: eventbridge_headers(secret)?,
                    body: body.into(),
                })
            }
            Envelope::Sns { signing, topic_arn } => {
                let message = record.to_string();
                let notification =
                    signing.notification(topic_arn.clone(), message, ses_time(Utc::now()))?;
                let headers = sns_headers(&notification.message_id, topic_arn)?;
                let body = serde_json::to_vec(&notification)
                    .context("serialising an SNS notification failed")?;
                Ok(Post {
                    event,
                    headers,
                    body: body.into(),
                })
            }
        }
    }
}

fn eventbridge_headers(secret: &WebhookSecret) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static("Amazon/EventBridge/ApiDestinations"),
    );
    let mut secret = HeaderValue::from_str(secret.expose())
        .context("the webhook secret is not a valid header value")?;
    secret.set_sensitive(true);
    headers.insert(HeaderName::from_static(API_KEY_HEADER), secret);
    Ok(headers)
}

/// Builds the headers SNS sends with a notification. SNS labels its JSON body
/// `text/plain`.
fn sns_headers(message_id: &str, topic_arn: &str) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static("Amazon Simple Notification Service Agent"),
    );
    headers.insert(
        HeaderName::from_static(SNS_MESSAGE_TYPE_HEADER),
        HeaderValue::from_static("Notification"),
    );
    headers.insert(
        HeaderName::from_static(SNS_MESSAGE_ID_HEADER),
        HeaderValue::from_str(message_id).context("invalid SNS message id")?,
    );
    headers.insert(
        HeaderName::from_static(SNS_TOPIC_ARN_HEADER),
        HeaderValue::from_str(topic_arn).context("invalid SNS topic ARN")?,
    );
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use webhooks::envelope::parse_envelope;
    use webhooks::{Envelope as ParsedEnvelope, ParsedRecord};

    fn mail() -> AcceptedMail {
        AcceptedMail {
            message_id: "m-1".into(),
            accepted_at: Utc::now(),
            source: "news@example.org".into(),
            to_header: vec!["ana@example.net".into()],
            recipients: vec!["ana@example.net".into()],
            subject: None,
            tags: BTreeMap::from([("batchId".to_owned(), "b-9".to_owned())]),
            configuration_set: Some("tracking".into()),
        }
    }

    fn origin() -> Origin {
        Origin {
            account: "123456789012".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn eventbridge_post_parses() {
        let envelope = Envelope::EventBridge {
            secret: WebhookSecret::new("s3cret"),
        };
        let post = envelope
            .wrap(&mail(), EventType::Open, Utc::now(), &origin())
            .unwrap();

        assert_eq!(post.headers[API_KEY_HEADER], "s3cret");
        assert!(post.headers[API_KEY_HEADER].is_sensitive());
        let parsed = parse_envelope(&post.body, None).expect("the envelope parses");
        let ParsedEnvelope::EventBridge(event) = &parsed else {
            panic!("unexpected {parsed:?}");
        };
        assert_eq!(event.detail_type.as_deref(), Some("Email Opened"));
        assert_eq!(event.account.as_deref(), Some("123456789012"));
        assert_eq!(event.source.as_deref(), Some("aws.ses"));
        assert_eq!(
            event.detail["mail"]["tags"]["batchId"],
            serde_json::json!(["b-9"])
        );
        let Some(Ok(ParsedRecord::Event(record))) = parsed.ses_record() else {
            panic!("no SES record");
        };
        assert_eq!(record.message_id, "m-1");
    }

    #[test]
    fn eventbridge_lists_configuration_set() {
        let envelope = Envelope::EventBridge {
            secret: WebhookSecret::new("s"),
        };
        let post = envelope
            .wrap(&mail(), EventType::Delivery, Utc::now(), &origin())
            .unwrap();
        let body: Value = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(
            body["resources"],
            serde_json::json!(["arn:aws:ses:us-east-1:123456789012:configuration-set/tracking"])
        );
    }
}
