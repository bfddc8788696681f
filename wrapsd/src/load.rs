//! `wrapsd load`: the load scenarios of `load-tests/scenarios/`, run the same
//! way on any machine.
//!
//! A scenario file names its kind, target rate, duration, data size, seed and
//! backends ([`scenario`]). The kinds:
//!
//! - `api-mixed` ([`api_mixed`]): seeded contacts, then an open-loop mix of
//!   contact writes, contact reads and batch status reads at a fixed rate
//!   ([`generator`]), measured against the generator's own ceiling on a bare
//!   axum server ([`hello`]);
//! - `broadcast`: `wrapsd bench-broadcast` with the scenario's recipients;
//! - `rate-fidelity`: `wrapsd rate-fidelity`, when the build has it
//!   ([`delegate`]);
//! - `webhook-burst` ([`webhook_burst`]): one broadcast through the
//!   simulator, then an open-loop burst of SES events for its messages to
//!   the SES webhook route ([`ses_events`]), and a count of the facts the
//!   store recorded against those the accepted events carry.
//!
//! Everything runs on 127.0.0.1: wrapsd, the SES simulator, PostgreSQL and
//! Redis (never another host). A run stops by itself. Past its time limit
//! (the scenario's duration plus a fixed margin) its processes are stopped
//! and the run fails. If even that cleanup hangs, a watchdog thread kills the
//! processes the run started, by process id, and exits. The results go to
//! `--out` as JSON and Markdown ([`report`]), and the Markdown is printed.

mod api_mixed;
mod delegate;
mod generator;
mod hello;
mod report;
mod scenario;
mod seed;
mod ses_events;
mod webhook_burst;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;

use self::api_mixed::{BackendRun, RunContext};
use self::delegate::Delegated;
use self::scenario::{Backend, Kind, Overrides, Scenario};
use self::webhook_burst::WebhookRun;
use crate::bench::children::ChildProcess;
use crate::bench::database::{self, Psql};
use crate::bench::host::Machine;
use crate::bench::{command_line, loopback_url};

/// The scenario directory of the repository, for runs from another working
/// directory.
const REPOSITORY_SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../load-tests/scenarios");
const DEFAULT_SCENARIOS: &str = "load-tests/scenarios";
/// Time an `api-mixed` or `webhook-burst` run may take on one backend beyond
/// its load and ceiling phases: starting and stopping the processes, the
/// batch to read, the waits for responses and the cleanup.
const API_MIXED_MARGIN: Duration = Duration::from_secs(180);
/// Seeded contacts the time limit expects the setup to create per second.
const SETUP_CONTACTS_PER_SEC: u64 = 2_000;
/// Time each rate of `wrapsd rate-fidelity` may take beyond its seconds of
/// sending: its own wait for a batch (twice the ideal time plus a minute)
/// and the setup of a database and three dispatchers.
const RATE_FIDELITY_PER_RATE: Duration = Duration::from_secs(90);
/// How long after the time limit the watchdog kills what is left.
const HARD_KILL_AFTER: Duration = Duration::from_secs(30);
/// How long the watchdog waits after SIGINT to a delegated command.
const WATCHDOG_INTERRUPT_WAIT: Duration = Duration::from_secs(10);

/// Options of `wrapsd load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Scenario file, or the name of one in --scenarios (such as
    /// `api-mixed`).
    #[arg(conflicts_with = "list", required_unless_present_any = ["list", "serve_hello"])]
    scenario: Option<String>,
    /// List the scenarios of --scenarios and exit.
    #[arg(long)]
    list: bool,
    /// Directory of the scenario files.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_SCENARIOS)]
    scenarios: PathBuf,
    /// Directory the JSON results and the Markdown summary are written to.
    #[arg(long, value_name = "DIR", default_value = "load-results")]
    out: PathBuf,
    /// Run on this backend only, of those the scenario names.
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    /// Override the scenario's duration_secs.
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// Override the scenario's target rate, in requests per second.
    #[arg(long, value_name = "PER_SEC")]
    rate: Option<f64>,
    /// Override the scenario's number of contacts.
    #[arg(long, value_name = "N")]
    contacts: Option<u64>,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override the seconds of each ceiling measurement (`api-mixed`).
    #[arg(long, value_name = "SECS")]
    ceiling_secs: Option<u64>,
    /// Admin URL of PostgreSQL on 127.0.0.1; each run creates a database of
    /// its own on that server and drops it at the end.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// URL of Redis on 127.0.0.1; each run uses a key prefix of its own and
    /// deletes its keys at the end.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Serve the bare ceiling server on ADDR (used by the harness itself).
    #[arg(long, value_name = "ADDR", hide = true)]
    serve_hello: Option<SocketAddr>,
}

/// Everything one invocation measured: the JSON written to `--out`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadResults {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub command: String,
    pub scenario_file: String,
    /// The scenario as run, with the command line's overrides applied.
    pub scenario: Scenario,
    pub machine: Machine,
    /// `api-mixed`: one entry per backend.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<BackendRun>,
    /// `webhook-burst`: one entry per backend.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhook_runs: Vec<WebhookRun>,
    /// `broadcast` and `rate-fidelity`: the command that ran the scenario.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegated: Option<Delegated>,
}

/// Runs the scenario named on the command line (or lists them, or serves
/// the ceiling's bare server), writes its results and prints its summary.
pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    if let Some(addr) = args.serve_hello {
        return hello::serve(addr).await;
    }
    let dir = scenarios_dir(&args.scenarios);
    if args.list {
        return list(&dir);
    }
    let argument = args
        .scenario
        .as_deref()
        .context("name a scenario file, or use --list")?;
    let path = scenario::resolve(argument, &dir)?;
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let mut scenario = Scenario::load(&path)?;
    scenario.apply(&Overrides {
        backend: args.backend,
        duration_secs: args.duration,
        rate: args.rate,
        contacts: args.contacts,
        seed: args.seed,
        ceiling_secs: args.ceiling_secs,
    })?;
    let admin_url = loopback_url("--database-url", &args.database_url)?;
    loopback_url("--redis-url", &args.redis_url)?;

    // Checked before anything starts, so a build without the command fails
    // at once.
    let fidelity_help = match scenario.kind {
        Kind::RateFidelity => delegate::check_rate_fidelity().await?,
        _ => String::new(),
    };

    let limit = time_limit(&scenario);
    spawn_watchdog(limit + HARD_KILL_AFTER);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let started_at = Utc::now();
    let stem = args.out.join(format!(
        "{}-{}",
        scenario.name,
        started_at.format("%Y%m%dT%H%M%SZ")
    ));
    step(&format!(
        "scenario {} ({}) from {}; time limit {} s",
        scenario.name,
        scenario.kind.as_str(),
        path.display(),
        limit.as_secs()
    ));
    let machine = read_machine(&scenario, &admin_url, &args.redis_url).await?;

    let outcome = tokio::select! {
        finished = tokio::time::timeout(limit, execute(&scenario, &args, &admin_url, &stem, &fidelity_help)) => match finished {
            Ok(outcome) => outcome?,
            Err(_) => bail!(
                "scenario {} did not finish within its time limit of {} s; its processes were stopped",
                scenario.name,
                limit.as_secs()
            ),
        },
        _ = tokio::signal::ctrl_c() => bail!("interrupted; the scenario's processes were stopped"),
    };

    let results = LoadResults {
        started_at,
        finished_at: Utc::now(),
        command: command_line(std::env::args()),
        scenario_file: path.display().to_string(),
        scenario,
        machine,
        runs: outcome.runs,
        webhook_runs: outcome.webhook_runs,
        delegated: outcome.delegated,
    };
    let summary = report::markdown(&results);
    println!("{summary}");
    let json_path = stem.with_extension("json");
    let markdown_path = stem.with_extension("md");
    std::fs::write(&json_path, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    std::fs::write(&markdown_path, summary)
        .with_context(|| format!("cannot write {}", markdown_path.display()))?;
    eprintln!(
        "results written to {} and {}",
        json_path.display(),
        markdown_path.display()
    );

    if let Some(delegated) = &results.delegated {
        if !delegated.succeeded() {
            bail!("`{}` failed (see its output above)", delegated.command);
        }
    }
    for run in &results.webhook_runs {
        if !run.count.complete() {
            bail!(
                "backend {}: the store recorded {} facts fewer than the accepted events carry (see the summary)",
                run.measured.backend.as_str(),
                run.count.lost
            );
        }
    }
    Ok(())
}

/// Results of the kind's runner.
#[derive(Default)]
struct Outcome {
    runs: Vec<BackendRun>,
    webhook_runs: Vec<WebhookRun>,
    delegated: Option<Delegated>,
}

async fn execute(
    scenario: &Scenario,
    args: &LoadArgs,
    admin_url: &reqwest::Url,
    stem: &Path,
    fidelity_help: &str,
) -> anyhow::Result<Outcome> {
    match scenario.kind {
        Kind::ApiMixed | Kind::WebhookBurst => {
            let run_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
            let context = RunContext {
                root: std::env::temp_dir().join(format!("wraps-load-{run_id}")),
                run_id,
                admin_url: admin_url.clone(),
                redis_url: args.redis_url.clone(),
            };
            step(&format!("logs in {}", context.root.display()));
            let mut outcome = Outcome::default();
            for backend in &scenario.backends {
                step(&format!(
                    "backend {}: {}",
                    backend.as_str(),
                    backend.describe()
                ));
                if scenario.kind == Kind::ApiMixed {
                    outcome
                        .runs
                        .push(api_mixed::run(scenario, *backend, &context).await?);
                } else {
                    outcome
                        .webhook_runs
                        .push(webhook_burst::run(scenario, *backend, &context).await?);
                }
            }
            Ok(outcome)
        }
        Kind::Broadcast => {
            let results_file = stem.with_extension("bench.json");
            let delegated =
                delegate::broadcast(scenario, admin_url.as_str(), &args.redis_url, &results_file)
                    .await?;
            Ok(Outcome {
                delegated: Some(delegated),
                ..Outcome::default()
            })
        }
        Kind::RateFidelity => Ok(Outcome {
            delegated: Some(
                delegate::rate_fidelity(
                    scenario,
                    fidelity_help,
                    admin_url.as_str(),
                    &args.redis_url,
                    RATE_FIDELITY_PER_RATE,
                )
                .await?,
            ),
            ..Outcome::default()
        }),
    }
}

/// Computes the time limit of a scenario: its duration plus a fixed margin.
/// `api-mixed` and `webhook-burst` add the ceiling phases and the contacts'
/// setup per backend, and `webhook-burst` also its broadcast and its wait
/// for the counters.
fn time_limit(scenario: &Scenario) -> Duration {
    let duration = Duration::from_secs(scenario.duration_secs);
    let contacts = scenario.contacts().unwrap_or(0);
    let setup = Duration::from_secs(contacts / SETUP_CONTACTS_PER_SEC);
    let ceiling = Duration::from_secs(2 * scenario.ceiling_secs());
    let backends = scenario.backends.len() as u32;
    match scenario.kind {
        Kind::ApiMixed => (duration + ceiling + setup + API_MIXED_MARGIN) * backends,
        Kind::WebhookBurst => {
            let broadcast = webhook_burst::broadcast_timeout(contacts);
            (duration
                + ceiling
                + setup
                + broadcast
                + webhook_burst::SETTLE_LIMIT
                + API_MIXED_MARGIN)
                * backends
        }
        Kind::Broadcast => duration + 2 * delegate::INTERRUPT_GRACE,
        Kind::RateFidelity => {
            let rates = scenario.rates.as_ref().map_or(1, Vec::len) as u32;
            (duration + RATE_FIDELITY_PER_RATE) * rates + 2 * delegate::INTERRUPT_GRACE
        }
    }
}

/// Reads the machine, and PostgreSQL's and Redis's versions when a backend
/// uses them.
async fn read_machine(
    scenario: &Scenario,
    admin_url: &reqwest::Url,
    redis_url: &str,
) -> anyhow::Result<Machine> {
    if !scenario.backends.contains(&Backend::PostgresRedis) {
        let unused = || "not used".to_owned();
        return Ok(Machine::read(unused(), unused(), unused()));
    }
    let admin = Psql::new(admin_url.as_str());
    Ok(Machine::read(
        database::postgres_version(&admin).await?,
        database::postgres_settings(&admin).await?,
        database::redis_version(redis_url).await?,
    ))
}

/// Returns the given directory, or the repository's when the default is
/// missing from the working directory.
fn scenarios_dir(requested: &Path) -> PathBuf {
    if requested == Path::new(DEFAULT_SCENARIOS) && !requested.is_dir() {
        let repository = PathBuf::from(REPOSITORY_SCENARIOS);
        if repository.is_dir() {
            return std::fs::canonicalize(&repository).unwrap_or(repository);
        }
    }
    requested.to_path_buf()
}

/// Prints one line per scenario file.
fn list(dir: &Path) -> anyhow::Result<()> {
    let scenarios = scenario::list(dir)?;
    if scenarios.is_empty() {
        bail!("no scenario files (*.toml) in {}", dir.display());
    }
    println!("Scenarios in {}:\n", dir.display());
    for (path, parsed) in scenarios {
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        match parsed {
            Ok(scenario) => println!(
                "  {file:<24} {:<14} {:<24} {}",
                scenario.kind.as_str(),
                scenario.backend_list(),
                scenario.description.lines().next().unwrap_or("").trim()
            ),
            Err(err) => println!("  {file:<24} invalid: {err:#}"),
        }
    }
    Ok(())
}

fn step(message: &str) {
    eprintln!("==> {message}");
}

/// Child processes the watchdog stops if the run hangs past its limit: the
/// process id, and whether it gets SIGINT first (a delegated command that
/// cleans up its own processes on it).
static CHILDREN: Mutex<Vec<(u32, bool)>> = Mutex::new(Vec::new());

fn track(pid: u32, interrupt_first: bool) {
    CHILDREN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((pid, interrupt_first));
}

fn untrack(pid: u32) {
    CHILDREN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|(tracked, _)| *tracked != pid);
}

/// Starts a thread that, `after` this long, stops the tracked child
/// processes by id and exits the process with status 124. A run that ends
/// in time exits before it wakes.
fn spawn_watchdog(after: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        eprintln!(
            "wrapsd load: still running {} s after the start, past its time limit; killing the processes it started",
            after.as_secs()
        );
        let children = CHILDREN.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let interrupted: Vec<u32> = children
            .iter()
            .filter(|(_, interrupt_first)| *interrupt_first)
            .map(|(pid, _)| *pid)
            .collect();
        for pid in &interrupted {
            delegate::signal(*pid, "-INT");
        }
        if !interrupted.is_empty() {
            std::thread::sleep(WATCHDOG_INTERRUPT_WAIT);
        }
        for (pid, _) in &children {
            delegate::signal(*pid, "-KILL");
        }
        eprintln!(
            "wrapsd load: databases named wraps_bench_* and Redis keys under wraps-load-* may be left; drop them by hand"
        );
        std::process::exit(124);
    });
}

/// A child process known to the watchdog while it lives. Dropping it kills
/// the process.
struct Tracked {
    child: Option<ChildProcess>,
    pid: u32,
}

impl Tracked {
    fn new(child: ChildProcess) -> Self {
        let pid = child.pid();
        track(pid, false);
        Self {
            child: Some(child),
            pid,
        }
    }

    fn pid(&self) -> u32 {
        self.pid
    }

    fn child(&self) -> &ChildProcess {
        self.child
            .as_ref()
            .expect("a tracked child is present until stopped")
    }

    fn child_mut(&mut self) -> &mut ChildProcess {
        self.child
            .as_mut()
            .expect("a tracked child is present until stopped")
    }

    /// Stops the process like [`ChildProcess::stop`].
    async fn stop(mut self, grace: Duration) {
        if let Some(child) = self.child.take() {
            child.stop(grace).await;
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        untrack(self.pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_file_of_the_repository_parses() {
        let scenarios = scenario::list(Path::new(REPOSITORY_SCENARIOS)).unwrap();
        assert!(scenarios.len() >= 5, "{} scenario files", scenarios.len());
        for (path, parsed) in scenarios {
            let scenario = parsed.unwrap_or_else(|err| panic!("{}: {err:#}", path.display()));
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert_eq!(scenario.name, stem, "{}", path.display());
        }
    }

    #[test]
    fn time_limit_is_the_duration_plus_a_margin() {
        let path = Path::new(REPOSITORY_SCENARIOS).join("api-mixed.toml");
        let mut scenario = Scenario::load(&path).unwrap();
        scenario
            .apply(&Overrides {
                backend: Some(Backend::Embedded),
                duration_secs: Some(30),
                contacts: Some(10_000),
                ceiling_secs: Some(5),
                ..Overrides::default()
            })
            .unwrap();
        assert_eq!(
            time_limit(&scenario),
            Duration::from_secs(30 + 10 + 5 + 180)
        );
    }

    #[test]
    fn tracked_pids_are_forgotten_when_untracked() {
        track(4_000_001, true);
        track(4_000_002, false);
        untrack(4_000_001);
        let children = CHILDREN.lock().unwrap().clone();
        assert!(!children.iter().any(|(pid, _)| *pid == 4_000_001));
        assert!(children.contains(&(4_000_002, false)));
        untrack(4_000_002);
    }
}
