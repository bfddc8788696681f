//! The `api-mixed` scenario on one backend.
//!
//! 1. A fresh store (a SQLite file, or a PostgreSQL database with a Redis
//!    key prefix) gets the migrations, a `business` organisation with an API
//!    key and the scenario's seeded contacts, through the store's bulk
//!    import. This setup is timed but not part of the load.
//! 2. `wrapsd ses-sim` and wrapsd start: `wrapsd serve` on the embedded
//!    backend, `wrapsd api` and `wrapsd dispatch` on PostgreSQL and Redis.
//!    Through the API the run connects the simulated AWS account and sends
//!    one small batch to a list of contacts, so there is a batch to read.
//! 3. The generator's ceiling: the same generator, with the same connections
//!    and mix, against a bare axum server started for it, first saturated
//!    and then at the target rate.
//! 4. The load: the open-loop generator at the target rate for the
//!    scenario's duration, with the CPU time and peak memory of the
//!    processes read from `/proc`.
//!
//! Every process, the data directory, the database and the Redis keys are
//! removed when the run ends, on errors and timeouts too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use load_tests::sim::SimStats;
use reqwest::Url;
use schemas::contacts::ContactFilter;
use schemas::OrgId;
use serde::Serialize;
use serde_json::{json, Value};
use store::{ConnectOptions, KeyType, Store};

use super::generator::{self, ApiWorkload, Phase, PhaseSettings, Workload};
use super::scenario::{Backend, Scenario};
use super::{seed, step, Tracked};
use crate::bench::children::{free_port, ChildProcess};
use crate::bench::database::{BenchDatabase, RedisKeys};
use crate::bench::host::{MemorySampler, Usage, UsageSnapshot};
use crate::bench::{self, SHARDS};

/// How long a child process gets to become ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a child process gets to shut down before it is killed.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long the batch to read may take to complete.
const BATCH_TIMEOUT: Duration = Duration::from_secs(60);
/// Contacts per import transaction.
const IMPORT_CHUNK: usize = 1_000;
/// Recipients of the batch the reads ask for.
const BATCH_RECIPIENTS: usize = 10;
/// Placeholder AWS account number of the simulated SES account.
pub(super) const SIMULATED_ACCOUNT: &str = "111122223333";
/// Per-minute API limit of the `business` plan during a run, per target
/// request per second. The hosted limit (5,000 a minute) would reject most
/// batch reads at 1,000 requests per second. A high limit keeps the
/// limiter's check in every batch request but rejects none.
const API_LIMIT_PER_MINUTE_PER_RATE: f64 = 600.0;

/// State of one invocation, shared by its backends.
pub struct RunContext {
    pub run_id: String,
    /// Logs and data of this invocation.
    pub root: PathBuf,
    /// Admin URL of PostgreSQL, for `postgres-redis`.
    pub admin_url: Url,
    pub redis_url: String,
}

/// Everything one backend's run measured.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendRun {
    #[serde(flatten)]
    pub measured: Measured,
    pub setup: Setup,
}

/// The measurements that every open-loop scenario takes on one backend.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measured {
    pub backend: Backend,
    pub processes: String,
    pub ceiling: Ceiling,
    pub load: Phase,
    /// The load's completed requests per second divided by the saturated
    /// ceiling's.
    pub share_of_ceiling: f64,
    pub simulator: SimulatorCounts,
    pub resources: Vec<ProcessResources>,
    /// Resources used during the load phase.
    pub usage: Usage,
    pub targets: Vec<TargetResult>,
    /// Directory of the child processes' logs.
    pub log_dir: String,
}

impl Measured {
    /// Gathers the measurements of a run whose load phase was `load`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        scenario: &Scenario,
        backend: Backend,
        rate: f64,
        ceiling: Ceiling,
        load: Phase,
        simulator: SimulatorCounts,
        (resources, usage): (Vec<ProcessResources>, Usage),
        log_dir: &Path,
    ) -> Self {
        Self {
            backend,
            processes: backend.describe().to_owned(),
            share_of_ceiling: share_of(&load, &ceiling),
            targets: target_results(scenario, &load, rate),
            ceiling,
            load,
            simulator,
            resources,
            usage,
            log_dir: log_dir.display().to_string(),
        }
    }
}

/// Preparation, not part of the load.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Setup {
    pub contacts: u64,
    pub migrate_secs: f64,
    pub import_contacts_secs: f64,
    pub start_processes_secs: f64,
    pub batch_recipients: usize,
    /// From `POST /v1/batch` until the batch completed.
    pub batch_secs: f64,
}

/// The generator's own limits on this machine, against a server that does
/// no work.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ceiling {
    pub server: String,
    /// At `ceiling_rate`, far above what the machine serves: the most
    /// completed requests per second the generator reaches.
    pub saturated: Phase,
    /// At the scenario's rate: the latency the generator and the loopback
    /// add on their own.
    pub at_target: Phase,
}

/// The simulator's counters after the run.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatorCounts {
    pub accepted: u64,
    pub duplicates: u64,
    pub throttled: u64,
}

/// CPU time during the load and peak memory of one process.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessResources {
    pub name: String,
    pub pid: u32,
    pub cpu_secs: f64,
    pub peak_rss_bytes: u64,
}

/// One latency target and whether the load met it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetResult {
    pub operation: String,
    pub route: String,
    pub target_rate: f64,
    pub p99_budget_ms: f64,
    pub p99_ms: Option<f64>,
    pub met: bool,
}

/// Runs the scenario on `backend`.
pub async fn run(
    scenario: &Scenario,
    backend: Backend,
    context: &RunContext,
) -> anyhow::Result<BackendRun> {
    let rate = scenario.rate.context("api-mixed needs a rate")?;
    let contacts = scenario.contacts.context("api-mixed needs contacts")?;
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
    eprintln!(
        "    migrated in {:.1} s, {contacts} contacts imported in {:.1} s",
        prepared.migrate_secs, prepared.import_secs
    );

    let plans_file = log_dir.join("plans.toml");
    let per_minute = (rate * API_LIMIT_PER_MINUTE_PER_RATE).ceil().max(5_000.0) as u64;
    std::fs::write(
        &plans_file,
        format!("[plans.business]\napi_requests_per_minute = {per_minute}\n"),
    )
    .with_context(|| format!("cannot write {}", plans_file.display()))?;

    let services = Services::start(
        backend,
        &storage,
        &[("WRAPS_PLANS_FILE", plans_file.display().to_string())],
        &http,
        &log_dir,
    )
    .await?;
    let start_processes_secs = services.start_secs;

    let api = Api {
        http: http.clone(),
        base: services.base_url.clone(),
        key: prepared.api_key.clone(),
    };
    let batch_recipients = prepared.contact_ids.len().min(BATCH_RECIPIENTS);
    step(&format!(
        "sending one batch to {batch_recipients} contacts, for the status reads"
    ));
    let batch_started = Instant::now();
    let connection = connect_account(&api).await?;
    let batch_id = send_batch(
        &api,
        &connection.id,
        json!({
            "name": "Load test status batch",
            "audienceType": "list",
            "recipients": &prepared.contact_ids[..batch_recipients],
        }),
        BATCH_TIMEOUT,
    )
    .await?;
    let batch_secs = batch_started.elapsed().as_secs_f64();

    let workload = |base_url: &str| {
        Arc::new(ApiWorkload {
            base_url: base_url.to_owned(),
            api_key: prepared.api_key.clone(),
            contact_ids: prepared.contact_ids.clone(),
            batch_id: batch_id.clone(),
            mix: scenario.mix(),
        })
    };
    let ceiling = measure_ceiling(scenario, rate, workload, &http, &log_dir).await?;

    step(&format!(
        "loading wrapsd: {rate} requests/s for {} s over {} connections",
        scenario.duration_secs,
        scenario.connections()
    ));
    let watch = ResourceWatch::start(&services);
    let load = generator::run(
        workload(&services.base_url),
        &phase_settings(scenario, "wrapsd", rate, scenario.duration_secs),
    )
    .await?;
    let resources = watch.finish();
    let simulator = services.finish(&http).await?;
    drop(storage);

    Ok(BackendRun {
        measured: Measured::new(
            scenario, backend, rate, ceiling, load, simulator, resources, &log_dir,
        ),
        setup: Setup {
            contacts,
            migrate_secs: prepared.migrate_secs,
            import_contacts_secs: prepared.import_secs,
            start_processes_secs,
            batch_recipients,
            batch_secs,
        },
    })
}

impl RunContext {
    /// Creates and returns the log directory of `backend`.
    pub(super) fn log_dir(&self, backend: Backend) -> anyhow::Result<PathBuf> {
        let log_dir = self.root.join(backend.as_str());
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("cannot create {}", log_dir.display()))?;
        Ok(log_dir)
    }
}

/// Builds an HTTP client for the run's own servers, which ignores proxy
/// settings.
pub(super) fn local_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("cannot build the HTTP client")
}

/// Returns the settings of one generator phase of `scenario`.
pub(super) fn phase_settings(
    scenario: &Scenario,
    label: &str,
    rate: f64,
    secs: u64,
) -> PhaseSettings {
    PhaseSettings {
        label: label.to_owned(),
        rate,
        duration: Duration::from_secs(secs),
        connections: scenario.connections(),
        progress: secs > 5,
        seed: scenario.seed,
    }
}

/// Measures the generator's ceiling: the workload that `workload` builds
/// for a base URL, sent to a bare axum server, saturated and then at `rate`.
pub(super) async fn measure_ceiling<W: Workload>(
    scenario: &Scenario,
    rate: f64,
    workload: impl Fn(&str) -> Arc<W>,
    http: &reqwest::Client,
    log_dir: &Path,
) -> anyhow::Result<Ceiling> {
    let secs = scenario.ceiling_secs();
    step(&format!(
        "measuring the generator's ceiling: a bare axum server, {secs} s saturated, {secs} s at {rate}/s"
    ));
    let (hello, hello_url) = start_hello(http, log_dir).await?;
    let saturated = generator::run(
        workload(&hello_url),
        &phase_settings(
            scenario,
            "ceiling, saturated",
            scenario.ceiling_rate(),
            secs,
        ),
    )
    .await?;
    let at_target = generator::run(
        workload(&hello_url),
        &phase_settings(scenario, "ceiling, at target", rate, secs),
    )
    .await?;
    hello.stop(STOP_GRACE).await;
    eprintln!(
        "    saturated: {:.0} requests/s; at {rate}/s: p99 {}",
        saturated.achieved_per_sec,
        p99_text(&at_target)
    );
    Ok(Ceiling {
        server: "a bare axum server (`wrapsd load --serve-hello`) that returns a small JSON body for every request".to_owned(),
        saturated,
        at_target,
    })
}

/// Returns the load's completed requests per second divided by the
/// saturated ceiling's.
fn share_of(load: &Phase, ceiling: &Ceiling) -> f64 {
    load.achieved_per_sec / ceiling.saturated.achieved_per_sec.max(f64::EPSILON)
}

/// Compares the load's p99 latencies with the scenario's targets.
fn target_results(scenario: &Scenario, load: &Phase, rate: f64) -> Vec<TargetResult> {
    scenario
        .targets
        .iter()
        .map(|target| {
            let stats = load.operation(&target.operation);
            let p99_ms = stats.and_then(|s| s.latency.as_ref()).map(|l| l.p99_ms);
            TargetResult {
                operation: target.operation.clone(),
                route: stats.map_or_else(String::new, |s| s.route.clone()),
                target_rate: rate,
                p99_budget_ms: target.p99_ms,
                p99_ms,
                met: p99_ms.is_some_and(|p99| p99 < target.p99_ms),
            }
        })
        .collect()
}

/// The SES simulator and wrapsd of one backend's run.
pub(super) struct Services {
    simulator: Tracked,
    pub(super) sim_endpoint: String,
    /// The wrapsd processes, the API's first.
    pub(super) servers: Vec<Tracked>,
    pub(super) base_url: String,
    pub(super) start_secs: f64,
}

impl Services {
    /// Starts the simulator and wrapsd on `storage`, with `extra_env` added
    /// to wrapsd's environment.
    pub(super) async fn start(
        backend: Backend,
        storage: &Storage,
        extra_env: &[(&'static str, String)],
        http: &reqwest::Client,
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        step("starting the SES simulator and wrapsd");
        let started = Instant::now();
        let (simulator, sim_endpoint) = bench::start_simulator(http, log_dir).await?;
        let simulator = Tracked::new(simulator);
        let mut env = vec![
            ("WRAPS_SES_ENDPOINT_URL", sim_endpoint.clone()),
            ("WRAPS_SHARDS", SHARDS.to_string()),
            ("WRAPS_METRICS_LISTEN", "127.0.0.1:0".to_owned()),
        ];
        env.extend(extra_env.iter().cloned());
        env.extend(storage.env.iter().cloned());
        let (servers, base_url) = start_wrapsd(backend, &env, http, log_dir).await?;
        Ok(Self {
            simulator,
            sim_endpoint,
            servers,
            base_url,
            start_secs: started.elapsed().as_secs_f64(),
        })
    }

    /// Names and process ids of wrapsd, the simulator and this process.
    fn pids(&self) -> Vec<(&'static str, u32)> {
        let mut pids: Vec<(&'static str, u32)> = self
            .servers
            .iter()
            .map(|server| (server.child().name(), server.pid()))
            .collect();
        pids.push(("ses-sim", self.simulator.pid()));
        pids.push(("load generator", std::process::id()));
        pids
    }

    /// Fails when a wrapsd process has exited.
    pub(super) fn check_running(&mut self) -> anyhow::Result<()> {
        for server in self.servers.iter_mut() {
            server.child_mut().check_running()?;
        }
        Ok(())
    }

    /// Checks that wrapsd still runs, reads the simulator's counters and
    /// stops every process.
    pub(super) async fn finish(
        mut self,
        http: &reqwest::Client,
    ) -> anyhow::Result<SimulatorCounts> {
        self.check_running()?;
        let stats: SimStats = http
            .get(format!("{}/sim/stats", self.sim_endpoint))
            .send()
            .await?
            .json()
            .await
            .context("GET /sim/stats returned no statistics")?;

        step("stopping the processes and cleaning up");
        while let Some(server) = self.servers.pop() {
            server.stop(STOP_GRACE).await;
        }
        self.simulator.stop(STOP_GRACE).await;
        Ok(SimulatorCounts {
            accepted: stats.accepted,
            duplicates: stats.duplicates,
            throttled: stats.throttled,
        })
    }
}

/// CPU time and peak memory of the services, from the start of a load
/// phase until [`ResourceWatch::finish`].
pub(super) struct ResourceWatch {
    pids: Vec<(&'static str, u32)>,
    sampler: Arc<MemorySampler>,
    sampler_task: tokio::task::JoinHandle<()>,
    start: UsageSnapshot,
}

impl ResourceWatch {
    pub(super) fn start(services: &Services) -> Self {
        let pids = services.pids();
        let (sampler, sampler_task) = MemorySampler::spawn(pids.clone());
        let start = UsageSnapshot::take(&pids);
        Self {
            pids,
            sampler,
            sampler_task,
            start,
        }
    }

    /// Stops sampling and returns each process's resources and the usage of
    /// the whole machine.
    pub(super) fn finish(self) -> (Vec<ProcessResources>, Usage) {
        let usage = self.start.until(&UsageSnapshot::take(&self.pids));
        self.sampler.sample();
        self.sampler_task.abort();
        let resources = self
            .pids
            .iter()
            .map(|(name, pid)| ProcessResources {
                name: (*name).to_owned(),
                pid: *pid,
                cpu_secs: usage
                    .processes_cpu_seconds
                    .get(*name)
                    .copied()
                    .unwrap_or(0.0),
                peak_rss_bytes: self.sampler.peak(name),
            })
            .collect();
        (resources, usage)
    }
}

fn p99_text(phase: &Phase) -> String {
    phase
        .all
        .latency
        .as_ref()
        .map_or_else(|| "-".to_owned(), |l| format!("{:.2} ms", l.p99_ms))
}

/// The store of one run and what removes it: a data directory, or a
/// database and a Redis key prefix. Dropping it removes them.
pub(super) struct Storage {
    pub(super) database_url: String,
    /// `WRAPS_*` variables that point wrapsd at this store.
    env: Vec<(&'static str, String)>,
    pub(super) description: String,
    _cleanup: Cleanup,
}

/// The guards that remove a store's data when dropped.
enum Cleanup {
    DataDir {
        _dir: DataDir,
    },
    // Fields drop in order: the keys, then the database.
    Shared {
        _redis: RedisKeys,
        _database: BenchDatabase,
    },
}

impl Storage {
    pub(super) async fn create(
        backend: Backend,
        context: &RunContext,
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        match backend {
            Backend::Embedded => {
                let dir = log_dir.join("data");
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let database_url = format!("sqlite://{}", dir.join("wrapsd.db").display());
                Ok(Self {
                    database_url,
                    env: vec![("WRAPS_DATA_DIR", dir.display().to_string())],
                    description: format!("SQLite in {}", dir.display()),
                    _cleanup: Cleanup::DataDir { _dir: DataDir(dir) },
                })
            }
            Backend::PostgresRedis => {
                let database =
                    BenchDatabase::create(&context.admin_url, &context.run_id, false).await?;
                let prefix = format!("wraps-load-{}", context.run_id);
                let redis = RedisKeys::new(&context.redis_url, &prefix);
                Ok(Self {
                    database_url: database.url().to_owned(),
                    description: format!(
                        "PostgreSQL database {}, Redis key prefix {prefix}",
                        database.name()
                    ),
                    env: vec![
                        ("WRAPS_DATABASE_URL", database.url().to_owned()),
                        ("WRAPS_REDIS_URL", context.redis_url.clone()),
                        ("WRAPS_REDIS_PREFIX", prefix),
                    ],
                    _cleanup: Cleanup::Shared {
                        _redis: redis,
                        _database: database,
                    },
                })
            }
        }
    }
}

/// A data directory deleted when dropped.
struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        match std::fs::remove_dir_all(&self.0) {
            Ok(()) => eprintln!("    deleted the data directory {}", self.0.display()),
            Err(err) => eprintln!(
                "    deleting the data directory {} failed: {err}; delete it by hand",
                self.0.display()
            ),
        }
    }
}

/// The store after setup.
pub(super) struct Prepared {
    pub(super) org: OrgId,
    pub(super) api_key: String,
    /// Ids of the seeded contacts, in the order of their seeded index.
    pub(super) contact_ids: Vec<String>,
    pub(super) migrate_secs: f64,
    pub(super) import_secs: f64,
}

/// Migrates the store and adds the organisation, its key and the contacts.
pub(super) async fn prepare_store(url: &str, seed: u64, count: u64) -> anyhow::Result<Prepared> {
    let options = ConnectOptions {
        max_connections: 2,
        ..ConnectOptions::default()
    };
    let started = Instant::now();
    let store = Store::connect_with(url, &options)
        .await
        .context("cannot connect to the run's store")?;
    store
        .migrate()
        .await
        .context("cannot migrate the run's store")?;
    let migrate_secs = started.elapsed().as_secs_f64();

    let org = store.create_org("Load test", "business").await?;
    let api_key = store
        .create_api_key(org.id, "wrapsd load", KeyType::Live, None)
        .await?
        .plaintext;

    let rows = seed::contacts(seed, count);
    let started = Instant::now();
    for chunk in rows.chunks(IMPORT_CHUNK) {
        let outcome = store.import_contacts(org.id, chunk, None).await?;
        anyhow::ensure!(
            outcome.created == chunk.len() as u64,
            "the import created {} of {} contacts; the seeded addresses should all be new",
            outcome.created,
            chunk.len()
        );
    }
    let import_secs = started.elapsed().as_secs_f64();

    let filter = ContactFilter {
        page: 1,
        page_size: i64::try_from(count).context("too many contacts")?,
        ..ContactFilter::default()
    };
    let (listed, _) = store.list_contacts(org.id, &filter).await?;
    let by_email: std::collections::HashMap<&str, String> = listed
        .iter()
        .filter_map(|contact| {
            let email = contact.email.as_deref()?;
            Some((email, contact.id.to_string()))
        })
        .collect();
    let contact_ids = rows
        .iter()
        .map(|row| by_email.get(row.email.as_str()).cloned())
        .collect::<Option<Vec<_>>>()
        .context("a seeded contact is missing after the import")?;
    store.close().await;

    Ok(Prepared {
        org: org.id,
        api_key,
        contact_ids,
        migrate_secs,
        import_secs,
    })
}

/// Starts wrapsd on `backend` and returns its processes, the API's first,
/// and the API's base URL.
async fn start_wrapsd(
    backend: Backend,
    env: &[(&'static str, String)],
    http: &reqwest::Client,
    log_dir: &Path,
) -> anyhow::Result<(Vec<Tracked>, String)> {
    match backend {
        Backend::Embedded => {
            let listen = format!("127.0.0.1:{}", free_port()?);
            let mut env = env.to_vec();
            env.push(("WRAPS_LISTEN", listen.clone()));
            let mut serve = ChildProcess::start("serve", &["serve"], &env, log_dir)?;
            let base_url = format!("http://{listen}");
            serve
                .wait_for_http(http, &format!("{base_url}/health"), STARTUP_TIMEOUT)
                .await?;
            Ok((vec![Tracked::new(serve)], base_url))
        }
        Backend::PostgresRedis => {
            let (dispatcher, api, base_url) = bench::start_pipeline(env, http, log_dir).await?;
            // Stopped from the end: the API first, then the dispatcher.
            Ok((vec![Tracked::new(dispatcher), Tracked::new(api)], base_url))
        }
    }
}

/// Starts `wrapsd load --serve-hello` on a free port.
async fn start_hello(http: &reqwest::Client, log_dir: &Path) -> anyhow::Result<(Tracked, String)> {
    let listen = format!("127.0.0.1:{}", free_port()?);
    let mut hello =
        ChildProcess::start("hello", &["load", "--serve-hello", &listen], &[], log_dir)?;
    let url = format!("http://{listen}");
    hello
        .wait_for_http(http, &format!("{url}/health"), STARTUP_TIMEOUT)
        .await?;
    Ok((Tracked::new(hello), url))
}

/// The simulated AWS account's connection.
pub(super) struct Connection {
    pub(super) id: String,
    /// Secret of the SES event webhook, sent in `x-wraps-api-key`.
    pub(super) webhook_secret: String,
}

/// Connects the simulated AWS account through `POST /v1/connections`.
pub(super) async fn connect_account(api: &Api) -> anyhow::Result<Connection> {
    let connection = api
        .post(
            "/v1/connections",
            json!({ "accountId": SIMULATED_ACCOUNT, "region": "us-east-1", "features": { "email": true } }),
        )
        .await?;
    let field = |name: &str| {
        connection[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("POST /v1/connections returned no {name}"))
    };
    Ok(Connection {
        id: field("connectionId")?,
        webhook_secret: field("webhookSecret")?,
    })
}

/// Sends a batch through the connection to the audience that `audience`
/// names (`name`, `audienceType` and its fields) and returns its id once it
/// completed, at most `timeout` later.
pub(super) async fn send_batch(
    api: &Api,
    connection_id: &str,
    audience: Value,
    timeout: Duration,
) -> anyhow::Result<String> {
    let mut body = json!({
        "awsAccountId": connection_id,
        "from": "news@example.com",
        "fromName": "wrapsd load",
        "subject": "Hello {{firstName}}",
        "htmlContent": "<p>Hello {{firstName}}, this batch gives the load test a batch to read.</p>",
    });
    if let (Some(body), Value::Object(audience)) = (body.as_object_mut(), audience) {
        body.extend(audience);
    }
    let batch = api.post("/v1/batch", body).await?;
    let batch_id = batch["id"]
        .as_str()
        .context("POST /v1/batch returned no id")?
        .to_owned();

    let started = Instant::now();
    loop {
        let detail = api.get(&format!("/v1/batch/{batch_id}")).await?;
        match detail["status"].as_str() {
            Some("completed") => return Ok(batch_id),
            Some(status @ ("failed" | "cancelled")) => {
                bail!("the batch ended {status}: {detail}")
            }
            _ => {}
        }
        if started.elapsed() > timeout {
            bail!(
                "the batch did not complete within {timeout:?}; last status {}",
                detail["status"]
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A JSON client of the API with the run's key.
pub(super) struct Api {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) key: String,
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let request = self.http.post(format!("{}{path}", self.base)).json(&body);
        self.send("POST", path, request).await
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send("GET", path, request).await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.key)
            .send()
            .await
            .with_context(|| format!("{method} {path} failed"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("{method} {path} returned no JSON ({status})"))?;
        if !status.is_success() {
            bail!("{method} {path} returned {status}: {body}");
        }
        Ok(body)
    }
}
