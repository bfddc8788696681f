//! The `webhook-burst` scenario on one backend.
//!
//! 1. Setup, not timed: a fresh store with the scenario's seeded contacts,
//!    the SES simulator and wrapsd (as in [`api_mixed`](super::api_mixed)),
//!    the simulated AWS account connected through `POST /v1/connections`,
//!    and one broadcast to every contact through the simulator. The message
//!    id of each recipient is then read from the store.
//! 2. The generator's ceiling: the same events against a bare axum server.
//! 3. The load: SES events in EventBridge envelopes, posted open-loop at the
//!    target rate to `POST /webhooks/ses/{account}` with the connection's
//!    webhook secret ([`ses_events`](super::ses_events) plans them).
//! 4. The count: the run waits until the batch's counters settle and
//!    compares them with the facts the accepted events should record. It
//!    also reads the intake worker's event counter from wrapsd's metrics,
//!    which counts every event applied, including those that changed
//!    nothing.
//!
//! A missing fact fails the run after the results are written.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use reqwest::Url;
use serde::Serialize;
use serde_json::json;
use store::{BatchCounters, ConnectOptions, Store};
use tokio::time::Instant;

use super::api_mixed::{
    connect_account, local_client, measure_ceiling, phase_settings, prepare_store, send_batch, Api,
    Measured, ResourceWatch, RunContext, Services, Storage, SIMULATED_ACCOUNT,
};
use super::generator::{self, Workload};
use super::scenario::{Backend, Scenario};
use super::seed::Rng;
use super::ses_events::{self, EnvelopeContext, Facts, Plan, OPERATIONS};
use super::step;

/// How long the broadcast may take: this, plus one second per
/// [`BROADCAST_RECIPIENTS_PER_SEC`] recipients.
const BROADCAST_TIMEOUT: Duration = Duration::from_secs(60);
const BROADCAST_RECIPIENTS_PER_SEC: u64 = 500;
/// Recipients read from the store per query.
const RECIPIENT_PAGE: i64 = 1_000;
/// Minimum distance in time between a bounce and a delivery, open or click
/// of the same message in the plan.
const ORDER_GUARD: Duration = Duration::from_secs(1);
/// Maximum wait for the counters to settle after the load.
pub const SETTLE_LIMIT: Duration = Duration::from_secs(60);
/// The counters count as settled when they have not changed for this long
/// and the intake has applied every accepted event (or its count is not
/// readable).
const SETTLE_QUIET: Duration = Duration::from_secs(5);
const SETTLE_POLL: Duration = Duration::from_millis(500);
const SETTLE_PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// The metric the intake worker counts applied events in, by `type` and
/// `result`.
const INTAKE_METRIC: &str = "wraps_webhook_events_total";
/// The log line in which wrapsd names its metrics address.
const METRICS_LOG_LINE: &str = "metrics listener started";

/// Everything one backend's run measured.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRun {
    #[serde(flatten)]
    pub measured: Measured,
    pub setup: Setup,
    pub count: Count,
}

/// Preparation, not part of the load.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Setup {
    pub contacts: u64,
    pub migrate_secs: f64,
    pub import_contacts_secs: f64,
    pub start_processes_secs: f64,
    /// Recipients of the broadcast with a message id.
    pub messages: usize,
    /// From `POST /v1/batch` until the broadcast completed.
    pub broadcast_secs: f64,
    /// Events in the plan, one per request due in the load.
    pub planned_events: usize,
}

/// The events posted against the facts the store recorded.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Count {
    /// Requests sent during the load.
    pub posted: u64,
    /// 2xx responses.
    pub accepted: u64,
    /// Accepted requests that repeated an earlier envelope id.
    pub accepted_repeats: u64,
    /// From the end of the load until the counters settled (or the limit).
    pub settle_secs: f64,
    pub settled: bool,
    pub counters: Vec<CounterCheck>,
    /// Expected facts minus recorded ones over every counter, 0 when no
    /// event was lost.
    pub lost: i64,
    /// Messages with a bounce and a delivery, open or click whose requests
    /// overlapped in time, so that either may have been applied first. Their
    /// expected delivery is uncertain. It is 0 when every response came
    /// within the order guard of one second.
    pub unordered_messages: u64,
    /// Events the intake worker applied during the run, by result
    /// (`applied`, `duplicate`, ...), from wrapsd's metrics. Absent when
    /// they could not be read.
    pub intake: Option<BTreeMap<String, u64>>,
}

/// One counter of the batch.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CounterCheck {
    pub counter: String,
    pub expected: u64,
    pub recorded: i64,
    pub lost: i64,
}

impl Count {
    /// Returns whether every expected fact was recorded and none more.
    pub fn complete(&self) -> bool {
        self.counters.iter().all(|check| check.lost == 0)
    }
}

/// Runs the scenario on `backend`.
pub async fn run(
    scenario: &Scenario,
    backend: Backend,
    context: &RunContext,
) -> anyhow::Result<WebhookRun> {
    let rate = scenario.rate.context("webhook-burst needs a rate")?;
    let contacts = scenario
        .contacts()
        .context("webhook-burst needs contacts")?;
    let log_dir = context.log_dir(backend)?;
    let http = local_client()?;

    // Declared first so that it is dropped last, after the processes.
    let storage = Storage::create(backend, context, &log_dir).await?;
    eprintln!("    store: {}", storage.description);
    step(&format!(
        "creating {contacts} contacts from seed {} (not timed)",
        scenario.seed
    ));
    let prepared = prepare_store(&storage.database_url, scenario.seed, contacts).await?;
    let mut services = Services::start(backend, &storage, &[], &http, &log_dir).await?;
    let start_processes_secs = services.start_secs;

    let api = Api {
        http: http.clone(),
        base: services.base_url.clone(),
        key: prepared.api_key.clone(),
    };
    step(&format!(
        "sending one broadcast to all {contacts} contacts through the simulator (not timed)"
    ));
    let broadcast_started = Instant::now();
    let connection = connect_account(&api).await?;
    let batch_id = send_batch(
        &api,
        &connection.id,
        json!({ "name": "Load test webhook broadcast", "audienceType": "all" }),
        broadcast_timeout(contacts),
    )
    .await?;
    let broadcast_secs = broadcast_started.elapsed().as_secs_f64();
    let store = Store::connect_with(
        &storage.database_url,
        &ConnectOptions {
            max_connections: 2,
            ..ConnectOptions::default()
        },
    )
    .await
    .context("cannot connect to the run's store")?;
    let batch: schemas::BatchId = batch_id.parse().context("the batch id is not a UUID")?;
    let recipients = read_recipients(&store, prepared.org, batch).await?;
    eprintln!(
        "    broadcast of {} messages completed in {broadcast_secs:.1} s",
        recipients.message_ids.len()
    );

    let scheduled = (rate * scenario.duration_secs as f64).floor().max(1.0);
    anyhow::ensure!(
        scheduled < f64::from(u32::MAX),
        "rate × duration_secs is {scheduled} events; at most {} fit in a plan",
        u32::MAX
    );
    let guard = (rate * ORDER_GUARD.as_secs_f64()).ceil() as u32;
    let plan = Arc::new(Plan::new(
        scenario.seed,
        recipients.message_ids.len() as u32,
        scheduled as u32,
        guard,
    ));
    let envelope = Arc::new(EnvelopeContext {
        account: SIMULATED_ACCOUNT.to_owned(),
        batch_id: batch_id.clone(),
        organization_id: prepared.org.to_string(),
        start: Utc::now(),
        rate,
    });
    let recipients = Arc::new(recipients);
    let workload = |base_url: &str, outcomes: Option<Outcomes>| {
        Arc::new(EventWorkload {
            url: format!("{base_url}/webhooks/ses/{SIMULATED_ACCOUNT}"),
            secret: connection.webhook_secret.clone(),
            plan: plan.clone(),
            envelope: envelope.clone(),
            recipients: recipients.clone(),
            outcomes,
        })
    };
    let ceiling =
        measure_ceiling(scenario, rate, |url| workload(url, None), &http, &log_dir).await?;

    step(&format!(
        "posting SES events to wrapsd: {rate}/s for {} s over {} connections, {} messages",
        scenario.duration_secs,
        scenario.connections(),
        recipients.message_ids.len()
    ));
    let load_workload = workload(&services.base_url, Some(Outcomes::new(plan.events.len())));
    let watch = ResourceWatch::start(&services);
    let load = generator::run(
        load_workload.clone(),
        &phase_settings(scenario, "webhook", rate, scenario.duration_secs),
    )
    .await?;
    let resources = watch.finish();
    services.check_running()?;

    let outcomes = load_workload
        .outcomes
        .as_ref()
        .context("the load phase records its outcomes")?;
    let expected = ses_events::expected_facts(&plan, recipients.message_ids.len(), |index| {
        outcomes.accepted(index)
    });
    let accepted = outcomes.accepted_count();
    let intake_log = log_dir.join(intake_process(backend));
    step(&format!(
        "waiting up to {} s for the intake to apply the events",
        SETTLE_LIMIT.as_secs()
    ));
    let settled = settle(
        &store,
        prepared.org,
        batch,
        &expected,
        accepted,
        &http,
        &intake_log,
    )
    .await?;
    store.close().await;
    let simulator = services.finish(&http).await?;
    drop(storage);

    let count = Count {
        posted: load.sent,
        accepted,
        accepted_repeats: outcomes.accepted_repeats(&plan),
        settle_secs: settled.secs,
        settled: settled.quiet,
        lost: 0,
        counters: Vec::new(),
        unordered_messages: outcomes.unordered_messages(&plan, recipients.message_ids.len()),
        intake: settled.intake,
    }
    .compare(&expected, &settled.counters);

    Ok(WebhookRun {
        measured: Measured::new(
            scenario, backend, rate, ceiling, load, simulator, resources, &log_dir,
        ),
        setup: Setup {
            contacts,
            migrate_secs: prepared.migrate_secs,
            import_contacts_secs: prepared.import_secs,
            start_processes_secs,
            messages: recipients.message_ids.len(),
            broadcast_secs,
            planned_events: plan.events.len(),
        },
        count,
    })
}

/// Returns how long a broadcast to `contacts` recipients may take.
pub fn broadcast_timeout(contacts: u64) -> Duration {
    BROADCAST_TIMEOUT + Duration::from_secs(contacts / BROADCAST_RECIPIENTS_PER_SEC)
}

/// The message id and address of every recipient of the broadcast, in one
/// order.
struct Recipients {
    message_ids: Vec<String>,
    emails: Vec<String>,
}

/// Reads the message id of every recipient of the batch.
async fn read_recipients(
    store: &Store,
    org: schemas::OrgId,
    batch: schemas::BatchId,
) -> anyhow::Result<Recipients> {
    let mut recipients = Recipients {
        message_ids: Vec::new(),
        emails: Vec::new(),
    };
    let mut offset = 0;
    loop {
        let (page, total) = store
            .list_batch_recipients(org, batch, None, RECIPIENT_PAGE, offset)
            .await?;
        for row in &page {
            let message_id = row.message_id.clone().with_context(|| {
                format!("recipient {} of the broadcast has no message id", row.id)
            })?;
            recipients.message_ids.push(message_id);
            recipients.emails.push(row.email.clone());
        }
        offset += page.len() as i64;
        if page.is_empty() || offset >= total {
            break;
        }
    }
    anyhow::ensure!(
        !recipients.message_ids.is_empty(),
        "the broadcast has no recipients"
    );
    Ok(recipients)
}

/// Returns the log file of the process that runs the intake worker.
fn intake_process(backend: Backend) -> &'static str {
    match backend {
        Backend::Embedded => "serve.log",
        Backend::PostgresRedis => "dispatch.log",
    }
}

/// The requests of the load: the planned events, each in its EventBridge
/// envelope with the webhook secret.
struct EventWorkload {
    /// `http://127.0.0.1:<port>/webhooks/ses/<account>`.
    url: String,
    secret: String,
    plan: Arc<Plan>,
    envelope: Arc<EnvelopeContext>,
    recipients: Arc<Recipients>,
    /// Outcome of every planned request, `None` in the ceiling phases.
    outcomes: Option<Outcomes>,
}

impl Workload for EventWorkload {
    fn operations(&self) -> &[(&'static str, &'static str)] {
        &OPERATIONS
    }

    fn pick(&self, index: u64, _rng: &mut Rng) -> (usize, u64) {
        (self.plan.get(index).operation(index), 0)
    }

    fn request(
        &self,
        client: &reqwest::Client,
        index: u64,
        _operation: usize,
        _draw: u64,
    ) -> reqwest::RequestBuilder {
        let event = self.plan.get(index);
        let message = event.message as usize;
        let body = ses_events::envelope(
            &self.envelope,
            u64::from(event.source),
            event.kind,
            &self.recipients.message_ids[message],
            &self.recipients.emails[message],
        );
        client
            .post(&self.url)
            .header(WEBHOOK_SECRET_HEADER, &self.secret)
            .json(&body)
    }

    fn observe(&self, index: u64, status: Option<u16>, sent: Instant, completed: Instant) {
        if let Some(outcomes) = &self.outcomes {
            outcomes.record(index, status, sent, completed);
        }
    }
}

/// The header that carries the connection's webhook secret.
const WEBHOOK_SECRET_HEADER: &str = "x-wraps-api-key";

/// Status and timing of every planned request, written by the request
/// tasks.
struct Outcomes {
    origin: Instant,
    /// HTTP status, or 0 for no response (not sent, or a transport error).
    status: Vec<AtomicU16>,
    /// Microseconds after `origin`.
    sent_micros: Vec<AtomicU64>,
    completed_micros: Vec<AtomicU64>,
}

impl Outcomes {
    fn new(events: usize) -> Self {
        let zeros = || (0..events).map(|_| AtomicU64::new(0)).collect();
        Self {
            origin: Instant::now(),
            status: (0..events).map(|_| AtomicU16::new(0)).collect(),
            sent_micros: zeros(),
            completed_micros: zeros(),
        }
    }

    fn record(&self, index: u64, status: Option<u16>, sent: Instant, completed: Instant) {
        let index = index as usize;
        if index >= self.status.len() {
            return;
        }
        let micros = |at: Instant| at.saturating_duration_since(self.origin).as_micros() as u64;
        self.sent_micros[index].store(micros(sent), Ordering::Relaxed);
        self.completed_micros[index].store(micros(completed), Ordering::Relaxed);
        self.status[index].store(status.unwrap_or(0), Ordering::Relaxed);
    }

    fn accepted(&self, index: usize) -> bool {
        (200..300).contains(&self.status[index].load(Ordering::Relaxed))
    }

    fn accepted_count(&self) -> u64 {
        (0..self.status.len())
            .filter(|&index| self.accepted(index))
            .count() as u64
    }

    fn accepted_repeats(&self, plan: &Plan) -> u64 {
        plan.events
            .iter()
            .enumerate()
            .filter(|(index, event)| event.source as usize != *index && self.accepted(*index))
            .count() as u64
    }

    /// Counts the messages with an accepted bounce and an accepted delivery,
    /// open or click, where the later request was sent before the earlier
    /// one had received its response.
    fn unordered_messages(&self, plan: &Plan, messages: usize) -> u64 {
        // Per message: the latest completion of its bounces and of its other
        // delivery proofs so far, in plan order.
        let mut bounce_done = vec![0_u64; messages];
        let mut delivery_done = vec![0_u64; messages];
        let mut unordered = vec![false; messages];
        for (index, event) in plan.events.iter().enumerate() {
            if !self.accepted(index) {
                continue;
            }
            let message = event.message as usize;
            let sent = self.sent_micros[index].load(Ordering::Relaxed);
            let completed = self.completed_micros[index].load(Ordering::Relaxed);
            let (earlier_other, own) = match event.kind {
                ses_events::EventKind::Bounce => (&delivery_done, &mut bounce_done),
                ses_events::EventKind::Complaint => continue,
                _ => (&bounce_done, &mut delivery_done),
            };
            if earlier_other[message] > sent {
                unordered[message] = true;
            }
            own[message] = own[message].max(completed);
        }
        unordered.iter().filter(|&&flag| flag).count() as u64
    }
}

impl Count {
    /// Fills in the counters, expected against recorded.
    fn compare(mut self, expected: &Facts, recorded: &BatchCounters) -> Self {
        self.counters = [
            ("delivered", expected.delivered, recorded.delivered),
            ("opened", expected.opened, recorded.opened),
            ("clicked", expected.clicked, recorded.clicked),
            ("bounced", expected.bounced, recorded.bounced),
            ("complained", expected.complained, recorded.complained),
        ]
        .into_iter()
        .map(|(counter, expected, recorded)| CounterCheck {
            counter: counter.to_owned(),
            expected,
            recorded,
            lost: expected as i64 - recorded,
        })
        .collect();
        self.lost = self.counters.iter().map(|check| check.lost).sum();
        self
    }
}

/// The counters after the wait.
struct Settled {
    counters: BatchCounters,
    intake: Option<BTreeMap<String, u64>>,
    secs: f64,
    quiet: bool,
}

/// Polls the batch until its counters match `expected`, or stop changing
/// for [`SETTLE_QUIET`] after the intake applied `accepted` events, or
/// [`SETTLE_LIMIT`] passed.
async fn settle(
    store: &Store,
    org: schemas::OrgId,
    batch: schemas::BatchId,
    expected: &Facts,
    accepted: u64,
    http: &reqwest::Client,
    intake_log: &Path,
) -> anyhow::Result<Settled> {
    let started = Instant::now();
    let metrics_url = metrics_url(intake_log);
    let mut last: Option<(BatchCounters, Instant)> = None;
    let mut last_progress = started;
    loop {
        let counters = store
            .get_batch(org, batch)
            .await?
            .context("the broadcast disappeared from the store")?
            .counters;
        let intake = match &metrics_url {
            Some(url) => read_intake(http, url).await,
            None => None,
        };
        let applied: Option<u64> = intake.as_ref().map(|by_result| by_result.values().sum());
        let now = Instant::now();
        let unchanged_since = match &last {
            Some((previous, since)) if *previous == counters => *since,
            _ => now,
        };
        let matches = Count::matches(expected, &counters);
        let caught_up = applied.is_none_or(|applied| applied >= accepted);
        let quiet = now - unchanged_since >= SETTLE_QUIET && caught_up;
        if (matches && caught_up) || quiet || now - started >= SETTLE_LIMIT {
            return Ok(Settled {
                counters,
                intake,
                secs: (now - started).as_secs_f64(),
                quiet: (matches && caught_up) || quiet,
            });
        }
        if now - last_progress >= SETTLE_PROGRESS_EVERY {
            last_progress = now;
            eprintln!(
                "    {:>6.1} s  delivered {} of {}, bounced {} of {}; intake applied {} of {} accepted",
                (now - started).as_secs_f64(),
                counters.delivered,
                expected.delivered,
                counters.bounced,
                expected.bounced,
                applied.map_or_else(|| "?".to_owned(), |n| n.to_string()),
                accepted
            );
        }
        last = Some((counters, unchanged_since));
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

impl Count {
    fn matches(expected: &Facts, counters: &BatchCounters) -> bool {
        counters.delivered == expected.delivered as i64
            && counters.opened == expected.opened as i64
            && counters.clicked == expected.clicked as i64
            && counters.bounced == expected.bounced as i64
            && counters.complained == expected.complained as i64
    }
}

/// Finds the metrics address that the intake's process logged at start.
fn metrics_url(log: &Path) -> Option<Url> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().find(|line| line.contains(METRICS_LOG_LINE))?;
    let address = line.split("listen=").nth(1)?.split_whitespace().next()?;
    Url::parse(&format!("http://{}/metrics", address.trim_matches('"'))).ok()
}

/// Reads the intake's applied events by result from the Prometheus text
/// at `url`; `None` when it cannot be read.
async fn read_intake(http: &reqwest::Client, url: &Url) -> Option<BTreeMap<String, u64>> {
    let text = http.get(url.clone()).send().await.ok()?.text().await.ok()?;
    Some(intake_by_result(&text))
}

/// Sums the intake metric's samples by their `result` label.
fn intake_by_result(text: &str) -> BTreeMap<String, u64> {
    let mut by_result = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(INTAKE_METRIC) else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        let result = labels
            .split("result=\"")
            .nth(1)
            .and_then(|tail| tail.split('"').next())
            .unwrap_or("unknown");
        if let Ok(value) = value.trim().parse::<f64>() {
            *by_result.entry(result.to_owned()).or_default() += value as u64;
        }
    }
    by_result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intake_metric_is_summed_by_result() {
        let text = "# TYPE wraps_webhook_events_total counter\n\
            wraps_webhook_events_total{type=\"delivery\",result=\"applied\"} 10\n\
            wraps_webhook_events_total{type=\"open\",result=\"applied\"} 5\n\
            wraps_webhook_events_total{type=\"delivery\",result=\"duplicate\"} 2\n\
            wraps_webhook_requests_total{envelope=\"eventbridge\",result=\"accepted\"} 17\n";
        let by_result = intake_by_result(text);
        assert_eq!(by_result.get("applied"), Some(&15));
        assert_eq!(by_result.get("duplicate"), Some(&2));
        assert_eq!(by_result.len(), 2);
    }

    #[test]
    fn metrics_address_is_read_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serve.log");
        std::fs::write(
            &log,
            "2026-12-05T00:00:00Z  INFO wrapsd::telemetry: metrics listener started listen=127.0.0.1:40123\n",
        )
        .unwrap();
        assert_eq!(
            metrics_url(&log).unwrap().as_str(),
            "http://127.0.0.1:40123/metrics"
        );
    }
}
