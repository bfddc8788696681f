use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::json;

use crate::{assert_error, TestApp};

#[tokio::test]
async fn unknown_route_is_404_with_request_id() {
    let app = TestApp::new().await;
    let reply = app.call(Method::GET, "/v1/nothing-here", None).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(reply.body["error"], "Not found");
    let id = reply.headers["x-request-id"].to_str().unwrap();
    assert_eq!(reply.body["requestId"], id);
}

#[tokio::test]
async fn request_id_is_echoed() {
    let app = TestApp::new().await;
    let request = Request::get("/v1/contacts/missing@example.com")
        .header("authorization", format!("Bearer {}", app.key))
        .header("x-request-id", "trace-123")
        .body(Body::empty())
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(reply.headers["x-request-id"], "trace-123");
    assert_eq!(reply.body["requestId"], "trace-123");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::new().await;
    let request = Request::post("/v1/contacts")
        .header("authorization", format!("Bearer {}", app.key))
        .header("content-type", "application/json")
        .body(Body::from("{\"email\": "))
        .unwrap();
    assert_error(
        &app.send(request).await,
        StatusCode::BAD_REQUEST,
        "MALFORMED_REQUEST",
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = TestApp::new().await;
    let big = "x".repeat(1024 * 1024 + 10);
    let reply = app
        .call(
            Method::POST,
            "/v1/contacts",
            Some(json!({ "email": "a@b.co", "properties": { "blob": big } })),
        )
        .await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
    let list = app.call(Method::GET, "/v1/contacts", None).await;
    assert_eq!(list.body["total"], 0, "an oversized request must not write");
}

#[tokio::test]
async fn invalid_fields_are_422_with_details() {
    let app = TestApp::new().await;
    let body = json!({ "email": "nope", "firstName": "x".repeat(101), "company": "ok" });
    let reply = app.call(Method::POST, "/v1/contacts", Some(body)).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    let paths: Vec<&str> = reply.body["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["email", "firstName"]);
}

#[tokio::test]
async fn wrong_type_is_422_naming_field() {
    let app = TestApp::new().await;
    let reply = app
        .call(
            Method::POST,
            "/v1/contacts",
            Some(json!({ "email": "a@b.co", "emailStatus": "gone" })),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_eq!(reply.body["details"][0]["path"], "emailStatus");
}

#[tokio::test]
async fn wrong_method_gets_envelope() {
    let app = TestApp::new().await;
    let reply = app.call(Method::PUT, "/v1/contacts", None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.body["code"], "REQUEST_FAILED");
}

#[tokio::test]
async fn trailing_slash_is_same_route() {
    let app = TestApp::new().await;
    app.create_contact(json!({ "email": "slash@example.com" }))
        .await;
    let reply = app
        .call(Method::GET, "/v1/contacts/?pageSize=5", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["total"], 1);
    assert_eq!(reply.body["pageSize"], 5);
}

#[tokio::test]
async fn cors_preflight_allows_idempotency_key() {
    let app = TestApp::new().await;
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri("/v1/contacts")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,idempotency-key",
        )
        .body(Body::empty())
        .unwrap();
    let reply = app.send(request).await;
    assert!(reply.status.is_success(), "{}", reply.status);
    assert_eq!(
        reply.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(reply.headers["access-control-max-age"], "86400");
    let allowed = reply.headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("idempotency-key"), "{allowed}");
    assert!(reply
        .headers
        .get("access-control-allow-credentials")
        .is_none());
}
