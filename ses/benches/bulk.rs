//! Cost of building one `SendBulkEmail` call of 50 recipients, which
//! `Content::bulk_message` in the dispatcher does per SES call for a batch
//! with a published template. Per recipient it builds, pads and serializes
//! the template data, and builds the List-Unsubscribe headers and the
//! message tags. Per call it builds the default template data.
//!
//! `Content` needs a store to load, so this bench calls the same `ses`
//! functions directly. Ids are kept as text; the dispatcher formats them
//! from UUIDs per recipient, which is not measured here.

mod common;

use std::collections::BTreeSet;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{Map, Value};
use ses::render::{
    default_template_data, pad, recipient_data, referenced_variables, translate_authoring,
};
use ses::{BulkEntry, BulkMessage, MAX_BULK_ENTRIES};

use common::{
    Recipient, BATCH_ID, NEWSLETTER_HTML, NEWSLETTER_SUBJECT, ORGANIZATION_ID, ORGANIZATION_NAME,
    SENDER,
};

const TEMPLATE_ID: &str = "3d5c7e9f-1a2b-4c3d-8e4f-5a6b7c8d9e0f";
const SES_TEMPLATE_NAME: &str = "wraps-3d5c7e9f1a2b4c3d8e4f5a6b7c8d9e0f";

/// Collects the variables of the published template, which the dispatcher
/// does once per chunk.
fn variables() -> BTreeSet<String> {
    let mut variables =
        referenced_variables(&translate_authoring(NEWSLETTER_SUBJECT)).expect("subject parses");
    variables
        .extend(referenced_variables(&translate_authoring(NEWSLETTER_HTML)).expect("body parses"));
    variables
}

fn template_data(recipient: &Recipient, variables: &BTreeSet<String>) -> Map<String, Value> {
    let fields = recipient.fields.clone();
    let unsubscribe_url = Some(recipient.unsubscribe_url.as_str());
    let mut data = recipient_data(&fields, ORGANIZATION_NAME, unsubscribe_url, None, &[]);
    pad(&mut data, variables);
    data
}

fn bulk_message(recipients: &[Recipient], variables: &BTreeSet<String>) -> BulkMessage {
    let defaults = default_template_data(variables);
    let entries = recipients
        .iter()
        .map(|recipient| BulkEntry {
            to: recipient.fields.email.clone(),
            template_data: Value::Object(template_data(recipient, variables)).to_string(),
            headers: ses::headers::list_unsubscribe_headers(&recipient.unsubscribe_url),
            tags: ses::tags::message_tags(
                BATCH_ID,
                ORGANIZATION_ID,
                &recipient.contact_id,
                Some(TEMPLATE_ID),
            ),
        })
        .collect();
    BulkMessage {
        from: SENDER.to_owned(),
        reply_to: Vec::new(),
        template_name: SES_TEMPLATE_NAME.to_owned(),
        default_template_data: Value::Object(defaults).to_string(),
        default_tags: Vec::new(),
        configuration_set: None,
        entries,
    }
}

/// Returns the start of the next window of `MAX_BULK_ENTRIES` recipients.
fn advance(start: &mut usize, pool: usize) -> usize {
    *start = (*start + MAX_BULK_ENTRIES) % (pool - MAX_BULK_ENTRIES);
    *start
}

fn bulk(c: &mut Criterion) {
    let recipients = common::recipients();
    let variables = variables();
    let prepared: Vec<Value> = recipients
        .iter()
        .map(|recipient| Value::Object(template_data(recipient, &variables)))
        .collect();

    let mut group = c.benchmark_group("bulk_call");
    group.throughput(Throughput::Elements(MAX_BULK_ENTRIES as u64));
    let mut start = 0;
    group.bench_function("build_50", |b| {
        b.iter(|| {
            let start = advance(&mut start, recipients.len());
            let call = &recipients[start..start + MAX_BULK_ENTRIES];
            black_box(bulk_message(call, &variables))
        })
    });
    // Only the JSON step of the above, on data built beforehand: first
    // through `Display`, as `Content::bulk_message` does, then through
    // `serde_json::to_string`, which writes into the buffer directly.
    let mut start = 0;
    group.bench_function("json_display_50", |b| {
        b.iter(|| {
            let start = advance(&mut start, prepared.len());
            let json: Vec<String> = prepared[start..start + MAX_BULK_ENTRIES]
                .iter()
                .map(Value::to_string)
                .collect();
            black_box(json)
        })
    });
    let mut start = 0;
    group.bench_function("json_to_string_50", |b| {
        b.iter(|| {
            let start = advance(&mut start, prepared.len());
            let json: Vec<String> = prepared[start..start + MAX_BULK_ENTRIES]
                .iter()
                .map(|data| serde_json::to_string(data).expect("data serializes"))
                .collect();
            black_box(json)
        })
    });
    group.finish();
}

criterion_group!(benches, bulk);
criterion_main!(benches);
