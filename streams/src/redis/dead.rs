//! Listing and re-driving dead letters.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::streams::{StreamId, StreamRangeReply};
use redis::AsyncCommands;
use tracing::info;

use super::{unix_millis, RedisStreams};
use crate::{DeadLetter, DeadLetters, EntryId, Error, Result, ShardId};

/// Dead letters read per XRANGE while re-driving all of them.
const REDRIVE_PAGE: usize = 100;

impl RedisStreams {
    /// Moves one dead letter to the delayed set, due now. Returns the job id,
    /// or `None` when no dead letter has this id.
    async fn redrive_to_delayed(&self, id: &EntryId) -> Result<Option<String>> {
        let job_id: Option<String> = self
            .scripts
            .redrive
            .key(self.keys.dead())
            .key(self.keys.delayed())
            .key(self.keys.delayed_jobs())
            .arg(id.as_str())
            .arg(unix_millis(SystemTime::now()))
            .invoke_async(&mut self.connection())
            .await?;

        if let Some(job_id) = &job_id {
            info!(dead_letter = %id, %job_id, "re-drove dead letter");
        }
        Ok(job_id)
    }

    fn decode_dead_letter(&self, entry: StreamId) -> Result<DeadLetter> {
        let invalid = |reason: String| Error::InvalidEntry {
            stream: self.keys.dead(),
            entry: EntryId::new(entry.id.clone()),
            reason,
        };
        let text = |field: &str| -> Result<String> {
            entry
                .get::<String>(field)
                .ok_or_else(|| invalid(format!("missing or non-text field `{field}`")))
        };
        let number = |field: &str| -> Result<u64> {
            text(field)?
                .parse()
                .map_err(|_| invalid(format!("field `{field}` is not a number")))
        };

        let shard = u32::try_from(number("shard")?)
            .map_err(|_| invalid("field `shard` is out of range".to_owned()))?;
        let job = serde_json::from_str(&text("job")?)
            .map_err(|error| invalid(format!("field `job`: {error}")))?;
        let deliveries = u32::try_from(number("deliveries")?).unwrap_or(u32::MAX);

        Ok(DeadLetter {
            id: EntryId::new(entry.id.clone()),
            shard: ShardId(shard),
            entry: EntryId::new(text("entry")?),
            job,
            error: text("error")?,
            deliveries,
            dead_at: UNIX_EPOCH + Duration::from_millis(number("dead_at_ms")?),
        })
    }
}

#[async_trait]
impl DeadLetters for RedisStreams {
    async fn list(&self, after: Option<&EntryId>, max: usize) -> Result<Vec<DeadLetter>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        // `(` makes the range start exclusive (Redis 6.2 and later).
        let start = match after {
            Some(after) => format!("({after}"),
            None => "-".to_owned(),
        };

        let reply: StreamRangeReply = self
            .connection()
            .xrange_count(self.keys.dead(), start, "+", max)
            .await?;
        reply
            .ids
            .into_iter()
            .map(|entry| self.decode_dead_letter(entry))
            .collect()
    }

    async fn redrive(&self, id: &EntryId) -> Result<bool> {
        if self.redrive_to_delayed(id).await?.is_none() {
            return Ok(false);
        }
        self.promote_all_due().await?;
        Ok(true)
    }

    async fn redrive_all(&self) -> Result<usize> {
        let mut redriven = 0;
        let mut start = "-".to_owned();

        loop {
            let page: StreamRangeReply = self
                .connection()
                .xrange_count(self.keys.dead(), &start, "+", REDRIVE_PAGE)
                .await?;
            let Some(last) = page.ids.last() else {
                break;
            };
            start = format!("({}", last.id);

            for entry in &page.ids {
                if self
                    .redrive_to_delayed(&EntryId::new(entry.id.clone()))
                    .await?
                    .is_some()
                {
                    redriven += 1;
                }
            }
        }

        self.promote_all_due().await?;
        Ok(redriven)
    }
}
