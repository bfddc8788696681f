//! Inputs shared by the `ses` benches: a short newsletter template and a
//! pool of recipients shaped like the rows the dispatcher claims.

use serde_json::{json, Map, Value};
use ses::render::RecipientFields;

/// Subject of the short newsletter, in authoring syntax: two variables, one
/// of them with a fallback.
pub const NEWSLETTER_SUBJECT: &str =
    "{{contact.firstName|there}}, the November update from {{organizationName}}";

/// Body of the short newsletter (about 650 bytes), in authoring syntax. It
/// uses the same two variables as the subject.
pub const NEWSLETTER_HTML: &str = r#"<!DOCTYPE html>
<html><body style="margin:0;padding:0;font-family:Arial,sans-serif;color:#222222">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0">
<tr><td style="padding:24px">
<h1 style="font-size:22px;margin:0 0 16px">Hi {{contact.firstName|there}},</h1>
<p style="line-height:1.5">November brought faster contact imports, scheduled sends and a
new audience filter for recent openers. Here is where to switch each one on.</p>
<p><a href="https://news.example.org/changelog/november" style="color:#0a58ca">Read the
full changelog</a></p>
<p style="color:#666666;font-size:12px">Sent by {{organizationName}}.</p>
</td></tr>
</table>
</body></html>
"#;

/// Organization name every recipient's data carries.
pub const ORGANIZATION_NAME: &str = "Northwind Analytics";

/// Id of the batch, as text for the message tags.
pub const BATCH_ID: &str = "5b0e4c0e-2f7a-4d55-9d8e-1f6c2b7a9e01";

/// Id of the batch's organization, as text for the message tags.
pub const ORGANIZATION_ID: &str = "9a1f3e2d-7c4b-4a59-8e6d-2b1c0f9e8d7a";

/// Sender in display form.
pub const SENDER: &str = "News Team <news@mail.example.org>";

/// Number of distinct recipients the benches cycle through, so that one
/// recipient's data is not reused on every iteration.
pub const POOL_SIZE: usize = 1_000;

/// A claimed recipient with the values the dispatcher derives for it.
pub struct Recipient {
    pub contact_id: String,
    pub fields: RecipientFields,
    /// One-click unsubscribe link. Its token has the length of a signed
    /// token for a topic broadcast, 91 characters.
    ///
    /// NOTE: the link is built here, so signing the token (one HMAC per
    /// recipient in the dispatcher) is not part of any measurement.
    pub unsubscribe_url: String,
}

/// Builds `POOL_SIZE` recipients. Every fifth one has no first name, so the
/// fallback branch is taken. Half have a company and a job title, and all
/// carry three custom properties of mixed types.
pub fn recipients() -> Vec<Recipient> {
    const FIRST: &[&str] = &["Ana", "Bruno", "Chidi", "Dana", "Emil", "Farah", "Goran"];
    const LAST: &[&str] = &["Silva", "Okafor", "Lindqvist", "Moreau", "Tanaka"];
    const PLANS: &[&str] = &["free", "starter", "pro", "enterprise"];
    (0..POOL_SIZE)
        .map(|i| Recipient {
            contact_id: format!("7c1e0a52-0000-4000-8000-{i:012}"),
            fields: RecipientFields {
                email: format!("reader.{i:05}@example.net"),
                first_name: (i % 5 != 0).then(|| FIRST[i % FIRST.len()].to_owned()),
                last_name: Some(LAST[i % LAST.len()].to_owned()),
                company: (i % 2 == 0).then(|| format!("Company {}", i % 37)),
                job_title: (i % 2 == 0).then(|| "Operations lead".to_owned()),
                properties: properties(json!({
                    "plan": PLANS[i % PLANS.len()],
                    "seats": (i % 50) + 1,
                    "signupSource": "webinar",
                })),
            },
            // 68 characters for the 51-byte base64url claims, 22 for the
            // 16-byte tag.
            unsubscribe_url: format!("https://api.example.org/unsubscribe/AQE{i:0>65}.{i:0>22}"),
        })
        .collect()
}

fn properties(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("properties must be a JSON object, got {other}"),
    }
}
