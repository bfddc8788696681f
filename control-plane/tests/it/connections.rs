use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::{assert_error, TestApp};

fn register(account: &str) -> serde_json::Value {
    json!({ "accountId": account, "region": "us-east-1", "features": { "email": true } })
}

#[tokio::test]
async fn register_then_update() {
    let app = TestApp::new().await;
    let first = app
        .call(
            Method::POST,
            "/v1/connections",
            Some(register("123456789012")),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["success"], true);
    assert_eq!(
        first.body["roleArn"],
        "arn:aws:iam::123456789012:role/wraps-console-access-role"
    );
    assert_eq!(
        first.body["webhookEndpoint"],
        "http://127.0.0.1:8080/webhooks/ses/123456789012"
    );
    let external_id = first.body["externalId"].as_str().unwrap();
    assert!(
        external_id.starts_with("wraps_") && external_id.len() == 38,
        "{external_id}"
    );
    assert_eq!(first.body["webhookSecret"].as_str().unwrap().len(), 64);

    let second = app
        .call(
            Method::POST,
            "/v1/connections",
            Some(register("123456789012")),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body["connectionId"], first.body["connectionId"]);
    assert_eq!(second.body["externalId"], first.body["externalId"]);
    assert_ne!(
        second.body["webhookSecret"], first.body["webhookSecret"],
        "the secret rotates on every call"
    );
}

#[tokio::test]
async fn list_hides_secrets() {
    let app = TestApp::new().await;
    app.call(
        Method::POST,
        "/v1/connections",
        Some(register("210987654321")),
    )
    .await;
    let list = app.call(Method::GET, "/v1/connections", None).await;
    let connection = &list.body["connections"][0];
    assert_eq!(connection["accountId"], "210987654321");
    assert_eq!(connection["name"], "AWS 210987654321");
    assert_eq!(connection["emailEnabled"], true);
    assert_eq!(connection["smsEnabled"], false);
    assert_eq!(connection["webhookConnected"], true);
    assert!(connection.get("webhookSecret").is_none());
}

#[tokio::test]
async fn free_plan_allows_one_account() {
    let app = TestApp::with_plan("free").await;
    let first = app
        .call(
            Method::POST,
            "/v1/connections",
            Some(register("111111111111")),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = app
        .call(
            Method::POST,
            "/v1/connections",
            Some(register("222222222222")),
        )
        .await;
    assert_error(&second, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(
        second.body["error"],
        "AWS account limit reached (1). Upgrade your plan to add more accounts."
    );
    let again = app
        .call(
            Method::POST,
            "/v1/connections",
            Some(register("111111111111")),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "an update is not a new account"
    );
}

#[tokio::test]
async fn concurrent_registrations_respect_limit() {
    let app = TestApp::with_plan("free").await;
    let (a, b) = tokio::join!(
        app.call(
            Method::POST,
            "/v1/connections",
            Some(register("333333333333"))
        ),
        app.call(
            Method::POST,
            "/v1/connections",
            Some(register("444444444444"))
        ),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 403]);
    let list = app.call(Method::GET, "/v1/connections", None).await;
    assert_eq!(list.body["connections"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_account_is_422() {
    let app = TestApp::new().await;
    let reply = app
        .call(
            Method::POST,
            "/v1/connections",
            Some(json!({ "accountId": "12ab", "region": "mars" })),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_eq!(reply.body["details"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn delete_clears_webhook_and_is_tenant_scoped() {
    let app = TestApp::new().await;
    let created = app
        .call(
            Method::POST,
            "/v1/connections",
            Some(register("555555555555")),
        )
        .await;
    let path = format!(
        "/v1/connections/{}",
        created.body["connectionId"].as_str().unwrap()
    );

    let foreign = app
        .call_as(Some(&app.other_key), Method::DELETE, &path, None)
        .await;
    assert_error(&foreign, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(foreign.body["error"], "Connection not found");

    let reply = app.call(Method::DELETE, &path, None).await;
    assert_eq!(reply.body, json!({ "success": true }));
    let list = app.call(Method::GET, "/v1/connections", None).await;
    assert_eq!(list.body["connections"][0]["webhookConnected"], false);
    assert_eq!(
        app.call_as(Some(&app.other_key), Method::GET, "/v1/connections", None)
            .await
            .body["connections"],
        json!([])
    );
}
