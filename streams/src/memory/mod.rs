//! In-process backend: the Redis layout's semantics on in-memory structures.
//!
//! Each shard has an ordered map of unfinished entries, a read cursor (the
//! consumer group's last delivered id) and a pending list with the consumer,
//! delivery time and delivery count of each entry handed out. Idle times and
//! due times use the Tokio clock, so tests can pause it.
//!
//! All state sits behind one mutex that is never held across an await.

mod lease;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, error, warn};

pub(crate) use self::lease::InProcessLeases;
use crate::job::lease_expired_error;
use crate::{
    count_u64, Backlog, Consumer, DeadLetter, DeadLetters, Delivery, EntryId, Error, Job, JobId,
    Producer, Result, ShardId, StreamsConfig, WorkerId,
};

pub(crate) struct InProcessStreams {
    config: StreamsConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    shards: HashMap<ShardId, ShardStream>,
    delayed: HashMap<JobId, DelayedJob>,
    dead: BTreeMap<u64, DeadLetter>,
    last_dead_id: u64,
}

struct ShardStream {
    /// Entries published and not yet acked or dead-lettered, by sequence.
    entries: BTreeMap<u64, Job>,
    last_id: u64,
    /// Highest sequence handed out by `read`; later entries are new.
    last_delivered: u64,
    pending: BTreeMap<u64, Pending>,
    /// Woken on every publish, for blocked readers.
    published: Arc<Notify>,
}

struct Pending {
    consumer: WorkerId,
    delivered_at: Instant,
    deliveries: u32,
    last_error: Option<String>,
}

struct DelayedJob {
    shard: ShardId,
    job: Job,
    due: Instant,
}

impl Default for ShardStream {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
            last_id: 0,
            last_delivered: 0,
            pending: BTreeMap::new(),
            published: Arc::new(Notify::new()),
        }
    }
}

impl ShardStream {
    fn append(&mut self, job: Job) -> u64 {
        self.last_id += 1;
        self.entries.insert(self.last_id, job);
        self.published.notify_waiters();
        self.last_id
    }

    /// Removes a finished entry from the stream and the pending list.
    fn remove(&mut self, sequence: u64) -> Option<Pending> {
        self.entries.remove(&sequence);
        self.pending.remove(&sequence)
    }

    /// Counts the entries by state. Lag counts the entries after the read
    /// cursor, which takes time linear in the lag.
    fn backlog(&self) -> Backlog {
        let undelivered = self.entries.range(self.last_delivered + 1..).count();
        Backlog {
            length: count_u64(self.entries.len()),
            pending: count_u64(self.pending.len()),
            lag: Some(count_u64(undelivered)),
        }
    }
}

impl InProcessStreams {
    pub(crate) fn new(config: StreamsConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated
        // in a way later calls depend on, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn published_signal(&self, shard: ShardId) -> Arc<Notify> {
        self.lock()
            .shards
            .entry(shard)
            .or_default()
            .published
            .clone()
    }

    /// Hands out up to `max` entries that no consumer has read yet.
    fn take_new(&self, shard: ShardId, consumer: &WorkerId, max: usize) -> Vec<Delivery> {
        let mut state = self.lock();
        let stream = state.shards.entry(shard).or_default();
        let now = Instant::now();

        let new: Vec<(u64, Job)> = stream
            .entries
            .range(stream.last_delivered + 1..)
            .take(max)
            .map(|(sequence, job)| (*sequence, job.clone()))
            .collect();

        let mut deliveries = Vec::with_capacity(new.len());
        for (sequence, job) in new {
            stream.last_delivered = sequence;
            stream.pending.insert(
                sequence,
                Pending {
                    consumer: consumer.clone(),
                    delivered_at: now,
                    deliveries: 1,
                    last_error: None,
                },
            );
            deliveries.push(Delivery {
                shard,
                entry: entry_id(sequence),
                consumer: consumer.clone(),
                job,
                deliveries: 1,
            });
        }
        deliveries
    }

    fn dead_letter(state: &mut State, shard: ShardId, sequence: u64, job: Job, pending: Pending) {
        let handed_out = pending.deliveries - 1;
        error!(
            %shard,
            entry = %entry_id(sequence),
            job_id = %job.id,
            kind = %job.kind,
            deliveries = handed_out,
            "job exceeded max deliveries; moved to dead letters",
        );

        metrics::counter!(metrics_catalogue::STREAM_DEAD_LETTERED).increment(1);
        state.last_dead_id += 1;
        let id = state.last_dead_id;
        state.dead.insert(
            id,
            DeadLetter {
                id: entry_id(id),
                shard,
                entry: entry_id(sequence),
                job,
                error: pending
                    .last_error
                    .unwrap_or_else(|| lease_expired_error(handed_out)),
                deliveries: handed_out,
                dead_at: SystemTime::now(),
            },
        );
    }
}

#[async_trait]
impl Producer for InProcessStreams {
    async fn publish(&self, shard: ShardId, job: &Job) -> Result<EntryId> {
        let sequence = self
            .lock()
            .shards
            .entry(shard)
            .or_default()
            .append(job.clone());
        Ok(entry_id(sequence))
    }

    async fn schedule(&self, shard: ShardId, job: &Job, due: SystemTime) -> Result<()> {
        // The wall-clock due time becomes a Tokio deadline here, so a later
        // jump of the system clock does not move it.
        let wait = due
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let delayed = DelayedJob {
            shard,
            job: job.clone(),
            due: Instant::now() + wait,
        };
        self.lock().delayed.insert(job.id, delayed);
        Ok(())
    }

    async fn promote_due(&self, max: usize) -> Result<usize> {
        let mut state = self.lock();
        let now = Instant::now();

        // Earliest due first, as the Redis sorted set returns them.
        let mut due: Vec<(Instant, JobId)> = state
            .delayed
            .iter()
            .filter(|(_, delayed)| delayed.due <= now)
            .map(|(id, delayed)| (delayed.due, *id))
            .collect();
        due.sort_unstable_by_key(|(due, _)| *due);
        due.truncate(max);

        for (_, id) in &due {
            if let Some(delayed) = state.delayed.remove(id) {
                state
                    .shards
                    .entry(delayed.shard)
                    .or_default()
                    .append(delayed.job);
            }
        }
        Ok(due.len())
    }
}

#[async_trait]
impl Consumer for InProcessStreams {
    async fn read(
        &self,
        shard: ShardId,
        consumer: &WorkerId,
        max: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + block.min(self.config.max_block);

        loop {
            // Registering for the signal before looking at the stream means a
            // publish between the look and the wait still wakes this reader.
            let published = self.published_signal(shard);
            let notified = published.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let deliveries = self.take_new(shard, consumer, max);
            if !deliveries.is_empty() || Instant::now() >= deadline {
                return Ok(deliveries);
            }
            // A timeout ends the wait; the next pass looks once more and
            // returns.
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    async fn reclaim(
        &self,
        shard: ShardId,
        consumer: &WorkerId,
        max: usize,
    ) -> Result<Vec<Delivery>> {
        let mut state = self.lock();
        let now = Instant::now();
        let lease = self.config.delivery_lease;
        let max_deliveries = self.config.max_deliveries;
        let stream = state.shards.entry(shard).or_default();

        let idle: Vec<u64> = stream
            .pending
            .iter()
            .filter(|(_, pending)| now.duration_since(pending.delivered_at) >= lease)
            .map(|(sequence, _)| *sequence)
            .take(max)
            .collect();

        let mut deliveries = Vec::new();
        let mut dead = Vec::new();
        for sequence in idle {
            let (Some(pending), Some(job)) = (
                stream.pending.get_mut(&sequence),
                stream.entries.get(&sequence),
            ) else {
                continue;
            };
            pending.deliveries += 1;

            if pending.deliveries > max_deliveries {
                let job = job.clone();
                if let Some(pending) = stream.remove(sequence) {
                    dead.push((sequence, job, pending));
                }
                continue;
            }

            warn!(
                %shard,
                entry = %entry_id(sequence),
                job_id = %job.id,
                kind = %job.kind,
                from = %pending.consumer,
                to = %consumer,
                deliveries = pending.deliveries,
                "reclaimed a delivery whose lease expired",
            );
            pending.consumer = consumer.clone();
            pending.delivered_at = now;
            deliveries.push(Delivery {
                shard,
                entry: entry_id(sequence),
                consumer: consumer.clone(),
                job: job.clone(),
                deliveries: pending.deliveries,
            });
        }

        for (sequence, job, pending) in dead {
            Self::dead_letter(&mut state, shard, sequence, job, pending);
        }
        Ok(deliveries)
    }

    async fn ack(&self, delivery: &Delivery) -> Result<()> {
        let mut state = self.lock();
        let stream = state.shards.entry(delivery.shard).or_default();
        let removed = parse_entry_id(&delivery.entry).and_then(|sequence| stream.remove(sequence));

        if removed.is_none() {
            warn!(
                shard = %delivery.shard,
                entry = %delivery.entry,
                job_id = %delivery.job.id,
                consumer = %delivery.consumer,
                "acked an entry that was no longer pending; another consumer may have run it too",
            );
        }
        Ok(())
    }

    async fn nack(&self, delivery: &Delivery, error: &str) -> Result<()> {
        let mut state = self.lock();
        let stream = state.shards.entry(delivery.shard).or_default();
        let pending =
            parse_entry_id(&delivery.entry).and_then(|sequence| stream.pending.get_mut(&sequence));

        match pending {
            Some(pending) => pending.last_error = Some(error.to_owned()),
            None => debug!(
                shard = %delivery.shard,
                entry = %delivery.entry,
                "ignored nack of an entry that was no longer pending",
            ),
        }
        Ok(())
    }

    async fn extend(&self, delivery: &Delivery) -> Result<()> {
        let mut state = self.lock();
        let stream = state.shards.entry(delivery.shard).or_default();
        let pending = parse_entry_id(&delivery.entry)
            .and_then(|sequence| stream.pending.get_mut(&sequence))
            .filter(|pending| pending.consumer == delivery.consumer);

        match pending {
            Some(pending) => {
                pending.delivered_at = Instant::now();
                Ok(())
            }
            None => Err(Error::DeliveryLost {
                shard: delivery.shard,
                entry: delivery.entry.clone(),
                consumer: delivery.consumer.clone(),
            }),
        }
    }

    async fn backlog(&self, shard: ShardId) -> Result<Backlog> {
        // `get` instead of `entry`, so that counting creates no shard state.
        let state = self.lock();
        let backlog = match state.shards.get(&shard) {
            Some(stream) => stream.backlog(),
            None => Backlog {
                lag: Some(0),
                ..Backlog::default()
            },
        };
        Ok(backlog)
    }
}

#[async_trait]
impl DeadLetters for InProcessStreams {
    async fn list(&self, after: Option<&EntryId>, max: usize) -> Result<Vec<DeadLetter>> {
        let state = self.lock();
        let start = match after {
            None => 0,
            Some(after) => match parse_entry_id(after) {
                Some(sequence) => sequence,
                None => return Ok(Vec::new()),
            },
        };

        Ok(state
            .dead
            .range(start + 1..)
            .take(max)
            .map(|(_, letter)| letter.clone())
            .collect())
    }

    async fn redrive(&self, id: &EntryId) -> Result<bool> {
        let mut state = self.lock();
        let Some(letter) = parse_entry_id(id).and_then(|sequence| state.dead.remove(&sequence))
        else {
            return Ok(false);
        };

        state
            .shards
            .entry(letter.shard)
            .or_default()
            .append(letter.job);
        Ok(true)
    }

    async fn redrive_all(&self) -> Result<usize> {
        let mut state = self.lock();
        let letters = std::mem::take(&mut state.dead);

        let count = letters.len();
        for letter in letters.into_values() {
            state
                .shards
                .entry(letter.shard)
                .or_default()
                .append(letter.job);
        }
        Ok(count)
    }
}

/// Formats a sequence number in the shape of a Redis stream id.
fn entry_id(sequence: u64) -> EntryId {
    EntryId::new(format!("0-{sequence}"))
}

fn parse_entry_id(id: &EntryId) -> Option<u64> {
    id.as_str().strip_prefix("0-")?.parse().ok()
}
