//! API tests: the real router over a real store, driven with
//! `tower::ServiceExt::oneshot`. The store is SQLite by default and
//! PostgreSQL when `WRAPS_TEST_DATABASE_URL` is set.

mod auth;
mod batch;
mod confirm;
mod connections;
mod contacts;
mod errors;
mod health;
mod idempotency;
mod limits;
mod openapi;
mod preferences;
mod templates;
mod topics;
mod unsubscribe;
mod webhooks;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use control_plane::{app, ApiConfig, AppState, Probe, StoreProbe};
use http_body_util::BodyExt;
use schemas::OrgId;
use serde_json::Value;
use store::{KeyType, Store};
use tower::ServiceExt;

/// A running API with two organisations, so every test can check that one
/// tenant never reaches the other's data.
pub struct TestApp {
    pub router: Router,
    pub store: Store,
    pub streams: Arc<streams::Streams>,
    /// Every template the API published to SES.
    pub ses: Arc<RecordingSes>,
    pub org: OrgId,
    pub key: String,
    pub other_org: OrgId,
    pub other_key: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_plan("business").await
    }

    pub async fn with_plan(plan: &str) -> Self {
        let store = store::test_support::fresh_store().await;
        let probes: Vec<Arc<dyn Probe>> = vec![Arc::new(StoreProbe(store.clone()))];
        Self::build(store, plan, probes).await
    }

    pub async fn build(store: Store, plan: &str, probes: Vec<Arc<dyn Probe>>) -> Self {
        Self::build_with_limiter(store, plan, probes, ratelimit::Limiter::local()).await
    }

    pub async fn build_with_limiter(
        store: Store,
        plan: &str,
        probes: Vec<Arc<dyn Probe>>,
        limiter: ratelimit::Limiter,
    ) -> Self {
        let org = store.create_org("Acme", plan).await.unwrap().id;
        let key = store
            .create_api_key(org, "tests", KeyType::Live, None)
            .await
            .unwrap()
            .plaintext;
        let other_org = store.create_org("Globex", plan).await.unwrap().id;
        let other_key = store
            .create_api_key(other_org, "tests", KeyType::Live, None)
            .await
            .unwrap()
            .plaintext;
        let streams = test_streams().await;
        let ses = Arc::new(RecordingSes::default());
        let state = AppState::new(
            store.clone(),
            streams.clone(),
            ses.clone(),
            ApiConfig::default(),
            probes,
        );
        Self {
            router: app(state.with_limits(Arc::new(ratelimit::Plans::hosted()), limiter)),
            store,
            streams,
            ses,
            org,
            key,
            other_org,
            other_key,
        }
    }

    /// Another API replica over the same store and streams, with its own
    /// rate limiter and plan table.
    pub fn replica(&self, plans: ratelimit::Plans, limiter: ratelimit::Limiter) -> Router {
        let state = AppState::new(
            self.store.clone(),
            self.streams.clone(),
            self.ses.clone(),
            ApiConfig::default(),
            Vec::new(),
        );
        app(state.with_limits(Arc::new(plans), limiter))
    }

    /// Sends a request with this app's key.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_as(Some(&self.key), method, path, body).await
    }

    pub async fn call_as(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&json).unwrap())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        send_to(&self.router, request).await
    }

    pub async fn create_contact(&self, body: Value) -> Value {
        let reply = self.call(Method::POST, "/v1/contacts", Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    pub async fn create_topic(&self, slug: &str, double_opt_in: bool) -> Value {
        let body = serde_json::json!({ "name": slug.to_uppercase(), "slug": slug, "doubleOptIn": double_opt_in });
        let reply = self.call(Method::POST, "/v1/topics", Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }
}

/// Sends `request` to `router` and reads the reply.
pub async fn send_to(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// In-process streams, or Redis under a key prefix of this test's own when
/// `WRAPS_TEST_REDIS_URL` is set.
async fn test_streams() -> Arc<streams::Streams> {
    match std::env::var("WRAPS_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let config = streams::StreamsConfig {
                key_prefix: format!("wraps-test-{}", uuid::Uuid::new_v4().simple()),
                ..streams::StreamsConfig::default()
            };
            Arc::new(streams::Streams::redis(&url, config).await.unwrap())
        }
        _ => Arc::new(streams::Streams::in_process(streams::StreamsConfig::default()).unwrap()),
    }
}

/// Asserts that `reply` is an error envelope with `status` and `code`.
#[track_caller]
pub fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.body);
    assert_eq!(reply.body["code"], code, "body: {}", reply.body);
    assert!(
        reply.body["error"].is_string(),
        "no error message: {}",
        reply.body
    );
}

/// Template content published to SES: name, subject, HTML and text.
pub type PublishedTemplate = (String, String, String, Option<String>);

/// An SES account that records published templates; the API sends nothing.
#[derive(Clone, Default)]
pub struct RecordingSes {
    pub templates: Arc<std::sync::Mutex<Vec<PublishedTemplate>>>,
}

#[async_trait::async_trait]
impl ses::SesClient for RecordingSes {
    async fn send_email(&self, _: &ses::EmailMessage) -> ses::SendOutcome {
        ses::SendOutcome::Failed {
            reason: "the API does not send".into(),
        }
    }

    async fn send_bulk_email(&self, message: &ses::BulkMessage) -> Vec<ses::SendOutcome> {
        vec![
            ses::SendOutcome::Failed {
                reason: "the API does not send".into()
            };
            message.entries.len()
        ]
    }

    async fn get_account(&self) -> Result<ses::AccountQuota, ses::SesError> {
        Ok(ses::AccountQuota {
            max_send_rate: 14.0,
            max_24h_send: 200.0,
            sent_last_24h: 0.0,
            sending_enabled: true,
            production_access_enabled: false,
            enforcement_status: None,
        })
    }

    async fn upsert_template(
        &self,
        name: &str,
        subject: &str,
        html: &str,
        text: Option<&str>,
    ) -> Result<(), ses::SesError> {
        let entry = (
            name.to_owned(),
            subject.to_owned(),
            html.to_owned(),
            text.map(str::to_owned),
        );
        self.templates.lock().unwrap().push(entry);
        Ok(())
    }

    async fn delete_template(&self, _: &str) -> Result<(), ses::SesError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl ses::SesProvider for RecordingSes {
    async fn client(&self, _: &ses::ConnectionTarget) -> Arc<dyn ses::SesClient> {
        Arc::new(self.clone())
    }
}
