//! Rate fidelity: whether dispatchers that share one AWS account stay within its
//! `MaxSendRate` without being throttled, and come close to it.
//!
//! One run, for one rate R:
//!
//! 1. creates a PostgreSQL database of its own (`wraps_fid_<uuid>`) on the server of
//!    the given admin URL and applies the migrations. Through the `store` crate it
//!    inserts a `business` organisation, one AWS connection, `R * (seconds + 1)`
//!    contacts and a template, which it also publishes to the simulator;
//! 2. starts the SES simulator in-process with `MaxSendRate` R in
//!    [`RateMode::Strict`], so that any call above the rate is throttled;
//! 3. starts [`FidelityOptions::dispatchers`] `wrapsd dispatch` processes on that
//!    database, the Redis server and a key prefix of their own, and publishes the
//!    batch's fan-out job;
//! 4. waits until the batch ends or the time limit passes, then reads the simulator's
//!    timeline ([`SimServer::timeline`]) and counters;
//! 5. kills the dispatchers, drops the database and deletes the Redis keys.
//!
//! The sustained rate is measured on the exact admission times of the calls, not on
//! the 100 ms slots (see [`measure_rate`]). A run passes when the simulator throttled
//! no call and accepted no recipient twice, every contact was sent, and the sustained
//! rate is between [`LOWER_BOUND`] R and R (to [`UPPER_BOUND`] R, for timing jitter).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use schemas::batches::{AudienceType, BatchStatus};
use schemas::connections::CreateConnection;
use schemas::jobs::{shard_for_account, FanOutJob, BATCH_FAN_OUT};
use schemas::templates::CreateTemplate;
use schemas::{BatchId, OrgId};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use store::{ImportRow, NewBatch, RegisterOptions, Store};
use streams::{Job, ShardId, Streams, StreamsConfig};

use crate::sim::{self, AdmittedCall, RateMode, SimConfig, SimServer};

/// The lowest sustained rate that passes, as a fraction of `MaxSendRate`.
pub const LOWER_BOUND: f64 = 0.95;
/// The highest sustained rate that passes, as a fraction of `MaxSendRate`. The 0.1%
/// above R absorbs the jitter of admission times: a sender paced at exactly R whose
/// first call in the window was delayed 2 ms more than its last one measures 1.0005 R
/// over a 4 s window.
pub const UPPER_BOUND: f64 = 1.001;
/// Placeholder number of the simulated AWS account.
const ACCOUNT: &str = "444455556666";
/// Dispatcher shards; every dispatcher of the run uses the same number.
const SHARDS: u32 = 4;
/// Contacts per import transaction.
const IMPORT_CHUNK: usize = 1000;
/// Interval of the batch polls.
const POLL: Duration = Duration::from_millis(250);
/// Interval of the progress lines.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Lines of a dispatcher's log quoted when it exits early.
const LOG_TAIL_LINES: usize = 20;

/// Settings of one rate-fidelity run.
#[derive(Debug, Clone)]
pub struct FidelityOptions {
    /// `MaxSendRate` R of the simulated account, in recipients per second.
    pub max_send_rate: f64,
    /// Seconds of sending after the first one: the batch has `R * (seconds + 1)`
    /// recipients.
    pub seconds: f64,
    /// URL of a PostgreSQL database on the loopback interface whose server the run
    /// creates its own database on, e.g. `postgres://postgres@127.0.0.1:5432/test`.
    pub database_url: String,
    /// URL of Redis on the loopback interface; the run uses a key prefix of its own.
    pub redis_url: String,
    /// The `wrapsd` executable started as the dispatchers.
    pub wrapsd: PathBuf,
    /// `wrapsd dispatch` processes sharing the account.
    pub dispatchers: usize,
    /// How long to wait for the batch to end; `None` allows twice the ideal sending
    /// time plus one minute.
    pub timeout: Option<Duration>,
}

impl FidelityOptions {
    /// Options for rate `max_send_rate` with three dispatchers and a ten-second run.
    pub fn new(
        max_send_rate: f64,
        database_url: impl Into<String>,
        redis_url: impl Into<String>,
        wrapsd: impl Into<PathBuf>,
    ) -> Self {
        Self {
            max_send_rate,
            seconds: 10.0,
            database_url: database_url.into(),
            redis_url: redis_url.into(),
            wrapsd: wrapsd.into(),
            dispatchers: 3,
            timeout: None,
        }
    }

    /// Recipients of the batch: R for the first second and R for each second after.
    pub fn recipients(&self) -> u64 {
        (self.max_send_rate * (self.seconds + 1.0)).round().max(2.0) as u64
    }

    fn timeout(&self) -> Duration {
        self.timeout.unwrap_or_else(|| {
            let ideal = self.recipients() as f64 / self.max_send_rate;
            Duration::from_secs_f64(2.0 * ideal + 60.0)
        })
    }

    fn validate(&self) -> anyhow::Result<()> {
        ensure!(
            self.max_send_rate.is_finite() && self.max_send_rate > 0.0,
            "invalid rate {}: it must be a positive number of recipients per second",
            self.max_send_rate
        );
        ensure!(
            self.seconds.is_finite() && self.seconds >= 1.0,
            "invalid duration {} s: it must be at least one second",
            self.seconds
        );
        ensure!(
            self.dispatchers >= 1,
            "invalid dispatcher count 0: at least one is needed"
        );
        ensure_loopback("database URL", &self.database_url)?;
        ensure_loopback("Redis URL", &self.redis_url)?;
        Ok(())
    }
}

/// The sending rate that a list of admitted calls shows.
#[derive(Debug, Clone, PartialEq)]
pub struct RateMeasurement {
    /// Recipients admitted in the first second after the first admission.
    pub first_second: u64,
    /// Calls admitted after the first second.
    pub calls_after: usize,
    /// Recipients the sustained rate counts: those of every call after the first
    /// second except the last one.
    pub counted: u64,
    /// From the first to the last call after the first second.
    pub window: Duration,
    /// `counted / window`; `None` with fewer than two calls after the first second.
    pub sustained: Option<f64>,
    /// The same measure over the calls in the second half of the window. It is not
    /// judged. Above `sustained`, it shows a sender that was slower early in the window,
    /// for example after a throttle. Below it, it shows burst credit left over from the
    /// first second and spent early in the window, which can lift `sustained` above
    /// `MaxSendRate` without a throttle.
    pub second_half: Option<f64>,
    /// From the first admission to the last.
    pub span: Duration,
}

/// Measures the sustained rate of `calls`, in any order.
///
/// The first second after the first admission is the burst and is left out. After
/// it, each call's recipients are charged to the time until the next call, as the
/// simulator's rate limiter charges them. So the window runs from the first call
/// after the first second to the last call, and counts every call in it but the
/// last. A sender of one recipient every 1.03 s thus measures 0.97 per second, where
/// counting every recipient after the first second would give 10 recipients in about
/// 9.3 s.
pub fn measure_rate(calls: &[AdmittedCall]) -> RateMeasurement {
    let mut calls = calls.to_vec();
    calls.sort_by_key(|call| call.at_micros);
    let (Some(first), Some(last)) = (calls.first(), calls.last()) else {
        return RateMeasurement {
            first_second: 0,
            calls_after: 0,
            counted: 0,
            window: Duration::ZERO,
            sustained: None,
            second_half: None,
            span: Duration::ZERO,
        };
    };
    let boundary = first.at_micros + 1_000_000;
    let split = calls.partition_point(|call| call.at_micros < boundary);
    let (burst, after) = calls.split_at(split);
    let first_second = burst.iter().map(|call| u64::from(call.recipients)).sum();

    let (counted, window, sustained) = charged_rate(after);
    let second_half = after.first().and_then(|start| {
        let middle = start.at_micros + (window.as_micros() / 2) as u64;
        let from = after.partition_point(|call| call.at_micros < middle);
        charged_rate(&after[from..]).2
    });
    RateMeasurement {
        first_second,
        calls_after: after.len(),
        counted,
        window,
        sustained,
        second_half,
        span: last.at() - first.at(),
    }
}

/// Charges each of `calls` (sorted by time) to the time until the next one, and
/// returns the recipients of all but the last, the time from the first to the last,
/// and their ratio (`None` for a zero time).
fn charged_rate(calls: &[AdmittedCall]) -> (u64, Duration, Option<f64>) {
    let (Some(start), Some(end)) = (calls.first(), calls.last()) else {
        return (0, Duration::ZERO, None);
    };
    let counted: u64 = calls[..calls.len() - 1]
        .iter()
        .map(|call| u64::from(call.recipients))
        .sum();
    let window = end.at() - start.at();
    let rate = (!window.is_zero()).then(|| counted as f64 / window.as_secs_f64());
    (counted, window, rate)
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct FidelityResult {
    /// `MaxSendRate` R.
    pub max_send_rate: f64,
    /// Contacts in the batch.
    pub recipients: u64,
    /// Recipients the batch counts as sent.
    pub sent: u64,
    /// Distinct recipients the simulator accepted.
    pub accepted: u64,
    /// Recipients the simulator accepted more than once.
    pub duplicates: u64,
    /// Send calls the simulator throttled.
    pub throttles: u64,
    /// The batch's status when the run stopped waiting.
    pub status: BatchStatus,
    /// The rate the simulator's timeline shows.
    pub rate: RateMeasurement,
    /// Reasons the run failed; empty when it passed.
    pub failures: Vec<String>,
}

impl FidelityResult {
    /// Reports whether every check held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// Returns the sustained rate as a fraction of `MaxSendRate`.
    pub fn ratio(&self) -> Option<f64> {
        self.rate.sustained.map(|rate| rate / self.max_send_rate)
    }

    /// Returns the header of the Markdown table that [`FidelityResult::markdown_row`]
    /// fills.
    pub fn markdown_header() -> &'static str {
        "| R (/s) | recipients | sent | duplicates | throttles | first second | sustained (/s) | ratio | window (s) | second half (/s) | result |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    }

    /// Formats this run's numbers as one Markdown table row.
    pub fn markdown_row(&self) -> String {
        let sustained = self
            .rate
            .sustained
            .map_or_else(|| "n/a".to_owned(), |rate| format!("{rate:.2}"));
        let ratio = self
            .ratio()
            .map_or_else(|| "n/a".to_owned(), |ratio| format!("{ratio:.3}"));
        let second_half = self
            .rate
            .second_half
            .map_or_else(|| "n/a".to_owned(), |rate| format!("{rate:.2}"));
        let result = if self.passed() {
            "pass".to_owned()
        } else {
            format!("FAIL: {}", self.failures.join("; "))
        };
        format!(
            "| {} | {} | {} | {} | {} | {} | {sustained} | {ratio} | {:.2} | {second_half} | {result} |",
            self.max_send_rate,
            self.recipients,
            self.sent,
            self.duplicates,
            self.throttles,
            self.rate.first_second,
            self.rate.window.as_secs_f64(),
        )
    }

    /// Lists what failed: throttles, duplicates, missing recipients, and a sustained
    /// rate outside `[LOWER_BOUND * R, UPPER_BOUND * R]`.
    fn judge(&mut self, calls_dropped: u64) {
        let mut failures = Vec::new();
        let r = self.max_send_rate;
        if self.throttles > 0 {
            failures.push(format!("{} throttled calls", self.throttles));
        }
        if self.duplicates > 0 {
            failures.push(format!("{} duplicate recipients", self.duplicates));
        }
        if self.status != BatchStatus::Completed {
            failures.push(format!("batch {}", self.status.as_str()));
        }
        if self.sent != self.recipients {
            failures.push(format!("sent {} of {}", self.sent, self.recipients));
        }
        if self.accepted != self.recipients {
            failures.push(format!(
                "simulator accepted {} of {}",
                self.accepted, self.recipients
            ));
        }
        if calls_dropped > 0 {
            failures.push(format!(
                "{calls_dropped} calls past the simulator's call log; the rate is measured on the first {}",
                sim::MAX_CALLS
            ));
        }
        match self.rate.sustained {
            None => failures.push(format!(
                "{} calls after the first second: too few to measure a rate",
                self.rate.calls_after
            )),
            Some(rate) if rate < LOWER_BOUND * r => {
                failures.push(format!("sustained {rate:.3}/s < {:.3}/s", LOWER_BOUND * r))
            }
            // NOTE: burst credit left unused in the first second (a dispatcher slower
            // than the burst allows at the start) can lift this above R without a
            // throttle. `second_half` distinguishes that from pacing above R.
            Some(rate) if rate > UPPER_BOUND * r => {
                failures.push(format!("sustained {rate:.3}/s > {:.3}/s", UPPER_BOUND * r))
            }
            Some(_) => {}
        }
        self.failures = failures;
    }
}

/// Runs the scenario once for `options.max_send_rate` and returns what it measured.
/// Fails only when the run itself could not be carried out; a wrong rate, throttles
/// or missing recipients are reported in the result.
pub async fn run(options: &FidelityOptions) -> anyhow::Result<FidelityResult> {
    options.validate()?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let database = create_database(&options.database_url, &run_id).await?;
    let prefix = format!("wraps-fid-{run_id}");
    let log_dir = std::env::temp_dir().join(format!("wraps-fidelity-{run_id}"));

    // TODO: a run stopped from outside (Ctrl-C, a dropped future) leaves its database
    // and Redis keys behind, because the cleanup below runs only when `run_in` returns.
    let outcome = run_in(options, &database.url, &prefix, &log_dir).await;

    if let Err(err) = drop_database(&options.database_url, &database.name).await {
        eprintln!("    could not drop the database {}: {err:#}", database.name);
    }
    if let Err(err) = delete_redis_keys(&options.redis_url, &prefix).await {
        eprintln!("    could not delete the Redis keys {prefix}:*: {err:#}");
    }
    let passed = matches!(&outcome, Ok(result) if result.passed());
    if passed || !has_output(&log_dir) {
        let _ = std::fs::remove_dir_all(&log_dir);
    } else {
        eprintln!("    dispatcher logs kept in {}", log_dir.display());
    }
    outcome
}

/// Reports whether any file in `dir` is non-empty.
fn has_output(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries
        .filter_map(Result::ok)
        .any(|entry| entry.metadata().is_ok_and(|meta| meta.len() > 0))
}

/// Sets up, sends and measures. The dispatchers are killed when this returns.
async fn run_in(
    options: &FidelityOptions,
    database_url: &str,
    prefix: &str,
    log_dir: &Path,
) -> anyhow::Result<FidelityResult> {
    let rate = options.max_send_rate;
    let recipients = options.recipients();
    let label = format!("R={rate}");

    let simulator = sim::start(
        SimConfig {
            max_send_rate: Some(rate),
            rate_mode: RateMode::Strict,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse()?,
    )
    .await?;

    let store = Store::connect(database_url)
        .await
        .context("connecting to the run's database failed")?;
    store
        .migrate()
        .await
        .context("migrating the run's database failed")?;
    let started = Instant::now();
    let batch = prepare_batch(&store, &simulator, recipients).await?;
    eprintln!(
        "{label}: {recipients} contacts and a published template ready in {:.1} s; starting {} dispatchers",
        started.elapsed().as_secs_f64(),
        options.dispatchers,
    );

    std::fs::create_dir_all(log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    let mut dispatchers = Vec::with_capacity(options.dispatchers);
    for index in 0..options.dispatchers {
        dispatchers.push(Dispatcher::start(
            &options.wrapsd,
            index,
            database_url,
            &options.redis_url,
            prefix,
            &simulator.endpoint(),
            log_dir,
        )?);
    }

    let streams = Streams::redis(
        &options.redis_url,
        StreamsConfig {
            key_prefix: prefix.to_owned(),
            ..StreamsConfig::default()
        },
    )
    .await
    .context("connecting to Redis failed")?;
    let job = Job::from_payload(
        BATCH_FAN_OUT,
        &FanOutJob {
            batch_id: batch.id,
            organization_id: batch.org,
        },
    )?;
    streams
        .producer
        .publish(ShardId(shard_for_account(ACCOUNT, SHARDS)), &job)
        .await
        .context("publishing the fan-out job failed")?;

    let final_batch = wait_for_batch(
        &store,
        &simulator,
        &batch,
        recipients,
        &mut dispatchers,
        options.timeout(),
        &label,
    )
    .await?;
    drop(dispatchers);
    store.close().await;

    let timeline = simulator.timeline();
    let stats = simulator.stats();
    simulator.shutdown().await;

    let mut result = FidelityResult {
        max_send_rate: rate,
        recipients,
        sent: u64::try_from(final_batch.counters.sent).unwrap_or(0),
        accepted: stats.distinct_recipients,
        duplicates: stats.duplicates,
        throttles: timeline.throttled_total,
        status: final_batch.status,
        rate: measure_rate(&timeline.calls),
        failures: Vec::new(),
    };
    result.judge(timeline.calls_dropped);
    Ok(result)
}

/// The batch a run sends.
struct RunBatch {
    org: OrgId,
    id: BatchId,
}

/// Creates the organisation, the connection, the contacts, the published template and
/// the batch.
async fn prepare_batch(
    store: &Store,
    simulator: &SimServer,
    recipients: u64,
) -> anyhow::Result<RunBatch> {
    let org = store.create_org("Rate fidelity", "business").await?.id;
    let (connection, _) = store
        .register_connection(
            org,
            &CreateConnection {
                account_id: Some(ACCOUNT.into()),
                region: Some("us-east-1".into()),
                ..CreateConnection::default()
            },
            &RegisterOptions {
                account_limit: None,
                role_name: "wraps-console-access-role".into(),
                api_base_url: "http://127.0.0.1:8080".into(),
                created_by: None,
            },
        )
        .await?;

    let rows: Vec<ImportRow> = (0..recipients)
        .map(|i| ImportRow {
            email: format!("fidelity{i}@example.com"),
            first_name: Some(format!("Reader{i}")),
            ..ImportRow::default()
        })
        .collect();
    for chunk in rows.chunks(IMPORT_CHUNK) {
        store.import_contacts(org, chunk, None).await?;
    }

    let subject = "News for {{firstName}}";
    let html = "<p>Hello {{firstName}}, this is a rate fidelity run.</p>";
    let template = store
        .create_template(
            org,
            &CreateTemplate {
                name: Some("Rate fidelity".into()),
                subject: Some(subject.into()),
                compiled_html: Some(html.into()),
                ..CreateTemplate::default()
            },
        )
        .await?;
    let template_id = template.detail.summary.id;
    let ses_name = format!("wraps_{}", template_id.0.simple());
    simulator.create_template(
        &ses_name,
        subject,
        html,
        "Hello {{firstName}}, this is a rate fidelity run.",
    )?;
    store
        .mark_template_published(org, template_id, connection.connection_id, &ses_name)
        .await?
        .context("the template vanished before it was published")?;

    let batch = store
        .create_batch(
            org,
            &NewBatch {
                connection_id: Some(connection.connection_id),
                name: "rate fidelity".into(),
                channel: "email".into(),
                audience_type: Some(AudienceType::All),
                from_email: Some("news@example.com".into()),
                template_id: Some(template_id),
                ..NewBatch::default()
            },
        )
        .await?;
    Ok(RunBatch { org, id: batch.id })
}

/// Polls the batch until it ends or `timeout` passes, printing progress, and returns
/// its last state. Fails when a dispatcher exits.
async fn wait_for_batch(
    store: &Store,
    simulator: &SimServer,
    batch: &RunBatch,
    recipients: u64,
    dispatchers: &mut [Dispatcher],
    timeout: Duration,
    label: &str,
) -> anyhow::Result<store::Batch> {
    let started = Instant::now();
    let mut next_progress = started + PROGRESS_EVERY;
    loop {
        for dispatcher in dispatchers.iter_mut() {
            dispatcher.check_running()?;
        }
        let state = store
            .get_batch(batch.org, batch.id)
            .await?
            .context("the batch vanished")?;
        if state.status.is_terminal() {
            eprintln!(
                "{label}: batch {} after {:.1} s",
                state.status.as_str(),
                started.elapsed().as_secs_f64()
            );
            return Ok(state);
        }
        if started.elapsed() >= timeout {
            eprintln!(
                "{label}: stopped waiting after {:.0} s with the batch {}",
                timeout.as_secs_f64(),
                state.status.as_str()
            );
            return Ok(state);
        }
        if Instant::now() >= next_progress {
            let stats = simulator.stats();
            eprintln!(
                "{label}: {} of {recipients} accepted by the simulator, {} recorded as sent, {} throttled, {:.0} s",
                stats.distinct_recipients,
                state.counters.sent,
                stats.throttled,
                started.elapsed().as_secs_f64()
            );
            next_progress += PROGRESS_EVERY;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A `wrapsd dispatch` child process, killed when dropped.
struct Dispatcher {
    name: String,
    child: Child,
    log_path: PathBuf,
}

impl Dispatcher {
    /// Starts `wrapsd dispatch` with only the settings of the run: `WRAPS_*` variables
    /// of this process are not passed on.
    fn start(
        wrapsd: &Path,
        index: usize,
        database_url: &str,
        redis_url: &str,
        prefix: &str,
        ses_endpoint: &str,
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let name = format!("dispatch-{index}");
        let log_path = log_dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut command = Command::new(wrapsd);
        command
            .arg("dispatch")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("WRAPS_") {
                command.env_remove(key);
            }
        }
        command
            .env("WRAPS_DATABASE_URL", database_url)
            .env("WRAPS_REDIS_URL", redis_url)
            .env("WRAPS_REDIS_PREFIX", prefix)
            .env("WRAPS_SES_ENDPOINT_URL", ses_endpoint)
            .env("WRAPS_SHARDS", SHARDS.to_string())
            .env("WRAPS_METRICS_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1");
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {} dispatch", wrapsd.display()))?;
        Ok(Self {
            name,
            child,
            log_path,
        })
    }

    /// Fails with the end of the process's log when it has exited.
    fn check_running(&mut self) -> anyhow::Result<()> {
        let Some(status) = self.child.try_wait()? else {
            return Ok(());
        };
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let mut tail: VecDeque<&str> = VecDeque::with_capacity(LOG_TAIL_LINES);
        for line in log.lines() {
            if tail.len() == LOG_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        let mut message = format!("{} exited ({status}); last lines of its log:", self.name);
        for line in tail {
            let _ = write!(message, "\n{line}");
        }
        bail!(message)
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The database of one run.
struct RunDatabase {
    name: String,
    url: String,
}

async fn create_database(admin_url: &str, run_id: &str) -> anyhow::Result<RunDatabase> {
    let name = format!("wraps_fid_{run_id}");
    let mut admin = admin_connection(admin_url)
        .await
        .context("connecting to PostgreSQL failed")?;
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .with_context(|| format!("CREATE DATABASE {name} failed"))?;
    admin.close().await?;
    let url = replace_database(admin_url, &name)?;
    Ok(RunDatabase { name, url })
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = admin_connection(admin_url).await?;
    // WITH (FORCE) (PostgreSQL 13 and later) ends connections a killed dispatcher left.
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await?;
    admin.close().await?;
    Ok(())
}

/// Connects to the admin database. Statements are not logged: `DROP DATABASE` often
/// takes longer than the one second after which sqlx warns.
async fn admin_connection(admin_url: &str) -> anyhow::Result<PgConnection> {
    let options: PgConnectOptions = admin_url.parse()?;
    Ok(options.disable_statement_logging().connect().await?)
}

/// Deletes every key under `prefix:`.
async fn delete_redis_keys(redis_url: &str, prefix: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url)?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let pattern = format!("{prefix}:*");
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(&mut connection)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(&keys)
                .query_async::<()>(&mut connection)
                .await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Returns `url` with its database name replaced by `name`, keeping any query.
fn replace_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let Some(authority_end) = base.find("://").map(|scheme| scheme + 3) else {
        bail!("the database URL has no scheme");
    };
    let server = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    Ok(match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    })
}

/// Returns the host of a `scheme://[user[:password]@]host[:port][/...]` URL.
fn url_host(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split_once(']').map(|(host, _)| host);
    }
    Some(host_port.split(':').next().unwrap_or(host_port))
}

/// Rejects any host but the loopback interface, so that a run never loads a shared
/// server by mistake.
fn ensure_loopback(setting: &str, url: &str) -> anyhow::Result<()> {
    match url_host(url) {
        Some("127.0.0.1" | "::1" | "localhost") => Ok(()),
        Some(host) => bail!(
            "invalid {setting}: a fidelity run connects only to 127.0.0.1, ::1 or localhost, not to {host:?}"
        ),
        None => bail!("invalid {setting}: it is not a URL with a host"),
    }
}

/// Runs each rate in turn and returns the results. `options.max_send_rate` is
/// replaced by each rate.
pub async fn run_rates(
    rates: &[f64],
    options: &FidelityOptions,
) -> anyhow::Result<Vec<FidelityResult>> {
    let mut results = Vec::with_capacity(rates.len());
    for &rate in rates {
        let options = FidelityOptions {
            max_send_rate: rate,
            ..options.clone()
        };
        let result = run(&options)
            .await
            .with_context(|| format!("the run at R={rate} failed"))?;
        eprintln!("{}", result.markdown_row());
        results.push(result);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(at_millis: u64, recipients: u32) -> AdmittedCall {
        AdmittedCall {
            at_micros: at_millis * 1000,
            recipients,
        }
    }

    #[test]
    fn one_per_second_measures_from_timestamps() {
        // Eleven single sends 1.03 s apart: 0.97 per second.
        let calls: Vec<AdmittedCall> = (0..11).map(|i| call(500 + i * 1030, 1)).collect();
        let rate = measure_rate(&calls);
        assert_eq!(rate.first_second, 1);
        assert_eq!(rate.calls_after, 10);
        assert_eq!(rate.counted, 9);
        assert_eq!(rate.window, Duration::from_millis(9 * 1030));
        let sustained = rate.sustained.unwrap();
        assert!((sustained - 1.0 / 1.03).abs() < 1e-9, "{sustained}");
        assert_eq!(rate.span, Duration::from_millis(10 * 1030));
        let second_half = rate.second_half.unwrap();
        assert!((second_half - 1.0 / 1.03).abs() < 1e-9, "{second_half}");
    }

    #[test]
    fn bulk_calls_count_all_but_the_last() {
        // A burst of 100 at once, then 50 every 0.25 s: 200 per second.
        let mut calls = vec![call(0, 50), call(0, 50)];
        calls.extend((4..=40).map(|i| call(i * 250, 50)));
        let rate = measure_rate(&calls);
        assert_eq!(rate.first_second, 100);
        assert_eq!(rate.calls_after, 37);
        assert_eq!(rate.sustained, Some(200.0));
    }

    #[test]
    fn second_half_shows_deferred_burst() {
        // Ten per second, with five recipients of burst credit spent at the start of
        // the window: the window measures above ten, its second half exactly ten.
        let mut calls = vec![call(0, 10), call(1000, 6)];
        calls.extend((1..=90).map(|i| call(1000 + i * 100, 1)));
        let rate = measure_rate(&calls);
        assert_eq!(rate.counted, 95);
        assert_eq!(rate.window, Duration::from_secs(9));
        let sustained = rate.sustained.unwrap();
        assert!((sustained - 95.0 / 9.0).abs() < 1e-9, "{sustained}");
        let second_half = rate.second_half.unwrap();
        assert!((second_half - 10.0).abs() < 1e-9, "{second_half}");
    }

    #[test]
    fn order_of_the_log_does_not_matter() {
        let ordered = [call(0, 1), call(1000, 1), call(2000, 1), call(3000, 1)];
        let shuffled = [ordered[2], ordered[0], ordered[3], ordered[1]];
        assert_eq!(measure_rate(&shuffled), measure_rate(&ordered));
        assert_eq!(measure_rate(&ordered).sustained, Some(1.0));
    }

    #[test]
    fn too_few_calls_have_no_rate() {
        assert_eq!(measure_rate(&[]).sustained, None);
        assert_eq!(measure_rate(&[call(0, 5), call(1500, 5)]).sustained, None);
    }

    #[test]
    fn measure_rate_shows_fast_sender() {
        // 14 per call every 0.9 s against R = 14.
        let calls: Vec<AdmittedCall> = (0..12).map(|i| call(i * 900, 14)).collect();
        let sustained = measure_rate(&calls).sustained.unwrap();
        assert!((sustained - 14.0 / 0.9).abs() < 1e-9, "{sustained}");
    }

    fn result(rate: f64, sustained: Option<f64>) -> FidelityResult {
        FidelityResult {
            max_send_rate: rate,
            recipients: 154,
            sent: 154,
            accepted: 154,
            duplicates: 0,
            throttles: 0,
            status: BatchStatus::Completed,
            rate: RateMeasurement {
                first_second: 14,
                calls_after: 10,
                counted: 126,
                window: Duration::from_secs(9),
                sustained,
                second_half: sustained,
                span: Duration::from_secs(10),
            },
            failures: Vec::new(),
        }
    }

    #[test]
    fn judge_accepts_rates_between_the_bounds() {
        for sustained in [0.95 * 14.0, 13.6, 14.0, 14.01] {
            let mut run = result(14.0, Some(sustained));
            run.judge(0);
            assert!(run.passed(), "{sustained}: {:?}", run.failures);
        }
    }

    #[test]
    fn judge_rejects_every_broken_check() {
        let mut slow = result(14.0, Some(13.2));
        slow.judge(0);
        assert!(
            slow.failures[0].starts_with("sustained 13.200/s <"),
            "{:?}",
            slow.failures
        );

        let mut barely_fast = result(14.0, Some(14.02));
        barely_fast.judge(0);
        assert!(!barely_fast.passed());

        let mut fast = result(14.0, Some(14.2));
        fast.judge(0);
        assert!(
            fast.failures[0].contains("> 14.014/s"),
            "{:?}",
            fast.failures
        );

        let mut broken = result(14.0, None);
        broken.throttles = 3;
        broken.duplicates = 1;
        broken.sent = 150;
        broken.accepted = 153;
        broken.status = BatchStatus::Processing;
        broken.judge(2);
        assert_eq!(broken.failures.len(), 7, "{:?}", broken.failures);
        assert!(!broken.passed());
        assert!(broken.markdown_row().contains("FAIL: 3 throttled calls"));
    }

    #[test]
    fn recipients_cover_the_first_second_and_the_duration() {
        let mut options = FidelityOptions::new(
            14.0,
            "postgres://127.0.0.1/test",
            "redis://127.0.0.1",
            "wrapsd",
        );
        assert_eq!(options.recipients(), 154);
        options.max_send_rate = 5000.0;
        assert_eq!(options.recipients(), 55_000);
        options.max_send_rate = 1.0;
        options.seconds = 9.0;
        assert_eq!(options.recipients(), 10);
    }

    #[test]
    fn database_name_is_replaced_and_query_kept() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/test", "run").unwrap(),
            "postgres://postgres@127.0.0.1:5432/run"
        );
        assert_eq!(
            replace_database("postgres://127.0.0.1/test?sslmode=disable", "run").unwrap(),
            "postgres://127.0.0.1/run?sslmode=disable"
        );
        assert_eq!(
            replace_database("postgres://127.0.0.1:5432", "run").unwrap(),
            "postgres://127.0.0.1:5432/run"
        );
    }

    #[test]
    fn only_loopback_hosts_are_accepted() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/test",
            "redis://localhost:6379",
            "redis://[::1]:6379/0",
            "postgres://user:secret@localhost/test",
        ] {
            assert!(ensure_loopback("url", url).is_ok(), "{url}");
        }
        for url in [
            "postgres://postgres@10.0.0.5:5432/test",
            "redis://cache.internal:6379",
            "postgres://127.0.0.1@db.example.com/test",
            "not a url",
        ] {
            assert!(ensure_loopback("url", url).is_err(), "{url}");
        }
    }
}
