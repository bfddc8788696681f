//! Per-AWS-account pacing: a token bucket under the account's SES
//! `MaxSendRate` and a rolling 24-hour budget from `Max24HourSend`.
//!
//! Tokens are counted per recipient, so a 50-destination bulk call spends 50.
//! The pacer runs at [`PACE_SHARE`] of `MaxSendRate` with a burst of half a
//! second, not SES's full one-second burst. Calls leave the pacer at the
//! granted instants but reach SES a little earlier or later, and the unused
//! headroom absorbs that jitter, so arrivals stay within SES's rate. A
//! request larger than the burst is served in pieces, never rejected forever.
//! After a throttle the rate drops by a fifth and then climbs back by 2% per
//! granted request.
//!
//! Two lanes share the bucket. Priority requests (transactional, workflow and
//! confirmation mail) are served first: while one waits, bulk (broadcast)
//! requests get no tokens, so a large broadcast delays a confirmation mail by
//! at most one bulk call. The 24-hour reserve is kept for the priority lane
//! as well: bulk sending stops `reserve` messages short of the quota.
//!
//! Time is tokio's clock, so tests run it paused and advance it.

use metrics_catalogue as names;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Share of `MaxSendRate` the pacer grants.
pub const PACE_SHARE: f64 = 0.97;

/// Maximum seconds of tokens in the bucket.
pub const BURST_SECONDS: f64 = 0.5;

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

impl Quota {
    fn unlimited_rate(&self) -> bool {
        self.max_send_rate <= 0.0
    }

    /// Returns the highest rate the pacer grants, in messages per second.
    fn ceiling(&self) -> f64 {
        (self.max_send_rate * PACE_SHARE).max(0.01)
    }
}

/// The lane a request waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Transactional, workflow and confirmation mail: served first and
    /// allowed into the 24-hour reserve.
    Priority,
    /// Broadcasts.
    Bulk,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::Bulk => "bulk",
        }
    }
}

/// Reason a request cannot be served now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceError {
    /// The rolling 24-hour quota (less the reserve, for bulk) is used up.
    DailyQuotaReached,
}

#[derive(Debug)]
struct Bucket {
    /// Current rate in tokens per second; at most `quota.ceiling()`.
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
        (self.quota.ceiling() * BURST_SECONDS).max(1.0)
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
    account: String,
    bucket: Mutex<Bucket>,
    /// Messages of the 24-hour quota held back for the priority lane.
    reserve: f64,
    priority_waiting: AtomicUsize,
}

/// Decrements the priority waiter count when a priority request ends,
/// including when its future is dropped.
struct PriorityWaiter<'a>(&'a AtomicUsize);

impl Drop for PriorityWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl AccountPacer {
    pub fn new(account: &str, quota: Quota, reserve: f64) -> Self {
        let now = Instant::now();
        let mut bucket = Bucket {
            rate: quota.ceiling(),
            tokens: 0.0,
            refilled_at: now,
            quota,
            sent_since_refresh: 0.0,
            refreshed_at: now,
        };
        bucket.tokens = bucket.burst();
        let pacer = Self {
            account: account.to_owned(),
            bucket: Mutex::new(bucket),
            reserve: reserve.max(0.0),
            priority_waiting: AtomicUsize::new(0),
        };
        metrics::counter!(names::SES_THROTTLES, "account" => pacer.account.clone()).increment(0);
        pacer.publish_gauges();
        pacer
    }

    /// Returns the 12-digit AWS account number of this pacer.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Largest number of recipients one call may carry without exceeding
    /// the burst, at least 1.
    pub fn max_call_size(&self) -> usize {
        let bucket = self.bucket.lock().expect("pacer lock poisoned");
        if bucket.quota.unlimited_rate() {
            return usize::MAX;
        }
        bucket.burst().floor().max(1.0) as usize
    }

    /// Waits until `recipients` tokens are granted in `lane`, in pieces no
    /// larger than the burst. Fails at once when the 24-hour budget cannot
    /// cover them.
    pub async fn acquire(&self, recipients: u32, lane: Lane) -> Result<(), PaceError> {
        let mut remaining = f64::from(recipients);
        self.reserve_daily(remaining, lane)?;
        if self
            .bucket
            .lock()
            .expect("pacer lock poisoned")
            .quota
            .unlimited_rate()
        {
            metrics::counter!(names::SEND_TOKENS_GRANTED, "limiter" => "account", "lane" => lane.as_str())
                .increment(u64::from(recipients));
            return Ok(());
        }

        let _waiter = (lane == Lane::Priority).then(|| {
            self.priority_waiting.fetch_add(1, Ordering::AcqRel);
            PriorityWaiter(&self.priority_waiting)
        });
        let started = Instant::now();
        let mut waited = false;
        while remaining > 0.0 {
            let wait = {
                let mut bucket = self.bucket.lock().expect("pacer lock poisoned");
                let now = Instant::now();
                bucket.refill(now);
                let piece = remaining.min(bucket.burst());
                let yield_to_priority =
                    lane == Lane::Bulk && self.priority_waiting.load(Ordering::Acquire) > 0;
                // The epsilon absorbs rounding in the refill, which would
                // otherwise leave a bucket a hair short of a whole token.
                if !yield_to_priority && bucket.tokens + 1e-9 >= piece {
                    bucket.tokens = (bucket.tokens - piece).max(0.0);
                    remaining -= piece;
                    bucket.rate = (bucket.rate * 1.02).min(bucket.quota.ceiling());
                    None
                } else if yield_to_priority {
                    // Let the priority request take the next tokens first.
                    Some(Duration::from_secs_f64((1.0 / bucket.rate).min(0.05)))
                } else {
                    let missing = piece - bucket.tokens;
                    // At least a millisecond, the timer's resolution, so a
                    // tiny shortfall cannot spin.
                    Some(
                        Duration::from_secs_f64(missing / bucket.rate)
                            .max(Duration::from_millis(1)),
                    )
                }
            };
            if let Some(wait) = wait {
                waited = true;
                tokio::time::sleep(wait).await;
            }
        }
        metrics::counter!(names::SEND_TOKENS_GRANTED, "limiter" => "account", "lane" => lane.as_str())
            .increment(u64::from(recipients));
        if waited {
            metrics::counter!(names::SEND_TOKENS_WAITED, "limiter" => "account", "lane" => lane.as_str())
                .increment(u64::from(recipients));
        }
        metrics::histogram!(names::SEND_TOKEN_WAIT, "limiter" => "account", "lane" => lane.as_str())
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Counts `recipients` against the rolling 24-hour budget.
    fn reserve_daily(&self, recipients: f64, lane: Lane) -> Result<(), PaceError> {
        let mut bucket = self.bucket.lock().expect("pacer lock poisoned");
        let quota = bucket.quota;
        if quota.max_24h_send >= 0.0 {
            let used = quota.sent_last_24h + bucket.sent_since_refresh;
            let reserve = match lane {
                Lane::Priority => 0.0,
                Lane::Bulk => self.reserve,
            };
            if used + recipients > quota.max_24h_send - reserve {
                return Err(PaceError::DailyQuotaReached);
            }
        }
        bucket.sent_since_refresh += recipients;
        drop(bucket);
        // Only the headroom moves with each send; the rate gauges change on
        // throttles and refreshes, which publish them.
        if let Some(headroom) = self.daily_headroom() {
            metrics::gauge!(names::SES_QUOTA_HEADROOM, "account" => self.account.clone())
                .set(headroom);
        }
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
        bucket.rate = (bucket.rate * 0.8).max(0.01);
        bucket.tokens = 0.0;
        drop(bucket);
        metrics::counter!(names::SES_THROTTLES, "account" => self.account.clone()).increment(1);
        self.publish_gauges();
    }

    /// Replaces the quota with a fresh `GetAccount` reading.
    pub fn refresh(&self, quota: Quota) {
        let mut bucket = self.bucket.lock().expect("pacer lock poisoned");
        bucket.quota = quota;
        bucket.rate = bucket.rate.min(quota.ceiling());
        bucket.tokens = bucket.tokens.min(bucket.burst());
        bucket.sent_since_refresh = 0.0;
        bucket.refreshed_at = Instant::now();
        drop(bucket);
        self.publish_gauges();
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

    /// Messages left in the rolling 24-hour budget for bulk sending, or
    /// `None` when unlimited.
    pub fn daily_headroom(&self) -> Option<f64> {
        let bucket = self.bucket.lock().expect("pacer lock poisoned");
        let quota = bucket.quota;
        (quota.max_24h_send >= 0.0).then(|| {
            (quota.max_24h_send - self.reserve - quota.sent_last_24h - bucket.sent_since_refresh)
                .max(0.0)
        })
    }

    fn publish_gauges(&self) {
        let (rate, quota) = {
            let bucket = self.bucket.lock().expect("pacer lock poisoned");
            (bucket.rate, bucket.quota)
        };
        let account = self.account.clone();
        metrics::gauge!(names::SES_MAX_SEND_RATE, "account" => account.clone())
            .set(quota.max_send_rate);
        metrics::gauge!(names::SES_PACED_RATE, "account" => account.clone()).set(rate);
        if let Some(headroom) = self.daily_headroom() {
            metrics::gauge!(names::SES_QUOTA_HEADROOM, "account" => account).set(headroom);
        }
    }
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

    fn pacer(rate: f64, max_24h: f64, reserve: f64) -> AccountPacer {
        AccountPacer::new("123456789012", quota(rate, max_24h), reserve)
    }

    #[tokio::test(start_paused = true)]
    async fn rate_is_held_below_max_send_rate() {
        let pacer = pacer(10.0, -1.0, 0.0);
        let start = Instant::now();
        for _ in 0..100 {
            pacer.acquire(1, Lane::Bulk).await.unwrap();
        }
        // 4.85 tokens of burst, then 95.15 more at 9.7/s.
        let elapsed = start.elapsed().as_secs_f64();
        let expected = (100.0 - 4.85) / 9.7;
        assert!(
            (elapsed - expected).abs() < 0.05,
            "elapsed {elapsed}, expected {expected}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn ses_never_throttles_even_with_arrival_jitter() {
        // Replays the grants against SES's own bucket: MaxSendRate tokens,
        // refilled at MaxSendRate per second, a call admitted only when all
        // its recipients fit. Every other call arrives 20 ms late, so pairs
        // of calls bunch up, and none may be rejected.
        for rate in [1.0, 14.0, 200.0, 5_000.0] {
            let pacer = pacer(rate, -1.0, 0.0);
            let call = pacer.max_call_size().min(50) as u32;
            let start = Instant::now();
            let mut arrivals = Vec::new();
            while start.elapsed() < Duration::from_secs(10) {
                pacer.acquire(call, Lane::Bulk).await.unwrap();
                let late = if arrivals.len() % 2 == 0 { 0.02 } else { 0.0 };
                arrivals.push((start.elapsed().as_secs_f64() + late, f64::from(call)));
            }
            arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));

            let mut tokens = rate;
            let mut last = 0.0;
            for &(at, cost) in &arrivals {
                tokens = (tokens + (at - last) * rate).min(rate);
                last = at;
                assert!(
                    tokens >= cost - 1e-9,
                    "rate {rate}: call of {cost} at {at} s rejected"
                );
                tokens -= cost;
            }
            // Recipients after the first call past one second, over the
            // time from that call to the last one.
            let after: Vec<_> = arrivals.iter().filter(|(at, _)| *at >= 1.0).collect();
            let first = after[0].0;
            let counted: f64 = after[1..].iter().map(|(_, n)| n).sum();
            let sustained = counted / (last - first);
            assert!(
                (0.95 * rate..=rate).contains(&sustained),
                "rate {rate}: sustained {sustained}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn oversized_request_is_split() {
        let pacer = pacer(10.0, -1.0, 0.0);
        assert_eq!(pacer.max_call_size(), 4);
        let start = Instant::now();
        pacer.acquire(50, Lane::Bulk).await.unwrap();
        let elapsed = start.elapsed().as_secs_f64();
        let expected = (50.0 - 4.85) / 9.7;
        assert!(
            (elapsed - expected).abs() < 0.2,
            "50 tokens took {elapsed}, expected {expected}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn daily_quota_keeps_the_reserve_for_priority() {
        let pacer = pacer(1_000.0, 100.0, 10.0);
        pacer.acquire(90, Lane::Bulk).await.unwrap();
        assert_eq!(
            pacer.acquire(1, Lane::Bulk).await,
            Err(PaceError::DailyQuotaReached)
        );
        pacer.acquire(10, Lane::Priority).await.unwrap();
        assert_eq!(
            pacer.acquire(1, Lane::Priority).await,
            Err(PaceError::DailyQuotaReached)
        );
        pacer.refund(5);
        assert_eq!(pacer.daily_headroom(), Some(0.0));
        pacer.acquire(5, Lane::Priority).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_replaces_the_daily_count() {
        let pacer = pacer(1_000.0, 100.0, 0.0);
        pacer.acquire(100, Lane::Bulk).await.unwrap();
        assert!(pacer.acquire(1, Lane::Bulk).await.is_err());
        pacer.refresh(Quota {
            max_send_rate: 1_000.0,
            max_24h_send: 200.0,
            sent_last_24h: 100.0,
        });
        assert_eq!(pacer.daily_headroom(), Some(100.0));
        pacer.acquire(100, Lane::Bulk).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_lowers_then_recovers() {
        let pacer = pacer(100.0, -1.0, 0.0);
        pacer.on_throttle();
        assert!((pacer.rate() - 97.0 * 0.8).abs() < 1e-9);
        for _ in 0..20 {
            pacer.acquire(1, Lane::Bulk).await.unwrap();
        }
        assert!((pacer.rate() - 97.0).abs() < 1e-9, "rate {}", pacer.rate());
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_lowers_the_rate() {
        let pacer = pacer(100.0, -1.0, 0.0);
        pacer.refresh(quota(10.0, -1.0));
        assert!((pacer.rate() - 9.7).abs() < 1e-9);
        assert_eq!(pacer.max_call_size(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn non_positive_rate_is_unlimited() {
        let pacer = pacer(-1.0, -1.0, 0.0);
        let start = Instant::now();
        pacer.acquire(100_000, Lane::Bulk).await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(pacer.max_call_size(), usize::MAX);
    }

    #[test]
    fn call_size_follows_rate() {
        assert_eq!(pacer(14.0, -1.0, 0.0).max_call_size(), 6);
        assert_eq!(pacer(1.0, -1.0, 0.0).max_call_size(), 1);
        assert_eq!(pacer(0.5, -1.0, 0.0).max_call_size(), 1);
        assert_eq!(pacer(5_000.0, -1.0, 0.0).max_call_size(), 2_425);
    }

    #[tokio::test(start_paused = true)]
    async fn priority_is_served_before_a_running_broadcast() {
        let pacer = Arc::new(pacer(10.0, -1.0, 0.0));
        // A broadcast keeps four callers waiting for tokens all the time.
        let bulk_done = Arc::new(AtomicUsize::new(0));
        let mut broadcast = Vec::new();
        for _ in 0..4 {
            let pacer = pacer.clone();
            let done = bulk_done.clone();
            broadcast.push(tokio::spawn(async move {
                loop {
                    pacer.acquire(4, Lane::Bulk).await.unwrap();
                    done.fetch_add(4, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;

        // A confirmation mail gets the next token: within one token
        // interval, while bulk callers queued before it still wait.
        let requested = Instant::now();
        pacer.acquire(1, Lane::Priority).await.unwrap();
        let waited = requested.elapsed().as_secs_f64();
        assert!(waited <= 1.0 / 9.7 + 0.01, "priority waited {waited} s");

        // Without the lane it would wait behind the queued bulk pieces.
        for task in broadcast {
            task.abort();
        }
        assert!(bulk_done.load(Ordering::Relaxed) > 0);
    }
}
