//! Work queues between the API and the dispatchers.
//!
//! Jobs are published to per-shard streams and consumed by one consumer group
//! with at-least-once delivery: a consumer reads a [`Delivery`], records the
//! job's outcome elsewhere, then acks it. A delivery that is not acked within
//! [`StreamsConfig::delivery_lease`] is reclaimed by another consumer, and
//! after [`StreamsConfig::max_deliveries`] deliveries the job goes to the dead
//! letters with its last error. Jobs due later wait in a delayed set until a
//! promoter moves them to their stream. Shard leases decide which process
//! consumes which shard. [`Consumer::backlog`] counts a shard's unfinished,
//! pending and undelivered entries for queue gauges.
//!
//! Two backends sit behind the same traits ([`Producer`], [`Consumer`],
//! [`DeadLetters`], [`ShardLeases`]), and [`Streams`] returns the configured
//! one:
//!
//! - in-process ([`Streams::in_process`]), the embedded default: the same
//!   semantics on in-memory structures and the Tokio clock. Nothing survives
//!   the process.
//! - Redis Streams ([`Streams::redis`]), for several API and dispatcher
//!   processes sharing one Redis.
//!
//! # Redis layout
//!
//! Every key starts with [`StreamsConfig::key_prefix`] (`P` below, `wraps` by
//! default). `n` is the shard number.
//!
//! **`P:{n}:send`**, stream with one consumer group, `dispatch`.
//! Each entry has one field, `job`: the [`Job`] as JSON.
//! - Written by: [`Producer::publish`] and the promoter (XADD);
//!   [`Consumer::ack`] and dead-lettering delete the entry (XACK and XDEL in
//!   one MULTI, so the stream holds only unfinished work).
//! - Read by: [`Consumer::read`] (XREADGROUP), [`Consumer::reclaim`]
//!   (XAUTOCLAIM, then XPENDING for the delivery count),
//!   [`Consumer::backlog`] (XLEN and XINFO GROUPS in one script).
//! - On crash: an entry read but not acked stays in the group's pending list.
//!   Once it has been idle for the delivery lease, the next `reclaim` hands it
//!   to another consumer, or dead-letters it past the maximum deliveries. The
//!   group is created at id 0 on first use, so entries published earlier are
//!   read too.
//!
//! [`ShardId::INTAKE`] names the SES event intake stream, `P:{intake}:send`.
//! It works like a shard stream, with no lease: every dispatcher reads it.
//!
//! **`P:{n}:send:errors`**, hash from entry id to the last error text.
//! - Written by: [`Consumer::nack`] (only while the entry is pending); ack and
//!   dead-lettering delete the field.
//! - Read by: `reclaim`, to put the error into the dead letter.
//! - On crash: a crash between dead-lettering and the ack leaves the field
//!   until the entry is dead-lettered again, which deletes it.
//!
//! **`P:{n}:lease`**, string `<token>:<owner>` with a PX expiry.
//! - Written and read by: the acquire, renew and release scripts of
//!   [`ShardLeases`]; renew and release act only when owner and token match.
//! - On crash: the key expires after the TTL and another owner can acquire the
//!   shard with a higher token.
//!
//! **`P:{n}:lease:token`**, integer counter without expiry.
//! - Written and read by: the acquire script (INCR) for each new lease.
//! - On crash: unaffected. Deleting it restarts tokens at 1, so it must not be
//!   deleted while anything still compares fencing tokens.
//!
//! **`P:{global}:delayed`**, sorted set from job id to due time in Unix
//! milliseconds (a claim deadline while a promoter moves the job).
//! - Written by: [`Producer::schedule`] and [`DeadLetters::redrive`] (ZADD);
//!   the promoter re-scores due jobs to claim them, then removes them.
//! - Read by: the promoter ([`Producer::promote_due`]).
//! - On crash: a promoter that dies after claiming leaves its jobs with the
//!   claim deadline as score ([`StreamsConfig::promotion_lease`] ahead), so
//!   the next promoter after that moves them. If it died after publishing and
//!   before removing, the job is published twice.
//!
//! **`P:{global}:delayed:jobs`**, hash from job id to
//! `{"shard":n,"job":{...}}`.
//! - Written by: the same MULTI or script as the sorted set member, and
//!   removed with it, so the two never disagree.
//! - Read by: the promoter.
//! - On crash: as for `P:{global}:delayed`.
//!
//! **`P:{global}:dead`**, stream of dead letters without a consumer group;
//! fields `shard`, `id`, `kind`, `job`, `entry` (the id in the shard stream),
//! `error`, `deliveries`, `dead_at_ms`.
//! - Written by: `reclaim` (XADD), and [`DeadLetters::redrive`], which moves
//!   an entry back to the delayed set, due at once, in one script (XDEL).
//! - Read by: [`DeadLetters::list`] (XRANGE) and `redrive`.
//! - On crash: dead-lettering adds the dead letter first and acks the shard
//!   entry second. A crash in between leaves the entry pending, so it is
//!   dead-lettered again later: a duplicate dead letter, never a lost job.
//!
//! # Redis Cluster
//!
//! The `{n}` hash tag puts each shard's keys in one slot, so every script and
//! MULTI on shard keys touches one slot. The three global keys share the
//! `{global}` tag, so they live in one slot on one node, which bears all
//! delayed jobs and dead letters. A move between a global key and a shard key
//! (promotion, dead-lettering) spans two slots and cannot be one atomic
//! operation. Promotion is therefore two steps: a script on the delayed set
//! claims due jobs, so concurrent promoters never take the same job, then the
//! jobs are published and their claims removed. Re-drive stays within the
//! `{global}` slot and is atomic.
//!
//! NOTE: the client connects to one Redis node. Running against Cluster also
//! needs redis-rs's `cluster-async` connection, which this crate does not
//! open yet.

mod config;
mod error;
mod job;
mod lease;
mod memory;
mod promoter;
mod redis;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

pub use crate::config::StreamsConfig;
pub use crate::error::{Error, Result};
pub use crate::job::{DeadLetter, Delivery, EntryId, Job, JobId, ShardId, WorkerId};
pub use crate::lease::{FencingToken, Lease, ShardLeases};
pub use crate::promoter::run_promoter;

/// Name of the one consumer group of every shard stream.
pub const CONSUMER_GROUP: &str = "dispatch";

#[async_trait]
pub trait Producer: Send + Sync {
    /// Appends a job to the shard's stream and returns its entry id.
    async fn publish(&self, shard: ShardId, job: &Job) -> Result<EntryId>;

    /// Stores a job for publishing to the shard's stream once `due` has
    /// passed. Scheduling a job id that is still waiting replaces its job
    /// and due time.
    async fn schedule(&self, shard: ShardId, job: &Job, due: SystemTime) -> Result<()>;

    /// Moves up to `max` delayed jobs whose due time has passed to their
    /// shard streams and returns how many moved. Any number of processes may
    /// call this at once, and each job is moved by one of them.
    async fn promote_due(&self, max: usize) -> Result<usize>;
}

#[async_trait]
pub trait Consumer: Send + Sync {
    /// Reads up to `max` entries of the shard's stream that no consumer has
    /// read yet, waiting up to `block` (capped at
    /// [`StreamsConfig::max_block`]) for the first one. A zero `block`
    /// returns at once. Dropping the future after entries were read leaves
    /// them pending until reclaimed.
    async fn read(
        &self,
        shard: ShardId,
        consumer: &WorkerId,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>>;

    /// Takes over up to `max` entries of the shard's stream that have been
    /// pending longer than the delivery lease, from any consumer. Entries
    /// handed out more than the maximum deliveries go to the dead letters
    /// instead of being returned.
    ///
    /// Redis scans at most `10 * max` pending entries per call (XAUTOCLAIM
    /// COUNT) and continues where the previous call of this process stopped.
    /// An empty result therefore does not prove that nothing is idle, but
    /// calling this regularly reaches every entry.
    async fn reclaim(
        &self,
        shard: ShardId,
        consumer: &WorkerId,
        max: usize,
    ) -> Result<Vec<Delivery>>;

    /// Marks the delivery done and deletes its entry. Call it only after the
    /// job's outcome is recorded. Acking an entry that is no longer pending
    /// is logged and otherwise ignored.
    async fn ack(&self, delivery: &Delivery) -> Result<()>;

    /// Records `error` as the delivery's last error and leaves the entry
    /// pending, so it is delivered again after the delivery lease (or
    /// dead-lettered with this error). Meant for unexpected failures; a retry
    /// with a planned delay is a new scheduled job plus an ack.
    async fn nack(&self, delivery: &Delivery, error: &str) -> Result<()>;

    /// Restarts the delivery lease of an entry still held by the delivery's
    /// consumer. Fails with [`Error::DeliveryLost`] when another consumer
    /// reclaimed it or it was acked or dead-lettered.
    async fn extend(&self, delivery: &Delivery) -> Result<()>;

    /// Counts the entries of the shard's stream, for queue gauges. A shard
    /// without a stream gives zero counts, not an error. Before the first
    /// read every entry counts as lag, because the consumer group starts at
    /// the first entry. Counting creates no stream or consumer group.
    ///
    /// On Redis the counts come from one script, so they describe one
    /// moment.
    async fn backlog(&self, shard: ShardId) -> Result<Backlog>;
}

/// Queue gauges of one shard's stream, from [`Consumer::backlog`].
///
/// Acked and dead-lettered entries leave the stream, so `length` is the
/// pending entries plus the entries not delivered yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Entries in the stream: published and not yet acked or dead-lettered.
    pub length: u64,
    /// Entries delivered to a consumer and not yet acked or dead-lettered.
    pub pending: u64,
    /// Entries not yet delivered to any consumer. The in-process backend
    /// always returns a count. On Redis it is the consumer group's lag, which
    /// is `None` when Redis cannot compute it. Redis 7.0 returns no lag after
    /// the newest delivered entry was acked while an older one is still in
    /// the stream.
    pub lag: Option<u64>,
}

#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Lists up to `max` dead letters, oldest first, starting after the
    /// dead letter `after` (from the start when `None`).
    async fn list(&self, after: Option<&EntryId>, max: usize) -> Result<Vec<DeadLetter>>;

    /// Puts a dead letter's job back into its shard stream as a new entry
    /// with a fresh delivery count. Returns false when no dead letter has
    /// this id.
    ///
    /// On Redis the job moves atomically to the delayed set, due at once, and
    /// is then promoted. If promoting fails, this returns the error and any
    /// running promoter publishes the job later.
    async fn redrive(&self, id: &EntryId) -> Result<bool>;

    /// Re-drives every dead letter and returns how many were re-driven.
    async fn redrive_all(&self) -> Result<usize>;
}

/// Which implementation a [`Streams`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    InProcess,
    Redis,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::InProcess => "in-process",
            Backend::Redis => "redis",
        })
    }
}

/// The configured backend, as one trait object per role. Clones share the
/// same backend.
#[derive(Clone)]
pub struct Streams {
    pub backend: Backend,
    pub producer: Arc<dyn Producer>,
    pub consumer: Arc<dyn Consumer>,
    pub dead_letters: Arc<dyn DeadLetters>,
    pub leases: Arc<dyn ShardLeases>,
}

impl Streams {
    /// Creates the in-process backend, used when no Redis is configured.
    pub fn in_process(config: StreamsConfig) -> Result<Self> {
        config.validate()?;
        let queues = Arc::new(memory::InProcessStreams::new(config));
        let leases = Arc::new(memory::InProcessLeases::default());
        tracing::info!(backend = %Backend::InProcess, "streams ready");

        Ok(Self {
            backend: Backend::InProcess,
            producer: queues.clone(),
            consumer: queues.clone(),
            dead_letters: queues,
            leases,
        })
    }

    /// Connects to Redis at `url` (`redis://host:port/db`) and returns the
    /// Redis Streams backend. Fails when Redis cannot be reached after
    /// [`StreamsConfig::connect_retries`] retries, each attempt limited by
    /// [`StreamsConfig::connect_timeout`].
    pub async fn redis(url: &str, config: StreamsConfig) -> Result<Self> {
        config.validate()?;
        let backend = Arc::new(redis::RedisStreams::connect(url, config).await?);
        tracing::info!(
            backend = %Backend::Redis,
            key_prefix = backend.key_prefix(),
            "streams ready",
        );

        Ok(Self {
            backend: Backend::Redis,
            producer: backend.clone(),
            consumer: backend.clone(),
            dead_letters: backend.clone(),
            leases: backend,
        })
    }
}

/// Formats an error with its chain of causes, for log fields.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Converts a count of items to `u64`, saturating on targets whose `usize`
/// is wider than 64 bits.
pub(crate) fn count_u64(items: usize) -> u64 {
    u64::try_from(items).unwrap_or(u64::MAX)
}
