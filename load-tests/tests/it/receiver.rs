//! A webhook receiver on 127.0.0.1 for the event tests. It records every request and
//! responds with scripted statuses, then 200.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use load_tests::sim::{SimConfig, SimServer, WebhookConfig, WebhookFormat, WebhookSecret};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use webhooks::{parse_envelope, Envelope, ParsedRecord, SesEvent};

use crate::support::start_sim;

pub const ACCOUNT: &str = "111122223333";
pub const SECRET: &str = "whsec-test-0123456789";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    /// Parses the body as the webhook route does, and returns the envelope and record.
    pub fn parse(&self) -> (Envelope, SesEvent) {
        let envelope = parse_envelope(&self.body, self.header("x-amz-sns-message-type"))
            .expect("the envelope parses");
        let record = envelope
            .ses_record()
            .expect("the envelope carries a record")
            .expect("the record parses");
        match record {
            ParsedRecord::Event(event) => (envelope, *event),
            other => panic!("record without a message id: {other:?}"),
        }
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<StatusCode>>,
}

pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver that responds to the first requests with `script`, in order,
    /// and to every later one with 200.
    pub async fn start(script: &[StatusCode]) -> Self {
        let shared = Arc::new(Shared {
            received: Mutex::default(),
            script: Mutex::new(script.iter().copied().collect()),
        });
        let app = Router::new()
            .route("/webhooks/ses/{account}", post(receive))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/webhooks/ses/{ACCOUNT}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    shared
        .received
        .lock()
        .unwrap()
        .push(Received { headers, body });
    shared
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(StatusCode::OK)
}

/// Returns an EventBridge webhook configuration for `url` with the test secret and
/// account, and 10 ms between retries.
pub fn eventbridge(url: String) -> WebhookConfig {
    WebhookConfig {
        account: ACCOUNT.to_owned(),
        retry_base_delay: std::time::Duration::from_millis(10),
        ..WebhookConfig::new(url, WebhookFormat::EventBridge(WebhookSecret::new(SECRET)))
    }
}

/// Starts a simulator that posts events as `webhook` configures, with fates seeded by
/// `seed`.
pub async fn start_sim_with_webhook(webhook: WebhookConfig, seed: u64) -> SimServer {
    start_sim(SimConfig {
        seed,
        webhook: Some(webhook),
        ..SimConfig::default()
    })
    .await
}

/// Waits for every event to be posted or given up on.
pub async fn flush(sim: &SimServer) {
    assert!(
        sim.flush_events(std::time::Duration::from_secs(30)).await,
        "events still pending after 30 s: {:?}",
        sim.webhook_stats()
    );
}
