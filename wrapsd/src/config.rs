//! Configuration in layers: built-in defaults, then an optional TOML file
//! (`--config FILE`), then `WRAPS_*` environment variables. Validated once at
//! start; an invalid setting stops the process with a message naming it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use ratelimit::{PlanSettings, Plans};
use serde::Deserialize;

/// Every setting of the `wrapsd` binary. Field names are the keys of the
/// TOML file; each also has a `WRAPS_<NAME>` environment variable.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the API listener.
    pub listen: SocketAddr,
    /// Address of the Prometheus `/metrics` listener.
    pub metrics_listen: SocketAddr,
    /// Directory of the embedded SQLite database.
    pub data_dir: PathBuf,
    /// `postgres://...` or `sqlite://...`; unset means the SQLite file
    /// `wrapsd.db` in `data_dir`.
    pub database_url: Option<String>,
    /// `redis://...` or `rediss://...`; unset means in-process streams,
    /// which only work when the API and the dispatcher share one process.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so deployments can share a Redis.
    pub redis_prefix: String,
    /// URL clients reach the API at; defaults to `http://<listen>`.
    pub public_url: Option<String>,
    /// IAM role name put into the role ARN of new AWS connections.
    pub role_name: String,
    /// Whether plan limits and feature gates apply. Turn off for a
    /// single-tenant install.
    pub plan_gates: bool,
    /// Changes to the hosted plan table, as `[plans.<id>]` tables; see
    /// `ratelimit::plans` for the keys.
    pub plans: BTreeMap<String, PlanSettings>,
    /// A TOML file of `[plans.<id>]` tables applied over `plans`
    /// (`WRAPS_PLANS_FILE`).
    pub plans_file: Option<PathBuf>,
    /// Messages of each AWS account's 24-hour quota that broadcasts leave
    /// for transactional and workflow mail.
    pub ses_daily_reserve: u64,
    /// Sender of double opt-in confirmation emails, an address verified in
    /// the customers' SES accounts (`WRAPS_CONFIRMATION_FROM`). Unset, the
    /// sender of the organisation's newest broadcast is used.
    pub confirmation_from: Option<String>,
    /// Number of dispatcher shards; fixed for the life of a deployment
    /// because AWS accounts are mapped onto shards by hash.
    pub shards: u32,
    /// Lease of a shard owner, in seconds; another dispatcher takes the
    /// shard over when the owner fails to renew within it.
    pub shard_lease_secs: u64,
    /// Seconds a dispatcher may hold a job without acknowledging it before
    /// another dispatcher takes it over. Longer than an SES call may take.
    pub delivery_lease_secs: u64,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// SES endpoint in place of AWS, for example the simulator started by
    /// `wrapsd ses-sim`. With it set, no AWS credentials or roles are used.
    pub ses_endpoint_url: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            data_dir: PathBuf::from("./wrapsd-data"),
            database_url: None,
            redis_url: None,
            redis_prefix: "wraps".into(),
            public_url: None,
            role_name: "wraps-console-access-role".into(),
            plan_gates: true,
            plans: BTreeMap::new(),
            plans_file: None,
            ses_daily_reserve: 0,
            confirmation_from: None,
            shards: 16,
            shard_lease_secs: 10,
            delivery_lease_secs: 60,
            log_format: LogFormat::Text,
            ses_endpoint_url: None,
        }
    }
}

impl Config {
    /// Loads the layers and validates the result.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("cannot read the configuration file {}", path.display())
                })?;
                toml::from_str(&text)
                    .with_context(|| format!("invalid configuration file {}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Overrides settings from `WRAPS_*` variables, read through `lookup`
    /// so tests need not touch the process environment.
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let get = |name: &str| lookup(name).filter(|value| !value.is_empty());

        if let Some(v) = get("WRAPS_LISTEN") {
            self.listen = parse_named("WRAPS_LISTEN", &v)?;
        }
        if let Some(v) = get("WRAPS_METRICS_LISTEN") {
            self.metrics_listen = parse_named("WRAPS_METRICS_LISTEN", &v)?;
        }
        if let Some(v) = get("WRAPS_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("WRAPS_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = get("WRAPS_REDIS_URL") {
            self.redis_url = Some(v);
        }
        if let Some(v) = get("WRAPS_REDIS_PREFIX") {
            self.redis_prefix = v;
        }
        if let Some(v) = get("WRAPS_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = get("WRAPS_ROLE_NAME") {
            self.role_name = v;
        }
        if let Some(v) = get("WRAPS_PLAN_GATES") {
            self.plan_gates = parse_named("WRAPS_PLAN_GATES", &v)?;
        }
        if let Some(v) = get("WRAPS_PLANS_FILE") {
            self.plans_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("WRAPS_SES_DAILY_RESERVE") {
            self.ses_daily_reserve = parse_named("WRAPS_SES_DAILY_RESERVE", &v)?;
        }
        if let Some(v) = get("WRAPS_CONFIRMATION_FROM") {
            self.confirmation_from = Some(v);
        }
        if let Some(v) = get("WRAPS_SHARDS") {
            self.shards = parse_named("WRAPS_SHARDS", &v)?;
        }
        if let Some(v) = get("WRAPS_SHARD_LEASE_SECS") {
            self.shard_lease_secs = parse_named("WRAPS_SHARD_LEASE_SECS", &v)?;
        }
        if let Some(v) = get("WRAPS_SES_ENDPOINT_URL") {
            self.ses_endpoint_url = Some(v);
        }
        if let Some(v) = get("WRAPS_DELIVERY_LEASE_SECS") {
            self.delivery_lease_secs = parse_named("WRAPS_DELIVERY_LEASE_SECS", &v)?;
        }
        if let Some(v) = get("WRAPS_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => bail!("invalid WRAPS_LOG_FORMAT {other:?}: expected text or json"),
            };
        }
        Ok(())
    }

    /// Checks combinations the types cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.database_url {
            if !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
            {
                bail!("invalid database_url (WRAPS_DATABASE_URL): expected postgres://... or sqlite://...");
            }
        }
        if let Some(url) = &self.redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                bail!("invalid redis_url (WRAPS_REDIS_URL): expected redis://... or rediss://...");
            }
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("invalid public_url (WRAPS_PUBLIC_URL) {url:?}: expected an http:// or https:// URL");
            }
        }
        if let Some(url) = &self.ses_endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("invalid ses_endpoint_url (WRAPS_SES_ENDPOINT_URL) {url:?}: expected an http:// or https:// URL");
            }
        }
        if let Some(from) = &self.confirmation_from {
            let valid = from
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
            if !valid {
                bail!("invalid confirmation_from (WRAPS_CONFIRMATION_FROM) {from:?}: expected an email address such as news@example.com");
            }
        }
        if !(1..=1024).contains(&self.shards) {
            bail!(
                "invalid shards (WRAPS_SHARDS) {}: expected 1 to 1024",
                self.shards
            );
        }
        if !(2..=300).contains(&self.shard_lease_secs) {
            bail!(
                "invalid shard_lease_secs (WRAPS_SHARD_LEASE_SECS) {}: expected 2 to 300",
                self.shard_lease_secs
            );
        }
        if !(2..=3600).contains(&self.delivery_lease_secs) {
            bail!(
                "invalid delivery_lease_secs (WRAPS_DELIVERY_LEASE_SECS) {}: expected 2 to 3600",
                self.delivery_lease_secs
            );
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(['{', '}', ' ']) {
            bail!("invalid redis_prefix (WRAPS_REDIS_PREFIX) {:?}: expected a non-empty string without braces or spaces", self.redis_prefix);
        }
        if self.role_name.is_empty() {
            bail!("invalid role_name (WRAPS_ROLE_NAME): must not be empty");
        }
        self.plan_table()?;
        Ok(())
    }

    /// Returns the plan table in effect: the hosted plans, changed by
    /// `plans`, then by the tables of `plans_file`.
    pub fn plan_table(&self) -> anyhow::Result<Plans> {
        let mut overrides = self.plans.clone();
        if let Some(path) = &self.plans_file {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct PlansFile {
                #[serde(default)]
                plans: BTreeMap<String, PlanSettings>,
            }
            let text = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "cannot read the plans file {} (WRAPS_PLANS_FILE)",
                    path.display()
                )
            })?;
            let file: PlansFile = toml::from_str(&text).with_context(|| {
                format!("invalid plans file {} (WRAPS_PLANS_FILE)", path.display())
            })?;
            overrides.extend(file.plans);
        }
        Plans::with_overrides(&overrides, self.plan_gates)
            .map_err(|err| anyhow::anyhow!("invalid plan table: {err}"))
    }

    /// Returns the database URL in effect: the configured one, or the embedded
    /// SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("wrapsd.db").display()),
        }
    }

    /// Returns the public base URL without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    pub fn shard_lease(&self) -> Duration {
        Duration::from_secs(self.shard_lease_secs)
    }
}

fn parse_named<T: std::str::FromStr>(name: &str, value: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|err| anyhow::anyhow!("invalid {name} {value:?}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn env_overrides_file() {
        let mut config: Config = toml::from_str("listen = \"127.0.0.1:9000\"\nshards = 4").unwrap();
        config
            .apply_env(env(&[("WRAPS_LISTEN", "127.0.0.1:9100")]))
            .unwrap();
        assert_eq!(config.listen.port(), 9100);
        assert_eq!(config.shards, 4);
    }

    #[test]
    fn invalid_env_names_the_variable() {
        let mut config = Config::default();
        let err = config
            .apply_env(env(&[("WRAPS_SHARDS", "many")]))
            .unwrap_err();
        assert!(err.to_string().contains("WRAPS_SHARDS"), "{err}");
    }

    #[test]
    fn unknown_file_key_is_rejected() {
        let err = toml::from_str::<Config>("listne = \"127.0.0.1:1\"").unwrap_err();
        assert!(err.to_string().contains("listne"), "{err}");
    }

    #[test]
    fn validate_rejects_bad_database_url() {
        let config = Config {
            database_url: Some("mysql://x".into()),
            ..Config::default()
        };
        let err = config.validate().unwrap_err();
        assert!(err.to_string().contains("WRAPS_DATABASE_URL"), "{err}");
    }

    #[test]
    fn plan_tables_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.toml");
        std::fs::write(&path, "[plans.pro]\nsends_per_second = 25\n").unwrap();
        let mut config: Config =
            toml::from_str("[plans.pro]\napi_requests_per_minute = 10\nsends_per_second = 5\n")
                .unwrap();
        config
            .apply_env(env(&[("WRAPS_PLANS_FILE", path.to_str().unwrap())]))
            .unwrap();
        let plans = config.plan_table().unwrap();
        // The file replaces the whole `pro` table of the configuration.
        assert_eq!(plans.get(Some("pro")).sends_per_second, Some(25));
        assert_eq!(plans.get(Some("pro")).api_requests_per_minute, Some(2_000));
        assert!(plans.enforced);

        let bad: Config = toml::from_str("[plans.free]\nsends_per_day = -3\n").unwrap();
        let err = bad.validate().unwrap_err();
        assert!(
            err.to_string().contains("plans.free.sends_per_day"),
            "{err}"
        );
    }

    #[test]
    fn default_database_is_sqlite_in_data_dir() {
        let config = Config::default();
        assert_eq!(config.database_url(), "sqlite://./wrapsd-data/wrapsd.db");
        assert_eq!(config.public_url(), "http://127.0.0.1:8080");
    }
}
