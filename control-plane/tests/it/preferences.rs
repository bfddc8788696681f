//! `POST /v1/preference-events`: the contact and organisation come only
//! from the verified token; the changes are validated and counted.

use axum::http::{Method, StatusCode};
use schemas::unsubscribe::{ConfirmationClaims, UnsubscribeClaims};
use schemas::{ContactId, OrgId, TopicId};
use serde_json::{json, Value};

use crate::{assert_error, Reply, TestApp};

const PATH: &str = "/v1/preference-events";

struct Subscriber {
    contact: ContactId,
    news: TopicId,
    token: String,
}

async fn subscriber(app: &TestApp) -> Subscriber {
    let news = app.create_topic("news", false).await;
    let contact = app
        .create_contact(json!({ "email": "jane@example.com", "topicSlugs": ["news"] }))
        .await;
    let contact: ContactId = contact["id"].as_str().unwrap().parse().unwrap();
    let keys = app.store.unsubscribe_keys().await.unwrap();
    let token = keys.sign(&UnsubscribeClaims {
        organization_id: app.org,
        contact_id: contact,
        topic_id: None,
    });
    Subscriber {
        contact,
        news: news["id"].as_str().unwrap().parse().unwrap(),
        token,
    }
}

fn body(token: &str, contact: ContactId, org: OrgId, changes: Value) -> Value {
    json!({
        "token": token,
        "contactId": contact.to_string(),
        "organizationId": org.to_string(),
        "changes": changes,
    })
}

/// Posts without an API key, as the preference centre does.
async fn post(app: &TestApp, body: Value) -> Reply {
    app.call_as(None, Method::POST, PATH, Some(body)).await
}

#[tokio::test]
async fn counts_changes_and_writes_nothing() {
    let app = TestApp::new().await;
    let subscriber = subscriber(&app).await;
    let changes = json!([
        { "topicId": subscriber.news.to_string(), "topicName": "News", "action": "unsubscribed" },
        { "topicId": TopicId::new().to_string(), "action": "subscribed" },
        { "topicId": TopicId::new().to_string(), "action": "subscribed" },
    ]);

    let reply = post(
        &app,
        body(&subscriber.token, subscriber.contact, app.org, changes),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({ "success": true, "subscribed": 2, "unsubscribed": 1 })
    );
    let contact = app
        .call(
            Method::GET,
            &format!("/v1/contacts/{}", subscriber.contact),
            None,
        )
        .await;
    assert_eq!(contact.body["topics"][0]["status"], "subscribed");
}

#[tokio::test]
async fn empty_changes_count_zero() {
    let app = TestApp::new().await;
    let subscriber = subscriber(&app).await;

    let reply = post(
        &app,
        body(&subscriber.token, subscriber.contact, app.org, json!([])),
    )
    .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["subscribed"], 0);
    assert_eq!(reply.body["unsubscribed"], 0);
}

#[tokio::test]
async fn mismatched_ids_are_401() {
    let app = TestApp::new().await;
    let subscriber = subscriber(&app).await;
    let other_contact: ContactId = app
        .create_contact(json!({ "email": "john@example.com" }))
        .await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let changes = json!([{ "topicId": subscriber.news.to_string(), "action": "unsubscribed" }]);
    let token = subscriber.token.as_str();

    let cases = [
        (
            "another contact",
            body(token, other_contact, app.org, changes.clone()),
        ),
        (
            "another organisation",
            body(token, subscriber.contact, app.other_org, changes.clone()),
        ),
        (
            "a contact id that is not a UUID",
            json!({ "token": token, "contactId": "CONTACT", "organizationId": app.org.to_string(), "changes": changes.clone() }),
        ),
        (
            "no contact id",
            json!({ "token": token, "organizationId": app.org.to_string(), "changes": changes.clone() }),
        ),
    ];
    for (case, request) in cases {
        let reply = post(&app, request).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        assert_eq!(reply.body["error"], "Invalid or expired token", "{case}");
    }
}

#[tokio::test]
async fn invalid_tokens_are_401() {
    let app = TestApp::new().await;
    let subscriber = subscriber(&app).await;
    let keys = app.store.unsubscribe_keys().await.unwrap();
    let confirmation = keys.sign_confirmation(&ConfirmationClaims::issued_at(
        app.org,
        subscriber.contact,
        subscriber.news,
        chrono::Utc::now(),
    ));
    let forged = format!("{}x", &subscriber.token[..subscriber.token.len() - 1]);

    for token in [
        confirmation.as_str(),
        forged.as_str(),
        "not-a-token",
        &"a".repeat(501),
    ] {
        let reply = post(&app, body(token, subscriber.contact, app.org, json!([]))).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    let missing = json!({ "contactId": subscriber.contact.to_string(), "organizationId": app.org.to_string(), "changes": [] });
    assert_error(
        &post(&app, missing).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    );
}

#[tokio::test]
async fn token_is_checked_before_changes() {
    let app = TestApp::new().await;
    let subscriber = subscriber(&app).await;

    let reply = post(
        &app,
        body("not-a-token", subscriber.contact, app.org, json!("all")),
    )
    .await;

    assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn bad_changes_are_422() {
    let app = TestApp::new().await;
    let subscriber = subscriber(&app).await;
    let news = subscriber.news.to_string();
    let too_many: Vec<Value> = (0..101)
        .map(|_| json!({ "topicId": news, "action": "subscribed" }))
        .collect();
    let cases = [
        (
            json!([{ "topicId": news, "action": "maybe" }]),
            "changes[0].action",
        ),
        (
            json!([{ "topicId": "news", "action": "subscribed" }]),
            "changes[0].topicId",
        ),
        (json!([{ "action": "subscribed" }]), "changes[0]"),
        (
            json!([{ "topicId": news, "topicName": "n".repeat(256), "action": "subscribed" }]),
            "changes[0].topicName",
        ),
        (json!("all"), "changes"),
        (Value::Array(too_many), "changes"),
    ];

    for (changes, path) in cases {
        let reply = post(
            &app,
            body(&subscriber.token, subscriber.contact, app.org, changes),
        )
        .await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        );
        assert_eq!(reply.body["details"][0]["path"], path, "{}", reply.body);
    }
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::new().await;
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri(PATH)
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{not json"))
        .unwrap();

    let reply = app.send(request).await;

    assert_error(&reply, StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");
}
