//! `POST /webhooks/ses/{account}`: authentication of both envelopes, SNS
//! verification and subscription confirmation against local fakes, the
//! ignored cases, and the job each accepted event puts on the intake
//! stream. The effects of those jobs are tested in the store and dispatcher
//! suites.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use base64::Engine as _;
use control_plane::routes::webhooks::{SubscriptionConfirmer, WebhookClients};
use control_plane::{app, ApiConfig, AppState};
use schemas::delivery::{DeliveryEvent, DeliveryFact, SES_EVENT};
use serde_json::{json, Value};
use streams::{ShardId, WorkerId};
use webhooks::sns::{CertificateFetcher, FetchError, SignatureVersion, SnsSigner};

use crate::{assert_error, send_to, Reply, TestApp};

/// The account number of the fixtures.
const ACCOUNT: &str = "111122223333";
const TOPIC: &str = "arn:aws:sns:eu-west-1:111122223333:wraps-ses-events";
const CERT_URL: &str =
    "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem";

fn webhooks_dir(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../webhooks/tests")
        .join(relative)
}

fn fixture(name: &str) -> Value {
    let bytes = std::fs::read(webhooks_dir("fixtures").join(name)).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn data(name: &str) -> Vec<u8> {
    std::fs::read(webhooks_dir("data").join(name)).unwrap()
}

/// Serves the test signing certificate for every URL and counts fetches.
#[derive(Default)]
struct LocalCertificates {
    fetched: Mutex<Vec<String>>,
}

#[async_trait]
impl CertificateFetcher for LocalCertificates {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.fetched.lock().unwrap().push(url.to_owned());
        Ok(data("signing-cert.pem"))
    }
}

/// Records confirmations; fails while `fail` is set.
#[derive(Default)]
struct RecordingConfirmer {
    confirmed: Mutex<Vec<String>>,
    fail: Mutex<bool>,
}

#[async_trait]
impl SubscriptionConfirmer for RecordingConfirmer {
    async fn confirm(&self, url: &str) -> Result<(), String> {
        if *self.fail.lock().unwrap() {
            return Err("connection refused".into());
        }
        self.confirmed.lock().unwrap().push(url.to_owned());
        Ok(())
    }
}

struct Harness {
    app: TestApp,
    router: Router,
    certificates: Arc<LocalCertificates>,
    confirmer: Arc<RecordingConfirmer>,
}

impl Harness {
    async fn new() -> Self {
        let test_app = TestApp::new().await;
        let certificates = Arc::new(LocalCertificates::default());
        let confirmer = Arc::new(RecordingConfirmer::default());
        let state = AppState::new(
            test_app.store.clone(),
            test_app.streams.clone(),
            test_app.ses.clone(),
            ApiConfig::default(),
            Vec::new(),
        )
        .with_webhook_clients(WebhookClients {
            certificates: certificates.clone(),
            confirmer: confirmer.clone(),
        });
        Self {
            router: app(state),
            app: test_app,
            certificates,
            confirmer,
        }
    }

    /// Registers a connection for `ACCOUNT` in the org of `key` and returns
    /// its webhook secret.
    async fn connect(&self, key: &str) -> String {
        let reply = self
            .app
            .call_as(
                Some(key),
                Method::POST,
                "/v1/connections",
                Some(json!({"accountId": ACCOUNT, "region": "eu-west-1"})),
            )
            .await;
        assert!(reply.status.is_success(), "{}", reply.body);
        reply.body["webhookSecret"].as_str().unwrap().to_owned()
    }

    async fn post(&self, account: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("/webhooks/ses/{account}"))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        send_to(&self.router, request.body(Body::from(body)).unwrap()).await
    }

    async fn post_eventbridge(&self, secret: &str, event: &Value) -> Reply {
        self.post(
            ACCOUNT,
            &[("x-wraps-api-key", secret)],
            serde_json::to_vec(event).unwrap(),
        )
        .await
    }

    async fn post_sns(&self, message: &Value, basic_secret: Option<&str>) -> Reply {
        let kind = message["Type"].as_str().unwrap().to_owned();
        let basic = basic_secret.map(|secret| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("wraps:{secret}"))
            )
        });
        let mut headers = vec![("x-amz-sns-message-type", kind.as_str())];
        if let Some(basic) = &basic {
            headers.push(("authorization", basic.as_str()));
        }
        self.post(ACCOUNT, &headers, serde_json::to_vec(message).unwrap())
            .await
    }

    /// Reads the jobs waiting on the intake stream.
    async fn intake(&self) -> Vec<DeliveryEvent> {
        let worker = WorkerId::random();
        let deliveries = self
            .app
            .streams
            .consumer
            .read(ShardId::INTAKE, &worker, 100, Duration::ZERO)
            .await
            .unwrap();
        deliveries
            .iter()
            .map(|delivery| {
                assert_eq!(delivery.job.kind, SES_EVENT);
                delivery.job.decode_payload().unwrap()
            })
            .collect()
    }
}

/// Re-signs an SNS fixture with the test key, dated now.
fn signed(mut message: Value, version: SignatureVersion) -> Value {
    message["Timestamp"] = json!(chrono::Utc::now().to_rfc3339());
    message["SigningCertURL"] = json!(CERT_URL);
    let key = String::from_utf8(data("signing-key.pem")).unwrap();
    SnsSigner::from_pem(&key)
        .unwrap()
        .sign(&mut message, version)
        .unwrap();
    message
}

#[tokio::test]
async fn eventbridge_fixtures_queued_for_org() {
    let harness = Harness::new().await;
    let secret = harness.connect(&harness.app.key).await;
    let names = [
        ("eventbridge-delivery.json", DeliveryFact::Delivery),
        ("eventbridge-open.json", DeliveryFact::Open),
        ("eventbridge-click.json", DeliveryFact::Click),
        ("eventbridge-bounce-permanent.json", DeliveryFact::Bounce),
        ("eventbridge-bounce-transient.json", DeliveryFact::Bounce),
        ("eventbridge-complaint.json", DeliveryFact::Complaint),
    ];
    for (name, _) in names {
        let event = fixture(name);
        let reply = harness.post_eventbridge(&secret, &event).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
        assert_eq!(reply.body["status"], "accepted", "{name}");
        assert_eq!(
            reply.body["messageId"], event["detail"]["mail"]["messageId"],
            "{name}"
        );
    }
    let queued = harness.intake().await;
    assert_eq!(queued.len(), names.len());
    for (event, (name, fact)) in queued.iter().zip(names) {
        assert_eq!(event.fact, fact, "{name}");
        assert_eq!(event.organization_id, harness.app.org);
        assert_eq!(
            event.delivery_key,
            format!("eventbridge:{}", fixture(name)["id"].as_str().unwrap())
        );
    }
    assert_eq!(queued[3].bounce_type.as_deref(), Some("Permanent"));
    assert_eq!(queued[4].bounce_type.as_deref(), Some("Transient"));
}

#[tokio::test]
async fn secret_picks_org_on_shared_account() {
    let harness = Harness::new().await;
    let first = harness.connect(&harness.app.key).await;
    let second = harness.connect(&harness.app.other_key).await;
    assert_ne!(first, second);
    let event = fixture("eventbridge-delivery.json");
    assert_eq!(
        harness.post_eventbridge(&second, &event).await.status,
        StatusCode::OK
    );
    assert_eq!(
        harness.post_eventbridge(&first, &event).await.status,
        StatusCode::OK
    );
    let queued = harness.intake().await;
    assert_eq!(queued[0].organization_id, harness.app.other_org);
    assert_eq!(queued[1].organization_id, harness.app.org);
}

#[tokio::test]
async fn bad_credentials_uniform_401() {
    let harness = Harness::new().await;
    let secret = harness.connect(&harness.app.key).await;
    let event = serde_json::to_vec(&fixture("eventbridge-delivery.json")).unwrap();
    let replies = [
        harness
            .post(
                "999988887777",
                &[("x-wraps-api-key", &secret)],
                event.clone(),
            )
            .await,
        harness
            .post(ACCOUNT, &[("x-wraps-api-key", "wrong")], event.clone())
            .await,
        harness
            .post(ACCOUNT, &[("x-wraps-api-key", "")], event.clone())
            .await,
        harness.post(ACCOUNT, &[], event.clone()).await,
    ];
    for reply in &replies {
        assert_error(reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
        assert_eq!(reply.body["error"], "Unauthorized");
    }
    assert!(harness.intake().await.is_empty());
}

#[tokio::test]
async fn account_number_twelve_digits() {
    let harness = Harness::new().await;
    for account in ["12345", "1111222233334", "11112222333a"] {
        let reply = harness.post(account, &[], b"{}".to_vec()).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{account}");
        assert_eq!(reply.body["details"][0]["path"], "awsAccountNumber");
    }
}

#[tokio::test]
async fn malformed_body_400_permanent_ignored() {
    let harness = Harness::new().await;
    let secret = harness.connect(&harness.app.key).await;
    let headers = [("x-wraps-api-key", secret.as_str())];

    for body in [&b"{not json"[..], b"[]", b"\"text\"", b"{\"detail\":{}}"] {
        let reply = harness.post(ACCOUNT, &headers, body.to_vec()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(body)
        );
    }

    let mut missing_id = fixture("eventbridge-delivery.json");
    missing_id["detail"]["mail"]
        .as_object_mut()
        .unwrap()
        .remove("messageId");
    let reply = harness.post_eventbridge(&secret, &missing_id).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.body,
        json!({"status": "ignored", "reason": "missing mail.messageId"})
    );

    let mut delay = fixture("eventbridge-delivery.json");
    delay["detail"]["eventType"] = json!("DeliveryDelay");
    let reply = harness.post_eventbridge(&secret, &delay).await;
    assert_eq!(
        reply.body,
        json!({"status": "ignored", "reason": "unsupported event type: DeliveryDelay"})
    );

    assert!(harness.intake().await.is_empty());
}

#[tokio::test]
async fn sns_confirmation_then_notifications() {
    let harness = Harness::new().await;
    harness.connect(&harness.app.key).await;

    // Before the subscription is confirmed, a notification without the
    // secret comes from a topic that no connection has recorded.
    let notification = signed(fixture("sns-delivery.json"), SignatureVersion::V2);
    assert_error(
        &harness.post_sns(&notification, None).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    );

    let confirmation = signed(
        fixture("sns-subscription-confirmation.json"),
        SignatureVersion::V1,
    );
    let reply = harness.post_sns(&confirmation, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "confirmed");
    let confirmed = harness.confirmer.confirmed.lock().unwrap().clone();
    assert_eq!(confirmed.len(), 1);
    assert!(confirmed[0].contains("Action=ConfirmSubscription"));

    for name in [
        "sns-delivery.json",
        "sns-open.json",
        "sns-click.json",
        "sns-bounce-permanent.json",
        "sns-bounce-transient.json",
        "sns-complaint.json",
    ] {
        let message = signed(fixture(name), SignatureVersion::V2);
        let reply = harness.post_sns(&message, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
        assert_eq!(reply.body["status"], "accepted", "{name}");
    }
    let queued = harness.intake().await;
    assert_eq!(queued.len(), 6);
    assert!(queued.iter().all(|e| e.delivery_key.starts_with("sns:")));
    // One certificate URL, fetched once and then served from the cache.
    assert_eq!(harness.certificates.fetched.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn sns_confirmation_failure_500() {
    let harness = Harness::new().await;
    harness.connect(&harness.app.key).await;
    *harness.confirmer.fail.lock().unwrap() = true;
    let confirmation = signed(
        fixture("sns-subscription-confirmation.json"),
        SignatureVersion::V2,
    );
    let reply = harness.post_sns(&confirmation, None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body["error"], "Failed to process event");
}

#[tokio::test]
async fn sns_basic_credentials_accepted() {
    let harness = Harness::new().await;
    let secret = harness.connect(&harness.app.key).await;
    let message = signed(fixture("sns-open.json"), SignatureVersion::V2);
    let reply = harness.post_sns(&message, Some(&secret)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = harness.post_sns(&message, Some("wrong")).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}

#[tokio::test]
async fn sns_untrusted_messages_401() {
    let harness = Harness::new().await;
    let secret = harness.connect(&harness.app.key).await;

    let mut forged = signed(fixture("sns-delivery.json"), SignatureVersion::V2);
    forged["Message"] = json!(forged["Message"]
        .as_str()
        .unwrap()
        .replace("Delivery", "Complaint"));

    let mut expired = fixture("sns-delivery.json");
    expired["SigningCertURL"] = json!(CERT_URL);
    let key = String::from_utf8(data("signing-key.pem")).unwrap();
    expired["Timestamp"] = json!((chrono::Utc::now() - chrono::TimeDelta::hours(2)).to_rfc3339());
    SnsSigner::from_pem(&key)
        .unwrap()
        .sign(&mut expired, SignatureVersion::V2)
        .unwrap();

    let mut foreign = fixture("sns-delivery.json");
    foreign["TopicArn"] = json!("arn:aws:sns:eu-west-1:444455556666:someone-else");
    let foreign = signed(foreign, SignatureVersion::V2);

    let mut wrong_host = fixture("sns-delivery.json");
    wrong_host["Timestamp"] = json!(chrono::Utc::now().to_rfc3339());
    wrong_host["SigningCertURL"] =
        json!("https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem");
    SnsSigner::from_pem(&key)
        .unwrap()
        .sign(&mut wrong_host, SignatureVersion::V2)
        .unwrap();

    for (what, message) in [
        ("forged", &forged),
        ("expired", &expired),
        ("foreign topic", &foreign),
        ("wrong certificate host", &wrong_host),
    ] {
        let reply = harness.post_sns(message, Some(&secret)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            reply.body
        );
    }
    let fetched = harness.certificates.fetched.lock().unwrap().clone();
    assert!(
        fetched.iter().all(|url| url == CERT_URL),
        "a certificate was fetched from {fetched:?}"
    );
    assert!(harness.intake().await.is_empty());
}

#[tokio::test]
async fn sns_raw_delivery_400() {
    let harness = Harness::new().await;
    let secret = harness.connect(&harness.app.key).await;
    let raw = fixture("eventbridge-delivery.json")["detail"].clone();
    let reply = harness
        .post(
            ACCOUNT,
            &[
                ("x-amz-sns-message-type", "Notification"),
                ("x-wraps-api-key", &secret),
            ],
            serde_json::to_vec(&raw).unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(
        reply.body["error"].as_str().unwrap().contains("raw"),
        "{}",
        reply.body
    );
}

#[test]
fn fixtures_test_account() {
    assert_eq!(fixture("eventbridge-delivery.json")["account"], ACCOUNT);
    assert_eq!(fixture("sns-delivery.json")["TopicArn"], TOPIC);
}

/// Characters of a path segment that need no escaping.
const TOKEN_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";

#[test]
fn arbitrary_input_never_gets_5xx() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (harness, secret) = runtime.block_on(async {
        let harness = Harness::new().await;
        let secret = harness.connect(&harness.app.key).await;
        (harness, secret)
    });
    let bodies: Vec<Vec<u8>> = [
        "eventbridge-bounce-permanent.json",
        "eventbridge-open.json",
        "sns-delivery.json",
    ]
    .iter()
    .map(|name| serde_json::to_vec(&fixture(name)).unwrap())
    .collect();

    let edits = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6);
    let token = prop::collection::vec(prop::sample::select(TOKEN_CHARS), 1..120);
    let strategy = (0..bodies.len(), edits, any::<bool>(), token);
    let mut runner = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(which, edits, as_sns, token)| {
            let mut body = bodies[which].clone();
            for (index, byte) in edits {
                let at = index.index(body.len());
                body[at] = byte;
            }
            let mut headers = vec![("x-wraps-api-key", secret.as_str())];
            if as_sns {
                headers.push(("x-amz-sns-message-type", "Notification"));
            }
            let reply = runtime.block_on(harness.post(ACCOUNT, &headers, body));
            prop_assert!(
                !reply.status.is_server_error(),
                "webhook answered {}: {}",
                reply.status,
                reply.body
            );

            let token = String::from_utf8(token).unwrap();
            for (method, path) in [
                (Method::GET, format!("/unsubscribe/{token}")),
                (Method::POST, format!("/unsubscribe/{token}")),
                (Method::GET, format!("/confirm/{token}")),
                (Method::POST, format!("/confirm/{token}")),
            ] {
                let request = Request::builder()
                    .method(method.clone())
                    .uri(&path)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from("List-Unsubscribe=One-Click"))
                    .unwrap();
                let reply = runtime.block_on(send_to(&harness.router, request));
                prop_assert!(
                    !reply.status.is_server_error(),
                    "{method} {path} answered {}",
                    reply.status
                );
            }
            Ok(())
        })
        .unwrap();
    runtime.block_on(async move { drop(harness) });
}
