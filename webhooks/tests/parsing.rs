//! Envelope and record parsing beyond the fixtures: malformed bodies, raw
//! message delivery, both SES schemas and every event type.

mod common;

use common::{fixture, fixture_json, time};
use serde_json::{json, Value};
use webhooks::envelope::{parse_envelope, Envelope, EnvelopeError, SnsMessageType};
use webhooks::record::{
    parse_record, parse_record_json, BounceType, EventDetail, ParsedRecord, RecordError, Schema,
    SesEvent,
};
use webhooks::EventKind;

fn body(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("serialises")
}

fn event(value: Value) -> SesEvent {
    match parse_record(&value) {
        Ok(ParsedRecord::Event(event)) => *event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Builds a minimal event-publishing record of `event_type` with the
/// per-kind object `block`.
fn record(event_type: &str, block_name: &str, block: Value) -> Value {
    json!({
        "eventType": event_type,
        "mail": {
            "timestamp": "2026-11-30T14:02:11.412Z",
            "messageId": "m-1",
            "source": "news@example.org",
            "destination": ["ana.silva@example.net"],
            "commonHeaders": {"subject": "Hello"},
            "tags": {"batchId": ["b-1"]}
        },
        block_name: block
    })
}

fn eventbridge_with_detail(detail: Value) -> Vec<u8> {
    let mut envelope = fixture_json("eventbridge-delivery.json");
    envelope["detail"] = detail;
    body(&envelope)
}

fn sns_with_message(message: &str) -> Vec<u8> {
    let mut envelope = fixture_json("sns-delivery.json");
    envelope["Message"] = Value::String(message.to_owned());
    body(&envelope)
}

// Envelope errors.

#[test]
fn malformed_json_is_rejected() {
    for bytes in [&b""[..], b"{", b"{\"id\": }", b"not json", b"\xff\xfe"] {
        let error = parse_envelope(bytes, None).unwrap_err();
        assert!(
            matches!(error, EnvelopeError::InvalidJson { .. }),
            "{bytes:?}: {error:?}"
        );
    }
}

#[test]
fn json_error_hides_content() {
    let error = parse_envelope(br#"{"detail": "ana.silva@example.net" "#, None).unwrap_err();
    assert!(!error.to_string().contains('@'), "{error}");
}

#[test]
fn non_object_is_rejected() {
    for bytes in [&b"[]"[..], b"null", b"\"Notification\"", b"42"] {
        assert_eq!(
            parse_envelope(bytes, None),
            Err(EnvelopeError::NotAnObject),
            "{bytes:?}"
        );
    }
}

#[test]
fn unrecognised_object_is_rejected() {
    let error = parse_envelope(br#"{"hello": "world"}"#, None).unwrap_err();
    assert_eq!(error, EnvelopeError::UnrecognisedBody);
}

#[test]
fn raw_delivery_without_header() {
    let raw = fixture_json("sns-open.json")["Message"]
        .as_str()
        .expect("Message is a string")
        .to_owned();
    let error = parse_envelope(raw.as_bytes(), None).unwrap_err();
    assert_eq!(error, EnvelopeError::RawMessageDelivery);
}

#[test]
fn raw_delivery_with_header() {
    let raw = fixture_json("sns-bounce-permanent.json")["Message"]
        .as_str()
        .expect("Message is a string")
        .to_owned();
    let error = parse_envelope(raw.as_bytes(), Some("Notification")).unwrap_err();
    assert_eq!(error, EnvelopeError::RawMessageDelivery);
}

#[test]
fn raw_identity_notification_is_raw_delivery() {
    let raw = json!({"notificationType": "Bounce", "mail": {"messageId": "m-1"}});
    assert_eq!(
        parse_envelope(&body(&raw), None),
        Err(EnvelopeError::RawMessageDelivery)
    );
}

#[test]
fn sns_header_on_eventbridge_body_is_raw_delivery() {
    let error =
        parse_envelope(&fixture("eventbridge-open.json"), Some("Notification")).unwrap_err();
    assert_eq!(error, EnvelopeError::RawMessageDelivery);
}

#[test]
fn header_must_match_sns_type() {
    let error =
        parse_envelope(&fixture("sns-open.json"), Some("SubscriptionConfirmation")).unwrap_err();
    assert_eq!(
        error,
        EnvelopeError::HeaderMismatch {
            header: "SubscriptionConfirmation".to_owned(),
            body: SnsMessageType::Notification,
        }
    );
}

#[test]
fn unknown_sns_type_is_rejected() {
    let mut message = fixture_json("sns-open.json");
    message["Type"] = json!("Surprise");
    let error = parse_envelope(&body(&message), None).unwrap_err();
    assert_eq!(error, EnvelopeError::UnknownSnsType("Surprise".to_owned()));
}

#[test]
fn sns_required_fields() {
    for field in [
        "MessageId",
        "TopicArn",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    ] {
        let mut message = fixture_json("sns-open.json");
        message.as_object_mut().expect("object").remove(field);
        let error = parse_envelope(&body(&message), None).unwrap_err();
        assert_eq!(error, EnvelopeError::MissingField(field), "{field}");
    }
}

#[test]
fn sns_field_of_wrong_type() {
    let mut message = fixture_json("sns-open.json");
    message["MessageId"] = json!(42);
    assert_eq!(
        parse_envelope(&body(&message), None),
        Err(EnvelopeError::MissingField("MessageId"))
    );

    let mut message = fixture_json("sns-open.json");
    message["Subject"] = json!({"nested": true});
    assert_eq!(
        parse_envelope(&body(&message), None),
        Err(EnvelopeError::MissingField("Subject"))
    );
}

#[test]
fn sns_null_subject_is_absent() {
    let mut message = fixture_json("sns-open.json");
    message["Subject"] = Value::Null;
    let envelope = parse_envelope(&body(&message), None).expect("parses");
    assert_eq!(envelope.sns().expect("SNS").subject, None);
}

#[test]
fn confirmation_requires_token_and_subscribe_url() {
    for field in ["Token", "SubscribeURL"] {
        let mut message = fixture_json("sns-subscription-confirmation.json");
        message.as_object_mut().expect("object").remove(field);
        let error = parse_envelope(&body(&message), None).unwrap_err();
        assert_eq!(error, EnvelopeError::MissingField(field), "{field}");
    }
}

#[test]
fn unsubscribe_confirmation_parses() {
    let mut message = fixture_json("sns-subscription-confirmation.json");
    message["Type"] = json!("UnsubscribeConfirmation");
    let envelope =
        parse_envelope(&body(&message), Some("UnsubscribeConfirmation")).expect("parses");
    assert!(
        matches!(envelope, Envelope::SnsUnsubscribeConfirmation(_)),
        "{envelope:?}"
    );
    assert!(envelope.ses_record().is_none());
}

#[test]
fn lower_case_signing_cert_url_alias() {
    let mut message = fixture_json("sns-open.json");
    let object = message.as_object_mut().expect("object");
    let url = object.remove("SigningCertURL").expect("field present");
    object.insert("SigningCertUrl".to_owned(), url.clone());
    let envelope = parse_envelope(&body(&message), None).expect("parses");
    assert_eq!(
        Some(envelope.sns().expect("SNS").signing_cert_url.as_str()),
        url.as_str()
    );
}

#[test]
fn eventbridge_requires_id() {
    let mut event = fixture_json("eventbridge-open.json");
    event.as_object_mut().expect("object").remove("id");
    assert_eq!(
        parse_envelope(&body(&event), None),
        Err(EnvelopeError::MissingField("id"))
    );
}

#[test]
fn eventbridge_minimal_envelope() {
    let minimal = json!({"id": "e-1", "detail": record("Send", "send", json!({}))});
    let envelope = parse_envelope(&body(&minimal), None).expect("parses");
    let Envelope::EventBridge(event) = &envelope else {
        panic!("expected EventBridge, got {envelope:?}");
    };
    assert_eq!(event.source, None);
    let Some(Ok(ParsedRecord::Event(parsed))) = envelope.ses_record() else {
        panic!("expected an event");
    };
    assert_eq!(parsed.kind, EventKind::Send);
    assert_eq!(parsed.detail, EventDetail::None);
    assert_eq!(parsed.event_timestamp, None);
    assert_eq!(parsed.occurred_at(), Some(time("2026-11-30T14:02:11.412Z")));
}

// Records inside envelopes.

#[test]
fn missing_message_id_is_ignored_outcome() {
    let mut detail = fixture_json("eventbridge-delivery.json")["detail"].clone();
    detail["mail"]
        .as_object_mut()
        .expect("mail")
        .remove("messageId");
    let envelope = parse_envelope(&eventbridge_with_detail(detail.clone()), None).expect("parses");
    assert_eq!(
        envelope.ses_record(),
        Some(Ok(ParsedRecord::MissingMessageId {
            type_name: Some("Delivery".to_owned())
        }))
    );

    let envelope = parse_envelope(&sns_with_message(&detail.to_string()), None).expect("parses");
    assert_eq!(
        envelope.ses_record(),
        Some(Ok(ParsedRecord::MissingMessageId {
            type_name: Some("Delivery".to_owned())
        }))
    );
}

#[test]
fn missing_mail_is_ignored_outcome() {
    let envelope = parse_envelope(&eventbridge_with_detail(json!({"eventType": "Open"})), None)
        .expect("parses");
    assert_eq!(
        envelope.ses_record(),
        Some(Ok(ParsedRecord::MissingMessageId {
            type_name: Some("Open".to_owned())
        }))
    );
}

#[test]
fn empty_or_null_detail_is_not_a_panic() {
    let envelope = parse_envelope(&eventbridge_with_detail(json!({})), None).expect("parses");
    assert_eq!(
        envelope.ses_record(),
        Some(Ok(ParsedRecord::MissingMessageId { type_name: None }))
    );

    let envelope = parse_envelope(&eventbridge_with_detail(Value::Null), None).expect("parses");
    assert_eq!(envelope.ses_record(), Some(Err(RecordError::NotAnObject)));
}

#[test]
fn sns_message_that_is_not_json() {
    let envelope = parse_envelope(&sns_with_message("plain text, not JSON"), None).expect("parses");
    assert!(matches!(
        envelope.ses_record(),
        Some(Err(RecordError::InvalidJson { .. }))
    ));
}

#[test]
fn unknown_event_type_is_other() {
    let envelope = parse_envelope(
        &eventbridge_with_detail(record(
            "Teleport",
            "teleport",
            json!({"timestamp": "2026-11-30T14:05:00Z"}),
        )),
        None,
    )
    .expect("parses");
    let Some(Ok(ParsedRecord::Event(parsed))) = envelope.ses_record() else {
        panic!("expected an event");
    };
    assert_eq!(parsed.kind, EventKind::Other("Teleport".to_owned()));
    assert!(parsed.kind.is_other());
    assert_eq!(parsed.detail, EventDetail::None);
    assert_eq!(parsed.message_id, "m-1");
}

#[test]
fn open_before_delivery_parses_independently() {
    let open = parse_envelope(&fixture("eventbridge-open.json"), None).expect("parses");
    let delivery = parse_envelope(&fixture("eventbridge-delivery.json"), None).expect("parses");
    let Some(Ok(ParsedRecord::Event(open))) = open.ses_record() else {
        panic!("expected the open event");
    };
    let Some(Ok(ParsedRecord::Event(delivery))) = delivery.ses_record() else {
        panic!("expected the delivery event");
    };
    assert_eq!(open.kind, EventKind::Open);
    assert_eq!(delivery.kind, EventKind::Delivery);
    assert!(open.event_timestamp > delivery.event_timestamp);
}

// Every event-publishing type.

#[test]
fn bounce_with_suppressed_subtype_is_suppression() {
    let parsed = event(record(
        "Bounce",
        "bounce",
        json!({
            "bounceType": "Permanent",
            "bounceSubType": "Suppressed",
            "bouncedRecipients": [{"emailAddress": "ana.silva@example.net", "action": "failed"}],
            "timestamp": "2026-11-30T14:02:12Z"
        }),
    ));
    assert_eq!(parsed.kind, EventKind::Suppressed);
    assert_eq!(parsed.type_name, "Bounce");
    assert_eq!(parsed.event_timestamp, Some(time("2026-11-30T14:02:12Z")));
    let EventDetail::Suppression(detail) = &parsed.detail else {
        panic!("expected suppression detail, got {:?}", parsed.detail);
    };
    assert_eq!(detail.reason, None);
    assert_eq!(detail.recipients.len(), 1);
    assert_eq!(detail.recipients[0].as_str(), "ana.silva@example.net");
    let bounce = detail.bounce.as_ref().expect("original bounce kept");
    assert_eq!(bounce.bounce_type, BounceType::Permanent);
}

#[test]
fn custom_suppressed_event() {
    let parsed = event(record(
        "Suppressed",
        "suppression",
        json!({
            "reason": "BOUNCE",
            "timestamp": "2026-11-30T14:03:00Z",
            "suppressedRecipients": ["ana.silva@example.net", {"emailAddress": "bo@example.net"}, 7]
        }),
    ));
    assert_eq!(parsed.kind, EventKind::Suppressed);
    let EventDetail::Suppression(detail) = &parsed.detail else {
        panic!("expected suppression detail");
    };
    assert_eq!(detail.reason.as_deref(), Some("BOUNCE"));
    let recipients: Vec<&str> = detail.recipients.iter().map(|r| r.as_str()).collect();
    assert_eq!(recipients, ["ana.silva@example.net", "bo@example.net"]);
    assert_eq!(detail.bounce, None);
    assert_eq!(parsed.event_timestamp, Some(time("2026-11-30T14:03:00Z")));
}

#[test]
fn bounce_type_values() {
    for (value, expected) in [
        (json!("Permanent"), BounceType::Permanent),
        (json!("Transient"), BounceType::Transient),
        (json!("Undetermined"), BounceType::Undetermined),
        (json!("Sideways"), BounceType::Other("Sideways".to_owned())),
        (json!(3), BounceType::Missing),
    ] {
        let parsed = event(record("Bounce", "bounce", json!({"bounceType": value})));
        let EventDetail::Bounce(detail) = parsed.detail else {
            panic!("expected bounce detail");
        };
        assert_eq!(detail.bounce_type, expected);
    }
}

#[test]
fn bounce_without_object_is_empty_bounce() {
    let parsed = event(json!({"eventType": "Bounce", "mail": {"messageId": "m-1"}}));
    assert_eq!(parsed.kind, EventKind::Bounce);
    let EventDetail::Bounce(detail) = parsed.detail else {
        panic!("expected bounce detail");
    };
    assert_eq!(detail.bounce_type, BounceType::Missing);
    assert!(detail.recipients.is_empty());
}

#[test]
fn rendering_failure_event() {
    let parsed = event(record(
        "Rendering Failure",
        "failure",
        json!({"errorMessage": "Attribute 'name' is not present", "templateName": "welcome"}),
    ));
    assert_eq!(parsed.kind, EventKind::RenderingFailure);
    let EventDetail::RenderingFailure(detail) = &parsed.detail else {
        panic!("expected failure detail");
    };
    assert_eq!(
        detail.error_message.as_deref(),
        Some("Attribute 'name' is not present")
    );
    assert_eq!(detail.template_name.as_deref(), Some("welcome"));
    assert_eq!(parsed.event_timestamp, None);
}

#[test]
fn reject_event() {
    let parsed = event(record("Reject", "reject", json!({"reason": "Bad content"})));
    assert_eq!(parsed.kind, EventKind::Reject);
    let EventDetail::Reject(detail) = &parsed.detail else {
        panic!("expected reject detail");
    };
    assert_eq!(detail.reason.as_deref(), Some("Bad content"));
}

#[test]
fn delivery_delay_event() {
    let parsed = event(record(
        "DeliveryDelay",
        "deliveryDelay",
        json!({
            "timestamp": "2026-11-30T15:00:00Z",
            "delayType": "MailboxFull",
            "expirationTime": "2026-12-01T14:02:11Z",
            "delayedRecipients": [{"emailAddress": "ana.silva@example.net", "status": "4.2.2"}]
        }),
    ));
    assert_eq!(parsed.kind, EventKind::DeliveryDelay);
    let EventDetail::DeliveryDelay(detail) = &parsed.detail else {
        panic!("expected delay detail");
    };
    assert_eq!(detail.delay_type.as_deref(), Some("MailboxFull"));
    assert_eq!(detail.expiration_time, Some(time("2026-12-01T14:02:11Z")));
    assert_eq!(detail.recipients.len(), 1);
}

#[test]
fn subscription_event() {
    let parsed = event(record(
        "Subscription",
        "subscription",
        json!({"contactList": "news", "timestamp": "2026-11-30T15:00:00Z"}),
    ));
    assert_eq!(parsed.kind, EventKind::Subscription);
    let EventDetail::Subscription(detail) = &parsed.detail else {
        panic!("expected subscription detail");
    };
    assert_eq!(detail.contact_list.as_deref(), Some("news"));
}

#[test]
fn send_event() {
    let parsed = event(record("Send", "send", json!({})));
    assert_eq!(parsed.kind, EventKind::Send);
    assert_eq!(parsed.subject.as_deref(), Some("Hello"));
    assert_eq!(parsed.tag("batchId"), Some("b-1"));
    assert_eq!(parsed.tag("absent"), None);
}

#[test]
fn click_ignores_ip_address() {
    let parsed = event(record(
        "Click",
        "click",
        json!({"ipAddress": "198.51.100.7", "link": "https://example.org/", "userAgent": "UA"}),
    ));
    assert!(!format!("{parsed:?}").contains("198.51.100.7"));
}

// Identity notifications.

fn identity_notification(notification_type: &str, block_name: &str, block: Value) -> Value {
    json!({
        "notificationType": notification_type,
        "mail": {
            "timestamp": "2026-11-30T14:02:11.412Z",
            "source": "news@example.org",
            "sourceArn": "arn:aws:ses:eu-west-1:111122223333:identity/example.org",
            "sourceIp": "192.0.2.10",
            "sendingAccountId": "111122223333",
            "messageId": "m-2",
            "destination": ["ana.silva@example.net"],
            "commonHeaders": {"subject": "Receipt"}
        },
        block_name: block
    })
}

#[test]
fn identity_bounce_notification() {
    let parsed = event(identity_notification(
        "Bounce",
        "bounce",
        json!({
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": "ana.silva@example.net", "status": "5.1.1"}],
            "timestamp": "2026-11-30T14:02:13Z",
            "feedbackId": "f-1"
        }),
    ));
    assert_eq!(parsed.schema, Schema::IdentityNotification);
    assert_eq!(parsed.kind, EventKind::Bounce);
    assert_eq!(parsed.message_id, "m-2");
    assert!(parsed.tags.is_empty());
    assert_eq!(parsed.subject.as_deref(), Some("Receipt"));
    let EventDetail::Bounce(detail) = &parsed.detail else {
        panic!("expected bounce detail");
    };
    assert!(detail.is_permanent());
    assert_eq!(detail.feedback_id.as_deref(), Some("f-1"));
}

#[test]
fn identity_complaint_notification() {
    let parsed = event(identity_notification(
        "Complaint",
        "complaint",
        json!({
            "complainedRecipients": [{"emailAddress": "ana.silva@example.net"}],
            "timestamp": "2026-11-30T15:00:00Z",
            "complaintSubType": null,
            "complaintFeedbackType": "abuse"
        }),
    ));
    assert_eq!(parsed.schema, Schema::IdentityNotification);
    assert_eq!(parsed.kind, EventKind::Complaint);
    let EventDetail::Complaint(detail) = &parsed.detail else {
        panic!("expected complaint detail");
    };
    assert_eq!(detail.feedback_type.as_deref(), Some("abuse"));
    assert_eq!(detail.sub_type, None);
}

#[test]
fn identity_delivery_notification() {
    let parsed = event(identity_notification(
        "Delivery",
        "delivery",
        json!({
            "timestamp": "2026-11-30T14:02:12Z",
            "processingTimeMillis": 500,
            "recipients": ["ana.silva@example.net"],
            "smtpResponse": "250 ok"
        }),
    ));
    assert_eq!(parsed.schema, Schema::IdentityNotification);
    assert_eq!(parsed.kind, EventKind::Delivery);
    assert_eq!(parsed.event_timestamp, Some(time("2026-11-30T14:02:12Z")));
}

#[test]
fn identity_notification_through_sns() {
    let inner = identity_notification(
        "Delivery",
        "delivery",
        json!({"timestamp": "2026-11-30T14:02:12Z"}),
    );
    let envelope = parse_envelope(&sns_with_message(&inner.to_string()), Some("Notification"))
        .expect("parses");
    let Some(Ok(ParsedRecord::Event(parsed))) = envelope.ses_record() else {
        panic!("expected an event");
    };
    assert_eq!(parsed.schema, Schema::IdentityNotification);
    assert_eq!(parsed.kind, EventKind::Delivery);
}

#[test]
fn sns_setup_notification_is_ignored() {
    // SES sends this when an SNS topic is attached to an identity.
    let message = json!({"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"});
    assert_eq!(
        parse_record_json(&message.to_string()),
        Ok(ParsedRecord::MissingMessageId {
            type_name: Some("AmazonSnsSubscriptionSucceeded".to_owned())
        })
    );
}
