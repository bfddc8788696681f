//! GCRA state shared by every process through Redis.
//!
//! One Lua script reads every window of a key, decides and, when the request
//! is allowed, writes the new TATs: one round trip per decision, atomic
//! because Redis runs a script alone. The script takes the time from Redis
//! (`TIME`), so replicas with skewed clocks still agree. TATs are kept in
//! microseconds, which Lua's doubles hold exactly for centuries.
//!
//! Keys are `<prefix>rl:{<key>}:<limit>:<period seconds>`. The hash tag keeps
//! the windows of one key in one cluster slot. A plan change gives new keys,
//! so the new plan starts with full buckets. Every key expires when
//! its bucket is full again, so idle organisations cost no memory.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};

use crate::gcra::{decide, Decision, Window};
use crate::LimiterError;

/// Nanoseconds per tick of the script's clock.
const MICROS: u64 = 1_000;

const CHECK: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local cost = tonumber(ARGV[1])
local allowed = 1
local offsets = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i])
  local tolerance = tonumber(ARGV[2 * i + 1])
  local offset = tonumber(redis.call('GET', KEYS[i]) or '0') - now
  if offset < 0 then offset = 0 end
  offsets[i] = offset
  if interval <= 0 or offset + cost * interval > tolerance then allowed = 0 end
end
if allowed == 1 then
  for i = 1, #KEYS do
    local ahead = offsets[i] + cost * tonumber(ARGV[2 * i])
    redis.call('SET', KEYS[i], string.format('%.0f', now + ahead), 'PX', math.floor(ahead / 1000) + 1000)
  end
end
local reply = {allowed}
for i = 1, #KEYS do reply[i + 1] = offsets[i] end
return reply
";

const REFUND: &str = r"
for i = 1, #KEYS do
  local tat = redis.call('GET', KEYS[i])
  if tat then
    local back = tonumber(tat) - tonumber(ARGV[1]) * tonumber(ARGV[i + 1])
    redis.call('SET', KEYS[i], string.format('%.0f', back), 'KEEPTTL')
  end
end
return 0
";

/// A GCRA limiter whose state lives in Redis.
#[derive(Clone)]
pub struct RedisLimiter {
    manager: ConnectionManager,
    prefix: String,
    check: Script,
    refund: Script,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Connects to `url`. Commands that take longer than `timeout` fail, so
    /// that a stalled Redis leads to the caller's failure policy rather than
    /// a hung request.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, LimiterError> {
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_factor(2)
            .set_max_delay(1_000)
            .set_number_of_retries(1);
        let manager = client.get_connection_manager_with_config(config).await?;
        Ok(Self {
            manager,
            prefix: prefix.to_owned(),
            check: Script::new(CHECK),
            refund: Script::new(REFUND),
        })
    }

    fn keys(&self, key: &str, windows: &[Window]) -> Vec<String> {
        windows
            .iter()
            .map(|window| {
                format!(
                    "{}rl:{{{key}}}:{}:{}",
                    self.prefix,
                    window.limit,
                    window.period.as_secs()
                )
            })
            .collect()
    }

    /// Charges `cost` tokens to `key` against `windows`, all or nothing.
    pub async fn check(
        &self,
        key: &str,
        windows: &[Window],
        cost: u64,
    ) -> Result<Decision, LimiterError> {
        let mut invocation = self.check.prepare_invoke();
        for name in self.keys(key, windows) {
            invocation.key(name);
        }
        invocation.arg(cost);
        for window in windows {
            let interval = if window.limit == 0 {
                0
            } else {
                window.interval(MICROS)
            };
            invocation.arg(interval).arg(window.tolerance(MICROS));
        }
        let reply: Vec<i64> = invocation.invoke_async(&mut self.manager.clone()).await?;
        let (allowed, offsets) = reply
            .split_first()
            .ok_or(LimiterError::Reply("empty reply from the limiter script"))?;
        if offsets.len() != windows.len() {
            return Err(LimiterError::Reply(
                "the limiter script returned too few windows",
            ));
        }
        let offsets: Vec<u64> = offsets.iter().map(|&o| o.max(0) as u64).collect();
        let decision = decide(&offsets, windows, cost, MICROS);
        if decision.allowed != (*allowed == 1) {
            // The script and `decide` use the same integer arithmetic; a
            // disagreement means the two were changed apart.
            return Err(LimiterError::Reply(
                "the limiter script and the local decision disagree",
            ));
        }
        Ok(decision)
    }

    /// Gives back `cost` tokens that were charged but not used.
    pub async fn refund(
        &self,
        key: &str,
        windows: &[Window],
        cost: u64,
    ) -> Result<(), LimiterError> {
        let mut invocation = self.refund.prepare_invoke();
        for name in self.keys(key, windows) {
            invocation.key(name);
        }
        invocation.arg(cost);
        for window in windows {
            invocation.arg(window.interval(MICROS));
        }
        let _: i64 = invocation.invoke_async(&mut self.manager.clone()).await?;
        Ok(())
    }
}
