//! `wrapsd quickstart`: a real broadcast, end to end, on the embedded
//! default. It starts an SES simulator and a server in this process, imports
//! the bundled contact export, sends a personalised broadcast to a topic
//! through the public API, shows its progress, and checks the batch's counts
//! against what the simulator accepted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use load_tests::sim::{self, SimConfig};
use serde_json::{json, Value};
use store::KeyType;

use crate::config::Config;
use crate::import::{import_contacts, ImportOptions};
use crate::serve::{self, Role};

const BUNDLED_CONTACTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../load-tests/data/quickstart-contacts.csv"
);

/// Placeholder AWS account number of the simulated SES account.
const SIMULATED_ACCOUNT: &str = "111122223333";

#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Contact CSV to import; defaults to the bundled export of 50,000 rows.
    #[arg(long, value_name = "FILE")]
    contacts: Option<PathBuf>,
    /// Directory of this run's SQLite database; its old database is replaced.
    #[arg(long, value_name = "DIR", default_value = "./wrapsd-quickstart")]
    data_dir: PathBuf,
    /// Address of the API listener (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// `MaxSendRate` of the simulated SES account, in messages per second.
    #[arg(long, default_value_t = 2000.0)]
    max_send_rate: f64,
    /// Keep the server and the simulator running after the report, until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
}

pub async fn run(args: QuickstartArgs, base: Config) -> anyhow::Result<()> {
    let contacts = args
        .contacts
        .clone()
        .unwrap_or_else(|| PathBuf::from(BUNDLED_CONTACTS));
    anyhow::ensure!(
        contacts.is_file(),
        "contact file {} not found",
        contacts.display()
    );

    step("starting the SES simulator");
    let simulator = sim::start(
        SimConfig {
            max_send_rate: Some(args.max_send_rate),
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse()?,
    )
    .await?;
    eprintln!(
        "    SES simulator at {} (MaxSendRate {}/s)",
        simulator.endpoint(),
        args.max_send_rate
    );

    step("starting wrapsd on a fresh SQLite database");
    reset_data_dir(&args.data_dir)?;
    let config = Config {
        listen: args.listen,
        metrics_listen: "127.0.0.1:0".parse()?,
        data_dir: args.data_dir.clone(),
        database_url: None,
        redis_url: None,
        ses_endpoint_url: Some(simulator.endpoint()),
        public_url: None,
        ..base
    };
    let running = serve::start(config, Role::Both, false).await?;
    let api = running.api_addr.context("the API did not start")?;
    let base_url = format!("http://{api}");
    eprintln!("    API at {base_url}");
    eprintln!("    metrics at http://{}/metrics", running.metrics_addr);

    let store = running.store.clone();
    let org = store.create_org("Quickstart", "business").await?;
    let key = store
        .create_api_key(org.id, "quickstart", KeyType::Live, None)
        .await?
        .plaintext;
    let client = Client::new(&base_url, &key);

    step("creating the topic \"newsletter\"");
    let topic = client
        .post("/v1/topics", json!({ "name": "Newsletter", "slug": "newsletter", "description": "Monthly product news" }))
        .await?;

    step(&format!("importing {}", contacts.display()));
    let summary = import_contacts(
        &store,
        &ImportOptions {
            org: org.id,
            path: contacts,
            topic_slug: Some("newsletter".into()),
            batch_rows: 1000,
            progress: true,
        },
    )
    .await?;
    eprintln!("{summary}");

    step("connecting the simulated AWS account");
    let connection = client
        .post("/v1/connections", json!({ "accountId": SIMULATED_ACCOUNT, "region": "us-east-1", "features": { "email": true } }))
        .await?;

    step("sending the broadcast");
    let batch = client
        .post(
            "/v1/batch",
            json!({
                "awsAccountId": connection["connectionId"],
                "name": "Quickstart newsletter",
                "audienceType": "topic",
                "topicId": topic["id"],
                "from": "news@example.com",
                "fromName": "wrapsd Quickstart",
                "subject": "{{firstName|Hello}}, here is this month's news",
                "htmlContent": "<p>Hi {{firstName|there}},</p><p>Thanks for reading, {{company|friend}}.</p>",
            }),
        )
        .await?;
    let batch_id = batch["id"]
        .as_str()
        .context("POST /v1/batch returned no id")?
        .to_owned();
    let finished = watch(&client, &batch_id).await?;

    let stats = simulator.stats();
    let accepted_for_batch = simulator.messages(Some(&batch_id)).len() as i64;
    let sent = finished["sent"].as_i64().unwrap_or(-1);
    let total = finished["totalRecipients"].as_i64().unwrap_or(-1);
    println!();
    println!(
        "Broadcast {batch_id}: {}",
        finished["status"].as_str().unwrap_or("?")
    );
    println!("  eligible recipients (topic subscribers, active)  {total:>8}");
    println!("  sent                                             {sent:>8}");
    println!(
        "  failed                                           {:>8}",
        finished["failed"].as_i64().unwrap_or(0)
    );
    println!(
        "  unknown outcome                                  {:>8}",
        finished["unknown"].as_i64().unwrap_or(0)
    );
    println!(
        "  skipped (became ineligible)                      {:>8}",
        finished["skipped"].as_i64().unwrap_or(0)
    );
    println!("SES simulator");
    println!("  messages accepted for this batch                 {accepted_for_batch:>8}");
    println!(
        "  distinct recipients                              {:>8}",
        stats.distinct_recipients
    );
    println!(
        "  duplicates                                       {:>8}",
        stats.duplicates
    );
    println!(
        "  throttled calls                                  {:>8}",
        stats.throttled
    );

    let consistent = finished["status"] == "completed"
        && sent == total
        && accepted_for_batch == sent
        && stats.duplicates == 0;
    if consistent {
        println!("OK: every eligible contact was sent exactly once.");
    }

    if args.keep_running {
        println!();
        println!("wrapsd keeps running at {base_url} (Swagger UI: {base_url}/swagger). Press Ctrl-C to stop.");
        println!("API key of the Quickstart organisation: {key}");
        println!(
            "SES simulator: {} (stats at {}/sim/stats)",
            simulator.endpoint(),
            simulator.endpoint()
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    running.shutdown.cancel();
    running.wait().await;
    simulator.shutdown().await;

    if !consistent {
        bail!("the broadcast's counts do not match the simulator's records (see the report above)");
    }
    Ok(())
}

fn step(message: &str) {
    eprintln!("==> {message}");
}

/// Removes the database files of an earlier quickstart run, and nothing else.
fn reset_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for name in ["wrapsd.db", "wrapsd.db-wal", "wrapsd.db-shm"] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Polls the batch until it ends, drawing a progress bar.
async fn watch(client: &Client, batch_id: &str) -> anyhow::Result<Value> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("    {bar:40} {pos}/{len} recipients  {per_sec}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut last_line = Instant::now();
    loop {
        let batch = client.get(&format!("/v1/batch/{batch_id}")).await?;
        let total = batch["totalRecipients"].as_u64().unwrap_or(0);
        let processed = batch["processedRecipients"].as_u64().unwrap_or(0);
        let status = batch["status"].as_str().unwrap_or("").to_owned();
        bar.set_length(total);
        bar.set_position(processed);
        bar.set_message(status.clone());
        if bar.is_hidden() && last_line.elapsed() >= Duration::from_secs(2) {
            eprintln!("    {processed}/{total} recipients, {status}");
            last_line = Instant::now();
        }
        if matches!(status.as_str(), "completed" | "failed" | "cancelled") {
            bar.finish();
            eprintln!("    finished in {:.1} s", started.elapsed().as_secs_f64());
            return Ok(batch);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A minimal JSON client of the API.
struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    fn new(base: &str, key: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            key: key.to_owned(),
        }
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await?;
        Self::json(path, response).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await?;
        Self::json(path, response).await
    }

    async fn json(path: &str, response: reqwest::Response) -> anyhow::Result<Value> {
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("{path} returned no JSON"))?;
        if !status.is_success() {
            bail!("{path} returned {status}: {body}");
        }
        Ok(body)
    }
}
