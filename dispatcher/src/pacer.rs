//! Per-AWS-account pacing: a token bucket at the account's SES
//! `MaxSendRate` and a rolling 24-hour budget from `Max24HourSend`.
//!
//! Tokens are counted per recipient, so a 50-destination bulk call spends 50.
//! The bucket contains at most one second of tokens, which is the burst SES
//! tolerates. A request larger than that is served in pieces, never refused
//! forever. After a throttle the rate drops by a fifth and then climbs back
//! by 2% per granted request until it reaches `MaxSendRate` again.
//!
//! Exactness across processes comes from shard ownership: every AWS account
//! maps to one shard and one dispatcher owns a shard at a time, so only one
//! process paces a given account. During a shard handover the old owner may
//! send for up to a third of the lease after the new owner started.
// NOTE: per-plan organisation limits and priority lanes for workflow mail
// arrive with the rate-limit crate; this pacer only enforces SES's quotas.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Quota values of one AWS account, as `GetAccount` reports them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quota {
    /// Messages per second; zero or negative means unlimited (SES-compatible
    /// endpoints such as the simulator report `-1` when they set no rate).
    pub max_send_rate: f64,
    /// Messages per rolling 24 hours; negative means unlimited.
    pub max_24h_send: f64,
    /// Messages sent in the last 24 hours when the quota was read.
    pub sent_last_24h: f64,
}

/// Reason a request cannot be served now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PaceError {
    /// The rolling 24-hour quota (less the reserve) is used up.
    DailyQuotaReached,
}

#[derive(Debug)]
struct Bucket {
    /// Current rate in tokens per second; at most `quota.max_send_rate`.
    rate: f64,
    tokens: f64,
    refilled_at: Instant,
    quota: Quota,
    /// Sends counted since `quota` was read.
    sent_since_refresh: f64,
    refreshed_at: Instant,
}

impl Bucket {
    fn burst(&self) -> f64 {
        self.rate.max(1.0)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst());
        self.refilled_at = now;
    }
}

/// The pacer of one AWS account.
#[derive(Debug)]
pub struct AccountPacer {
    bucket: Mutex<Bucket>,
    /// Messages of the 24-hour quota held back for transactional mail.
    reserve: f64,
}

impl AccountPacer {
    pub fn new(quota: Quota, reserve: f64) -> Self {
        let now = Instant::now();
        let rate = quota.max_send_rate.max(0.1);
        Self {
            bucket: Mutex::new(Bucket {
                rate,
                // Start full: SES allows a one-second burst.
                tokens: rate.max(1.0),
                refilled_at: now,
                quota,
                sent_since_refresh: 0.0,
                refreshed_at: now,
            }),
            reserve,
        }
    }

    /// Largest number of recipients one call may carry without exceeding
    /// the rate, at least 1.
    pub fn max_call_size(&self) -> usize {
        let bucket = self.bucket.lock().expect("pacer lock poisoned");
        if unlimited(&bucket.quota) {
            return usize::MAX;
        }
        bucket.burst().floor().max(1.0) as usize
    }

    /// Waits until `recipients` tokens are granted, in pieces no larger than
    /// the burst. Fails at once when the 24-hour budget cannot cover them.
    pub async fn acquire(&self, recipients: u32) -> Result<(), PaceError> {
        let mut remaining = f64::from(recipients);
        self.reserve_daily(remaining)?;
        if unlimited(&self.bucket.lock().expect("pacer lock poisoned").quota) {
            return Ok(());
        }

        while remaining > 0.0 {
            let wait = {
                let mut bucket = self.bucket.lock().expect("pacer lock poisoned");
                let now = Instant::now();
                bucket.refill(now);
                let piece = remaining.min(bucket.burst());
                if bucket.tokens >= piece {
                    bucket.tokens -= piece;
                    remaining -= piece;
                    bucket.rate = (bucket.rate * 1.02).min(bucket.quota.max_send_rate.max(0.1));
                    None
                } else {
                    let missing = piece - bucket.tokens;
                    Some(Duration::from_secs_f64(missing / bucket.rate))
                }
            };
            if let Some(wait) = wait {
                metrics::histogram!("wraps_pacer_wait_seconds").record(wait.as_secs_f64());
                tokio::time::sleep(wait).await;
            }
        }
        Ok(())
    }

    /// Counts `recipients` against the rolling 24-hour budget.
    fn reserve_daily(&self, recipients: f64) -> Result<(), PaceError> {
        let mut bucket = self.bucket.lock().expect("pacer lock poisoned");
        let quota = bucket.quota;
        if quota.max_24h_send >= 0.0 {
            let used = quota.sent_last_24h + bucket.sent_since_refresh;
            if used + recipients > quota.max_24h_send - self.reserve {
                return Err(PaceError::DailyQuotaReached);
            }
        }
        bucket.sent_since_refresh += recipients;
        Ok(())
    }

    /// Gives back daily budget reserved for recipients that were not sent
    /// (the call was throttled or never made).
    pub fn refund(&self, recipients: u32) {
        let mut bucket = self.bucket.lock().expect("pacer lock poisoned");
        bucket.sent_since_refresh = (bucket.sent_since_refresh - f64::from(recipients)).max(0.0);
    }

    /// Lowers the rate after SES throttled a call.
    pub fn on_throttle(&self) {
        let mut bucket = self.bucket.lock().expect("pacer lock poisoned");
        bucket.rate = (bucket.rate * 0.8).max(0.1);
        bucket.tokens = bucket.tokens.min(bucket.burst());
        metrics::counter!("wraps_pacer_throttles_total").increment(1);
    }

    /// Replaces the quota with a fresh `GetAccount` reading.
    pub fn refresh(&self, quota: Quota) {
        let mut bucket = self.bucket.lock().expect("pacer lock poisoned");
        bucket.quota = quota;
        bucket.rate = bucket.rate.min(quota.max_send_rate.max(0.1));
        bucket.sent_since_refresh = 0.0;
        bucket.refreshed_at = Instant::now();
    }

    /// Reports whether the quota reading is older than `max_age`.
    pub fn is_stale(&self, max_age: Duration) -> bool {
        let bucket = self.bucket.lock().expect("pacer lock poisoned");
        bucket.refreshed_at.elapsed() >= max_age
    }

    /// Current rate in messages per second.
    pub fn rate(&self) -> f64 {
        self.bucket.lock().expect("pacer lock poisoned").rate
    }

    /// Messages left in the rolling 24-hour budget, or `None` when unlimited.
    pub fn daily_headroom(&self) -> Option<f64> {
        let bucket = self.bucket.lock().expect("pacer lock poisoned");
        let quota = bucket.quota;
        (quota.max_24h_send >= 0.0).then(|| {
            (quota.max_24h_send - self.reserve - quota.sent_last_24h - bucket.sent_since_refresh)
                .max(0.0)
        })
    }
}

fn unlimited(quota: &Quota) -> bool {
    quota.max_send_rate <= 0.0
}

/// The pacers of every AWS account this process sends through, keyed by the
/// 12-digit account number, because several organisations may connect the
/// same account and SES enforces its quota per account.
#[derive(Default)]
pub struct Pacers {
    accounts: Mutex<HashMap<String, Arc<AccountPacer>>>,
}

impl Pacers {
    pub fn get(&self, account: &str) -> Option<Arc<AccountPacer>> {
        self.accounts
            .lock()
            .expect("pacers lock poisoned")
            .get(account)
            .cloned()
    }

    pub fn insert(&self, account: &str, pacer: Arc<AccountPacer>) -> Arc<AccountPacer> {
        let mut accounts = self.accounts.lock().expect("pacers lock poisoned");
        accounts.entry(account.to_owned()).or_insert(pacer).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(rate: f64, max_24h: f64) -> Quota {
        Quota {
            max_send_rate: rate,
            max_24h_send: max_24h,
            sent_last_24h: 0.0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rate_is_held_after_burst() {
        let pacer = AccountPacer::new(quota(10.0, -1.0), 0.0);
        let start = Instant::now();
        for _ in 0..30 {
            pacer.acquire(1).await.unwrap();
        }
        // 10 come from the initial one-second burst, 20 more need 2 s.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((1.9..=2.1).contains(&elapsed), "elapsed {elapsed}");
    }

    #[tokio::test(start_paused = true)]
    async fn oversized_request_is_split() {
        let pacer = AccountPacer::new(quota(5.0, -1.0), 0.0);
        let start = Instant::now();
        pacer.acquire(50).await.unwrap();
        let elapsed = start.elapsed().as_secs_f64();
        assert!(
            (8.9..=9.1).contains(&elapsed),
            "50 tokens at 5/s after a burst of 5 take 9 s, took {elapsed}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn daily_quota_stops_with_reserve() {
        let pacer = AccountPacer::new(quota(100.0, 100.0), 10.0);
        pacer.acquire(90).await.unwrap();
        assert_eq!(pacer.acquire(1).await, Err(PaceError::DailyQuotaReached));
        pacer.refund(5);
        pacer.acquire(5).await.unwrap();
        assert_eq!(pacer.daily_headroom(), Some(0.0));
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_lowers_then_recovers() {
        let pacer = AccountPacer::new(quota(100.0, -1.0), 0.0);
        pacer.on_throttle();
        assert!((pacer.rate() - 80.0).abs() < 1e-9);
        for _ in 0..20 {
            pacer.acquire(1).await.unwrap();
        }
        assert!((pacer.rate() - 100.0).abs() < 1e-9, "rate {}", pacer.rate());
    }

    #[tokio::test(start_paused = true)]
    async fn non_positive_rate_is_unlimited() {
        let pacer = AccountPacer::new(quota(-1.0, -1.0), 0.0);
        let start = Instant::now();
        pacer.acquire(100_000).await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(pacer.max_call_size(), usize::MAX);
    }

    #[test]
    fn call_size_follows_rate() {
        assert_eq!(
            AccountPacer::new(quota(14.0, -1.0), 0.0).max_call_size(),
            14
        );
        assert_eq!(AccountPacer::new(quota(0.5, -1.0), 0.0).max_call_size(), 1);
        assert_eq!(
            AccountPacer::new(quota(5000.0, -1.0), 0.0).max_call_size(),
            5000
        );
    }
}
