use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::{assert_error, TestApp};

#[tokio::test]
async fn create_returns_contact_with_defaults() {
    let app = TestApp::new().await;
    let body = app
        .create_contact(
            json!({ "email": "Ada@Example.com", "phone": "+15550100", "firstName": "Ada" }),
        )
        .await;
    assert_eq!(
        body["email"], "Ada@Example.com",
        "the stored email keeps its case"
    );
    assert_eq!(body["emailStatus"], "active");
    assert_eq!(body["smsStatus"], "pending_consent");
    assert_eq!(body["properties"], json!({}));
    assert_eq!(body["emailsSent"], 0);
    assert!(body.get("pendingTopics").is_none());
}

#[tokio::test]
async fn create_without_email_or_phone_is_400() {
    let app = TestApp::new().await;
    let reply = app
        .call(
            Method::POST,
            "/v1/contacts",
            Some(json!({ "firstName": "Nobody" })),
        )
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert_eq!(reply.body["error"], "Email or phone is required");
}

#[tokio::test]
async fn duplicate_email_is_409_ignoring_case() {
    let app = TestApp::new().await;
    app.create_contact(json!({ "email": "dup@example.com" }))
        .await;
    let reply = app
        .call(
            Method::POST,
            "/v1/contacts",
            Some(json!({ "email": "DUP@Example.COM" })),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(
        reply.body["error"],
        "Contact with this email already exists"
    );
}

#[tokio::test]
async fn duplicate_external_id_wins_over_email() {
    let app = TestApp::new().await;
    app.create_contact(json!({ "email": "x@example.com", "externalId": "crm-1" }))
        .await;
    let reply = app
        .call(
            Method::POST,
            "/v1/contacts",
            Some(json!({ "email": "x@example.com", "externalId": "crm-1" })),
        )
        .await;
    assert_eq!(
        reply.body["error"],
        "Contact with this externalId already exists"
    );
}

#[tokio::test]
async fn concurrent_duplicate_creates_one_row() {
    let app = TestApp::new().await;
    let body = json!({ "email": "race@example.com" });
    let (a, b) = tokio::join!(
        app.call(Method::POST, "/v1/contacts", Some(body.clone())),
        app.call(Method::POST, "/v1/contacts", Some(body.clone())),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "a: {} b: {}", a.body, b.body);
    let list = app.call(Method::GET, "/v1/contacts", None).await;
    assert_eq!(list.body["total"], 1);
}

#[tokio::test]
async fn get_by_id_email_and_external_id() {
    let app = TestApp::new().await;
    let created = app
        .create_contact(json!({ "email": "find@example.com", "externalId": "ext-9" }))
        .await;
    let id = created["id"].as_str().unwrap();
    for ident in [id, "find@example.com", "ext-9"] {
        let reply = app
            .call(Method::GET, &format!("/v1/contacts/{ident}"), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{ident}: {}", reply.body);
        assert_eq!(reply.body["id"], id);
        assert_eq!(reply.body["topics"], json!([]));
    }
}

#[tokio::test]
async fn missing_contact_is_404() {
    let app = TestApp::new().await;
    let reply = app
        .call(
            Method::GET,
            "/v1/contacts/00000000-0000-4000-8000-000000000000",
            None,
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(reply.body["error"], "Contact not found");
}

#[tokio::test]
async fn other_org_cannot_reach_contact() {
    let app = TestApp::new().await;
    let created = app
        .create_contact(json!({ "email": "private@example.com", "externalId": "p-1" }))
        .await;
    let id = created["id"].as_str().unwrap();
    let other = Some(app.other_key.as_str());

    for ident in [id, "private@example.com", "p-1"] {
        let path = format!("/v1/contacts/{ident}");
        let get = app.call_as(other, Method::GET, &path, None).await;
        assert_error(&get, StatusCode::NOT_FOUND, "NOT_FOUND");
        let patch = app
            .call_as(
                other,
                Method::PATCH,
                &path,
                Some(json!({ "firstName": "Mallory" })),
            )
            .await;
        assert_error(&patch, StatusCode::NOT_FOUND, "NOT_FOUND");
        let delete = app.call_as(other, Method::DELETE, &path, None).await;
        assert_error(&delete, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let put = app
        .call_as(
            other,
            Method::PUT,
            &format!("/v1/contacts/{id}/topics"),
            Some(json!({})),
        )
        .await;
    assert_error(&put, StatusCode::NOT_FOUND, "NOT_FOUND");
    let bulk = app
        .call_as(
            other,
            Method::DELETE,
            "/v1/contacts",
            Some(json!({ "ids": [id] })),
        )
        .await;
    assert_eq!(bulk.body["deleted"], 0);

    let list = app.call_as(other, Method::GET, "/v1/contacts", None).await;
    assert_eq!(list.body["total"], 0);
    let mine = app
        .call(Method::GET, &format!("/v1/contacts/{id}"), None)
        .await;
    assert_eq!(
        mine.body["firstName"],
        json!(null),
        "the other tenant's patch must not apply"
    );
}

#[tokio::test]
async fn the_same_email_in_two_orgs_is_allowed() {
    let app = TestApp::new().await;
    app.create_contact(json!({ "email": "shared@example.com" }))
        .await;
    let reply = app
        .call_as(
            Some(&app.other_key),
            Method::POST,
            "/v1/contacts",
            Some(json!({ "email": "shared@example.com" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[tokio::test]
async fn patch_merges_properties_and_clears_nulls() {
    let app = TestApp::new().await;
    let created = app.create_contact(json!({ "email": "p@example.com", "firstName": "Pat", "properties": { "plan": "gold", "seats": 3 } })).await;
    let id = created["id"].as_str().unwrap();
    let reply = app
        .call(
            Method::PATCH,
            &format!("/v1/contacts/{id}"),
            Some(json!({ "firstName": null, "properties": { "seats": 5, "region": null } })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["firstName"], json!(null));
    assert_eq!(
        reply.body["properties"],
        json!({ "plan": "gold", "seats": 5, "region": null })
    );
}

#[tokio::test]
async fn patch_to_taken_external_id_is_409() {
    let app = TestApp::new().await;
    app.create_contact(json!({ "email": "one@example.com", "externalId": "taken" }))
        .await;
    let two = app
        .create_contact(json!({ "email": "two@example.com" }))
        .await;
    let path = format!("/v1/contacts/{}", two["id"].as_str().unwrap());
    let reply = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "externalId": "taken", "firstName": "Changed" })),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "CONFLICT");
    let after = app.call(Method::GET, &path, None).await;
    assert_eq!(
        after.body["firstName"],
        json!(null),
        "a rejected patch must not write"
    );
}

#[tokio::test]
async fn patch_rejects_invalid_email() {
    let app = TestApp::new().await;
    let created = app
        .create_contact(json!({ "email": "v@example.com" }))
        .await;
    let path = format!("/v1/contacts/{}", created["id"].as_str().unwrap());
    let reply = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "email": "not an email" })),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_eq!(reply.body["details"][0]["path"], "email");
}

#[tokio::test]
async fn delete_then_get_is_404() {
    let app = TestApp::new().await;
    let created = app
        .create_contact(json!({ "email": "bye@example.com" }))
        .await;
    let path = format!("/v1/contacts/{}", created["id"].as_str().unwrap());
    let reply = app.call(Method::DELETE, &path, None).await;
    assert_eq!(reply.body, json!({ "success": true }));
    assert_eq!(
        app.call(Method::GET, &path, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bulk_delete_limits() {
    let app = TestApp::new().await;
    let empty = app
        .call(Method::DELETE, "/v1/contacts", Some(json!({ "ids": [] })))
        .await;
    assert_error(&empty, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert_eq!(empty.body["error"], "No contact IDs provided");

    let ids: Vec<String> = (0..101).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let too_many = app
        .call(Method::DELETE, "/v1/contacts", Some(json!({ "ids": ids })))
        .await;
    assert_eq!(
        too_many.body["error"],
        "Maximum 100 contacts can be deleted at once"
    );

    let a = app
        .create_contact(json!({ "email": "a@example.com" }))
        .await;
    let b = app
        .create_contact(json!({ "email": "b@example.com" }))
        .await;
    let reply = app
        .call(
            Method::DELETE,
            "/v1/contacts",
            Some(json!({ "ids": [a["id"], b["id"], "not-a-uuid"] })),
        )
        .await;
    assert_eq!(reply.body, json!({ "success": true, "deleted": 2 }));
}

#[tokio::test]
async fn list_pages_and_filters() {
    let app = TestApp::new().await;
    for i in 0..5 {
        app.create_contact(json!({ "email": format!("user{i}@example.com") }))
            .await;
    }
    app.create_contact(json!({ "email": "gone@example.com", "emailStatus": "unsubscribed" }))
        .await;
    app.create_contact(json!({ "email": "under_score@example.com" }))
        .await;

    let page = app
        .call(Method::GET, "/v1/contacts?page=2&pageSize=3", None)
        .await;
    assert_eq!(page.body["total"], 7);
    assert_eq!(page.body["totalPages"], 3);
    assert_eq!(page.body["contacts"].as_array().unwrap().len(), 3);

    let unsubscribed = app
        .call(Method::GET, "/v1/contacts?emailStatus=unsubscribed", None)
        .await;
    assert_eq!(unsubscribed.body["total"], 1);

    let search = app
        .call(Method::GET, "/v1/contacts?search=USER3", None)
        .await;
    assert_eq!(search.body["total"], 1);

    let underscore = app.call(Method::GET, "/v1/contacts?search=r_s", None).await;
    assert_eq!(
        underscore.body["total"], 1,
        "'_' must match literally: {}",
        underscore.body
    );

    let bad = app.call(Method::GET, "/v1/contacts?pageSize=0", None).await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    let bad_status = app
        .call(Method::GET, "/v1/contacts?emailStatus=happy", None)
        .await;
    assert_error(
        &bad_status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
}

#[tokio::test]
async fn topics_on_create_and_patch() {
    let app = TestApp::new().await;
    let news = app.create_topic("news", false).await;
    let confirm = app.create_topic("confirmed-list", true).await;

    let created = app
        .create_contact(json!({ "email": "t@example.com", "topicSlugs": ["news", "confirmed-list", "news"], "topicIds": [news["id"]] }))
        .await;
    assert_eq!(created["pendingTopics"], json!([confirm["id"]]));

    let id = created["id"].as_str().unwrap();
    let detail = app
        .call(Method::GET, &format!("/v1/contacts/{id}"), None)
        .await;
    let topics = detail.body["topics"].as_array().unwrap();
    assert_eq!(topics.len(), 2);
    let news_row = topics.iter().find(|t| t["topicId"] == news["id"]).unwrap();
    assert_eq!(news_row["status"], "subscribed");
    assert_eq!(news_row["topicName"], "NEWS");
    let pending_row = topics
        .iter()
        .find(|t| t["topicId"] == confirm["id"])
        .unwrap();
    assert_eq!(pending_row["status"], "pending");
    assert_eq!(pending_row["subscribedAt"], json!(null));
}

#[tokio::test]
async fn foreign_topic_ids_are_dropped() {
    let app = TestApp::new().await;
    let reply = app
        .call_as(
            Some(&app.other_key),
            Method::POST,
            "/v1/topics",
            Some(json!({ "name": "Theirs", "slug": "theirs" })),
        )
        .await;
    let theirs = reply.body["id"].clone();
    let created = app
        .create_contact(
            json!({ "email": "f@example.com", "topicIds": [theirs], "topicSlugs": ["theirs"] }),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let detail = app
        .call(Method::GET, &format!("/v1/contacts/{id}"), None)
        .await;
    assert_eq!(detail.body["topics"], json!([]));
}

#[tokio::test]
async fn put_topics_replaces_the_set() {
    let app = TestApp::new().await;
    let a = app.create_topic("alpha", false).await;
    let b = app.create_topic("beta", false).await;
    let created = app
        .create_contact(json!({ "email": "r@example.com", "topicIds": [a["id"]] }))
        .await;
    let path = format!("/v1/contacts/{}/topics", created["id"].as_str().unwrap());

    let reply = app
        .call(Method::PUT, &path, Some(json!({ "topicSlugs": ["beta"] })))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let topics = reply.body["topics"].as_array().unwrap();
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0]["topicId"], b["id"]);

    let cleared = app.call(Method::PUT, &path, None).await;
    assert_eq!(cleared.body["topics"], json!([]));
}

#[tokio::test]
async fn put_topics_needs_a_uuid() {
    let app = TestApp::new().await;
    app.create_contact(json!({ "email": "u@example.com" }))
        .await;
    let reply = app
        .call(
            Method::PUT,
            "/v1/contacts/u@example.com/topics",
            Some(json!({})),
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn too_many_topics_is_422() {
    let app = TestApp::new().await;
    let slugs: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    let reply = app
        .call(
            Method::POST,
            "/v1/contacts",
            Some(json!({ "email": "m@example.com", "topicSlugs": slugs })),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_eq!(reply.body["details"][0]["path"], "topicSlugs");
}
