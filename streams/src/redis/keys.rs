//! Redis key names; the crate docs describe each key.

use crate::ShardId;

/// Hash tag of the keys that belong to no shard, so that they share one
/// Cluster slot and scripts may touch them together.
const GLOBAL_TAG: &str = "{global}";

pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn send(&self, shard: ShardId) -> String {
        format!("{}:{{{shard}}}:send", self.prefix)
    }

    pub(crate) fn send_errors(&self, shard: ShardId) -> String {
        format!("{}:{{{shard}}}:send:errors", self.prefix)
    }

    pub(crate) fn lease(&self, shard: ShardId) -> String {
        format!("{}:{{{shard}}}:lease", self.prefix)
    }

    pub(crate) fn lease_token(&self, shard: ShardId) -> String {
        format!("{}:{{{shard}}}:lease:token", self.prefix)
    }

    pub(crate) fn delayed(&self) -> String {
        format!("{}:{GLOBAL_TAG}:delayed", self.prefix)
    }

    pub(crate) fn delayed_jobs(&self) -> String {
        format!("{}:{GLOBAL_TAG}:delayed:jobs", self.prefix)
    }

    pub(crate) fn dead(&self) -> String {
        format!("{}:{GLOBAL_TAG}:dead", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_keys_carry_shard_hash_tag() {
        let keys = Keys::new("wraps");

        assert_eq!(keys.send(ShardId(3)), "wraps:{3}:send");
        assert_eq!(keys.send_errors(ShardId(3)), "wraps:{3}:send:errors");
        assert_eq!(keys.send(ShardId::INTAKE), "wraps:{intake}:send");
        assert_eq!(keys.lease(ShardId(3)), "wraps:{3}:lease");
        assert_eq!(keys.lease_token(ShardId(3)), "wraps:{3}:lease:token");
    }

    #[test]
    fn global_keys_share_one_hash_tag() {
        let keys = Keys::new("wraps");

        assert_eq!(keys.delayed(), "wraps:{global}:delayed");
        assert_eq!(keys.delayed_jobs(), "wraps:{global}:delayed:jobs");
        assert_eq!(keys.dead(), "wraps:{global}:dead");
    }
}
