//! One-click unsubscribe links: the RFC 8058 POST, the confirmation page,
//! topic scope, idempotency and key rotation.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use schemas::unsubscribe::UnsubscribeClaims;
use schemas::{ContactId, TopicId};
use serde_json::json;

use crate::{Reply, TestApp};

struct Subscriber {
    contact: ContactId,
    news: TopicId,
}

async fn subscriber(app: &TestApp) -> Subscriber {
    let news = app.create_topic("news", false).await;
    app.create_topic("digest", false).await;
    let contact = app
        .create_contact(json!({"email": "jane.doe@example.com", "topicSlugs": ["news", "digest"]}))
        .await;
    Subscriber {
        contact: contact["id"].as_str().unwrap().parse().unwrap(),
        news: news["id"].as_str().unwrap().parse().unwrap(),
    }
}

async fn token(app: &TestApp, contact: ContactId, topic: Option<TopicId>) -> String {
    let keys = app.store.unsubscribe_keys().await.unwrap();
    keys.sign(&UnsubscribeClaims {
        organization_id: app.org,
        contact_id: contact,
        topic_id: topic,
    })
}

async fn one_click(app: &TestApp, token: &str) -> Reply {
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/unsubscribe/{token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("List-Unsubscribe=One-Click"))
        .unwrap();
    app.send(request).await
}

async fn page(app: &TestApp, token: &str) -> Reply {
    let request = Request::builder()
        .uri(format!("/unsubscribe/{token}"))
        .body(Body::empty())
        .unwrap();
    app.send(request).await
}

async fn statuses(app: &TestApp, contact: ContactId) -> (String, Vec<(String, String)>) {
    let reply = app
        .call(Method::GET, &format!("/v1/contacts/{contact}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut topics: Vec<(String, String)> = reply.body["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["topicName"].as_str().unwrap().to_owned(),
                t["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    topics.sort();
    let status = reply.body["contact"]["emailStatus"]
        .as_str()
        .or(reply.body["emailStatus"].as_str())
        .unwrap_or_default()
        .to_owned();
    (status, topics)
}

#[tokio::test]
async fn one_click_post_unsubscribes_once_without_redirect() {
    let app = TestApp::new().await;
    let subscriber = subscriber(&app).await;
    let token = token(&app, subscriber.contact, None).await;

    let reply = one_click(&app, &token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({"success": true, "message": "Unsubscribed successfully"})
    );
    assert!(reply.headers.get("location").is_none());
    let (status, topics) = statuses(&app, subscriber.contact).await;
    assert_eq!(status, "unsubscribed");
    assert!(
        topics.iter().all(|(_, s)| s == "unsubscribed"),
        "{topics:?}"
    );

    // A second click gets the same reply and changes nothing.
    let again = one_click(&app, &token).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(statuses(&app, subscriber.contact).await, (status, topics));
}

#[tokio::test]
async fn other_posts_name_the_contact_and_topic() {
    let app = TestApp::new().await;
    let subscriber = subscriber(&app).await;
    let token = token(&app, subscriber.contact, Some(subscriber.news)).await;
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("/unsubscribe/{token}"))
        .body(Body::empty())
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["message"],
        "You have been unsubscribed from this topic."
    );
    assert_eq!(reply.body["contactId"], subscriber.contact.to_string());
    assert_eq!(reply.body["topicId"], subscriber.news.to_string());
}

#[tokio::test]
async fn topic_link_leaves_other_topics_alone() {
    let app = TestApp::new().await;
    let subscriber = subscriber(&app).await;
    let token = token(&app, subscriber.contact, Some(subscriber.news)).await;
    assert_eq!(one_click(&app, &token).await.status, StatusCode::OK);
    let (status, topics) = statuses(&app, subscriber.contact).await;
    assert_eq!(status, "active");
    assert_eq!(
        topics,
        vec![
            ("DIGEST".to_owned(), "subscribed".to_owned()),
            ("NEWS".to_owned(), "unsubscribed".to_owned())
        ]
    );
}

#[tokio::test]
async fn get_shows_a_masked_page_and_changes_nothing() {
    let app = TestApp::new().await;
    let subscriber = subscriber(&app).await;
    let token = token(&app, subscriber.contact, Some(subscriber.news)).await;
    for _ in 0..3 {
        let reply = page(&app, &token).await;
        assert_eq!(reply.status, StatusCode::OK);
        let html = reply.body.as_str().unwrap();
        assert!(html.contains("j***e@example.com"), "{html}");
        assert!(!html.contains("jane.doe@example.com"));
        assert!(html.contains("NEWS"));
        assert!(html.contains("<form method=\"post\">"));
        assert_eq!(reply.headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(reply.headers["cache-control"], "no-store");
        assert_eq!(reply.headers["referrer-policy"], "no-referrer");
        assert!(reply.headers.get("x-request-id").is_some());
    }
    let (status, topics) = statuses(&app, subscriber.contact).await;
    assert_eq!(status, "active");
    assert!(topics.iter().all(|(_, s)| s == "subscribed"), "{topics:?}");
}

#[tokio::test]
async fn invalid_links_are_400_and_gone_contacts_404() {
    let app = TestApp::new().await;
    let subscriber = subscriber(&app).await;
    let valid = token(&app, subscriber.contact, None).await;
    let forged = format!("{}x", &valid[..valid.len() - 1]);
    for bad in ["not-a-token", forged.as_str(), &"a".repeat(501)] {
        let reply = one_click(&app, bad).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.body
        );
        assert_eq!(reply.body["error"], "Invalid or expired unsubscribe link");
        let html = page(&app, bad).await;
        assert_eq!(html.status, StatusCode::BAD_REQUEST);
        assert_eq!(html.headers["content-type"], "text/html; charset=utf-8");
    }

    // A contact of this organisation named in another organisation's link.
    let keys = app.store.unsubscribe_keys().await.unwrap();
    let foreign = keys.sign(&UnsubscribeClaims {
        organization_id: app.other_org,
        contact_id: subscriber.contact,
        topic_id: None,
    });
    let reply = one_click(&app, &foreign).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.body["error"], "Contact not found");
    assert_eq!(page(&app, &foreign).await.status, StatusCode::NOT_FOUND);
    assert_eq!(statuses(&app, subscriber.contact).await.0, "active");
}

#[tokio::test]
async fn links_signed_after_a_rotation_are_accepted() {
    let app = TestApp::new().await;
    let subscriber = subscriber(&app).await;
    let old = token(&app, subscriber.contact, Some(subscriber.news)).await;
    // The API has loaded version 1.
    assert_eq!(page(&app, &old).await.status, StatusCode::OK);
    app.store.rotate_unsubscribe_key().await.unwrap();
    let new = token(&app, subscriber.contact, None).await;
    assert_ne!(old, new);
    assert_eq!(page(&app, &new).await.status, StatusCode::OK);
    assert_eq!(one_click(&app, &old).await.status, StatusCode::OK);
    assert_eq!(one_click(&app, &new).await.status, StatusCode::OK);
}
