//! Payloads of the jobs the API and the dispatchers exchange through the
//! shard streams, and the mapping of AWS accounts onto shards.

use serde::{Deserialize, Serialize};

use crate::ids::{BatchId, ConnectionId, ContactId, OrgId, TopicId};

/// Job kind: freeze a batch's audience and queue its chunks.
pub const BATCH_FAN_OUT: &str = "batch.fan_out";
/// Job kind: send one chunk of a batch.
pub const BATCH_CHUNK: &str = "batch.chunk";
/// Job kind: send the double opt-in confirmation email of one pending
/// subscription.
pub const SUBSCRIPTION_CONFIRM: &str = "subscription.confirm";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FanOutJob {
    pub batch_id: BatchId,
    pub organization_id: OrgId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkJob {
    pub batch_id: BatchId,
    pub organization_id: OrgId,
    pub chunk_index: i64,
}

/// A pending subscription whose confirmation email is due. It is published
/// to the shard of the connection's AWS account, and the email is sent
/// through that account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmJob {
    pub organization_id: OrgId,
    pub contact_id: ContactId,
    pub topic_id: TopicId,
    pub connection_id: ConnectionId,
}

/// Returns the shard that owns an AWS account (the 12-digit account number),
/// so that one dispatcher at a time sends through each account. FNV-1a keeps
/// the mapping stable across builds and processes.
pub fn shard_for_account(account_number: &str, shards: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in account_number.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(shards.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_mapping_is_stable_and_in_range() {
        let first = shard_for_account("123456789012", 16);
        assert_eq!(first, shard_for_account("123456789012", 16));
        assert!(first < 16);
        assert_eq!(shard_for_account("123456789012", 1), 0);
    }

    #[test]
    fn shard_mapping_spreads_accounts() {
        let shards: std::collections::HashSet<u32> = (0..100)
            .map(|n| shard_for_account(&format!("{n:012}"), 16))
            .collect();
        assert!(
            shards.len() > 8,
            "100 accounts landed on only {} shards",
            shards.len()
        );
    }
}
