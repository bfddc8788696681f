//! The dispatcher: owns shards, consumes their streams and runs their jobs.
//!
//! Each shard is owned by one dispatcher process at a time through a lease
//! with a fencing token ([`streams::ShardLeases`]). A dispatcher tries to
//! take every shard it does not own on each lease tick and renews the ones it
//! owns; a shard whose renewal fails is dropped at once, so two processes
//! never consume one shard for longer than the gap between the other's
//! acquisition and this process's next tick (a third of the lease). A
//! dispatcher that dies simply stops renewing, and its shards are taken over
//! after the lease expires.
//!
//! Jobs are broadcast fan-outs and chunks ([`broadcast`]) and double opt-in
//! confirmation emails ([`confirm`]). A job of a kind
//! this build does not know is nacked with an error, so after the stream's
//! maximum deliveries it lands in the dead letters, where
//! `wrapsd dead-letters redrive` can return it once a build that knows the
//! kind runs. Every dispatcher also runs the [`sweeper`], which starts
//! scheduled batches and re-queues work whose jobs were lost, and the
//! [`intake`] worker, which applies SES events from the webhook route.

pub mod broadcast;
pub mod confirm;
pub mod content;
pub mod intake;

mod shard;
pub mod sweeper;

use metrics_catalogue as names;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use streams::{Lease, ShardId, Streams, WorkerId};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use broadcast::{BroadcastConfig, Broadcaster};
pub use intake::IntakeConfig;
pub use ses::SesProvider;
pub use shard::handle_job;
pub use sweeper::SweeperConfig;

#[derive(Clone, Debug)]
pub struct DispatcherConfig {
    /// Number of shards in the deployment; every dispatcher must agree.
    pub shards: u32,
    /// Shard lease; renewed every third of it.
    pub lease: Duration,
    /// Jobs of one shard that run at the same time; the account's pacer
    /// still limits their combined send rate.
    pub jobs_per_shard: usize,
    /// How long one blocking read waits for new jobs.
    pub block: Duration,
    /// How often due delayed jobs are moved to their streams.
    pub promote_every: Duration,
    pub sweeper: SweeperConfig,
    /// The worker applying SES events from the webhook route.
    pub intake: IntakeConfig,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            shards: 16,
            lease: Duration::from_secs(10),
            jobs_per_shard: 4,
            block: Duration::from_secs(2),
            promote_every: Duration::from_millis(500),
            sweeper: SweeperConfig::default(),
            intake: IntakeConfig::default(),
        }
    }
}

pub struct Dispatcher {
    streams: Arc<Streams>,
    broadcaster: Arc<Broadcaster>,
    config: DispatcherConfig,
    worker: WorkerId,
}

/// A shard this process owns and the task consuming it.
struct OwnedShard {
    lease: Lease,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Dispatcher {
    pub fn new(broadcaster: Arc<Broadcaster>, config: DispatcherConfig) -> Self {
        Self {
            streams: broadcaster.streams.clone(),
            broadcaster,
            config,
            worker: WorkerId::random(),
        }
    }

    pub fn worker(&self) -> &WorkerId {
        &self.worker
    }

    /// Runs until `shutdown` is cancelled, then stops every shard task and
    /// releases the leases so other dispatchers take over without waiting.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(
            worker = self.worker.as_str(),
            shards = self.config.shards,
            "dispatcher started"
        );
        let promoter = tokio::spawn(streams::run_promoter(
            self.streams.producer.clone(),
            self.config.promote_every,
            shutdown.clone(),
        ));

        let sweeper = tokio::spawn(sweeper::run_sweeper(
            self.broadcaster.clone(),
            self.config.sweeper.clone(),
            shutdown.clone(),
        ));

        let intake = tokio::spawn(intake::run_intake(
            self.streams.clone(),
            self.broadcaster.store.clone(),
            self.worker.clone(),
            self.config.intake.clone(),
            shutdown.clone(),
        ));

        let mut owned: HashMap<u32, OwnedShard> = HashMap::new();
        let mut tick = tokio::time::interval(self.config.lease / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => self.maintain_leases(&mut owned, &shutdown).await,
            }
        }

        for (_, shard) in owned.drain() {
            self.stop_shard(shard).await;
        }
        let _ = promoter.await;
        let _ = sweeper.await;
        let _ = intake.await;
        metrics::gauge!(names::DISPATCHER_SHARDS_OWNED).set(0.0);
        tracing::info!(worker = self.worker.as_str(), "dispatcher stopped");
    }

    /// Renews owned leases, drops lost ones and tries to take the rest.
    async fn maintain_leases(
        &self,
        owned: &mut HashMap<u32, OwnedShard>,
        shutdown: &CancellationToken,
    ) {
        let leases = &self.streams.leases;
        for n in 0..self.config.shards {
            if let Some(current) = owned.get(&n) {
                let renewed = match leases.renew(&current.lease, self.config.lease).await {
                    Ok(renewed) => renewed,
                    Err(err) => {
                        tracing::warn!(shard = n, error = %err, "shard lease renewal failed; stopping the shard");
                        false
                    }
                };
                if !renewed {
                    if let Some(lost) = owned.remove(&n) {
                        tracing::warn!(shard = n, token = lost.lease.token.0, "shard lease lost");
                        metrics::counter!(names::SHARD_LEASES_LOST).increment(1);
                        self.stop_shard(lost).await;
                    }
                }
                continue;
            }

            match leases
                .acquire(ShardId(n), &self.worker, self.config.lease)
                .await
            {
                Ok(Some(lease)) => {
                    tracing::info!(shard = n, token = lease.token.0, "shard acquired");
                    metrics::counter!(names::SHARD_LEASES_ACQUIRED).increment(1);
                    let stop = shutdown.child_token();
                    let task = tokio::spawn(shard::consume(
                        self.streams.clone(),
                        self.broadcaster.clone(),
                        lease.clone(),
                        self.config.clone(),
                        stop.clone(),
                    ));
                    owned.insert(n, OwnedShard { lease, stop, task });
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(shard = n, error = %err, "shard lease acquisition failed")
                }
            }
        }
        metrics::gauge!(names::DISPATCHER_SHARDS_OWNED).set(owned.len() as f64);
        self.sample_backlogs(owned).await;
    }

    /// Publishes the queue gauges of every owned shard. A shard's gauges
    /// come from its owner only, so summing over instances counts each
    /// shard once; a released shard is set to zero here.
    async fn sample_backlogs(&self, owned: &HashMap<u32, OwnedShard>) {
        for n in 0..self.config.shards {
            let shard = n.to_string();
            let backlog = if owned.contains_key(&n) {
                // Present from the start, so dashboards find the series
                // before the first reclaim.
                metrics::counter!(names::STREAM_RECLAIMED, "shard" => shard.clone()).increment(0);
                match self.streams.consumer.backlog(ShardId(n)).await {
                    Ok(backlog) => backlog,
                    Err(err) => {
                        tracing::debug!(shard = n, error = %err, "reading the shard's backlog failed");
                        continue;
                    }
                }
            } else {
                streams::Backlog::default()
            };
            // Redis leaves the lag empty after out-of-order acks; every
            // acked entry is deleted, so the entries not yet delivered are
            // the ones not pending.
            let lag = backlog
                .lag
                .unwrap_or(backlog.length.saturating_sub(backlog.pending));
            metrics::gauge!(names::STREAM_LENGTH, "shard" => shard.clone())
                .set(backlog.length as f64);
            metrics::gauge!(names::STREAM_PENDING, "shard" => shard.clone())
                .set(backlog.pending as f64);
            metrics::gauge!(names::STREAM_LAG, "shard" => shard).set(lag as f64);
        }
    }

    async fn stop_shard(&self, shard: OwnedShard) {
        shard.stop.cancel();
        if let Err(err) = shard.task.await {
            tracing::error!(shard = shard.lease.shard.0, error = %err, "shard task panicked");
        }
        match self.streams.leases.release(&shard.lease).await {
            Ok(_) => tracing::info!(shard = shard.lease.shard.0, "shard released"),
            Err(err) => {
                tracing::warn!(shard = shard.lease.shard.0, error = %err, "shard lease release failed; it expires on its own")
            }
        }
    }
}
