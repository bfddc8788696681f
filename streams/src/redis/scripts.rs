//! Lua scripts. Each touches keys of one Cluster slot only: one shard's keys,
//! or the `{global}` keys.

use redis::Script;

/// Claims up to `ARGV[3]` delayed jobs due at `ARGV[1]` (Unix ms) by moving their
/// score to the claim deadline `ARGV[2]`, so that no other promoter finds them
/// due. Returns `{job id, stored job}` pairs. An empty stored job means that
/// the job was missing from `delayed:jobs` and its id was removed.
///
/// KEYS: delayed, delayed:jobs.
const CLAIM_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local claimed = {}
for _, id in ipairs(due) do
  local stored = redis.call('HGET', KEYS[2], id)
  if stored then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
  else
    redis.call('ZREM', KEYS[1], id)
    stored = ''
  end
  table.insert(claimed, {id, stored})
end
return claimed
";

/// Removes published jobs (`ARGV[2..]`) whose score is still the claim deadline
/// `ARGV[1]`. A job re-scheduled since the claim has another score and stays.
///
/// KEYS: delayed, delayed:jobs.
const FINISH_PROMOTION: &str = r"
local removed = 0
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
    removed = removed + 1
  end
end
return removed
";

/// Records error `ARGV[3]` for entry `ARGV[2]` if it is pending in group `ARGV[1]`.
/// Returns 1 when recorded.
///
/// KEYS: send, send:errors.
const NACK: &str = r"
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #pending == 0 then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
";

/// Resets the idle time of entry `ARGV[2]` if consumer `ARGV[3]` of group `ARGV[1]`
/// still holds it. XCLAIM with JUSTID leaves the delivery count unchanged.
/// Returns 1 when extended.
///
/// KEYS: send.
const EXTEND: &str = r"
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #pending == 0 or pending[1][2] ~= ARGV[3] then
  return 0
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
return 1
";

/// Returns `{length, groups}` of stream `KEYS[1]`: its XLEN and its XINFO
/// GROUPS reply. A missing stream gives `{0, {}}`, because XINFO GROUPS fails
/// on a missing key and would otherwise fail the whole call.
///
/// KEYS: send.
const BACKLOG: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, {}}
end
return {redis.call('XLEN', KEYS[1]), redis.call('XINFO', 'GROUPS', KEYS[1])}
";

/// Moves dead letter `ARGV[1]` to the delayed set, due at `ARGV[2]` (Unix ms),
/// stored in the same `{"shard":n,"job":{...}}` form that `schedule` writes.
/// Returns the job id, or nil when no such dead letter exists.
///
/// KEYS: dead, delayed, delayed:jobs.
const REDRIVE: &str = r#"
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entries == 0 then
  return false
end
local fields = entries[1][2]
local shard, id, job
for i = 1, #fields, 2 do
  if fields[i] == 'shard' then shard = fields[i + 1] end
  if fields[i] == 'id' then id = fields[i + 1] end
  if fields[i] == 'job' then job = fields[i + 1] end
end
if not (shard and id and job) then
  return redis.error_reply('dead letter ' .. ARGV[1] .. ' lacks its shard, id or job field')
end
redis.call('HSET', KEYS[3], id, '{"shard":' .. shard .. ',"job":' .. job .. '}')
redis.call('ZADD', KEYS[2], ARGV[2], id)
redis.call('XDEL', KEYS[1], ARGV[1])
return id
"#;

/// Acquires the lease for owner `ARGV[1]` for `ARGV[2]` ms. The value is
/// `<token>:<owner>`. Returns the token, or nil while another owner holds it.
/// The current holder gets its own token back with a fresh expiry.
///
/// KEYS: lease, lease:token.
const ACQUIRE_LEASE: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local token, owner = string.match(current, '^(%d+):(.*)$')
  if owner ~= ARGV[1] then
    return false
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(token)
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'PX', ARGV[2])
return token
";

/// Extends the lease to `ARGV[2]` ms if its value is still `ARGV[1]`. Returns 1
/// when extended.
///
/// KEYS: lease.
const RENEW_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Deletes the lease if its value is still `ARGV[1]`. Returns 1 when deleted.
///
/// KEYS: lease.
const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

pub(crate) struct Scripts {
    pub(crate) claim_due: Script,
    pub(crate) finish_promotion: Script,
    pub(crate) nack: Script,
    pub(crate) extend: Script,
    pub(crate) backlog: Script,
    pub(crate) redrive: Script,
    pub(crate) acquire_lease: Script,
    pub(crate) renew_lease: Script,
    pub(crate) release_lease: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            claim_due: Script::new(CLAIM_DUE),
            finish_promotion: Script::new(FINISH_PROMOTION),
            nack: Script::new(NACK),
            extend: Script::new(EXTEND),
            backlog: Script::new(BACKLOG),
            redrive: Script::new(REDRIVE),
            acquire_lease: Script::new(ACQUIRE_LEASE),
            renew_lease: Script::new(RENEW_LEASE),
            release_lease: Script::new(RELEASE_LEASE),
        }
    }
}
