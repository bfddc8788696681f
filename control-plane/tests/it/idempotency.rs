use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use crate::{assert_error, Reply, TestApp};

async fn post_with_key(app: &TestApp, key: &str, body: &Value) -> Reply {
    let request = Request::post("/v1/contacts")
        .header("authorization", format!("Bearer {}", app.key))
        .header("idempotency-key", key)
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    app.send(request).await
}

#[tokio::test]
async fn repeat_replays_the_first_response() {
    let app = TestApp::new().await;
    let body = json!({ "email": "once@example.com" });
    let first = post_with_key(&app, "key-1", &body).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = post_with_key(&app, "key-1", &body).await;
    assert_eq!(
        second.status,
        StatusCode::CREATED,
        "a replay, not a 409 duplicate: {}",
        second.body
    );
    assert_eq!(second.body["id"], first.body["id"]);
    assert_eq!(second.headers["idempotent-replayed"], "true");
}

#[tokio::test]
async fn reuse_with_another_body_is_422() {
    let app = TestApp::new().await;
    post_with_key(&app, "key-2", &json!({ "email": "first@example.com" })).await;
    let reply = post_with_key(&app, "key-2", &json!({ "email": "second@example.com" })).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    let list = app
        .call(axum::http::Method::GET, "/v1/contacts", None)
        .await;
    assert_eq!(list.body["total"], 1);
}

#[tokio::test]
async fn keys_are_scoped_per_org() {
    let app = TestApp::new().await;
    let body = json!({ "email": "scoped@example.com" });
    post_with_key(&app, "shared-key", &body).await;
    let request = Request::post("/v1/contacts")
        .header("authorization", format!("Bearer {}", app.other_key))
        .header("idempotency-key", "shared-key")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert!(reply.headers.get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn replayed_error_keeps_its_envelope() {
    let app = TestApp::new().await;
    app.create_contact(json!({ "email": "exists@example.com" }))
        .await;
    let body = json!({ "email": "exists@example.com" });
    let first = post_with_key(&app, "key-3", &body).await;
    assert_error(&first, StatusCode::CONFLICT, "CONFLICT");
    let second = post_with_key(&app, "key-3", &body).await;
    assert_error(&second, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(second.headers["idempotent-replayed"], "true");
}
