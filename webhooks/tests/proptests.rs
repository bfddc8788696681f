//! Property tests: the parsers and the verifier never panic on arbitrary or
//! mutated input, and a signed message with any signed field changed never
//! verifies.

mod common;

use std::sync::OnceLock;

use chrono::{DateTime, TimeDelta, Utc};
use common::{data, fixture, fixture_json, private_key, sign, time, FIXTURES};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use webhooks::envelope::{parse_envelope, SnsMessage, SnsMessageType};
use webhooks::record::{parse_record, parse_record_json, ParsedRecord};
use webhooks::secret::find_matching_secret;
use webhooks::sns::{verify_with_certificate, SnsError, VerifyPolicy};

/// Field names that the parsers look for, so that generated objects hit
/// real code paths as well as unknown keys.
const KNOWN_KEYS: &[&str] = &[
    "Type",
    "MessageId",
    "TopicArn",
    "Message",
    "Timestamp",
    "Subject",
    "Token",
    "SubscribeURL",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
    "id",
    "detail",
    "detail-type",
    "eventType",
    "notificationType",
    "mail",
    "messageId",
    "timestamp",
    "destination",
    "tags",
    "commonHeaders",
    "subject",
    "source",
    "bounce",
    "bounceType",
    "bounceSubType",
    "bouncedRecipients",
    "emailAddress",
    "complaint",
    "complainedRecipients",
    "click",
    "link",
    "linkTags",
    "open",
    "userAgent",
    "delivery",
    "recipients",
    "suppression",
    "suppressedRecipients",
    "failure",
    "deliveryDelay",
    "expirationTime",
];

const KNOWN_TYPES: &[&str] = &[
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
    "Suppression",
    "Notification",
    "SubscriptionConfirmation",
    "UnsubscribeConfirmation",
];

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(KNOWN_KEYS).prop_map(str::to_owned),
        "[a-zA-Z:~/-]{0,12}",
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(KNOWN_TYPES).prop_map(str::to_owned),
        Just("2026-11-30T14:02:12.500Z".to_owned()),
        ".{0,24}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite numbers only", |n| {
            serde_json::Number::from_f64(n).map(Value::Number)
        }),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(arb_key(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// One change to a JSON document.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(Index, Value),
    Remove(Index),
    Insert(Index, String, Value),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), arb_json()).prop_map(|(at, value)| Mutation::Replace(at, value)),
        any::<Index>().prop_map(Mutation::Remove),
        (any::<Index>(), arb_key(), arb_json())
            .prop_map(|(at, key, value)| Mutation::Insert(at, key, value)),
    ]
}

/// Lists the JSON pointers of every node below the root.
fn pointers(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let pointer = format!("{prefix}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(pointer.clone());
                pointers(child, &pointer, out);
            }
        }
        Value::Array(items) => {
            for (position, child) in items.iter().enumerate() {
                let pointer = format!("{prefix}/{position}");
                out.push(pointer.clone());
                pointers(child, &pointer, out);
            }
        }
        _ => {}
    }
}

fn apply(document: &mut Value, mutation: &Mutation) {
    let mut all = Vec::new();
    pointers(document, "", &mut all);
    if all.is_empty() {
        return;
    }
    match mutation {
        Mutation::Replace(at, value) => {
            if let Some(node) = document.pointer_mut(at.get::<String>(&all)) {
                *node = value.clone();
            }
        }
        Mutation::Remove(at) => {
            let pointer = at.get::<String>(&all);
            let (parent, last) = pointer.rsplit_once('/').expect("pointer has a slash");
            let key = last.replace("~1", "/").replace("~0", "~");
            match document.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&key);
                }
                Some(Value::Array(items)) => {
                    if let Ok(position) = key.parse::<usize>() {
                        if position < items.len() {
                            items.remove(position);
                        }
                    }
                }
                _ => {}
            }
        }
        Mutation::Insert(at, key, value) => {
            if let Some(Value::Object(map)) = document.pointer_mut(at.get::<String>(&all)) {
                map.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Mutates an SNS fixture's embedded `Message` JSON as well as the
/// envelope, so that the record parser also gets mutated records through
/// SNS.
fn mutate_fixture(file: &str, mutations: &[Mutation], inner: &[Mutation]) -> Vec<u8> {
    let mut document = fixture_json(file);
    if let Some(Value::String(message)) = document.get("Message") {
        if let Ok(mut record) = serde_json::from_str::<Value>(message) {
            for mutation in inner {
                apply(&mut record, mutation);
            }
            document["Message"] = Value::String(record.to_string());
        }
    }
    for mutation in mutations {
        apply(&mut document, mutation);
    }
    serde_json::to_vec(&document).expect("serialises")
}

/// Parses a body the way the route does, checking invariants of every
/// successful result.
fn parse_all(body: &[u8], header: Option<&str>) {
    let Ok(envelope) = parse_envelope(body, header) else {
        return;
    };
    let _ = envelope.delivery_key().to_string();
    if let Some(Ok(ParsedRecord::Event(event))) = envelope.ses_record() {
        assert!(!event.message_id.is_empty());
        let _ = event.fact_key().to_string();
        let _ = format!("{event:?}");
    }
}

fn arb_header() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        proptest::sample::select(KNOWN_TYPES).prop_map(|name| Some(name.to_owned())),
        ".{0,16}".prop_map(Some),
    ]
}

fn arb_fixture() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(FIXTURES)
}

/// Byte-level edits: overwrite, insert or delete one byte.
fn arb_byte_edits() -> impl Strategy<Value = Vec<(Index, u8, u8)>> {
    prop::collection::vec((any::<Index>(), any::<u8>(), 0u8..3), 1..8)
}

proptest! {
    #[test]
    fn envelope_never_panics_on_bytes(body in prop::collection::vec(any::<u8>(), 0..512), header in arb_header()) {
        parse_all(&body, header.as_deref());
    }

    #[test]
    fn record_never_panics_on_json(value in arb_json()) {
        if let Ok(ParsedRecord::Event(event)) = parse_record(&value) {
            prop_assert!(!event.message_id.is_empty());
        }
        let _ = parse_record_json(&value.to_string());
    }

    #[test]
    fn envelope_never_panics_on_generated_json(value in arb_json(), header in arb_header()) {
        parse_all(&serde_json::to_vec(&value).expect("serialises"), header.as_deref());
    }

    #[test]
    fn envelope_never_panics_on_byte_edits(file in arb_fixture(), edits in arb_byte_edits(), header in arb_header()) {
        let mut body = fixture(file);
        for (at, byte, operation) in edits {
            if body.is_empty() {
                body.push(byte);
                continue;
            }
            let position = at.index(body.len());
            match operation {
                0 => body[position] = byte,
                1 => body.insert(position, byte),
                _ => {
                    body.remove(position);
                }
            }
        }
        parse_all(&body, header.as_deref());
    }

    #[test]
    fn envelope_never_panics_on_mutated_fixtures(
        file in arb_fixture(),
        mutations in prop::collection::vec(arb_mutation(), 0..4),
        inner in prop::collection::vec(arb_mutation(), 0..4),
        header in arb_header(),
    ) {
        let body = mutate_fixture(file, &mutations, &inner);
        parse_all(&body, header.as_deref());
    }

    #[test]
    fn secret_match_agrees_with_plain_search(
        presented in prop::collection::vec(any::<u8>(), 0..8),
        candidates in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..8), 0..6),
    ) {
        let expected = if presented.is_empty() {
            None
        } else {
            candidates.iter().position(|candidate| candidate == &presented)
        };
        prop_assert_eq!(find_matching_secret(&presented, &candidates), expected);
    }
}

// Verifier properties.

fn now() -> DateTime<Utc> {
    time("2026-11-30T14:12:12.101Z")
}

/// The delivery fixture signed once with the test key, version 2.
fn signed_message() -> &'static SnsMessage {
    static MESSAGE: OnceLock<SnsMessage> = OnceLock::new();
    MESSAGE.get_or_init(|| {
        let mut value = fixture_json("sns-delivery.json");
        sign(&mut value, &private_key("signing-key.pem"), "2");
        let body = serde_json::to_vec(&value).expect("serialises");
        parse_envelope(&body, None)
            .expect("parses")
            .sns()
            .expect("SNS")
            .clone()
    })
}

fn certificate() -> &'static [u8] {
    static CERTIFICATE: OnceLock<Vec<u8>> = OnceLock::new();
    CERTIFICATE.get_or_init(|| data("signing-cert.pem"))
}

#[test]
fn signed_message_verifies() {
    let result = verify_with_certificate(
        signed_message(),
        certificate(),
        now(),
        &VerifyPolicy::default(),
    );
    assert!(result.is_ok(), "{result:?}");
}

fn arb_message_type() -> impl Strategy<Value = SnsMessageType> {
    prop_oneof![
        Just(SnsMessageType::Notification),
        Just(SnsMessageType::SubscriptionConfirmation),
        Just(SnsMessageType::UnsubscribeConfirmation),
    ]
}

fn arb_cert_url() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(common::FIXTURE_CERT_URL.to_owned()),
        "https://sns\\.[a-z.-]{0,20}\\.amazonaws\\.com(\\.cn)?/[a-z./-]{0,10}\\.pem",
        ".{0,40}",
    ]
}

fn arb_certificate() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(certificate().to_vec()),
        prop::collection::vec(any::<u8>(), 0..2048),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| {
            let mut bytes = certificate().to_vec();
            let position = at.index(bytes.len());
            bytes[position] = byte;
            bytes
        }),
    ]
}

prop_compose! {
    fn arb_sns_message()(
        message_type in arb_message_type(),
        message_id in ".{0,20}",
        topic_arn in ".{0,20}",
        message in ".{0,40}",
        timestamp in prop_oneof![Just("2026-11-30T14:10:00Z".to_owned()), ".{0,30}"],
        subject in proptest::option::of(".{0,10}"),
        token in proptest::option::of(".{0,10}"),
        subscribe_url in proptest::option::of(".{0,10}"),
        signature_version in prop_oneof![Just("1".to_owned()), Just("2".to_owned()), ".{0,3}"],
        signature in prop_oneof![
            Just(signed_message().signature.clone()),
            "[A-Za-z0-9+/=]{0,400}",
            ".{0,40}",
        ],
        signing_cert_url in arb_cert_url(),
    ) -> SnsMessage {
        SnsMessage {
            message_type,
            message_id,
            topic_arn,
            message,
            timestamp,
            subject,
            token,
            subscribe_url,
            unsubscribe_url: None,
            signature_version,
            signature,
            signing_cert_url,
        }
    }
}

/// A signed field to change and the new value.
#[derive(Debug, Clone)]
enum FieldChange {
    Message(String),
    MessageId(String),
    Subject(Option<String>),
    Timestamp(i64),
    TopicArn(String),
    Type(SnsMessageType),
}

fn arb_field_change() -> impl Strategy<Value = FieldChange> {
    prop_oneof![
        ".{0,40}".prop_map(FieldChange::Message),
        ".{0,40}".prop_map(FieldChange::MessageId),
        proptest::option::of(".{0,40}").prop_map(FieldChange::Subject),
        (-600_000i64..600_000).prop_map(FieldChange::Timestamp),
        ".{0,40}".prop_map(FieldChange::TopicArn),
        arb_message_type().prop_map(FieldChange::Type),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn verifier_never_panics(message in arb_sns_message(), certificate in arb_certificate(), skew in -7200i64..7200) {
        let result = verify_with_certificate(&message, &certificate, now() + TimeDelta::seconds(skew), &VerifyPolicy::default());
        prop_assert!(result.is_err() || message.signature == signed_message().signature);
    }

    #[test]
    fn changed_signed_field_never_verifies(change in arb_field_change()) {
        let original = signed_message();
        let mut message = original.clone();
        match change {
            FieldChange::Message(value) => message.message = value,
            FieldChange::MessageId(value) => message.message_id = value,
            FieldChange::Subject(value) => message.subject = value,
            FieldChange::Timestamp(offset_ms) => {
                let sent = time(&original.timestamp) + TimeDelta::milliseconds(offset_ms);
                message.timestamp = sent.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            }
            FieldChange::TopicArn(value) => message.topic_arn = value,
            FieldChange::Type(value) => {
                message.message_type = value;
                message.token = Some("token".to_owned());
                message.subscribe_url = Some("https://sns.eu-west-1.amazonaws.com/".to_owned());
            }
        }
        prop_assume!(message != *original);
        // A changed Type also adds Token and SubscribeURL; keep the
        // notification case, where the change alone must break the signature.
        prop_assume!(message.message_type != SnsMessageType::Notification || message.token.is_none());

        let result = verify_with_certificate(&message, certificate(), now(), &VerifyPolicy::default());
        prop_assert!(result.is_err(), "changed message verified: {:?}", message);
    }

    #[test]
    fn flipped_signature_bit_never_verifies(at in any::<Index>(), bit in 0u8..8) {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let mut signature = engine.decode(&signed_message().signature).expect("base64");
        let position = at.index(signature.len());
        signature[position] ^= 1 << bit;
        let mut message = signed_message().clone();
        message.signature = engine.encode(signature);
        let result = verify_with_certificate(&message, certificate(), now(), &VerifyPolicy::default());
        prop_assert_eq!(result, Err(SnsError::BadSignature));
    }
}
