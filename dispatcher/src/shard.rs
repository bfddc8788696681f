//! The consumer loop of one owned shard.

use metrics_catalogue as names;
use std::sync::Arc;

use schemas::jobs::{
    ChunkJob, ConfirmJob, FanOutJob, BATCH_CHUNK, BATCH_FAN_OUT, SUBSCRIPTION_CONFIRM,
};
use streams::{Delivery, Lease, Streams};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::broadcast::Broadcaster;
pub use crate::broadcast::JobOutcome;
use crate::DispatcherConfig;

/// Runs one job by its kind. A job of an unknown kind fails, so that it ends
/// in the dead letters after the stream's maximum deliveries.
pub async fn handle_job(
    broadcaster: &Broadcaster,
    delivery: &Delivery,
    stop: &CancellationToken,
) -> JobOutcome {
    let job = &delivery.job;
    match job.kind.as_str() {
        BATCH_FAN_OUT => match job.decode_payload::<FanOutJob>() {
            Ok(payload) => broadcaster.fan_out(&payload).await,
            Err(err) => JobOutcome::Failed(format!("invalid fan-out payload: {err}")),
        },
        BATCH_CHUNK => match job.decode_payload::<ChunkJob>() {
            Ok(payload) => broadcaster.send_chunk(&payload, delivery, stop).await,
            Err(err) => JobOutcome::Failed(format!("invalid chunk payload: {err}")),
        },
        SUBSCRIPTION_CONFIRM => match job.decode_payload::<ConfirmJob>() {
            Ok(payload) => broadcaster.send_confirmation(&payload, delivery).await,
            Err(err) => JobOutcome::Failed(format!("invalid confirmation payload: {err}")),
        },
        other => JobOutcome::Failed(format!("unknown job kind {other:?}")),
    }
}

/// Reclaims stale deliveries, then reads and runs new ones, until `stop`.
///
/// Up to `config.jobs_per_shard` jobs run at once. A permit of the
/// semaphore is taken before a job is pulled from the stream, so the shard
/// never holds deliveries it cannot start, which would let their leases run
/// out while they wait.
pub(crate) async fn consume(
    streams: Arc<Streams>,
    broadcaster: Arc<Broadcaster>,
    lease: Lease,
    config: DispatcherConfig,
    stop: CancellationToken,
) {
    let shard = lease.shard;
    let consumer = lease.owner.clone();
    let permits = Arc::new(Semaphore::new(config.jobs_per_shard.max(1)));
    let mut running = JoinSet::new();

    while !stop.is_cancelled() {
        let first = tokio::select! {
            _ = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let mut held = vec![first];
        while let Ok(permit) = permits.clone().try_acquire_owned() {
            held.push(permit);
        }
        while running.try_join_next().is_some() {}

        let mut deliveries = match streams.consumer.reclaim(shard, &consumer, held.len()).await {
            Ok(deliveries) => {
                if !deliveries.is_empty() {
                    metrics::counter!(names::STREAM_RECLAIMED, "shard" => shard.0.to_string())
                        .increment(deliveries.len() as u64);
                }
                deliveries
            }
            Err(err) => {
                tracing::warn!(shard = shard.0, error = %err, "reclaiming stale jobs failed");
                Vec::new()
            }
        };
        if deliveries.len() < held.len() {
            let wanted = held.len() - deliveries.len();
            let read = tokio::select! {
                _ = stop.cancelled() => break,
                read = streams.consumer.read(shard, &consumer, wanted, config.block) => read,
            };
            match read {
                Ok(fresh) => deliveries.extend(fresh),
                Err(err) => {
                    tracing::warn!(shard = shard.0, error = %err, "reading the shard stream failed; retrying");
                    drop(held);
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(config.block) => continue,
                    }
                }
            }
        }

        for delivery in deliveries {
            let Some(permit) = held.pop() else {
                // The reads ask for at most one delivery per permit. Should a
                // backend return more, the extra one is reclaimed after its lease.
                break;
            };
            let streams = streams.clone();
            let broadcaster = broadcaster.clone();
            let stop = stop.clone();
            running.spawn(async move {
                let outcome = handle_job(&broadcaster, &delivery, &stop).await;
                finish(&streams, &delivery, outcome).await;
                drop(permit);
            });
        }
    }

    // Jobs in flight stop at their next check of `stop`; unacked ones are
    // reclaimed by the shard's next owner.
    while let Some(result) = running.join_next().await {
        if let Err(err) = result {
            tracing::error!(shard = shard.0, error = %err, "a job task panicked");
        }
    }
}

async fn finish(streams: &Streams, delivery: &Delivery, outcome: JobOutcome) {
    let shard = delivery.shard.0;
    let job = delivery.job.id.0;
    let label = if outcome == JobOutcome::Done {
        "done"
    } else {
        "failed"
    };
    let result = match &outcome {
        JobOutcome::Done => streams.consumer.ack(delivery).await,
        JobOutcome::Failed(reason) => {
            tracing::warn!(shard, %job, kind = delivery.job.kind.as_str(), deliveries = delivery.deliveries, reason, "job failed");
            streams.consumer.nack(delivery, reason).await
        }
    };
    metrics::counter!(names::DISPATCHER_JOBS, "outcome" => label).increment(1);
    if let Err(err) = result {
        tracing::warn!(shard, %job, error = %err, "recording a job outcome failed; the job will be redelivered");
    }
}
