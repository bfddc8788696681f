use std::collections::HashSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::{assert_error, Reply, TestApp};

async fn create(app: &TestApp, body: Value) -> Reply {
    app.call(Method::POST, "/v1/templates", Some(body)).await
}

/// Creates a template that must succeed and returns its detail.
async fn created(app: &TestApp, body: Value) -> Value {
    let reply = create(app, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn list_all(app: &TestApp) -> Value {
    app.call(Method::GET, "/v1/templates?limit=100", None)
        .await
        .body
}

fn paths(reply: &Reply) -> Vec<String> {
    reply.body["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {}", reply.body))
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn missing_key_is_401_on_every_route() {
    let app = TestApp::new().await;
    let id = "00000000-0000-4000-8000-000000000000";
    let routes = [
        (Method::GET, "/v1/templates".to_owned()),
        (Method::POST, "/v1/templates".to_owned()),
        (Method::GET, format!("/v1/templates/{id}")),
        (Method::PATCH, format!("/v1/templates/{id}")),
        (Method::POST, format!("/v1/templates/{id}/publish")),
        (Method::POST, format!("/v1/templates/{id}/duplicate")),
    ];
    for (method, path) in routes {
        let reply = app.call_as(None, method, &path, Some(json!({}))).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn templates_are_not_plan_gated() {
    let app = TestApp::with_plan("free").await;
    created(&app, json!({ "name": "Welcome" })).await;
}

#[tokio::test]
async fn create_returns_draft_detail() {
    let app = TestApp::new().await;
    let body = created(
        &app,
        json!({
            "name": "Welcome", "slug": "welcome", "subject": "Hi {{firstName}}",
            "source": "export default () => null", "compiledHtml": "<p>Hi</p>",
            "variables": [{ "name": "firstName", "fallback": "there" }]
        }),
    )
    .await;
    assert_eq!(body["status"], "DRAFT");
    assert_eq!(body["emailType"], "marketing");
    assert_eq!(body["channel"], "email");
    assert_eq!(body["lastEditedFrom"], "api");
    assert_eq!(body["slug"], "welcome");
    assert_eq!(body["publishedAt"], Value::Null);
    assert_eq!(body["description"], Value::Null);
    assert_eq!(body["compiledHtml"], "<p>Hi</p>");
    assert_eq!(body["compiledText"], Value::Null);
    assert_eq!(
        body["variables"],
        json!([{ "name": "firstName", "fallback": "there" }])
    );
    assert_eq!(
        body["sourceHash"],
        store::source_hash("export default () => null"),
        "SHA-256 of the source"
    );
    assert_eq!(body["createdAt"], body["updatedAt"]);
}

#[tokio::test]
async fn create_rejects_invalid_fields() {
    let app = TestApp::new().await;
    let cases = [
        (json!({}), "name"),
        (json!({ "name": "" }), "name"),
        (json!({ "name": "n".repeat(201) }), "name"),
        (json!({ "name": "n", "slug": "Not A Slug" }), "slug"),
        (json!({ "name": "n", "slug": "s".repeat(101) }), "slug"),
        (json!({ "name": "n", "slug": "" }), "slug"),
        (json!({ "name": "n", "emailType": "promo" }), "emailType"),
        (json!({ "name": "n", "channel": "fax" }), "channel"),
        (
            json!({ "name": "n", "subject": "s".repeat(999) }),
            "subject",
        ),
        (
            json!({ "name": "n", "previewText": "p".repeat(501) }),
            "previewText",
        ),
        (
            json!({ "name": "n", "variables": [{ "name": " " }] }),
            "variables[0].name",
        ),
        (
            json!({ "name": "n", "variables": [{ "fallback": "x" }] }),
            "variables[0]",
        ),
    ];
    for (body, path) in cases {
        let reply = create(&app, body.clone()).await;
        assert_error(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        );
        assert_eq!(paths(&reply), [path], "{body}");
    }
    assert_eq!(list_all(&app).await["data"], json!([]), "no partial write");

    created(
        &app,
        json!({ "name": "n".repeat(200), "slug": "s".repeat(100) }),
    )
    .await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::new().await;
    let request = Request::post("/v1/templates")
        .header("authorization", format!("Bearer {}", app.key))
        .body(Body::from("{\"name\": \"x\""))
        .unwrap();
    let reply = app.send(request).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");
}

#[tokio::test]
async fn duplicate_slug_is_409_in_hosted_shape() {
    let app = TestApp::new().await;
    created(&app, json!({ "name": "A", "slug": "welcome" })).await;
    let reply = create(&app, json!({ "name": "B", "slug": "welcome" })).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.body,
        json!({ "error": "conflict", "message": "slug already exists", "code": "CONFLICT" })
    );
    assert_eq!(list_all(&app).await["data"].as_array().unwrap().len(), 1);

    let other = app
        .call_as(
            Some(&app.other_key),
            Method::POST,
            "/v1/templates",
            Some(json!({ "name": "C", "slug": "welcome" })),
        )
        .await;
    assert_eq!(
        other.status,
        StatusCode::CREATED,
        "slugs are unique per organization"
    );
    created(&app, json!({ "name": "No slug" })).await;
    created(&app, json!({ "name": "No slug either" })).await;
}

#[tokio::test]
async fn get_with_and_without_source() {
    let app = TestApp::new().await;
    let template = created(
        &app,
        json!({ "name": "T", "source": "src", "compiledHtml": "<p>" }),
    )
    .await;
    let id = template["id"].as_str().unwrap();

    let full = app
        .call(Method::GET, &format!("/v1/templates/{id}"), None)
        .await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.body, template);

    let bare = app
        .call(
            Method::GET,
            &format!("/v1/templates/{id}?source=false"),
            None,
        )
        .await;
    for key in ["source", "compiledHtml", "compiledText"] {
        assert!(
            bare.body.get(key).is_none(),
            "{key} must be left out: {}",
            bare.body
        );
    }
    assert_eq!(bare.body["sourceHash"], template["sourceHash"]);

    let reply = app
        .call(
            Method::GET,
            &format!("/v1/templates/{id}?source=maybe"),
            None,
        )
        .await;
    assert_eq!(paths(&reply), ["source"]);
}

#[tokio::test]
async fn unknown_and_foreign_templates_are_404() {
    let app = TestApp::new().await;
    let template = created(
        &app,
        json!({ "name": "Mine", "subject": "s", "compiledHtml": "<p>" }),
    )
    .await;
    let id = template["id"].as_str().unwrap();
    let other = Some(app.other_key.as_str());

    for id in [id, "not-a-uuid", "00000000-0000-4000-8000-000000000000"] {
        let get = app
            .call_as(other, Method::GET, &format!("/v1/templates/{id}"), None)
            .await;
        assert_error(&get, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_eq!(get.body["error"], "Template not found");
        let patch = app
            .call_as(
                other,
                Method::PATCH,
                &format!("/v1/templates/{id}"),
                Some(json!({ "name": "Stolen" })),
            )
            .await;
        assert_error(&patch, StatusCode::NOT_FOUND, "NOT_FOUND");
        for action in ["publish", "duplicate"] {
            let reply = app
                .call_as(
                    other,
                    Method::POST,
                    &format!("/v1/templates/{id}/{action}"),
                    None,
                )
                .await;
            assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
        }
    }
    let mine = app
        .call(Method::GET, &format!("/v1/templates/{id}"), None)
        .await;
    assert_eq!(mine.body["name"], "Mine");

    let reply = app
        .call(
            Method::GET,
            &format!("/v1/templates/{}", "x".repeat(37)),
            None,
        )
        .await;
    assert_eq!(paths(&reply), ["id"]);
}

#[tokio::test]
async fn list_pages_with_cursor() {
    let app = TestApp::new().await;
    let mut all = HashSet::new();
    for n in 0..5 {
        let template = created(&app, json!({ "name": format!("T{n}") })).await;
        all.insert(template["id"].as_str().unwrap().to_owned());
    }

    let mut seen = Vec::new();
    let mut path = "/v1/templates?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let reply = app.call(Method::GET, &path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        seen.extend(ids(&reply.body));
        pages += 1;
        match reply.body["nextCursor"].as_str() {
            Some(cursor) => path = format!("/v1/templates?limit=2&cursor={cursor}"),
            None => break,
        }
        assert!(pages < 5, "the cursor must advance");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5, "no template twice: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), all);

    let first = app.call(Method::GET, "/v1/templates", None).await;
    assert_eq!(first.body["nextCursor"], Value::Null);
    let item = &first.body["data"][0];
    assert!(
        item.get("source").is_none() && item.get("variables").is_none(),
        "{item}"
    );
}

#[tokio::test]
async fn list_orders_by_last_update() {
    let app = TestApp::new().await;
    let old = created(&app, json!({ "name": "Old" })).await;
    created(&app, json!({ "name": "New" })).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let id = old["id"].as_str().unwrap();
    app.call(
        Method::PATCH,
        &format!("/v1/templates/{id}"),
        Some(json!({ "subject": "s" })),
    )
    .await;

    let page = list_all(&app).await;
    assert_eq!(
        page["data"][0]["id"], old["id"],
        "the patched template comes first"
    );
}

#[tokio::test]
async fn list_filters() {
    let app = TestApp::new().await;
    created(&app, json!({ "name": "Spring Sale" })).await;
    created(&app, json!({ "name": "Receipt", "channel": "sms" })).await;
    let publishable = created(
        &app,
        json!({ "name": "Autumn sale", "subject": "s", "compiledHtml": "<p>" }),
    )
    .await;
    app.call(
        Method::POST,
        "/v1/connections",
        Some(json!({ "accountId": "123456789012", "region": "us-east-1" })),
    )
    .await;
    let id = publishable["id"].as_str().unwrap();
    app.call(Method::POST, &format!("/v1/templates/{id}/publish"), None)
        .await;

    let count = |page: Value| page["data"].as_array().unwrap().len();
    let reply = app
        .call(Method::GET, "/v1/templates?search=SALE", None)
        .await;
    assert_eq!(count(reply.body), 2);
    let reply = app
        .call(Method::GET, "/v1/templates?channel=sms", None)
        .await;
    assert_eq!(count(reply.body), 1);
    let reply = app
        .call(Method::GET, "/v1/templates?status=PUBLISHED", None)
        .await;
    assert_eq!(ids(&reply.body), [id]);

    let other = app
        .call_as(Some(&app.other_key), Method::GET, "/v1/templates", None)
        .await;
    assert_eq!(other.body["data"], json!([]));
}

#[tokio::test]
async fn list_rejects_bad_query() {
    let app = TestApp::new().await;
    let long = "s".repeat(201);
    for (query, path) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=garbage!", "cursor"),
        ("cursor=MTIzOm5vdC1hLXV1aWQ", "cursor"),
        ("status=draft", "status"),
        ("channel=fax", "channel"),
        (&format!("search={long}"), "search"),
    ] {
        let reply = app
            .call(Method::GET, &format!("/v1/templates?{query}"), None)
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
async fn patch_updates_given_fields() {
    let app = TestApp::new().await;
    let template = created(
        &app,
        json!({ "name": "T", "slug": "t", "description": "d", "source": "one", "subject": "s" }),
    )
    .await;
    let id = template["id"].as_str().unwrap();

    let reply = app
        .call(
            Method::PATCH,
            &format!("/v1/templates/{id}"),
            Some(json!({ "name": "Renamed", "description": null, "source": "two", "emailType": "transactional", "slug": "ignored" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["name"], "Renamed");
    assert_eq!(reply.body["description"], Value::Null);
    assert_eq!(reply.body["subject"], "s", "absent fields are kept");
    assert_eq!(reply.body["slug"], "t", "the slug cannot change");
    assert_eq!(reply.body["emailType"], "transactional");
    assert_eq!(reply.body["source"], "two");
    assert_eq!(reply.body["sourceHash"], store::source_hash("two"));
    assert_eq!(reply.body["lastEditedFrom"], "api");

    let reply = app
        .call(
            Method::PATCH,
            &format!("/v1/templates/{id}"),
            Some(json!({ "name": "" })),
        )
        .await;
    assert_eq!(paths(&reply), ["name"]);
}

#[tokio::test]
async fn patch_with_stale_if_unmodified_since_is_409() {
    let app = TestApp::new().await;
    let template = created(&app, json!({ "name": "T" })).await;
    let id = template["id"].as_str().unwrap();
    let path = format!("/v1/templates/{id}");

    let reply = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "name": "A", "ifUnmodifiedSince": template["updatedAt"] })),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the same time is not later: {}",
        reply.body
    );
    let updated_at = reply.body["updatedAt"].clone();

    let reply = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "name": "B", "ifUnmodifiedSince": "2020-01-01T00:00:00.000Z" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.body,
        json!({
            "error": "conflict",
            "message": "Template was modified after ifUnmodifiedSince",
            "lastEditedFrom": "api",
            "updatedAt": updated_at,
            "code": "CONFLICT"
        })
    );
    let stored = app.call(Method::GET, &path, None).await;
    assert_eq!(stored.body["name"], "A", "a rejected patch writes nothing");

    let reply = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "ifUnmodifiedSince": "last week" })),
        )
        .await;
    assert_eq!(paths(&reply), ["ifUnmodifiedSince"]);
}

#[tokio::test]
async fn publish_records_ses_template_name() {
    let app = TestApp::new().await;
    let connection = app
        .call(
            Method::POST,
            "/v1/connections",
            Some(json!({ "accountId": "123456789012", "region": "us-east-1" })),
        )
        .await;
    let template = created(
        &app,
        json!({ "name": "T", "subject": "Hi {{contact.firstName|there}}", "compiledHtml": "<p>Hi {{firstName}}</p>" }),
    )
    .await;
    let id = template["id"].as_str().unwrap();

    let reply = app
        .call(
            Method::POST,
            &format!("/v1/templates/{id}/publish"),
            Some(json!({ "awsAccountId": connection.body["connectionId"] })),
        )
        .await;
    let published = app.ses.templates.lock().unwrap().clone();
    assert_eq!(published.len(), 1, "the template must be created in SES");
    let (name, subject, html, text) = &published[0];
    assert_eq!(name, &format!("wraps_{}", id.replace('-', "")));
    assert_eq!(
        subject,
        "Hi {{#if contactFirstName}}{{contactFirstName}}{{else}}there{{/if}}"
    );
    assert_eq!(html, "<p>Hi {{firstName}}</p>");
    assert!(
        text.as_deref().unwrap().contains("Hi {{firstName}}"),
        "{text:?}"
    );
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["success"], true);
    assert_eq!(
        reply.body["sesTemplateName"],
        format!("wraps_{}", id.replace('-', ""))
    );
    let published_at = reply.body["publishedAt"].clone();
    assert!(published_at.as_str().unwrap().ends_with('Z'));

    let stored = app
        .call(Method::GET, &format!("/v1/templates/{id}"), None)
        .await;
    assert_eq!(stored.body["status"], "PUBLISHED");
    assert_eq!(stored.body["publishedAt"], published_at);
}

#[tokio::test]
async fn publish_checks_subject_account_and_html() {
    let app = TestApp::new().await;
    let no_subject = created(&app, json!({ "name": "A", "compiledHtml": "<p>" })).await;
    let no_html = created(&app, json!({ "name": "B", "subject": "s" })).await;
    let ready = created(
        &app,
        json!({ "name": "C", "subject": "s", "compiledHtml": "<p>" }),
    )
    .await;
    let publish =
        |template: &Value| format!("/v1/templates/{}/publish", template["id"].as_str().unwrap());

    let reply = app.call(Method::POST, &publish(&no_subject), None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert!(reply.body["error"]
        .as_str()
        .unwrap()
        .starts_with("Template subject is required"));

    let reply = app.call(Method::POST, &publish(&ready), None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert!(reply.body["error"]
        .as_str()
        .unwrap()
        .starts_with("No AWS account connected"));

    let theirs = app
        .call_as(
            Some(&app.other_key),
            Method::POST,
            "/v1/connections",
            Some(json!({ "accountId": "210987654321", "region": "eu-west-1" })),
        )
        .await;
    for account in [theirs.body["connectionId"].clone(), json!("not-a-uuid")] {
        let reply = app
            .call(
                Method::POST,
                &publish(&ready),
                Some(json!({ "awsAccountId": account })),
            )
            .await;
        assert_error(&reply, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_eq!(reply.body["error"], "AWS account not found");
    }
    let reply = app
        .call(
            Method::POST,
            &publish(&ready),
            Some(json!({ "awsAccountId": "x".repeat(37) })),
        )
        .await;
    assert_eq!(paths(&reply), ["awsAccountId"]);

    app.call(
        Method::POST,
        "/v1/connections",
        Some(json!({ "accountId": "123456789012", "region": "us-east-1" })),
    )
    .await;
    let reply = app.call(Method::POST, &publish(&no_html), None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "BAD_REQUEST");
    assert!(reply.body["error"]
        .as_str()
        .unwrap()
        .contains("compiled HTML"));

    let reply = app.call(Method::POST, &publish(&ready), None).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the first connection is used: {}",
        reply.body
    );

    let page = app
        .call(Method::GET, "/v1/templates?status=PUBLISHED", None)
        .await;
    assert_eq!(
        ids(&page.body),
        [ready["id"].as_str().unwrap()],
        "rejected publishes write nothing"
    );
}

#[tokio::test]
async fn duplicate_copies_as_draft_without_slug() {
    let app = TestApp::new().await;
    app.call(
        Method::POST,
        "/v1/connections",
        Some(json!({ "accountId": "123456789012", "region": "us-east-1" })),
    )
    .await;
    let original = created(
        &app,
        json!({ "name": "Welcome", "slug": "welcome", "subject": "Hi", "source": "src", "compiledHtml": "<p>",
                "variables": [{ "name": "x" }], "emailType": "transactional" }),
    )
    .await;
    let id = original["id"].as_str().unwrap();
    app.call(Method::POST, &format!("/v1/templates/{id}/publish"), None)
        .await;

    let reply = app
        .call(Method::POST, &format!("/v1/templates/{id}/duplicate"), None)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let copy = &reply.body;
    assert_ne!(copy["id"], original["id"]);
    assert_eq!(copy["name"], "Welcome (Copy)");
    assert_eq!(copy["status"], "DRAFT");
    assert_eq!(copy["slug"], Value::Null);
    assert_eq!(copy["publishedAt"], Value::Null);
    for key in [
        "subject",
        "source",
        "compiledHtml",
        "variables",
        "emailType",
        "sourceHash",
    ] {
        assert_eq!(copy[key], original[key], "{key} is copied");
    }

    let again = app
        .call(Method::POST, &format!("/v1/templates/{id}/duplicate"), None)
        .await;
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "copies have no slug to collide on"
    );
}
