//! Redis Streams backend. The crate docs list every key it uses.
//!
//! Commands go through one shared [`ConnectionManager`], which multiplexes
//! them and reconnects after failures. Blocking reads (XREADGROUP with BLOCK)
//! would stall every command queued behind them on that connection, so each
//! one borrows a connection of its own from [`BlockingConnections`].

mod consumer;
mod dead;
mod keys;
mod lease;
mod scripts;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::streams::StreamId;
use redis::{AsyncCommands, AsyncConnectionConfig, Client, RedisError};
use serde::{Deserialize, Serialize};
use tracing::{debug, error, info, warn};

use self::keys::Keys;
use self::scripts::Scripts;
use crate::config::millis_ceil;
use crate::{error_chain, EntryId, Job, Producer, Result, ShardId, StreamsConfig, CONSUMER_GROUP};

/// Delayed jobs moved per promotion call when a re-drive promotes its jobs.
const PROMOTE_BATCH: usize = 100;

pub(crate) struct RedisStreams {
    config: StreamsConfig,
    keys: Keys,
    scripts: Scripts,
    manager: ConnectionManager,
    blocking: BlockingConnections,
    /// Stream id where the next XAUTOCLAIM scan of each shard's pending list
    /// starts; `0-0` starts over.
    reclaim_cursors: Mutex<HashMap<ShardId, String>>,
}

/// Value of a `delayed:jobs` hash field. The re-drive script builds the same
/// JSON by hand, so the field names must not change.
#[derive(Serialize, Deserialize)]
struct DelayedJob {
    shard: ShardId,
    job: Job,
}

impl RedisStreams {
    pub(crate) async fn connect(url: &str, config: StreamsConfig) -> Result<Self> {
        // TODO: Redis Cluster needs a cluster connection (redis-rs feature
        // `cluster-async`); this opens a connection to a single node.
        let client = Client::open(url)?;

        // redis-rs 0.32 retries connecting with backon's exponential backoff
        // (1 s minimum delay) multiplied by `factor`, which defaults to 100.
        // Those defaults wait about five minutes before the first connection
        // fails, so the delays here are 1 s, then 2 s.
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(config.connect_timeout)
            .set_response_timeout(config.command_timeout)
            .set_factor(2)
            .set_max_delay(2_000)
            .set_number_of_retries(config.connect_retries);
        let manager = client
            .get_connection_manager_with_config(manager_config)
            .await?;

        // A blocking read waits up to `max_block` on the server, so its
        // response timeout must be longer than that, or the client would give
        // up on a read that is simply waiting.
        let blocking_config = AsyncConnectionConfig::new()
            .set_connection_timeout(config.connect_timeout)
            .set_response_timeout(config.max_block + config.command_timeout);

        Ok(Self {
            keys: Keys::new(&config.key_prefix),
            scripts: Scripts::new(),
            manager,
            blocking: BlockingConnections {
                client,
                config: blocking_config,
                idle: Mutex::new(Vec::new()),
            },
            reclaim_cursors: Mutex::new(HashMap::new()),
            config,
        })
    }

    pub(crate) fn key_prefix(&self) -> &str {
        self.keys.prefix()
    }

    fn connection(&self) -> ConnectionManager {
        self.manager.clone()
    }

    async fn append(&self, shard: ShardId, job: &Job) -> Result<EntryId> {
        let fields = [("job", serde_json::to_string(job)?)];
        let id: String = self
            .connection()
            .xadd(self.keys.send(shard), "*", &fields)
            .await?;
        Ok(EntryId::new(id))
    }

    /// Publishes delayed jobs until no due job is left.
    async fn promote_all_due(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let moved = self.promote_due(PROMOTE_BATCH).await?;
            total += moved;
            if moved < PROMOTE_BATCH {
                return Ok(total);
            }
        }
    }

    /// Publishes claimed delayed jobs in order, stopping at the first failed
    /// publish.
    async fn publish_claimed(&self, claimed: Vec<(String, String)>) -> PublishedClaims {
        let mut outcome = PublishedClaims {
            done: Vec::with_capacity(claimed.len()),
            published: 0,
            error: None,
        };

        for (id, stored) in claimed {
            if stored.is_empty() {
                error!(job_id = %id, "delayed job had no stored job and was dropped");
                continue;
            }
            let delayed: DelayedJob = match serde_json::from_str(&stored) {
                Ok(delayed) => delayed,
                Err(decode_error) => {
                    error!(
                        job_id = %id,
                        error = %decode_error,
                        "delayed job is not valid JSON and was dropped",
                    );
                    outcome.done.push(id);
                    continue;
                }
            };

            match self.append(delayed.shard, &delayed.job).await {
                Ok(entry) => {
                    debug!(shard = %delayed.shard, %entry, job_id = %id, "promoted delayed job");
                    outcome.done.push(id);
                    outcome.published += 1;
                }
                Err(append_error) => {
                    outcome.error = Some(append_error);
                    break;
                }
            }
        }
        outcome
    }
}

/// Result of publishing claimed delayed jobs.
struct PublishedClaims {
    /// Ids to remove from the delayed set: published, or dropped as
    /// unreadable.
    done: Vec<String>,
    published: usize,
    /// The failed publish that stopped the run, if any. Jobs after it stay
    /// claimed until the claim deadline.
    error: Option<crate::Error>,
}

#[async_trait]
impl Producer for RedisStreams {
    async fn publish(&self, shard: ShardId, job: &Job) -> Result<EntryId> {
        self.append(shard, job).await
    }

    async fn schedule(&self, shard: ShardId, job: &Job, due: SystemTime) -> Result<()> {
        let stored = serde_json::to_string(&DelayedJob {
            shard,
            job: job.clone(),
        })?;
        let id = job.id.to_string();

        redis::pipe()
            .atomic()
            .zadd(self.keys.delayed(), &id, unix_millis(due))
            .hset(self.keys.delayed_jobs(), &id, stored)
            .query_async::<()>(&mut self.connection())
            .await?;
        Ok(())
    }

    async fn promote_due(&self, max: usize) -> Result<usize> {
        if max == 0 {
            return Ok(0);
        }
        let now = unix_millis(SystemTime::now());
        let claim_deadline = now + millis_ceil(self.config.promotion_lease);

        // Step 1: claim, atomically within the `{global}` slot.
        let claimed: Vec<(String, String)> = self
            .scripts
            .claim_due
            .key(self.keys.delayed())
            .key(self.keys.delayed_jobs())
            .arg(now)
            .arg(claim_deadline)
            .arg(max)
            .invoke_async(&mut self.connection())
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }

        // Step 2: publish to the shard streams, which live in other slots.
        let PublishedClaims {
            done,
            published,
            error: publish_error,
        } = self.publish_claimed(claimed).await;

        // Step 3: remove what was published. Jobs left claimed become due
        // again at the claim deadline.
        if !done.is_empty() {
            let finished = self
                .scripts
                .finish_promotion
                .key(self.keys.delayed())
                .key(self.keys.delayed_jobs())
                .arg(claim_deadline)
                .arg(&done)
                .invoke_async::<usize>(&mut self.connection())
                .await;
            if let Err(finish_error) = finished {
                warn!(
                    published,
                    error = %error_chain(&finish_error),
                    "published delayed jobs but failed to remove them; \
                     they will be published again after the promotion lease",
                );
                return Err(finish_error.into());
            }
        }

        match publish_error {
            Some(publish_error) => Err(publish_error),
            None => Ok(published),
        }
    }
}

/// Connections reserved for blocking reads, one per concurrent read. A
/// connection goes back to the idle list only after a read that succeeded.
/// After an error or a cancelled read it is dropped, because a reply may
/// still be on its way.
struct BlockingConnections {
    client: Client,
    config: AsyncConnectionConfig,
    idle: Mutex<Vec<MultiplexedConnection>>,
}

impl BlockingConnections {
    async fn take(&self) -> Result<MultiplexedConnection, RedisError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => {
                self.client
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await
            }
        }
    }

    fn give_back(&self, connection: MultiplexedConnection) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(connection);
    }
}

/// Decodes the `job` field of a shard stream entry into the job and its raw
/// JSON.
fn job_field(entry: &StreamId) -> Result<(Job, String), String> {
    let raw: String = entry
        .get("job")
        .ok_or_else(|| "missing or non-text field `job`".to_owned())?;
    let job = serde_json::from_str(&raw).map_err(|error| format!("field `job`: {error}"))?;
    Ok((job, raw))
}

fn unix_millis(time: SystemTime) -> u64 {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

fn is_missing_group(error: &RedisError) -> bool {
    error.code() == Some("NOGROUP")
}

/// Creates the consumer group of a shard stream, and the stream, if missing.
/// The group starts at id 0, so entries published before it are read too.
async fn create_group(connection: &mut ConnectionManager, key: &str) -> Result<()> {
    let created: Result<(), RedisError> = connection
        .xgroup_create_mkstream(key, CONSUMER_GROUP, "0")
        .await;
    match created {
        Ok(()) => {
            info!(
                stream = key,
                group = CONSUMER_GROUP,
                "created consumer group"
            );
            Ok(())
        }
        Err(error) if error.code() == Some("BUSYGROUP") => Ok(()),
        Err(error) => Err(error.into()),
    }
}
