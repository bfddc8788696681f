//! SES delivery feedback as it travels from the webhook route to the
//! dispatchers: one [`DeliveryEvent`] per accepted SES record, published to
//! the intake stream as a job of kind [`SES_EVENT`].

use serde::{Deserialize, Serialize};

use crate::ids::OrgId;

/// Job kind: apply one SES event to the store.
pub const SES_EVENT: &str = "ses.event";

/// The facts of an SES event that the store records, normalised by the
/// webhook route so that the intake worker never parses SES JSON again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryFact {
    Send,
    Delivery,
    Open,
    Click,
    Bounce,
    Complaint,
    Suppressed,
    Reject,
    RenderingFailure,
}

impl DeliveryFact {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Send => "send",
            Self::Delivery => "delivery",
            Self::Open => "open",
            Self::Click => "click",
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
            Self::Suppressed => "suppressed",
            Self::Reject => "reject",
            Self::RenderingFailure => "rendering_failure",
        }
    }
}

/// One SES event, accepted and authenticated by the webhook route.
///
/// It carries the recipient address of a message sent outside wrapsd, so a
/// job carrying it must never be logged with its payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryEvent {
    pub organization_id: OrgId,
    /// The connection whose webhook secret or SNS topic matched.
    pub connection_id: String,
    /// `eventbridge:<event id>` or `sns:<MessageId>`: the same delivery
    /// retried by the sender carries the same key.
    pub delivery_key: String,
    pub fact: DeliveryFact,
    /// The SES `eventType` or `notificationType` as received.
    pub type_name: String,
    /// `mail.messageId`.
    pub message_id: String,
    /// The `batchId` and `recipientId` tags that wrapsd puts on every
    /// broadcast message. They find the recipient even before the
    /// dispatcher has stored the message id SES returned, which a fast
    /// event can beat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<String>,
    /// When the event happened (the per-type timestamp, else the mail
    /// timestamp, else the time it was received), in Unix milliseconds.
    pub occurred_at: i64,
    /// `mail.timestamp` in Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_timestamp: Option<i64>,
    /// `Permanent`, `Transient` or `Undetermined`, for bounces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce_sub_type: Option<String>,
    /// The failure text of a rendering failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The first `mail.destination`, kept for messages sent outside wrapsd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// `mail.source`, kept for messages sent outside wrapsd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `mail.commonHeaders.subject`, kept for messages sent outside wrapsd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl DeliveryEvent {
    /// True for a bounce whose type is `Permanent`, the only bounce that
    /// marks the contact `bounced`.
    pub fn is_permanent_bounce(&self) -> bool {
        self.fact == DeliveryFact::Bounce && self.bounce_type.as_deref() == Some("Permanent")
    }
}

/// The change that applying one event made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    /// The event recorded a fact that was new.
    Applied,
    /// The fact was already recorded (from another delivery or an earlier
    /// event for the same message), so nothing changed.
    AlreadyKnown,
    /// The same delivery was processed before.
    Duplicate,
    /// The message was not sent by wrapsd; the event was recorded as a
    /// message sent outside wrapsd, or dropped when its type creates none.
    External,
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::AlreadyKnown => "already_known",
            Self::Duplicate => "duplicate",
            Self::External => "external",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_round_trips_through_json_without_empty_fields() {
        let event = DeliveryEvent {
            organization_id: OrgId::new(),
            connection_id: "conn_1".into(),
            delivery_key: "eventbridge:1".into(),
            fact: DeliveryFact::Bounce,
            type_name: "Bounce".into(),
            message_id: "010f-1".into(),
            batch_id: None,
            recipient_id: None,
            occurred_at: 1_700_000_000_000,
            mail_timestamp: None,
            bounce_type: Some("Permanent".into()),
            bounce_sub_type: Some("General".into()),
            error_message: None,
            recipient: None,
            source: None,
            subject: None,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["fact"], "bounce");
        assert!(json.get("recipient").is_none());
        let back: DeliveryEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert!(back.is_permanent_bounce());
    }
}
