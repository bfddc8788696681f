//! Request bodies of the SES webhook: the EventBridge event and the three
//! SNS HTTP(S) message types.
//!
//! [`parse_envelope`] decides the envelope from the JSON body and the
//! `x-amz-sns-message-type` header:
//!
//! 1. A body with a `Type` field is an SNS message. When the header is
//!    present it must name the same type.
//! 2. Otherwise, when the header is present or the body has `eventType`,
//!    `notificationType` or `mail` at the top level, the body is a bare SES
//!    record: SNS *raw message delivery*. Raw messages carry no signature,
//!    so they are rejected with [`EnvelopeError::RawMessageDelivery`].
//! 3. Otherwise a body with `detail` is an EventBridge event.

use std::fmt;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::record::{self, ParsedRecord, RecordError};

/// Name of the header that SNS sets on every HTTP(S) delivery.
pub const SNS_MESSAGE_TYPE_HEADER: &str = "x-amz-sns-message-type";

/// Longest received value that an error message repeats.
const MAX_ECHOED_LEN: usize = 64;

/// A parsed webhook request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// An EventBridge event, as an API destination posts it.
    EventBridge(EventBridgeEvent),
    /// An SNS `Notification`; its `Message` is the SES record as JSON text.
    SnsNotification(SnsMessage),
    /// An SNS `SubscriptionConfirmation`. The caller confirms by fetching
    /// `SubscribeURL` after verifying the signature.
    SnsSubscriptionConfirmation(SnsMessage),
    /// An SNS `UnsubscribeConfirmation`.
    SnsUnsubscribeConfirmation(SnsMessage),
}

impl Envelope {
    /// Returns the SNS message of the three SNS variants.
    pub fn sns(&self) -> Option<&SnsMessage> {
        match self {
            Self::EventBridge(_) => None,
            Self::SnsNotification(message)
            | Self::SnsSubscriptionConfirmation(message)
            | Self::SnsUnsubscribeConfirmation(message) => Some(message),
        }
    }

    /// Returns the per-delivery de-duplication key: the EventBridge event
    /// `id`, or the SNS `MessageId`. Both stay the same when the sender
    /// retries a delivery.
    pub fn delivery_key(&self) -> DeliveryKey {
        match self {
            Self::EventBridge(event) => DeliveryKey::EventBridge(event.id.clone()),
            Self::SnsNotification(message)
            | Self::SnsSubscriptionConfirmation(message)
            | Self::SnsUnsubscribeConfirmation(message) => {
                DeliveryKey::Sns(message.message_id.clone())
            }
        }
    }

    /// Parses the SES record inside: the EventBridge `detail` or the SNS
    /// notification `Message`. Returns `None` for subscription and
    /// unsubscribe confirmations, which carry no record.
    pub fn ses_record(&self) -> Option<Result<ParsedRecord, RecordError>> {
        match self {
            Self::EventBridge(event) => Some(record::parse_record(&event.detail)),
            Self::SnsNotification(message) => Some(record::parse_record_json(&message.message)),
            Self::SnsSubscriptionConfirmation(_) | Self::SnsUnsubscribeConfirmation(_) => None,
        }
    }
}

/// The per-delivery de-duplication key of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryKey {
    /// The EventBridge event `id`.
    EventBridge(String),
    /// The SNS `MessageId`.
    Sns(String),
}

impl fmt::Display for DeliveryKey {
    /// Formats as `eventbridge:<id>` or `sns:<MessageId>`, so that ids of
    /// the two senders never collide.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EventBridge(id) => write!(f, "eventbridge:{id}"),
            Self::Sns(id) => write!(f, "sns:{id}"),
        }
    }
}

/// An EventBridge event: `{version, id, detail-type, source, account, time,
/// region, detail}`. Only `id` and `detail` are required; the rest is kept
/// as received for logging and checks by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct EventBridgeEvent {
    /// `version`, `"0"` for EventBridge.
    pub version: Option<String>,
    /// `id`: unique per event, reused on retries.
    pub id: String,
    /// `detail-type`, such as `Email Bounced`.
    pub detail_type: Option<String>,
    /// `source`: `aws.ses` for SES events. The custom `Suppressed` event may
    /// use another source.
    pub source: Option<String>,
    /// `account`: the AWS account that emitted the event.
    pub account: Option<String>,
    /// `time` as received (RFC 3339).
    pub time: Option<String>,
    /// `region`, such as `eu-west-1`.
    pub region: Option<String>,
    /// `detail`: the SES record, parsed by [`Envelope::ses_record`].
    pub detail: Value,
}

/// The `Type` of an SNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnsMessageType {
    /// `Notification`.
    Notification,
    /// `SubscriptionConfirmation`.
    SubscriptionConfirmation,
    /// `UnsubscribeConfirmation`.
    UnsubscribeConfirmation,
}

impl SnsMessageType {
    /// Parses the `Type` value or the header value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "Notification" => Some(Self::Notification),
            "SubscriptionConfirmation" => Some(Self::SubscriptionConfirmation),
            "UnsubscribeConfirmation" => Some(Self::UnsubscribeConfirmation),
            _ => None,
        }
    }

    /// Returns the wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notification => "Notification",
            Self::SubscriptionConfirmation => "SubscriptionConfirmation",
            Self::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }
}

impl fmt::Display for SnsMessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An SNS HTTP(S) message with every field that the signature covers, kept
/// exactly as received.
///
/// [`parse_envelope`] guarantees that `token` and `subscribe_url` are set
/// for both confirmation types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsMessage {
    /// `Type`.
    pub message_type: SnsMessageType,
    /// `MessageId`: unique per published message, reused on retries.
    pub message_id: String,
    /// `TopicArn`. The caller must compare it with the connection's topic.
    pub topic_arn: String,
    /// `Message`: the SES record as JSON text for a notification, a
    /// description for the confirmations.
    pub message: String,
    /// `Timestamp` as received (RFC 3339). Kept as text because the
    /// signature covers the exact characters.
    pub timestamp: String,
    /// `Subject`, present on notifications published with a subject.
    pub subject: Option<String>,
    /// `Token` of the confirmations.
    pub token: Option<String>,
    /// `SubscribeURL` of the confirmations.
    pub subscribe_url: Option<String>,
    /// `UnsubscribeURL` of notifications.
    pub unsubscribe_url: Option<String>,
    /// `SignatureVersion`: `"1"` (SHA1withRSA) or `"2"` (SHA256withRSA).
    pub signature_version: String,
    /// `Signature`, base64.
    pub signature: String,
    /// `SigningCertURL`: where the PEM certificate of the signing key is.
    pub signing_cert_url: String,
}

/// Errors for request bodies that are not a usable envelope. Messages repeat
/// no body content except an SNS type or header value, cut to 64
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    /// The body is not valid JSON.
    #[error("request body is not valid JSON (line {line}, column {column})")]
    InvalidJson {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The body is JSON but not an object.
    #[error("request body is not a JSON object")]
    NotAnObject,
    /// The body is a bare SES record sent by SNS with raw message delivery,
    /// which carries no signature.
    #[error(
        "request body is an SNS raw message delivery, which is unsigned; \
         turn off raw message delivery on the SNS subscription"
    )]
    RawMessageDelivery,
    /// The SNS `Type` is not one of the three known types.
    #[error("unknown SNS message type {0:?}")]
    UnknownSnsType(String),
    /// The `x-amz-sns-message-type` header and the body `Type` disagree.
    #[error("x-amz-sns-message-type header {header:?} does not match the body Type {body}")]
    HeaderMismatch {
        /// The header value (truncated).
        header: String,
        /// The body type.
        body: SnsMessageType,
    },
    /// A required field is missing or is not a string.
    #[error("field {0} is missing or not a string")]
    MissingField(&'static str),
    /// The body is neither an SNS message nor an EventBridge event.
    #[error("request body is neither an EventBridge event nor an SNS message")]
    UnrecognisedBody,
}

/// Parses a webhook request body.
///
/// `sns_message_type` is the value of the `x-amz-sns-message-type` header,
/// if the request had one that is valid UTF-8.
pub fn parse_envelope(
    body: &[u8],
    sns_message_type: Option<&str>,
) -> Result<Envelope, EnvelopeError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| EnvelopeError::InvalidJson {
            line: error.line(),
            column: error.column(),
        })?;
    let Value::Object(mut object) = value else {
        return Err(EnvelopeError::NotAnObject);
    };

    if object.contains_key("Type") {
        return parse_sns(&object, sns_message_type);
    }
    let looks_like_record = ["eventType", "notificationType", "mail"]
        .iter()
        .any(|name| object.contains_key(*name));
    if sns_message_type.is_some() || looks_like_record {
        return Err(EnvelopeError::RawMessageDelivery);
    }
    if object.contains_key("detail") {
        return parse_eventbridge(&mut object).map(Envelope::EventBridge);
    }
    Err(EnvelopeError::UnrecognisedBody)
}

fn parse_sns(object: &Map<String, Value>, header: Option<&str>) -> Result<Envelope, EnvelopeError> {
    let type_name = required(object, "Type")?;
    let message_type = SnsMessageType::parse(type_name)
        .ok_or_else(|| EnvelopeError::UnknownSnsType(truncate(type_name)))?;
    if let Some(header) = header {
        if header != message_type.as_str() {
            return Err(EnvelopeError::HeaderMismatch {
                header: truncate(header),
                body: message_type,
            });
        }
    }

    let is_confirmation = message_type != SnsMessageType::Notification;
    let message = SnsMessage {
        message_type,
        message_id: required(object, "MessageId")?.to_owned(),
        topic_arn: required(object, "TopicArn")?.to_owned(),
        message: required(object, "Message")?.to_owned(),
        timestamp: required(object, "Timestamp")?.to_owned(),
        subject: optional(object, "Subject", None)?,
        token: if is_confirmation {
            Some(required(object, "Token")?.to_owned())
        } else {
            optional(object, "Token", None)?
        },
        subscribe_url: if is_confirmation {
            Some(required(object, "SubscribeURL")?.to_owned())
        } else {
            optional(object, "SubscribeURL", None)?
        },
        unsubscribe_url: optional(object, "UnsubscribeURL", Some("UnsubscribeUrl"))?,
        signature_version: required(object, "SignatureVersion")?.to_owned(),
        signature: required(object, "Signature")?.to_owned(),
        signing_cert_url: match optional(object, "SigningCertURL", Some("SigningCertUrl"))? {
            Some(url) => url,
            None => return Err(EnvelopeError::MissingField("SigningCertURL")),
        },
    };

    Ok(match message_type {
        SnsMessageType::Notification => Envelope::SnsNotification(message),
        SnsMessageType::SubscriptionConfirmation => Envelope::SnsSubscriptionConfirmation(message),
        SnsMessageType::UnsubscribeConfirmation => Envelope::SnsUnsubscribeConfirmation(message),
    })
}

fn parse_eventbridge(object: &mut Map<String, Value>) -> Result<EventBridgeEvent, EnvelopeError> {
    let id = required(object, "id")?.to_owned();
    let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
    let version = text("version");
    let detail_type = text("detail-type");
    let source = text("source");
    let account = text("account");
    let time = text("time");
    let region = text("region");
    let detail = object.remove("detail").unwrap_or(Value::Null);
    Ok(EventBridgeEvent {
        version,
        id,
        detail_type,
        source,
        account,
        time,
        region,
        detail,
    })
}

fn required<'a>(
    object: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, EnvelopeError> {
    object
        .get(name)
        .and_then(Value::as_str)
        .ok_or(EnvelopeError::MissingField(name))
}

/// Reads an optional string field. JSON `null` counts as absent; any other
/// non-string value is an error, because SNS sends only strings.
fn optional(
    object: &Map<String, Value>,
    name: &'static str,
    alias: Option<&str>,
) -> Result<Option<String>, EnvelopeError> {
    let value = object
        .get(name)
        .or_else(|| alias.and_then(|alias| object.get(alias)));
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(EnvelopeError::MissingField(name)),
    }
}

fn truncate(value: &str) -> String {
    value.chars().take(MAX_ECHOED_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_keys_do_not_collide() {
        let eventbridge = DeliveryKey::EventBridge("x".to_owned());
        let sns = DeliveryKey::Sns("x".to_owned());
        assert_ne!(eventbridge, sns);
        assert_eq!(eventbridge.to_string(), "eventbridge:x");
        assert_eq!(sns.to_string(), "sns:x");
    }

    #[test]
    fn long_type_name_is_truncated() {
        let body = format!(r#"{{"Type":"{}"}}"#, "A".repeat(500));
        let error = parse_envelope(body.as_bytes(), None).unwrap_err();
        let EnvelopeError::UnknownSnsType(name) = error else {
            panic!("expected UnknownSnsType, got {error:?}");
        };
        assert_eq!(name.len(), MAX_ECHOED_LEN);
    }

    #[test]
    fn sns_type_names_round_trip() {
        for message_type in [
            SnsMessageType::Notification,
            SnsMessageType::SubscriptionConfirmation,
            SnsMessageType::UnsubscribeConfirmation,
        ] {
            assert_eq!(
                SnsMessageType::parse(message_type.as_str()),
                Some(message_type)
            );
        }
        assert_eq!(SnsMessageType::parse("notification"), None);
    }
}
