//! In-process shard leases, with expiry on the Tokio clock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tracing::info;

use crate::{FencingToken, Lease, Result, ShardId, ShardLeases, WorkerId};

#[derive(Default)]
pub(crate) struct InProcessLeases {
    shards: Mutex<HashMap<ShardId, ShardLease>>,
}

#[derive(Default)]
struct ShardLease {
    /// Token of the latest acquisition; the next one gets this plus one.
    last_token: u64,
    holder: Option<Holder>,
}

struct Holder {
    owner: WorkerId,
    token: u64,
    expires_at: Instant,
}

impl ShardLease {
    /// Returns the holder if its lease has not expired yet.
    fn live_holder(&mut self, now: Instant) -> Option<&mut Holder> {
        self.holder
            .as_mut()
            .filter(|holder| now < holder.expires_at)
    }

    fn is_held_as(&mut self, lease: &Lease, now: Instant) -> Option<&mut Holder> {
        self.live_holder(now)
            .filter(|holder| holder.owner == lease.owner && holder.token == lease.token.0)
    }
}

impl InProcessLeases {
    fn lock(&self) -> MutexGuard<'_, HashMap<ShardId, ShardLease>> {
        self.shards
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl ShardLeases for InProcessLeases {
    async fn acquire(
        &self,
        shard: ShardId,
        owner: &WorkerId,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let mut shards = self.lock();
        let lease = shards.entry(shard).or_default();
        let now = Instant::now();

        if let Some(holder) = lease.live_holder(now) {
            if holder.owner != *owner {
                return Ok(None);
            }
            holder.expires_at = now + ttl;
            return Ok(Some(Lease {
                shard,
                owner: owner.clone(),
                token: FencingToken(holder.token),
            }));
        }

        lease.last_token += 1;
        lease.holder = Some(Holder {
            owner: owner.clone(),
            token: lease.last_token,
            expires_at: now + ttl,
        });
        info!(%shard, %owner, token = lease.last_token, "acquired shard lease");
        Ok(Some(Lease {
            shard,
            owner: owner.clone(),
            token: FencingToken(lease.last_token),
        }))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        let mut shards = self.lock();
        let now = Instant::now();
        let holder = shards
            .get_mut(&lease.shard)
            .and_then(|shard| shard.is_held_as(lease, now));

        match holder {
            Some(holder) => {
                holder.expires_at = now + ttl;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        let mut shards = self.lock();
        let now = Instant::now();
        let Some(shard) = shards.get_mut(&lease.shard) else {
            return Ok(false);
        };
        if shard.is_held_as(lease, now).is_none() {
            return Ok(false);
        }

        shard.holder = None;
        info!(shard = %lease.shard, owner = %lease.owner, token = lease.token.0, "released shard lease");
        Ok(true)
    }
}
