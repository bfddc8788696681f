//! The per-organisation API rate limit: headers, the 429, the groups it
//! covers, sharing between replicas and the failure policy.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use ratelimit::{Limiter, Plans};
use serde_json::json;

use crate::{assert_error, send_to, Reply, TestApp};

fn header(reply: &Reply, name: &str) -> String {
    reply
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header; status {}", reply.status))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Returns a shared limiter under a prefix of this test's own when
/// `WRAPS_TEST_REDIS_URL` is set, else `None`.
async fn redis_limiter() -> Option<(Limiter, String, String)> {
    let url = std::env::var("WRAPS_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())?;
    let prefix = format!("wraps-test-{}:", uuid::Uuid::new_v4().simple());
    let limiter = Limiter::redis(&url, &prefix, std::time::Duration::from_secs(2))
        .await
        .unwrap();
    Some((limiter, url, prefix))
}

/// Returns the limiter these tests run against: Redis when configured, so
/// that the shared script is what gets checked there.
async fn limiter() -> Limiter {
    match redis_limiter().await {
        Some((limiter, _, _)) => limiter,
        None => Limiter::local(),
    }
}

async fn free_app() -> TestApp {
    let store = store::test_support::fresh_store().await;
    TestApp::build_with_limiter(store, "free", Vec::new(), limiter().await).await
}

#[tokio::test]
async fn free_plan_51st_request_is_429() {
    let app = free_app().await;
    for used in 1..=50 {
        let reply = app.call(Method::GET, "/v1/templates", None).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "request {used}: {}",
            reply.body
        );
        assert_eq!(header(&reply, "ratelimit-limit"), "50");
        assert_eq!(
            header(&reply, "ratelimit-remaining"),
            (50 - used).to_string()
        );
        assert_eq!(header(&reply, "x-ratelimit-limit"), "50");
        assert_eq!(
            header(&reply, "x-ratelimit-remaining"),
            (50 - used).to_string()
        );
        assert_eq!(header(&reply, "ratelimit-policy"), "50;w=60");
        // The bucket refills one request every 1.2 s, so it is full again
        // 1.2 s per used request from now, rounded up.
        let reset: u64 = header(&reply, "ratelimit-reset").parse().unwrap();
        let expected = (used as f64 * 1.2).ceil() as u64;
        assert!(
            (expected.saturating_sub(2)..=expected).contains(&reset),
            "request {used}: reset {reset}, expected about {expected}"
        );
        assert_eq!(header(&reply, "x-ratelimit-reset"), reset.to_string());
        assert!(reply.headers.get("retry-after").is_none());
    }

    let rejected = app.call(Method::GET, "/v1/templates", None).await;
    assert_error(&rejected, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert_eq!(
        rejected.body["error"],
        "Rate limit exceeded: 50 requests per minute"
    );
    assert!(rejected.body["requestId"].is_string());
    assert_eq!(header(&rejected, "ratelimit-remaining"), "0");
    assert_eq!(header(&rejected, "x-ratelimit-remaining"), "0");
    assert_eq!(header(&rejected, "ratelimit-limit"), "50");
    let retry: u64 = header(&rejected, "retry-after").parse().unwrap();
    assert!((1..=2).contains(&retry), "retry-after {retry}");
    assert_eq!(header(&rejected, "ratelimit-reset"), retry.to_string());

    // The other organisation has its own bucket.
    let other = app
        .call_as(Some(&app.other_key), Method::GET, "/v1/templates", None)
        .await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(header(&other, "ratelimit-remaining"), "49");
}

#[tokio::test]
async fn limit_runs_before_the_plan_gate() {
    let app = free_app().await;
    // Batches need pro; a free organisation gets 403 until its bucket is
    // empty, then 429.
    for _ in 0..50 {
        let reply = app.call(Method::GET, "/v1/batch", None).await;
        assert_error(&reply, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(reply.headers.get("ratelimit-remaining").is_some());
    }
    let reply = app.call(Method::GET, "/v1/batch", None).await;
    assert_error(&reply, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    // Templates share the organisation's bucket.
    let reply = app.call(Method::GET, "/v1/templates", None).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn unlimited_groups_carry_no_headers() {
    let app = free_app().await;
    for _ in 0..60 {
        let reply = app.call(Method::GET, "/v1/contacts", None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.headers.get("ratelimit-limit").is_none());
    }
    let reply = app.call(Method::GET, "/v1/topics", None).await;
    assert!(reply.headers.get("ratelimit-limit").is_none());
}

#[tokio::test]
async fn unauthenticated_requests_are_401_not_counted() {
    let app = free_app().await;
    for _ in 0..60 {
        let reply = app
            .call_as(Some("wraps_live_nope"), Method::GET, "/v1/templates", None)
            .await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    let reply = app.call(Method::GET, "/v1/templates", None).await;
    assert_eq!(header(&reply, "ratelimit-remaining"), "49");
}

#[tokio::test]
async fn gates_off_means_no_limit() {
    let app = free_app().await;
    let plans = Plans::from_toml("", false).unwrap();
    let router = app.replica(plans, Limiter::local());
    for _ in 0..60 {
        let request = Request::builder()
            .uri("/v1/templates")
            .header("authorization", format!("Bearer {}", app.key))
            .body(Body::empty())
            .unwrap();
        let reply = send_to(&router, request).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.headers.get("ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn configured_plan_values_apply() {
    let app = free_app().await;
    let plans = Plans::from_toml(
        "[plans.free]\napi_requests_per_minute = 3\napi_requests_per_day = 1000\n",
        true,
    )
    .unwrap();
    let router = app.replica(plans, Limiter::local());
    let get = || {
        Request::builder()
            .uri("/v1/templates")
            .header("authorization", format!("Bearer {}", app.key))
            .body(Body::empty())
            .unwrap()
    };
    for remaining in ["2", "1", "0"] {
        let reply = send_to(&router, get()).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(header(&reply, "ratelimit-remaining"), remaining);
        assert_eq!(header(&reply, "ratelimit-policy"), "3;w=60, 1000;w=86400");
    }
    let reply = send_to(&router, get()).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        reply.body["error"],
        "Rate limit exceeded: 3 requests per minute"
    );
    // A rejected request leaves the day window uncharged: 3 of 1000 used.
    assert_eq!(header(&reply, "ratelimit-limit"), "3");
}

#[tokio::test]
async fn replicas_share_the_count() {
    // Two API replicas over one store. With Redis they share the bucket
    // through it; without, they share one in-process limiter, the way the
    // embedded default runs one process.
    let (first, second) = match redis_limiter().await {
        // A second connection under the same prefix, as another replica
        // would open.
        Some((first, url, prefix)) => {
            let second = Limiter::redis(&url, &prefix, std::time::Duration::from_secs(2))
                .await
                .unwrap();
            (first, second)
        }
        None => {
            let shared = Limiter::local();
            (shared.clone(), shared)
        }
    };
    let store = store::test_support::fresh_store().await;
    let app = TestApp::build_with_limiter(store, "free", Vec::new(), first).await;
    let replica = app.replica(Plans::hosted(), second);

    for used in 1..=50 {
        let reply = if used % 2 == 0 {
            app.call(Method::GET, "/v1/templates", None).await
        } else {
            let request = Request::builder()
                .uri("/v1/templates")
                .header("authorization", format!("Bearer {}", app.key))
                .body(Body::empty())
                .unwrap();
            send_to(&replica, request).await
        };
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            header(&reply, "ratelimit-remaining"),
            (50 - used).to_string()
        );
    }
    let reply = app.call(Method::GET, "/v1/templates", None).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn redis_failure_policy_per_route() {
    let Some((limiter, url, prefix)) = redis_limiter().await else {
        eprintln!("skipped: needs WRAPS_TEST_REDIS_URL");
        return;
    };
    let store = store::test_support::fresh_store().await;
    let app = TestApp::build_with_limiter(store, "pro", Vec::new(), limiter).await;
    // Break the organisation's minute bucket: the script cannot read it.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{prefix}rl:{{api:{}}}:2000:60", app.org);
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("not a number")
        .query_async(&mut connection)
        .await
        .unwrap();

    let read = app.call(Method::GET, "/v1/batch", None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert!(read.headers.get("ratelimit-limit").is_none());

    let create = app
        .call(
            Method::POST,
            "/v1/batch",
            Some(json!({"name": "x", "channel": "email"})),
        )
        .await;
    assert_error(&create, StatusCode::SERVICE_UNAVAILABLE, "INTERNAL_ERROR");
    assert_eq!(header(&create, "retry-after"), "1");
    let filter = store::BatchFilter {
        page: 1,
        page_size: 10,
        ..store::BatchFilter::default()
    };
    let (_, total) = app.store.list_batches(app.org, &filter).await.unwrap();
    assert_eq!(total, 0, "nothing may be written on a closed failure");
}

#[tokio::test]
async fn rejected_request_keeps_its_idempotency_key() {
    let app = free_app().await;
    let plans = Plans::from_toml("[plans.free]\napi_requests_per_minute = 1\n", true).unwrap();
    let router = app.replica(plans, Limiter::local());
    let create = || {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/templates")
            .header("authorization", format!("Bearer {}", app.key))
            .header("content-type", "application/json")
            .header("idempotency-key", "template-once")
            .body(Body::from(
                json!({"name": "Welcome", "subject": "Hi", "html": "<p>Hi</p>"}).to_string(),
            ))
            .unwrap()
    };

    let first = send_to(&router, create()).await;
    assert!(
        first.status.is_success() || first.status == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        first.body
    );

    // A different key is rejected by the limit, and not stored.
    let rejected = send_to(
        &router,
        Request::builder()
            .method(Method::POST)
            .uri("/v1/templates")
            .header("authorization", format!("Bearer {}", app.key))
            .header("content-type", "application/json")
            .header("idempotency-key", "limited")
            .body(Body::from(json!({"name": "Other"}).to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(rejected.status, StatusCode::TOO_MANY_REQUESTS);

    let stored = app
        .store
        .begin_idempotent(
            app.org,
            "limited",
            "fingerprint",
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert!(
        matches!(stored, store::IdempotencyBegin::Started),
        "the 429 was stored under its key: {stored:?}"
    );
}
