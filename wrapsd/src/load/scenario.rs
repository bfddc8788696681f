//! Scenario files: one TOML file per load scenario in `load-tests/scenarios/`,
//! parsed, checked against its kind and changed by the command line's
//! overrides before anything starts.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// Seed of a scenario that names none.
const DEFAULT_SEED: u64 = 1;
/// HTTP/1.1 keep-alive connections of the load generator by default.
const DEFAULT_CONNECTIONS: usize = 64;
/// Seconds of each of the two ceiling measurements by default.
const DEFAULT_CEILING_SECS: u64 = 5;
/// Arrival rate of the ceiling's saturation phase by default: far above
/// what two cores can serve, so the generator runs as fast as it can.
const DEFAULT_CEILING_RATE: f64 = 100_000.0;
/// Recipients of the broadcast whose messages a `webhook-burst` reports
/// events for, when the scenario names no `contacts`.
const DEFAULT_WEBHOOK_CONTACTS: u64 = 10_000;
/// Operations a target of `api-mixed` may name.
const API_MIXED_TARGETS: [&str; 4] = ["create-contact", "get-contact", "get-batch", "all"];
/// Operations a target of `webhook-burst` may name: one per event type,
/// `duplicate` for a delivery posted again unchanged, and `all`.
const WEBHOOK_BURST_TARGETS: [&str; 7] = [
    "delivery",
    "open",
    "click",
    "bounce",
    "complaint",
    "duplicate",
    "all",
];

/// Scenario kind, which selects the runner.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Open-loop HTTP load on the contacts and batch endpoints.
    ApiMixed,
    /// One broadcast through `wrapsd bench-broadcast`.
    Broadcast,
    /// `wrapsd rate-fidelity`, when this build has that command.
    RateFidelity,
    /// Open-loop SES events to the webhook route, counted in the store
    /// afterwards.
    WebhookBurst,
}

impl Kind {
    /// Returns the name used in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ApiMixed => "api-mixed",
            Kind::Broadcast => "broadcast",
            Kind::RateFidelity => "rate-fidelity",
            Kind::WebhookBurst => "webhook-burst",
        }
    }
}

/// Store and queue setup of wrapsd during a run.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// A fresh SQLite file and in-process streams in one `wrapsd serve`.
    Embedded,
    /// A fresh PostgreSQL database and a Redis key prefix of its own, shared
    /// by separate `wrapsd api` and `wrapsd dispatch` processes.
    PostgresRedis,
}

impl Backend {
    /// Returns the name used in scenario files and by `--backend`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::PostgresRedis => "postgres-redis",
        }
    }

    /// Returns one line about what the backend runs, for the summary.
    pub fn describe(self) -> &'static str {
        match self {
            Backend::Embedded => "SQLite and in-process streams in one `wrapsd serve`",
            Backend::PostgresRedis => {
                "PostgreSQL and Redis, with separate `wrapsd api` and `wrapsd dispatch`"
            }
        }
    }
}

/// Message content of a broadcast scenario, as `bench-broadcast --content`
/// takes it.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Content {
    Template,
    Html,
}

impl Content {
    /// Returns the value of `bench-broadcast --content`.
    pub fn as_str(self) -> &'static str {
        match self {
            Content::Template => "template",
            Content::Html => "html",
        }
    }
}

/// Relative weights of the operations of an `api-mixed` scenario.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// `POST /v1/contacts` with a new address.
    pub create_contact: u32,
    /// `GET /v1/contacts/{id}` of a contact created before the run.
    pub get_contact: u32,
    /// `GET /v1/batch/{id}` of the batch created before the run.
    pub get_batch: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            create_contact: 50,
            get_contact: 30,
            get_batch: 20,
        }
    }
}

impl Mix {
    /// Returns the sum of the weights.
    pub fn total(&self) -> u32 {
        self.create_contact + self.get_contact + self.get_batch
    }
}

/// A latency target printed next to the results.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// `api-mixed`: `create-contact`, `get-contact`, `get-batch` or `all`.
    /// `webhook-burst`: `delivery`, `open`, `click`, `bounce`, `complaint`,
    /// `duplicate` or `all`.
    pub operation: String,
    /// The 99th percentile must stay under this many milliseconds.
    pub p99_ms: f64,
}

/// One scenario file. Fields that do not apply to the scenario's kind are
/// rejected rather than ignored, so that every field of a file takes effect.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub kind: Kind,
    /// Seed of every random choice of the generated data and load.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Target arrival rate in requests per second (`api-mixed`,
    /// `webhook-burst`).
    pub rate: Option<f64>,
    /// `MaxSendRate` values to hold (`rate-fidelity`).
    pub rates: Option<Vec<u64>>,
    /// Seconds of load (`api-mixed`, `webhook-burst`), seconds per rate
    /// (`rate-fidelity`) or the time limit of the whole run (`broadcast`).
    pub duration_secs: u64,
    /// Contacts created before the run (`api-mixed`), or recipients of the
    /// broadcast (`broadcast`, `webhook-burst`).
    pub contacts: Option<u64>,
    /// Backends to run on, in order.
    pub backends: Vec<Backend>,
    /// HTTP/1.1 keep-alive connections of the load generator (`api-mixed`,
    /// `webhook-burst`).
    pub connections: Option<usize>,
    /// Seconds of each ceiling measurement (`api-mixed`, `webhook-burst`).
    pub ceiling_secs: Option<u64>,
    /// Arrival rate of the ceiling's saturation phase (`api-mixed`,
    /// `webhook-burst`).
    pub ceiling_rate: Option<f64>,
    /// Operation weights (`api-mixed`).
    pub mix: Option<Mix>,
    /// Message content (`broadcast`).
    pub content: Option<Content>,
    /// Latency targets (`api-mixed`, `webhook-burst`).
    #[serde(default)]
    pub targets: Vec<Target>,
}

fn default_seed() -> u64 {
    DEFAULT_SEED
}

/// Command-line changes to a scenario, for smoke runs and single backends.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub backend: Option<Backend>,
    pub duration_secs: Option<u64>,
    pub rate: Option<f64>,
    pub contacts: Option<u64>,
    pub seed: Option<u64>,
    pub ceiling_secs: Option<u64>,
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the scenario file {}", path.display()))?;
        let scenario: Scenario = toml::from_str(&text)
            .with_context(|| format!("invalid scenario file {}", path.display()))?;
        scenario
            .validate()
            .with_context(|| format!("invalid scenario file {}", path.display()))?;
        Ok(scenario)
    }

    /// Applies `overrides` and checks the result again. An override of a
    /// setting the kind does not use is an error.
    pub fn apply(&mut self, overrides: &Overrides) -> anyhow::Result<()> {
        if let Some(backend) = overrides.backend {
            if !self.backends.contains(&backend) {
                bail!(
                    "--backend {}: scenario {} runs on {} only",
                    backend.as_str(),
                    self.name,
                    self.backend_list()
                );
            }
            self.backends = vec![backend];
        }
        if let Some(secs) = overrides.duration_secs {
            self.duration_secs = secs;
        }
        if let Some(rate) = overrides.rate {
            self.rate = Some(rate);
        }
        if let Some(contacts) = overrides.contacts {
            self.contacts = Some(contacts);
        }
        if let Some(seed) = overrides.seed {
            self.seed = seed;
        }
        if let Some(secs) = overrides.ceiling_secs {
            self.ceiling_secs = Some(secs);
        }
        self.validate()
            .context("the scenario is invalid with the command line's overrides")
    }

    /// Checks the fields against the kind.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.name.trim().is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!(
                "name {:?}: expected letters, digits, '-' and '_' only",
                self.name
            );
        }
        if self.backends.is_empty() {
            bail!("backends: name at least one of embedded, postgres-redis");
        }
        if self.duration_secs == 0 {
            bail!("duration_secs: must be at least 1");
        }

        let present = [
            ("rate", self.rate.is_some()),
            ("rates", self.rates.is_some()),
            ("contacts", self.contacts.is_some()),
            ("connections", self.connections.is_some()),
            ("ceiling_secs", self.ceiling_secs.is_some()),
            ("ceiling_rate", self.ceiling_rate.is_some()),
            ("mix", self.mix.is_some()),
            ("content", self.content.is_some()),
            ("targets", !self.targets.is_empty()),
        ];
        let (required, allowed): (&[&str], &[&str]) = match self.kind {
            Kind::ApiMixed => (
                &["rate", "contacts"],
                &[
                    "rate",
                    "contacts",
                    "connections",
                    "ceiling_secs",
                    "ceiling_rate",
                    "mix",
                    "targets",
                ],
            ),
            Kind::Broadcast => (&["contacts"], &["contacts", "content"]),
            Kind::RateFidelity => (&["rates"], &["rates"]),
            Kind::WebhookBurst => (
                &["rate"],
                &[
                    "rate",
                    "contacts",
                    "connections",
                    "ceiling_secs",
                    "ceiling_rate",
                    "targets",
                ],
            ),
        };
        for (field, is_set) in present {
            if is_set && !allowed.contains(&field) {
                bail!(
                    "{field}: not used by kind {}; remove it",
                    self.kind.as_str()
                );
            }
            if !is_set && required.contains(&field) {
                bail!("{field}: required by kind {}", self.kind.as_str());
            }
        }

        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                bail!("rate {rate}: must be above 0 requests per second");
            }
        }
        if let Some(rate) = self.ceiling_rate {
            if !(rate.is_finite() && rate > 0.0) {
                bail!("ceiling_rate {rate}: must be above 0 requests per second");
            }
        }
        if self.contacts == Some(0) {
            bail!("contacts: must be at least 1");
        }
        if self.connections == Some(0) {
            bail!("connections: must be at least 1");
        }
        if self.ceiling_secs == Some(0) {
            bail!("ceiling_secs: must be at least 1");
        }
        if let Some(rates) = &self.rates {
            if rates.is_empty() || rates.contains(&0) {
                bail!("rates: name at least one rate, each at least 1");
            }
        }
        if let Some(mix) = &self.mix {
            if mix.total() == 0 {
                bail!("mix: at least one weight must be above 0");
            }
        }
        let operations: &[&str] = match self.kind {
            Kind::WebhookBurst => &WEBHOOK_BURST_TARGETS,
            _ => &API_MIXED_TARGETS,
        };
        for target in &self.targets {
            if !operations.contains(&target.operation.as_str()) {
                bail!(
                    "targets: unknown operation {:?}; expected one of {}",
                    target.operation,
                    operations.join(", ")
                );
            }
            if !(target.p99_ms.is_finite() && target.p99_ms > 0.0) {
                bail!("targets: p99_ms of {} must be above 0", target.operation);
            }
        }
        if matches!(self.kind, Kind::Broadcast | Kind::RateFidelity)
            && self.backends != [Backend::PostgresRedis]
        {
            bail!(
                "backends: kind {} runs on postgres-redis only",
                self.kind.as_str()
            );
        }
        Ok(())
    }

    /// Returns the backends as a comma-separated list.
    pub fn backend_list(&self) -> String {
        self.backends
            .iter()
            .map(|backend| backend.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Returns `connections` or its default.
    pub fn connections(&self) -> usize {
        self.connections.unwrap_or(DEFAULT_CONNECTIONS)
    }

    /// Returns `ceiling_secs` or its default.
    pub fn ceiling_secs(&self) -> u64 {
        self.ceiling_secs.unwrap_or(DEFAULT_CEILING_SECS)
    }

    /// Returns `ceiling_rate` or its default.
    pub fn ceiling_rate(&self) -> f64 {
        self.ceiling_rate.unwrap_or(DEFAULT_CEILING_RATE)
    }

    /// Returns `contacts`, or for `webhook-burst` its default of 10,000.
    pub fn contacts(&self) -> Option<u64> {
        match (self.kind, self.contacts) {
            (Kind::WebhookBurst, None) => Some(DEFAULT_WEBHOOK_CONTACTS),
            (_, contacts) => contacts,
        }
    }

    /// Returns `mix` or the default 50/30/20 mix.
    pub fn mix(&self) -> Mix {
        self.mix.unwrap_or_default()
    }
}

/// Finds the scenario an argument names: a file path, or the name of a file
/// in `dir` with or without `.toml`.
pub fn resolve(argument: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let direct = PathBuf::from(argument);
    if direct.is_file() {
        return Ok(direct);
    }
    let file_name = if argument.ends_with(".toml") {
        argument.to_owned()
    } else {
        format!("{argument}.toml")
    };
    let in_dir = dir.join(file_name);
    if !argument.contains('/') && in_dir.is_file() {
        return Ok(in_dir);
    }
    bail!(
        "no scenario file {argument:?}; `wrapsd load --list` shows the scenarios in {}",
        dir.display()
    )
}

/// Reads every `*.toml` file of `dir`, sorted by file name, each with its
/// parse result.
pub fn list(dir: &Path) -> anyhow::Result<Vec<(PathBuf, anyhow::Result<Scenario>)>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the scenario directory {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|path| {
            let scenario = Scenario::load(&path);
            (path, scenario)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Scenario> {
        let scenario: Scenario = toml::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }

    const API_MIXED: &str = r#"
        name = "api-mixed"
        description = "mixed API load"
        kind = "api-mixed"
        seed = 7
        rate = 1000
        duration_secs = 30
        contacts = 10000
        backends = ["embedded", "postgres-redis"]

        [[targets]]
        operation = "create-contact"
        p99_ms = 10
    "#;

    #[test]
    fn api_mixed_parses_with_defaults() {
        let scenario = parse(API_MIXED).unwrap();
        assert_eq!(scenario.kind, Kind::ApiMixed);
        assert_eq!(scenario.seed, 7);
        assert_eq!(scenario.rate, Some(1000.0));
        assert_eq!(scenario.mix(), Mix::default());
        assert_eq!(scenario.connections(), DEFAULT_CONNECTIONS);
        assert_eq!(scenario.targets.len(), 1);
    }

    #[test]
    fn field_of_another_kind_is_rejected() {
        let text = API_MIXED.replace("seed = 7", "content = \"html\"");
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains("content: not used"), "{err}");
    }

    #[test]
    fn unknown_field_is_rejected() {
        let text = API_MIXED.replace("seed = 7", "speed = 7");
        assert!(parse(&text).is_err());
    }

    #[test]
    fn overrides_narrow_the_backends_and_shorten_the_run() {
        let mut scenario = parse(API_MIXED).unwrap();
        let overrides = Overrides {
            backend: Some(Backend::Embedded),
            duration_secs: Some(2),
            rate: Some(50.0),
            contacts: Some(100),
            ..Overrides::default()
        };
        scenario.apply(&overrides).unwrap();
        assert_eq!(scenario.backends, vec![Backend::Embedded]);
        assert_eq!(scenario.duration_secs, 2);
        assert_eq!(scenario.rate, Some(50.0));
        assert_eq!(scenario.contacts, Some(100));
    }

    #[test]
    fn broadcast_needs_postgres_redis() {
        let text = r#"
            name = "broadcast"
            description = "one broadcast"
            kind = "broadcast"
            duration_secs = 600
            contacts = 1000
            backends = ["embedded"]
        "#;
        let err = parse(text).unwrap_err();
        assert!(err.to_string().contains("postgres-redis only"), "{err}");
    }

    #[test]
    fn webhook_burst_takes_event_targets() {
        let text = r#"
            name = "webhook-burst"
            description = "SES events"
            kind = "webhook-burst"
            rate = 5000
            duration_secs = 30
            backends = ["embedded"]

            [[targets]]
            operation = "all"
            p99_ms = 20
        "#;
        let scenario = parse(text).unwrap();
        assert_eq!(scenario.contacts(), Some(DEFAULT_WEBHOOK_CONTACTS));
        let err = parse(&text.replace("\"all\"", "\"get-batch\"")).unwrap_err();
        assert!(err.to_string().contains("unknown operation"), "{err}");
    }

    #[test]
    fn target_with_unknown_operation_is_rejected() {
        let text = API_MIXED.replace("create-contact", "delete-contact");
        let err = parse(&text).unwrap_err();
        assert!(err.to_string().contains("unknown operation"), "{err}");
    }
}
