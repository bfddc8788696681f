//! One suite, run against each backend.
//!
//! The in-process cases run on a paused Tokio clock, so their sleeps take no
//! real time and their timing is exact. The Redis cases run when
//! `WRAPS_TEST_REDIS_URL` is set (for example `redis://127.0.0.1:6379`), on
//! real time, each under its own random key prefix whose keys are deleted
//! when the case ends.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Once;
use std::time::{Duration, SystemTime};

use serde_json::json;
use streams::{run_promoter, Backlog, Error, Job, ShardId, Streams, StreamsConfig, WorkerId};
use tokio::time::{sleep, Instant};
use tokio_util::sync::CancellationToken;

const REDIS_URL_VARIABLE: &str = "WRAPS_TEST_REDIS_URL";

/// Generates one test per case and backend: `in_process::<case>` and
/// `redis_backend::<case>`.
macro_rules! backend_suite {
    ($($case:ident),+ $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(start_paused = true)]
                async fn $case() {
                    super::$case(super::Backend::InProcess).await;
                }
            )+
        }

        mod redis_backend {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Backend::Redis).await;
                }
            )+
        }
    };
}

backend_suite!(
    read_returns_published_job,
    read_stops_at_max,
    ack_prevents_redelivery,
    reclaim_skips_delivery_within_lease,
    reclaim_hands_expired_delivery_to_other_consumer,
    extend_keeps_delivery_from_reclaim,
    extend_fails_after_reclaim,
    max_deliveries_moves_job_to_dead_letters,
    dead_letter_without_nack_names_expired_lease,
    redrive_puts_dead_letter_back,
    redrive_of_unknown_id_returns_false,
    redrive_all_empties_dead_letters,
    dead_letters_list_pages_after_id,
    delayed_job_hidden_before_due,
    delayed_job_published_when_due,
    rescheduling_replaces_due_time,
    racing_promoters_publish_each_job_once,
    promoter_task_publishes_due_jobs,
    blocking_read_wakes_on_publish,
    blocking_read_times_out_empty,
    streams_are_isolated_per_shard,
    backlog_of_unused_shard_is_zero,
    backlog_of_empty_read_shard_is_zero,
    backlog_tracks_read_and_ack,
    backlog_drops_dead_lettered_entry,
    backlog_lag_after_out_of_order_ack,
    lease_excludes_second_owner,
    lease_acquire_by_holder_keeps_token,
    lease_renewal_keeps_holder,
    expired_lease_goes_to_next_owner_with_higher_token,
    stale_holder_cannot_renew_or_release,
    released_lease_is_free_at_once,
    leases_are_isolated_per_shard,
);

#[tokio::test]
async fn redis_connect_to_closed_port_fails() {
    // A port that was just free and is now closed again.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    drop(listener);

    let config = StreamsConfig {
        connect_retries: 1,
        ..StreamsConfig::default()
    };

    // The bound only catches a connect that retries for minutes.
    let connected = tokio::time::timeout(Duration::from_secs(30), Streams::redis(&url, config))
        .await
        .expect("connecting did not give up within 30 s");

    assert!(connected.is_err());
}

#[derive(Clone, Copy)]
enum Backend {
    InProcess,
    Redis,
}

/// A backend opened for one case.
struct Harness {
    streams: Streams,
    config: StreamsConfig,
    redis_url: Option<String>,
}

impl Harness {
    /// Opens the backend, or returns `None` for Redis when no test Redis is
    /// configured.
    async fn open(backend: Backend, config: StreamsConfig) -> Option<Self> {
        match backend {
            Backend::InProcess => Some(Self {
                streams: Streams::in_process(config.clone()).expect("valid test config"),
                config,
                redis_url: None,
            }),
            Backend::Redis => {
                let Ok(url) = std::env::var(REDIS_URL_VARIABLE) else {
                    report_redis_skipped();
                    return None;
                };
                let config = StreamsConfig {
                    key_prefix: format!("wraps-test-{}", uuid::Uuid::new_v4().simple()),
                    ..config
                };
                let streams = Streams::redis(&url, config.clone())
                    .await
                    .expect("connect to the test Redis");
                Some(Self {
                    streams,
                    config,
                    redis_url: Some(url),
                })
            }
        }
    }

    /// Opens another handle on the same backend, as a second process would.
    async fn second_handle(&self) -> Streams {
        match &self.redis_url {
            None => self.streams.clone(),
            Some(url) => Streams::redis(url, self.config.clone())
                .await
                .expect("connect to the test Redis"),
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let Some(url) = &self.redis_url else {
            return;
        };
        // Drop cannot await, so this uses the blocking client. It also runs
        // when the case panicked.
        if let Err(error) = delete_keys(url, &self.config.key_prefix) {
            let _ = writeln!(
                std::io::stderr(),
                "failed to delete test keys under {}: {error}",
                self.config.key_prefix
            );
        }
    }
}

fn delete_keys(url: &str, prefix: &str) -> redis::RedisResult<()> {
    use redis::Commands;

    let mut connection = redis::Client::open(url)?.get_connection()?;
    let keys: Vec<String> = connection.scan_match(format!("{prefix}:*"))?.collect();
    if !keys.is_empty() {
        connection.del::<_, ()>(keys)?;
    }
    Ok(())
}

fn keys_matching(url: &str, pattern: &str) -> redis::RedisResult<Vec<String>> {
    use redis::Commands;

    let mut connection = redis::Client::open(url)?.get_connection()?;
    let keys = connection.scan_match(pattern)?.collect();
    Ok(keys)
}

/// Prints the skip notice once per run. It writes to the process's stderr
/// directly, because the test harness captures `eprintln!`.
fn report_redis_skipped() {
    static NOTICE: Once = Once::new();
    NOTICE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "{REDIS_URL_VARIABLE} is not set; skipping the Redis streams tests"
        );
    });
}

fn config(delivery_lease: Duration, max_deliveries: u32) -> StreamsConfig {
    StreamsConfig {
        delivery_lease,
        max_deliveries,
        max_block: Duration::from_secs(5),
        promotion_lease: Duration::from_secs(5),
        ..StreamsConfig::default()
    }
}

fn default_config() -> StreamsConfig {
    config(Duration::from_millis(100), 5)
}

fn job(number: u32) -> Job {
    Job::new(
        "test.job",
        json!({ "number": number, "nested": { "list": [1, 2, 3], "text": "é" } }),
    )
}

const SHARD: ShardId = ShardId(1);

fn worker(name: &str) -> WorkerId {
    WorkerId::new(name)
}

async fn read_now(
    streams: &Streams,
    shard: ShardId,
    consumer: &WorkerId,
) -> Vec<streams::Delivery> {
    streams
        .consumer
        .read(shard, consumer, 100, Duration::ZERO)
        .await
        .expect("read")
}

/// Turns one published job into a dead letter with `max_deliveries` 1.
async fn make_dead_letter(harness: &Harness, shard: ShardId, job: &Job) {
    let streams = &harness.streams;
    streams.producer.publish(shard, job).await.unwrap();
    assert_eq!(read_now(streams, shard, &worker("a")).await.len(), 1);

    sleep(harness.config.delivery_lease * 2).await;
    let reclaimed = streams
        .consumer
        .reclaim(shard, &worker("b"), 10)
        .await
        .unwrap();
    assert!(
        reclaimed.is_empty(),
        "expected a dead letter, got a redelivery"
    );
}

// Publishing, reading, acking.

async fn read_returns_published_job(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    let sent = job(1);

    let entry = streams.producer.publish(SHARD, &sent).await.unwrap();
    let deliveries = read_now(streams, SHARD, &worker("a")).await;

    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(delivery.job, sent);
    assert_eq!(delivery.entry, entry);
    assert_eq!(delivery.shard, SHARD);
    assert_eq!(delivery.consumer, worker("a"));
    assert_eq!(delivery.deliveries, 1);
    streams.consumer.ack(delivery).await.unwrap();
}

async fn read_stops_at_max(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    for number in 0..3 {
        streams.producer.publish(SHARD, &job(number)).await.unwrap();
    }

    let first = streams
        .consumer
        .read(SHARD, &worker("a"), 2, Duration::ZERO)
        .await
        .unwrap();
    let rest = read_now(streams, SHARD, &worker("a")).await;

    assert_eq!(first.len(), 2);
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].job.payload["number"], 2);
}

async fn ack_prevents_redelivery(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    streams.producer.publish(SHARD, &job(1)).await.unwrap();
    let deliveries = read_now(streams, SHARD, &worker("a")).await;

    streams.consumer.ack(&deliveries[0]).await.unwrap();
    sleep(harness.config.delivery_lease * 2).await;

    let reclaimed = streams
        .consumer
        .reclaim(SHARD, &worker("b"), 10)
        .await
        .unwrap();
    assert!(reclaimed.is_empty());
    assert!(read_now(streams, SHARD, &worker("b")).await.is_empty());
}

// Reclaiming after the delivery lease.

async fn reclaim_skips_delivery_within_lease(backend: Backend) {
    let config = config(Duration::from_secs(2), 5);
    let Some(harness) = Harness::open(backend, config).await else {
        return;
    };
    let streams = &harness.streams;
    streams.producer.publish(SHARD, &job(1)).await.unwrap();
    assert_eq!(read_now(streams, SHARD, &worker("a")).await.len(), 1);

    let reclaimed = streams
        .consumer
        .reclaim(SHARD, &worker("b"), 10)
        .await
        .unwrap();

    assert!(reclaimed.is_empty());
}

async fn reclaim_hands_expired_delivery_to_other_consumer(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    let sent = job(1);
    let entry = streams.producer.publish(SHARD, &sent).await.unwrap();
    assert_eq!(read_now(streams, SHARD, &worker("a")).await.len(), 1);

    sleep(harness.config.delivery_lease * 2).await;
    let reclaimed = streams
        .consumer
        .reclaim(SHARD, &worker("b"), 10)
        .await
        .unwrap();

    assert_eq!(reclaimed.len(), 1);
    let delivery = &reclaimed[0];
    assert_eq!(delivery.job, sent);
    assert_eq!(delivery.entry, entry);
    assert_eq!(delivery.consumer, worker("b"));
    assert_eq!(delivery.deliveries, 2);
}

async fn extend_keeps_delivery_from_reclaim(backend: Backend) {
    let config = config(Duration::from_millis(400), 5);
    let Some(harness) = Harness::open(backend, config).await else {
        return;
    };
    let streams = &harness.streams;
    streams.producer.publish(SHARD, &job(1)).await.unwrap();
    let deliveries = read_now(streams, SHARD, &worker("a")).await;

    sleep(Duration::from_millis(250)).await;
    streams.consumer.extend(&deliveries[0]).await.unwrap();
    sleep(Duration::from_millis(250)).await;

    let within_lease = streams
        .consumer
        .reclaim(SHARD, &worker("b"), 10)
        .await
        .unwrap();
    assert!(within_lease.is_empty());

    // Extending is not a delivery, so the reclaim counts the second one.
    sleep(harness.config.delivery_lease).await;
    let after_lease = streams
        .consumer
        .reclaim(SHARD, &worker("b"), 10)
        .await
        .unwrap();
    assert_eq!(after_lease.len(), 1);
    assert_eq!(after_lease[0].deliveries, 2);
}

async fn extend_fails_after_reclaim(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    streams.producer.publish(SHARD, &job(1)).await.unwrap();
    let deliveries = read_now(streams, SHARD, &worker("a")).await;
    sleep(harness.config.delivery_lease * 2).await;
    let reclaimed = streams
        .consumer
        .reclaim(SHARD, &worker("b"), 10)
        .await
        .unwrap();
    assert_eq!(reclaimed.len(), 1);

    let extended = streams.consumer.extend(&deliveries[0]).await;

    assert!(
        matches!(extended, Err(Error::DeliveryLost { .. })),
        "{extended:?}"
    );
}

// Dead letters.

async fn max_deliveries_moves_job_to_dead_letters(backend: Backend) {
    let config = config(Duration::from_millis(100), 2);
    let Some(harness) = Harness::open(backend, config).await else {
        return;
    };
    let streams = &harness.streams;
    let lease = harness.config.delivery_lease;
    let sent = job(1);
    let entry = streams.producer.publish(SHARD, &sent).await.unwrap();

    let first = read_now(streams, SHARD, &worker("a")).await;
    streams
        .consumer
        .nack(&first[0], "first failure")
        .await
        .unwrap();
    sleep(lease * 2).await;
    let second = streams
        .consumer
        .reclaim(SHARD, &worker("b"), 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].deliveries, 2);
    streams
        .consumer
        .nack(&second[0], "second failure")
        .await
        .unwrap();
    sleep(lease * 2).await;
    let third = streams
        .consumer
        .reclaim(SHARD, &worker("a"), 10)
        .await
        .unwrap();

    assert!(third.is_empty());
    let dead = streams.dead_letters.list(None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].job, sent);
    assert_eq!(dead[0].shard, SHARD);
    assert_eq!(dead[0].entry, entry);
    assert_eq!(dead[0].error, "second failure");
    assert_eq!(dead[0].deliveries, 2);
    sleep(lease * 2).await;
    let after_dead = streams
        .consumer
        .reclaim(SHARD, &worker("a"), 10)
        .await
        .unwrap();
    assert!(
        after_dead.is_empty(),
        "dead-lettered entry is still pending"
    );
}

async fn dead_letter_without_nack_names_expired_lease(backend: Backend) {
    let Some(harness) = Harness::open(backend, config(Duration::from_millis(100), 1)).await else {
        return;
    };

    make_dead_letter(&harness, SHARD, &job(1)).await;

    let dead = harness.streams.dead_letters.list(None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].error.contains("lease expired"), "{}", dead[0].error);
    assert_eq!(dead[0].deliveries, 1);
}

async fn redrive_puts_dead_letter_back(backend: Backend) {
    let Some(harness) = Harness::open(backend, config(Duration::from_millis(100), 1)).await else {
        return;
    };
    let streams = &harness.streams;
    let sent = job(1);
    make_dead_letter(&harness, SHARD, &sent).await;
    let dead = streams.dead_letters.list(None, 10).await.unwrap();

    let redriven = streams.dead_letters.redrive(&dead[0].id).await.unwrap();

    assert!(redriven);
    assert!(streams
        .dead_letters
        .list(None, 10)
        .await
        .unwrap()
        .is_empty());
    let deliveries = read_now(streams, SHARD, &worker("c")).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].job, sent);
    assert_eq!(deliveries[0].deliveries, 1);
}

async fn redrive_of_unknown_id_returns_false(backend: Backend) {
    let Some(harness) = Harness::open(backend, config(Duration::from_millis(100), 1)).await else {
        return;
    };
    let streams = &harness.streams;
    make_dead_letter(&harness, SHARD, &job(1)).await;
    let dead = streams.dead_letters.list(None, 10).await.unwrap();
    assert!(streams.dead_letters.redrive(&dead[0].id).await.unwrap());

    let again = streams.dead_letters.redrive(&dead[0].id).await.unwrap();

    assert!(!again);
    assert_eq!(read_now(streams, SHARD, &worker("c")).await.len(), 1);
}

async fn redrive_all_empties_dead_letters(backend: Backend) {
    let Some(harness) = Harness::open(backend, config(Duration::from_millis(100), 1)).await else {
        return;
    };
    let streams = &harness.streams;
    make_dead_letter(&harness, ShardId(1), &job(1)).await;
    make_dead_letter(&harness, ShardId(2), &job(2)).await;
    make_dead_letter(&harness, ShardId(2), &job(3)).await;

    let redriven = streams.dead_letters.redrive_all().await.unwrap();

    assert_eq!(redriven, 3);
    assert!(streams
        .dead_letters
        .list(None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(read_now(streams, ShardId(1), &worker("c")).await.len(), 1);
    assert_eq!(read_now(streams, ShardId(2), &worker("c")).await.len(), 2);
}

async fn dead_letters_list_pages_after_id(backend: Backend) {
    let Some(harness) = Harness::open(backend, config(Duration::from_millis(100), 1)).await else {
        return;
    };
    let streams = &harness.streams;
    for number in 0..3 {
        make_dead_letter(&harness, SHARD, &job(number)).await;
    }

    let first_page = streams.dead_letters.list(None, 2).await.unwrap();
    let second_page = streams
        .dead_letters
        .list(Some(&first_page[1].id), 2)
        .await
        .unwrap();

    assert_eq!(first_page.len(), 2);
    assert_eq!(first_page[0].job.payload["number"], 0);
    assert_eq!(first_page[1].job.payload["number"], 1);
    assert_eq!(second_page.len(), 1);
    assert_eq!(second_page[0].job.payload["number"], 2);
}

// Delayed jobs.

async fn delayed_job_hidden_before_due(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    let due = SystemTime::now() + Duration::from_secs(2);
    streams
        .producer
        .schedule(SHARD, &job(1), due)
        .await
        .unwrap();

    let promoted = streams.producer.promote_due(10).await.unwrap();

    assert_eq!(promoted, 0);
    assert!(read_now(streams, SHARD, &worker("a")).await.is_empty());
}

async fn delayed_job_published_when_due(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    let sent = job(1);
    let due = SystemTime::now() + Duration::from_millis(200);
    streams.producer.schedule(SHARD, &sent, due).await.unwrap();

    sleep(Duration::from_millis(300)).await;
    let promoted = streams.producer.promote_due(10).await.unwrap();

    assert_eq!(promoted, 1);
    let deliveries = read_now(streams, SHARD, &worker("a")).await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].job, sent);
    assert_eq!(streams.producer.promote_due(10).await.unwrap(), 0);
}

async fn rescheduling_replaces_due_time(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    let sent = job(1);
    let soon = SystemTime::now() + Duration::from_millis(100);
    let later = SystemTime::now() + Duration::from_secs(60);
    streams.producer.schedule(SHARD, &sent, soon).await.unwrap();
    streams
        .producer
        .schedule(SHARD, &sent, later)
        .await
        .unwrap();

    sleep(Duration::from_millis(300)).await;
    let promoted = streams.producer.promote_due(10).await.unwrap();

    assert_eq!(promoted, 0);
}

async fn racing_promoters_publish_each_job_once(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let first = harness.streams.clone();
    let second = harness.second_handle().await;
    let past = SystemTime::now() - Duration::from_secs(1);
    for number in 0..40 {
        let shard = ShardId(number % 2);
        first
            .producer
            .schedule(shard, &job(number), past)
            .await
            .unwrap();
    }

    // Small batches make the two promoters take turns.
    let drain = |streams: Streams| async move {
        let mut total = 0;
        loop {
            let moved = streams.producer.promote_due(3).await.unwrap();
            if moved == 0 {
                return total;
            }
            total += moved;
        }
    };
    let (by_first, by_second) = tokio::join!(drain(first.clone()), drain(second));

    assert_eq!(by_first + by_second, 40);
    let mut ids = HashSet::new();
    for shard in [ShardId(0), ShardId(1)] {
        for delivery in read_now(&first, shard, &worker("a")).await {
            assert!(
                ids.insert(delivery.job.id),
                "job {} published twice",
                delivery.job.id
            );
        }
    }
    assert_eq!(ids.len(), 40);
}

async fn promoter_task_publishes_due_jobs(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    let shutdown = CancellationToken::new();
    let promoter = tokio::spawn(run_promoter(
        streams.producer.clone(),
        Duration::from_millis(50),
        shutdown.clone(),
    ));
    let due = SystemTime::now() + Duration::from_millis(100);
    streams
        .producer
        .schedule(SHARD, &job(1), due)
        .await
        .unwrap();

    let deliveries = streams
        .consumer
        .read(SHARD, &worker("a"), 10, Duration::from_secs(5))
        .await
        .unwrap();
    shutdown.cancel();

    assert_eq!(deliveries.len(), 1);
    promoter.await.expect("promoter stops on shutdown");
}

// Blocking reads.

async fn blocking_read_wakes_on_publish(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    let block = Duration::from_secs(5);
    let producer = streams.producer.clone();
    let publisher = tokio::spawn(async move {
        sleep(Duration::from_millis(100)).await;
        producer.publish(SHARD, &job(1)).await.unwrap();
    });

    let started = Instant::now();
    let deliveries = streams
        .consumer
        .read(SHARD, &worker("a"), 10, block)
        .await
        .unwrap();

    assert_eq!(deliveries.len(), 1);
    assert!(
        started.elapsed() < block,
        "read waited for the whole block time"
    );
    publisher.await.unwrap();
}

async fn blocking_read_times_out_empty(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let block = Duration::from_millis(200);

    let started = Instant::now();
    let deliveries = harness
        .streams
        .consumer
        .read(SHARD, &worker("a"), 10, block)
        .await
        .unwrap();

    assert!(deliveries.is_empty());
    assert!(
        started.elapsed() >= block,
        "read returned before the block time"
    );
}

async fn streams_are_isolated_per_shard(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    streams.producer.publish(ShardId(1), &job(1)).await.unwrap();

    let other = read_now(streams, ShardId(2), &worker("a")).await;
    let own = read_now(streams, ShardId(1), &worker("a")).await;

    assert!(other.is_empty());
    assert_eq!(own.len(), 1);
}

// Backlog gauges.

fn backlog(length: u64, pending: u64, lag: u64) -> Backlog {
    Backlog {
        length,
        pending,
        lag: Some(lag),
    }
}

async fn backlog_now(streams: &Streams, shard: ShardId) -> Backlog {
    streams.consumer.backlog(shard).await.expect("backlog")
}

async fn backlog_of_unused_shard_is_zero(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    streams.producer.publish(ShardId(1), &job(1)).await.unwrap();

    assert_eq!(backlog_now(streams, ShardId(2)).await, backlog(0, 0, 0));
    if let Some(url) = &harness.redis_url {
        let pattern = format!("{}:{{2}}:*", harness.config.key_prefix);
        let created = keys_matching(url, &pattern).expect("scan the test Redis");
        assert!(created.is_empty(), "backlog created keys {created:?}");
    }
}

async fn backlog_of_empty_read_shard_is_zero(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;

    // On Redis the empty read creates the stream and the consumer group.
    assert!(read_now(streams, SHARD, &worker("a")).await.is_empty());

    assert_eq!(backlog_now(streams, SHARD).await, backlog(0, 0, 0));
}

async fn backlog_tracks_read_and_ack(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    for number in 0..5 {
        streams.producer.publish(SHARD, &job(number)).await.unwrap();
    }
    assert_eq!(
        backlog_now(streams, SHARD).await,
        backlog(5, 0, 5),
        "before the first read"
    );

    let first = streams
        .consumer
        .read(SHARD, &worker("a"), 3, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(
        backlog_now(streams, SHARD).await,
        backlog(5, 3, 2),
        "after reading 3"
    );

    // Acks go oldest first, because Redis 7.0 returns no lag after the
    // newest delivered entry is deleted first.
    streams.consumer.ack(&first[0]).await.unwrap();
    streams.consumer.ack(&first[1]).await.unwrap();
    assert_eq!(
        backlog_now(streams, SHARD).await,
        backlog(3, 1, 2),
        "after acking 2"
    );

    let rest = read_now(streams, SHARD, &worker("b")).await;
    assert_eq!(rest.len(), 2);
    assert_eq!(
        backlog_now(streams, SHARD).await,
        backlog(3, 3, 0),
        "after reading the rest"
    );

    for delivery in first[2..].iter().chain(&rest) {
        streams.consumer.ack(delivery).await.unwrap();
    }
    assert_eq!(
        backlog_now(streams, SHARD).await,
        backlog(0, 0, 0),
        "after acking all"
    );
}

async fn backlog_drops_dead_lettered_entry(backend: Backend) {
    let Some(harness) = Harness::open(backend, config(Duration::from_millis(100), 1)).await else {
        return;
    };
    let streams = &harness.streams;
    streams.producer.publish(SHARD, &job(1)).await.unwrap();
    assert_eq!(read_now(streams, SHARD, &worker("a")).await.len(), 1);
    sleep(harness.config.delivery_lease * 2).await;

    // The expired delivery stays pending until a reclaim moves it.
    streams.producer.publish(SHARD, &job(2)).await.unwrap();
    assert_eq!(backlog_now(streams, SHARD).await, backlog(2, 1, 1));
    let reclaimed = streams
        .consumer
        .reclaim(SHARD, &worker("b"), 10)
        .await
        .unwrap();

    assert!(reclaimed.is_empty(), "expected a dead letter");
    assert_eq!(streams.dead_letters.list(None, 10).await.unwrap().len(), 1);
    assert_eq!(backlog_now(streams, SHARD).await, backlog(1, 0, 1));
}

async fn backlog_lag_after_out_of_order_ack(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let streams = &harness.streams;
    for number in 0..3 {
        streams.producer.publish(SHARD, &job(number)).await.unwrap();
    }
    let deliveries = streams
        .consumer
        .read(SHARD, &worker("a"), 2, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 2);

    // Acking the newest delivery first deletes the group's last delivered
    // entry while an older one is still in the stream.
    streams.consumer.ack(&deliveries[1]).await.unwrap();
    let counted = backlog_now(streams, SHARD).await;

    assert_eq!(counted.length, 2);
    assert_eq!(counted.pending, 1);
    match backend {
        Backend::InProcess => assert_eq!(counted.lag, Some(1)),
        // Redis 7.0 returns no lag here. A lag that it does return must be
        // right.
        Backend::Redis => assert!(
            matches!(counted.lag, None | Some(1)),
            "lag {:?}",
            counted.lag
        ),
    }
}

// Shard leases.

const LEASE_TTL: Duration = Duration::from_millis(100);

async fn lease_excludes_second_owner(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let leases = &harness.streams.leases;
    let ttl = Duration::from_secs(5);

    let first = leases.acquire(SHARD, &worker("a"), ttl).await.unwrap();
    let second = leases.acquire(SHARD, &worker("b"), ttl).await.unwrap();

    assert!(first.is_some());
    assert!(second.is_none());
}

async fn lease_acquire_by_holder_keeps_token(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let leases = &harness.streams.leases;
    let ttl = Duration::from_secs(5);

    let first = leases.acquire(SHARD, &worker("a"), ttl).await.unwrap();
    let again = leases.acquire(SHARD, &worker("a"), ttl).await.unwrap();

    assert_eq!(first.unwrap().token, again.unwrap().token);
}

async fn lease_renewal_keeps_holder(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let leases = &harness.streams.leases;
    let ttl = Duration::from_millis(400);
    let lease = leases
        .acquire(SHARD, &worker("a"), ttl)
        .await
        .unwrap()
        .unwrap();

    sleep(Duration::from_millis(250)).await;
    let renewed = leases.renew(&lease, ttl).await.unwrap();
    sleep(Duration::from_millis(250)).await;

    assert!(renewed);
    let other = leases.acquire(SHARD, &worker("b"), ttl).await.unwrap();
    assert!(other.is_none(), "lease expired despite the renewal");
}

async fn expired_lease_goes_to_next_owner_with_higher_token(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let leases = &harness.streams.leases;
    let old = leases
        .acquire(SHARD, &worker("a"), LEASE_TTL)
        .await
        .unwrap()
        .unwrap();

    sleep(LEASE_TTL * 2).await;
    let new = leases
        .acquire(SHARD, &worker("b"), LEASE_TTL)
        .await
        .unwrap();

    let new = new.expect("expired lease was not taken over");
    assert_eq!(new.owner, worker("b"));
    assert!(new.token > old.token, "{:?} <= {:?}", new.token, old.token);
}

async fn stale_holder_cannot_renew_or_release(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let leases = &harness.streams.leases;
    let stale = leases
        .acquire(SHARD, &worker("a"), LEASE_TTL)
        .await
        .unwrap()
        .unwrap();
    sleep(LEASE_TTL * 2).await;
    let ttl = Duration::from_secs(5);
    let current = leases.acquire(SHARD, &worker("b"), ttl).await.unwrap();
    assert!(current.is_some());

    let renewed = leases.renew(&stale, ttl).await.unwrap();
    let released = leases.release(&stale).await.unwrap();

    assert!(!renewed);
    assert!(!released);
    let third = leases.acquire(SHARD, &worker("c"), ttl).await.unwrap();
    assert!(third.is_none(), "stale holder disturbed the current lease");
}

async fn released_lease_is_free_at_once(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let leases = &harness.streams.leases;
    let ttl = Duration::from_secs(5);
    let first = leases
        .acquire(SHARD, &worker("a"), ttl)
        .await
        .unwrap()
        .unwrap();

    let released = leases.release(&first).await.unwrap();
    let next = leases.acquire(SHARD, &worker("b"), ttl).await.unwrap();

    assert!(released);
    let next = next.expect("released lease was not free");
    assert!(next.token > first.token);
}

async fn leases_are_isolated_per_shard(backend: Backend) {
    let Some(harness) = Harness::open(backend, default_config()).await else {
        return;
    };
    let leases = &harness.streams.leases;
    let ttl = Duration::from_secs(5);

    let one = leases.acquire(ShardId(1), &worker("a"), ttl).await.unwrap();
    let two = leases.acquire(ShardId(2), &worker("b"), ttl).await.unwrap();

    assert!(one.is_some());
    assert!(two.is_some());
}
