//! Per-recipient rendering cost on the `SendEmail` path of the dispatcher,
//! `Content::email_message`. Each recipient's template data is built and
//! padded with the referenced variables, then subject and HTML are rendered.
//! The full message adds the plain-text part, the List-Unsubscribe headers
//! and the message tags. The once-per-chunk template preparation is
//! measured too.
//!
//! Two bodies: the short newsletter from `common` (about 650 bytes) and a
//! generated newsletter of about 20 KB with a style block, article cards and
//! six variables.

mod common;

use std::collections::BTreeSet;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{Map, Value};
use ses::render::{
    html_to_text, pad, recipient_data, referenced_variables, translate_authoring, Template,
};
use ses::EmailMessage;

use common::{
    Recipient, BATCH_ID, NEWSLETTER_HTML, NEWSLETTER_SUBJECT, ORGANIZATION_ID, ORGANIZATION_NAME,
    SENDER,
};

/// Target size of the large body, in bytes of authoring source.
const LARGE_BODY_BYTES: usize = 20 * 1024;

/// A template prepared the way `Content::load` prepares it: translated from
/// authoring syntax, its variables collected, subject and body compiled.
struct Prepared {
    subject: Template,
    html: Template,
    variables: BTreeSet<String>,
}

impl Prepared {
    fn new(subject: &str, html: &str) -> Self {
        let subject = translate_authoring(subject);
        let html = translate_authoring(html);
        let mut variables = referenced_variables(&subject).expect("subject parses");
        variables.extend(referenced_variables(&html).expect("body parses"));
        Self {
            subject: Template::compile(&subject).expect("subject compiles"),
            html: Template::compile(&html).expect("body compiles"),
            variables,
        }
    }

    /// Builds one recipient's data as the dispatcher does: copies the claimed
    /// row into `RecipientFields`, then maps and pads it.
    fn data(&self, recipient: &Recipient) -> Map<String, Value> {
        let fields = recipient.fields.clone();
        let unsubscribe_url = Some(recipient.unsubscribe_url.as_str());
        let mut data = recipient_data(&fields, ORGANIZATION_NAME, unsubscribe_url, None, &[]);
        pad(&mut data, &self.variables);
        data
    }

    /// Renders the subject and HTML of one recipient.
    fn render(&self, recipient: &Recipient) -> (String, String) {
        let data = self.data(recipient);
        let subject = self.subject.render(&data).expect("subject renders");
        let html = self.html.render(&data).expect("body renders");
        (subject, html)
    }

    /// Builds the whole `SendEmail` message of one recipient, as
    /// `Content::email_message` does for a batch without a published SES
    /// template.
    fn email_message(&self, recipient: &Recipient) -> EmailMessage {
        let (subject, html) = self.render(recipient);
        EmailMessage {
            from: SENDER.to_owned(),
            to: recipient.fields.email.clone(),
            reply_to: Vec::new(),
            subject,
            text: Some(html_to_text(&html)),
            html,
            headers: ses::headers::list_unsubscribe_headers(&recipient.unsubscribe_url),
            tags: ses::tags::message_tags(BATCH_ID, ORGANIZATION_ID, &recipient.contact_id, None),
            configuration_set: None,
        }
    }
}

/// Generates a newsletter body of about `LARGE_BODY_BYTES` bytes in
/// authoring syntax. It has a head with a style block, a greeting with a
/// fallback and a plan notice behind `{{#if}}`. Article cards follow until
/// the size is reached, then a footer with the organization name and the
/// unsubscribe link.
fn large_body() -> String {
    let mut html = String::with_capacity(LARGE_BODY_BYTES + 4096);
    html.push_str(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Monthly digest</title>
<style>
body{margin:0;padding:0;background:#f4f5f7;font-family:Helvetica,Arial,sans-serif;color:#1f2933}
.wrap{width:100%;background:#f4f5f7}.card{background:#ffffff;border-radius:6px;padding:24px}
h1{font-size:24px;margin:0 0 12px}h2{font-size:18px;margin:0 0 8px}
p{font-size:15px;line-height:1.55;margin:0 0 12px}.muted{color:#616e7c;font-size:12px}
.button{display:inline-block;background:#0b69a3;color:#ffffff;padding:10px 18px;border-radius:4px;text-decoration:none}
@media (max-width:600px){.card{padding:16px}h1{font-size:20px}}
</style></head>
<body><table role="presentation" class="wrap" width="100%" cellpadding="0" cellspacing="0">
<tr><td align="center" style="padding:24px 12px">
<table role="presentation" width="600" cellpadding="0" cellspacing="0">
<tr><td class="card">
<h1>Hi {{contact.firstName|there}},</h1>
<p>Here is what changed this month for {{contact.company|your team}}, with links to the
guides for each feature.</p>
{{#if contact.properties.plan}}<p class="muted">You are on the {{contact.properties.plan}}
plan; features marked as paid are included.</p>{{/if}}
</td></tr>
"#,
    );
    let footer = r#"<tr><td class="card">
<p class="muted">You receive this digest as {{contact.email}} because you signed up at
news.example.org. Sent by {{organizationName}}.</p>
<p class="muted"><a href="{{unsubscribeUrl}}">Unsubscribe</a></p>
</td></tr>
</table>
</td></tr></table>
</body></html>
"#;
    let mut card = 0;
    while html.len() + footer.len() < LARGE_BODY_BYTES {
        card += 1;
        html.push_str(&format!(
            r#"<tr><td style="height:16px"></td></tr>
<tr><td class="card">
<h2>Release note {card}: shorter send times for large audiences</h2>
<p>Broadcasts to more than ten thousand contacts now start sending while the audience is
still being frozen, so the first messages leave within seconds. Chunks are claimed in
order and each one is paced against the account quota, which keeps bounce handling and
suppression checks in step with the send. Nothing changes for smaller lists.</p>
<p><img src="https://news.example.org/img/note-{card}.png" width="552" alt="Chart for note {card}"></p>
<p><a class="button" href="https://news.example.org/notes/{card}?utm_source=digest">Read note {card}</a></p>
</td></tr>
"#
        ));
    }
    html.push_str(footer);
    html
}

fn render_per_recipient(c: &mut Criterion) {
    let recipients = common::recipients();
    let body = large_body();
    eprintln!(
        "template sources: newsletter {} bytes, large body {} bytes",
        NEWSLETTER_HTML.len(),
        body.len()
    );
    let newsletter = Prepared::new(NEWSLETTER_SUBJECT, NEWSLETTER_HTML);
    let large = Prepared::new(NEWSLETTER_SUBJECT, &body);

    let mut group = c.benchmark_group("render_per_recipient");
    group.throughput(Throughput::Elements(1));
    for (name, prepared) in [("newsletter_650b", &newsletter), ("body_20kb", &large)] {
        let mut next = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                next = (next + 1) % recipients.len();
                black_box(prepared.render(&recipients[next]))
            })
        });
    }
    let mut next = 0;
    group.bench_function("email_message_20kb", |b| {
        b.iter(|| {
            next = (next + 1) % recipients.len();
            black_box(large.email_message(&recipients[next]))
        })
    });
    group.finish();
}

fn text_part(c: &mut Criterion) {
    let recipients = common::recipients();
    let large = Prepared::new(NEWSLETTER_SUBJECT, &large_body());
    let (_, html) = large.render(&recipients[1]);

    let mut group = c.benchmark_group("html_to_text");
    group.throughput(Throughput::Bytes(html.len() as u64));
    group.bench_function("body_20kb", |b| b.iter(|| black_box(html_to_text(&html))));
    group.finish();
}

fn prepare(c: &mut Criterion) {
    let body = large_body();

    let mut group = c.benchmark_group("template_prepare");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("body_20kb", |b| {
        b.iter(|| black_box(Prepared::new(NEWSLETTER_SUBJECT, &body)))
    });
    group.finish();
}

criterion_group!(benches, render_per_recipient, text_part, prepare);
criterion_main!(benches);
