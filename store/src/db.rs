//! Connection pools, migrations and the [`Store`] handle.
//!
//! Both backends go through sqlx's `Any` driver with one SQL text per query.
//! The texts use numbered placeholders (`$1`), which PostgreSQL requires and
//! SQLite accepts as named parameters (sqlx 0.8 binds `$N` to the N-th
//! argument, so a placeholder may repeat or appear out of order). The few
//! places where the dialects differ ask [`Backend`].
//!
//! SQLite allows one writer at a time. The store therefore keeps a separate
//! pool of one connection for writes and a pool of readers, and WAL mode lets the
//! readers run while the writer works. On PostgreSQL both are the same pool.

use std::path::Path;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnectionMetadata;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};

use crate::error::StoreError;

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Database engine behind a [`Store`], chosen by the URL scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Detects the backend from a database URL.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::InvalidUrl(
                "expected a URL starting with sqlite:// or postgres://".to_owned(),
            ))
        }
    }

    /// Row-locking suffix for a `SELECT` inside a write transaction. SQLite
    /// needs none because its single writer already serialises writes.
    pub(crate) fn for_update(self) -> &'static str {
        match self {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Case-insensitive `LIKE` operator. SQLite's `LIKE` already ignores case,
    /// but only for ASCII letters.
    pub(crate) fn ilike(self) -> &'static str {
        match self {
            Backend::Sqlite => "LIKE",
            Backend::Postgres => "ILIKE",
        }
    }
}

/// Pool sizes for [`Store::connect_with`].
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Connections of the read pool (SQLite) or of the only pool (PostgreSQL).
    pub max_connections: u32,
    /// How long a query waits for a free connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// Handle to the database. Cloning is cheap: clones share the pools.
#[derive(Clone)]
pub struct Store {
    pub(crate) reader: AnyPool,
    pub(crate) writer: AnyPool,
    pub(crate) backend: Backend,
    /// Keeps a test database alive (its temporary directory) or cleans it up
    /// (its PostgreSQL schema) when the last clone of the store is dropped.
    #[cfg(feature = "test-support")]
    pub(crate) _test_guard: Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects with default pool sizes. See [`Store::connect_with`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, &ConnectOptions::default()).await
    }

    /// Connects to `sqlite://path/to/file.db` or `postgres://...`. A SQLite
    /// file and its directory are created when missing. Migrations are not
    /// applied here, so call [`Store::migrate`].
    pub async fn connect_with(url: &str, options: &ConnectOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();

        match Backend::from_url(url)? {
            Backend::Sqlite => connect_sqlite(url, options).await,
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(options.max_connections.max(1))
                    .acquire_timeout(options.acquire_timeout)
                    .connect(url)
                    .await?;
                Ok(Store::from_pools(pool.clone(), pool, Backend::Postgres))
            }
        }
    }

    pub(crate) fn from_pools(reader: AnyPool, writer: AnyPool, backend: Backend) -> Store {
        Store {
            reader,
            writer,
            backend,
            #[cfg(feature = "test-support")]
            _test_guard: None,
        }
    }

    /// Applies the pending migrations of this backend. Running it again when
    /// nothing is pending does nothing.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator.run(&self.writer).await?;
        Ok(())
    }

    /// Checks that the database responds, through the write pool so that a
    /// stuck SQLite writer shows up too.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query::<Any>("SELECT 1").execute(&self.writer).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`, which
    /// takes the write lock at once: a deferred transaction that reads first
    /// could fail with `SQLITE_BUSY` when it later tries to write, because
    /// the busy timeout does not apply to that upgrade.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        };
        Ok(tx)
    }
}

async fn connect_sqlite(url: &str, options: &ConnectOptions) -> Result<Store, StoreError> {
    let target = SqliteTarget::parse(url)?;
    if let Some(dir) = target.directory() {
        std::fs::create_dir_all(dir).map_err(|err| {
            StoreError::InvalidUrl(format!(
                "cannot create the database directory {}: {err}",
                dir.display()
            ))
        })?;
    }

    // An in-memory database lives as long as its connection, and sqlx's Any
    // driver opens a new database for every connection to `sqlite::memory:`.
    // Readers and the writer therefore share one connection that never closes.
    if target.in_memory {
        let pool = sqlite_pool_options(1, options)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(&target.url)
            .await?;
        return Ok(Store::from_pools(pool.clone(), pool, Backend::Sqlite));
    }

    let writer = sqlite_pool_options(1, options).connect(&target.url).await?;

    let reader = sqlite_pool_options(options.max_connections.max(1), options)
        .connect(&target.url)
        .await?;
    Ok(Store::from_pools(reader, writer, Backend::Sqlite))
}

fn sqlite_pool_options(max_connections: u32, options: &ConnectOptions) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(options.acquire_timeout)
        .after_connect(|conn, _meta: PoolConnectionMetadata| Box::pin(apply_sqlite_pragmas(conn)))
}

/// Per-connection SQLite settings. `journal_mode` is stored in the file, the
/// others last for the connection.
async fn apply_sqlite_pragmas(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    for pragma in [
        "PRAGMA busy_timeout = 5000",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
    ] {
        conn.execute(pragma).await?;
    }
    Ok(())
}

/// A SQLite URL with the pieces the store needs: the file path, to create its
/// directory, and whether the database lives in memory.
struct SqliteTarget {
    url: String,
    path: String,
    in_memory: bool,
}

impl SqliteTarget {
    fn parse(url: &str) -> Result<SqliteTarget, StoreError> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                StoreError::InvalidUrl("expected a URL starting with sqlite://".to_owned())
            })?;
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(StoreError::InvalidUrl(
                "the SQLite URL names no file; use sqlite://path/to/file.db".to_owned(),
            ));
        }

        let params: Vec<&str> = query.map(|q| q.split('&').collect()).unwrap_or_default();
        let in_memory = path == ":memory:" || params.contains(&"mode=memory");

        // `mode=rwc` makes SQLite create the file when it is missing.
        let url = if params.iter().any(|p| p.starts_with("mode=")) {
            url.to_owned()
        } else if query.is_some() {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };

        Ok(SqliteTarget {
            url,
            path: path.to_owned(),
            in_memory,
        })
    }

    fn directory(&self) -> Option<&Path> {
        if self.in_memory {
            return None;
        }
        Path::new(&self.path)
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_url_gets_create_mode() {
        let target = SqliteTarget::parse("sqlite://data/wraps.db").unwrap();
        assert_eq!(target.url, "sqlite://data/wraps.db?mode=rwc");
        assert_eq!(target.directory(), Some(Path::new("data")));
        assert!(!target.in_memory);
    }

    #[test]
    fn sqlite_url_keeps_explicit_mode() {
        let target = SqliteTarget::parse("sqlite:///tmp/x.db?mode=ro").unwrap();
        assert_eq!(target.url, "sqlite:///tmp/x.db?mode=ro");
        assert_eq!(target.directory(), Some(Path::new("/tmp")));
    }

    #[test]
    fn sqlite_memory_url_has_no_directory() {
        let target = SqliteTarget::parse("sqlite::memory:").unwrap();
        assert!(target.in_memory);
        assert_eq!(target.directory(), None);
    }

    #[test]
    fn unknown_scheme_is_rejected() {
        assert!(matches!(
            Backend::from_url("mysql://x"),
            Err(StoreError::InvalidUrl(_))
        ));
    }
}
