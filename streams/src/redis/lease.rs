//! Shard leases: a `SET PX` key per shard, written only by scripts that
//! compare owner and token, with an INCR counter for fencing tokens.

use std::time::Duration;

use async_trait::async_trait;
use tracing::info;

use super::RedisStreams;
use crate::config::millis_ceil;
use crate::{FencingToken, Lease, Result, ShardId, ShardLeases, WorkerId};

/// Value of the lease key, which renew and release compare.
fn lease_value(lease: &Lease) -> String {
    format!("{}:{}", lease.token.0, lease.owner)
}

#[async_trait]
impl ShardLeases for RedisStreams {
    async fn acquire(
        &self,
        shard: ShardId,
        owner: &WorkerId,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let token: Option<u64> = self
            .scripts
            .acquire_lease
            .key(self.keys.lease(shard))
            .key(self.keys.lease_token(shard))
            .arg(owner.as_str())
            .arg(millis_ceil(ttl).max(1))
            .invoke_async(&mut self.connection())
            .await?;

        Ok(token.map(|token| {
            info!(%shard, %owner, token, "acquired shard lease");
            Lease {
                shard,
                owner: owner.clone(),
                token: FencingToken(token),
            }
        }))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool> {
        let renewed: u8 = self
            .scripts
            .renew_lease
            .key(self.keys.lease(lease.shard))
            .arg(lease_value(lease))
            .arg(millis_ceil(ttl).max(1))
            .invoke_async(&mut self.connection())
            .await?;
        Ok(renewed == 1)
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        let released: u8 = self
            .scripts
            .release_lease
            .key(self.keys.lease(lease.shard))
            .arg(lease_value(lease))
            .invoke_async(&mut self.connection())
            .await?;

        if released == 1 {
            info!(shard = %lease.shard, owner = %lease.owner, token = lease.token.0, "released shard lease");
        }
        Ok(released == 1)
    }
}
