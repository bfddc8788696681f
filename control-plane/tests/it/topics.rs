use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::{assert_error, TestApp};

#[tokio::test]
async fn topic_crud() {
    let app = TestApp::new().await;
    let created = app.create_topic("product-news", true).await;
    assert_eq!(created["slug"], "product-news");
    assert_eq!(created["doubleOptIn"], true);
    assert_eq!(created["description"], json!(null));
    let path = format!("/v1/topics/{}", created["id"].as_str().unwrap());

    let patched = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "description": "Monthly", "doubleOptIn": false })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["description"], "Monthly");
    assert_eq!(patched.body["doubleOptIn"], false);

    let list = app.call(Method::GET, "/v1/topics", None).await;
    assert_eq!(list.body["topics"].as_array().unwrap().len(), 1);

    assert_eq!(
        app.call(Method::DELETE, &path, None).await.body,
        json!({ "success": true })
    );
    assert_error(
        &app.call(Method::GET, &path, None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}

#[tokio::test]
async fn duplicate_slug_is_409() {
    let app = TestApp::new().await;
    app.create_topic("weekly", false).await;
    let reply = app
        .call(
            Method::POST,
            "/v1/topics",
            Some(json!({ "name": "Again", "slug": "weekly" })),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "CONFLICT");
}

#[tokio::test]
async fn invalid_topic_is_422() {
    let app = TestApp::new().await;
    let reply = app
        .call(
            Method::POST,
            "/v1/topics",
            Some(json!({ "name": "", "slug": "Has Spaces" })),
        )
        .await;
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
    assert_eq!(paths, ["name", "slug"]);
}

#[tokio::test]
async fn other_org_cannot_reach_topic() {
    let app = TestApp::new().await;
    let created = app.create_topic("mine", false).await;
    let path = format!("/v1/topics/{}", created["id"].as_str().unwrap());
    let other = Some(app.other_key.as_str());
    assert_error(
        &app.call_as(other, Method::GET, &path, None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &app.call_as(other, Method::PATCH, &path, Some(json!({ "name": "x" })))
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &app.call_as(other, Method::DELETE, &path, None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_eq!(
        app.call_as(other, Method::GET, "/v1/topics", None)
            .await
            .body["topics"],
        json!([])
    );
    assert_eq!(
        app.call(Method::GET, &path, None).await.body["name"],
        "MINE"
    );
}

#[tokio::test]
async fn non_uuid_topic_id_is_404() {
    let app = TestApp::new().await;
    assert_error(
        &app.call(Method::GET, "/v1/topics/not-a-uuid", None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
}
