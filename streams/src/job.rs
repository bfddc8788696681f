//! Jobs and the ids that travel with them.

use std::fmt;
use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Result;

/// Shard number. Every stream and lease belongs to one shard, and a job is
/// published to the shard that owns its AWS account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShardId(pub u32);

impl ShardId {
    /// The stream of SES events that the webhook route accepted and the
    /// dispatchers apply to the store. It belongs to no AWS account, so no
    /// shard lease covers it: every dispatcher consumes it in the one
    /// consumer group. Its keys and metric labels read `intake`.
    pub const INTAKE: ShardId = ShardId(u32::MAX);
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Self::INTAKE {
            return f.write_str("intake");
        }
        self.0.fmt(f)
    }
}

/// Job identifier, kept across redeliveries, delays and re-drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl JobId {
    /// Creates a random (version 4) job id.
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Identity of one running process: its consumer name in the stream group
/// and its name as a shard lease owner. Two live processes must never share
/// one, or they would ack each other's deliveries and share leases.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorkerId(String);

impl WorkerId {
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// Creates a unique id of the form `worker-<uuid>`.
    pub fn random() -> Self {
        Self(format!("worker-{}", Uuid::new_v4().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Id of an entry in a shard stream or in the dead-letter stream: a Redis
/// stream id such as `1712345678901-0`, or the in-process equivalent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EntryId(String);

impl EntryId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A unit of work: an opaque JSON payload behind a small header.
///
/// `Debug` leaves the payload out, because payloads may carry personal data
/// and must not reach logs.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    /// Job type, such as `send.chunk`: a short fixed name that consumers
    /// dispatch on and logs show.
    pub kind: String,
    /// Retry number set by the producer: 0 for the first try, one more for
    /// each retry scheduled as new work. Redeliveries do not change it.
    pub attempt: u32,
    pub payload: serde_json::Value,
}

impl Job {
    /// Creates a first attempt with a new id.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        Self {
            id: JobId::new(),
            kind: kind.into(),
            attempt: 0,
            payload,
        }
    }

    /// Creates a first attempt with a new id from a serializable payload.
    pub fn from_payload<T: Serialize>(kind: impl Into<String>, payload: &T) -> Result<Self> {
        Ok(Self::new(kind, serde_json::to_value(payload)?))
    }

    /// Deserializes the payload into the type its `kind` promises.
    pub fn decode_payload<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(T::deserialize(&self.payload)?)
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// One hand-out of a stream entry to a consumer. The consumer acks it after
/// the job's outcome is recorded. Until then the entry stays pending, and
/// another consumer reclaims it once its delivery lease expires.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub shard: ShardId,
    pub entry: EntryId,
    pub consumer: WorkerId,
    pub job: Job,
    /// Times this entry has been handed out, this delivery included: 1 on the
    /// first read, one more for each reclaim.
    pub deliveries: u32,
}

/// A job that was handed out more than the maximum number of deliveries
/// without an ack, with the last error recorded for it.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// Id in the dead-letter stream, which `DeadLetters::redrive` takes.
    pub id: EntryId,
    pub shard: ShardId,
    /// Id the job had in its shard stream.
    pub entry: EntryId,
    pub job: Job,
    pub error: String,
    pub deliveries: u32,
    pub dead_at: SystemTime,
}

/// Error stored with a dead letter whose consumers never called `nack`,
/// which happens when they crash or hang.
pub(crate) fn lease_expired_error(deliveries: u32) -> String {
    format!("no error recorded: the delivery lease expired {deliveries} times without an ack")
}
