//! SES sending limits: the per-second rate and the rolling 24-hour quota.
//!
//! Both count recipients, not calls: SES charges a message to ten recipients as ten
//! sends. And both let a call through while any quota remains, even when the call is
//! larger than what remains, then reject calls until the debt is paid off. The Amazon
//! SES blog post "What Happens When You Reach Your Sending Limits?" describes this for
//! a one-per-second account sending to five recipients at once.
//!
//! [`RateMode::Strict`] replaces that rule for the rate with a stricter one, under which
//! a sender that ever goes above `MaxSendRate` is throttled. Rate-fidelity runs use it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rule of the `MaxSendRate` limiter for a call larger than what remains of the burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RateMode {
    /// As SES does: a call is admitted while at least one recipient's worth of the
    /// one-second burst remains, even when it carries more recipients than that, and
    /// the overdraft is paid back before the next call passes.
    #[default]
    Debt,
    /// A call is admitted only when every one of its recipients fits in what remains
    /// of the one-second burst. A sender is throttled as soon as it goes faster than
    /// `MaxSendRate`, and a call larger than the whole burst is never admitted.
    Strict,
}

/// A recipient-weighted GCRA cell for `MaxSendRate`.
///
/// The state is one theoretical arrival time (TAT) in nanoseconds since `origin`, updated
/// with compare-and-swap, so concurrent calls never wait on a lock. The tolerance is the
/// one-second burst, or one interval when the rate is below one per second. A call of
/// `recipients` costs `recipients * interval` and, when admitted, moves the TAT to
/// `max(TAT, now) + cost`. In [`RateMode::Debt`] a call is admitted iff
/// `max(TAT, now) + interval - now <= tolerance`, so one recipient's worth of burst is
/// enough; in [`RateMode::Strict`] iff `max(TAT, now) + cost - now <= tolerance`.
#[derive(Debug)]
pub(crate) struct SendRateLimiter {
    origin: Instant,
    mode: RateMode,
    interval_nanos: f64,
    tolerance_nanos: u64,
    tat_nanos: AtomicU64,
}

impl SendRateLimiter {
    /// Creates a limiter for `max_send_rate` recipients per second (positive and finite).
    pub(crate) fn new(max_send_rate: f64, mode: RateMode, origin: Instant) -> Self {
        let interval_nanos = 1e9 / max_send_rate;
        // One second of burst, or one recipient's interval when the rate is below 1/s.
        let tolerance_nanos = interval_nanos.max(1e9) as u64;
        Self {
            origin,
            mode,
            interval_nanos,
            tolerance_nanos,
            tat_nanos: AtomicU64::new(0),
        }
    }

    /// Admits a call for `recipients` at `now`, or returns false without changing state.
    pub(crate) fn try_acquire(&self, now: Instant, recipients: u64) -> bool {
        let now_nanos = self.nanos_since_origin(now);
        let cost = (recipients as f64 * self.interval_nanos) as u64;
        let needed = match self.mode {
            RateMode::Debt => self.interval_nanos as u64,
            RateMode::Strict => cost,
        };
        let limit = now_nanos + self.tolerance_nanos;

        let mut current = self.tat_nanos.load(Ordering::Acquire);
        loop {
            if current.max(now_nanos) + needed > limit {
                return false;
            }
            let next = current.max(now_nanos) + cost;
            match self.tat_nanos.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(observed) => current = observed,
            }
        }
    }

    /// Gives back what `try_acquire` took, for a call rejected by a later check.
    pub(crate) fn release(&self, recipients: u64) {
        let cost = (recipients as f64 * self.interval_nanos) as u64;
        // The closure always returns Some, so fetch_update cannot fail.
        let _ = self
            .tat_nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                Some(tat.saturating_sub(cost))
            });
    }

    pub(crate) fn reset(&self) {
        self.tat_nanos.store(0, Ordering::Release);
    }

    fn nanos_since_origin(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_nanos() as u64
    }
}

/// Length of the `Max24HourSend` window.
pub(crate) const QUOTA_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Recipients sent in the last 24 hours, in one-second buckets, with an optional quota.
///
/// It is kept even without a quota because `GetAccount` reports `SentLast24Hours`. The
/// mutex is held only to evict expired buckets and add one count.
#[derive(Debug)]
pub(crate) struct SendWindow {
    origin: Instant,
    max_24_hour_send: Option<u64>,
    inner: Mutex<WindowBuckets>,
}

#[derive(Debug, Default)]
struct WindowBuckets {
    /// (second since origin, recipients sent in that second), oldest first.
    buckets: VecDeque<(u64, u64)>,
    total: u64,
}

impl WindowBuckets {
    fn evict_before(&mut self, now_second: u64) {
        let window_seconds = QUOTA_WINDOW.as_secs();
        while let Some(&(second, count)) = self.buckets.front() {
            if second + window_seconds > now_second {
                break;
            }
            self.total -= count;
            self.buckets.pop_front();
        }
    }

    fn add(&mut self, now_second: u64, recipients: u64) {
        match self.buckets.back_mut() {
            Some((second, count)) if *second == now_second => *count += recipients,
            _ => self.buckets.push_back((now_second, recipients)),
        }
        self.total += recipients;
    }
}

impl SendWindow {
    pub(crate) fn new(max_24_hour_send: Option<u64>, origin: Instant) -> Self {
        Self {
            origin,
            max_24_hour_send,
            inner: Mutex::new(WindowBuckets::default()),
        }
    }

    /// Counts `recipients` at `now` unless the quota is already used up.
    pub(crate) fn try_reserve(&self, now: Instant, recipients: u64) -> bool {
        let now_second = self.second_of(now);
        let mut inner = self.lock();
        inner.evict_before(now_second);
        if let Some(max) = self.max_24_hour_send {
            if inner.total >= max {
                return false;
            }
        }
        inner.add(now_second, recipients);
        true
    }

    pub(crate) fn sent_last_24_hours(&self, now: Instant) -> u64 {
        let now_second = self.second_of(now);
        let mut inner = self.lock();
        inner.evict_before(now_second);
        inner.total
    }

    pub(crate) fn max_24_hour_send(&self) -> Option<u64> {
        self.max_24_hour_send
    }

    pub(crate) fn reset(&self) {
        *self.lock() = WindowBuckets::default();
    }

    fn second_of(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_secs()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WindowBuckets> {
        // The buckets stay consistent even if a holder panicked: every update is a
        // single push, pop or add.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_admits_one_second_burst_then_rejects() {
        let origin = Instant::now();
        let limiter = SendRateLimiter::new(5.0, RateMode::Debt, origin);
        let admitted = (0..20).filter(|_| limiter.try_acquire(origin, 1)).count();
        assert_eq!(admitted, 5);
    }

    #[test]
    fn rate_refills_at_max_send_rate() {
        let origin = Instant::now();
        let limiter = SendRateLimiter::new(5.0, RateMode::Debt, origin);
        while limiter.try_acquire(origin, 1) {}

        let later = origin + Duration::from_millis(200);
        assert!(limiter.try_acquire(later, 1));
        assert!(!limiter.try_acquire(later, 1));
    }

    #[test]
    fn rate_lets_large_call_into_debt() {
        let origin = Instant::now();
        let limiter = SendRateLimiter::new(1.0, RateMode::Debt, origin);
        assert!(limiter.try_acquire(origin, 5));

        // Five recipients at one per second: nothing more until five seconds later.
        assert!(!limiter.try_acquire(origin + Duration::from_secs(4), 1));
        assert!(limiter.try_acquire(origin + Duration::from_secs(5), 1));
    }

    #[test]
    fn rate_below_one_per_second_admits_first_call() {
        let origin = Instant::now();
        let limiter = SendRateLimiter::new(0.5, RateMode::Debt, origin);
        assert!(limiter.try_acquire(origin, 1));
        assert!(!limiter.try_acquire(origin + Duration::from_secs(1), 1));
        assert!(limiter.try_acquire(origin + Duration::from_secs(2), 1));
    }

    #[test]
    fn rate_release_returns_tokens() {
        let origin = Instant::now();
        let limiter = SendRateLimiter::new(2.0, RateMode::Debt, origin);
        assert!(limiter.try_acquire(origin, 2));
        assert!(!limiter.try_acquire(origin, 1));
        limiter.release(2);
        assert!(limiter.try_acquire(origin, 1));
    }

    #[test]
    fn strict_admits_calls_that_fit_in_what_remains() {
        let origin = Instant::now();
        let limiter = SendRateLimiter::new(5.0, RateMode::Strict, origin);
        assert!(limiter.try_acquire(origin, 3));
        // Two of the five recipients of the burst remain: three do not fit, two do.
        assert!(!limiter.try_acquire(origin, 3));
        assert!(limiter.try_acquire(origin, 2));
        assert!(!limiter.try_acquire(origin, 1));
    }

    #[test]
    fn debt_admits_the_call_that_strict_rejects() {
        let origin = Instant::now();
        let debt = SendRateLimiter::new(5.0, RateMode::Debt, origin);
        let strict = SendRateLimiter::new(5.0, RateMode::Strict, origin);
        assert!(debt.try_acquire(origin, 3));
        assert!(strict.try_acquire(origin, 3));
        assert!(debt.try_acquire(origin, 3));
        assert!(!strict.try_acquire(origin, 3));
    }

    #[test]
    fn strict_refills_one_recipient_per_interval() {
        let origin = Instant::now();
        let limiter = SendRateLimiter::new(200.0, RateMode::Strict, origin);
        let admitted = (0..10).filter(|_| limiter.try_acquire(origin, 50)).count();
        assert_eq!(admitted, 4);

        // 250 ms refill 50 recipients at 200/s; 245 ms refill only 49.
        assert!(!limiter.try_acquire(origin + Duration::from_millis(245), 50));
        assert!(limiter.try_acquire(origin + Duration::from_millis(245), 49));
        assert!(!limiter.try_acquire(origin + Duration::from_millis(250), 50));
        assert!(limiter.try_acquire(origin + Duration::from_millis(495), 50));
    }

    #[test]
    fn strict_one_per_second_spacing() {
        let origin = Instant::now();
        let limiter = SendRateLimiter::new(1.0, RateMode::Strict, origin);
        assert!(limiter.try_acquire(origin, 1));
        assert!(!limiter.try_acquire(origin + Duration::from_millis(999), 1));
        assert!(limiter.try_acquire(origin + Duration::from_secs(1), 1));
        assert!(!limiter.try_acquire(origin + Duration::from_millis(1999), 1));
        assert!(limiter.try_acquire(origin + Duration::from_secs(2), 1));
    }

    #[test]
    fn strict_full_burst_call_waits_one_second() {
        let origin = Instant::now();
        let limiter = SendRateLimiter::new(14.0, RateMode::Strict, origin);
        assert!(limiter.try_acquire(origin, 14));
        assert!(!limiter.try_acquire(origin + Duration::from_millis(990), 14));
        assert!(limiter.try_acquire(origin + Duration::from_secs(1), 14));
    }

    #[test]
    fn strict_rejects_call_above_burst() {
        let origin = Instant::now();
        let limiter = SendRateLimiter::new(14.0, RateMode::Strict, origin);
        assert!(!limiter.try_acquire(origin, 15));
        assert!(!limiter.try_acquire(origin + Duration::from_secs(60), 15));
        // The rejections took nothing.
        assert!(limiter.try_acquire(origin + Duration::from_secs(60), 14));
    }

    #[test]
    fn strict_below_one_per_second() {
        let origin = Instant::now();
        let limiter = SendRateLimiter::new(0.5, RateMode::Strict, origin);
        assert!(!limiter.try_acquire(origin, 2));
        assert!(limiter.try_acquire(origin, 1));
        assert!(!limiter.try_acquire(origin + Duration::from_millis(1999), 1));
        assert!(limiter.try_acquire(origin + Duration::from_secs(2), 1));
    }

    #[test]
    fn strict_release_returns_tokens() {
        let origin = Instant::now();
        let limiter = SendRateLimiter::new(4.0, RateMode::Strict, origin);
        assert!(limiter.try_acquire(origin, 4));
        limiter.release(2);
        assert!(!limiter.try_acquire(origin, 3));
        assert!(limiter.try_acquire(origin, 2));
    }

    #[test]
    fn window_rejects_once_quota_used() {
        let origin = Instant::now();
        let window = SendWindow::new(Some(10), origin);
        assert!(window.try_reserve(origin, 8));
        // SES admits a call while any quota remains, even one that overshoots it.
        assert!(window.try_reserve(origin, 5));
        assert!(!window.try_reserve(origin, 1));
        assert_eq!(window.sent_last_24_hours(origin), 13);
    }

    #[test]
    fn window_forgets_sends_after_24_hours() {
        let origin = Instant::now();
        let window = SendWindow::new(Some(3), origin);
        assert!(window.try_reserve(origin, 3));
        assert!(!window.try_reserve(origin + QUOTA_WINDOW - Duration::from_secs(1), 1));

        let next_day = origin + QUOTA_WINDOW;
        assert_eq!(window.sent_last_24_hours(next_day), 0);
        assert!(window.try_reserve(next_day, 1));
    }
}
