//! The intake worker: applies the SES events that the webhook route put on
//! the intake stream ([`ShardId::INTAKE`]) to the store.
//!
//! Every dispatcher runs one. The intake stream has no lease: the workers
//! share its consumer group, so each entry goes to one of them, and an
//! entry whose worker died is reclaimed after the delivery lease. Each read
//! of up to [`IntakeConfig::batch`] entries is applied in one transaction
//! and acked after it commits. Should that transaction fail, the entries
//! are applied one by one, so a single bad entry cannot hold the others
//! back. The bad one is nacked, and dead-lettered with its error after the
//! stream's maximum deliveries.
//!
//! Applying an entry twice (after a crash between commit and ack) changes
//! nothing, because the store records each delivery key and each fact once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_catalogue as names;
use schemas::delivery::{DeliveryEvent, EventOutcome, SES_EVENT};
use store::{Store, DELIVERY_KEY_RETENTION_MILLIS};
use streams::{Delivery, ShardId, Streams, WorkerId};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct IntakeConfig {
    /// Entries read and applied in one transaction.
    pub batch: usize,
    /// How long one blocking read waits for new entries.
    pub block: Duration,
    /// How often processed delivery keys past their retention are deleted.
    pub prune_every: Duration,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            batch: 256,
            block: Duration::from_secs(2),
            prune_every: Duration::from_secs(600),
        }
    }
}

/// Applies intake entries until `stop` is cancelled.
pub async fn run_intake(
    streams: Arc<Streams>,
    store: Store,
    worker: WorkerId,
    config: IntakeConfig,
    stop: CancellationToken,
) {
    let batch = config.batch.max(1);
    let mut stamped: HashMap<String, Instant> = HashMap::new();
    let mut last_prune: Option<Instant> = None;
    while !stop.is_cancelled() {
        if last_prune.is_none_or(|at| at.elapsed() >= config.prune_every) {
            last_prune = Some(Instant::now());
            prune(&store).await;
        }
        let mut deliveries = match streams
            .consumer
            .reclaim(ShardId::INTAKE, &worker, batch)
            .await
        {
            Ok(reclaimed) => {
                if !reclaimed.is_empty() {
                    metrics::counter!(names::STREAM_RECLAIMED, "shard" => ShardId::INTAKE.to_string())
                        .increment(reclaimed.len() as u64);
                }
                reclaimed
            }
            Err(err) => {
                tracing::warn!(error = %err, "reclaiming stale intake entries failed");
                Vec::new()
            }
        };
        if deliveries.len() < batch {
            let read = tokio::select! {
                _ = stop.cancelled() => break,
                read = streams.consumer.read(ShardId::INTAKE, &worker, batch - deliveries.len(), config.block) => read,
            };
            match read {
                Ok(fresh) => deliveries.extend(fresh),
                Err(err) => {
                    tracing::warn!(error = %err, "reading the intake stream failed; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(config.block) => continue,
                    }
                }
            }
        }
        if deliveries.is_empty() {
            continue;
        }
        let connections = apply(&streams, &store, deliveries).await;
        stamp(&store, connections, &mut stamped).await;
    }
}

/// Applies one read and acks or nacks every entry. Returns the connections
/// that received events.
async fn apply(streams: &Streams, store: &Store, deliveries: Vec<Delivery>) -> Vec<String> {
    let mut decoded = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        let event = if delivery.job.kind == SES_EVENT {
            delivery
                .job
                .decode_payload::<DeliveryEvent>()
                .map_err(|err| format!("invalid SES event payload: {err}"))
        } else {
            Err(format!("unknown intake job kind {:?}", delivery.job.kind))
        };
        match event {
            Ok(event) => decoded.push((event, delivery)),
            Err(reason) => finish(streams, &delivery, Err(reason)).await,
        }
    }
    // The sort is stable, so one message's events keep their order. Rows
    // are then locked in message order, which keeps two workers from
    // taking the same rows in opposite orders.
    decoded.sort_by(|(a, _), (b, _)| a.message_id.cmp(&b.message_id));
    let (events, deliveries): (Vec<DeliveryEvent>, Vec<Delivery>) = decoded.into_iter().unzip();

    let mut connections: Vec<String> = events.iter().map(|e| e.connection_id.clone()).collect();
    connections.sort();
    connections.dedup();

    let started = Instant::now();
    let applied = store.apply_delivery_events(&events).await;
    metrics::histogram!(names::WEBHOOK_APPLY_DURATION).record(started.elapsed().as_secs_f64());
    match applied {
        Ok(outcomes) => {
            for ((event, delivery), outcome) in events.iter().zip(&deliveries).zip(outcomes) {
                count(event, outcome);
                finish(streams, delivery, Ok(())).await;
            }
        }
        Err(err) if events.len() > 1 => {
            tracing::warn!(error = %err, entries = events.len(), "applying SES events together failed; applying them one by one");
            for (event, delivery) in events.iter().zip(&deliveries) {
                match store
                    .apply_delivery_events(std::slice::from_ref(event))
                    .await
                {
                    Ok(outcomes) => {
                        outcomes
                            .into_iter()
                            .for_each(|outcome| count(event, outcome));
                        finish(streams, delivery, Ok(())).await;
                    }
                    Err(err) => finish(streams, delivery, Err(err.to_string())).await,
                }
            }
        }
        Err(err) => {
            for delivery in &deliveries {
                finish(streams, delivery, Err(err.to_string())).await;
            }
        }
    }
    connections
}

fn count(event: &DeliveryEvent, outcome: EventOutcome) {
    metrics::counter!(names::WEBHOOK_EVENTS, "type" => event.fact.as_str(), "result" => outcome.as_str())
        .increment(1);
}

async fn finish(streams: &Streams, delivery: &Delivery, result: Result<(), String>) {
    let outcome = match &result {
        Ok(()) => streams.consumer.ack(delivery).await,
        Err(reason) => {
            tracing::warn!(job = %delivery.job.id, deliveries = delivery.deliveries, reason, "applying an SES event failed");
            streams.consumer.nack(delivery, reason).await
        }
    };
    if let Err(err) = outcome {
        tracing::warn!(job = %delivery.job.id, error = %err, "recording an intake outcome failed; the entry will be redelivered");
    }
}

/// Stamps `lastEventReceivedAt`, asking the store at most once a minute
/// per connection; the store applies the same limit across processes.
async fn stamp(store: &Store, connections: Vec<String>, stamped: &mut HashMap<String, Instant>) {
    let due: Vec<String> = connections
        .into_iter()
        .filter(|id| {
            stamped
                .get(id)
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
        })
        .collect();
    if due.is_empty() {
        return;
    }
    let now = chrono::Utc::now().timestamp_millis();
    match store.stamp_events_received(&due, now).await {
        Ok(()) => {
            for id in due {
                stamped.insert(id, Instant::now());
            }
        }
        Err(err) => tracing::warn!(error = %err, "stamping lastEventReceivedAt failed"),
    }
}

async fn prune(store: &Store) {
    let before = chrono::Utc::now().timestamp_millis() - DELIVERY_KEY_RETENTION_MILLIS;
    match store.prune_event_deliveries(before).await {
        Ok(0) => {}
        Ok(pruned) => tracing::info!(
            pruned,
            "forgot processed SES deliveries past their retention"
        ),
        Err(err) => tracing::warn!(error = %err, "pruning processed SES deliveries failed"),
    }
}
