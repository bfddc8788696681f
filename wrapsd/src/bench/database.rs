//! The benchmark's own PostgreSQL database and Redis keys, and the bulk
//! contacts.
//!
//! `wrapsd` reaches PostgreSQL only through the store's typed queries, so the
//! statements the store does not offer (creating and dropping a database,
//! one `INSERT ... SELECT` of a million contacts) run through `psql`, and
//! the Redis keys are removed with `redis-cli`. Both must be on `PATH`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::Url;
use schemas::OrgId;
use serde::Serialize;

/// Runs SQL through `psql` against one database URL.
pub struct Psql {
    url: String,
}

impl Psql {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
        }
    }

    /// Runs `sql` and returns its output: rows on lines, columns separated
    /// by `|`, no headers.
    pub async fn run(&self, sql: &str) -> anyhow::Result<String> {
        let output = tokio::process::Command::new("psql")
            .args(psql_args(&self.url, sql))
            .stdin(Stdio::null())
            .output()
            .await
            .context("cannot run psql; install the PostgreSQL client and put psql on PATH")?;
        if !output.status.success() {
            bail!(
                "psql failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

fn psql_args(url: &str, sql: &str) -> Vec<String> {
    [
        url,
        "--no-psqlrc",
        "--quiet",
        "--no-align",
        "--tuples-only",
        "--set",
        "ON_ERROR_STOP=1",
        "--command",
        sql,
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect()
}

/// A database created for one run and dropped, with any connection still
/// open to it, when this guard is dropped (unless it is kept).
pub struct BenchDatabase {
    admin_url: String,
    name: String,
    url: String,
    keep: bool,
}

impl BenchDatabase {
    /// Creates the database `wraps_bench_<run_id>` on the server of
    /// `admin_url`.
    pub async fn create(admin_url: &Url, run_id: &str, keep: bool) -> anyhow::Result<Self> {
        let name = format!("wraps_bench_{run_id}");
        Psql::new(admin_url.as_str())
            .run(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("cannot create the database {name}"))?;

        let mut url = admin_url.clone();
        url.set_path(&format!("/{name}"));
        Ok(Self {
            admin_url: admin_url.to_string(),
            name,
            url: url.to_string(),
            keep,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("    kept the database {} (--keep-database)", self.name);
            return;
        }
        // Blocking is fine here: the run is over, and `WITH (FORCE)`
        // (PostgreSQL 13 and later) ends the connections a killed child left.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::process::Command::new("psql")
            .args(psql_args(&self.admin_url, &sql))
            .stdin(Stdio::null())
            .output();
        match dropped {
            Ok(output) if output.status.success() => {
                eprintln!("    dropped the database {}", self.name)
            }
            Ok(output) => eprintln!(
                "    dropping the database {} failed: {}; drop it by hand",
                self.name,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            Err(err) => eprintln!(
                "    dropping the database {} failed: {err}; drop it by hand",
                self.name
            ),
        }
    }
}

/// Inserts `count` active contacts `member<i>@example.com` (first name
/// `Member <i>`) into `org` with one `INSERT ... SELECT`, then vacuums and
/// analyzes the table, as a table that has been in use for a while would be.
/// Returns the time of the insert and of the vacuum.
pub async fn insert_contacts(
    psql: &Psql,
    org: OrgId,
    count: u64,
) -> anyhow::Result<(Duration, Duration)> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    // The hash must equal `store::hash_identity`: SHA-256 hex of the trimmed,
    // lower-cased address. `sha256()` needs PostgreSQL 11 or later.
    let sql = format!(
        "INSERT INTO contacts (id, organization_id, email, email_hash, first_name, email_status, \
         properties, created_at, updated_at) \
         SELECT gen_random_uuid()::text, '{org}', m.email, \
         encode(sha256(convert_to(lower(m.email), 'UTF8')), 'hex'), 'Member ' || m.i, 'active', \
         '{{}}', {now_ms}, {now_ms} \
         FROM (SELECT i, 'member' || i || '@example.com' AS email \
               FROM generate_series(1, {count}) AS i) AS m"
    );
    let started = Instant::now();
    psql.run(&sql)
        .await
        .context("inserting the contacts failed")?;
    let inserted = started.elapsed();

    let stored_hash = psql
        .run(&format!(
            "SELECT email_hash FROM contacts WHERE organization_id = '{org}' \
             AND email = 'member1@example.com'"
        ))
        .await?;
    let expected = store::hash_identity("member1@example.com");
    if stored_hash != expected {
        bail!("the SQL email hash {stored_hash:?} differs from the store's {expected:?}");
    }

    let started = Instant::now();
    psql.run("VACUUM (ANALYZE) contacts")
        .await
        .context("vacuuming the contacts failed")?;
    Ok((inserted, started.elapsed()))
}

/// Returns PostgreSQL's `server_version`.
pub async fn postgres_version(psql: &Psql) -> anyhow::Result<String> {
    psql.run("SHOW server_version").await
}

/// Settings of the PostgreSQL server that decide how fast it absorbs
/// writes, as `name=value` pairs.
pub async fn postgres_settings(psql: &Psql) -> anyhow::Result<String> {
    psql.run(
        "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) \
         FROM unnest(ARRAY['shared_buffers', 'synchronous_commit', 'autovacuum', 'max_wal_size', \
         'checkpoint_timeout', 'fsync']) AS name",
    )
    .await
}

/// PostgreSQL's statistics of one table, since its database was created.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TableActivity {
    pub table: String,
    pub updates: u64,
    /// Updates that wrote no index entry (heap-only tuples).
    pub hot_updates: u64,
    pub dead_tuples: u64,
    /// Blocks read from outside PostgreSQL's shared buffers (the page cache
    /// or the disk), for the table and for its indexes.
    pub heap_blocks_read: u64,
    pub index_blocks_read: u64,
    pub total_size_mib: u64,
    /// Whether anything ever ran `ANALYZE` on it, so the planner has
    /// statistics.
    pub analyzed: bool,
}

/// Reads the statistics of the tables a broadcast writes. Call it after the
/// processes that wrote them stopped, because PostgreSQL publishes a
/// backend's counters only at intervals and when it exits.
pub async fn table_activity(psql: &Psql) -> anyhow::Result<Vec<TableActivity>> {
    let output = psql
        .run(
            "SELECT s.relname, s.n_tup_upd, s.n_tup_hot_upd, s.n_dead_tup, \
             coalesce(io.heap_blks_read, 0), coalesce(io.idx_blks_read, 0), \
             pg_total_relation_size(s.relid) / 1048576, \
             s.last_analyze IS NOT NULL OR s.last_autoanalyze IS NOT NULL \
             FROM pg_stat_user_tables s JOIN pg_statio_user_tables io USING (relid) \
             WHERE s.relname IN ('contacts', 'batches', 'batch_recipients') ORDER BY s.relname",
        )
        .await?;
    output.lines().map(parse_table_activity).collect()
}

fn parse_table_activity(line: &str) -> anyhow::Result<TableActivity> {
    let fields: Vec<&str> = line.split('|').collect();
    let number = |index: usize| -> anyhow::Result<u64> {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .with_context(|| format!("unexpected table statistics line {line:?}"))
    };
    Ok(TableActivity {
        table: fields[0].to_owned(),
        updates: number(1)?,
        hot_updates: number(2)?,
        dead_tuples: number(3)?,
        heap_blocks_read: number(4)?,
        index_blocks_read: number(5)?,
        total_size_mib: number(6)?,
        analyzed: fields.get(7) == Some(&"t"),
    })
}

/// Returns Redis's `redis_version` from `INFO server`.
pub async fn redis_version(redis_url: &str) -> anyhow::Result<String> {
    let output = redis_cli(redis_url, &["INFO", "server"]).await?;
    output
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .map(|version| version.trim().to_owned())
        .context("redis-cli INFO server returned no redis_version")
}

async fn redis_cli(redis_url: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = tokio::process::Command::new("redis-cli")
        .arg("-u")
        .arg(redis_url)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run redis-cli; install the Redis client and put redis-cli on PATH")?;
    if !output.status.success() {
        bail!(
            "redis-cli {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The Redis keys of one run, all under its own prefix, deleted when this
/// guard is dropped.
pub struct RedisKeys {
    url: String,
    prefix: String,
}

impl RedisKeys {
    pub fn new(url: &str, prefix: &str) -> Self {
        Self {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    fn delete(&self) -> anyhow::Result<usize> {
        let pattern = format!("{}:*", self.prefix);
        let scan = std::process::Command::new("redis-cli")
            .args(["-u", &self.url, "--scan", "--pattern", &pattern])
            .stdin(Stdio::null())
            .output()
            .context("cannot run redis-cli")?;
        if !scan.status.success() {
            bail!("{}", String::from_utf8_lossy(&scan.stderr).trim());
        }
        let stdout = String::from_utf8_lossy(&scan.stdout);
        let keys: Vec<&str> = stdout.lines().filter(|key| !key.is_empty()).collect();
        for group in keys.chunks(100) {
            let deleted = std::process::Command::new("redis-cli")
                .args(["-u", &self.url, "UNLINK"])
                .args(group)
                .stdin(Stdio::null())
                .output()
                .context("cannot run redis-cli")?;
            if !deleted.status.success() {
                bail!("{}", String::from_utf8_lossy(&deleted.stderr).trim());
            }
        }
        Ok(keys.len())
    }
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        match self.delete() {
            Ok(count) => eprintln!(
                "    deleted {count} Redis keys under the prefix {}",
                self.prefix
            ),
            Err(err) => eprintln!(
                "    deleting the Redis keys under the prefix {} failed: {err:#}; delete them by hand",
                self.prefix
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_activity_parses_psql_row() {
        let row =
            parse_table_activity("batch_recipients|3000000|0|2000000|2570|153|1074|f").unwrap();
        assert_eq!(row.table, "batch_recipients");
        assert_eq!(row.updates, 3_000_000);
        assert_eq!(row.hot_updates, 0);
        assert_eq!(row.dead_tuples, 2_000_000);
        assert_eq!(row.heap_blocks_read, 2570);
        assert_eq!(row.index_blocks_read, 153);
        assert_eq!(row.total_size_mib, 1074);
        assert!(!row.analyzed);
    }

    #[test]
    fn table_activity_rejects_short_row() {
        assert!(parse_table_activity("contacts|12").is_err());
    }

    #[test]
    fn psql_args_print_rows_only() {
        let args = psql_args("postgres://postgres@127.0.0.1/test", "SELECT 1");
        assert_eq!(args[0], "postgres://postgres@127.0.0.1/test");
        assert!(args.contains(&"ON_ERROR_STOP=1".to_owned()));
        assert!(args.contains(&"--tuples-only".to_owned()));
        assert_eq!(args.last().map(String::as_str), Some("SELECT 1"));
    }
}
