//! The sweeper: starts scheduled batches when they are due and puts lost
//! work back into the streams.
//!
//! Jobs can be lost: in-process streams vanish with the process, and a
//! publish can fail after the store was written. The store is the source of
//! truth, so every dispatcher periodically looks for batches whose state shows
//! work is due but which made no progress for a while, and queues their jobs
//! again. Every job is idempotent (fan-out is done once, claims keep a
//! recipient from being sent twice), so a duplicate costs work, never mail.

use metrics_catalogue as names;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use schemas::batches::BatchStatus;
use tokio_util::sync::CancellationToken;

use crate::broadcast::Broadcaster;

#[derive(Clone, Debug)]
pub struct SweeperConfig {
    /// How often the store is scanned.
    pub every: Duration,
    /// How long a queued or processing batch may go without progress before
    /// its jobs are queued again. Longer than a chunk's SES calls take.
    pub stall_after: Duration,
}

impl Default for SweeperConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(1),
            stall_after: Duration::from_secs(60),
        }
    }
}

pub async fn run_sweeper(
    broadcaster: Arc<Broadcaster>,
    config: SweeperConfig,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(config.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                sweep(&broadcaster, &config).await;
                publish_paused(&broadcaster).await;
            }
        }
    }
}

/// Sets `wraps_batches` per unfinished status and `wraps_batches_paused` per
/// pause reason, zeroing reasons that no longer have a paused batch.
async fn publish_paused(broadcaster: &Broadcaster) {
    static SEEN: std::sync::Mutex<std::collections::BTreeSet<String>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let paused = match broadcaster.store.count_paused_batches().await {
        Ok(paused) => paused,
        Err(err) => {
            tracing::debug!(error = %err, "counting paused batches failed");
            return;
        }
    };
    match broadcaster.store.count_active_batches().await {
        Ok(counts) => {
            for status in names::ACTIVE_BATCH_STATUSES {
                let count = counts
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!(names::BATCHES, "status" => status).set(count as f64);
            }
        }
        Err(err) => tracing::debug!(error = %err, "counting batches by status failed"),
    }
    let mut seen = SEEN.lock().expect("paused reasons lock poisoned");
    for reason in seen.iter() {
        if !paused.iter().any(|(r, _)| r == reason) {
            metrics::gauge!(names::BATCHES_PAUSED, "reason" => reason.clone()).set(0.0);
        }
    }
    for (reason, count) in paused {
        metrics::gauge!(names::BATCHES_PAUSED, "reason" => reason.clone()).set(count as f64);
        seen.insert(reason);
    }
}

/// Runs one pass over the batches that need a dispatcher's attention.
pub async fn sweep(broadcaster: &Broadcaster, config: &SweeperConfig) {
    let now = Utc::now();
    let stale_before = now - chrono::Duration::from_std(config.stall_after).unwrap_or_default();
    let batches = match broadcaster
        .store
        .batches_needing_dispatch(now, stale_before, 100)
        .await
    {
        Ok(batches) => batches,
        Err(err) => {
            tracing::warn!(error = %err, "sweeping batches failed");
            return;
        }
    };

    for batch in batches {
        let result = match batch.status {
            BatchStatus::Scheduled => {
                match broadcaster
                    .store
                    .transition_batch(
                        batch.id,
                        &[BatchStatus::Scheduled],
                        BatchStatus::Queued,
                        None,
                    )
                    .await
                {
                    Ok(true) => {
                        tracing::info!(batch_id = %batch.id, "scheduled batch is due");
                        broadcaster.publish_fan_out(&batch).await
                    }
                    Ok(false) => Ok(()),
                    Err(err) => Err(err.to_string()),
                }
            }
            BatchStatus::Queued => {
                tracing::info!(batch_id = %batch.id, "queued batch has not started; queueing its fan-out again");
                let touched = broadcaster
                    .store
                    .touch_batch(batch.id)
                    .await
                    .map_err(|err| err.to_string());
                touched.and(broadcaster.publish_fan_out(&batch).await)
            }
            BatchStatus::Processing if batch.fanned_out_at.is_none() => {
                let touched = broadcaster
                    .store
                    .touch_batch(batch.id)
                    .await
                    .map_err(|err| err.to_string());
                touched.and(broadcaster.publish_fan_out(&batch).await)
            }
            BatchStatus::Processing => {
                broadcaster.complete_if_done(&batch).await;
                let touched = broadcaster
                    .store
                    .touch_batch(batch.id)
                    .await
                    .map_err(|err| err.to_string());
                match touched {
                    Ok(()) => broadcaster.republish_unfinished(&batch).await.map(|chunks| {
                        if chunks > 0 {
                            tracing::warn!(batch_id = %batch.id, chunks, "batch stalled; queued its unfinished chunks again");
                            metrics::counter!(names::SWEEPER_REQUEUED_CHUNKS).increment(chunks as u64);
                        }
                    }),
                    Err(err) => Err(err),
                }
            }
            _ => Ok(()),
        };
        if let Err(err) = result {
            tracing::warn!(batch_id = %batch.id, error = err, "sweeper could not queue the batch's work");
        }
    }
}
