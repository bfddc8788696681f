//! Every fixture in both envelopes parses to the expected envelope, ids,
//! kind and per-kind data.

mod common;

use std::path::PathBuf;

use common::{fixture, time, FIXTURES};
use webhooks::envelope::{parse_envelope, DeliveryKey, Envelope, SnsMessageType};
use webhooks::record::{BounceType, EventDetail, ParsedRecord, Schema, SesEvent};
use webhooks::EventKind;

const SES_MESSAGE_ID: &str = "0102018f5e0a8b2c-6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b-000000";

struct Expected {
    file: &'static str,
    delivery_key: DeliveryKey,
    kind: EventKind,
    event_timestamp: &'static str,
}

fn eventbridge(id: &str) -> DeliveryKey {
    DeliveryKey::EventBridge(format!("6f0a1c2e-0000-4000-8000-{id}"))
}

fn sns(id: &str) -> DeliveryKey {
    DeliveryKey::Sns(format!("a1b2c3d4-0000-4000-8000-{id}"))
}

fn expected_events() -> Vec<Expected> {
    let row = |file, delivery_key, kind, event_timestamp| Expected {
        file,
        delivery_key,
        kind,
        event_timestamp,
    };
    vec![
        row(
            "eventbridge-bounce-permanent.json",
            eventbridge("825401159905"),
            EventKind::Bounce,
            "2026-11-30T14:02:12.500Z",
        ),
        row(
            "eventbridge-bounce-transient.json",
            eventbridge("140490966019"),
            EventKind::Bounce,
            "2026-11-30T14:40:00.000Z",
        ),
        row(
            "eventbridge-click.json",
            eventbridge("827373363958"),
            EventKind::Click,
            "2026-11-30T14:21:02.000Z",
        ),
        row(
            "eventbridge-complaint.json",
            eventbridge("471747429432"),
            EventKind::Complaint,
            "2026-11-30T15:10:03.000Z",
        ),
        row(
            "eventbridge-delivery.json",
            eventbridge("786468468428"),
            EventKind::Delivery,
            "2026-11-30T14:02:12.101Z",
        ),
        row(
            "eventbridge-open.json",
            eventbridge("314297385070"),
            EventKind::Open,
            "2026-11-30T14:20:44.000Z",
        ),
        row(
            "sns-bounce-permanent.json",
            sns("745016630305"),
            EventKind::Bounce,
            "2026-11-30T14:02:12.500Z",
        ),
        row(
            "sns-bounce-transient.json",
            sns("610074239727"),
            EventKind::Bounce,
            "2026-11-30T14:40:00.000Z",
        ),
        row(
            "sns-click.json",
            sns("980073729495"),
            EventKind::Click,
            "2026-11-30T14:21:02.000Z",
        ),
        row(
            "sns-complaint.json",
            sns("648706933844"),
            EventKind::Complaint,
            "2026-11-30T15:10:03.000Z",
        ),
        row(
            "sns-delivery.json",
            sns("554719131101"),
            EventKind::Delivery,
            "2026-11-30T14:02:12.101Z",
        ),
        row(
            "sns-open.json",
            sns("415678803788"),
            EventKind::Open,
            "2026-11-30T14:20:44.000Z",
        ),
    ]
}

fn parse_fixture(file: &str) -> Envelope {
    let header = if file.starts_with("sns-") {
        Some("Notification")
    } else {
        None
    };
    parse_envelope(&fixture(file), header).unwrap_or_else(|error| panic!("{file}: {error}"))
}

fn event_of(file: &str, envelope: &Envelope) -> SesEvent {
    match envelope.ses_record() {
        Some(Ok(ParsedRecord::Event(event))) => *event,
        other => panic!("{file}: expected an event, got {other:?}"),
    }
}

#[test]
fn every_fixture_is_listed() {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut on_disk: Vec<String> = std::fs::read_dir(&directory)
        .expect("fixture directory exists")
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8 name")
        })
        .filter(|name| name.ends_with(".json"))
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, FIXTURES);
}

#[test]
fn fixture_events_parse_to_expected_kind_and_ids() {
    for expected in expected_events() {
        let file = expected.file;
        let envelope = parse_fixture(file);
        match (&envelope, file.starts_with("sns-")) {
            (Envelope::SnsNotification(_), true) | (Envelope::EventBridge(_), false) => {}
            (other, _) => panic!("{file}: wrong envelope {other:?}"),
        }
        assert_eq!(envelope.delivery_key(), expected.delivery_key, "{file}");

        let event = event_of(file, &envelope);
        assert_eq!(event.kind, expected.kind, "{file}");
        assert_eq!(event.schema, Schema::EventPublishing, "{file}");
        assert_eq!(event.message_id, SES_MESSAGE_ID, "{file}");
        assert_eq!(
            event.mail_timestamp,
            Some(time("2026-11-30T14:02:11.412Z")),
            "{file}"
        );
        assert_eq!(
            event.event_timestamp,
            Some(time(expected.event_timestamp)),
            "{file}"
        );
        assert_eq!(
            event.subject.as_deref(),
            Some("November product update"),
            "{file}"
        );
        assert_eq!(
            event.source.as_ref().map(|source| source.as_str()),
            Some("News Team <news@mail.example.org>"),
            "{file}"
        );
        let destination: Vec<&str> = event
            .destination
            .iter()
            .map(|address| address.as_str())
            .collect();
        assert_eq!(destination, ["ana.silva@example.net"], "{file}");
        assert_eq!(
            event.tag("batchId"),
            Some("5b0e4c0e-2f7a-4d55-9d8e-1f6c2b7a9e01"),
            "{file}"
        );
        assert_eq!(
            event.tag("organizationId"),
            Some("9a1f3e2d-7c4b-4a59-8e6d-2b1c0f9e8d7a"),
            "{file}"
        );
        assert_eq!(event.tags.len(), 6, "{file}");
    }
}

#[test]
fn fixture_details_match_records() {
    for envelope_name in ["eventbridge", "sns"] {
        let permanent = event_of(
            "",
            &parse_fixture(&format!("{envelope_name}-bounce-permanent.json")),
        );
        let EventDetail::Bounce(bounce) = &permanent.detail else {
            panic!(
                "{envelope_name}: expected bounce detail, got {:?}",
                permanent.detail
            );
        };
        assert_eq!(bounce.bounce_type, BounceType::Permanent);
        assert!(bounce.is_permanent());
        assert_eq!(bounce.bounce_sub_type.as_deref(), Some("General"));
        assert_eq!(bounce.recipients.len(), 1);
        assert_eq!(
            bounce.recipients[0].email_address.as_str(),
            "ana.silva@example.net"
        );
        assert_eq!(bounce.recipients[0].status.as_deref(), Some("5.1.1"));

        let transient = event_of(
            "",
            &parse_fixture(&format!("{envelope_name}-bounce-transient.json")),
        );
        let EventDetail::Bounce(bounce) = &transient.detail else {
            panic!("{envelope_name}: expected bounce detail");
        };
        assert_eq!(bounce.bounce_type, BounceType::Transient);
        assert!(!bounce.is_permanent());
        assert_eq!(bounce.bounce_sub_type.as_deref(), Some("MailboxFull"));

        let click = event_of("", &parse_fixture(&format!("{envelope_name}-click.json")));
        let EventDetail::Click(detail) = &click.detail else {
            panic!("{envelope_name}: expected click detail");
        };
        assert_eq!(
            detail.link.as_deref(),
            Some("https://example.org/blog/november")
        );
        assert_eq!(detail.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(
            detail.link_tags.get("campaign"),
            Some(&vec!["november".to_owned()])
        );

        let open = event_of("", &parse_fixture(&format!("{envelope_name}-open.json")));
        let EventDetail::Open(detail) = &open.detail else {
            panic!("{envelope_name}: expected open detail");
        };
        assert_eq!(
            detail.user_agent.as_deref(),
            Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)")
        );
        assert!(
            !format!("{open:?}").contains("198.51.100.7"),
            "the open IP address is not kept"
        );

        let complaint = event_of(
            "",
            &parse_fixture(&format!("{envelope_name}-complaint.json")),
        );
        let EventDetail::Complaint(detail) = &complaint.detail else {
            panic!("{envelope_name}: expected complaint detail");
        };
        assert_eq!(detail.feedback_type.as_deref(), Some("abuse"));
        assert_eq!(detail.recipients.len(), 1);

        let delivery = event_of(
            "",
            &parse_fixture(&format!("{envelope_name}-delivery.json")),
        );
        let EventDetail::Delivery(detail) = &delivery.detail else {
            panic!("{envelope_name}: expected delivery detail");
        };
        assert_eq!(detail.smtp_response.as_deref(), Some("250 2.0.0 OK"));
        assert_eq!(detail.processing_time_millis, Some(689));
        assert_eq!(detail.recipients.len(), 1);
    }
}

#[test]
fn both_envelopes_share_fact_keys() {
    for name in [
        "bounce-permanent",
        "bounce-transient",
        "click",
        "complaint",
        "delivery",
        "open",
    ] {
        let from_eventbridge = event_of(name, &parse_fixture(&format!("eventbridge-{name}.json")));
        let from_sns = event_of(name, &parse_fixture(&format!("sns-{name}.json")));
        assert_eq!(from_eventbridge.fact_key(), from_sns.fact_key(), "{name}");
        assert_eq!(
            from_eventbridge, from_sns,
            "{name}: the same record in both envelopes"
        );
    }
}

#[test]
fn fact_keys_differ_by_kind() {
    let open = event_of("open", &parse_fixture("eventbridge-open.json"));
    let delivery = event_of("delivery", &parse_fixture("eventbridge-delivery.json"));
    assert_eq!(open.message_id, delivery.message_id);
    assert_ne!(open.fact_key(), delivery.fact_key());
}

#[test]
fn redelivery_has_same_delivery_key() {
    for file in FIXTURES {
        let first = parse_envelope(&fixture(file), None).expect("parses");
        let second = parse_envelope(&fixture(file), None).expect("parses");
        assert_eq!(first.delivery_key(), second.delivery_key(), "{file}");
    }
}

#[test]
fn delivery_keys_are_unique_across_fixtures() {
    let mut keys: Vec<String> = FIXTURES
        .iter()
        .map(|file| {
            parse_envelope(&fixture(file), None)
                .expect("parses")
                .delivery_key()
                .to_string()
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), FIXTURES.len());
}

#[test]
fn subscription_confirmation_fixture() {
    let envelope = parse_envelope(
        &fixture("sns-subscription-confirmation.json"),
        Some("SubscriptionConfirmation"),
    )
    .expect("parses");
    let Envelope::SnsSubscriptionConfirmation(message) = &envelope else {
        panic!("expected a subscription confirmation, got {envelope:?}");
    };
    assert_eq!(
        message.message_type,
        SnsMessageType::SubscriptionConfirmation
    );
    assert_eq!(message.message_id, "165545c9-2a5c-472c-8df2-7ff2be2b3b1b");
    assert_eq!(
        message.topic_arn,
        "arn:aws:sns:eu-west-1:111122223333:wraps-ses-events"
    );
    assert_eq!(
        message.token.as_deref(),
        Some("2336412f37fb687f5d51e6e2425f004aed")
    );
    assert!(message
        .subscribe_url
        .as_deref()
        .is_some_and(|url| url
            .starts_with("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription")));
    assert!(envelope.ses_record().is_none());
    assert_eq!(
        envelope.delivery_key(),
        DeliveryKey::Sns("165545c9-2a5c-472c-8df2-7ff2be2b3b1b".to_owned())
    );
}

#[test]
fn sns_notification_fields() {
    let envelope = parse_fixture("sns-delivery.json");
    let message = envelope.sns().expect("SNS envelope");
    assert_eq!(
        message.subject.as_deref(),
        Some("Amazon SES Email Event Notification")
    );
    assert_eq!(message.signature_version, "2");
    assert_eq!(message.timestamp, "2026-11-30T14:02:12.101Z");
    assert_eq!(message.signing_cert_url, common::FIXTURE_CERT_URL);
    assert!(message.unsubscribe_url.is_some());
    assert!(message.token.is_none());
}

#[test]
fn eventbridge_fields() {
    let Envelope::EventBridge(event) = parse_fixture("eventbridge-complaint.json") else {
        panic!("expected an EventBridge event");
    };
    assert_eq!(event.version.as_deref(), Some("0"));
    assert_eq!(
        event.detail_type.as_deref(),
        Some("Email Complaint Received")
    );
    assert_eq!(event.source.as_deref(), Some("aws.ses"));
    assert_eq!(event.account.as_deref(), Some("111122223333"));
    assert_eq!(event.region.as_deref(), Some("eu-west-1"));
    assert_eq!(event.time.as_deref(), Some("2026-11-30T15:10:03.000Z"));
}

/// The copies under `tests/fixtures` must stay equal to the shared
/// originals. The check is skipped where the shared directory is absent.
#[test]
fn fixture_copies_match_shared_originals() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/ses-events");
    if !shared.is_dir() {
        eprintln!("skipped: {} is absent", shared.display());
        return;
    }
    for file in FIXTURES.iter().copied().chain(["README.md"]) {
        let original =
            std::fs::read(shared.join(file)).unwrap_or_else(|error| panic!("{file}: {error}"));
        let copy = std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(file),
        )
        .unwrap_or_else(|error| panic!("{file}: {error}"));
        assert!(original == copy, "{file} differs from the shared original");
    }
}
