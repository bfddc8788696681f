//! API tests: the real router over a real store, driven with
//! `tower::ServiceExt::oneshot`. The store is SQLite by default and
//! PostgreSQL when `WRAPS_TEST_DATABASE_URL` is set.

mod auth;
mod connections;
mod contacts;
mod errors;
mod health;
mod idempotency;
mod openapi;
mod topics;

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
        let state = AppState::new(store.clone(), ApiConfig::default(), probes);
        Self {
            router: app(state),
            store,
            org,
            key,
            other_org,
            other_key,
        }
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
        let response = self.router.clone().oneshot(request).await.unwrap();
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
