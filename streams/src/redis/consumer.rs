//! Reading, reclaiming, acking and dead-lettering shard stream entries.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamInfoGroupsReply,
    StreamPendingCountReply, StreamReadOptions, StreamReadReply,
};
use redis::{AsyncCommands, FromRedisValue, RedisError, Value};
use tracing::{debug, error, warn};

use super::{create_group, is_missing_group, job_field, unix_millis, RedisStreams};
use crate::config::millis_ceil;
use crate::job::lease_expired_error;
use crate::{
    count_u64, error_chain, Backlog, Consumer, Delivery, EntryId, Error, Job, Result, ShardId,
    WorkerId, CONSUMER_GROUP,
};

/// A claimed entry with what reclaim needs to decide its fate.
struct Claimed {
    entry: StreamId,
    deliveries: u32,
    last_error: Option<String>,
}

impl RedisStreams {
    async fn read_group(
        &self,
        key: &str,
        consumer: &WorkerId,
        max: usize,
        block: Duration,
    ) -> Result<StreamReadReply, RedisError> {
        let options = StreamReadOptions::default()
            .group(CONSUMER_GROUP, consumer.as_str())
            .count(max);

        // BLOCK 0 would wait forever, so a zero block sends no BLOCK at all.
        if block.is_zero() {
            let reply: Option<StreamReadReply> = self
                .connection()
                .xread_options(&[key], &[">"], &options)
                .await?;
            return Ok(reply.unwrap_or_default());
        }

        let block_millis = usize::try_from(millis_ceil(block)).unwrap_or(usize::MAX);
        let options = options.block(block_millis);
        let mut connection = self.blocking.take().await?;
        let reply: Option<StreamReadReply> =
            connection.xread_options(&[key], &[">"], &options).await?;
        self.blocking.give_back(connection);
        Ok(reply.unwrap_or_default())
    }

    /// Acks and deletes an entry and its recorded error in one MULTI.
    /// Returns false when the entry was no longer pending.
    async fn finish_entry(&self, shard: ShardId, entry: &str) -> Result<bool> {
        let key = self.keys.send(shard);
        let (acked, _deleted, _errors_cleared): (u64, u64, u64) = redis::pipe()
            .atomic()
            .xack(&key, CONSUMER_GROUP, &[entry])
            .xdel(&key, &[entry])
            .hdel(self.keys.send_errors(shard), entry)
            .query_async(&mut self.connection())
            .await?;
        Ok(acked == 1)
    }

    /// Drops an entry that cannot be decoded, because no consumer could ever
    /// run it and it would otherwise be reclaimed forever.
    async fn drop_invalid(&self, shard: ShardId, entry: &str, reason: &str) {
        error!(%shard, %entry, %reason, "dropped an invalid stream entry");
        if let Err(finish_error) = self.finish_entry(shard, entry).await {
            error!(
                %shard,
                %entry,
                error = %error_chain(&finish_error),
                "failed to delete an invalid stream entry; it will be reclaimed again",
            );
        }
    }

    /// Looks up the delivery count and recorded error of each claimed entry.
    /// Entries acked since the claim have no count and are left out.
    async fn describe_claimed(
        &self,
        shard: ShardId,
        entries: Vec<StreamId>,
    ) -> Result<Vec<Claimed>> {
        let key = self.keys.send(shard);
        let ids: Vec<&str> = entries.iter().map(|entry| entry.id.as_str()).collect();

        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("XPENDING")
                .arg(&key)
                .arg(CONSUMER_GROUP)
                .arg(id)
                .arg(id)
                .arg(1);
        }
        pipe.cmd("HMGET")
            .arg(self.keys.send_errors(shard))
            .arg(&ids);
        let mut replies: Vec<Value> = pipe.query_async(&mut self.connection()).await?;

        let errors_reply = replies.pop().unwrap_or(Value::Nil);
        let errors: Vec<Option<String>> = FromRedisValue::from_redis_value(&errors_reply)?;
        let mut counts = HashMap::new();
        for reply in &replies {
            let pending: StreamPendingCountReply = FromRedisValue::from_redis_value(reply)?;
            for id in pending.ids {
                counts.insert(id.id, u32::try_from(id.times_delivered).unwrap_or(u32::MAX));
            }
        }

        Ok(entries
            .into_iter()
            .zip(errors)
            .filter_map(|(entry, last_error)| {
                let deliveries = *counts.get(&entry.id)?;
                Some(Claimed {
                    entry,
                    deliveries,
                    last_error,
                })
            })
            .collect())
    }

    /// Moves a claimed entry to the dead letters. The dead letter is written
    /// before the shard entry is acked, so a crash in between duplicates the
    /// dead letter instead of losing the job.
    async fn dead_letter(
        &self,
        shard: ShardId,
        entry: &str,
        job: &Job,
        raw_job: String,
        handed_out: u32,
        last_error: Option<String>,
    ) -> Result<()> {
        let fields = [
            ("shard", shard.0.to_string()),
            ("id", job.id.to_string()),
            ("kind", job.kind.clone()),
            ("job", raw_job),
            ("entry", entry.to_owned()),
            (
                "error",
                last_error.unwrap_or_else(|| lease_expired_error(handed_out)),
            ),
            ("deliveries", handed_out.to_string()),
            ("dead_at_ms", unix_millis(SystemTime::now()).to_string()),
        ];
        let dead_id: String = self
            .connection()
            .xadd(self.keys.dead(), "*", &fields)
            .await?;
        self.finish_entry(shard, entry).await?;
        metrics::counter!(metrics_catalogue::STREAM_DEAD_LETTERED).increment(1);

        error!(
            %shard,
            %entry,
            dead_letter = %dead_id,
            job_id = %job.id,
            kind = %job.kind,
            deliveries = handed_out,
            "job exceeded max deliveries; moved to dead letters",
        );
        Ok(())
    }

    fn reclaim_cursor(&self, shard: ShardId) -> String {
        self.reclaim_cursors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&shard)
            .cloned()
            .unwrap_or_else(|| "0-0".to_owned())
    }

    fn set_reclaim_cursor(&self, shard: ShardId, next: String) {
        self.reclaim_cursors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(shard, next);
    }

    /// Clears recorded errors of entries that XAUTOCLAIM found deleted from
    /// the stream while still pending; Redis has already removed them from
    /// the pending list.
    async fn forget_deleted(&self, shard: ShardId, deleted: &[String]) {
        if deleted.is_empty() {
            return;
        }
        warn!(%shard, entries = ?deleted, "pending entries were deleted from the stream before an ack");

        let cleared: Result<usize, RedisError> = self
            .connection()
            .hdel(self.keys.send_errors(shard), deleted)
            .await;
        if let Err(hdel_error) = cleared {
            warn!(%shard, error = %error_chain(&hdel_error), "failed to clear errors of deleted entries");
        }
    }
}

#[async_trait]
impl Consumer for RedisStreams {
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
        let key = self.keys.send(shard);
        let block = block.min(self.config.max_block);

        let reply = match self.read_group(&key, consumer, max, block).await {
            Err(read_error) if is_missing_group(&read_error) => {
                create_group(&mut self.connection(), &key).await?;
                self.read_group(&key, consumer, max, block).await?
            }
            other => other?,
        };

        let mut deliveries = Vec::new();
        for entry in reply.keys.into_iter().flat_map(|stream| stream.ids) {
            match job_field(&entry) {
                Ok((job, _)) => deliveries.push(Delivery {
                    shard,
                    entry: EntryId::new(entry.id),
                    consumer: consumer.clone(),
                    job,
                    deliveries: 1,
                }),
                Err(reason) => self.drop_invalid(shard, &entry.id, &reason).await,
            }
        }
        Ok(deliveries)
    }

    async fn reclaim(
        &self,
        shard: ShardId,
        consumer: &WorkerId,
        max: usize,
    ) -> Result<Vec<Delivery>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let key = self.keys.send(shard);
        let min_idle = millis_ceil(self.config.delivery_lease);
        let options = StreamAutoClaimOptions::default().count(max);

        let claimed: Result<StreamAutoClaimReply, RedisError> = self
            .connection()
            .xautoclaim_options(
                &key,
                CONSUMER_GROUP,
                consumer.as_str(),
                min_idle,
                self.reclaim_cursor(shard),
                options,
            )
            .await;
        let reply = match claimed {
            Err(claim_error) if is_missing_group(&claim_error) => {
                create_group(&mut self.connection(), &key).await?;
                return Ok(Vec::new());
            }
            other => other?,
        };
        self.set_reclaim_cursor(shard, reply.next_stream_id);
        self.forget_deleted(shard, &reply.deleted_ids).await;
        if reply.claimed.is_empty() {
            return Ok(Vec::new());
        }

        let max_deliveries = self.config.max_deliveries;
        let mut deliveries = Vec::new();
        for claimed in self.describe_claimed(shard, reply.claimed).await? {
            let entry = claimed.entry.id.as_str();
            let (job, raw_job) = match job_field(&claimed.entry) {
                Ok(decoded) => decoded,
                Err(reason) => {
                    self.drop_invalid(shard, entry, &reason).await;
                    continue;
                }
            };

            // XAUTOCLAIM has already counted this claim as a delivery.
            if claimed.deliveries > max_deliveries {
                let handed_out = claimed.deliveries - 1;
                let moved = self
                    .dead_letter(shard, entry, &job, raw_job, handed_out, claimed.last_error)
                    .await;
                if let Err(dead_letter_error) = moved {
                    // The entry stays pending and is dead-lettered by a later
                    // reclaim; the other claimed entries are still handed out.
                    error!(
                        %shard,
                        %entry,
                        job_id = %job.id,
                        error = %error_chain(&dead_letter_error),
                        "failed to move a job to dead letters; retrying after the delivery lease",
                    );
                }
                continue;
            }

            warn!(
                %shard,
                %entry,
                job_id = %job.id,
                kind = %job.kind,
                to = %consumer,
                deliveries = claimed.deliveries,
                "reclaimed a delivery whose lease expired",
            );
            deliveries.push(Delivery {
                shard,
                entry: EntryId::new(entry),
                consumer: consumer.clone(),
                job,
                deliveries: claimed.deliveries,
            });
        }
        Ok(deliveries)
    }

    async fn ack(&self, delivery: &Delivery) -> Result<()> {
        let was_pending = self
            .finish_entry(delivery.shard, delivery.entry.as_str())
            .await?;
        if !was_pending {
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
        let recorded: u8 = self
            .scripts
            .nack
            .key(self.keys.send(delivery.shard))
            .key(self.keys.send_errors(delivery.shard))
            .arg(CONSUMER_GROUP)
            .arg(delivery.entry.as_str())
            .arg(error)
            .invoke_async(&mut self.connection())
            .await?;
        if recorded == 0 {
            debug!(
                shard = %delivery.shard,
                entry = %delivery.entry,
                "ignored nack of an entry that was no longer pending",
            );
        }
        Ok(())
    }

    async fn extend(&self, delivery: &Delivery) -> Result<()> {
        let extended: u8 = self
            .scripts
            .extend
            .key(self.keys.send(delivery.shard))
            .arg(CONSUMER_GROUP)
            .arg(delivery.entry.as_str())
            .arg(delivery.consumer.as_str())
            .invoke_async(&mut self.connection())
            .await?;
        if extended == 0 {
            return Err(Error::DeliveryLost {
                shard: delivery.shard,
                entry: delivery.entry.clone(),
                consumer: delivery.consumer.clone(),
            });
        }
        Ok(())
    }

    async fn backlog(&self, shard: ShardId) -> Result<Backlog> {
        let (length, info): (u64, StreamInfoGroupsReply) = self
            .scripts
            .backlog
            .key(self.keys.send(shard))
            .invoke_async(&mut self.connection())
            .await?;

        let group = info
            .groups
            .into_iter()
            .find(|group| group.name == CONSUMER_GROUP);
        let backlog = match group {
            // XINFO GROUPS `pending` is the size of the group's pending
            // entries list, the same count as the XPENDING summary.
            Some(group) => Backlog {
                length,
                pending: count_u64(group.pending),
                lag: group.lag.map(count_u64),
            },
            // The first read creates the group at id 0, so until then no
            // entry has been delivered.
            None => Backlog {
                length,
                pending: 0,
                lag: Some(length),
            },
        };
        Ok(backlog)
    }
}
