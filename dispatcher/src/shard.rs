//! The consumer loop of one owned shard.

use std::sync::Arc;

use streams::{Delivery, Lease, Streams};
use tokio_util::sync::CancellationToken;

use crate::DispatcherConfig;

/// Outcome of one job.
#[derive(Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// Done; the delivery is acked.
    Done,
    /// Failed; the delivery is nacked with the reason and redelivered until
    /// the stream's maximum deliveries, then dead-lettered.
    Failed(String),
}

/// Runs one job. No job kinds exist yet, so every job fails as unknown.
pub async fn handle_job(delivery: &Delivery) -> JobOutcome {
    JobOutcome::Failed(format!("unknown job kind {:?}", delivery.job.kind))
}

/// Reclaims stale deliveries, then reads and runs new ones, until `stop`.
pub(crate) async fn consume(
    streams: Arc<Streams>,
    lease: Lease,
    config: DispatcherConfig,
    stop: CancellationToken,
) {
    let shard = lease.shard;
    let consumer = &lease.owner;
    while !stop.is_cancelled() {
        let reclaimed = match streams
            .consumer
            .reclaim(shard, consumer, config.read_batch)
            .await
        {
            Ok(deliveries) => deliveries,
            Err(err) => {
                tracing::warn!(shard = shard.0, error = %err, "reclaiming stale jobs failed");
                Vec::new()
            }
        };
        let read = tokio::select! {
            _ = stop.cancelled() => break,
            read = streams.consumer.read(shard, consumer, config.read_batch, config.block) => read,
        };
        let fresh = match read {
            Ok(deliveries) => deliveries,
            Err(err) => {
                tracing::warn!(shard = shard.0, error = %err, "reading the shard stream failed; retrying");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(config.block) => continue,
                }
            }
        };

        for delivery in reclaimed.iter().chain(fresh.iter()) {
            finish(&streams, delivery, handle_job(delivery).await).await;
        }
    }
}

async fn finish(streams: &Streams, delivery: &Delivery, outcome: JobOutcome) {
    let shard = delivery.shard.0;
    let job = delivery.job.id.0;
    let result = match &outcome {
        JobOutcome::Done => streams.consumer.ack(delivery).await,
        JobOutcome::Failed(reason) => {
            tracing::warn!(shard, %job, kind = delivery.job.kind.as_str(), deliveries = delivery.deliveries, reason, "job failed");
            streams.consumer.nack(delivery, reason).await
        }
    };
    metrics::counter!("wraps_dispatcher_jobs_total", "outcome" => if outcome == JobOutcome::Done { "done" } else { "failed" })
        .increment(1);
    if let Err(err) = result {
        tracing::warn!(shard, %job, error = %err, "recording a job outcome failed; the job will be redelivered");
    }
}
