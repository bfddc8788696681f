use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{Duration, Utc};
use serde_json::json;
use store::KeyType;

use crate::{assert_error, TestApp};

const PROTECTED: [(&str, &str); 6] = [
    ("GET", "/v1/contacts"),
    ("POST", "/v1/contacts"),
    ("GET", "/v1/topics"),
    ("POST", "/v1/topics"),
    ("GET", "/v1/connections"),
    ("POST", "/v1/connections"),
];

#[tokio::test]
async fn missing_key_is_401_everywhere() {
    let app = TestApp::new().await;
    for (method, path) in PROTECTED {
        let reply = app.call_as(None, method.parse().unwrap(), path, None).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        assert_eq!(reply.body["error"], "Unauthorized", "{method} {path}");
    }
}

#[tokio::test]
async fn unknown_key_is_401() {
    let app = TestApp::new().await;
    let fake = "wraps_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let reply = app
        .call_as(Some(fake), Method::GET, "/v1/contacts", None)
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn session_token_is_401() {
    let app = TestApp::new().await;
    let reply = app
        .call_as(
            Some("some-session-token"),
            Method::GET,
            "/v1/contacts",
            None,
        )
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn bearer_prefix_is_optional() {
    let app = TestApp::new().await;
    let request = Request::get("/v1/contacts")
        .header("authorization", app.key.clone())
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn revoked_key_is_401() {
    let app = TestApp::new().await;
    let key = app
        .store
        .create_api_key(app.org, "short-lived", KeyType::Test, None)
        .await
        .unwrap();
    assert_eq!(
        app.call_as(Some(&key.plaintext), Method::GET, "/v1/contacts", None)
            .await
            .status,
        StatusCode::OK
    );

    app.store.revoke_api_key(key.record.id).await.unwrap();
    let reply = app
        .call_as(Some(&key.plaintext), Method::GET, "/v1/contacts", None)
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn expired_key_is_401() {
    let app = TestApp::new().await;
    let expired = Utc::now() - Duration::minutes(1);
    let key = app
        .store
        .create_api_key(app.org, "old", KeyType::Restricted, Some(expired))
        .await
        .unwrap();
    let reply = app
        .call_as(Some(&key.plaintext), Method::GET, "/v1/contacts", None)
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn auth_runs_before_validation() {
    let app = TestApp::new().await;
    let reply = app
        .call_as(
            None,
            Method::POST,
            "/v1/contacts",
            Some(json!({ "email": 42 })),
        )
        .await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let request = Request::post("/v1/contacts")
        .body(Body::from("{not json"))
        .unwrap();
    assert_error(
        &app.send(request).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    );
}
