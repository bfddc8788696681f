//! SES event records in the *event publishing* schema (`eventType`), the `detail` of an
//! EventBridge event and the `Message` of an SNS notification.
//!
//! Field names and shapes follow the SES developer guide's event publishing examples.
//! Addresses, IPs and hosts that SES would fill in from its own infrastructure use
//! documentation values: IPs from 198.51.100.0/24 (RFC 5737) and hosts under the
//! region's `amazonses.com` name.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::address::bare_address;

/// The link reported in `Click` events. The simulator keeps no bodies by default, so it
/// cannot pick a real link from the message.
pub(crate) const CLICKED_LINK: &str = "https://example.com/ses-sim/clicked";

const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) ses-sim";
const CLIENT_IP: &str = "198.51.100.7";

/// The SES event types the simulator produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    Send,
    Delivery,
    Bounce,
    Complaint,
    Open,
    Click,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::Send,
        EventType::Delivery,
        EventType::Bounce,
        EventType::Complaint,
        EventType::Open,
        EventType::Click,
    ];

    /// Returns the `eventType` value.
    pub fn name(self) -> &'static str {
        match self {
            EventType::Send => "Send",
            EventType::Delivery => "Delivery",
            EventType::Bounce => "Bounce",
            EventType::Complaint => "Complaint",
            EventType::Open => "Open",
            EventType::Click => "Click",
        }
    }

    /// Returns the EventBridge `detail-type` that SES uses for this event.
    pub fn detail_type(self) -> &'static str {
        match self {
            EventType::Send => "Email Sent",
            EventType::Delivery => "Email Delivered",
            EventType::Bounce => "Email Bounced",
            EventType::Complaint => "Email Complaint Received",
            EventType::Open => "Email Opened",
            EventType::Click => "Email Clicked",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A message SES accepted, with what its events repeat in `mail`.
#[derive(Debug, Clone)]
pub(crate) struct AcceptedMail {
    pub(crate) message_id: String,
    pub(crate) accepted_at: DateTime<Utc>,
    /// The sender as the request gave it, possibly with a display name.
    pub(crate) source: String,
    /// The `To` header's addresses; Cc and Bcc recipients are only in `recipients`.
    pub(crate) to_header: Vec<String>,
    /// Every recipient: To, Cc and Bcc.
    pub(crate) recipients: Vec<String>,
    pub(crate) subject: Option<Arc<str>>,
    /// The message tags of the request, one value each.
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) configuration_set: Option<Arc<str>>,
}

/// The AWS account and region that SES events name.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub(crate) account: String,
    pub(crate) region: String,
}

impl Origin {
    /// Returns the configuration set's ARN, which EventBridge lists in `resources`.
    pub(crate) fn configuration_set_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:ses:{}:{}:configuration-set/{name}",
            self.region, self.account
        )
    }

    fn mta_host(&self) -> String {
        format!("a1-1.smtp-out.{}.amazonses.com", self.region)
    }
}

/// Formats a time as SES does: RFC 3339 in UTC with milliseconds and a `Z`.
pub(crate) fn ses_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Builds the SES record of `event` for `mail`, happening at `at`.
pub(crate) fn build_record(
    mail: &AcceptedMail,
    event: EventType,
    at: DateTime<Utc>,
    origin: &Origin,
) -> Value {
    let mut record = Map::new();
    record.insert("eventType".into(), event.name().into());
    record.insert("mail".into(), mail_object(mail, origin));
    let (key, detail) = event_object(mail, event, at, origin);
    record.insert(key.into(), detail);
    Value::Object(record)
}

fn mail_object(mail: &AcceptedMail, origin: &Origin) -> Value {
    let from_domain = sender_domain(&mail.source);

    let mut headers = vec![json!({ "name": "From", "value": mail.source })];
    if !mail.to_header.is_empty() {
        headers.push(json!({ "name": "To", "value": mail.to_header.join(", ") }));
    }
    let mut common_headers = Map::new();
    common_headers.insert("from".into(), json!([mail.source]));
    if !mail.to_header.is_empty() {
        common_headers.insert("to".into(), json!(mail.to_header));
    }
    common_headers.insert("messageId".into(), mail.message_id.clone().into());
    if let Some(subject) = &mail.subject {
        headers.push(json!({ "name": "Subject", "value": subject.as_ref() }));
        common_headers.insert("subject".into(), subject.as_ref().into());
    }

    json!({
        "timestamp": ses_time(mail.accepted_at),
        "source": mail.source,
        "sourceArn": format!("arn:aws:ses:{}:{}:identity/{from_domain}", origin.region, origin.account),
        "sendingAccountId": origin.account,
        "messageId": mail.message_id,
        "destination": mail.recipients,
        "headersTruncated": false,
        "headers": headers,
        "commonHeaders": common_headers,
        "tags": event_tags(mail, from_domain),
    })
}

/// Converts the request's tags to the SES form, a list of values per name, and adds the
/// two automatic tags the simulator can fill in: `ses:configuration-set` and
/// `ses:from-domain`. Request tags cannot contain `:`, so they never collide with these.
fn event_tags(mail: &AcceptedMail, from_domain: &str) -> BTreeMap<String, Vec<String>> {
    let mut tags: BTreeMap<String, Vec<String>> = mail
        .tags
        .iter()
        .map(|(name, value)| (name.clone(), vec![value.clone()]))
        .collect();
    if let Some(configuration_set) = &mail.configuration_set {
        tags.insert(
            "ses:configuration-set".into(),
            vec![configuration_set.to_string()],
        );
    }
    tags.insert("ses:from-domain".into(), vec![from_domain.to_owned()]);
    tags
}

fn sender_domain(source: &str) -> &str {
    let address = bare_address(source);
    address
        .rsplit_once('@')
        .map_or(address, |(_, domain)| domain)
}

/// Returns the name and value of the event's own object, such as `delivery`.
fn event_object(
    mail: &AcceptedMail,
    event: EventType,
    at: DateTime<Utc>,
    origin: &Origin,
) -> (&'static str, Value) {
    let timestamp = ses_time(at);
    match event {
        EventType::Send => ("send", json!({})),
        EventType::Delivery => {
            let processing_millis = (at - mail.accepted_at).num_milliseconds().max(0);
            (
                "delivery",
                json!({
                    "timestamp": timestamp,
                    "processingTimeMillis": processing_millis,
                    "recipients": mail.recipients,
                    "smtpResponse": "250 2.0.0 OK",
                    "reportingMTA": origin.mta_host(),
                }),
            )
        }
        EventType::Bounce => {
            let bounced: Vec<Value> = mail
                .recipients
                .iter()
                .map(|recipient| {
                    json!({
                        "emailAddress": bare_address(recipient),
                        "action": "failed",
                        "status": "5.1.1",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                    })
                })
                .collect();
            (
                "bounce",
                json!({
                    "bounceType": "Permanent",
                    "bounceSubType": "General",
                    "bouncedRecipients": bounced,
                    "timestamp": timestamp,
                    "feedbackId": feedback_id(at),
                    "reportingMTA": format!("dns; {}", origin.mta_host()),
                }),
            )
        }
        EventType::Complaint => {
            let complained: Vec<Value> = mail
                .recipients
                .iter()
                .map(|recipient| json!({ "emailAddress": bare_address(recipient) }))
                .collect();
            (
                "complaint",
                json!({
                    "complainedRecipients": complained,
                    "timestamp": timestamp,
                    "feedbackId": feedback_id(at),
                    "userAgent": USER_AGENT,
                    "complaintFeedbackType": "abuse",
                    "arrivalDate": timestamp,
                }),
            )
        }
        EventType::Open => (
            "open",
            json!({
                "timestamp": timestamp,
                "userAgent": USER_AGENT,
                "ipAddress": CLIENT_IP,
            }),
        ),
        EventType::Click => (
            "click",
            json!({
                "timestamp": timestamp,
                "userAgent": USER_AGENT,
                "ipAddress": CLIENT_IP,
                "link": CLICKED_LINK,
                "linkTags": {},
            }),
        ),
    }
}

/// Returns a feedback id shaped like SES's: 16 hex digits, a UUID and `-000000`.
fn feedback_id(at: DateTime<Utc>) -> String {
    format!(
        "{:016x}-{}-000000",
        at.timestamp_millis().max(0),
        Uuid::new_v4()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use webhooks::record::{parse_record, EventDetail, ParsedRecord};

    fn mail() -> AcceptedMail {
        AcceptedMail {
            message_id: "0102018f5e0a8b2c-6f1d2a3b-4c5d-4e6f-8a9b-000000000001-000000".into(),
            accepted_at: DateTime::parse_from_rfc3339("2026-11-30T14:02:11.412Z")
                .unwrap()
                .with_timezone(&Utc),
            source: "News <news@mail.example.org>".into(),
            to_header: vec!["ana@example.net".into()],
            recipients: vec!["ana@example.net".into(), "hidden@example.net".into()],
            subject: Some("November update".into()),
            tags: BTreeMap::from([("batchId".to_owned(), "b-1".to_owned())]),
            configuration_set: Some("tracking".into()),
        }
    }

    fn origin() -> Origin {
        Origin {
            account: "111122223333".into(),
            region: "eu-west-1".into(),
        }
    }

    fn parsed(event: EventType) -> webhooks::SesEvent {
        let mail = mail();
        let at = mail.accepted_at + chrono::TimeDelta::milliseconds(689);
        let record = build_record(&mail, event, at, &origin());
        match parse_record(&record).expect("the record parses") {
            ParsedRecord::Event(event) => *event,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_type_parses_as_itself() {
        for event in EventType::ALL {
            let parsed = parsed(event);
            assert_eq!(parsed.type_name, event.name());
            assert_eq!(parsed.kind.as_str(), event.name());
        }
    }

    #[test]
    fn mail_fields_are_filled_in() {
        let parsed = parsed(EventType::Delivery);
        assert_eq!(parsed.message_id, mail().message_id);
        assert_eq!(parsed.subject.as_deref(), Some("November update"));
        assert_eq!(parsed.mail_timestamp, Some(mail().accepted_at));
        assert_eq!(parsed.destination.len(), 2);
        assert_eq!(parsed.tag("batchId"), Some("b-1"));
        assert_eq!(parsed.tag("ses:configuration-set"), Some("tracking"));
        assert_eq!(parsed.tag("ses:from-domain"), Some("mail.example.org"));
    }

    #[test]
    fn delivery_reports_processing_time() {
        match parsed(EventType::Delivery).detail {
            EventDetail::Delivery(delivery) => {
                assert_eq!(delivery.processing_time_millis, Some(689));
                assert_eq!(delivery.recipients.len(), 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bounce_is_permanent_general() {
        match parsed(EventType::Bounce).detail {
            EventDetail::Bounce(bounce) => {
                assert!(bounce.is_permanent());
                assert_eq!(bounce.bounce_sub_type.as_deref(), Some("General"));
                assert_eq!(bounce.recipients.len(), 2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn click_names_the_link() {
        match parsed(EventType::Click).detail {
            EventDetail::Click(click) => assert_eq!(click.link.as_deref(), Some(CLICKED_LINK)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn complaint_has_feedback_type() {
        match parsed(EventType::Complaint).detail {
            EventDetail::Complaint(complaint) => {
                assert_eq!(complaint.feedback_type.as_deref(), Some("abuse"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bcc_only_message_has_no_to_header() {
        let mail = AcceptedMail {
            to_header: Vec::new(),
            ..mail()
        };
        let record = build_record(&mail, EventType::Send, mail.accepted_at, &origin());
        assert!(record["mail"]["commonHeaders"].get("to").is_none());
        assert_eq!(record["mail"]["headers"].as_array().unwrap().len(), 2);
    }
}
