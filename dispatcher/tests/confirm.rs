//! Double opt-in confirmation emails through the real dispatcher, store and
//! streams, with a scripted SES client at the transport seam. The store is
//! SQLite unless `WRAPS_TEST_DATABASE_URL` is set, and the streams are
//! in-process unless `WRAPS_TEST_REDIS_URL` is set.

mod common;

use common::{streams, OneClient};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use dispatcher::broadcast::JobOutcome;
use dispatcher::content::UnsubscribeLinks;
use dispatcher::{handle_job, BroadcastConfig, Broadcaster, Dispatcher, DispatcherConfig};
use ratelimit::{Limiter, Pacers, Plans, SendLimits};
use schemas::batches::AudienceType;
use schemas::connections::CreateConnection;
use schemas::contacts::{CreateContact, EmailStatus, SubscriptionStatus};
use schemas::jobs::{shard_for_account, ConfirmJob, SUBSCRIPTION_CONFIRM};
use schemas::topics::CreateTopic;
use schemas::{ConnectionId, ContactId, OrgId, TopicId};
use ses::{AccountQuota, BulkMessage, EmailMessage, SendOutcome, SesClient, SesError};
use store::{NewBatch, RegisterOptions, Store};
use streams::{Delivery, EntryId, Job, ShardId, WorkerId};
use tokio_util::sync::CancellationToken;

const ACCOUNT: &str = "123456789012";
const SHARDS: u32 = 4;
const PUBLIC_URL: &str = "https://api.example.com";

type Script = dyn Fn(usize) -> SendOutcome + Send + Sync;

/// A scripted SES account that records every `SendEmail` call.
struct FakeSes {
    calls: AtomicUsize,
    messages: Mutex<Vec<EmailMessage>>,
    script: Box<Script>,
}

impl FakeSes {
    fn new(script: impl Fn(usize) -> SendOutcome + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            messages: Mutex::new(Vec::new()),
            script: Box::new(script),
        })
    }

    fn accepting() -> Arc<Self> {
        Self::new(|call| SendOutcome::Sent {
            message_id: format!("message-{call}"),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn messages(&self) -> Vec<EmailMessage> {
        self.messages.lock().unwrap().clone()
    }
}

#[async_trait]
impl SesClient for FakeSes {
    async fn send_email(&self, message: &EmailMessage) -> SendOutcome {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        self.messages.lock().unwrap().push(message.clone());
        (self.script)(call)
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
            max_send_rate: 100.0,
            max_24h_send: -1.0,
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

/// An organisation with one AWS connection, one broadcast sender on it and
/// a contact whose subscription to a double opt-in topic is pending.
struct Harness {
    store: Store,
    broadcaster: Arc<Broadcaster>,
    org: OrgId,
    connection: ConnectionId,
    contact: ContactId,
    topic: TopicId,
    shutdown: CancellationToken,
}

impl Harness {
    async fn new(ses: Arc<FakeSes>) -> Self {
        Self::with_sender(ses, Some("news@acme.example")).await
    }

    async fn with_sender(ses: Arc<FakeSes>, from: Option<&str>) -> Self {
        Self::with_senders(ses, from, None).await
    }

    /// `from` names the sender of a broadcast; `configured` is the
    /// `confirmation_from` setting.
    async fn with_senders(ses: Arc<FakeSes>, from: Option<&str>, configured: Option<&str>) -> Self {
        let store = store::test_support::fresh_store().await;
        let org = store.create_org("Acme", "business").await.unwrap().id;
        let request = CreateConnection {
            account_id: Some(ACCOUNT.into()),
            region: Some("us-east-1".into()),
            ..CreateConnection::default()
        };
        let options = RegisterOptions {
            account_limit: None,
            role_name: "role".into(),
            api_base_url: PUBLIC_URL.into(),
            created_by: None,
        };
        let (registered, _) = store
            .register_connection(org, &request, &options)
            .await
            .unwrap();
        let connection = registered.connection_id;
        if let Some(from) = from {
            // Scheduled far ahead, so the sweeper never sends it.
            let batch = NewBatch {
                connection_id: Some(connection),
                name: "news".into(),
                channel: "email".into(),
                audience_type: Some(AudienceType::All),
                subject: Some("Hello".into()),
                html_content: Some("<p>Hi</p>".into()),
                from_email: Some(from.into()),
                from_name: Some("Acme News".into()),
                scheduled_for: Some(Utc::now() + TimeDelta::days(30)),
                ..NewBatch::default()
            };
            store.create_batch(org, &batch).await.unwrap();
        }

        let topic = CreateTopic {
            name: Some("Deals & <Offers>".into()),
            slug: Some("deals".into()),
            description: None,
            double_opt_in: Some(true),
        };
        let topic = store.create_topic(org, &topic).await.unwrap().id;
        let contact = CreateContact {
            email: Some("jane@example.com".into()),
            topic_ids: Some(vec![topic.to_string()]),
            ..CreateContact::default()
        };
        let written = store.create_contact(org, &contact).await.unwrap();
        assert_eq!(written.pending_topics, vec![topic]);

        let broadcaster = Arc::new(Broadcaster {
            store: store.clone(),
            streams: streams().await,
            ses: Arc::new(OneClient(ses)),
            pacers: Pacers::default(),
            send_limits: SendLimits::new(Limiter::local(), Arc::new(Plans::hosted())),
            unsubscribe: UnsubscribeLinks {
                keys: store.unsubscribe_keys().await.unwrap(),
                base_url: PUBLIC_URL.into(),
            },
            config: BroadcastConfig {
                shards: SHARDS,
                confirmation_from: configured.map(str::to_owned),
                ..BroadcastConfig::default()
            },
        });
        Self {
            store,
            broadcaster,
            org,
            connection,
            contact: written.contact.id,
            topic,
            shutdown: CancellationToken::new(),
        }
    }

    fn job(&self) -> Job {
        let payload = ConfirmJob {
            organization_id: self.org,
            contact_id: self.contact,
            topic_id: self.topic,
            connection_id: self.connection,
        };
        Job::from_payload(SUBSCRIPTION_CONFIRM, &payload).unwrap()
    }

    fn shard(&self) -> ShardId {
        ShardId(shard_for_account(ACCOUNT, SHARDS))
    }

    /// Runs one delivery of `job` directly, without the consumer loop.
    async fn run(&self, job: Job) -> JobOutcome {
        let delivery = Delivery {
            shard: self.shard(),
            entry: EntryId::new("0-1"),
            consumer: WorkerId::new("test"),
            job,
            deliveries: 1,
        };
        handle_job(&self.broadcaster, &delivery, &CancellationToken::new()).await
    }

    fn start(&self) {
        let config = DispatcherConfig {
            shards: SHARDS,
            lease: Duration::from_secs(3),
            block: Duration::from_millis(100),
            promote_every: Duration::from_millis(50),
            ..DispatcherConfig::default()
        };
        let dispatcher = Dispatcher::new(self.broadcaster.clone(), config);
        tokio::spawn(dispatcher.run(self.shutdown.clone()));
    }

    async fn state(&self) -> store::confirmations::ConfirmationState {
        self.store
            .confirmation_state(self.org, self.contact, self.topic)
            .await
            .unwrap()
            .unwrap()
    }

    /// Waits until the shard's stream contains no unfinished entry.
    async fn wait_drained(&self) {
        for _ in 0..300 {
            let backlog = self
                .broadcaster
                .streams
                .consumer
                .backlog(self.shard())
                .await
                .unwrap();
            if backlog.length == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the shard's jobs did not finish in 15 s");
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_delivered_twice_sends_one_email() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;
    let job = harness.job();
    let producer = &harness.broadcaster.streams.producer;
    producer.publish(harness.shard(), &job).await.unwrap();
    producer.publish(harness.shard(), &job).await.unwrap();

    harness.start();
    harness.wait_drained().await;

    assert_eq!(ses.calls(), 1, "one SES call for two deliveries");
    let message = &ses.messages()[0];
    assert_eq!(message.to, "jane@example.com");
    assert_eq!(message.from, "Acme News <news@acme.example>");
    assert_eq!(
        message.subject,
        "Confirm your subscription to Deals & <Offers>"
    );
    assert!(message.html.contains("Deals &amp; &lt;Offers&gt;"));
    assert!(message.headers.is_empty(), "{:?}", message.headers);
    assert!(message
        .tags
        .contains(&("source".to_owned(), "confirmation".to_owned())));
    let state = harness.state().await;
    assert_eq!(state.status, Some(SubscriptionStatus::Pending));
    assert!(state.confirmation_sent_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_send_one_email() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;
    let job = harness.job();

    let outcomes = futures::future::join_all((0..4).map(|_| harness.run(job.clone()))).await;

    assert!(outcomes.iter().all(|outcome| *outcome == JobOutcome::Done));
    assert_eq!(ses.calls(), 1);
}

#[tokio::test]
async fn link_verifies_for_the_subscription() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;

    let outcome = harness.run(harness.job()).await;

    assert_eq!(outcome, JobOutcome::Done);
    let text = ses.messages()[0].text.clone().unwrap();
    let prefix = format!("{PUBLIC_URL}/confirm/");
    let start = text.find(&prefix).expect("the text names the link") + prefix.len();
    let token = text[start..].split_whitespace().next().unwrap();
    let keys = harness.store.unsubscribe_keys().await.unwrap();
    let claims = keys.verify_confirmation(token, Utc::now()).unwrap();
    assert_eq!(claims.organization_id, harness.org);
    assert_eq!(claims.contact_id, harness.contact);
    assert_eq!(claims.topic_id, harness.topic);
    assert!(claims.expires_at > Utc::now() + TimeDelta::hours(47));
    assert!(claims.expires_at <= Utc::now() + TimeDelta::hours(48));
}

#[tokio::test]
async fn rejected_send_stays_pending_and_retries() {
    let ses = FakeSes::new(|call| match call {
        0 => SendOutcome::Failed {
            reason: "rejected".into(),
        },
        n => SendOutcome::Sent {
            message_id: format!("message-{n}"),
        },
    });
    let harness = Harness::new(ses.clone()).await;

    let first = harness.run(harness.job()).await;
    let after_failure = harness.state().await;
    let second = harness.run(harness.job()).await;
    let third = harness.run(harness.job()).await;

    assert!(matches!(first, JobOutcome::Failed(_)), "{first:?}");
    assert_eq!(after_failure.status, Some(SubscriptionStatus::Pending));
    assert_eq!(after_failure.confirmation_sent_at, None);
    assert_eq!(second, JobOutcome::Done);
    assert_eq!(third, JobOutcome::Done);
    assert_eq!(ses.calls(), 2, "one failed call, one sent, none after");
}

#[tokio::test]
async fn throttled_send_is_scheduled_again() {
    let ses = FakeSes::new(|call| match call {
        0 => SendOutcome::RetryLater {
            after: Duration::from_millis(10),
            reason: "throttled".into(),
        },
        n => SendOutcome::Sent {
            message_id: format!("message-{n}"),
        },
    });
    let harness = Harness::new(ses.clone()).await;

    let outcome = harness.run(harness.job()).await;
    let after_throttle = harness.state().await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let promoted = harness
        .broadcaster
        .streams
        .producer
        .promote_due(10)
        .await
        .unwrap();

    assert_eq!(outcome, JobOutcome::Done, "the retry is new scheduled work");
    assert_eq!(after_throttle.confirmation_sent_at, None);
    assert_eq!(promoted, 1);
    let retry = harness
        .broadcaster
        .streams
        .consumer
        .read(harness.shard(), &WorkerId::new("test"), 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].job.kind, SUBSCRIPTION_CONFIRM);
    assert_eq!(retry[0].job.attempt, 1);
    assert_eq!(harness.run(retry[0].job.clone()).await, JobOutcome::Done);
    assert_eq!(ses.calls(), 2);
}

#[tokio::test]
async fn confirmed_subscription_gets_no_email() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;
    assert!(harness
        .store
        .confirm_subscription(harness.org, harness.contact, harness.topic)
        .await
        .unwrap());

    let outcome = harness.run(harness.job()).await;

    assert_eq!(outcome, JobOutcome::Done);
    assert_eq!(ses.calls(), 0);
}

#[tokio::test]
async fn bounced_contact_gets_no_email() {
    let ses = FakeSes::accepting();
    let harness = Harness::new(ses.clone()).await;
    let patch = schemas::contacts::PatchContact {
        email_status: Some(EmailStatus::Bounced),
        ..Default::default()
    };
    harness
        .store
        .patch_contact(harness.org, harness.contact, &patch)
        .await
        .unwrap();

    let outcome = harness.run(harness.job()).await;

    assert_eq!(outcome, JobOutcome::Done);
    assert_eq!(ses.calls(), 0);
    assert_eq!(harness.state().await.confirmation_sent_at, None);
}

#[tokio::test]
async fn no_known_sender_sends_nothing() {
    let ses = FakeSes::accepting();
    let harness = Harness::with_sender(ses.clone(), None).await;

    let outcome = harness.run(harness.job()).await;

    assert_eq!(outcome, JobOutcome::Done);
    assert_eq!(ses.calls(), 0);
    let state = harness.state().await;
    assert_eq!(state.status, Some(SubscriptionStatus::Pending));
    assert_eq!(state.confirmation_sent_at, None);
}

#[tokio::test]
async fn configured_sender_wins_over_batch_sender() {
    for batch_from in [None, Some("news@acme.example")] {
        let ses = FakeSes::accepting();
        let harness =
            Harness::with_senders(ses.clone(), batch_from, Some("confirm@acme.example")).await;

        let outcome = harness.run(harness.job()).await;

        assert_eq!(outcome, JobOutcome::Done);
        let messages = ses.messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].from, "confirm@acme.example");
    }
}
