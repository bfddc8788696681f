//! Third-party check of the wire format: the same SES v2 calls, made with the real
//! aws-sdk-sesv2 client, against this simulator and against independent emulators
//! (the npm package `aws-ses-v2-local`, moto's server), and a comparison of what the
//! SDK parsed from each.
//!
//! Ignored by default because the emulators are not part of the build;
//! `load-tests/scripts/check-wire-format.sh` starts them on 127.0.0.1 and runs this test
//! with `SES_WIRE_CHECK_ENDPOINTS=name=url,...`. Differences are printed as findings. The
//! test fails only if this simulator's own responses differ from the expected ones.

use std::fmt::Debug;

use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{BulkEmailEntry, EmailContent, EmailTemplateContent, Template};
use aws_sdk_sesv2::Client;
use load_tests::sim::SimConfig;

use crate::bulk::{default_content, entry};
use crate::support::{ses_client, simple_content, start_sim, tag, to, SENDER};

const ENDPOINTS_ENV: &str = "SES_WIRE_CHECK_ENDPOINTS";

/// One call of the scenario and the SDK's reading of the response.
struct Observation {
    step: &'static str,
    outcome: String,
}

fn describe_error<E: ProvideErrorMetadata + Debug>(err: &SdkError<E, HttpResponse>) -> String {
    match err {
        SdkError::ServiceError(service) => format!(
            "error {} (HTTP {})",
            service.err().code().unwrap_or("<no code>"),
            service.raw().status().as_u16()
        ),
        SdkError::ResponseError(_) => "failure: the SDK could not parse the response".to_owned(),
        SdkError::DispatchFailure(_) => "failure: the request could not be sent".to_owned(),
        SdkError::TimeoutError(_) => "failure: timed out".to_owned(),
        other => format!("failure: {other}"),
    }
}

fn message_id_shape(id: Option<&str>) -> String {
    match id {
        Some(id) if !id.is_empty() => "ok, MessageId present".to_owned(),
        _ => "ok, MessageId missing".to_owned(),
    }
}

fn template_content() -> EmailTemplateContent {
    EmailTemplateContent::builder()
        .subject("Hello {{name}}")
        .html("<p>Hi {{name}}</p>")
        .text("Hi {{name}}")
        .build()
}

/// Runs every call once; `suffix` keeps template names apart between runs.
async fn run_scenario(client: &Client, suffix: &str) -> Vec<Observation> {
    let template_name = format!("wire-check-{suffix}");
    let mut observations = Vec::new();
    let mut observe =
        |step: &'static str, outcome: String| observations.push(Observation { step, outcome });

    // moto sends only from verified identities and verifies any it is asked to create;
    // the simulator checks no identities and does not implement this call.
    let outcome = match client
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
    {
        Ok(_) => "ok".to_owned(),
        Err(err) => describe_error(&err),
    };
    observe("CreateEmailIdentity, for the sender (setup)", outcome);

    let outcome = match client.get_account().send().await {
        Ok(account) => {
            let quota = account.send_quota();
            format!(
                "ok, SendQuota {}, SendingEnabled {}, ProductionAccessEnabled {}, EnforcementStatus {:?}, DedicatedIpAutoWarmupEnabled {}",
                quota.map_or("missing".to_owned(), |q| format!(
                    "{{Max24HourSend {}, MaxSendRate {}, SentLast24Hours {}}}",
                    q.max24_hour_send(),
                    q.max_send_rate(),
                    q.sent_last24_hours()
                )),
                account.sending_enabled(),
                account.production_access_enabled(),
                account.enforcement_status(),
                account.dedicated_ip_auto_warmup_enabled(),
            )
        }
        Err(err) => describe_error(&err),
    };
    observe("GetAccount", outcome);

    let create = || {
        client
            .create_email_template()
            .template_name(&template_name)
            .template_content(template_content())
            .send()
    };
    let outcome = match create().await {
        Ok(_) => "ok".to_owned(),
        Err(err) => describe_error(&err),
    };
    observe("CreateEmailTemplate", outcome);
    let outcome = match create().await {
        Ok(_) => "ok".to_owned(),
        Err(err) => describe_error(&err),
    };
    observe("CreateEmailTemplate, same name again", outcome);

    let outcome = match client
        .get_email_template()
        .template_name(&template_name)
        .send()
        .await
    {
        Ok(template) => {
            let content = template.template_content();
            format!(
                "ok, name matches {}, Subject {:?}, Html present {}, Text present {}",
                template.template_name() == template_name,
                content.and_then(|c| c.subject()),
                content.and_then(|c| c.html()).is_some(),
                content.and_then(|c| c.text()).is_some(),
            )
        }
        Err(err) => describe_error(&err),
    };
    observe("GetEmailTemplate", outcome);

    let outcome = match client
        .get_email_template()
        .template_name("wire-check-missing")
        .send()
        .await
    {
        Ok(_) => "ok".to_owned(),
        Err(err) => describe_error(&err),
    };
    observe("GetEmailTemplate, missing name", outcome);

    let outcome = match client.list_email_templates().send().await {
        Ok(list) => {
            let listed = list
                .templates_metadata()
                .iter()
                .find(|t| t.template_name() == Some(template_name.as_str()));
            format!(
                "ok, created template listed {}, CreatedTimestamp present {}",
                listed.is_some(),
                listed.and_then(|t| t.created_timestamp()).is_some(),
            )
        }
        Err(err) => describe_error(&err),
    };
    observe("ListEmailTemplates", outcome);

    let outcome = match client
        .send_email()
        .from_email_address(SENDER)
        .destination(to(&["a@example.com"]))
        .content(simple_content("Wire check"))
        .email_tags(tag("batchId", "wire-check"))
        .send()
        .await
    {
        Ok(output) => message_id_shape(output.message_id()),
        Err(err) => describe_error(&err),
    };
    observe("SendEmail, simple content with tags", outcome);

    let template = Template::builder()
        .template_name(&template_name)
        .template_data(r#"{"name":"Zoë"}"#)
        .build();
    let outcome = match client
        .send_email()
        .from_email_address(SENDER)
        .destination(to(&["b@example.com"]))
        .content(EmailContent::builder().template(template).build())
        .send()
        .await
    {
        Ok(output) => message_id_shape(output.message_id()),
        Err(err) => describe_error(&err),
    };
    observe("SendEmail, stored template", outcome);

    let outcome = match client
        .send_email()
        .from_email_address(SENDER)
        .destination(to(&["missing-at.example.com"]))
        .content(simple_content("Wire check"))
        .send()
        .await
    {
        Ok(output) => message_id_shape(output.message_id()),
        Err(err) => describe_error(&err),
    };
    observe("SendEmail, recipient without @", outcome);

    let outcome = match client
        .send_bulk_email()
        .from_email_address(SENDER)
        .default_content(default_content(&template_name, r#"{"name":"friend"}"#))
        .default_email_tags(tag("batchId", "wire-check"))
        .bulk_email_entries(entry("c@example.com"))
        .bulk_email_entries(entry("d@example.org"))
        .send()
        .await
    {
        Ok(output) => {
            let results = output.bulk_email_entry_results();
            let statuses: Vec<String> = results
                .iter()
                .map(|r| {
                    r.status()
                        .map_or("none".to_owned(), |s| s.as_str().to_owned())
                })
                .collect();
            let with_ids = results.iter().filter(|r| r.message_id().is_some()).count();
            format!(
                "ok, {} results, Status {statuses:?}, {with_ids} with MessageId",
                results.len()
            )
        }
        Err(err) => describe_error(&err),
    };
    observe("SendBulkEmail, 2 entries", outcome);

    let entries: Vec<BulkEmailEntry> = (0..51)
        .map(|i| entry(&format!("r{i}@example.com")))
        .collect();
    let outcome = match client
        .send_bulk_email()
        .from_email_address(SENDER)
        .default_content(default_content(&template_name, "{}"))
        .set_bulk_email_entries(Some(entries))
        .send()
        .await
    {
        Ok(output) => format!("ok, {} results", output.bulk_email_entry_results().len()),
        Err(err) => describe_error(&err),
    };
    observe("SendBulkEmail, 51 entries", outcome);

    let outcome = match client
        .send_bulk_email()
        .from_email_address(SENDER)
        .default_content(default_content("wire-check-missing", "{}"))
        .bulk_email_entries(entry("e@example.com"))
        .send()
        .await
    {
        Ok(output) => {
            let statuses: Vec<String> = output
                .bulk_email_entry_results()
                .iter()
                .map(|r| {
                    r.status()
                        .map_or("none".to_owned(), |s| s.as_str().to_owned())
                })
                .collect();
            format!("ok, Status {statuses:?}")
        }
        Err(err) => describe_error(&err),
    };
    observe("SendBulkEmail, missing template", outcome);

    observations
}

/// The outcome this simulator must produce at each step (a prefix of the outcome).
const EXPECTED: &[(&str, &str)] = &[
    (
        "CreateEmailIdentity, for the sender (setup)",
        "error UnknownOperationException (HTTP 404)",
    ),
    (
        "GetAccount",
        "ok, SendQuota {Max24HourSend -1, MaxSendRate -1",
    ),
    ("CreateEmailTemplate", "ok"),
    (
        "CreateEmailTemplate, same name again",
        "error AlreadyExistsException",
    ),
    (
        "GetEmailTemplate",
        "ok, name matches true, Subject Some(\"Hello {{name}}\")",
    ),
    ("GetEmailTemplate, missing name", "error NotFoundException"),
    (
        "ListEmailTemplates",
        "ok, created template listed true, CreatedTimestamp present true",
    ),
    (
        "SendEmail, simple content with tags",
        "ok, MessageId present",
    ),
    ("SendEmail, stored template", "ok, MessageId present"),
    (
        "SendEmail, recipient without @",
        "error BadRequestException",
    ),
    (
        "SendBulkEmail, 2 entries",
        "ok, 2 results, Status [\"SUCCESS\", \"SUCCESS\"], 2 with MessageId",
    ),
    ("SendBulkEmail, 51 entries", "error BadRequestException"),
    ("SendBulkEmail, missing template", "error NotFoundException"),
];

#[tokio::test]
#[ignore = "needs third-party SES v2 emulators: run load-tests/scripts/check-wire-format.sh"]
async fn wire_format_matches_third_party_emulators() {
    let sim = start_sim(SimConfig::default()).await;
    let ours = run_scenario(&ses_client(&sim.endpoint()), "sim").await;

    for (step, expected) in EXPECTED {
        let observed = ours
            .iter()
            .find(|o| o.step == *step)
            .map(|o| o.outcome.as_str())
            .unwrap_or("<not run>");
        assert!(
            observed.starts_with(expected),
            "{step}: the simulator answered `{observed}`, expected `{expected}`"
        );
    }

    let endpoints = std::env::var(ENDPOINTS_ENV).unwrap_or_default();
    let emulators: Vec<(&str, &str)> = endpoints
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    if emulators.is_empty() {
        println!("skipped the comparison: {ENDPOINTS_ENV} names no emulator (name=url,...)");
        sim.shutdown().await;
        return;
    }

    for (name, url) in emulators {
        assert!(
            url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:"),
            "{name}: {url} is not a loopback endpoint"
        );
        let theirs = run_scenario(&ses_client(url), name).await;

        println!("\n=== wrapsd ses-sim vs {name} ({url}) ===");
        let mut differences = 0;
        for (mine, other) in ours.iter().zip(&theirs) {
            let marker = if mine.outcome == other.outcome {
                "same"
            } else {
                differences += 1;
                "DIFF"
            };
            println!("[{marker}] {}", mine.step);
            println!("       ses-sim: {}", mine.outcome);
            if mine.outcome != other.outcome {
                println!("       {name}: {}", other.outcome);
            }
        }
        println!("=== {differences} of {} steps differ ===", ours.len());
    }
    sim.shutdown().await;
}
