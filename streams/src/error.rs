//! The crate's error type.

use crate::{EntryId, ShardId, WorkerId};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid streams configuration: {0}")]
    InvalidConfig(String),

    #[error("Redis command failed")]
    Redis(#[from] redis::RedisError),

    #[error("failed to encode or decode a job")]
    Json(#[from] serde_json::Error),

    /// An entry written by something other than this crate, or by an
    /// incompatible version of it.
    #[error("invalid entry {entry} in {stream}: {reason}")]
    InvalidEntry {
        stream: String,
        entry: EntryId,
        reason: String,
    },

    /// The delivery's lease expired and another consumer reclaimed the entry,
    /// or the entry was acked or dead-lettered meanwhile.
    #[error(
        "entry {entry} on shard {shard} is no longer pending for consumer {consumer}; \
         stop working on it, because another consumer may hold it"
    )]
    DeliveryLost {
        shard: ShardId,
        entry: EntryId,
        consumer: WorkerId,
    },
}
