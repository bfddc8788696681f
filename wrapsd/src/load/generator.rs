//! The open-loop load generator of `api-mixed` and `webhook-burst`.
//!
//! Requests are due at a fixed rate: the `i`-th at `start + i / rate`,
//! whatever happened to the ones before. Each request's latency runs from the
//! moment it was due until its response body was read. Time spent waiting
//! for a free connection or for a late scheduler therefore counts. A slow
//! server cannot slow the arrivals down and so hide its own queueing, which
//! is the mistake of a closed-loop generator.
//!
//! A pool of `connections` HTTP/1.1 keep-alive connections carries the
//! requests: a request is sent once one of `connections` permits is free.
//! When every permit is taken until the end of the run, the requests still
//! due are counted as missed instead of being sent late. After the last
//! request is sent, the generator waits for the responses, at most
//! [`REQUEST_TIMEOUT`] and a second.
//!
//! Latencies of successful (2xx) responses go into HDR histograms, one per
//! operation, with a microsecond resolution and three significant digits.
//! Other responses and transport errors are counted by status.
//!
//! What a phase sends is a [`Workload`]: it names the operations, picks the
//! operation of each request in order and builds the request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::scenario::Mix;
use super::seed::{self, Rng};

/// Time limit of one request, connection and body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the responses of requests still in flight are awaited after the
/// last one was sent.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(11);
/// How late after the end of the duration a request that got a connection is
/// still sent. It covers the timer's lateness (about a millisecond), so the
/// last requests of a phase are not counted as missed only because of it.
const SEND_SLACK: Duration = Duration::from_millis(10);
/// Interval of the progress lines.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Highest latency the histograms hold, in microseconds (one hour); higher
/// values are recorded as this.
const HISTOGRAM_MAX_MICROS: u64 = 3_600_000_000;

/// One kind of request of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    CreateContact,
    GetContact,
    GetBatch,
}

impl Operation {
    /// Every operation, in the order of the mix and the results.
    pub const ALL: [Operation; 3] = [
        Operation::CreateContact,
        Operation::GetContact,
        Operation::GetBatch,
    ];

    /// Returns the operation's name in scenario files and results.
    pub const fn name(self) -> &'static str {
        match self {
            Operation::CreateContact => "create-contact",
            Operation::GetContact => "get-contact",
            Operation::GetBatch => "get-batch",
        }
    }

    /// Returns the method and path template of the request.
    pub const fn route(self) -> &'static str {
        match self {
            Operation::CreateContact => "POST /v1/contacts",
            Operation::GetContact => "GET /v1/contacts/{id}",
            Operation::GetBatch => "GET /v1/batch/{id}",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn weight(self, mix: &Mix) -> u32 {
        match self {
            Operation::CreateContact => mix.create_contact,
            Operation::GetContact => mix.get_contact,
            Operation::GetBatch => mix.get_batch,
        }
    }

    /// Returns the operation that a draw in `0..mix.total()` selects.
    fn pick(mix: &Mix, draw: u64) -> Operation {
        let mut left = draw;
        for operation in Operation::ALL {
            let weight = u64::from(operation.weight(mix));
            if left < weight {
                return operation;
            }
            left -= weight;
        }
        Operation::GetBatch
    }
}

/// The requests of a phase: the operations it measures and how each
/// request is built.
pub trait Workload: Send + Sync + 'static {
    /// Names and routes of the operations, in the order of the results.
    fn operations(&self) -> &[(&'static str, &'static str)];

    /// Checks that the workload can build its requests.
    fn check(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// Picks the operation (an index into [`Workload::operations`]) of the
    /// `index`-th request and a random value for its parameters. Called once
    /// per request, in order.
    fn pick(&self, index: u64, rng: &mut Rng) -> (usize, u64);

    /// Builds the `index`-th request.
    fn request(
        &self,
        client: &reqwest::Client,
        index: u64,
        operation: usize,
        draw: u64,
    ) -> reqwest::RequestBuilder;

    /// Receives the outcome of the `index`-th request: its HTTP status, or
    /// `None` after a transport error, with the times it was sent and
    /// completed.
    fn observe(&self, _index: u64, _status: Option<u16>, _sent: Instant, _completed: Instant) {}
}

/// Names and routes of the `api-mixed` operations, in [`Operation::ALL`]
/// order.
const API_OPERATIONS: [(&str, &str); 3] = [
    (
        Operation::CreateContact.name(),
        Operation::CreateContact.route(),
    ),
    (Operation::GetContact.name(), Operation::GetContact.route()),
    (Operation::GetBatch.name(), Operation::GetBatch.route()),
];

/// The `api-mixed` requests: the server they load and what they refer to.
pub struct ApiWorkload {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub base_url: String,
    pub api_key: String,
    /// Contacts the reads pick from, in a fixed order.
    pub contact_ids: Vec<String>,
    pub batch_id: String,
    pub mix: Mix,
}

/// Settings of one phase.
pub struct PhaseSettings {
    /// Name of the phase in progress lines.
    pub label: String,
    /// Requests due per second.
    pub rate: f64,
    pub duration: Duration,
    pub connections: usize,
    /// Print a progress line every few seconds.
    pub progress: bool,
    /// Seed of the operation sequence.
    pub seed: u64,
}

/// Measurements of one phase.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    pub target_per_sec: f64,
    pub duration_secs: f64,
    pub connections: usize,
    /// From the first request's due time until the last request completed.
    pub seconds: f64,
    /// Requests due within the duration.
    pub scheduled: u64,
    pub sent: u64,
    /// Due requests not sent because every connection stayed busy until the
    /// end of the duration.
    pub missed: u64,
    /// Sent requests that got a response or a transport error.
    pub completed: u64,
    /// Completed requests per second over `seconds`.
    pub achieved_per_sec: f64,
    /// Latest send after a request's due time; more than a few milliseconds
    /// means the generator or its connections fell behind.
    pub max_start_lag_ms: f64,
    pub operations: Vec<OperationStats>,
    /// Every operation together.
    pub all: OperationStats,
}

impl Phase {
    /// Finds the statistics of one operation by name, or of `all`.
    pub fn operation(&self, name: &str) -> Option<&OperationStats> {
        if name == "all" {
            return Some(&self.all);
        }
        self.operations.iter().find(|stats| stats.operation == name)
    }
}

/// Counts and latencies of one operation in one phase.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStats {
    pub operation: String,
    pub route: String,
    pub sent: u64,
    /// 2xx responses.
    pub ok: u64,
    pub errors: u64,
    /// Errors by HTTP status, or `timeout`, `connect`, `transport` or
    /// `no response` (still in flight when the wait for responses ended).
    pub errors_by_status: BTreeMap<String, u64>,
    /// Completed requests per second over the phase's `seconds`.
    pub per_sec: f64,
    /// Latencies of the 2xx responses; absent when there was none.
    pub latency: Option<Latency>,
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    fn of(histogram: &Histogram<u64>) -> Option<Self> {
        if histogram.is_empty() {
            return None;
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Some(Self {
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p95_ms: ms(histogram.value_at_quantile(0.95)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p999_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
            mean_ms: histogram.mean() / 1000.0,
        })
    }
}

/// Outcome of one request.
enum Outcome {
    Status(u16),
    Transport(&'static str),
}

/// Results of one operation while the phase runs.
struct Record {
    histogram: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
}

/// Everything the request tasks write, behind one lock taken once per
/// completed request, and the counters the progress lines read.
struct Recorder {
    records: Mutex<Vec<Record>>,
    last_completion: Mutex<Option<Instant>>,
    sent: AtomicU64,
    completed: AtomicU64,
    errors: AtomicU64,
}

impl Recorder {
    fn new(operations: usize) -> anyhow::Result<Self> {
        let records = (0..operations)
            .map(|_| {
                Ok(Record {
                    histogram: new_histogram()?,
                    ok: 0,
                    errors: BTreeMap::new(),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            records: Mutex::new(records),
            last_completion: Mutex::new(None),
            sent: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
    }

    fn record(&self, operation: usize, outcome: &Outcome, due: Instant, now: Instant) {
        let micros = now.saturating_duration_since(due).as_micros() as u64;
        {
            let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
            let record = &mut records[operation];
            match outcome {
                Outcome::Status(status) if (200..300).contains(status) => {
                    record.histogram.saturating_record(micros.max(1));
                    record.ok += 1;
                }
                Outcome::Status(status) => {
                    *record.errors.entry(status.to_string()).or_default() += 1;
                    self.errors.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Transport(kind) => {
                    *record.errors.entry((*kind).to_owned()).or_default() += 1;
                    self.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let mut last = self
            .last_completion
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *last = Some(last.map_or(now, |at| at.max(now)));
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    /// Computes the 99th percentile of every 2xx latency so far, in
    /// milliseconds.
    fn p99_ms(&self) -> f64 {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let mut all = match new_histogram() {
            Ok(histogram) => histogram,
            Err(_) => return 0.0,
        };
        for record in records.iter() {
            let _ = all.add(&record.histogram);
        }
        all.value_at_quantile(0.99) as f64 / 1000.0
    }
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3).context("cannot create a histogram")
}

/// Runs one phase against `workload` and returns what it measured.
pub async fn run<W: Workload>(workload: Arc<W>, settings: &PhaseSettings) -> anyhow::Result<Phase> {
    anyhow::ensure!(
        settings.rate > 0.0 && settings.connections > 0,
        "a phase needs a rate and at least one connection"
    );
    workload.check()?;
    let names = workload.operations();
    let client = reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(settings.connections)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")?;
    let recorder = Arc::new(Recorder::new(names.len())?);
    let permits = Arc::new(Semaphore::new(settings.connections));
    let scheduled = ((settings.rate * settings.duration.as_secs_f64()).floor() as u64).max(1);
    let mut rng = Rng::for_stream(settings.seed, seed::SCHEDULE_STREAM);

    let start = Instant::now();
    let end = start + settings.duration;
    let progress = settings
        .progress
        .then(|| tokio::spawn(print_progress(settings.label.clone(), recorder.clone())));

    let mut sent_by_operation = vec![0_u64; names.len()];
    let mut max_lag = Duration::ZERO;
    for index in 0..scheduled {
        let due = start + Duration::from_secs_f64(index as f64 / settings.rate);
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let permit = match tokio::time::timeout_at(end, permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            // Every connection stayed busy until the end.
            _ => break,
        };
        let now = Instant::now();
        if now >= end + SEND_SLACK {
            break;
        }
        max_lag = max_lag.max(now - due);

        let (operation, draw) = workload.pick(index, &mut rng);
        sent_by_operation[operation] += 1;
        recorder.sent.fetch_add(1, Ordering::Relaxed);

        let client = client.clone();
        let workload = workload.clone();
        let recorder = recorder.clone();
        tokio::spawn(async move {
            let sent = Instant::now();
            let outcome = send(workload.request(&client, index, operation, draw)).await;
            let completed = Instant::now();
            let status = match outcome {
                Outcome::Status(status) => Some(status),
                Outcome::Transport(_) => None,
            };
            workload.observe(index, status, sent, completed);
            recorder.record(operation, &outcome, due, completed);
            drop(permit);
        });
    }

    // Every permit back means every request task has recorded its outcome.
    let drained = tokio::time::timeout(
        DRAIN_LIMIT,
        permits.acquire_many(settings.connections as u32),
    )
    .await;
    if drained.is_err() {
        eprintln!(
            "    {}: responses still missing {} s after the last request; counted as errors",
            settings.label,
            DRAIN_LIMIT.as_secs()
        );
    }
    if let Some(task) = progress {
        task.abort();
    }

    let sent: u64 = sent_by_operation.iter().sum();
    let last_completion = *recorder
        .last_completion
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let seconds = last_completion
        .map(|at| at.saturating_duration_since(start))
        .unwrap_or(settings.duration)
        .as_secs_f64()
        .max(f64::EPSILON);
    let records = recorder.records.lock().unwrap_or_else(|p| p.into_inner());

    let mut operations = Vec::new();
    let mut all = Record {
        histogram: new_histogram()?,
        ok: 0,
        errors: BTreeMap::new(),
    };
    let mut completed = 0;
    for (operation, (name, route)) in names.iter().enumerate() {
        let record = &records[operation];
        let sent = sent_by_operation[operation];
        let mut errors = record.errors.clone();
        let got = record.ok + errors.values().sum::<u64>();
        completed += got;
        if sent > got {
            errors.insert("no response".to_owned(), sent - got);
        }
        all.histogram
            .add(&record.histogram)
            .context("cannot merge the histograms")?;
        all.ok += record.ok;
        for (status, count) in &errors {
            *all.errors.entry(status.clone()).or_default() += count;
        }
        operations.push(operation_stats(
            name,
            route,
            sent,
            record.ok,
            &record.histogram,
            errors,
            got,
            seconds,
        ));
    }
    let all = operation_stats(
        "all",
        "every operation",
        sent,
        all.ok,
        &all.histogram,
        all.errors,
        completed,
        seconds,
    );

    Ok(Phase {
        target_per_sec: settings.rate,
        duration_secs: settings.duration.as_secs_f64(),
        connections: settings.connections,
        seconds,
        scheduled,
        sent,
        missed: scheduled - sent,
        completed,
        achieved_per_sec: completed as f64 / seconds,
        max_start_lag_ms: max_lag.as_secs_f64() * 1000.0,
        operations,
        all,
    })
}

#[allow(clippy::too_many_arguments)]
fn operation_stats(
    operation: &str,
    route: &str,
    sent: u64,
    ok: u64,
    histogram: &Histogram<u64>,
    errors_by_status: BTreeMap<String, u64>,
    completed: u64,
    seconds: f64,
) -> OperationStats {
    OperationStats {
        operation: operation.to_owned(),
        route: route.to_owned(),
        sent,
        ok,
        errors: errors_by_status.values().sum(),
        errors_by_status,
        per_sec: completed as f64 / seconds,
        latency: Latency::of(histogram),
    }
}

impl Workload for ApiWorkload {
    fn operations(&self) -> &[(&'static str, &'static str)] {
        &API_OPERATIONS
    }

    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.mix.total() > 0,
            "the mix needs at least one weight above 0"
        );
        anyhow::ensure!(
            !self.contact_ids.is_empty() || self.mix.get_contact == 0,
            "get-contact needs at least one contact"
        );
        Ok(())
    }

    fn pick(&self, _index: u64, rng: &mut Rng) -> (usize, u64) {
        let operation = Operation::pick(&self.mix, rng.below(u64::from(self.mix.total())));
        (operation.index(), rng.next_u64())
    }

    fn request(
        &self,
        client: &reqwest::Client,
        index: u64,
        operation: usize,
        draw: u64,
    ) -> reqwest::RequestBuilder {
        let base = &self.base_url;
        let request = match Operation::ALL[operation] {
            Operation::CreateContact => client
                .post(format!("{base}/v1/contacts"))
                .json(&seed::new_contact_body(index, draw)),
            Operation::GetContact => {
                let ids = &self.contact_ids;
                let id = &ids[(draw % ids.len() as u64) as usize];
                client.get(format!("{base}/v1/contacts/{id}"))
            }
            Operation::GetBatch => client.get(format!("{base}/v1/batch/{}", self.batch_id)),
        };
        request.bearer_auth(&self.api_key)
    }
}

/// Sends a request and reads its whole body.
async fn send(request: reqwest::RequestBuilder) -> Outcome {
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => return Outcome::Transport(transport_kind(&err)),
    };
    let status = response.status().as_u16();
    match response.bytes().await {
        Ok(_) => Outcome::Status(status),
        Err(err) => Outcome::Transport(transport_kind(&err)),
    }
}

fn transport_kind(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else {
        "transport"
    }
}

/// Prints a line every [`PROGRESS_EVERY`] until aborted.
async fn print_progress(label: String, recorder: Arc<Recorder>) {
    let started = Instant::now();
    let mut tick = tokio::time::interval_at(started + PROGRESS_EVERY, PROGRESS_EVERY);
    let mut last_completed = 0;
    let mut last_at = started;
    loop {
        tick.tick().await;
        let completed = recorder.completed.load(Ordering::Relaxed);
        let now = Instant::now();
        let rate = (completed - last_completed) as f64 / (now - last_at).as_secs_f64();
        eprintln!(
            "    {:>6.1} s  {label}: {} sent, {completed} completed, {} errors, {rate:.0}/s, p99 so far {:.2} ms",
            (now - started).as_secs_f64(),
            recorder.sent.load(Ordering::Relaxed),
            recorder.errors.load(Ordering::Relaxed),
            recorder.p99_ms(),
        );
        last_completed = completed;
        last_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_follows_the_weights() {
        let mix = Mix {
            create_contact: 50,
            get_contact: 30,
            get_batch: 20,
        };
        let mut counts = [0; 3];
        for draw in 0..100 {
            counts[Operation::pick(&mix, draw).index()] += 1;
        }
        assert_eq!(counts, [50, 30, 20]);
    }

    #[test]
    fn pick_skips_operations_without_weight() {
        let mix = Mix {
            create_contact: 0,
            get_contact: 0,
            get_batch: 1,
        };
        assert_eq!(Operation::pick(&mix, 0), Operation::GetBatch);
    }

    #[test]
    fn latency_reads_percentiles_in_milliseconds() {
        let mut histogram = new_histogram().unwrap();
        for micros in 1..=1000 {
            histogram.record(micros * 10).unwrap();
        }
        let latency = Latency::of(&histogram).unwrap();
        assert!((latency.p50_ms - 5.0).abs() < 0.01, "{latency:?}");
        assert!((latency.p99_ms - 9.9).abs() < 0.01, "{latency:?}");
        assert!((latency.max_ms - 10.0).abs() < 0.01, "{latency:?}");
        assert!(Latency::of(&new_histogram().unwrap()).is_none());
    }

    #[tokio::test]
    async fn phase_counts_missed_and_transport_errors() {
        // A port nothing listens on: every request fails to connect.
        let port = crate::bench::children::free_port().unwrap();
        let workload = Arc::new(ApiWorkload {
            base_url: format!("http://127.0.0.1:{port}"),
            api_key: "unused".to_owned(),
            contact_ids: vec!["c".to_owned()],
            batch_id: "b".to_owned(),
            mix: Mix::default(),
        });
        let settings = PhaseSettings {
            label: "test".to_owned(),
            rate: 100.0,
            duration: Duration::from_millis(200),
            connections: 4,
            progress: false,
            seed: 1,
        };
        let phase = run(workload, &settings).await.unwrap();
        assert_eq!(phase.scheduled, 20);
        assert_eq!(phase.sent + phase.missed, 20);
        assert_eq!(phase.all.ok, 0);
        assert_eq!(phase.all.errors, phase.sent);
        assert_eq!(
            phase.all.errors_by_status.get("connect").copied(),
            Some(phase.sent)
        );
    }
}
