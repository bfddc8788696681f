//! Broadcasts through the real dispatcher, store and streams, with a
//! scripted SES client at the transport seam. The store is SQLite unless
//! `WRAPS_TEST_DATABASE_URL` is set, and the streams are in-process unless
//! `WRAPS_TEST_REDIS_URL` is set.

mod common;

use common::{streams, OneClient};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use dispatcher::content::UnsubscribeLinks;
use dispatcher::{
    BroadcastConfig, Broadcaster, Dispatcher, DispatcherConfig, IntakeConfig, SweeperConfig,
};
use ratelimit::{Limiter, Pacers, Plans, SendLimits};
use schemas::batches::{AudienceType, BatchStatus};
use schemas::connections::CreateConnection;
use schemas::contacts::CreateContact;
use schemas::delivery::{DeliveryEvent, DeliveryFact, EventOutcome, SES_EVENT};
use schemas::{BatchId, ConnectionId, OrgId};
use ses::{AccountQuota, BulkMessage, EmailMessage, SendOutcome, SesClient, SesError};
use store::{NewBatch, RegisterOptions, Store};
use tokio_util::sync::CancellationToken;

/// Chunk jobs one shard runs at once in these tests.
const JOBS_PER_SHARD: usize = 4;

/// Outcome the scripted SES returns for one `SendEmail` call.
type Script = dyn Fn(usize, &EmailMessage) -> SendOutcome + Send + Sync;

/// A scripted SES account that records every message it accepts.
struct FakeSes {
    calls: AtomicUsize,
    accepted: Mutex<Vec<String>>,
    script: Box<Script>,
    max_send_rate: f64,
    max_24h_send: f64,
}

impl FakeSes {
    fn new(
        script: impl Fn(usize, &EmailMessage) -> SendOutcome + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            accepted: Mutex::new(Vec::new()),
            script: Box::new(script),
            max_send_rate: 10_000.0,
            max_24h_send: -1.0,
        })
    }

    fn accepting() -> Arc<Self> {
        Self::new(|_, _| SendOutcome::Sent {
            message_id: uuid::Uuid::new_v4().to_string(),
        })
    }

    fn accepted(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }
}

#[async_trait]
impl SesClient for FakeSes {
    async fn send_email(&self, message: &EmailMessage) -> SendOutcome {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let outcome = (self.script)(call, message);
        if matches!(
            outcome,
            SendOutcome::Sent { .. } | SendOutcome::Unknown { .. }
        ) {
            self.accepted
                .lock()
                .unwrap()
                .push(message.to.to_lowercase());
        }
        outcome
    }

    async fn send_bulk_email(&self, message: &BulkMessage) -> Vec<SendOutcome> {
        vec![
            SendOutcome::Failed {
                reason: "bulk not scripted".into()
            };
            message.entries.len()
        ]
    }

    async fn get_account(&self) -> Result<AccountQuota, SesError> {
        Ok(AccountQuota {
            max_send_rate: self.max_send_rate,
            max_24h_send: self.max_24h_send,
            sent_last_24h: 0.0,
            sending_enabled: true,
            production_access_enabled: true,
            enforcement_status: None,
        })
    }

    async fn upsert_template(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: Option<&str>,
    ) -> Result<(), SesError> {
        Ok(())
    }

    async fn delete_template(&self, _: &str) -> Result<(), SesError> {
        Ok(())
    }
}

struct Harness {
    store: Store,
    broadcaster: Arc<Broadcaster>,
    org: OrgId,
    connection: ConnectionId,
    shutdown: CancellationToken,
}

impl Harness {
    async fn new(ses: Arc<FakeSes>) -> Self {
        let store = store::test_support::fresh_store().await;
        let org = store.create_org("Acme", "business").await.unwrap().id;
        let request = CreateConnection {
            account_id: Some("123456789012".into()),
            region: Some("us-east-1".into()),
            ..CreateConnection::default()
        };
        let options = RegisterOptions {
            account_limit: None,
            role_name: "role".into(),
            api_base_url: "http://127.0.0.1:8080".into(),
            created_by: None,
        };
        let (registered, _) = store
            .register_connection(org, &request, &options)
            .await
            .unwrap();
        let broadcaster = Arc::new(Broadcaster {
            store: store.clone(),
            streams: streams().await,
            ses: Arc::new(OneClient(ses)),
            pacers: Pacers::default(),
            send_limits: SendLimits::new(Limiter::local(), Arc::new(Plans::hosted())),
            unsubscribe: UnsubscribeLinks {
                keys: store.unsubscribe_keys().await.unwrap(),
                base_url: "https://api.example.com".into(),
            },
            config: BroadcastConfig {
                shards: 4,
                chunk_size: 50,
                quota_retry: Duration::from_millis(300),
                ..BroadcastConfig::default()
            },
        });
        Self {
            store,
            broadcaster,
            org,
            connection: registered.connection_id,
            shutdown: CancellationToken::new(),
        }
    }

    fn start(&self) {
        let config = DispatcherConfig {
            shards: 4,
            lease: Duration::from_secs(3),
            block: Duration::from_millis(100),
            jobs_per_shard: JOBS_PER_SHARD,
            promote_every: Duration::from_millis(50),
            sweeper: SweeperConfig {
                every: Duration::from_millis(100),
                stall_after: Duration::from_secs(2),
            },
            intake: IntakeConfig {
                block: Duration::from_millis(100),
                ..IntakeConfig::default()
            },
        };
        let dispatcher = Dispatcher::new(self.broadcaster.clone(), config);
        tokio::spawn(dispatcher.run(self.shutdown.clone()));
    }

    async fn contacts(&self, count: usize, prefix: &str, status: Option<&str>) -> Vec<String> {
        let mut emails = Vec::with_capacity(count);
        for i in 0..count {
            let email = format!("{prefix}{i}@example.com");
            let request = CreateContact {
                email: Some(email.clone()),
                first_name: Some(format!("Name{i}")),
                email_status: status.map(|s| serde_json::from_value(serde_json::json!(s)).unwrap()),
                ..CreateContact::default()
            };
            self.store.create_contact(self.org, &request).await.unwrap();
            emails.push(email);
        }
        emails
    }

    fn batch(&self) -> NewBatch {
        NewBatch {
            connection_id: Some(self.connection),
            name: "test".into(),
            channel: "email".into(),
            audience_type: Some(AudienceType::All),
            from_email: Some("news@example.com".into()),
            subject: Some("Hello {{firstName|there}}".into()),
            html_content: Some("<p>Hi {{firstName}}</p>".into()),
            ..NewBatch::default()
        }
    }

    async fn create(&self, new: NewBatch) -> BatchId {
        let batch = self.store.create_batch(self.org, &new).await.unwrap();
        if batch.status == BatchStatus::Queued {
            self.broadcaster.publish_fan_out(&batch).await.unwrap();
        }
        batch.id
    }

    async fn wait_for(&self, id: BatchId, done: impl Fn(&store::Batch) -> bool) -> store::Batch {
        for _ in 0..600 {
            let batch = self.store.get_batch(self.org, id).await.unwrap().unwrap();
            if done(&batch) {
                return batch;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("batch {id} did not reach the expected state in 30 s");
    }

    async fn wait_terminal(&self, id: BatchId) -> store::Batch {
        self.wait_for(id, |b| b.status.is_terminal()).await
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn assert_no_duplicates(accepted: &[String]) {
    let mut seen = HashMap::new();
    for email in accepted {
        *seen.entry(email.clone()).or_insert(0) += 1;
    }
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "sent more than once: {duplicates:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_eligible_contact_sent_once() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;
    harness.contacts(120, "ok", None).await;
    harness.contacts(7, "gone", Some("unsubscribed")).await;
    harness.start();

    let id = harness.create(harness.batch()).await;
    let batch = harness.wait_terminal(id).await;
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(batch.counters.total_recipients, 120);
    assert_eq!(batch.counters.sent, 120);
    assert_eq!(batch.counters.processed_recipients, 120);
    let accepted = ses.accepted();
    assert_eq!(accepted.len(), 120);
    assert_no_duplicates(&accepted);
    assert!(accepted.iter().all(|email| email.starts_with("ok")));
}

/// Imports `count` active contacts `<prefix><i>@example.com` in batches.
async fn import(harness: &Harness, prefix: &str, count: usize) {
    let rows: Vec<store::ImportRow> = (0..count)
        .map(|i| store::ImportRow {
            email: format!("{prefix}{i:05}@example.com"),
            ..store::ImportRow::default()
        })
        .collect();
    for chunk in rows.chunks(1000) {
        harness
            .store
            .import_contacts(harness.org, chunk, None)
            .await
            .unwrap();
    }
}

/// Unsubscribes every contact whose email starts with `prefix`.
async fn unsubscribe_prefix(harness: &Harness, prefix: &str) {
    let pool = store::test_support::pool(&harness.store);
    sqlx::query::<sqlx::Any>(
        "UPDATE contacts SET email_status = 'unsubscribed' WHERE email LIKE $1",
    )
    .bind(format!("{prefix}%"))
    .execute(&pool)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ineligible_run_before_fan_out_is_excluded() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;
    // Contact ids are random, so name order says nothing; what matters is
    // that 10,000 ineligible contacts sit among the eligible ones.
    import(&harness, "a", 10_000).await;
    unsubscribe_prefix(&harness, "a").await;
    import(&harness, "z", 40).await;
    harness.start();

    let id = harness.create(harness.batch()).await;
    let batch = harness.wait_terminal(id).await;
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(batch.counters.total_recipients, 40);
    assert_eq!(batch.counters.sent, 40);
    assert_eq!(ses.accepted().len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ineligible_run_after_fan_out_is_skipped() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;
    import(&harness, "a", 10_000).await;
    import(&harness, "z", 40).await;

    // Freeze the audience first, then unsubscribe 10,000 of them: their
    // chunks hold only ineligible contacts, which the claim re-check skips.
    let id = harness.create(harness.batch()).await;
    let batch = harness
        .store
        .get_batch(harness.org, id)
        .await
        .unwrap()
        .unwrap();
    harness.store.fan_out_batch(&batch, 50).await.unwrap();
    unsubscribe_prefix(&harness, "a").await;
    harness.start();

    let batch = harness.wait_terminal(id).await;
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(batch.counters.sent, 40);
    assert_eq!(batch.counters.skipped, 10_000);
    let accepted = ses.accepted();
    assert_eq!(accepted.len(), 40);
    assert!(accepted.iter().all(|email| email.starts_with('z')));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_storm_counts_nothing_as_failed() {
    let storm = Arc::new(AtomicBool::new(true));
    let flag = storm.clone();
    let ses = FakeSes::new(move |call, _| {
        if flag.load(Ordering::SeqCst) && call % 3 == 0 {
            SendOutcome::RetryLater {
                after: Duration::from_millis(100),
                reason: "TooManyRequestsException".into(),
            }
        } else {
            SendOutcome::Sent {
                message_id: uuid::Uuid::new_v4().to_string(),
            }
        }
    });
    let harness = Harness::new(ses.clone()).await;
    harness.contacts(200, "t", None).await;
    harness.start();
    let id = harness.create(harness.batch()).await;

    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = harness
        .store
        .get_batch(harness.org, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        during.counters.failed, 0,
        "a throttle must never count as failed"
    );
    storm.store(false, Ordering::SeqCst);

    let batch = harness.wait_terminal(id).await;
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(batch.counters.sent, 200);
    assert_eq!(batch.counters.failed, 0);
    assert_no_duplicates(&ses.accepted());
    assert_eq!(ses.accepted().len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_after_accept_is_unknown_not_resent() {
    let ses = FakeSes::new(|_, message| {
        if message.to.starts_with("slow") {
            SendOutcome::Unknown {
                reason: "timed out after the request was sent".into(),
            }
        } else {
            SendOutcome::Sent {
                message_id: uuid::Uuid::new_v4().to_string(),
            }
        }
    });
    let harness = Harness::new(ses.clone()).await;
    harness.contacts(10, "slow", None).await;
    harness.contacts(30, "fast", None).await;
    harness.start();

    let id = harness.create(harness.batch()).await;
    let batch = harness.wait_terminal(id).await;
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(batch.counters.unknown, 10);
    assert_eq!(batch.counters.sent, 30);
    let slow_attempts = ses
        .accepted()
        .iter()
        .filter(|e| e.starts_with("slow"))
        .count();
    assert_eq!(
        slow_attempts, 10,
        "an unknown outcome must never be sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_within_a_chunk() {
    let ses = FakeSes::new(|_, _| {
        std::thread::sleep(Duration::from_millis(5));
        SendOutcome::Sent {
            message_id: uuid::Uuid::new_v4().to_string(),
        }
    });
    let harness = Harness::new(ses.clone()).await;
    harness.contacts(600, "c", None).await;
    harness.start();

    let id = harness.create(harness.batch()).await;
    harness.wait_for(id, |b| b.counters.sent > 0).await;
    let cancelled = harness.store.cancel_batch(harness.org, id).await.unwrap();
    assert!(cancelled.is_ok());
    let at_cancel = ses.accepted().len();

    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = ses.accepted().len();
    // Each running chunk checks for the cancel before every call of at most
    // 50 recipients, so at most one call per running chunk finishes after it.
    let bound = JOBS_PER_SHARD * 50;
    assert!(
        after <= at_cancel + bound,
        "sent {} more after the cancel",
        after - at_cancel
    );
    assert!(after < 600);
    let batch = harness
        .store
        .get_batch(harness.org, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.status, BatchStatus::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_list_entries_get_one_message() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;
    harness.contacts(3, "l", None).await;
    let ids: Vec<String> = ["l0@example.com", "l1@example.com"]
        .iter()
        .map(|email| async {
            harness
                .store
                .resolve_contact(harness.org, email)
                .await
                .unwrap()
                .unwrap()
                .to_string()
        })
        .collect::<futures::future::JoinAll<_>>()
        .await;
    harness.start();

    let mut new = harness.batch();
    new.audience_type = Some(AudienceType::List);
    new.recipient_list = Some(vec![ids[0].clone(), ids[1].clone(), ids[0].clone()]);
    let id = harness.create(new).await;
    let batch = harness.wait_terminal(id).await;
    assert_eq!(batch.counters.total_recipients, 2);
    assert_eq!(batch.counters.sent, 2);
    assert_eq!(ses.accepted().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_sender_fails_with_reason() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;
    harness.contacts(5, "m", None).await;
    harness.start();

    let mut new = harness.batch();
    new.from_email = None;
    let id = harness.create(new).await;
    let batch = harness.wait_terminal(id).await;
    assert_eq!(batch.status, BatchStatus::Failed);
    assert!(batch.error_message.unwrap().contains("No sender"));
    assert!(ses.accepted().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_batch_starts_at_its_time() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;
    harness.contacts(5, "s", None).await;
    harness.start();

    let mut new = harness.batch();
    new.scheduled_for = Some(Utc::now() + chrono::Duration::milliseconds(1500));
    let id = harness.create(new).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = harness
        .store
        .get_batch(harness.org, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.status, BatchStatus::Scheduled);
    assert!(ses.accepted().is_empty());

    let batch = harness.wait_terminal(id).await;
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(ses.accepted().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_hand_off_ends_unknown() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;
    harness.contacts(60, "k", None).await;

    // A sender claims chunk 0, hands off ten recipients and dies before
    // recording anything.
    let id = harness.create(harness.batch()).await;
    let batch = harness
        .store
        .get_batch(harness.org, id)
        .await
        .unwrap()
        .unwrap();
    harness.store.fan_out_batch(&batch, 50).await.unwrap();
    let batch = harness
        .store
        .get_batch(harness.org, id)
        .await
        .unwrap()
        .unwrap();
    let claim = harness
        .store
        .claim_chunk(&batch, 0, "dead-sender")
        .await
        .unwrap();
    let ten: Vec<_> = claim
        .recipients
        .iter()
        .take(10)
        .map(|r| r.contact_id)
        .collect();
    assert_eq!(
        harness
            .store
            .hand_off(id, "dead-sender", &ten)
            .await
            .unwrap()
            .len(),
        10
    );

    harness.start();
    let batch = harness.wait_terminal(id).await;
    assert_eq!(batch.status, BatchStatus::Completed);
    assert_eq!(batch.counters.unknown, 10);
    assert_eq!(batch.counters.sent, 50);
    assert_eq!(
        ses.accepted().len(),
        50,
        "the ten handed-off recipients must not be sent again"
    );
}

/// The extra MIME headers of one message.
type MessageHeaders = Vec<(String, String)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_carries_one_click_unsubscribe_headers() {
    let captured: Arc<Mutex<Vec<MessageHeaders>>> = Arc::default();
    let sink = captured.clone();
    let ses = FakeSes::new(move |_, message| {
        sink.lock().unwrap().push(message.headers.clone());
        SendOutcome::Sent {
            message_id: uuid::Uuid::new_v4().to_string(),
        }
    });
    let harness = Harness::new(ses.clone()).await;
    harness.contacts(12, "ok", None).await;
    harness.start();
    let batch = harness
        .wait_terminal(harness.create(harness.batch()).await)
        .await;
    assert_eq!(batch.counters.sent, 12);

    let keys = harness.store.unsubscribe_keys().await.unwrap();
    let captured = captured.lock().unwrap();
    assert_eq!(captured.len(), 12);
    let mut contacts = std::collections::HashSet::new();
    for headers in captured.iter() {
        let value = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        };
        assert_eq!(value("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
        let link = value("List-Unsubscribe");
        let token = link
            .strip_prefix("<https://api.example.com/unsubscribe/")
            .and_then(|rest| rest.strip_suffix('>'))
            .unwrap_or_else(|| panic!("unexpected link {link}"));
        let claims = keys.verify(token).unwrap();
        assert_eq!(claims.organization_id, harness.org);
        assert_eq!(
            claims.topic_id, None,
            "an `all` broadcast carries global links"
        );
        contacts.insert(claims.contact_id);
    }
    assert_eq!(contacts.len(), 12, "each message names its own contact");
}

/// Reads the message id SES gave each recipient of a batch, by address.
async fn message_ids(harness: &Harness, batch: BatchId) -> HashMap<String, String> {
    let pool = store::test_support::pool(&harness.store);
    let rows: Vec<(String, String)> = sqlx::query_as::<sqlx::Any, (String, String)>(
        "SELECT email, message_id FROM batch_recipients WHERE batch_id = $1 AND message_id IS NOT NULL",
    )
    .bind(batch.to_string())
    .fetch_all(&pool)
    .await
    .unwrap();
    rows.into_iter().collect()
}

async fn email_status(harness: &Harness, email: &str) -> String {
    let pool = store::test_support::pool(&harness.store);
    let (status,): (Option<String>,) = sqlx::query_as::<sqlx::Any, (Option<String>,)>(
        "SELECT email_status FROM contacts WHERE email = $1",
    )
    .bind(email)
    .fetch_one(&pool)
    .await
    .unwrap();
    status.unwrap_or_else(|| "active".into())
}

/// Builds an SES event of the harness's organisation, as the webhook route
/// does.
fn ses_event(
    harness: &Harness,
    key: &str,
    fact: DeliveryFact,
    message_id: &str,
    bounce_type: Option<&str>,
) -> DeliveryEvent {
    DeliveryEvent {
        organization_id: harness.org,
        connection_id: harness.connection.to_string(),
        delivery_key: key.into(),
        fact,
        type_name: format!("{fact:?}"),
        message_id: message_id.into(),
        batch_id: None,
        recipient_id: None,
        occurred_at: Utc::now().timestamp_millis(),
        mail_timestamp: None,
        bounce_type: bounce_type.map(str::to_owned),
        bounce_sub_type: None,
        error_message: None,
        recipient: Some("outside@example.com".into()),
        source: None,
        subject: None,
    }
}

/// Puts an SES event on the intake stream, as the webhook route does.
async fn publish_event(
    harness: &Harness,
    key: &str,
    fact: DeliveryFact,
    message_id: &str,
    bounce_type: Option<&str>,
) {
    let event = ses_event(harness, key, fact, message_id, bounce_type);
    let job = streams::Job::from_payload(SES_EVENT, &event).unwrap();
    harness
        .broadcaster
        .streams
        .producer
        .publish(streams::ShardId::INTAKE, &job)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_events_counted_once_per_fact() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;
    let emails = harness.contacts(30, "r", None).await;
    harness.start();
    let id = harness.create(harness.batch()).await;
    assert_eq!(harness.wait_terminal(id).await.counters.sent, 30);
    let ids = message_ids(&harness, id).await;
    let message = |i: usize| ids[&emails[i]].clone();

    // 0..10 delivered; 0..3 delivered again by a retried delivery (same
    // key) and 3..5 by a second delivery of the same fact (new key).
    for i in 0..10 {
        publish_event(
            &harness,
            &format!("d{i}"),
            DeliveryFact::Delivery,
            &message(i),
            None,
        )
        .await;
    }
    for i in 0..3 {
        publish_event(
            &harness,
            &format!("d{i}"),
            DeliveryFact::Delivery,
            &message(i),
            None,
        )
        .await;
    }
    for i in 3..5 {
        publish_event(
            &harness,
            &format!("again{i}"),
            DeliveryFact::Delivery,
            &message(i),
            None,
        )
        .await;
    }
    // 10..14 opened before their delivery arrives: the open counts the
    // delivery, the late delivery changes nothing. 12 is opened twice.
    for i in 10..14 {
        publish_event(
            &harness,
            &format!("o{i}"),
            DeliveryFact::Open,
            &message(i),
            None,
        )
        .await;
    }
    publish_event(
        &harness,
        "o12-again",
        DeliveryFact::Open,
        &message(12),
        None,
    )
    .await;
    for i in 10..14 {
        publish_event(
            &harness,
            &format!("late{i}"),
            DeliveryFact::Delivery,
            &message(i),
            None,
        )
        .await;
    }
    publish_event(&harness, "c10", DeliveryFact::Click, &message(10), None).await;
    // 20..23 bounce permanently, 23 transiently; 24 complains; 25 is
    // suppressed.
    for i in 20..23 {
        publish_event(
            &harness,
            &format!("b{i}"),
            DeliveryFact::Bounce,
            &message(i),
            Some("Permanent"),
        )
        .await;
    }
    publish_event(
        &harness,
        "b23",
        DeliveryFact::Bounce,
        &message(23),
        Some("Transient"),
    )
    .await;
    publish_event(&harness, "cp24", DeliveryFact::Delivery, &message(24), None).await;
    publish_event(
        &harness,
        "cp24c",
        DeliveryFact::Complaint,
        &message(24),
        None,
    )
    .await;
    publish_event(
        &harness,
        "s25",
        DeliveryFact::Suppressed,
        &message(25),
        None,
    )
    .await;
    // A message wrapsd never sent.
    publish_event(&harness, "x1", DeliveryFact::Delivery, "outside-1", None).await;
    publish_event(&harness, "x2", DeliveryFact::Open, "outside-2", None).await;

    let batch = harness
        .wait_for(id, |b| {
            b.counters.suppressed == 1 && b.counters.complained == 1
        })
        .await;
    // Let anything still queued land before the exact comparison.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let batch = harness
        .store
        .get_batch(harness.org, batch.id)
        .await
        .unwrap()
        .unwrap();
    let counters = &batch.counters;
    assert_eq!(counters.delivered, 10 + 4 + 1, "{counters:?}");
    assert_eq!(counters.opened, 4, "{counters:?}");
    assert_eq!(counters.clicked, 1, "{counters:?}");
    assert_eq!(counters.bounced, 4, "{counters:?}");
    assert_eq!(counters.complained, 1, "{counters:?}");
    assert_eq!(counters.suppressed, 1, "{counters:?}");
    assert_eq!(counters.sent, 30, "{counters:?}");

    for email in &emails[20..23] {
        assert_eq!(email_status(&harness, email).await, "bounced");
    }
    assert_eq!(email_status(&harness, &emails[23]).await, "active");
    assert_eq!(email_status(&harness, &emails[24]).await, "complained");
    assert_eq!(email_status(&harness, &emails[25]).await, "suppressed");

    let facts = harness
        .store
        .recipient_facts(harness.org, &message(11))
        .await
        .unwrap()
        .unwrap();
    assert!(facts.opened_at.is_some());
    assert!(facts.delivered_at.is_some());
    let outside = harness
        .store
        .external_message(harness.org, "outside-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outside.status, "delivered");
    assert!(harness
        .store
        .external_message(harness.org, "outside-2")
        .await
        .unwrap()
        .is_none());

    // An event that arrives before the dispatcher stored its message id
    // finds the recipient by the batch and recipient tags.
    let pool = store::test_support::pool(&harness.store);
    let (contact,): (String,) = sqlx::query_as::<sqlx::Any, (String,)>(
        "SELECT contact_id FROM batch_recipients WHERE batch_id = $1 AND email = $2",
    )
    .bind(id.to_string())
    .bind(&emails[26])
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut early = ses_event(
        &harness,
        "early",
        DeliveryFact::Delivery,
        "not-stored-yet",
        None,
    );
    early.batch_id = Some(id.to_string());
    early.recipient_id = Some(contact);
    let outcomes = harness.store.apply_delivery_events(&[early]).await.unwrap();
    assert_eq!(outcomes, vec![EventOutcome::Applied]);
    let batch = harness
        .store
        .get_batch(harness.org, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.counters.delivered, 16);

    // The next broadcast skips the bounced, complaining and suppressed
    // addresses, and keeps the transient bounce.
    ses.accepted.lock().unwrap().clear();
    let second = harness.create(harness.batch()).await;
    let second = harness.wait_terminal(second).await;
    assert_eq!(second.counters.sent, 30 - 5);
    let accepted = ses.accepted();
    for i in [20, 21, 22, 24, 25] {
        assert!(
            !accepted.contains(&emails[i]),
            "{} was sent again",
            emails[i]
        );
    }
    assert!(accepted.contains(&emails[23]));
}
