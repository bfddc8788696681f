//! Shard leases: which process owns a shard right now.
//!
//! A dispatcher sends for a shard only while it holds the shard's lease, and
//! renews it well before the TTL runs out. If it dies, the lease expires and
//! another dispatcher takes the shard with a higher fencing token, so the
//! store can reject a write stamped with the old token.

use std::time::Duration;

use async_trait::async_trait;

use crate::{Result, ShardId, WorkerId};

/// Number that increases with every acquisition of one shard's lease, across
/// all owners and restarts of the owners (not across a wipe of the backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken(pub u64);

/// A held shard lease. The holder keeps it by calling `ShardLeases::renew`
/// before the TTL passed to `acquire` or the last `renew` runs out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub shard: ShardId,
    pub owner: WorkerId,
    pub token: FencingToken,
}

#[async_trait]
pub trait ShardLeases: Send + Sync {
    /// Acquires the shard's lease for `owner` for `ttl`. Returns `None` while
    /// another owner holds an unexpired lease. When `owner` already holds it,
    /// this extends it and returns the same token, so a retried acquire
    /// after a lost reply is harmless.
    async fn acquire(
        &self,
        shard: ShardId,
        owner: &WorkerId,
        ttl: Duration,
    ) -> Result<Option<Lease>>;

    /// Extends the lease to `ttl` from now. Returns false once the lease has
    /// expired (whether or not another owner took it) or was released. The
    /// caller must then stop working on the shard.
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool>;

    /// Releases the lease so that another owner can take the shard at once.
    /// Returns false when the lease was no longer held.
    async fn release(&self, lease: &Lease) -> Result<bool>;
}
