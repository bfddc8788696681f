//! Plan send limits per organisation, through the real dispatcher, store and
//! streams: two tenants on different plans broadcast at once through their
//! own AWS accounts, and each gets its own plan's rate without waiting on
//! the other. The limiter is shared through Redis when
//! `WRAPS_TEST_REDIS_URL` is set, else it lives in this process.

mod common;

use common::streams;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dispatcher::content::UnsubscribeLinks;
use dispatcher::{
    BroadcastConfig, Broadcaster, Dispatcher, DispatcherConfig, IntakeConfig, SesProvider,
    SweeperConfig,
};
use ratelimit::{Limiter, Pacers, PlanSettings, Plans, SendLimits};
use schemas::batches::{AudienceType, BatchStatus};
use schemas::connections::CreateConnection;
use schemas::{BatchId, OrgId};
use ses::{
    AccountQuota, BulkMessage, ConnectionTarget, EmailMessage, SendOutcome, SesClient, SesError,
};
use store::{NewBatch, RegisterOptions, Store};
use tokio_util::sync::CancellationToken;

/// An SES account without limits that notes when each message arrived.
#[derive(Default)]
struct TimedSes {
    sent: Mutex<Vec<Instant>>,
}

#[async_trait]
impl SesClient for TimedSes {
    async fn send_email(&self, _: &EmailMessage) -> SendOutcome {
        self.sent.lock().unwrap().push(Instant::now());
        SendOutcome::Sent {
            message_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    async fn send_bulk_email(&self, message: &BulkMessage) -> Vec<SendOutcome> {
        vec![
            SendOutcome::Failed {
                reason: "bulk not used here".into()
            };
            message.entries.len()
        ]
    }

    async fn get_account(&self) -> Result<AccountQuota, SesError> {
        Ok(AccountQuota {
            max_send_rate: -1.0,
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

/// One `TimedSes` per AWS account number.
struct Accounts(HashMap<String, Arc<TimedSes>>);

#[async_trait]
impl SesProvider for Accounts {
    async fn client(&self, target: &ConnectionTarget) -> Arc<dyn SesClient> {
        self.0[&target.account_id].clone()
    }
}

async fn limiter() -> Limiter {
    match std::env::var("WRAPS_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let prefix = format!("wraps-test-{}:", uuid::Uuid::new_v4().simple());
            Limiter::redis(&url, &prefix, Duration::from_secs(2))
                .await
                .unwrap()
        }
        _ => Limiter::local(),
    }
}

fn plans(per_second: &[(&str, i64)]) -> Plans {
    let overrides: BTreeMap<String, PlanSettings> = per_second
        .iter()
        .map(|(plan, rate)| {
            (
                plan.to_string(),
                PlanSettings {
                    sends_per_second: Some(*rate),
                    ..PlanSettings::default()
                },
            )
        })
        .collect();
    Plans::with_overrides(&overrides, true).unwrap()
}

struct Tenant {
    org: OrgId,
    batch: BatchId,
    ses: Arc<TimedSes>,
}

/// Creates an organisation on `plan` with its own AWS account, `recipients`
/// contacts and a queued broadcast to all of them, not yet published.
async fn tenant(
    store: &Store,
    plan: &str,
    account: &str,
    recipients: usize,
    ses: Arc<TimedSes>,
) -> Tenant {
    let org = store.create_org(plan, plan).await.unwrap().id;
    let request = CreateConnection {
        account_id: Some(account.into()),
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
    let rows: Vec<store::ImportRow> = (0..recipients)
        .map(|i| store::ImportRow {
            email: format!("{plan}{i:05}@example.com"),
            ..store::ImportRow::default()
        })
        .collect();
    store.import_contacts(org, &rows, None).await.unwrap();
    let new = NewBatch {
        connection_id: Some(registered.connection_id),
        name: format!("{plan} broadcast"),
        channel: "email".into(),
        audience_type: Some(AudienceType::All),
        from_email: Some("news@example.com".into()),
        subject: Some("Hello".into()),
        html_content: Some("<p>Hi</p>".into()),
        ..NewBatch::default()
    };
    let batch = store.create_batch(org, &new).await.unwrap();
    Tenant {
        org,
        batch: batch.id,
        ses,
    }
}

impl Tenant {
    /// Messages per second beyond the plan's one-second burst: the messages
    /// after the burst over the time from the first arrival to the last.
    fn sustained_rate(&self, start: Instant, burst: usize) -> (usize, f64, Duration) {
        let sent = self.ses.sent.lock().unwrap().clone();
        let first = *sent.first().unwrap();
        let last = *sent.last().unwrap();
        let rate = (sent.len() - burst) as f64 / last.duration_since(first).as_secs_f64();
        (sent.len(), rate, last.duration_since(start))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_gets_its_own_plan_rate() {
    let store = store::test_support::fresh_store().await;
    let streams = streams().await;
    let free_account = "111111111111";
    let pro_account = "222222222222";

    let free_ses = Arc::new(TimedSes::default());
    let pro_ses = Arc::new(TimedSes::default());
    let provider = Accounts(HashMap::from([
        (free_account.to_owned(), free_ses.clone()),
        (pro_account.to_owned(), pro_ses.clone()),
    ]));
    let broadcaster = Arc::new(Broadcaster {
        store: store.clone(),
        streams: streams.clone(),
        ses: Arc::new(provider),
        pacers: Pacers::default(),
        send_limits: SendLimits::new(
            limiter().await,
            Arc::new(plans(&[("free", 20), ("pro", 60)])),
        ),
        unsubscribe: UnsubscribeLinks {
            keys: store.unsubscribe_keys().await.unwrap(),
            base_url: "https://api.example.com".into(),
        },
        config: BroadcastConfig {
            shards: 4,
            chunk_size: 50,
            ..BroadcastConfig::default()
        },
    });

    // Free: 20/s for 100 messages; pro: 60/s for 300. Both take about 4 s
    // after their one-second burst if neither waits on the other.
    let free = tenant(&store, "free", free_account, 100, free_ses).await;
    let pro = tenant(&store, "pro", pro_account, 300, pro_ses).await;

    let shutdown = CancellationToken::new();
    let dispatcher = Dispatcher::new(
        broadcaster.clone(),
        DispatcherConfig {
            shards: 4,
            lease: Duration::from_secs(3),
            block: Duration::from_millis(100),
            jobs_per_shard: 4,
            promote_every: Duration::from_millis(50),
            sweeper: SweeperConfig {
                every: Duration::from_millis(100),
                stall_after: Duration::from_secs(5),
            },
            intake: IntakeConfig {
                block: Duration::from_millis(100),
                ..IntakeConfig::default()
            },
        },
    );
    tokio::spawn(dispatcher.run(shutdown.clone()));

    let start = Instant::now();
    for tenant in [&free, &pro] {
        let batch = store
            .get_batch(tenant.org, tenant.batch)
            .await
            .unwrap()
            .unwrap();
        broadcaster.publish_fan_out(&batch).await.unwrap();
    }
    for tenant in [&free, &pro] {
        let mut done = false;
        for _ in 0..400 {
            let batch = store
                .get_batch(tenant.org, tenant.batch)
                .await
                .unwrap()
                .unwrap();
            if batch.status.is_terminal() {
                assert_eq!(batch.status, BatchStatus::Completed);
                done = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(done, "batch {} did not finish in 20 s", tenant.batch);
    }
    shutdown.cancel();

    let (free_sent, free_rate, free_end) = free.sustained_rate(start, 20);
    let (pro_sent, pro_rate, pro_end) = pro.sustained_rate(start, 60);
    assert_eq!(free_sent, 100);
    assert_eq!(pro_sent, 300);
    assert!(
        (18.0..=20.5).contains(&free_rate),
        "free plan sent at {free_rate:.1}/s, its limit is 20/s"
    );
    assert!(
        (54.0..=61.0).contains(&pro_rate),
        "pro plan sent at {pro_rate:.1}/s, its limit is 60/s"
    );
    // Neither waited for the other: pro, with three times the messages at
    // three times the rate, ends about when free does, not after it.
    let gap = pro_end.as_secs_f64() - free_end.as_secs_f64();
    assert!(
        gap.abs() < 2.0,
        "free ended at {free_end:?}, pro at {pro_end:?}"
    );
}
