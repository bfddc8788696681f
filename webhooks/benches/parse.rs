//! Cost of turning an SES webhook request body into an `SesEvent`:
//! `parse_envelope` on the raw bytes (with the `x-amz-sns-message-type`
//! header for SNS), then `Envelope::ses_record`, which reads the EventBridge
//! `detail` or parses the SNS `Message` text a second time.
//!
//! The bodies are the test fixtures (about 2.1 to 2.6 KB each). SNS
//! signature verification and webhook secret matching are not included.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use webhooks::{parse_envelope, ParsedRecord, SesEvent};

/// A request body and the SNS message type header it arrives with.
struct Body {
    name: &'static str,
    bytes: &'static [u8],
    sns_header: Option<&'static str>,
}

const fn eventbridge(name: &'static str, bytes: &'static [u8]) -> Body {
    Body {
        name,
        bytes,
        sns_header: None,
    }
}

const fn sns(name: &'static str, bytes: &'static [u8]) -> Body {
    Body {
        name,
        bytes,
        sns_header: Some("Notification"),
    }
}

const BODIES: &[Body] = &[
    eventbridge(
        "eventbridge_delivery",
        include_bytes!("../tests/fixtures/eventbridge-delivery.json"),
    ),
    eventbridge(
        "eventbridge_bounce",
        include_bytes!("../tests/fixtures/eventbridge-bounce-permanent.json"),
    ),
    eventbridge(
        "eventbridge_open",
        include_bytes!("../tests/fixtures/eventbridge-open.json"),
    ),
    sns(
        "sns_delivery",
        include_bytes!("../tests/fixtures/sns-delivery.json"),
    ),
    sns(
        "sns_bounce",
        include_bytes!("../tests/fixtures/sns-bounce-permanent.json"),
    ),
    sns(
        "sns_open",
        include_bytes!("../tests/fixtures/sns-open.json"),
    ),
];

/// Parses a body the way the webhook route does before it records the
/// event.
fn parse(body: &Body) -> Box<SesEvent> {
    let envelope = parse_envelope(body.bytes, body.sns_header).expect("envelope parses");
    match envelope.ses_record() {
        Some(Ok(ParsedRecord::Event(event))) => event,
        other => panic!("{}: expected an SES event, got {other:?}", body.name),
    }
}

/// Measures each body on its own, in bytes per second.
fn per_body(c: &mut Criterion) {
    let mut group = c.benchmark_group("webhook_parse");
    for body in BODIES {
        group.throughput(Throughput::Bytes(body.bytes.len() as u64));
        group.bench_function(body.name, |b| b.iter(|| black_box(parse(black_box(body)))));
    }
    group.finish();
}

/// Measures all six bodies per iteration, in events per second.
fn mixed(c: &mut Criterion) {
    let mut group = c.benchmark_group("webhook_parse_mixed");
    group.throughput(Throughput::Elements(BODIES.len() as u64));
    group.bench_function("six_events", |b| {
        b.iter(|| {
            for body in BODIES {
                black_box(parse(black_box(body)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, per_body, mixed);
criterion_main!(benches);
