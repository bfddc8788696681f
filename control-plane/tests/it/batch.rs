use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{TimeDelta, Utc};
use http_body_util::BodyExt;
use schemas::batches::BatchStatus;
use schemas::jobs::{shard_for_account, BATCH_CHUNK, BATCH_FAN_OUT};
use schemas::{BatchId, ConnectionId};
use serde_json::{json, Value};
use store::{Batch, BatchFilter, NewBatch};
use streams::{Delivery, ShardId, WorkerId};
use tower::ServiceExt;

use crate::{assert_error, TestApp};

const ACCOUNT: &str = "123456789012";
/// Shards of `ApiConfig::default()`.
const SHARDS: u32 = 16;

/// Registers AWS account `account` for the app's organisation and returns
/// the connection id.
async fn connect(app: &TestApp, account: &str) -> String {
    let body =
        json!({ "accountId": account, "region": "us-east-1", "features": { "email": true } });
    let reply = app.call(Method::POST, "/v1/connections", Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["connectionId"].as_str().unwrap().to_owned()
}

/// Returns a valid batch body with inline HTML, sent through `connection`.
fn html_batch(connection: &str) -> Value {
    json!({ "awsAccountId": connection, "subject": "Hello", "htmlContent": "<p>Hi</p>" })
}

async fn create_batch(app: &TestApp, body: Value) -> crate::Reply {
    app.call(Method::POST, "/v1/batch", Some(body)).await
}

/// Creates a batch that must succeed and returns its id.
async fn created_batch(app: &TestApp, body: Value) -> BatchId {
    let reply = create_batch(app, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["id"].as_str().unwrap().parse().unwrap()
}

async fn stored_batch(app: &TestApp, id: BatchId) -> Batch {
    app.store.get_batch(app.org, id).await.unwrap().unwrap()
}

async fn batch_count(app: &TestApp) -> i64 {
    let filter = BatchFilter {
        page: 1,
        page_size: 100,
        ..Default::default()
    };
    app.store.list_batches(app.org, &filter).await.unwrap().1
}

/// Reads every job waiting on `shard`.
async fn jobs_on(app: &TestApp, shard: u32) -> Vec<Delivery> {
    app.streams
        .consumer
        .read(ShardId(shard), &WorkerId::new("t"), 10, Duration::ZERO)
        .await
        .unwrap()
}

/// Reads every job waiting on any shard, with its shard.
async fn all_jobs(app: &TestApp) -> Vec<(u32, Delivery)> {
    let mut jobs = Vec::new();
    for shard in 0..SHARDS {
        jobs.extend(jobs_on(app, shard).await.into_iter().map(|d| (shard, d)));
    }
    jobs
}

async fn add_contacts(app: &TestApp, emails: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for email in emails {
        let contact = app.create_contact(json!({ "email": email })).await;
        ids.push(contact["id"].as_str().unwrap().to_owned());
    }
    ids
}

fn paths(reply: &crate::Reply) -> Vec<String> {
    reply.body["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {}", reply.body))
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_owned())
        .collect()
}

// Authentication and the plan gate.

#[tokio::test]
async fn missing_key_is_401_on_every_route() {
    let app = TestApp::new().await;
    let id = BatchId::new();
    let routes = [
        (Method::GET, "/v1/batch".to_owned()),
        (Method::POST, "/v1/batch".to_owned()),
        (Method::GET, format!("/v1/batch/{id}")),
        (Method::DELETE, format!("/v1/batch/{id}")),
        (Method::GET, format!("/v1/batch/{id}/recipients")),
        (Method::POST, format!("/v1/batch/{id}/resume")),
        (Method::GET, format!("/v1/batch/{id}/events")),
    ];
    for (method, path) in routes {
        let reply = app
            .call_as(None, method.clone(), &path, Some(json!({})))
            .await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        assert_eq!(reply.body["error"], "Unauthorized", "{method} {path}");
    }
}

#[tokio::test]
async fn free_plan_is_403_before_validation() {
    let app = TestApp::with_plan("free").await;
    let id = BatchId::new();
    let routes = [
        (Method::GET, "/v1/batch".to_owned()),
        (Method::POST, "/v1/batch".to_owned()),
        (Method::GET, format!("/v1/batch/{id}")),
        (Method::DELETE, format!("/v1/batch/{id}")),
        (Method::GET, format!("/v1/batch/{id}/recipients?limit=0")),
        (Method::POST, format!("/v1/batch/{id}/resume")),
        (Method::GET, format!("/v1/batch/{id}/events")),
    ];
    for (method, path) in routes {
        // An invalid body must not win over the gate.
        let reply = app
            .call(method.clone(), &path, Some(json!({ "name": 5 })))
            .await;
        assert_error(&reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert_eq!(
            reply.body["error"],
            "Feature 'batch' requires pro plan or higher. Current plan: free. Upgrade at https://wraps.dev/upgrade",
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn plan_gate_ranks_plans() {
    for (plan, allowed) in [
        ("free", false),
        ("hobby", false),
        ("pro", true),
        ("starter", true),
        ("business", true),
        ("growth", true),
        ("scale", true),
    ] {
        let app = TestApp::with_plan(plan).await;
        let reply = app.call(Method::GET, "/v1/batch", None).await;
        let expected = if allowed {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(reply.status, expected, "plan {plan}: {}", reply.body);
    }
}

// Creating a batch.

#[tokio::test]
async fn create_queues_and_publishes_one_fan_out_job() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    add_contacts(&app, &["a@example.com", "b@example.com", "c@example.com"]).await;
    app.create_contact(json!({ "email": "gone@example.com", "emailStatus": "bounced" }))
        .await;
    app.create_contact(json!({ "phone": "+15550100" })).await;

    let reply = create_batch(&app, html_batch(&connection)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "queued");
    assert_eq!(reply.body["channel"], "email");
    assert_eq!(
        reply.body["totalRecipients"], 3,
        "bounced contacts and contacts without email are not counted"
    );
    assert!(reply.body["createdAt"].as_str().unwrap().ends_with('Z'));

    let jobs = all_jobs(&app).await;
    assert_eq!(jobs.len(), 1, "exactly one job for a queued batch");
    let (shard, delivery) = &jobs[0];
    assert_eq!(*shard, shard_for_account(ACCOUNT, SHARDS));
    assert_eq!(delivery.job.kind, BATCH_FAN_OUT);
    assert_eq!(delivery.job.payload["batchId"], reply.body["id"]);
    assert_eq!(delivery.job.payload["organizationId"], app.org.to_string());
}

#[tokio::test]
async fn create_stores_the_request() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let mut body = html_batch(&connection);
    body["name"] = json!("Spring sale");
    body["previewText"] = json!("Save now");
    body["from"] = json!("news@example.com");
    body["fromName"] = json!("Acme");
    body["replyTo"] = json!("help@example.com");
    body["variableMappings"] = json!([
        { "variableName": "code", "source": { "type": "static", "value": "SPRING" } },
        { "variableName": "first", "source": { "type": "contact", "field": "firstName" } }
    ]);
    let id = created_batch(&app, body).await;

    let batch = stored_batch(&app, id).await;
    assert_eq!(batch.name, "Spring sale");
    assert_eq!(batch.subject.as_deref(), Some("Hello"));
    assert_eq!(batch.preview_text.as_deref(), Some("Save now"));
    assert_eq!(batch.from_email.as_deref(), Some("news@example.com"));
    assert_eq!(batch.from_name.as_deref(), Some("Acme"));
    assert_eq!(batch.reply_to.as_deref(), Some("help@example.com"));
    assert_eq!(batch.html_content.as_deref(), Some("<p>Hi</p>"));
    assert_eq!(batch.variable_mappings.len(), 2);
    assert_eq!(batch.connection_id.unwrap().to_string(), connection);
    assert_eq!(batch.scheduled_for, None);
}

#[tokio::test]
async fn create_names_the_batch_by_default() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let id = created_batch(&app, html_batch(&connection)).await;
    let batch = stored_batch(&app, id).await;
    assert!(batch.name.starts_with("Batch 20"), "{}", batch.name);
}

#[tokio::test]
async fn given_total_recipients_is_trusted() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    add_contacts(&app, &["a@example.com"]).await;
    let mut body = html_batch(&connection);
    body["totalRecipients"] = json!(1234);
    let reply = create_batch(&app, body).await;
    assert_eq!(reply.body["totalRecipients"], 1234);
}

#[tokio::test]
async fn idempotency_key_creates_one_batch_and_one_job() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let body = serde_json::to_vec(&html_batch(&connection)).unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let request = Request::post("/v1/batch")
            .header("authorization", format!("Bearer {}", app.key))
            .header("idempotency-key", "send-once")
            .body(Body::from(body.clone()))
            .unwrap();
        let reply = app.send(request).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        ids.push(reply.body["id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(batch_count(&app).await, 1);
    assert_eq!(all_jobs(&app).await.len(), 1);
}

// Schedules.

#[tokio::test]
async fn future_schedule_publishes_no_job() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let at = Utc::now() + TimeDelta::hours(2);
    let mut body = html_batch(&connection);
    body["scheduledFor"] = json!(schemas::time::format(&at));

    let reply = create_batch(&app, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "scheduled");
    assert!(all_jobs(&app).await.is_empty(), "a scheduled batch waits");

    let id: BatchId = reply.body["id"].as_str().unwrap().parse().unwrap();
    let batch = stored_batch(&app, id).await;
    assert_eq!(
        batch.scheduled_for.map(|t| t.timestamp_millis()),
        Some(at.timestamp_millis())
    );
}

#[tokio::test]
async fn recent_past_schedule_sends_now() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let mut body = html_batch(&connection);
    body["scheduledFor"] = json!(schemas::time::format(
        &(Utc::now() - TimeDelta::seconds(30))
    ));

    let reply = create_batch(&app, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "queued");
    assert_eq!(all_jobs(&app).await.len(), 1);
}

#[tokio::test]
async fn invalid_or_old_schedule_is_400() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;

    let mut body = html_batch(&connection);
    body["scheduledFor"] = json!("next tuesday");
    let reply = create_batch(&app, body).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert_eq!(reply.body["error"], "scheduledFor is not a valid date");

    let mut body = html_batch(&connection);
    body["scheduledFor"] = json!(schemas::time::format(
        &(Utc::now() - TimeDelta::seconds(90))
    ));
    let reply = create_batch(&app, body).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert!(
        reply.body["error"]
            .as_str()
            .unwrap()
            .contains("more than 60 seconds in the past"),
        "{}",
        reply.body
    );

    assert_eq!(batch_count(&app).await, 0, "no partial write");
    assert!(all_jobs(&app).await.is_empty());
}

// The AWS account.

#[tokio::test]
async fn foreign_aws_account_is_403_with_batch_body() {
    let app = TestApp::new().await;
    let other = app
        .call_as(
            Some(&app.other_key),
            Method::POST,
            "/v1/connections",
            Some(json!({ "accountId": "210987654321", "region": "eu-west-1" })),
        )
        .await;
    let foreign = other.body["connectionId"].as_str().unwrap().to_owned();

    for account in [
        foreign.as_str(),
        "not-a-uuid",
        "00000000-0000-4000-8000-000000000000",
    ] {
        let reply = create_batch(&app, html_batch(account)).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{account}: {}",
            reply.body
        );
        let body = reply.body.as_object().unwrap();
        assert_eq!(body["id"], "");
        assert_eq!(body["status"], "error");
        assert_eq!(body["channel"], "email");
        assert_eq!(body["totalRecipients"], 0);
        assert!(body["createdAt"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            body["error"],
            "AWS account does not belong to this organization"
        );
        assert_eq!(body["code"], "FORBIDDEN");
        assert_eq!(body.len(), 7, "no other fields: {}", reply.body);
    }
    assert_eq!(batch_count(&app).await, 0);
    assert!(all_jobs(&app).await.is_empty());
}

// Field validation.

#[tokio::test]
async fn oversized_fields_are_422_naming_each() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let cases = [
        ("awsAccountId", 37),
        ("name", 256),
        ("topicId", 37),
        ("segmentId", 37),
        ("subject", 999),
        ("previewText", 501),
        ("from", 256),
        ("fromName", 101),
        ("replyTo", 256),
        ("templateId", 37),
        ("body", 1601),
        ("senderId", 21),
    ];
    for (field, length) in cases {
        let mut body = html_batch(&connection);
        body[field] = json!("x".repeat(length));
        let reply = create_batch(&app, body).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        );
        assert_eq!(paths(&reply), [field], "{field}");
    }
    assert_eq!(batch_count(&app).await, 0);
}

#[tokio::test]
async fn limits_themselves_are_accepted() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let mut body = html_batch(&connection);
    body["name"] = json!("n".repeat(255));
    body["subject"] = json!("s".repeat(998));
    body["previewText"] = json!("p".repeat(500));
    body["fromName"] = json!("f".repeat(100));
    let reply = create_batch(&app, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn invalid_values_are_422_naming_the_field() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let cases = [
        ("channel", json!("fax"), "channel"),
        ("channel", json!("sms"), "channel"),
        ("audienceType", json!("segment"), "audienceType"),
        ("audienceType", json!("everyone"), "audienceType"),
        ("totalRecipients", json!(-1), "totalRecipients"),
        ("totalRecipients", json!("ten"), "totalRecipients"),
        ("recipients", json!(["a@example.com"]), "recipients"),
        (
            "variableMappings",
            json!([{ "variableName": " ", "source": { "type": "static", "value": "x" } }]),
            "variableMappings[0].variableName",
        ),
        (
            "variableMappings",
            json!([{ "variableName": "x", "source": { "type": "magic" } }]),
            "variableMappings[0].source",
        ),
    ];
    for (field, value, path) in cases {
        let mut body = html_batch(&connection);
        body[field] = value.clone();
        let reply = create_batch(&app, body).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        );
        let found = paths(&reply);
        assert!(
            found.iter().any(|p| p.starts_with(path)),
            "{field}={value}: expected {path}, got {found:?}"
        );
    }

    let reply = create_batch(&app, json!({ "subject": "x", "htmlContent": "<p>" })).await;
    assert_eq!(paths(&reply), ["awsAccountId"]);
    assert_eq!(batch_count(&app).await, 0);
}

#[tokio::test]
async fn sms_and_segments_say_they_are_unsupported() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let mut body = html_batch(&connection);
    body["channel"] = json!("sms");
    body["audienceType"] = json!("segment");
    let reply = create_batch(&app, body).await;
    let details = reply.body["details"].as_array().unwrap();
    assert_eq!(details[0]["path"], "channel");
    assert!(details[0]["message"]
        .as_str()
        .unwrap()
        .contains("not supported"));
    assert_eq!(details[1]["path"], "audienceType");
    assert!(details[1]["message"]
        .as_str()
        .unwrap()
        .contains("not supported"));
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::new().await;
    let request = Request::post("/v1/batch")
        .header("authorization", format!("Bearer {}", app.key))
        .header("content-type", "application/json")
        .body(Body::from("{\"awsAccountId\": "))
        .unwrap();
    let reply = app.send(request).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");
    assert_eq!(batch_count(&app).await, 0);
}

#[tokio::test]
async fn content_needs_template_or_html_with_subject() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;

    let reply = create_batch(&app, json!({ "awsAccountId": connection })).await;
    assert_eq!(paths(&reply), ["htmlContent"]);

    let reply = create_batch(
        &app,
        json!({ "awsAccountId": connection, "htmlContent": "<p>" }),
    )
    .await;
    assert_eq!(paths(&reply), ["subject"]);
    assert_eq!(batch_count(&app).await, 0);
}

#[tokio::test]
async fn template_must_exist_in_the_org() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let mine = app
        .call(
            Method::POST,
            "/v1/templates",
            Some(json!({ "name": "Welcome", "subject": "Hi" })),
        )
        .await;
    let bare = app
        .call(
            Method::POST,
            "/v1/templates",
            Some(json!({ "name": "No subject" })),
        )
        .await;
    let theirs = app
        .call_as(
            Some(&app.other_key),
            Method::POST,
            "/v1/templates",
            Some(json!({ "name": "Theirs", "subject": "Hi" })),
        )
        .await;

    for template in [
        theirs.body["id"].clone(),
        json!(BatchId::new().to_string()),
        json!("welcome"),
    ] {
        let reply = create_batch(
            &app,
            json!({ "awsAccountId": connection, "templateId": template }),
        )
        .await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        );
        assert_eq!(paths(&reply), ["templateId"], "{template}");
    }

    let reply = create_batch(
        &app,
        json!({ "awsAccountId": connection, "templateId": bare.body["id"] }),
    )
    .await;
    assert_eq!(
        paths(&reply),
        ["subject"],
        "a template without subject needs one in the batch"
    );
    assert_eq!(batch_count(&app).await, 0);

    let id = created_batch(
        &app,
        json!({ "awsAccountId": connection, "templateId": mine.body["id"] }),
    )
    .await;
    let batch = stored_batch(&app, id).await;
    assert_eq!(
        batch.template_id.map(|t| t.to_string()).as_deref(),
        mine.body["id"].as_str()
    );
}

// Audiences.

#[tokio::test]
async fn list_audience_counts_each_person_once() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let ids = add_contacts(
        &app,
        &["Ada@Example.com", "bob@example.com", "cy@example.com"],
    )
    .await;
    let mut body = html_batch(&connection);
    body["audienceType"] = json!("list");
    body["recipients"] = json!([
        "ada@example.com",
        "ADA@EXAMPLE.COM",
        " Ada@Example.com ",
        ids[1],
        ids[1].to_uppercase(),
        "bob@example.com",
    ]);

    let reply = create_batch(&app, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["totalRecipients"], 2);

    let id: BatchId = reply.body["id"].as_str().unwrap().parse().unwrap();
    let batch = stored_batch(&app, id).await;
    assert_eq!(
        batch.recipient_list,
        Some(vec![ids[0].clone(), ids[1].clone()])
    );
}

#[tokio::test]
async fn list_audience_counts_only_eligible_contacts() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    add_contacts(&app, &["ok@example.com"]).await;
    app.create_contact(json!({ "email": "out@example.com", "emailStatus": "unsubscribed" }))
        .await;
    let mut body = html_batch(&connection);
    body["audienceType"] = json!("list");
    body["recipients"] = json!(["ok@example.com", "out@example.com"]);
    let reply = create_batch(&app, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["totalRecipients"], 1);
}

#[tokio::test]
async fn unknown_list_entries_are_422_by_index() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    add_contacts(&app, &["ada@example.com"]).await;
    let theirs = app
        .call_as(
            Some(&app.other_key),
            Method::POST,
            "/v1/contacts",
            Some(json!({ "email": "eve@example.com" })),
        )
        .await;
    let mut body = html_batch(&connection);
    body["audienceType"] = json!("list");
    body["recipients"] = json!([
        "ada@example.com",
        "nobody@example.com",
        theirs.body["id"],
        "eve@example.com",
        "plain-text",
    ]);

    let reply = create_batch(&app, body).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_eq!(
        paths(&reply),
        [
            "recipients[1]",
            "recipients[2]",
            "recipients[3]",
            "recipients[4]"
        ]
    );
    assert_eq!(batch_count(&app).await, 0);
    assert!(all_jobs(&app).await.is_empty());
}

#[tokio::test]
async fn list_audience_size_is_bounded() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let too_many: Vec<String> = (0..10_001).map(|n| format!("p{n}@example.com")).collect();
    for recipients in [json!([]), json!(too_many), Value::Null] {
        let mut body = html_batch(&connection);
        body["audienceType"] = json!("list");
        body["recipients"] = recipients;
        let reply = create_batch(&app, body).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        );
        assert_eq!(paths(&reply), ["recipients"]);
    }

    let mut body = html_batch(&connection);
    body["audienceType"] = json!("list");
    body["recipients"] = json!(["x".repeat(256)]);
    let reply = create_batch(&app, body).await;
    assert_eq!(paths(&reply), ["recipients[0]"]);
}

#[tokio::test]
async fn topic_audience_counts_subscribers() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let topic = app.create_topic("news", false).await;
    let topic_id = topic["id"].as_str().unwrap();
    for email in ["a@example.com", "b@example.com"] {
        app.create_contact(json!({ "email": email, "topicIds": [topic_id] }))
            .await;
    }
    add_contacts(&app, &["c@example.com"]).await;

    let mut body = html_batch(&connection);
    body["audienceType"] = json!("topic");
    body["topicId"] = json!(topic_id);
    let reply = create_batch(&app, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["totalRecipients"], 2);

    // A topic audience without a topic falls back to every eligible contact.
    let mut body = html_batch(&connection);
    body["audienceType"] = json!("topic");
    let reply = create_batch(&app, body).await;
    assert_eq!(reply.body["totalRecipients"], 3);
}

#[tokio::test]
async fn unknown_topic_is_422() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let theirs = app
        .call_as(
            Some(&app.other_key),
            Method::POST,
            "/v1/topics",
            Some(json!({ "name": "Theirs", "slug": "theirs" })),
        )
        .await;
    for topic in [
        theirs.body["id"].clone(),
        json!(BatchId::new().to_string()),
        json!("news"),
    ] {
        let mut body = html_batch(&connection);
        body["audienceType"] = json!("topic");
        body["topicId"] = topic.clone();
        let reply = create_batch(&app, body).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        );
        assert_eq!(paths(&reply), ["topicId"], "{topic}");
    }
    assert_eq!(batch_count(&app).await, 0);
}

// Reading batches.

#[tokio::test]
async fn list_returns_items_with_template_and_account() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let template = app
        .call(
            Method::POST,
            "/v1/templates",
            Some(json!({ "name": "Welcome", "subject": "Hi" })),
        )
        .await;
    created_batch(
        &app,
        json!({ "awsAccountId": connection, "templateId": template.body["id"], "name": "First" }),
    )
    .await;
    let mut body = html_batch(&connection);
    body["name"] = json!("Second");
    created_batch(&app, body).await;

    let reply = app.call(Method::GET, "/v1/batch/", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["total"], 2);
    assert_eq!(reply.body["page"], 1);
    assert_eq!(reply.body["pageSize"], 20);
    let data = reply.body["data"].as_array().unwrap();
    assert_eq!(data[0]["name"], "Second", "newest first");
    assert_eq!(data[0]["template"], Value::Null);
    assert_eq!(
        data[1]["template"],
        json!({ "id": template.body["id"], "name": "Welcome" })
    );
    assert_eq!(
        data[1]["awsAccount"],
        json!({ "id": connection, "name": format!("AWS {ACCOUNT}"), "region": "us-east-1" })
    );
    for key in [
        "id",
        "status",
        "channel",
        "name",
        "subject",
        "totalRecipients",
        "processedRecipients",
        "sent",
        "delivered",
        "opened",
        "clicked",
        "bounced",
        "complained",
        "suppressed",
        "failed",
        "scheduledFor",
        "startedAt",
        "completedAt",
        "createdAt",
    ] {
        assert!(data[0].get(key).is_some(), "item lacks {key}: {}", data[0]);
    }

    let other = app
        .call_as(Some(&app.other_key), Method::GET, "/v1/batch", None)
        .await;
    assert_eq!(other.body["total"], 0);
}

#[tokio::test]
async fn list_filters_and_pages() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    for name in ["Alpha", "Beta", "Gamma"] {
        let mut body = html_batch(&connection);
        body["name"] = json!(name);
        created_batch(&app, body).await;
    }
    let cancelled = app.call(Method::GET, "/v1/batch?search=beta", None).await;
    assert_eq!(cancelled.body["total"], 1);
    let id = cancelled.body["data"][0]["id"].as_str().unwrap();
    app.call(Method::DELETE, &format!("/v1/batch/{id}"), None)
        .await;

    let reply = app
        .call(Method::GET, "/v1/batch?status=cancelled", None)
        .await;
    assert_eq!(reply.body["total"], 1);
    assert_eq!(reply.body["data"][0]["name"], "Beta");

    let reply = app
        .call(Method::GET, "/v1/batch?pageSize=2&page=2", None)
        .await;
    assert_eq!(reply.body["total"], 3);
    assert_eq!(reply.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(reply.body["data"][0]["name"], "Alpha");

    let reply = app.call(Method::GET, "/v1/batch?channel=sms", None).await;
    assert_eq!(reply.body["total"], 0);
}

#[tokio::test]
async fn list_rejects_bad_query() {
    let app = TestApp::new().await;
    let long = "s".repeat(201);
    let cases = [
        ("page=0", "page"),
        ("pageSize=0", "pageSize"),
        ("pageSize=101", "pageSize"),
        ("pageSize=ten", "pageSize"),
        ("status=paused", "status"),
        ("channel=fax", "channel"),
        (&format!("search={long}"), "search"),
    ];
    for (query, path) in cases {
        let reply = app
            .call(Method::GET, &format!("/v1/batch?{query}"), None)
            .await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        );
        assert_eq!(paths(&reply), [path], "{query}");
    }
}

#[tokio::test]
async fn get_returns_status_and_counters() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    add_contacts(&app, &["a@example.com"]).await;
    let id = created_batch(&app, html_batch(&connection)).await;

    let reply = app
        .call(Method::GET, &format!("/v1/batch/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let expected_keys = [
        "id",
        "status",
        "channel",
        "name",
        "totalRecipients",
        "processedRecipients",
        "sent",
        "delivered",
        "failed",
        "opened",
        "clicked",
        "bounced",
        "complained",
        "suppressed",
        "startedAt",
        "completedAt",
        "createdAt",
        "unknown",
        "skipped",
        "pausedReason",
        "errorMessage",
        "scheduledFor",
    ];
    let body = reply.body.as_object().unwrap();
    for key in expected_keys {
        assert!(body.contains_key(key), "detail lacks {key}: {}", reply.body);
    }
    assert_eq!(body.len(), expected_keys.len(), "{}", reply.body);
    assert_eq!(body["status"], "queued");
    assert_eq!(body["totalRecipients"], 1);
    assert_eq!(body["startedAt"], Value::Null);
}

#[tokio::test]
async fn unknown_and_foreign_batches_are_404() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let id = created_batch(&app, html_batch(&connection)).await;
    let other = Some(app.other_key.as_str());

    for path in [
        format!("/v1/batch/{id}"),
        format!("/v1/batch/{id}/recipients"),
        format!("/v1/batch/{id}/events"),
    ] {
        let reply = app.call_as(other, Method::GET, &path, None).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_eq!(reply.body["error"], "Batch not found", "{path}");
    }
    let reply = app
        .call_as(other, Method::DELETE, &format!("/v1/batch/{id}"), None)
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    let reply = app
        .call_as(other, Method::POST, &format!("/v1/batch/{id}/resume"), None)
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(
        stored_batch(&app, id).await.status,
        BatchStatus::Queued,
        "untouched"
    );

    for id in ["not-a-uuid", "00000000-0000-4000-8000-000000000000"] {
        let reply = app
            .call(Method::GET, &format!("/v1/batch/{id}"), None)
            .await;
        assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
        let reply = app
            .call(Method::DELETE, &format!("/v1/batch/{id}"), None)
            .await;
        assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let reply = app
        .call(Method::GET, &format!("/v1/batch/{}", "x".repeat(37)), None)
        .await;
    assert_eq!(paths(&reply), ["id"]);
}

// Recipients.

/// Creates a batch for `emails` and freezes its audience in chunks of two,
/// as the dispatcher's fan-out does.
async fn fanned_out_batch(app: &TestApp, emails: &[&str]) -> Batch {
    let connection = connect(app, ACCOUNT).await;
    add_contacts(app, emails).await;
    let id = created_batch(app, html_batch(&connection)).await;
    let batch = stored_batch(app, id).await;
    app.store.fan_out_batch(&batch, 2).await.unwrap();
    stored_batch(app, id).await
}

#[tokio::test]
async fn recipients_map_states_to_wire_statuses() {
    let app = TestApp::new().await;
    let batch = fanned_out_batch(&app, &["a@example.com", "b@example.com", "c@example.com"]).await;
    let path = format!("/v1/batch/{}/recipients", batch.id);

    let reply = app.call(Method::GET, &path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["total"], 3);
    assert_eq!(reply.body["limit"], 50);
    assert_eq!(reply.body["offset"], 0);
    let first = &reply.body["data"][0];
    assert_eq!(first["status"], "pending");
    assert_eq!(first["bounceType"], Value::Null);
    assert_eq!(first["bounceSubType"], Value::Null);
    assert_eq!(first["sentAt"], Value::Null);
    assert_eq!(first["error"], Value::Null);
    assert!(first["recipient"]
        .as_str()
        .unwrap()
        .ends_with("@example.com"));

    app.store.claim_chunk(&batch, 0, "token-1").await.unwrap();
    let queued = app
        .call(Method::GET, &format!("{path}?status=queued"), None)
        .await;
    assert_eq!(queued.body["total"], 2, "chunk 0 holds two recipients");
    assert!(queued.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "queued"));
    let pending = app
        .call(Method::GET, &format!("{path}?status=pending"), None)
        .await;
    assert_eq!(pending.body["total"], 1);
    let delivered = app
        .call(Method::GET, &format!("{path}?status=delivered"), None)
        .await;
    assert_eq!(delivered.body["total"], 0);
    assert_eq!(delivered.body["data"], json!([]));

    let page = app
        .call(Method::GET, &format!("{path}?limit=2&offset=2"), None)
        .await;
    assert_eq!(page.body["total"], 3);
    assert_eq!(page.body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn skipped_recipients_are_opted_out() {
    let app = TestApp::new().await;
    let batch = fanned_out_batch(&app, &["a@example.com", "b@example.com"]).await;
    let contact = app
        .call(Method::GET, "/v1/contacts/a@example.com", None)
        .await;
    let contact_id = contact.body["id"].as_str().unwrap();
    app.call(
        Method::PATCH,
        &format!("/v1/contacts/{contact_id}"),
        Some(json!({ "emailStatus": "unsubscribed" })),
    )
    .await;
    app.store.claim_chunk(&batch, 0, "token-1").await.unwrap();

    let reply = app
        .call(
            Method::GET,
            &format!("/v1/batch/{}/recipients?status=opted_out", batch.id),
            None,
        )
        .await;
    assert_eq!(reply.body["total"], 1, "{}", reply.body);
    assert_eq!(reply.body["data"][0]["recipient"], "a@example.com");
    assert!(reply.body["data"][0]["error"].is_string());
}

#[tokio::test]
async fn recipients_reject_bad_query() {
    let app = TestApp::new().await;
    let batch = fanned_out_batch(&app, &["a@example.com"]).await;
    for (query, path) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=-1", "offset"),
        ("status=bogus", "status"),
        ("status=claimed", "status"),
    ] {
        let reply = app
            .call(
                Method::GET,
                &format!("/v1/batch/{}/recipients?{query}", batch.id),
                None,
            )
            .await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        );
        assert_eq!(paths(&reply), [path], "{query}");
    }
    let reply = app
        .call(
            Method::GET,
            &format!("/v1/batch/{}/recipients?limit=1000", batch.id),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

// Cancel.

#[tokio::test]
async fn cancel_queued_then_again_is_400() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let id = created_batch(&app, html_batch(&connection)).await;

    let reply = app
        .call(Method::DELETE, &format!("/v1/batch/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({ "success": true, "id": id.to_string(), "status": "cancelled" })
    );
    assert_eq!(stored_batch(&app, id).await.status, BatchStatus::Cancelled);

    let reply = app
        .call(Method::DELETE, &format!("/v1/batch/{id}"), None)
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert_eq!(
        reply.body["error"],
        "Cannot cancel batch in 'cancelled' status. Only scheduled, queued, or processing batches can be cancelled."
    );
}

#[tokio::test]
async fn cancel_covers_scheduled_and_processing_only() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let mut body = html_batch(&connection);
    body["scheduledFor"] = json!(schemas::time::format(&(Utc::now() + TimeDelta::days(1))));
    let scheduled = created_batch(&app, body).await;
    let reply = app
        .call(Method::DELETE, &format!("/v1/batch/{scheduled}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let completed = created_batch(&app, html_batch(&connection)).await;
    app.store
        .transition_batch(
            completed,
            &[BatchStatus::Queued],
            BatchStatus::Completed,
            None,
        )
        .await
        .unwrap();
    let reply = app
        .call(Method::DELETE, &format!("/v1/batch/{completed}"), None)
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert!(reply.body["error"]
        .as_str()
        .unwrap()
        .contains("'completed'"));
}

// Resume.

#[tokio::test]
async fn resume_needs_processing_or_failed() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let id = created_batch(&app, html_batch(&connection)).await;
    let reply = app
        .call(Method::POST, &format!("/v1/batch/{id}/resume"), None)
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        reply.body["error"].as_str().unwrap().contains("'queued'"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn resume_is_409_while_recently_claimed() {
    let app = TestApp::new().await;
    let batch = fanned_out_batch(&app, &["a@example.com", "b@example.com", "c@example.com"]).await;
    app.store.claim_chunk(&batch, 0, "token-1").await.unwrap();
    all_jobs(&app).await;

    let reply = app
        .call(
            Method::POST,
            &format!("/v1/batch/{}/resume", batch.id),
            None,
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(
        reply.body["error"],
        "Batch is still being sent by a dispatcher"
    );
    assert!(all_jobs(&app).await.is_empty());
    assert!(stored_batch(&app, batch.id)
        .await
        .error_details
        .get("resumes")
        .is_none());
}

#[tokio::test]
async fn resume_republishes_unfinished_chunks() {
    let app = TestApp::new().await;
    let emails = [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "d@example.com",
        "e@example.com",
    ];
    let batch = fanned_out_batch(&app, &emails).await;
    assert_eq!(batch.status, BatchStatus::Processing);
    assert_eq!(batch.chunk_count, 3);
    all_jobs(&app).await;

    let path = format!("/v1/batch/{}/resume", batch.id);
    let reply = app
        .call(Method::POST, &path, Some(json!({ "fromChunkIndex": 1 })))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, json!({ "resumed": true, "fromChunkIndex": 1 }));

    let jobs = jobs_on(&app, shard_for_account(ACCOUNT, SHARDS)).await;
    let chunks: Vec<i64> = jobs
        .iter()
        .map(|d| {
            assert_eq!(d.job.kind, BATCH_CHUNK);
            assert_eq!(d.job.payload["batchId"], batch.id.to_string());
            d.job.payload["chunkIndex"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(chunks, [1, 2]);

    let stored = stored_batch(&app, batch.id).await;
    let resumes = stored.error_details["resumes"].as_array().unwrap();
    assert_eq!(resumes.len(), 1);
    assert_eq!(resumes[0]["fromChunkIndex"], 1);
    assert!(resumes[0]["resumedAt"].is_string());
    assert!(resumes[0]["resumedBy"].is_string());

    let reply = app.call(Method::POST, &path, None).await;
    assert_eq!(reply.body["fromChunkIndex"], 0);
    assert_eq!(
        jobs_on(&app, shard_for_account(ACCOUNT, SHARDS))
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn resume_before_fan_out_republishes_it() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let id = created_batch(&app, html_batch(&connection)).await;
    app.store
        .transition_batch(
            id,
            &[BatchStatus::Queued],
            BatchStatus::Failed,
            Some("no sender address"),
        )
        .await
        .unwrap();
    all_jobs(&app).await;

    let reply = app
        .call(
            Method::POST,
            &format!("/v1/batch/{id}/resume"),
            Some(json!({})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["fromChunkIndex"], 0);
    assert_eq!(stored_batch(&app, id).await.status, BatchStatus::Processing);
    let jobs = all_jobs(&app).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].1.job.kind, BATCH_FAN_OUT);
}

#[tokio::test]
async fn resume_rejects_negative_chunk_index() {
    let app = TestApp::new().await;
    let batch = fanned_out_batch(&app, &["a@example.com"]).await;
    let reply = app
        .call(
            Method::POST,
            &format!("/v1/batch/{}/resume", batch.id),
            Some(json!({ "fromChunkIndex": -1 })),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_eq!(paths(&reply), ["fromChunkIndex"]);
}

#[tokio::test]
async fn resume_needs_email_and_an_account() {
    let app = TestApp::new().await;
    let connection: ConnectionId = connect(&app, ACCOUNT).await.parse().unwrap();
    add_contacts(&app, &["a@example.com"]).await;

    // The API creates neither SMS batches nor batches without an account,
    // so these come from the store directly.
    let cases = [
        ("sms", Some(connection), "Only email batches can be resumed"),
        (
            "email",
            None,
            "Batch has no AWS account: its connection was removed",
        ),
    ];
    for (channel, connection_id, message) in cases {
        let new = NewBatch {
            connection_id,
            name: "Direct".into(),
            channel: channel.into(),
            html_content: Some("<p>".into()),
            subject: Some("Hi".into()),
            ..Default::default()
        };
        let batch = app.store.create_batch(app.org, &new).await.unwrap();
        app.store.fan_out_batch(&batch, 50).await.unwrap();

        let reply = app
            .call(
                Method::POST,
                &format!("/v1/batch/{}/resume", batch.id),
                None,
            )
            .await;
        assert_error(&reply, StatusCode::CONFLICT, "CONFLICT");
        assert_eq!(reply.body["error"], message);
    }
}

// Events.

/// Reads the next SSE event (name and JSON data) from `body`, skipping
/// keep-alive comments; `None` when the stream ended.
async fn next_event(body: &mut Body, buffer: &mut String) -> Option<(String, Value)> {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_owned();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim());
                }
            }
            if data.is_empty() {
                continue;
            }
            return Some((name, serde_json::from_str(&data).unwrap()));
        }
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("no SSE event within 10 seconds")?
            .unwrap();
        if let Ok(bytes) = frame.into_data() {
            buffer.push_str(std::str::from_utf8(&bytes).unwrap());
        }
    }
}

async fn open_events(app: &TestApp, id: BatchId) -> Body {
    let request = Request::get(format!("/v1/batch/{id}/events"))
        .header("authorization", format!("Bearer {}", app.key))
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    response.into_body()
}

#[tokio::test]
async fn events_stream_progress_then_end() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let id = created_batch(&app, html_batch(&connection)).await;
    let mut body = open_events(&app, id).await;
    let mut buffer = String::new();

    let (name, data) = next_event(&mut body, &mut buffer).await.unwrap();
    assert_eq!(name, "progress");
    assert_eq!(data["id"], id.to_string());
    assert_eq!(data["status"], "queued");

    app.store
        .transition_batch(id, &[BatchStatus::Queued], BatchStatus::Processing, None)
        .await
        .unwrap();
    let (name, data) = next_event(&mut body, &mut buffer).await.unwrap();
    assert_eq!(name, "progress");
    assert_eq!(data["status"], "processing");

    app.store.cancel_batch(app.org, id).await.unwrap().unwrap();
    let (name, data) = next_event(&mut body, &mut buffer).await.unwrap();
    assert_eq!(
        (name.as_str(), &data["status"]),
        ("progress", &json!("cancelled"))
    );
    let (name, data) = next_event(&mut body, &mut buffer).await.unwrap();
    assert_eq!(name, "end");
    assert_eq!(data["status"], "cancelled");
    assert!(
        next_event(&mut body, &mut buffer).await.is_none(),
        "the stream closes after end"
    );
}

#[tokio::test]
async fn events_of_a_finished_batch_end_at_once() {
    let app = TestApp::new().await;
    let connection = connect(&app, ACCOUNT).await;
    let id = created_batch(&app, html_batch(&connection)).await;
    app.store
        .transition_batch(
            id,
            &[BatchStatus::Queued],
            BatchStatus::Failed,
            Some("no sender address"),
        )
        .await
        .unwrap();

    let mut body = open_events(&app, id).await;
    let mut buffer = String::new();
    let (name, data) = next_event(&mut body, &mut buffer).await.unwrap();
    assert_eq!(name, "progress");
    assert_eq!(data["errorMessage"], "no sender address");
    let (name, _) = next_event(&mut body, &mut buffer).await.unwrap();
    assert_eq!(name, "end");
    assert!(next_event(&mut body, &mut buffer).await.is_none());
}

#[tokio::test]
async fn invalid_sender_address_is_422() {
    let app = TestApp::new().await;
    let connection = app
        .call(
            Method::POST,
            "/v1/connections",
            Some(json!({ "accountId": "123456789012", "region": "us-east-1" })),
        )
        .await;
    let body = json!({
        "awsAccountId": connection.body["connectionId"],
        "from": "not an email",
        "replyTo": "also wrong",
        "subject": "s",
        "htmlContent": "<p>x</p>",
    });
    let reply = app.call(Method::POST, "/v1/batch", Some(body)).await;
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
    assert_eq!(paths, ["from", "replyTo"]);
}

#[tokio::test]
async fn account_number_instead_of_connection_id_is_explained() {
    let app = TestApp::new().await;
    app.call(
        Method::POST,
        "/v1/connections",
        Some(json!({ "accountId": "123456789012", "region": "us-east-1" })),
    )
    .await;
    let body = json!({ "awsAccountId": "123456789012", "from": "a@example.com", "subject": "s", "htmlContent": "<p>x</p>" });
    let reply = app.call(Method::POST, "/v1/batch", Some(body)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.body["error"]
            .as_str()
            .unwrap()
            .contains("connectionId"),
        "{}",
        reply.body
    );
}
