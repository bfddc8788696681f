use std::sync::Arc;

use axum::http::{Method, StatusCode};
use control_plane::Probe;
use futures::future::BoxFuture;

use crate::TestApp;

struct DownProbe;

impl Probe for DownProbe {
    fn name(&self) -> &'static str {
        "streams"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Err("connection refused".to_string()) })
    }
}

#[tokio::test]
async fn info_names_the_api() {
    let app = TestApp::new().await;
    let reply = app.call_as(None, Method::GET, "/", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["name"], "Wraps Platform API");
    assert_eq!(reply.body["docs"], "/swagger");
}

#[tokio::test]
async fn health_needs_no_auth() {
    let app = TestApp::new().await;
    let reply = app.call_as(None, Method::GET, "/health", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(reply.body["version"], "1.0.0");
    let timestamp = reply.body["timestamp"].as_str().unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.len() == 24,
        "{timestamp}"
    );
}

#[tokio::test]
async fn ready_checks_the_store() {
    let app = TestApp::new().await;
    let reply = app.call_as(None, Method::GET, "/health/ready", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["components"][0]["name"], "store");
    assert_eq!(reply.body["components"][0]["ok"], true);
}

#[tokio::test]
async fn ready_names_failing_component() {
    let store = store::test_support::fresh_store().await;
    let probes: Vec<Arc<dyn Probe>> = vec![
        Arc::new(control_plane::StoreProbe(store.clone())),
        Arc::new(DownProbe),
    ];
    let app = TestApp::build(store, "free", probes).await;
    let reply = app.call_as(None, Method::GET, "/health/ready", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body["code"], "INTERNAL_ERROR");
    assert!(
        reply.body["error"].as_str().unwrap().contains("streams"),
        "{}",
        reply.body
    );
    assert_eq!(reply.body["components"][1]["ok"], false);
}
