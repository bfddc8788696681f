//! The simulator's own ceiling: how fast it accepts each SES call from a bare
//! load generator on this machine, with the SES client the dispatcher uses
//! and no database, queue or claim protocol in the way. The broadcast's
//! throughput is judged against these numbers from the same run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use ses::{
    AwsConnection, BulkEntry, BulkMessage, EmailMessage, SendOutcome, SesClient, SesClients,
    SesSettings,
};

use super::host::{Usage, UsageSnapshot};
use super::{BENCH_HTML, BENCH_SUBJECT, SENDER, SIMULATED_ACCOUNT};

/// SES template of the bulk load, stored in the simulator before it starts.
const CEILING_TEMPLATE: &str = "wraps_bench_ceiling";

/// Sending rates the simulator reached under the bare load generator.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ceiling {
    /// Calls in flight at once, for each call type.
    pub concurrency: usize,
    pub bulk: CallRate,
    pub send_email: CallRate,
}

/// Throughput of one SES call type.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRate {
    pub seconds: f64,
    pub calls: u64,
    /// Recipients SES returned a message id for.
    pub accepted: u64,
    /// Recipients with any other outcome; a healthy run has none.
    pub rejected: u64,
    pub recipients_per_sec: f64,
    /// CPU use of the simulator and of this process (the load generator)
    /// while the calls ran.
    pub usage: Usage,
}

/// Measures `SendBulkEmail` (50 entries a call) for `duration`, then
/// `SendEmail` for `duration`, each with `concurrency` calls in flight, on
/// the simulator at `endpoint` with process id `simulator_pid`.
pub async fn measure(
    endpoint: &str,
    simulator_pid: u32,
    duration: Duration,
    concurrency: usize,
) -> anyhow::Result<Ceiling> {
    let settings = SesSettings {
        endpoint_url: Some(endpoint.to_owned()),
        ..SesSettings::default()
    };
    let credentials =
        ses::Credentials::new("wrapsd-bench", "wrapsd-bench", None, None, "wrapsd-bench");
    let clients = SesClients::with_credentials(settings, credentials)?;
    let client = clients
        .client(&AwsConnection {
            account_id: SIMULATED_ACCOUNT.to_owned(),
            region: "us-east-1".to_owned(),
            role: None,
        })
        .await;

    let html = ses::render::translate_authoring(BENCH_HTML);
    let text = ses::render::html_to_text(&html);
    client
        .upsert_template(
            CEILING_TEMPLATE,
            &ses::render::translate_authoring(BENCH_SUBJECT),
            &html,
            Some(&text),
        )
        .await
        .context("storing the ceiling's template in the simulator failed")?;

    let pids = [
        ("ses-sim", simulator_pid),
        ("load generator", std::process::id()),
    ];
    let bulk = run_load(client.clone(), &pids, duration, concurrency, send_bulk).await;
    eprintln!(
        "    SendBulkEmail: {:.0} recipients/s ({} calls of {} entries)",
        bulk.recipients_per_sec,
        bulk.calls,
        ses::MAX_BULK_ENTRIES
    );
    let send_email = run_load(client, &pids, duration, concurrency, send_one).await;
    eprintln!(
        "    SendEmail:     {:.0} messages/s ({} calls)",
        send_email.recipients_per_sec, send_email.calls
    );
    Ok(Ceiling {
        concurrency,
        bulk,
        send_email,
    })
}

/// Outcome counts of one call: accepted and rejected recipients.
type CallCounts = (u64, u64);

/// Runs `concurrency` loops of `call` until `duration` has passed and
/// returns the rate over the time until the last call returned. `call` gets
/// the client and a counter that numbers recipient addresses uniquely.
async fn run_load<F, Fut>(
    client: Arc<dyn SesClient>,
    pids: &[(&'static str, u32)],
    duration: Duration,
    concurrency: usize,
    call: F,
) -> CallRate
where
    F: Fn(Arc<dyn SesClient>, Arc<AtomicU64>) -> Fut + Copy + Send + 'static,
    Fut: std::future::Future<Output = CallCounts> + Send,
{
    let addresses = Arc::new(AtomicU64::new(0));
    let usage_start = UsageSnapshot::take(pids);
    let started = Instant::now();
    let deadline = started + duration;

    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let client = client.clone();
        let addresses = addresses.clone();
        loops.spawn(async move {
            let (mut calls, mut accepted, mut rejected) = (0_u64, 0_u64, 0_u64);
            while Instant::now() < deadline {
                let (ok, failed) = call(client.clone(), addresses.clone()).await;
                calls += 1;
                accepted += ok;
                rejected += failed;
            }
            (calls, accepted, rejected)
        });
    }

    let (mut calls, mut accepted, mut rejected) = (0, 0, 0);
    while let Some(result) = loops.join_next().await {
        if let Ok((c, a, r)) = result {
            calls += c;
            accepted += a;
            rejected += r;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let usage = usage_start.until(&UsageSnapshot::take(pids));
    CallRate {
        seconds,
        calls,
        accepted,
        rejected,
        recipients_per_sec: accepted as f64 / seconds,
        usage,
    }
}

/// Sends one `SendBulkEmail` to 50 new addresses, with per-entry data and
/// tags shaped like the dispatcher's.
async fn send_bulk(client: Arc<dyn SesClient>, addresses: Arc<AtomicU64>) -> CallCounts {
    let first = addresses.fetch_add(ses::MAX_BULK_ENTRIES as u64, Ordering::Relaxed);
    let entries = (first..first + ses::MAX_BULK_ENTRIES as u64)
        .map(|n| BulkEntry {
            to: format!("ceiling-bulk-{n}@example.com"),
            template_data: serde_json::json!({ "firstName": format!("Member {n}") }).to_string(),
            headers: Vec::new(),
            tags: tags(n, Some(CEILING_TEMPLATE)),
        })
        .collect();
    let message = BulkMessage {
        from: SENDER.to_owned(),
        template_name: CEILING_TEMPLATE.to_owned(),
        default_template_data: r#"{"firstName":""}"#.to_owned(),
        entries,
        ..BulkMessage::default()
    };
    count(&client.send_bulk_email(&message).await)
}

/// Sends one `SendEmail` to a new address, rendered like the dispatcher's
/// HTML broadcasts.
async fn send_one(client: Arc<dyn SesClient>, addresses: Arc<AtomicU64>) -> CallCounts {
    let n = addresses.fetch_add(1, Ordering::Relaxed);
    let name = format!("Member {n}");
    let html = BENCH_HTML.replace("{{firstName}}", &name);
    let message = EmailMessage {
        from: SENDER.to_owned(),
        to: format!("ceiling-send-{n}@example.com"),
        subject: BENCH_SUBJECT.replace("{{firstName}}", &name),
        text: Some(ses::render::html_to_text(&html)),
        html,
        tags: tags(n, None),
        ..EmailMessage::default()
    };
    count(&[client.send_email(&message).await])
}

fn tags(n: u64, template: Option<&str>) -> Vec<(String, String)> {
    ses::tags::message_tags("ceiling", "ceiling", &format!("recipient-{n}"), template)
}

fn count(outcomes: &[SendOutcome]) -> CallCounts {
    let accepted = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, SendOutcome::Sent { .. }))
        .count() as u64;
    (accepted, outcomes.len() as u64 - accepted)
}
