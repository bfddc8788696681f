//! A dispatcher process killed with SIGKILL in the middle of a broadcast:
//! a second `wrapsd dispatch` process takes its shards over and finishes the
//! batch, and the SES simulator sees no recipient twice.
//!
//! Needs PostgreSQL and Redis shared between processes, so it runs only when
//! `WRAPS_TEST_DATABASE_URL` and `WRAPS_TEST_REDIS_URL` are set.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use load_tests::sim::{self, SimConfig};
use schemas::batches::{AudienceType, BatchStatus};
use schemas::connections::CreateConnection;
use schemas::jobs::{shard_for_account, FanOutJob, BATCH_FAN_OUT};
use schemas::BatchId;
use sqlx::Executor;
use store::{NewBatch, RegisterOptions, Store};
use streams::{Job, ShardId, Streams, StreamsConfig};

const SHARDS: u32 = 4;
const ACCOUNT: &str = "210987654321";

fn shared_services() -> Option<(String, String)> {
    let database = std::env::var("WRAPS_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())?;
    let redis = std::env::var("WRAPS_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())?;
    Some((database, redis))
}

/// Creates a database of its own for this test, so the child processes can
/// reach it by URL.
async fn fresh_database(admin_url: &str) -> String {
    sqlx::any::install_default_drivers();
    let name = format!("wraps_failover_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::AnyPool::connect(admin_url)
        .await
        .expect("connecting to WRAPS_TEST_DATABASE_URL failed");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("CREATE DATABASE failed");
    admin.close().await;
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("WRAPS_TEST_DATABASE_URL has no database name");
    format!("{base}/{name}")
}

struct Dispatch(Child);

impl Drop for Dispatch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_dispatcher(database: &str, redis: &str, prefix: &str, ses: &str) -> Dispatch {
    let child = Command::new(env!("CARGO_BIN_EXE_wrapsd"))
        .arg("dispatch")
        .env("WRAPS_DATABASE_URL", database)
        .env("WRAPS_REDIS_URL", redis)
        .env("WRAPS_REDIS_PREFIX", prefix)
        .env("WRAPS_SES_ENDPOINT_URL", ses)
        .env("WRAPS_SHARDS", SHARDS.to_string())
        .env("WRAPS_SHARD_LEASE_SECS", "2")
        .env("WRAPS_DELIVERY_LEASE_SECS", "3")
        .env("WRAPS_METRICS_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting `wrapsd dispatch` failed");
    Dispatch(child)
}

async fn batch_state(store: &Store, org: schemas::OrgId, id: BatchId) -> store::Batch {
    store
        .get_batch(org, id)
        .await
        .unwrap()
        .expect("the batch vanished")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_dispatcher_is_replaced_without_duplicates() {
    let Some((admin_url, redis_url)) = shared_services() else {
        eprintln!("skipped: set WRAPS_TEST_DATABASE_URL and WRAPS_TEST_REDIS_URL to run the failover test");
        return;
    };

    // A simulator slow enough that the batch is still running when the
    // first dispatcher dies.
    let simulator = sim::start(
        SimConfig {
            max_send_rate: Some(400.0),
            latency: Duration::from_millis(5),
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();

    let database = fresh_database(&admin_url).await;
    let store = Store::connect(&database).await.unwrap();
    store.migrate().await.unwrap();
    let org = store.create_org("Failover", "business").await.unwrap().id;
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
                role_name: "role".into(),
                api_base_url: "http://127.0.0.1:8080".into(),
                created_by: None,
            },
        )
        .await
        .unwrap();
    let rows: Vec<store::ImportRow> = (0..3000)
        .map(|i| store::ImportRow {
            email: format!("member{i}@example.com"),
            first_name: Some(format!("Member{i}")),
            ..store::ImportRow::default()
        })
        .collect();
    for chunk in rows.chunks(1000) {
        store.import_contacts(org, chunk, None).await.unwrap();
    }

    let prefix = format!("wraps-failover-{}", uuid::Uuid::new_v4().simple());
    let mut first = spawn_dispatcher(&database, &redis_url, &prefix, &simulator.endpoint());

    let batch = store
        .create_batch(
            org,
            &NewBatch {
                connection_id: Some(connection.connection_id),
                name: "failover".into(),
                channel: "email".into(),
                audience_type: Some(AudienceType::All),
                from_email: Some("news@example.com".into()),
                subject: Some("Hello {{firstName}}".into()),
                html_content: Some("<p>Hi {{firstName}}</p>".into()),
                ..NewBatch::default()
            },
        )
        .await
        .unwrap();
    let streams = Arc::new(
        Streams::redis(
            &redis_url,
            StreamsConfig {
                key_prefix: prefix.clone(),
                ..StreamsConfig::default()
            },
        )
        .await
        .unwrap(),
    );
    let job = Job::from_payload(
        BATCH_FAN_OUT,
        &FanOutJob {
            batch_id: batch.id,
            organization_id: org,
        },
    )
    .unwrap();
    streams
        .producer
        .publish(ShardId(shard_for_account(ACCOUNT, SHARDS)), &job)
        .await
        .unwrap();

    // Kill the first dispatcher once it has sent part of the batch.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = batch_state(&store, org, batch.id).await;
        if state.counters.sent >= 300 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first dispatcher sent nothing in 30 s: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = spawn_dispatcher(&database, &redis_url, &prefix, &simulator.endpoint());
    first.0.kill().expect("SIGKILL failed");
    let _ = first.0.wait();
    let sent_at_kill = batch_state(&store, org, batch.id).await.counters.sent;
    assert!(
        sent_at_kill < 3000,
        "the batch finished before the kill; slow the simulator down"
    );

    let deadline = Instant::now() + Duration::from_secs(90);
    let finished = loop {
        let state = batch_state(&store, org, batch.id).await;
        if state.status.is_terminal() {
            break state;
        }
        assert!(
            Instant::now() < deadline,
            "the survivor did not finish the batch in 90 s: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(second);

    let stats = simulator.stats();
    assert_eq!(finished.status, BatchStatus::Completed);
    assert_eq!(
        stats.duplicates, 0,
        "the simulator accepted a recipient twice"
    );
    let counters = finished.counters;
    assert_eq!(counters.total_recipients, 3000);
    assert_eq!(
        counters.sent + counters.failed + counters.unknown + counters.skipped,
        3000,
        "every eligible contact must end sent, failed or unknown: {counters:?}"
    );
    // Recipients whose call was cut by the kill end `unknown`: the simulator
    // may or may not have accepted them, but no recipient was accepted twice.
    let accepted = simulator.messages(Some(&batch.id.to_string())).len() as i64;
    assert!(
        accepted >= counters.sent,
        "accepted {accepted} < sent {}",
        counters.sent
    );
    assert!(
        accepted <= counters.sent + counters.unknown,
        "accepted {accepted} > sent + unknown {counters:?}"
    );
}
