//! Test helpers for this crate and for the crates built on it (enabled by the
//! `test-support` feature).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Any, AnyConnection, Connection, Row};

use crate::db::{ConnectOptions, Store};

/// Environment variable naming an admin PostgreSQL URL. When it is set,
/// [`fresh_store`] runs on PostgreSQL instead of SQLite.
pub const DATABASE_URL_VAR: &str = "WRAPS_TEST_DATABASE_URL";

/// Schemas that [`fresh_store`] creates start with this.
const SCHEMA_PREFIX: &str = "wraps_test_";

/// Test schemas older than this are left over from a crashed run and are
/// dropped by the next one.
const STALE_SCHEMA_SECS: u64 = 3600;

/// Returns a migrated, empty store of its own: a new SQLite file in a
/// temporary directory, or, when `WRAPS_TEST_DATABASE_URL` is set, a new
/// schema in that PostgreSQL database (selected through `search_path`), so
/// tests can run in parallel. The directory or schema is removed when the
/// last clone of the store is dropped.
///
/// # Panics
///
/// Panics when the database cannot be created or migrated.
pub async fn fresh_store() -> Store {
    match std::env::var(DATABASE_URL_VAR) {
        Ok(url) if !url.is_empty() => fresh_postgres_store(&url).await,
        _ => fresh_sqlite_store().await,
    }
}

/// Returns the store's write pool, for tests that inspect columns the API
/// does not return or inject failures with triggers.
pub fn pool(store: &Store) -> sqlx::AnyPool {
    store.writer.clone()
}

async fn fresh_sqlite_store() -> Store {
    let dir = tempfile::Builder::new()
        .prefix("wraps-store-test-")
        .tempdir()
        .expect("failed to create a temporary directory for the test database");
    let url = format!("sqlite://{}", dir.path().join("wraps.db").display());

    let mut store = Store::connect_with(&url, &test_pool_options())
        .await
        .expect("failed to open the SQLite test database");
    store
        .migrate()
        .await
        .expect("failed to migrate the SQLite test database");
    store._test_guard = Some(Arc::new(dir));
    store
}

async fn fresh_postgres_store(admin_url: &str) -> Store {
    sqlx::any::install_default_drivers();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let schema = format!("{SCHEMA_PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());

    let mut admin = AnyConnection::connect(admin_url)
        .await
        .unwrap_or_else(|err| panic!("failed to connect to {DATABASE_URL_VAR}: {err}"));
    drop_stale_schemas(&mut admin, now).await;
    sqlx::query::<Any>(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("failed to create the test schema");
    let _ = admin.close().await;

    let separator = if admin_url.contains('?') { '&' } else { '?' };
    // The application name tags the store's connections so that the cleanup
    // can end them: one left idle in a transaction would block the drop.
    let url = format!(
        "{admin_url}{separator}options=-c%20search_path%3D{schema}&application_name={schema}"
    );
    let mut store = Store::connect_with(&url, &test_pool_options())
        .await
        .expect("failed to connect to the PostgreSQL test schema");
    store
        .migrate()
        .await
        .expect("failed to migrate the PostgreSQL test schema");
    store._test_guard = Some(Arc::new(SchemaGuard {
        admin_url: admin_url.to_owned(),
        schema,
    }));
    store
}

fn test_pool_options() -> ConnectOptions {
    ConnectOptions {
        max_connections: 4,
        ..ConnectOptions::default()
    }
}

/// Drops a test schema when the last store clone holding it goes away.
struct SchemaGuard {
    admin_url: String,
    schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let schema = std::mem::take(&mut self.schema);

        // Drop runs inside the test's runtime, which cannot be blocked on, so
        // the cleanup gets a thread and a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = AnyConnection::connect(&admin_url).await?;
                // A rolled-back transaction's connection may still wait in the
                // blocked runtime to be returned to its pool, holding locks.
                sqlx::query::<Any>("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1")
                    .bind(schema.as_str())
                    .execute(&mut admin)
                    .await?;
                sqlx::query::<Any>("SET lock_timeout = '10s'").execute(&mut admin).await?;
                sqlx::query::<Any>(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "failed to drop a test schema"),
            Err(_) => tracing::warn!("test schema cleanup panicked"),
        }
    }
}

/// Drops test schemas left by crashed runs. Failures are logged and ignored,
/// because another test may be dropping the same schema.
async fn drop_stale_schemas(admin: &mut AnyConnection, now_secs: u64) {
    let listed = sqlx::query::<Any>(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'wraps\\_test\\_%'",
    )
    .fetch_all(&mut *admin)
    .await;
    let rows = match listed {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(error = %err, "failed to list old test schemas");
            return;
        }
    };

    for row in rows {
        let Ok(name) = row.try_get::<String, _>("nspname") else {
            continue;
        };
        let created_secs = name
            .strip_prefix(SCHEMA_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created_secs.is_some_and(|secs| secs + STALE_SCHEMA_SECS < now_secs) {
            let dropped = sqlx::query::<Any>(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .execute(&mut *admin)
                .await;
            if let Err(err) = dropped {
                tracing::warn!(schema = %name, error = %err, "failed to drop an old test schema");
            }
        }
    }
}
