//! SES records in both schemas, normalised into one [`SesEvent`].
//!
//! SES publishes the same facts in two JSON schemas:
//!
//! - *Event publishing* (configuration-set event destinations), with a
//!   top-level `eventType`: `Send`, `Delivery`, `Open`, `Click`, `Bounce`,
//!   `Complaint`, `Reject`, `Rendering Failure`, `DeliveryDelay` and
//!   `Subscription`, plus the custom `Suppressed` event that the customer's
//!   account produces from suppression rejections. The per-type data sits in
//!   an object named after the type (`bounce`, `open`, `failure`,
//!   `deliveryDelay`, `suppression`, ...).
//! - *Identity notifications* (feedback notifications set on an identity),
//!   with a top-level `notificationType`: `Bounce`, `Complaint` and
//!   `Delivery`. They carry no tags.
//!
//! Both share the `mail` object (`messageId`, `timestamp`, `source`,
//! `destination`, `commonHeaders.subject`, `tags`).
//!
//! Parsing is lenient about individual fields: a field of the wrong JSON
//! type is treated as absent. The only errors are a body that is not JSON,
//! not an object, or without a type. A record without `mail.messageId` is the distinct outcome
//! [`ParsedRecord::MissingMessageId`], for which the route responds 200
//! ignored.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use thiserror::Error;

/// A string that may contain an email address or other personal data.
///
/// Its `Debug` output is redacted and it has no `Display`, so that logging
/// a parsed event never prints an address. Call [`Sensitive::as_str`] where
/// the value is needed.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sensitive(String);

impl Sensitive {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the owned value.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sensitive(<redacted>)")
    }
}

/// The SES schema a record was published in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Schema {
    /// Configuration-set event publishing (`eventType`).
    EventPublishing,
    /// Identity feedback notifications (`notificationType`).
    IdentityNotification,
}

/// The normalised kind of an SES event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// SES accepted the message (`Send`).
    Send,
    /// The receiving server accepted the message (`Delivery`).
    Delivery,
    /// The recipient opened the message (`Open`).
    Open,
    /// The recipient clicked a tracked link (`Click`).
    Click,
    /// The message bounced (`Bounce`, except the `Suppressed` subtype).
    Bounce,
    /// The recipient marked the message as spam (`Complaint`).
    Complaint,
    /// SES rejected the message, for example for a virus (`Reject`).
    Reject,
    /// The template failed to render (`Rendering Failure`).
    RenderingFailure,
    /// Delivery is delayed and still retried (`DeliveryDelay`).
    DeliveryDelay,
    /// The recipient changed list subscription preferences (`Subscription`).
    Subscription,
    /// The address is suppressed: the custom `Suppressed` event, or a
    /// `Bounce` with `bounceSubType` `Suppressed`.
    Suppressed,
    /// Any other type, as received. The route responds 200 ignored.
    Other(String),
}

impl EventKind {
    /// Maps an `eventType` or `notificationType` value to a kind.
    ///
    /// A `Bounce` maps to [`EventKind::Bounce`] here. [`parse_record`], which
    /// reads the bounce object, maps the `Suppressed` subtype.
    pub fn from_type_name(name: &str) -> Self {
        match name {
            "Send" => Self::Send,
            "Delivery" => Self::Delivery,
            "Open" => Self::Open,
            "Click" => Self::Click,
            "Bounce" => Self::Bounce,
            "Complaint" => Self::Complaint,
            "Reject" => Self::Reject,
            "Rendering Failure" => Self::RenderingFailure,
            "DeliveryDelay" => Self::DeliveryDelay,
            "Subscription" => Self::Subscription,
            "Suppressed" => Self::Suppressed,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Returns the SES name of the kind (`"Rendering Failure"`, ...), or the
    /// received name for [`EventKind::Other`].
    pub fn as_str(&self) -> &str {
        match self {
            Self::Send => "Send",
            Self::Delivery => "Delivery",
            Self::Open => "Open",
            Self::Click => "Click",
            Self::Bounce => "Bounce",
            Self::Complaint => "Complaint",
            Self::Reject => "Reject",
            Self::RenderingFailure => "Rendering Failure",
            Self::DeliveryDelay => "DeliveryDelay",
            Self::Subscription => "Subscription",
            Self::Suppressed => "Suppressed",
            Self::Other(name) => name,
        }
    }

    /// Returns true for [`EventKind::Other`].
    pub fn is_other(&self) -> bool {
        matches!(self, Self::Other(_))
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The SES `bounceType`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BounceType {
    /// A hard bounce: the address should not be mailed again.
    Permanent,
    /// A soft bounce, such as a full mailbox.
    Transient,
    /// SES could not tell.
    Undetermined,
    /// A value this crate does not know, as received.
    Other(String),
    /// No `bounceType` in the record.
    Missing,
}

impl BounceType {
    fn parse(value: Option<&str>) -> Self {
        match value {
            Some("Permanent") => Self::Permanent,
            Some("Transient") => Self::Transient,
            Some("Undetermined") => Self::Undetermined,
            Some(other) => Self::Other(other.to_owned()),
            None => Self::Missing,
        }
    }
}

/// One entry of `bounce.bouncedRecipients`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncedRecipient {
    /// The recipient address.
    pub email_address: Sensitive,
    /// The DSN action, such as `failed`.
    pub action: Option<String>,
    /// The DSN status code, such as `5.1.1`.
    pub status: Option<String>,
    /// The receiving server's diagnostic text, which often repeats the
    /// address.
    pub diagnostic_code: Option<Sensitive>,
}

/// Data of a `Bounce` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceDetail {
    /// `bounceType`.
    pub bounce_type: BounceType,
    /// `bounceSubType`, such as `General`, `MailboxFull` or `Suppressed`.
    pub bounce_sub_type: Option<String>,
    /// `bouncedRecipients`.
    pub recipients: Vec<BouncedRecipient>,
    /// `feedbackId`.
    pub feedback_id: Option<String>,
}

impl BounceDetail {
    /// Returns true for a `Permanent` bounce, the only type that changes the
    /// contact's status.
    pub fn is_permanent(&self) -> bool {
        self.bounce_type == BounceType::Permanent
    }
}

/// Data of a `Delivery` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryDetail {
    /// `recipients`.
    pub recipients: Vec<Sensitive>,
    /// `smtpResponse` of the receiving server.
    pub smtp_response: Option<String>,
    /// `processingTimeMillis`: milliseconds from acceptance to delivery.
    pub processing_time_millis: Option<u64>,
}

/// Data of an `Open` record. The `ipAddress` field is deliberately not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDetail {
    /// `userAgent` of the client that loaded the tracking pixel.
    pub user_agent: Option<String>,
}

/// Data of a `Click` record. The `ipAddress` field is deliberately not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickDetail {
    /// `link`: the URL that was clicked.
    pub link: Option<String>,
    /// `userAgent` of the client.
    pub user_agent: Option<String>,
    /// `linkTags` set on the link when the message was sent.
    pub link_tags: BTreeMap<String, Vec<String>>,
}

/// Data of a `Complaint` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintDetail {
    /// `complainedRecipients[].emailAddress`.
    pub recipients: Vec<Sensitive>,
    /// `complaintFeedbackType`, such as `abuse`.
    pub feedback_type: Option<String>,
    /// `complaintSubType`, such as `OnAccountSuppressionList`.
    pub sub_type: Option<String>,
    /// `feedbackId`.
    pub feedback_id: Option<String>,
}

/// Data of a `Reject` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectDetail {
    /// `reject.reason`, such as `Bad content`.
    pub reason: Option<String>,
}

/// Data of a `Rendering Failure` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderingFailureDetail {
    /// `failure.errorMessage`.
    pub error_message: Option<String>,
    /// `failure.templateName`.
    pub template_name: Option<String>,
}

/// Data of a `DeliveryDelay` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryDelayDetail {
    /// `delayType`, such as `MailboxFull` or `TransientCommunicationFailure`.
    pub delay_type: Option<String>,
    /// `expirationTime`: when SES stops retrying.
    pub expiration_time: Option<DateTime<Utc>>,
    /// `delayedRecipients[].emailAddress`.
    pub recipients: Vec<Sensitive>,
}

/// Data of a `Subscription` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionDetail {
    /// `contactList`: the SES contact list whose preferences changed.
    pub contact_list: Option<String>,
}

/// Data of a suppression: the custom `Suppressed` event, or a bounce with
/// subtype `Suppressed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionDetail {
    /// `suppression.reason` of the custom event. `None` for a bounce.
    pub reason: Option<String>,
    /// `suppression.suppressedRecipients`, or the bounced recipients.
    pub recipients: Vec<Sensitive>,
    /// The original bounce, when the suppression came from a `Bounce`.
    pub bounce: Option<BounceDetail>,
}

/// Per-kind data of an [`SesEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDetail {
    /// `Send`, and kinds this crate does not know.
    None,
    /// See [`DeliveryDetail`].
    Delivery(DeliveryDetail),
    /// See [`OpenDetail`].
    Open(OpenDetail),
    /// See [`ClickDetail`].
    Click(ClickDetail),
    /// See [`BounceDetail`].
    Bounce(BounceDetail),
    /// See [`ComplaintDetail`].
    Complaint(ComplaintDetail),
    /// See [`RejectDetail`].
    Reject(RejectDetail),
    /// See [`RenderingFailureDetail`].
    RenderingFailure(RenderingFailureDetail),
    /// See [`DeliveryDelayDetail`].
    DeliveryDelay(DeliveryDelayDetail),
    /// See [`SubscriptionDetail`].
    Subscription(SubscriptionDetail),
    /// See [`SuppressionDetail`].
    Suppression(SuppressionDetail),
}

/// One SES event, normalised from either schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SesEvent {
    /// The normalised kind.
    pub kind: EventKind,
    /// The schema the record used.
    pub schema: Schema,
    /// The `eventType` or `notificationType` exactly as received; `Bounce`
    /// for a bounce that [`EventKind::Suppressed`] came from.
    pub type_name: String,
    /// `mail.messageId`: the SES message id, never empty.
    pub message_id: String,
    /// `mail.timestamp`: when SES accepted the message.
    pub mail_timestamp: Option<DateTime<Utc>>,
    /// `mail.destination`.
    pub destination: Vec<Sensitive>,
    /// `mail.tags`. Empty in identity notifications, which carry no tags.
    pub tags: BTreeMap<String, Vec<String>>,
    /// `mail.commonHeaders.subject`.
    pub subject: Option<String>,
    /// `mail.source`: the sender, possibly with a display name.
    pub source: Option<Sensitive>,
    /// The `timestamp` of the per-kind object: when this event happened.
    /// `Send` records have none; see [`SesEvent::occurred_at`].
    pub event_timestamp: Option<DateTime<Utc>>,
    /// The per-kind data.
    pub detail: EventDetail,
}

impl SesEvent {
    /// Returns the event time, falling back to the mail timestamp.
    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.event_timestamp.or(self.mail_timestamp)
    }

    /// Returns the first value of a tag, such as `batchId`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.get(name)?.first().map(String::as_str)
    }

    /// Returns the per-fact de-duplication key: the SES message id and the
    /// kind.
    pub fn fact_key(&self) -> FactKey {
        FactKey {
            message_id: self.message_id.clone(),
            kind: self.kind.clone(),
        }
    }
}

/// The per-fact de-duplication key: one fact per (SES message id, kind).
///
/// The same fact can arrive more than once: SNS and EventBridge retry, a
/// customer may route one configuration set to both, and SES itself reports
/// every open and click. Keying facts by message and kind lets the store keep
/// first-seen timestamps. Two bounces of different types for one message
/// share a key, so the first one wins.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FactKey {
    /// The SES message id.
    pub message_id: String,
    /// The normalised kind.
    pub kind: EventKind,
}

impl fmt::Display for FactKey {
    /// Formats as `<messageId>|<kind>`. SES message ids contain no `|`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}|{}", self.message_id, self.kind)
    }
}

/// The result of parsing an SES record that is structurally valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedRecord {
    /// A record with a message id.
    Event(Box<SesEvent>),
    /// A record without `mail.messageId` (or with an empty one). The route
    /// responds 200 `{"status":"ignored","reason":"missing mail.messageId"}`.
    MissingMessageId {
        /// The `eventType` or `notificationType`, if the record had one.
        type_name: Option<String>,
    },
}

/// Errors for SES records that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// The record text is not valid JSON. Only the position is kept, so the
    /// error never repeats the content.
    #[error("SES record is not valid JSON (line {line}, column {column})")]
    InvalidJson {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The record is JSON but not an object.
    #[error("SES record is not a JSON object")]
    NotAnObject,
    /// The record has neither a string `eventType` nor a string
    /// `notificationType`.
    #[error("SES record has no eventType or notificationType")]
    MissingType,
}

/// Parses an SES record from JSON text, such as the `Message` of an SNS
/// notification.
pub fn parse_record_json(text: &str) -> Result<ParsedRecord, RecordError> {
    let value: Value = serde_json::from_str(text).map_err(|error| RecordError::InvalidJson {
        line: error.line(),
        column: error.column(),
    })?;
    parse_record(&value)
}

/// Parses an SES record from a JSON value, such as the `detail` of an
/// EventBridge event.
///
/// The message id is checked before the type, as the hosted service does:
/// a record without `mail.messageId` is ignored whatever its type.
/// `eventType` wins when a record has both type fields.
pub fn parse_record(value: &Value) -> Result<ParsedRecord, RecordError> {
    let record = value.as_object().ok_or(RecordError::NotAnObject)?;

    let (schema, type_name) = if let Some(name) = str_field(record, "eventType") {
        (Schema::EventPublishing, Some(name))
    } else if let Some(name) = str_field(record, "notificationType") {
        (Schema::IdentityNotification, Some(name))
    } else {
        (Schema::EventPublishing, None)
    };

    let mail = object_field(record, "mail");
    let message_id = mail
        .and_then(|mail| str_field(mail, "messageId"))
        .filter(|id| !id.is_empty());
    let Some(message_id) = message_id else {
        return Ok(ParsedRecord::MissingMessageId {
            type_name: type_name.map(str::to_owned),
        });
    };
    let type_name = type_name.ok_or(RecordError::MissingType)?;

    let mut kind = EventKind::from_type_name(type_name);
    let (detail, event_timestamp) = parse_detail(&kind, record);
    // TODO: decide whether `OnAccountSuppressionList` bounces (the account-level
    // suppression list) are suppressions too. Only `Suppressed` (the global
    // list) is mapped, as in the hosted service.
    let detail = match detail {
        EventDetail::Bounce(bounce) if bounce.bounce_sub_type.as_deref() == Some("Suppressed") => {
            kind = EventKind::Suppressed;
            EventDetail::Suppression(SuppressionDetail {
                reason: None,
                recipients: bounce
                    .recipients
                    .iter()
                    .map(|recipient| recipient.email_address.clone())
                    .collect(),
                bounce: Some(bounce),
            })
        }
        other => other,
    };

    let event = SesEvent {
        kind,
        schema,
        type_name: type_name.to_owned(),
        message_id: message_id.to_owned(),
        mail_timestamp: mail.and_then(|mail| time_field(mail, "timestamp")),
        destination: mail
            .map(|mail| sensitive_list(mail.get("destination")))
            .unwrap_or_default(),
        tags: mail
            .map(|mail| string_list_map(mail.get("tags")))
            .unwrap_or_default(),
        subject: mail
            .and_then(|mail| object_field(mail, "commonHeaders"))
            .and_then(|headers| str_field(headers, "subject"))
            .map(str::to_owned),
        source: mail
            .and_then(|mail| str_field(mail, "source"))
            .map(Sensitive::new),
        event_timestamp,
        detail,
    };
    Ok(ParsedRecord::Event(Box::new(event)))
}

/// Reads the per-kind object and its `timestamp`.
fn parse_detail(
    kind: &EventKind,
    record: &Map<String, Value>,
) -> (EventDetail, Option<DateTime<Utc>>) {
    let block_name = match kind {
        EventKind::Send => "send",
        EventKind::Delivery => "delivery",
        EventKind::Open => "open",
        EventKind::Click => "click",
        EventKind::Bounce => "bounce",
        EventKind::Complaint => "complaint",
        EventKind::Reject => "reject",
        EventKind::RenderingFailure => "failure",
        EventKind::DeliveryDelay => "deliveryDelay",
        EventKind::Subscription => "subscription",
        EventKind::Suppressed => "suppression",
        EventKind::Other(_) => return (EventDetail::None, None),
    };
    let empty = Map::new();
    let block = object_field(record, block_name).unwrap_or(&empty);
    let timestamp = time_field(block, "timestamp");
    let owned = |name: &str| str_field(block, name).map(str::to_owned);

    let detail = match kind {
        EventKind::Send | EventKind::Other(_) => EventDetail::None,
        EventKind::Delivery => EventDetail::Delivery(DeliveryDetail {
            recipients: sensitive_list(block.get("recipients")),
            smtp_response: owned("smtpResponse"),
            processing_time_millis: block.get("processingTimeMillis").and_then(Value::as_u64),
        }),
        EventKind::Open => EventDetail::Open(OpenDetail {
            user_agent: owned("userAgent"),
        }),
        EventKind::Click => EventDetail::Click(ClickDetail {
            link: owned("link"),
            user_agent: owned("userAgent"),
            link_tags: string_list_map(block.get("linkTags")),
        }),
        EventKind::Bounce => EventDetail::Bounce(parse_bounce(block)),
        EventKind::Complaint => EventDetail::Complaint(ComplaintDetail {
            recipients: address_list(block.get("complainedRecipients")),
            feedback_type: owned("complaintFeedbackType"),
            sub_type: owned("complaintSubType"),
            feedback_id: owned("feedbackId"),
        }),
        EventKind::Reject => EventDetail::Reject(RejectDetail {
            reason: owned("reason"),
        }),
        EventKind::RenderingFailure => EventDetail::RenderingFailure(RenderingFailureDetail {
            error_message: owned("errorMessage"),
            template_name: owned("templateName"),
        }),
        EventKind::DeliveryDelay => EventDetail::DeliveryDelay(DeliveryDelayDetail {
            delay_type: owned("delayType"),
            expiration_time: time_field(block, "expirationTime"),
            recipients: address_list(block.get("delayedRecipients")),
        }),
        EventKind::Subscription => EventDetail::Subscription(SubscriptionDetail {
            contact_list: owned("contactList"),
        }),
        EventKind::Suppressed => EventDetail::Suppression(SuppressionDetail {
            reason: owned("reason"),
            recipients: suppressed_recipients(block.get("suppressedRecipients")),
            bounce: None,
        }),
    };
    (detail, timestamp)
}

fn parse_bounce(block: &Map<String, Value>) -> BounceDetail {
    let recipients = block
        .get("bouncedRecipients")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(Value::as_object)
                .filter_map(|entry| {
                    Some(BouncedRecipient {
                        email_address: Sensitive::new(str_field(entry, "emailAddress")?),
                        action: str_field(entry, "action").map(str::to_owned),
                        status: str_field(entry, "status").map(str::to_owned),
                        diagnostic_code: str_field(entry, "diagnosticCode").map(Sensitive::new),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    BounceDetail {
        bounce_type: BounceType::parse(str_field(block, "bounceType")),
        bounce_sub_type: str_field(block, "bounceSubType").map(str::to_owned),
        recipients,
        feedback_id: str_field(block, "feedbackId").map(str::to_owned),
    }
}

/// Reads `suppressedRecipients`, which the custom event may send either as
/// plain strings or as `{emailAddress}` objects.
fn suppressed_recipients(value: Option<&Value>) -> Vec<Sensitive> {
    let Some(entries) = value.and_then(Value::as_array) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| match entry {
            Value::String(address) => Some(Sensitive::new(address.as_str())),
            Value::Object(object) => str_field(object, "emailAddress").map(Sensitive::new),
            _ => None,
        })
        .collect()
}

fn str_field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Value::as_str)
}

fn object_field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Map<String, Value>> {
    object.get(name).and_then(Value::as_object)
}

fn time_field(object: &Map<String, Value>, name: &str) -> Option<DateTime<Utc>> {
    let text = str_field(object, name)?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// Reads an array of strings, skipping entries that are not strings.
fn sensitive_list(value: Option<&Value>) -> Vec<Sensitive> {
    value
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(Value::as_str)
                .map(Sensitive::new)
                .collect()
        })
        .unwrap_or_default()
}

/// Reads an array of `{emailAddress}` objects.
fn address_list(value: Option<&Value>) -> Vec<Sensitive> {
    value
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(Value::as_object)
                .filter_map(|entry| str_field(entry, "emailAddress"))
                .map(Sensitive::new)
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a map of string arrays such as `mail.tags`, skipping values of
/// other types.
fn string_list_map(value: Option<&Value>) -> BTreeMap<String, Vec<String>> {
    let Some(object) = value.and_then(Value::as_object) else {
        return BTreeMap::new();
    };
    object
        .iter()
        .filter_map(|(name, values)| {
            let values = values
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            Some((name.clone(), values))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: Value) -> SesEvent {
        match parse_record(&value).expect("record parses") {
            ParsedRecord::Event(event) => *event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[test]
    fn kind_names_round_trip() {
        for name in [
            "Send",
            "Delivery",
            "Open",
            "Click",
            "Bounce",
            "Complaint",
            "Reject",
            "Rendering Failure",
            "DeliveryDelay",
            "Subscription",
            "Suppressed",
        ] {
            let kind = EventKind::from_type_name(name);
            assert!(!kind.is_other(), "{name} should be a known kind");
            assert_eq!(kind.as_str(), name);
        }
        assert_eq!(
            EventKind::from_type_name("RenderingFailure"),
            EventKind::Other("RenderingFailure".to_owned())
        );
    }

    #[test]
    fn sensitive_debug_is_redacted() {
        let value = Sensitive::new("ana.silva@example.net");
        let printed = format!("{value:?}");
        assert!(!printed.contains('@'), "{printed}");
        assert_eq!(value.as_str(), "ana.silva@example.net");
    }

    #[test]
    fn event_debug_has_no_addresses() {
        let parsed = event(json!({
            "eventType": "Bounce",
            "mail": {
                "messageId": "m-1",
                "source": "News <news@example.org>",
                "destination": ["ana.silva@example.net"]
            },
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "bouncedRecipients": [{
                    "emailAddress": "ana.silva@example.net",
                    "diagnosticCode": "550 <ana.silva@example.net> unknown"
                }]
            }
        }));
        let printed = format!("{parsed:?}");
        assert!(!printed.contains('@'), "{printed}");
    }

    #[test]
    fn wrong_field_types_are_absent() {
        let parsed = event(json!({
            "eventType": "Click",
            "mail": {
                "messageId": "m-1",
                "timestamp": 5,
                "destination": "not-a-list",
                "tags": {"batchId": "not-a-list", "org": ["o-1", 7]}
            },
            "click": {"link": ["x"], "userAgent": null}
        }));
        assert_eq!(parsed.mail_timestamp, None);
        assert!(parsed.destination.is_empty());
        assert_eq!(parsed.tags.get("org"), Some(&vec!["o-1".to_owned()]));
        assert!(!parsed.tags.contains_key("batchId"));
        assert_eq!(
            parsed.detail,
            EventDetail::Click(ClickDetail {
                link: None,
                user_agent: None,
                link_tags: BTreeMap::new(),
            })
        );
    }

    #[test]
    fn empty_message_id_is_missing() {
        let parsed = parse_record(&json!({"eventType": "Open", "mail": {"messageId": ""}}));
        assert_eq!(
            parsed,
            Ok(ParsedRecord::MissingMessageId {
                type_name: Some("Open".to_owned())
            })
        );
    }

    #[test]
    fn missing_type_with_message_id_is_error() {
        let parsed = parse_record(&json!({"mail": {"messageId": "m-1"}}));
        assert_eq!(parsed, Err(RecordError::MissingType));
    }

    #[test]
    fn event_type_wins_over_notification_type() {
        let parsed = event(json!({
            "eventType": "Open",
            "notificationType": "Bounce",
            "mail": {"messageId": "m-1"}
        }));
        assert_eq!(parsed.kind, EventKind::Open);
        assert_eq!(parsed.schema, Schema::EventPublishing);
    }

    #[test]
    fn fact_key_formats_id_and_kind() {
        let parsed = event(json!({
            "eventType": "Rendering Failure",
            "mail": {"messageId": "m-1"}
        }));
        assert_eq!(parsed.fact_key().to_string(), "m-1|Rendering Failure");
    }
}
