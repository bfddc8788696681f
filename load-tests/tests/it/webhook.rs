//! SES events posted to a webhook: fates at the configured ratios and repeatable by
//! seed, both envelopes as the webhooks crate parses and verifies them, retries, and
//! the counters on `/sim/stats`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use axum::http::StatusCode;
use chrono::Utc;
use load_tests::sim::events::{API_KEY_HEADER, SNS_MESSAGE_TYPE_HEADER};
use load_tests::sim::{
    EventRatios, SimServer, SnsSignatureVersion, SnsSigning, WebhookConfig, WebhookFormat,
    WebhookStats,
};
use serde_json::{json, Value};
use webhooks::record::EventDetail;
use webhooks::sns::{CertificateFetcher, FetchError};
use webhooks::{Envelope, SnsVerifier};

use crate::bulk::{create_template, default_content, entry};
use crate::receiver::{eventbridge, flush, start_sim_with_webhook, Receiver, ACCOUNT, SECRET};
use crate::support::{http, send_one, ses_client, simple_content, tag, to, SENDER};

const CERT_URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-ses-sim.pem";

fn test_key() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/sns-signing-key.pem"
    ))
    .unwrap()
}

fn test_cert() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/sns-signing-cert.pem"
    ))
    .unwrap()
}

fn addresses(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("reader{i}@example.com"))
        .collect()
}

/// Sends one SendBulkEmail call per 50 recipients, tagged with `batch_id`.
async fn send_bulk(client: &Client, recipients: &[String], batch_id: &str) {
    create_template(client, "news", "News for {{name}}", "<p>News</p>").await;
    for chunk in recipients.chunks(50) {
        let output = client
            .send_bulk_email()
            .from_email_address(SENDER)
            .default_content(default_content("news", r#"{"name":"reader"}"#))
            .default_email_tags(tag("batchId", batch_id))
            .set_bulk_email_entries(Some(chunk.iter().map(|a| entry(a)).collect()))
            .send()
            .await
            .expect("SendBulkEmail succeeds");
        assert_eq!(output.bulk_email_entry_results().len(), chunk.len());
    }
}

/// Returns the event types each recipient got, in arrival order.
fn events_by_recipient(sim: &SimServer, receiver: &Receiver) -> BTreeMap<String, Vec<String>> {
    let recipient_of: HashMap<String, String> = sim
        .messages(None)
        .into_iter()
        .map(|message| (message.message_id, message.to))
        .collect();
    let mut events: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for received in receiver.received() {
        let (_, event) = received.parse();
        let recipient = recipient_of
            .get(&event.message_id)
            .expect("every event names a message the simulator accepted");
        events
            .entry(recipient.clone())
            .or_default()
            .push(event.type_name);
    }
    events
}

fn count_type(events: &BTreeMap<String, Vec<String>>, event_type: &str) -> usize {
    events
        .values()
        .filter(|types| types.iter().any(|name| name == event_type))
        .count()
}

#[tokio::test]
async fn ratios_hold_over_2000_recipients() {
    let receiver = Receiver::start(&[]).await;
    let ratios = EventRatios {
        bounce: 0.1,
        complaint: 0.05,
        open: 0.4,
        click: 0.2,
    };
    let webhook = WebhookConfig {
        ratios,
        concurrency: 8,
        ..eventbridge(receiver.url())
    };
    let sim = start_sim_with_webhook(webhook, 2026).await;
    let client = ses_client(&sim.endpoint());

    send_bulk(&client, &addresses(2000), "ratios").await;
    flush(&sim).await;

    let events = events_by_recipient(&sim, &receiver);
    assert_eq!(events.len(), 2000, "every recipient got events");
    let bounced = count_type(&events, "Bounce");
    let delivered = count_type(&events, "Delivery");
    assert_eq!(bounced + delivered, 2000);
    let share = |count: usize, of: usize| count as f64 / of as f64;
    // About four standard deviations of a binomial draw at these sizes.
    assert!(
        (share(bounced, 2000) - 0.1).abs() < 0.03,
        "bounced {bounced}"
    );
    let opened = count_type(&events, "Open");
    assert!(
        (share(opened, delivered) - 0.4).abs() < 0.05,
        "opened {opened}"
    );
    let clicked = count_type(&events, "Click");
    assert!(
        (share(clicked, delivered) - 0.2).abs() < 0.04,
        "clicked {clicked}"
    );
    let complained = count_type(&events, "Complaint");
    assert!(
        (share(complained, delivered) - 0.05).abs() < 0.025,
        "complained {complained}"
    );

    let stats = sim.webhook_stats().expect("webhook configured");
    assert_eq!(stats.posted, stats.generated);
    assert_eq!(stats.total_failed(), 0);
    assert_eq!(stats.pending_messages, 0);
    assert_eq!(receiver.received().len() as u64, stats.total_posted());
    for (event_type, count) in [
        ("Bounce", bounced),
        ("Delivery", delivered),
        ("Open", opened),
        ("Click", clicked),
        ("Complaint", complained),
        ("Send", 0),
    ] {
        assert_eq!(
            WebhookStats::count(&stats.posted, event_type),
            count as u64,
            "{event_type}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn same_seed_gives_same_events() {
    let ratios = EventRatios {
        bounce: 0.2,
        complaint: 0.2,
        open: 0.5,
        click: 0.3,
    };
    let recipients = addresses(200);
    let mut reversed = recipients.clone();
    reversed.reverse();

    let mut runs = Vec::new();
    for (seed, order) in [(7, &recipients), (7, &reversed), (8, &recipients)] {
        let receiver = Receiver::start(&[]).await;
        let webhook = WebhookConfig {
            ratios,
            ..eventbridge(receiver.url())
        };
        let sim = start_sim_with_webhook(webhook, seed).await;
        send_bulk(&ses_client(&sim.endpoint()), order, "seeded").await;
        flush(&sim).await;
        runs.push(events_by_recipient(&sim, &receiver));
        sim.shutdown().await;
    }

    assert_eq!(runs[0].len(), 200);
    assert_eq!(runs[0], runs[1], "the same seed gives the same events");
    assert_ne!(runs[0], runs[2], "another seed gives other events");
}

#[tokio::test]
async fn eventbridge_post_carries_secret_and_envelope() {
    let receiver = Receiver::start(&[]).await;
    let sim = start_sim_with_webhook(eventbridge(receiver.url()), 1).await;
    let client = ses_client(&sim.endpoint());

    let message_id = send_one(&client, "ana@example.net", "batch-1")
        .await
        .unwrap();
    flush(&sim).await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let post = &received[0];
    assert_eq!(post.header(API_KEY_HEADER), Some(SECRET));
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(post.header(SNS_MESSAGE_TYPE_HEADER), None);

    let body = post.json();
    assert_eq!(body["version"], "0");
    assert_eq!(body["source"], "aws.ses");
    assert_eq!(body["account"], ACCOUNT);
    assert_eq!(body["region"], "us-east-1");
    assert_eq!(body["detail-type"], "Email Delivered");
    assert_eq!(body["resources"], json!([]));
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());

    let (envelope, event) = post.parse();
    assert!(matches!(envelope, Envelope::EventBridge(_)));
    assert_eq!(event.message_id, message_id);
    assert_eq!(event.type_name, "Delivery");
    assert_eq!(event.subject.as_deref(), Some("Hello"));
    assert_eq!(event.destination.len(), 1);
    assert_eq!(event.destination[0].as_str(), "ana@example.net");
    assert_eq!(event.source.as_ref().map(|s| s.as_str()), Some(SENDER));
    sim.shutdown().await;
}

#[tokio::test]
async fn tags_reach_the_events() {
    let receiver = Receiver::start(&[]).await;
    let sim = start_sim_with_webhook(eventbridge(receiver.url()), 1).await;
    let client = ses_client(&sim.endpoint());

    let single_id = client
        .send_email()
        .from_email_address(SENDER)
        .destination(to(&["ana@example.net"]))
        .content(simple_content("Tagged"))
        .email_tags(tag("batchId", "b-1"))
        .email_tags(tag("organizationId", "org-9"))
        .configuration_set_name("wraps-email-tracking")
        .send()
        .await
        .unwrap()
        .message_id()
        .unwrap()
        .to_owned();
    create_template(&client, "news", "News", "<p>News</p>").await;
    let bulk = client
        .send_bulk_email()
        .from_email_address(SENDER)
        .default_content(default_content("news", "{}"))
        .default_email_tags(tag("batchId", "b-2"))
        .default_email_tags(tag("contactId", "shared"))
        .bulk_email_entries(
            aws_sdk_sesv2::types::BulkEmailEntry::builder()
                .destination(to(&["bo@example.net"]))
                .replacement_tags(tag("contactId", "c-42"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let bulk_id = bulk.bulk_email_entry_results()[0]
        .message_id()
        .unwrap()
        .to_owned();
    flush(&sim).await;

    let events: HashMap<String, webhooks::SesEvent> = receiver
        .received()
        .iter()
        .map(|post| {
            let (_, event) = post.parse();
            (event.message_id.clone(), event)
        })
        .collect();

    let single = &events[&single_id];
    assert_eq!(single.tags["batchId"], ["b-1"]);
    assert_eq!(single.tags["organizationId"], ["org-9"]);
    assert_eq!(
        single.tags["ses:configuration-set"],
        ["wraps-email-tracking"]
    );
    assert_eq!(single.tags["ses:from-domain"], ["example.com"]);

    let bulk = &events[&bulk_id];
    assert_eq!(bulk.tags["batchId"], ["b-2"]);
    assert_eq!(bulk.tags["contactId"], ["c-42"], "ReplacementTags win");
    assert!(!bulk.tags.contains_key("ses:configuration-set"));
    sim.shutdown().await;
}

#[tokio::test]
async fn event_objects_match_ses_shapes() {
    let receiver = Receiver::start(&[]).await;
    let webhook = WebhookConfig {
        ratios: EventRatios {
            bounce: 0.5,
            complaint: 1.0,
            open: 1.0,
            click: 1.0,
        },
        emit_send: true,
        ..eventbridge(receiver.url())
    };
    let sim = start_sim_with_webhook(webhook, 3).await;
    send_bulk(&ses_client(&sim.endpoint()), &addresses(20), "shapes").await;
    flush(&sim).await;

    let by_recipient = events_by_recipient(&sim, &receiver);
    for types in by_recipient.values() {
        let expected: &[&str] = if types.contains(&"Bounce".to_owned()) {
            &["Send", "Bounce"]
        } else {
            &["Send", "Delivery", "Open", "Click", "Complaint"]
        };
        assert_eq!(types, expected, "events arrive in SES order");
    }
    assert!(count_type(&by_recipient, "Bounce") > 0);
    assert!(count_type(&by_recipient, "Delivery") > 0);

    for post in receiver.received() {
        let (_, event) = post.parse();
        match (event.type_name.as_str(), &event.detail) {
            ("Bounce", EventDetail::Bounce(bounce)) => {
                assert!(bounce.is_permanent());
                assert_eq!(bounce.bounce_sub_type.as_deref(), Some("General"));
                assert_eq!(bounce.recipients.len(), 1);
            }
            ("Delivery", EventDetail::Delivery(delivery)) => {
                assert_eq!(delivery.recipients.len(), 1);
            }
            ("Complaint", EventDetail::Complaint(complaint)) => {
                assert_eq!(complaint.recipients.len(), 1);
            }
            ("Open", EventDetail::Open(open)) => assert!(open.user_agent.is_some()),
            ("Click", EventDetail::Click(click)) => assert!(click.link.is_some()),
            ("Send", EventDetail::None) => {}
            (name, detail) => panic!("{name} has detail {detail:?}"),
        }
        assert!(event.event_timestamp.is_some() || event.type_name == "Send");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn retries_after_503() {
    let receiver = Receiver::start(&[
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::SERVICE_UNAVAILABLE,
    ])
    .await;
    let sim = start_sim_with_webhook(eventbridge(receiver.url()), 1).await;
    send_one(&ses_client(&sim.endpoint()), "ana@example.net", "b")
        .await
        .unwrap();
    flush(&sim).await;

    let stats = sim.webhook_stats().unwrap();
    assert_eq!(WebhookStats::count(&stats.posted, "Delivery"), 1);
    assert_eq!(stats.retries, 2);
    assert_eq!(stats.total_failed(), 0);
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert_eq!(
        received[0].body, received[2].body,
        "a retry repeats the same event id"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let receiver = Receiver::start(&[StatusCode::INTERNAL_SERVER_ERROR; 10]).await;
    let webhook = WebhookConfig {
        max_attempts: 3,
        ..eventbridge(receiver.url())
    };
    let sim = start_sim_with_webhook(webhook, 1).await;
    send_one(&ses_client(&sim.endpoint()), "ana@example.net", "b")
        .await
        .unwrap();
    flush(&sim).await;

    let stats = sim.webhook_stats().unwrap();
    assert_eq!(WebhookStats::count(&stats.failed, "Delivery"), 1);
    assert_eq!(stats.total_posted(), 0);
    assert_eq!(stats.retries, 2);
    assert_eq!(receiver.received().len(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn unauthorized_is_not_retried() {
    let receiver = Receiver::start(&[StatusCode::UNAUTHORIZED]).await;
    let sim = start_sim_with_webhook(eventbridge(receiver.url()), 1).await;
    send_one(&ses_client(&sim.endpoint()), "ana@example.net", "b")
        .await
        .unwrap();
    flush(&sim).await;

    let stats = sim.webhook_stats().unwrap();
    assert_eq!(WebhookStats::count(&stats.failed, "Delivery"), 1);
    assert_eq!(stats.retries, 0);
    assert_eq!(receiver.received().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn connection_refused_is_retried() {
    // Bind a port, then free it, so that nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let webhook = WebhookConfig {
        max_attempts: 2,
        ..eventbridge(format!("http://127.0.0.1:{port}/webhooks/ses/{ACCOUNT}"))
    };
    let sim = start_sim_with_webhook(webhook, 1).await;
    send_one(&ses_client(&sim.endpoint()), "ana@example.net", "b")
        .await
        .unwrap();
    flush(&sim).await;

    let stats = sim.webhook_stats().unwrap();
    assert_eq!(stats.retries, 1);
    assert_eq!(WebhookStats::count(&stats.failed, "Delivery"), 1);
    sim.shutdown().await;
}

/// Serves the test certificate at [`CERT_URL`] only.
struct TestCertificate;

#[async_trait]
impl CertificateFetcher for TestCertificate {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        if url == CERT_URL {
            Ok(test_cert())
        } else {
            Err(FetchError(format!("no certificate at {url}")))
        }
    }
}

#[tokio::test]
async fn sns_notifications_verify() {
    for version in [SnsSignatureVersion::V1, SnsSignatureVersion::V2] {
        let receiver = Receiver::start(&[]).await;
        let signing =
            SnsSigning::from_pem(&test_key(), CERT_URL, "wraps-ses-events", version).unwrap();
        let webhook = WebhookConfig {
            account: ACCOUNT.to_owned(),
            region: "eu-west-1".to_owned(),
            ratios: EventRatios {
                open: 1.0,
                ..EventRatios::default()
            },
            ..WebhookConfig::new(receiver.url(), WebhookFormat::Sns(signing))
        };
        let sim = start_sim_with_webhook(webhook, 1).await;
        let message_id = send_one(&ses_client(&sim.endpoint()), "ana@example.net", "b-sns")
            .await
            .unwrap();
        flush(&sim).await;

        let received = receiver.received();
        assert_eq!(received.len(), 2, "a delivery and an open");
        let verifier = SnsVerifier::new(TestCertificate);
        for post in &received {
            assert_eq!(post.header(SNS_MESSAGE_TYPE_HEADER), Some("Notification"));
            assert_eq!(post.header(API_KEY_HEADER), None);
            let (envelope, event) = post.parse();
            let Envelope::SnsNotification(message) = &envelope else {
                panic!("not an SNS notification: {envelope:?}");
            };
            let verified = verifier
                .verify(message, Utc::now())
                .await
                .unwrap_or_else(|err| panic!("{version:?}: {err}"));
            assert_eq!(
                verified.topic_arn,
                format!("arn:aws:sns:eu-west-1:{ACCOUNT}:wraps-ses-events")
            );
            assert_eq!(event.message_id, message_id);
            assert_eq!(event.tags["batchId"], ["b-sns"]);
        }

        // A changed message no longer verifies, so the signature covers the record.
        let mut tampered: Value = received[0].json();
        tampered["Message"] = Value::String(
            tampered["Message"]
                .as_str()
                .unwrap()
                .replace("Delivery", "Bounce"),
        );
        let body = serde_json::to_vec(&tampered).unwrap();
        let envelope = webhooks::parse_envelope(&body, Some("Notification")).unwrap();
        let message = envelope.sns().unwrap();
        assert!(verifier.verify(message, Utc::now()).await.is_err());
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn url_credentials_become_basic_auth() {
    let receiver = Receiver::start(&[]).await;
    let signing = SnsSigning::from_pem(
        &test_key(),
        CERT_URL,
        "wraps-ses-events",
        SnsSignatureVersion::V1,
    )
    .unwrap();
    let url = receiver
        .url()
        .replace("http://", "http://wraps:topic-secret@");
    let webhook = WebhookConfig {
        account: ACCOUNT.to_owned(),
        ..WebhookConfig::new(url, WebhookFormat::Sns(signing))
    };
    let sim = start_sim_with_webhook(webhook, 1).await;
    send_one(&ses_client(&sim.endpoint()), "ana@example.net", "b")
        .await
        .unwrap();
    flush(&sim).await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    // base64("wraps:topic-secret")
    assert_eq!(
        received[0].header("authorization"),
        Some("Basic d3JhcHM6dG9waWMtc2VjcmV0")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn delivery_delay_holds_events() {
    let receiver = Receiver::start(&[]).await;
    let webhook = WebhookConfig {
        delivery_delay: Duration::from_millis(300),
        ..eventbridge(receiver.url())
    };
    let sim = start_sim_with_webhook(webhook, 1).await;
    let started = Instant::now();
    send_one(&ses_client(&sim.endpoint()), "ana@example.net", "b")
        .await
        .unwrap();

    assert_eq!(sim.webhook_stats().unwrap().pending_messages, 1);
    assert!(receiver.received().is_empty(), "nothing before the delay");
    flush(&sim).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(receiver.received().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn full_queue_waits_are_counted() {
    let receiver = Receiver::start(&[]).await;
    let webhook = WebhookConfig {
        queue_capacity: 1,
        concurrency: 1,
        delivery_delay: Duration::from_millis(100),
        ..eventbridge(receiver.url())
    };
    let sim = start_sim_with_webhook(webhook, 1).await;
    let client = ses_client(&sim.endpoint());
    for i in 0..4 {
        send_one(&client, &format!("r{i}@example.net"), "b")
            .await
            .unwrap();
    }
    flush(&sim).await;

    let stats = sim.webhook_stats().unwrap();
    assert!(stats.queue_full_waits >= 1, "{stats:?}");
    assert_eq!(WebhookStats::count(&stats.posted, "Delivery"), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn stats_endpoint_reports_webhook_counters() {
    let receiver = Receiver::start(&[StatusCode::BAD_GATEWAY]).await;
    let sim = start_sim_with_webhook(eventbridge(receiver.url()), 1).await;
    send_one(&ses_client(&sim.endpoint()), "ana@example.net", "b")
        .await
        .unwrap();
    flush(&sim).await;

    let (status, body) = http(sim.addr(), "GET", "/sim/stats", None).await;
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&body).unwrap();
    let webhook = &json["webhook"];
    assert_eq!(webhook["generated"]["Delivery"], 1, "{body}");
    assert_eq!(webhook["posted"]["Delivery"], 1, "{body}");
    assert_eq!(webhook["failed"]["Delivery"], 0, "{body}");
    assert_eq!(webhook["retries"], 1, "{body}");
    assert_eq!(webhook["queueFullWaits"], 0, "{body}");
    assert_eq!(webhook["pendingMessages"], 0, "{body}");
    let parsed: WebhookStats = serde_json::from_value(webhook.clone()).unwrap();
    assert_eq!(Some(parsed), sim.webhook_stats());

    let (status, _) = http(sim.addr(), "POST", "/sim/reset", None).await;
    assert_eq!(status, 204);
    assert_eq!(sim.webhook_stats().unwrap().total_posted(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn stats_have_no_webhook_without_one() {
    let sim = crate::support::start_sim(load_tests::sim::SimConfig::default()).await;
    let (_, body) = http(sim.addr(), "GET", "/sim/stats", None).await;
    let json: Value = serde_json::from_str(&body).unwrap();
    assert!(json.get("webhook").is_none(), "{body}");
    assert!(sim.webhook_stats().is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_webhook_fails_start() {
    let webhook = WebhookConfig {
        account: "42".to_owned(),
        ..eventbridge("http://127.0.0.1:9/webhooks/ses/42".to_owned())
    };
    let config = load_tests::sim::SimConfig {
        webhook: Some(webhook),
        ..load_tests::sim::SimConfig::default()
    };
    let err = match load_tests::sim::start(config, "127.0.0.1:0".parse().unwrap()).await {
        Ok(_) => panic!("the simulator started with an invalid account"),
        Err(err) => err,
    };
    assert!(format!("{err:#}").contains("12 digits"), "{err:#}");
}
