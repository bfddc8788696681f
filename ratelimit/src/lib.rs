//! Limits and quotas of wrapsd: the plan table, GCRA token buckets for API
//! requests and organisation send limits, and the per-AWS-account SES pacer.
//!
//! # What is limited, and where the state lives
//!
//! | limit | key | state | module |
//! |---|---|---|---|
//! | API requests per minute and day, by plan | organisation | Redis when configured, else this process | [`gcra`], [`shared`] |
//! | messages per second and day, by plan | organisation, across its AWS accounts | Redis when configured, else this process | [`org`] |
//! | SES `MaxSendRate` and `Max24HourSend` | AWS account | the dispatcher that owns the account's shard | [`account`] |
//!
//! # Exactness across processes
//!
//! *AWS accounts* are paced by shard ownership. Every account maps to one
//! stream shard, and one dispatcher holds a shard's lease at a time, so one
//! process paces an account and its bucket needs no coordination. Several
//! organisations connecting the same account share that bucket, because the
//! pacers are keyed by account number. Failure modes:
//!
//! - *Lease loss*: a dispatcher that stops renewing (a pause, a partition)
//!   keeps sending until it notices, at most a third of the lease. The new
//!   owner starts with a full burst, so for that moment the account can get
//!   up to two bursts. SES rejects the excess with throttling errors, which
//!   both pacers treat as a signal to slow down. No recipient is sent twice,
//!   because claims carry a fencing token.
//! - *Redis restart*: leases are gone, the next dispatcher to ask takes each
//!   shard; the same overlap as above applies once.
//! - *Clock skew*: the pacer uses its own monotonic clock only.
//!
//! *Organisations* (API requests and plan send limits) span every API
//! replica and every shard, so their buckets are shared: a GCRA per key in
//! Redis, decided by one script per request or SES call (one round trip)
//! using Redis's clock. Failure modes:
//!
//! - *Redis unavailable*: the API applies a policy per route group (reads
//!   fail open, costly fan-out such as batch creation fails closed with 503);
//!   the dispatcher waits and retries, since its job streams live in the same
//!   Redis.
//! - *Redis restart*: buckets start full, so an organisation can get one
//!   extra burst.
//! - *Clock skew*: none between replicas, because only Redis's clock is read.
//!
//! With the embedded default (no Redis) there is one process, and the same
//! buckets live in memory.

pub mod account;
pub mod clock;
pub mod gcra;
pub mod org;
pub mod plans;
pub mod shared;

use std::sync::Arc;
use std::time::Duration;

pub use account::{AccountPacer, Lane, PaceError, Pacers, Quota};
pub use gcra::{Decision, LocalLimiter, Window, WindowState};
pub use org::{SendLimitError, SendLimits};
pub use plans::{Plan, PlanSettings, Plans};
pub use shared::RedisLimiter;

/// A limiter that failed to decide.
#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected limiter reply: {0}")]
    Reply(&'static str),
}

/// A GCRA limiter, in this process or shared through Redis.
#[derive(Clone, Debug)]
pub enum Limiter {
    Local(Arc<LocalLimiter>),
    Shared(RedisLimiter),
}

impl Limiter {
    /// Creates a limiter in this process, on the system clock.
    pub fn local() -> Self {
        Self::Local(Arc::new(LocalLimiter::default()))
    }

    /// Connects a limiter shared by every process using the same Redis and
    /// prefix.
    pub async fn redis(url: &str, prefix: &str, timeout: Duration) -> Result<Self, LimiterError> {
        Ok(Self::Shared(
            RedisLimiter::connect(url, prefix, timeout).await?,
        ))
    }

    /// Charges `cost` tokens to `key` against `windows`, all or nothing.
    pub async fn check(
        &self,
        key: &str,
        windows: &[Window],
        cost: u64,
    ) -> Result<Decision, LimiterError> {
        match self {
            Self::Local(limiter) => Ok(limiter.check(key, windows, cost)),
            Self::Shared(limiter) => limiter.check(key, windows, cost).await,
        }
    }

    /// Gives back `cost` tokens charged to `key` but not used.
    pub async fn refund(
        &self,
        key: &str,
        windows: &[Window],
        cost: u64,
    ) -> Result<(), LimiterError> {
        match self {
            Self::Local(limiter) => {
                limiter.refund(key, windows, cost);
                Ok(())
            }
            Self::Shared(limiter) => limiter.refund(key, windows, cost).await,
        }
    }
}
