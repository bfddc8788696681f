//! Double opt-in: confirmation jobs queued by contact writes, and the
//! confirmation link's page and POST.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{TimeDelta, Utc};
use schemas::jobs::{shard_for_account, SUBSCRIPTION_CONFIRM};
use schemas::unsubscribe::{ConfirmationClaims, UnsubscribeClaims};
use schemas::{ContactId, TopicId};
use serde_json::{json, Value};
use streams::{Delivery, ShardId, WorkerId};

use crate::{assert_error, Reply, TestApp};

const ACCOUNT: &str = "123456789012";
/// Shards of `ApiConfig::default()`.
const SHARDS: u32 = 16;

async fn connect(app: &TestApp) -> String {
    let body =
        json!({ "accountId": ACCOUNT, "region": "us-east-1", "features": { "email": true } });
    let reply = app.call(Method::POST, "/v1/connections", Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["connectionId"].as_str().unwrap().to_owned()
}

/// Reads every job waiting on any shard.
async fn all_jobs(app: &TestApp) -> Vec<(u32, Delivery)> {
    let mut jobs = Vec::new();
    for shard in 0..SHARDS {
        let read = app
            .streams
            .consumer
            .read(ShardId(shard), &WorkerId::new("t"), 10, Duration::ZERO)
            .await
            .unwrap();
        jobs.extend(read.into_iter().map(|delivery| (shard, delivery)));
    }
    jobs
}

fn id_of<T: std::str::FromStr>(value: &Value) -> T
where
    T::Err: std::fmt::Debug,
{
    value["id"].as_str().unwrap().parse().unwrap()
}

/// Asserts that exactly one confirmation job for (contact, topic) is
/// queued, on the connection's shard.
async fn assert_one_confirmation(
    app: &TestApp,
    connection: &str,
    contact: ContactId,
    topic: TopicId,
) {
    let jobs = all_jobs(app).await;
    assert_eq!(jobs.len(), 1, "{:?}", jobs);
    let (shard, delivery) = &jobs[0];
    assert_eq!(*shard, shard_for_account(ACCOUNT, SHARDS));
    assert_eq!(delivery.job.kind, SUBSCRIPTION_CONFIRM);
    let payload = &delivery.job.payload;
    assert_eq!(payload["organizationId"], app.org.to_string());
    assert_eq!(payload["contactId"], contact.to_string());
    assert_eq!(payload["topicId"], topic.to_string());
    assert_eq!(payload["connectionId"], connection);
}

/// Creates a contact with a pending subscription to the double opt-in
/// topic `<b>Deals</b>`, in an organisation without an AWS connection.
async fn pending(app: &TestApp) -> (ContactId, TopicId) {
    let body = json!({ "name": "<b>Deals</b>", "slug": "deals", "doubleOptIn": true });
    let reply = app.call(Method::POST, "/v1/topics", Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let topic: TopicId = id_of(&reply.body);
    let contact = app
        .create_contact(json!({ "email": "jane.doe@example.com", "topicSlugs": ["deals"] }))
        .await;
    assert_eq!(contact["pendingTopics"], json!([topic.to_string()]));
    (id_of(&contact), topic)
}

async fn link(app: &TestApp, contact: ContactId, topic: TopicId, issued_hours_ago: i64) -> String {
    let keys = app.store.unsubscribe_keys().await.unwrap();
    let issued = Utc::now() - TimeDelta::hours(issued_hours_ago);
    keys.sign_confirmation(&ConfirmationClaims::issued_at(
        app.org, contact, topic, issued,
    ))
}

async fn page(app: &TestApp, token: &str) -> Reply {
    let request = Request::builder()
        .uri(format!("/confirm/{token}"))
        .body(Body::empty())
        .unwrap();
    app.send(request).await
}

/// Posts the way the page's form does.
async fn confirm(app: &TestApp, token: &str) -> Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/confirm/{token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::empty())
        .unwrap();
    app.send(request).await
}

/// Posts as a browser submitting the page's form does, asking for HTML.
async fn confirm_in_browser(app: &TestApp, token: &str) -> Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/confirm/{token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .body(Body::empty())
        .unwrap();
    app.send(request).await
}

async fn topic_status(app: &TestApp, contact: ContactId) -> String {
    let reply = app
        .call(Method::GET, &format!("/v1/contacts/{contact}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["topics"][0]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn create_queues_a_confirmation() {
    let app = TestApp::new().await;
    let connection = connect(&app).await;
    let deals: TopicId = id_of(&app.create_topic("deals", true).await);
    app.create_topic("news", false).await;

    let contact = app
        .create_contact(
            json!({ "email": "jane@example.com", "topicSlugs": ["deals", "news", "deals"] }),
        )
        .await;

    assert_one_confirmation(&app, &connection, id_of(&contact), deals).await;
}

#[tokio::test]
async fn patch_queues_a_confirmation() {
    let app = TestApp::new().await;
    let connection = connect(&app).await;
    let deals: TopicId = id_of(&app.create_topic("deals", true).await);
    let contact: ContactId = id_of(
        &app.create_contact(json!({ "email": "jane@example.com" }))
            .await,
    );

    let reply = app
        .call(
            Method::PATCH,
            &format!("/v1/contacts/{contact}"),
            Some(json!({ "topicIds": [deals.to_string()] })),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_one_confirmation(&app, &connection, contact, deals).await;
}

#[tokio::test]
async fn replace_queues_a_confirmation() {
    let app = TestApp::new().await;
    let connection = connect(&app).await;
    let deals: TopicId = id_of(&app.create_topic("deals", true).await);
    app.create_topic("news", false).await;
    let contact: ContactId = id_of(
        &app.create_contact(json!({ "email": "jane@example.com" }))
            .await,
    );

    let reply = app
        .call(
            Method::PUT,
            &format!("/v1/contacts/{contact}/topics"),
            Some(json!({ "topicSlugs": ["news", "deals"] })),
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["pendingTopics"], json!([deals.to_string()]));
    assert_one_confirmation(&app, &connection, contact, deals).await;
}

#[tokio::test]
async fn no_confirmation_without_pending_topics() {
    let app = TestApp::new().await;
    connect(&app).await;
    app.create_topic("news", false).await;

    app.create_contact(json!({ "email": "jane@example.com", "topicSlugs": ["news"] }))
        .await;

    assert!(all_jobs(&app).await.is_empty());
}

#[tokio::test]
async fn get_shows_the_subscription_and_changes_nothing() {
    let app = TestApp::new().await;
    let (contact, topic) = pending(&app).await;
    let token = link(&app, contact, topic, 0).await;

    for _ in 0..3 {
        let reply = page(&app, &token).await;
        assert_eq!(reply.status, StatusCode::OK);
        let html = reply.body.as_str().unwrap();
        assert!(html.contains("j***e@example.com"), "{html}");
        assert!(!html.contains("jane.doe@example.com"));
        assert!(html.contains("&lt;b&gt;Deals&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>Deals"));
        assert!(html.contains("<form method=\"post\">"));
        assert_eq!(reply.headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(reply.headers["cache-control"], "no-store");
        assert_eq!(reply.headers["referrer-policy"], "no-referrer");
        assert!(reply.headers.get("x-request-id").is_some());
    }

    assert_eq!(topic_status(&app, contact).await, "pending");
}

#[tokio::test]
async fn post_confirms_once_and_repeats_succeed() {
    let app = TestApp::new().await;
    let (contact, topic) = pending(&app).await;
    let token = link(&app, contact, topic, 0).await;

    let first = confirm(&app, &token).await;
    let status = topic_status(&app, contact).await;
    let again = confirm(&app, &token).await;

    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["success"], true);
    assert_eq!(first.body["contactId"], contact.to_string());
    assert_eq!(first.body["topicId"], topic.to_string());
    assert_eq!(status, "subscribed");
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["success"], true);
    assert_eq!(
        again.body["message"],
        "Your subscription was already confirmed."
    );
    assert_eq!(topic_status(&app, contact).await, "subscribed");
}

#[tokio::test]
async fn expired_link_is_400() {
    let app = TestApp::new().await;
    let (contact, topic) = pending(&app).await;
    let token = link(&app, contact, topic, 49).await;

    let reply = confirm(&app, &token).await;
    let html = page(&app, &token).await;

    assert_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert_eq!(reply.body["error"], "Invalid or expired confirmation link");
    assert_eq!(html.status, StatusCode::BAD_REQUEST);
    assert_eq!(html.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(topic_status(&app, contact).await, "pending");
}

#[tokio::test]
async fn other_links_are_400() {
    let app = TestApp::new().await;
    let (contact, topic) = pending(&app).await;
    let keys = app.store.unsubscribe_keys().await.unwrap();
    let unsubscribe = keys.sign(&UnsubscribeClaims {
        organization_id: app.org,
        contact_id: contact,
        topic_id: Some(topic),
    });
    let valid = link(&app, contact, topic, 0).await;
    let forged = format!("{}x", &valid[..valid.len() - 1]);

    for bad in [
        unsubscribe.as_str(),
        forged.as_str(),
        "not-a-token",
        &"a".repeat(501),
    ] {
        let reply = confirm(&app, bad).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
        assert_eq!(page(&app, bad).await.status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(topic_status(&app, contact).await, "pending");
}

#[tokio::test]
async fn unknown_contact_is_404() {
    let app = TestApp::new().await;
    let (contact, topic) = pending(&app).await;
    let keys = app.store.unsubscribe_keys().await.unwrap();
    // A contact of this organisation named in another organisation's link.
    let foreign = keys.sign_confirmation(&ConfirmationClaims::issued_at(
        app.other_org,
        contact,
        topic,
        Utc::now(),
    ));

    let reply = confirm(&app, &foreign).await;
    let html = page(&app, &foreign).await;

    assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(reply.body["error"], "Contact not found");
    assert_eq!(html.status, StatusCode::NOT_FOUND);
    assert_eq!(html.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(topic_status(&app, contact).await, "pending");
}

#[tokio::test]
async fn unsubscribed_contact_is_not_resubscribed() {
    let app = TestApp::new().await;
    let (contact, topic) = pending(&app).await;
    let token = link(&app, contact, topic, 0).await;
    assert!(app
        .store
        .unsubscribe_topic(app.org, contact, topic)
        .await
        .unwrap());

    let reply = confirm(&app, &token).await;

    assert_error(&reply, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(topic_status(&app, contact).await, "unsubscribed");
}

#[tokio::test]
async fn browser_post_gets_html_pages() {
    let app = TestApp::new().await;
    let (contact, topic) = pending(&app).await;
    let token = link(&app, contact, topic, 0).await;
    let expired = link(&app, contact, topic, 49).await;

    let confirmed = confirm_in_browser(&app, &token).await;
    let refused = confirm_in_browser(&app, &expired).await;

    assert_eq!(confirmed.status, StatusCode::OK);
    assert_eq!(
        confirmed.headers["content-type"],
        "text/html; charset=utf-8"
    );
    assert!(confirmed
        .body
        .as_str()
        .unwrap()
        .contains("Your subscription is confirmed."));
    assert_eq!(topic_status(&app, contact).await, "subscribed");
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.headers["content-type"], "text/html; charset=utf-8");
}
