//! The delivery feedback loop end to end, through the built binary: a
//! 10,000-recipient topic broadcast through `wrapsd ses-sim`, which posts
//! SES events for every accepted message to wrapsd's SES webhook, with 2%
//! permanent bounces and 0.1% complaints.
//!
//! Afterwards the batch counters must equal the events the simulator
//! posted, the bounced and complaining contacts must be marked so, and a
//! second broadcast to the same topic must skip exactly them.
//!
//! It runs on the embedded default (SQLite, in-process streams) and, when
//! `WRAPS_TEST_DATABASE_URL` and `WRAPS_TEST_REDIS_URL` are set, against a
//! fresh PostgreSQL database and a Redis key prefix of its own.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{admin, free_ports, wait_ready, Api, Process};
use serde_json::{json, Value};
use sqlx::Connection;

const ACCOUNT: &str = "111122223333";
const CONTACTS: usize = 10_000;
const TOPIC: &str = "news";

/// PostgreSQL and Redis of the shared pass, with a database made for this
/// run and dropped after it.
struct Shared {
    admin_url: String,
    database: String,
    database_url: String,
    redis_url: String,
    prefix: String,
}

impl Shared {
    async fn create() -> Option<Self> {
        let admin_url = std::env::var("WRAPS_TEST_DATABASE_URL").ok()?;
        let redis_url = std::env::var("WRAPS_TEST_REDIS_URL").ok()?;
        if admin_url.is_empty() || redis_url.is_empty() {
            return None;
        }
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let database = format!("wraps_loop_{}", &suffix[..12]);
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        Some(Self {
            database_url: format!("{base}/{database}"),
            admin_url,
            database,
            redis_url,
            prefix: format!("wraps-test-{suffix}"),
        })
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("WRAPS_DATABASE_URL", self.database_url.clone()),
            ("WRAPS_REDIS_URL", self.redis_url.clone()),
            ("WRAPS_REDIS_PREFIX", self.prefix.clone()),
        ]
    }

    async fn drop_database(&self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ))
            .execute(&mut admin)
            .await;
        }
    }
}

async fn sim_stats(http: &reqwest::Client, sim_url: &str) -> Value {
    http.get(format!("{sim_url}/sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn get(api: &Api, path: &str) -> Value {
    let (status, body) = api.call(reqwest::Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Waits until the batch reaches a terminal status.
async fn wait_batch(api: &Api, id: &str, server: &mut Process) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        server.assert_running();
        let batch = get(api, &format!("/v1/batch/{id}")).await;
        if ["completed", "failed", "cancelled"].contains(&batch["status"].as_str().unwrap_or("")) {
            return batch;
        }
        assert!(
            Instant::now() < deadline,
            "batch {id} did not finish: {batch}\n{}",
            server.tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn broadcast(api: &Api, connection: &str, topic: &str, name: &str) -> String {
    let batch = api
        .post(
            "/v1/batch",
            json!({
                "awsAccountId": connection,
                "name": name,
                "audienceType": "topic",
                "topicId": topic,
                "from": "news@example.com",
                "subject": "Hello {{firstName|there}}",
                "htmlContent": "<p>Hi {{firstName|there}}</p>",
            }),
        )
        .await;
    batch["id"]
        .as_str()
        .expect("POST /v1/batch returned no id")
        .to_owned()
}

fn count(counts: &Value, event_type: &str) -> i64 {
    counts[event_type].as_i64().unwrap_or(0)
}

async fn contacts_with_status(api: &Api, status: &str) -> i64 {
    let page = get(
        api,
        &format!("/v1/contacts?emailStatus={status}&pageSize=1"),
    )
    .await;
    page["total"]
        .as_i64()
        .unwrap_or_else(|| panic!("no total in {page}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_recipient_loop_suppresses_and_counts() {
    let shared = Shared::create().await;
    let storage_env = shared.as_ref().map(Shared::env).unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("wrapsd");
    std::fs::create_dir_all(&data_dir).unwrap();
    let ports = free_ports(2);
    let (sim_port, api_port) = (ports[0], ports[1]);
    let sim_url = format!("http://127.0.0.1:{sim_port}");
    let api_url = format!("http://127.0.0.1:{api_port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    if shared.is_some() {
        admin(&data_dir, &storage_env, &["migrate"]);
    }
    let org = admin(
        &data_dir,
        &storage_env,
        &["orgs", "create", "--name", "Loop", "--plan", "pro"],
    );
    let key = admin(
        &data_dir,
        &storage_env,
        &["keys", "create", "--org", &org, "--name", "loop"],
    );
    let topic = admin(
        &data_dir,
        &storage_env,
        &[
            "topics", "create", "--org", &org, "--name", "News", "--slug", TOPIC,
        ],
    );
    let csv = dir.path().join("contacts.csv");
    let mut rows = String::from("email,first_name\n");
    for i in 0..CONTACTS {
        rows.push_str(&format!("reader{i:05}@example.com,Reader{i}\n"));
    }
    std::fs::write(&csv, rows).unwrap();
    admin(
        &data_dir,
        &storage_env,
        &[
            "contacts",
            "import",
            "--org",
            &org,
            "--topic",
            TOPIC,
            csv.to_str().unwrap(),
        ],
    );

    let mut serve = Command::new(env!("CARGO_BIN_EXE_wrapsd"));
    serve
        .arg("serve")
        .env("WRAPS_LISTEN", format!("127.0.0.1:{api_port}"))
        .env("WRAPS_METRICS_LISTEN", "127.0.0.1:0")
        .env("WRAPS_DATA_DIR", &data_dir)
        .env_remove("WRAPS_DATABASE_URL")
        .env_remove("WRAPS_REDIS_URL")
        .env("WRAPS_SES_ENDPOINT_URL", &sim_url)
        .env("RUST_LOG", "warn");
    for (name, value) in &storage_env {
        serve.env(name, value);
    }
    let mut server = Process::spawn("wrapsd serve", &mut serve, dir.path());
    wait_ready(
        &http,
        &format!("{api_url}/health/ready"),
        &mut server,
        Duration::from_secs(60),
    )
    .await;
    let api = Api {
        http: http.clone(),
        base: api_url.clone(),
        key,
    };
    let connection = api
        .post(
            "/v1/connections",
            json!({ "accountId": ACCOUNT, "region": "us-east-1", "features": { "email": true } }),
        )
        .await;
    let connection_id = connection["connectionId"].as_str().unwrap().to_owned();
    let secret = connection["webhookSecret"].as_str().unwrap().to_owned();

    let mut simulator = Process::spawn(
        "ses-sim",
        Command::new(env!("CARGO_BIN_EXE_wrapsd"))
            .args(["ses-sim", "--listen", &format!("127.0.0.1:{sim_port}")])
            .args(["--webhook", &format!("{api_url}/webhooks/ses/{ACCOUNT}")])
            .args(["--account", ACCOUNT])
            .args(["--bounce-ratio", "0.02", "--complaint-ratio", "0.001"])
            .args(["--open-ratio", "0.05", "--click-ratio", "0.01"])
            .args(["--seed", "11"])
            .env("WRAPS_SES_SIM_WEBHOOK_SECRET", &secret)
            .env("RUST_LOG", "warn"),
        dir.path(),
    );
    wait_ready(
        &http,
        &format!("{sim_url}/sim/stats"),
        &mut simulator,
        Duration::from_secs(20),
    )
    .await;

    let first = broadcast(&api, &connection_id, &topic, "First").await;
    let batch = wait_batch(&api, &first, &mut server).await;
    assert_eq!(batch["status"], "completed", "{batch}");
    assert_eq!(batch["sent"], CONTACTS as i64, "{batch}");

    // Wait until the simulator has posted every event and wrapsd has
    // applied them: the counters then stop moving and match.
    let deadline = Instant::now() + Duration::from_secs(180);
    let stats = loop {
        simulator.assert_running();
        server.assert_running();
        let stats = sim_stats(&http, &sim_url).await;
        let webhook = &stats["webhook"];
        let batch = get(&api, &format!("/v1/batch/{first}")).await;
        let settled = webhook["pendingMessages"] == 0
            && ["Delivery", "Bounce", "Complaint", "Open", "Click"]
                .iter()
                .all(|t| {
                    count(&webhook["generated"], t)
                        == count(&webhook["posted"], t) + count(&webhook["failed"], t)
                })
            && batch["delivered"].as_i64() == webhook["posted"]["Delivery"].as_i64()
            && batch["bounced"].as_i64() == webhook["posted"]["Bounce"].as_i64()
            && batch["complained"].as_i64() == webhook["posted"]["Complaint"].as_i64();
        if settled {
            break webhook.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the loop did not settle: simulator {webhook}, batch {batch}\n{}\n{}",
            server.tail(),
            simulator.tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Anything still queued lands before the exact comparison.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let batch = get(&api, &format!("/v1/batch/{first}")).await;

    let posted = &stats["posted"];
    for event_type in ["Delivery", "Bounce", "Complaint", "Open", "Click"] {
        assert_eq!(count(&stats["failed"], event_type), 0, "{stats}");
    }
    let bounced = count(posted, "Bounce");
    let complained = count(posted, "Complaint");
    // 2% and 0.1% of 10,000, within a wide band around the seeded draw.
    assert!((150..=250).contains(&bounced), "bounces {bounced}");
    assert!((3..=30).contains(&complained), "complaints {complained}");
    assert_eq!(
        batch["delivered"].as_i64(),
        Some(count(posted, "Delivery")),
        "{batch}"
    );
    assert_eq!(
        batch["opened"].as_i64(),
        Some(count(posted, "Open")),
        "{batch}"
    );
    assert_eq!(
        batch["clicked"].as_i64(),
        Some(count(posted, "Click")),
        "{batch}"
    );
    assert_eq!(batch["bounced"].as_i64(), Some(bounced), "{batch}");
    assert_eq!(batch["complained"].as_i64(), Some(complained), "{batch}");
    assert_eq!(
        count(posted, "Delivery") + bounced,
        CONTACTS as i64,
        "every message was delivered or bounced"
    );

    assert_eq!(contacts_with_status(&api, "bounced").await, bounced);
    assert_eq!(contacts_with_status(&api, "complained").await, complained);

    // The second broadcast to the topic skips exactly the suppressed
    // addresses, and the simulator accepts one message per remaining one.
    let before = sim_stats(&http, &sim_url).await;
    let second = broadcast(&api, &connection_id, &topic, "Second").await;
    let batch = wait_batch(&api, &second, &mut server).await;
    assert_eq!(batch["status"], "completed", "{batch}");
    let expected = CONTACTS as i64 - bounced - complained;
    assert_eq!(batch["totalRecipients"].as_i64(), Some(expected), "{batch}");
    assert_eq!(batch["sent"].as_i64(), Some(expected), "{batch}");
    let after = sim_stats(&http, &sim_url).await;
    assert_eq!(
        after["accepted"].as_i64().unwrap() - before["accepted"].as_i64().unwrap(),
        expected,
        "{after}"
    );

    drop(simulator);
    drop(server);
    if let Some(shared) = &shared {
        shared.drop_database().await;
    }
}
