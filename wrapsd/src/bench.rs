//! `wrapsd bench-broadcast`: one broadcast to N recipients through the real
//! multi-process pipeline, measured against the simulator's own ceiling.
//!
//! Everything runs on 127.0.0.1, in this order:
//!
//! 1. `wrapsd ses-sim` starts without limits, and a bare load generator
//!    measures how fast it accepts `SendBulkEmail` and `SendEmail` calls
//!    ([`ceiling`]); the simulator is reset afterwards.
//! 2. A fresh PostgreSQL database gets the migrations (`wrapsd migrate`), a
//!    `business` organisation with an API key, and N contacts inserted in one
//!    statement ([`database`]). This setup is timed but not budgeted.
//! 3. `wrapsd dispatch` and `wrapsd api` start as separate processes. They
//!    share that database and a Redis key prefix of their own. Through the
//!    API the run connects the simulated AWS account and, for template
//!    content, publishes a template.
//! 4. `POST /v1/batch` sends to every contact. The run polls the batch in
//!    the database for the fan-out's commit and the completion, samples the
//!    dispatcher's peak memory every second, and prints progress.
//! 5. A Markdown summary goes to stdout and the JSON results to `--out`.
//!
//! Child processes are killed, the database dropped and the Redis keys
//! deleted on every exit, including errors, Ctrl-C and `--timeout-secs`.
//! `psql` and `redis-cli` must be on `PATH`.

mod ceiling;
pub(crate) mod children;
pub(crate) mod database;
pub(crate) mod host;
mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, TimeZone, Utc};
use clap::{Args, ValueEnum};
use load_tests::sim::SimStats;
use reqwest::Url;
use schemas::batches::BatchStatus;
use schemas::{BatchId, OrgId};
use serde::Serialize;
use serde_json::{json, Value};
use store::{Batch, ConnectOptions, KeyType, Store};

use self::children::{free_port, ChildProcess};
use self::database::{BenchDatabase, Psql, RedisKeys};
use self::host::{Machine, MemorySampler, Usage, UsageSnapshot};
use self::report::{Memory, Results, Run, Setup, SimulatorCounts};

/// Placeholder AWS account number of the simulated SES account.
const SIMULATED_ACCOUNT: &str = "111122223333";
/// Sender of every benchmark message, in SES's display form.
const SENDER: &str = "wrapsd bench <news@example.com>";
const BENCH_SUBJECT: &str = "{{firstName}}, here is this week's news";
/// A short newsletter body (652 bytes) with one personalised variable.
const BENCH_HTML: &str = "<html><body><h1>Hello {{firstName}}</h1>\
<p>This is the weekly product update from the wrapsd benchmark. It is about as long as a short \
newsletter, so that rendering and the request bodies cost what a real broadcast costs.</p>\
<p>New this week: faster imports, topic subscriptions with double opt-in, and live progress of \
every broadcast over Server-Sent Events.</p>\
<ul><li>Imports stream files of any size.</li><li>Batches are frozen once and sent in chunks.</li>\
<li>Every recipient is handed to SES at most once.</li></ul>\
<p>Thanks for reading, and see you next week.</p>\
<p><a href=\"https://example.com/news\">Read more on our site</a></p></body></html>";

/// Dispatcher shards; every process of one deployment must agree.
pub(crate) const SHARDS: u32 = 16;
/// How long a child process gets to become ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a child process gets to shut down before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Poll interval of the batch until its fan-out commits; it bounds the error
/// of the fan-out time.
const FAN_OUT_POLL: Duration = Duration::from_millis(50);
/// Poll interval of the batch while it sends.
const SEND_POLL: Duration = Duration::from_millis(250);
/// Interval of the progress lines.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Contacts to create; the broadcast sends to every one of them.
    #[arg(long)]
    recipients: u64,
    /// `template`: a published SES template, sent with SendBulkEmail (50 per
    /// call); `html`: per-recipient HTML, sent with SendEmail.
    #[arg(long, value_enum, default_value_t = ContentKind::Template)]
    content: ContentKind,
    /// Admin URL of PostgreSQL on 127.0.0.1. The benchmark creates its own
    /// database on that server and drops it at the end.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    database_url: String,
    /// URL of Redis on 127.0.0.1. The run uses a key prefix of its own and
    /// deletes its keys at the end.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// File the JSON results are written to.
    #[arg(long, value_name = "FILE", default_value = "/tmp/bench-results.json")]
    out: PathBuf,
    /// Time limit of the whole run, setup included, in seconds; past it the
    /// run stops its processes and fails.
    #[arg(long, default_value_t = 1200)]
    timeout_secs: u64,
    /// Duration of the simulator's ceiling measurement per SES call type, in
    /// seconds.
    #[arg(long, default_value_t = 5)]
    ceiling_secs: u64,
    /// SES calls in flight at once while measuring the ceiling.
    #[arg(long, default_value_t = 32)]
    ceiling_concurrency: usize,
    /// Keep the benchmark database afterwards, for inspection.
    #[arg(long)]
    keep_database: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentKind {
    Template,
    Html,
}

impl ContentKind {
    fn as_str(self) -> &'static str {
        match self {
            ContentKind::Template => "template",
            ContentKind::Html => "html",
        }
    }
}

/// Runs the benchmark, prints its summary and writes its results. Fails when
/// the run could not finish, or when the batch's or the simulator's counts
/// show a recipient missing or sent twice. A missed budget is only reported.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.recipients > 0,
        "invalid --recipients: must be at least 1"
    );
    let admin_url = loopback_url("--database-url", &args.database_url)?;
    loopback_url("--redis-url", &args.redis_url)?;

    let limit = Duration::from_secs(args.timeout_secs);
    let results = tokio::select! {
        finished = tokio::time::timeout(limit, measure(&args, &admin_url)) => match finished {
            Ok(results) => results?,
            Err(_) => bail!(
                "the benchmark did not finish within --timeout-secs {}; its processes were stopped",
                args.timeout_secs
            ),
        },
        _ = tokio::signal::ctrl_c() => bail!("interrupted; the benchmark's processes were stopped"),
    };

    println!("{}", report::markdown(&results));
    let json = serde_json::to_string_pretty(&results)?;
    std::fs::write(&args.out, json)
        .with_context(|| format!("cannot write the results to {}", args.out.display()))?;
    eprintln!("results written to {}", args.out.display());

    if !results.consistent() {
        bail!("the batch's counts and the simulator's do not show every recipient sent exactly once (see the summary)");
    }
    Ok(())
}

/// Parses `value` and rejects any host but 127.0.0.1, so a benchmark never
/// loads a shared server by mistake.
pub(crate) fn loopback_url(option: &str, value: &str) -> anyhow::Result<Url> {
    let url =
        Url::parse(value).with_context(|| format!("invalid {option}: {value:?} is not a URL"))?;
    if url.host_str() != Some("127.0.0.1") {
        bail!("invalid {option}: the benchmark only connects to 127.0.0.1, not {value:?}");
    }
    Ok(url)
}

/// Runs every step and returns the results. Each guard cleans up when it is
/// dropped, so an error, a timeout or Ctrl-C anywhere leaves nothing behind.
/// Locals drop in reverse order, which kills the child processes before the
/// Redis keys are deleted and the database is dropped.
async fn measure(args: &BenchArgs, admin_url: &Url) -> anyhow::Result<Results> {
    let started_at = Utc::now();
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let log_dir = std::env::temp_dir().join(format!("wraps-bench-{run_id}"));
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    let http = reqwest::Client::new();

    let admin = Psql::new(admin_url.as_str());
    let machine = Machine::read(
        database::postgres_version(&admin).await?,
        database::postgres_settings(&admin).await?,
        database::redis_version(&args.redis_url).await?,
    );
    step(&format!("run {run_id}: logs in {}", log_dir.display()));

    step("starting the SES simulator (no limits)");
    let (mut simulator, sim_endpoint) = start_simulator(&http, &log_dir).await?;

    step(&format!(
        "measuring the simulator's ceiling: {} s per call type, {} calls in flight",
        args.ceiling_secs, args.ceiling_concurrency
    ));
    let ceiling = ceiling::measure(
        &sim_endpoint,
        simulator.pid(),
        Duration::from_secs(args.ceiling_secs),
        args.ceiling_concurrency,
    )
    .await?;
    let reset = http
        .post(format!("{sim_endpoint}/sim/reset"))
        .send()
        .await?;
    anyhow::ensure!(
        reset.status().is_success(),
        "POST /sim/reset returned {}",
        reset.status()
    );

    step(&format!(
        "preparing a fresh database with {} contacts",
        args.recipients
    ));
    let (database, store, org, api_key, setup) =
        prepare_database(admin_url, &run_id, args, &log_dir).await?;

    step("starting `wrapsd dispatch` and `wrapsd api`");
    let prefix = format!("wraps-bench-{run_id}");
    let redis_keys = RedisKeys::new(&args.redis_url, &prefix);
    let env = vec![
        ("WRAPS_DATABASE_URL", database.url().to_owned()),
        ("WRAPS_REDIS_URL", args.redis_url.clone()),
        ("WRAPS_REDIS_PREFIX", prefix),
        ("WRAPS_SES_ENDPOINT_URL", sim_endpoint.clone()),
        ("WRAPS_SHARDS", SHARDS.to_string()),
        ("WRAPS_METRICS_LISTEN", "127.0.0.1:0".to_owned()),
    ];
    let (mut dispatcher, mut api, base_url) = start_pipeline(&env, &http, &log_dir).await?;
    let client = ApiClient {
        http: http.clone(),
        base: base_url,
        key: api_key,
    };
    let batch_body = prepare_content(&client, args.content).await?;

    step(&format!(
        "sending the broadcast to {} recipients ({} content)",
        args.recipients,
        args.content.as_str()
    ));
    let mut processes = [&mut dispatcher, &mut api, &mut simulator];
    let sent = send_broadcast(&client, batch_body, &store, org, &mut processes).await?;
    let stats: SimStats = http
        .get(format!("{sim_endpoint}/sim/stats"))
        .send()
        .await?
        .json()
        .await
        .context("GET /sim/stats returned no statistics")?;
    let first_send = first_send_at(&Psql::new(database.url()), sent.watched.batch.id).await?;
    let run = timeline(&sent, first_send)?;

    step("stopping the processes and cleaning up");
    api.stop(STOP_GRACE).await;
    dispatcher.stop(STOP_GRACE).await;
    simulator.stop(STOP_GRACE).await;
    store.close().await;
    let tables = database::table_activity(&Psql::new(database.url())).await?;
    drop(redis_keys);
    drop(database);

    let targets = report::targets(args.content, args.recipients, &run, &ceiling, &sent.memory);
    Ok(Results {
        started_at,
        command: command_line(std::env::args()),
        recipients: args.recipients,
        content: args.content,
        machine,
        ceiling,
        setup,
        run,
        simulator: SimulatorCounts {
            accepted: stats.accepted,
            distinct_recipients: stats.distinct_recipients,
            duplicates: stats.duplicates,
            throttled: stats.throttled,
            calls: stats.calls,
        },
        memory: sent.memory,
        usage: sent.usage,
        tables,
        targets,
        log_dir: log_dir.display().to_string(),
    })
}

/// Joins the command line for the results, with the password of any URL
/// argument (such as `--database-url`) replaced by `***`.
pub(crate) fn command_line(args: impl Iterator<Item = String>) -> String {
    args.map(|arg| match Url::parse(&arg) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => arg,
    })
    .collect::<Vec<_>>()
    .join(" ")
}

fn step(message: &str) {
    eprintln!("==> {message}");
}

/// Starts `wrapsd ses-sim` on a free port and returns it with its endpoint.
pub(crate) async fn start_simulator(
    http: &reqwest::Client,
    log_dir: &Path,
) -> anyhow::Result<(ChildProcess, String)> {
    let listen = format!("127.0.0.1:{}", free_port()?);
    let mut simulator =
        ChildProcess::start("ses-sim", &["ses-sim", "--listen", &listen], &[], log_dir)?;
    let endpoint = format!("http://{listen}");
    simulator
        .wait_for_http(http, &format!("{endpoint}/sim/stats"), STARTUP_TIMEOUT)
        .await?;
    Ok((simulator, endpoint))
}

/// Starts `wrapsd dispatch` and `wrapsd api` with `env` and waits until the
/// API responds and the dispatcher owns every shard, so the fan-out job is
/// read as soon as it is queued. Returns both and the API's base URL.
pub(crate) async fn start_pipeline(
    env: &[(&str, String)],
    http: &reqwest::Client,
    log_dir: &Path,
) -> anyhow::Result<(ChildProcess, ChildProcess, String)> {
    let mut dispatcher = ChildProcess::start("dispatch", &["dispatch"], env, log_dir)?;

    let api_addr = format!("127.0.0.1:{}", free_port()?);
    let mut api_env = env.to_vec();
    api_env.push(("WRAPS_LISTEN", api_addr.clone()));
    let mut api = ChildProcess::start("api", &["api"], &api_env, log_dir)?;
    let base_url = format!("http://{api_addr}");

    api.wait_for_http(http, &format!("{base_url}/health"), STARTUP_TIMEOUT)
        .await?;
    dispatcher
        .wait_for_log("shard acquired", SHARDS as usize, STARTUP_TIMEOUT)
        .await?;
    Ok((dispatcher, api, base_url))
}

/// Creates the database, migrates it with `wrapsd migrate`, and adds the
/// organisation, its API key and the contacts. Returns the database guard,
/// a store on it, the organisation, the key and the setup times.
async fn prepare_database(
    admin_url: &Url,
    run_id: &str,
    args: &BenchArgs,
    log_dir: &Path,
) -> anyhow::Result<(BenchDatabase, Store, OrgId, String, Setup)> {
    let started = Instant::now();
    let database = BenchDatabase::create(admin_url, run_id, args.keep_database).await?;
    let create_database_secs = started.elapsed().as_secs_f64();
    eprintln!("    database {}", database.name());

    let started = Instant::now();
    let env = [("WRAPS_DATABASE_URL", database.url().to_owned())];
    ChildProcess::start("migrate", &["migrate"], &env, log_dir)?
        .wait_success(STARTUP_TIMEOUT)
        .await?;
    let migrate_secs = started.elapsed().as_secs_f64();

    let options = ConnectOptions {
        max_connections: 2,
        ..ConnectOptions::default()
    };
    let store = Store::connect_with(database.url(), &options)
        .await
        .context("cannot connect to the benchmark database")?;
    let org = store.create_org("Benchmark", "business").await?;
    let key = store
        .create_api_key(org.id, "bench-broadcast", KeyType::Live, None)
        .await?
        .plaintext;

    let (inserted, vacuumed) =
        database::insert_contacts(&Psql::new(database.url()), org.id, args.recipients).await?;
    eprintln!(
        "    {} contacts inserted in {:.1} s, vacuumed and analyzed in {:.1} s",
        args.recipients,
        inserted.as_secs_f64(),
        vacuumed.as_secs_f64()
    );

    let setup = Setup {
        create_database_secs,
        migrate_secs,
        insert_contacts_secs: inserted.as_secs_f64(),
        vacuum_analyze_secs: vacuumed.as_secs_f64(),
    };
    Ok((database, store, org.id, key, setup))
}

/// Connects the simulated AWS account through the API and, for template
/// content, creates and publishes the template. Returns the body of
/// `POST /v1/batch`.
async fn prepare_content(client: &ApiClient, content: ContentKind) -> anyhow::Result<Value> {
    let connection = client
        .post(
            "/v1/connections",
            json!({ "accountId": SIMULATED_ACCOUNT, "region": "us-east-1", "features": { "email": true } }),
        )
        .await?;
    let connection_id = connection["connectionId"]
        .as_str()
        .context("POST /v1/connections returned no connectionId")?
        .to_owned();

    let mut body = json!({
        "awsAccountId": connection_id,
        "name": format!("Benchmark ({} content)", content.as_str()),
        "audienceType": "all",
        "from": "news@example.com",
        "fromName": "wrapsd bench",
    });
    match content {
        ContentKind::Template => {
            let template = client
                .post(
                    "/v1/templates",
                    json!({ "name": "Benchmark newsletter", "subject": BENCH_SUBJECT, "compiledHtml": BENCH_HTML }),
                )
                .await?;
            let template_id = template["id"]
                .as_str()
                .context("POST /v1/templates returned no id")?
                .to_owned();
            client
                .post(
                    &format!("/v1/templates/{template_id}/publish"),
                    json!({ "awsAccountId": connection_id }),
                )
                .await?;
            body["templateId"] = json!(template_id);
        }
        ContentKind::Html => {
            body["subject"] = json!(BENCH_SUBJECT);
            body["htmlContent"] = json!(BENCH_HTML);
        }
    }
    Ok(body)
}

/// Measurements of the broadcast itself: timeline, resources and memory.
struct Sent {
    watched: Watched,
    posted_at: DateTime<Utc>,
    post_secs: f64,
    usage: Usage,
    memory: Memory,
}

/// Creates the batch with `body` and watches it until it ends, sampling the
/// memory and CPU time of `processes`.
async fn send_broadcast(
    client: &ApiClient,
    body: Value,
    store: &Store,
    org: OrgId,
    processes: &mut [&mut ChildProcess],
) -> anyhow::Result<Sent> {
    let pids: Vec<(&'static str, u32)> = processes
        .iter()
        .map(|process| (process.name(), process.pid()))
        .collect();
    let (sampler, sampler_task) = MemorySampler::spawn(pids.clone());
    let usage_start = UsageSnapshot::take(&pids);

    let posted_at = Utc::now();
    let post_started = Instant::now();
    let created = client.post("/v1/batch", body).await?;
    let post_secs = post_started.elapsed().as_secs_f64();
    let batch_id: BatchId = created["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .context("POST /v1/batch returned no batch id")?;

    let watched = watch_batch(store, org, batch_id, processes, &sampler).await;
    let usage = usage_start.until(&UsageSnapshot::take(&pids));
    sampler.sample();
    sampler_task.abort();

    Ok(Sent {
        watched: watched?,
        posted_at,
        post_secs,
        usage,
        memory: Memory {
            dispatcher_peak_rss_bytes: sampler.peak("dispatch"),
            api_peak_rss_bytes: sampler.peak("api"),
            simulator_peak_rss_bytes: sampler.peak("ses-sim"),
        },
    })
}

/// The finished batch and when its fan-out's commit was first seen.
struct Watched {
    batch: Batch,
    fan_out_seen_at: DateTime<Utc>,
}

/// Polls the batch in the database until it ends, printing progress, and
/// fails early when a child process exits.
async fn watch_batch(
    store: &Store,
    org: OrgId,
    batch_id: BatchId,
    processes: &mut [&mut ChildProcess],
    memory: &MemorySampler,
) -> anyhow::Result<Watched> {
    let started = Instant::now();
    let mut fan_out_seen_at = None;
    let mut last_line = Instant::now();
    let mut last_processed = 0;

    loop {
        for process in processes.iter_mut() {
            process.check_running()?;
        }
        let batch = store
            .get_batch(org, batch_id)
            .await?
            .context("the batch disappeared from the database")?;

        if fan_out_seen_at.is_none() && batch.fanned_out_at.is_some() {
            fan_out_seen_at = Some(Utc::now());
            eprintln!(
                "    {:>6.1} s  audience frozen: {} recipients in {} chunks",
                started.elapsed().as_secs_f64(),
                batch.counters.total_recipients,
                batch.chunk_count
            );
        }
        if matches!(
            batch.status,
            BatchStatus::Completed | BatchStatus::Failed | BatchStatus::Cancelled
        ) {
            eprintln!(
                "    {:>6.1} s  batch {}",
                started.elapsed().as_secs_f64(),
                batch.status.as_str()
            );
            // A batch that ended between two polls was frozen by then.
            let fan_out_seen_at = fan_out_seen_at.unwrap_or_else(Utc::now);
            return Ok(Watched {
                batch,
                fan_out_seen_at,
            });
        }

        if last_line.elapsed() >= PROGRESS_EVERY {
            let processed = batch.counters.processed_recipients;
            let rate = (processed - last_processed) as f64 / last_line.elapsed().as_secs_f64();
            eprintln!(
                "    {:>6.1} s  {}  {processed}/{} processed, {rate:.0}/s, dispatcher RSS {:.1} MiB",
                started.elapsed().as_secs_f64(),
                batch.status.as_str(),
                batch.counters.total_recipients,
                memory.current("dispatch") as f64 / (1024.0 * 1024.0),
            );
            last_processed = processed;
            last_line = Instant::now();
        }

        let poll = if fan_out_seen_at.is_none() {
            FAN_OUT_POLL
        } else {
            SEND_POLL
        };
        tokio::time::sleep(poll).await;
    }
}

/// Returns when the batch's first recipient was recorded sent.
async fn first_send_at(psql: &Psql, batch_id: BatchId) -> anyhow::Result<Option<DateTime<Utc>>> {
    let millis = psql
        .run(&format!(
            "SELECT min(sent_at) FROM batch_recipients WHERE batch_id = '{batch_id}'"
        ))
        .await?;
    Ok(millis
        .parse::<i64>()
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single()))
}

/// Derives the durations and rates of the run from the batch's timestamps.
fn timeline(sent: &Sent, first_send: Option<DateTime<Utc>>) -> anyhow::Result<Run> {
    let watched = &sent.watched;
    let batch = &watched.batch;
    let secs =
        |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).num_milliseconds() as f64 / 1000.0;
    let fanned_out_at = batch
        .fanned_out_at
        .context("the batch ended without a fan-out")?;
    let completed_at = batch.completed_at.unwrap_or(batch.updated_at);
    let total = batch.counters.total_recipients;

    let end_to_end_secs = secs(sent.posted_at, completed_at);
    let send_phase_secs = secs(watched.fan_out_seen_at, completed_at);
    Ok(Run {
        batch_id: batch.id.to_string(),
        status: batch.status.as_str().to_owned(),
        total_recipients: total,
        sent: batch.counters.sent,
        failed: batch.counters.failed,
        unknown: batch.counters.unknown,
        skipped: batch.counters.skipped,
        post_secs: sent.post_secs,
        queue_to_fan_out_secs: secs(batch.created_at, fanned_out_at),
        fan_out_secs: secs(fanned_out_at, watched.fan_out_seen_at),
        fan_out_to_first_send_secs: first_send.map(|at| secs(watched.fan_out_seen_at, at)),
        end_to_end_secs,
        end_to_end_per_sec: total as f64 / end_to_end_secs,
        send_phase_secs,
        send_phase_per_sec: total as f64 / send_phase_secs,
    })
}

/// A JSON client of the API with the benchmark organisation's key.
struct ApiClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl ApiClient {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path} failed"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("POST {path} returned no JSON ({status})"))?;
        if !status.is_success() {
            bail!("POST {path} returned {status}: {body}");
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_url_accepts_only_127_0_0_1() {
        assert!(loopback_url("--database-url", "postgres://postgres@127.0.0.1:5432/test").is_ok());
        assert!(loopback_url("--redis-url", "redis://127.0.0.1:6379").is_ok());
        for other in [
            "postgres://postgres@db.example.com/test",
            "redis://localhost:6379",
            "redis://10.0.0.5:6379",
        ] {
            let err = loopback_url("--redis-url", other).unwrap_err();
            assert!(
                err.to_string().contains("only connects to 127.0.0.1"),
                "{err}"
            );
        }
    }

    #[test]
    fn command_line_hides_url_passwords() {
        let args = [
            "wrapsd",
            "bench-broadcast",
            "--database-url",
            "postgres://bench:secret@127.0.0.1:5432/test",
        ];
        let line = command_line(args.iter().map(|arg| arg.to_string()));
        assert!(!line.contains("secret"), "{line}");
        assert!(
            line.contains("postgres://bench:***@127.0.0.1:5432/test"),
            "{line}"
        );
    }

    #[test]
    fn bench_html_uses_first_name_once() {
        assert_eq!(BENCH_HTML.matches("{{firstName}}").count(), 1);
    }
}
