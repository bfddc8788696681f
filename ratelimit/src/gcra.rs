//! The generic cell rate algorithm (GCRA) over one or more windows.
//!
//! A window of `limit` tokens per `period` is a token bucket of at most
//! `limit` tokens and refills one token every `period / limit`. GCRA
//! keeps one number per window instead of a token count: the theoretical
//! arrival time (TAT), the instant at which the bucket would be full again.
//! A request of `cost` tokens is allowed when moving the TAT forward by
//! `cost` intervals keeps it no more than `period` ahead of now.
//!
//! Several windows (per minute and per day, say) are decided together and
//! charged all or nothing, so a request rejected by the daily window does
//! not use up the minute window.
//!
//! The arithmetic here is shared by the in-process limiter and the Redis
//! script, which returns the same offsets this module consumes.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::{Clock, SystemClock};

/// One token-bucket window: at most `limit` tokens, refilled evenly over
/// `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub limit: u64,
    pub period: Duration,
}

impl Window {
    pub fn per_second(limit: u64) -> Self {
        Self {
            limit,
            period: Duration::from_secs(1),
        }
    }

    pub fn per_minute(limit: u64) -> Self {
        Self {
            limit,
            period: Duration::from_secs(60),
        }
    }

    pub fn per_hour(limit: u64) -> Self {
        Self {
            limit,
            period: Duration::from_secs(3600),
        }
    }

    pub fn per_day(limit: u64) -> Self {
        Self {
            limit,
            period: Duration::from_secs(86_400),
        }
    }

    /// Ticks of `resolution` nanoseconds between two tokens, at least one.
    pub fn interval(&self, resolution: u64) -> u64 {
        (self.tolerance(resolution) / self.limit.max(1)).max(1)
    }

    /// Returns how far the TAT may run ahead of now, in ticks of
    /// `resolution` nanoseconds: the whole period.
    pub fn tolerance(&self, resolution: u64) -> u64 {
        (self.period.as_nanos() / u128::from(resolution.max(1))) as u64
    }

    /// Returns the `RateLimit-Policy` item of this window, such as `50;w=60`.
    pub fn policy(&self) -> String {
        format!("{};w={}", self.limit, self.period.as_secs())
    }
}

/// The state of one window after a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowState {
    pub window: Window,
    /// Whole tokens left after this request.
    pub remaining: u64,
    /// Time until the bucket is full again (after an allowed request) or
    /// until this request would fit (after a rejection by this window).
    pub reset: Duration,
    /// Whether this window alone would have let the request through.
    pub allowed: bool,
    /// How far the window's TAT is ahead of now after the decision, in the
    /// resolution's ticks.
    pub ahead: u64,
}

/// The result of charging `cost` tokens against a set of windows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// One state per window, in the order the windows were given.
    pub windows: Vec<WindowState>,
    /// The wait after which a rejected request fits in every window.
    /// `None` when allowed, or when the cost is above a window's limit so
    /// the request can never fit.
    pub retry_after: Option<Duration>,
}

impl Decision {
    /// Returns the window the headers describe, the one closest to running
    /// out: the lowest share of tokens left, then the longer reset.
    pub fn tightest(&self) -> Option<&WindowState> {
        self.windows.iter().min_by(|a, b| {
            let left_a = u128::from(a.remaining) * u128::from(b.window.limit.max(1));
            let left_b = u128::from(b.remaining) * u128::from(a.window.limit.max(1));
            left_a.cmp(&left_b).then(b.reset.cmp(&a.reset))
        })
    }
}

/// Decides a request from each window's TAT offset, `tat - now` clamped at
/// zero (how far the window's TAT is ahead of now), in ticks of `resolution`
/// nanoseconds: 1 in this process, 1,000 for the Redis script, which counts
/// microseconds so that its numbers stay exact in Lua's doubles.
///
/// When the decision allows the request, each window's new offset is in
/// its state's `ahead`.
pub fn decide(offsets: &[u64], windows: &[Window], cost: u64, resolution: u64) -> Decision {
    debug_assert_eq!(offsets.len(), windows.len());
    let charged = |offset: u64, window: &Window| {
        offset.saturating_add(cost.saturating_mul(window.interval(resolution)))
    };
    let mut allowed = true;
    let mut never = false;
    let mut retry_after = 0_u64;
    for (&offset, window) in offsets.iter().zip(windows) {
        let tolerance = window.tolerance(resolution);
        let charged = charged(offset, window);
        if charged > tolerance || window.limit == 0 {
            allowed = false;
            never |= cost > window.limit;
            retry_after = retry_after.max(charged.saturating_sub(tolerance));
        }
    }

    let states = offsets
        .iter()
        .zip(windows)
        .map(|(&offset, window)| {
            let interval = window.interval(resolution);
            let tolerance = window.tolerance(resolution);
            let next = charged(offset, window);
            let fits = next <= tolerance && window.limit > 0;
            let ahead = if allowed { next } else { offset };
            let reset = if allowed || fits {
                ahead
            } else {
                next.saturating_sub(tolerance)
            };
            WindowState {
                window: *window,
                remaining: (tolerance.saturating_sub(ahead) / interval).min(window.limit),
                reset: Duration::from_nanos(reset.saturating_mul(resolution)),
                allowed: fits,
                ahead,
            }
        })
        .collect();

    Decision {
        allowed,
        windows: states,
        retry_after: (!allowed && !never)
            .then(|| Duration::from_nanos(retry_after.saturating_mul(resolution))),
    }
}

/// A limiter keyed by string, in this process only.
///
/// State is one TAT per key and window, in a fixed number of mutex-guarded
/// maps picked by the key's hash, so unrelated keys rarely contend. Entries
/// whose buckets are full again carry no information and are dropped when
/// a map grows.
#[derive(Debug)]
pub struct LocalLimiter {
    clock: Arc<dyn Clock>,
    hasher: RandomState,
    maps: Vec<Mutex<HashMap<String, Entry>>>,
}

#[derive(Debug)]
struct Entry {
    windows: Vec<Window>,
    /// TAT of each window, in nanoseconds since the epoch.
    tats: [u64; MAX_WINDOWS],
}

impl Entry {
    fn new(windows: &[Window]) -> Self {
        Self {
            windows: windows.to_vec(),
            tats: [0; MAX_WINDOWS],
        }
    }

    fn charge(&mut self, now: u64, windows: &[Window], cost: u64) -> Decision {
        let mut offsets = [0_u64; MAX_WINDOWS];
        for (offset, tat) in offsets.iter_mut().zip(&self.tats) {
            *offset = tat.saturating_sub(now);
        }
        let decision = decide(&offsets[..windows.len()], windows, cost, 1);
        if decision.allowed {
            for (tat, state) in self.tats.iter_mut().zip(&decision.windows) {
                *tat = now.saturating_add(state.ahead);
            }
        }
        decision
    }
}

/// Windows one key may have in [`LocalLimiter`].
pub const MAX_WINDOWS: usize = 4;
const MAPS: usize = 16;
/// Size at which a map drops entries whose buckets are full.
const PRUNE_AT: usize = 4096;

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl LocalLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            hasher: RandomState::new(),
            maps: (0..MAPS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Charges `cost` tokens to `key` against `windows` (at most
    /// [`MAX_WINDOWS`]), all or nothing.
    ///
    /// A key keeps its state per window; when the windows of a key change
    /// (a new plan), the state restarts full.
    pub fn check(&self, key: &str, windows: &[Window], cost: u64) -> Decision {
        assert!(
            windows.len() <= MAX_WINDOWS,
            "a key has at most {MAX_WINDOWS} windows"
        );
        let now = self.clock.now_nanos();
        let map = &self.maps[(self.hasher.hash_one(key) as usize) % MAPS];
        let mut map = map.lock().expect("limiter map lock poisoned");
        if let Some(entry) = map.get_mut(key) {
            if entry.windows != windows {
                *entry = Entry::new(windows);
            }
            return entry.charge(now, windows, cost);
        }
        if map.len() >= PRUNE_AT {
            map.retain(|_, entry| entry.tats.iter().any(|&tat| tat > now));
        }
        map.entry(key.to_owned())
            .or_insert_with(|| Entry::new(windows))
            .charge(now, windows, cost)
    }

    /// Gives back `cost` tokens that were charged but not used.
    pub fn refund(&self, key: &str, windows: &[Window], cost: u64) {
        let map = &self.maps[(self.hasher.hash_one(key) as usize) % MAPS];
        let mut map = map.lock().expect("limiter map lock poisoned");
        if let Some(entry) = map.get_mut(key) {
            if entry.windows == windows {
                for (tat, window) in entry.tats.iter_mut().zip(windows) {
                    *tat = tat.saturating_sub(cost.saturating_mul(window.interval(1)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn limiter() -> (LocalLimiter, ManualClock) {
        let clock = ManualClock::starting_at(Duration::from_secs(1_700_000_000));
        (LocalLimiter::new(Arc::new(clock.clone())), clock)
    }

    #[test]
    fn burst_then_one_token_per_interval() {
        let (limiter, clock) = limiter();
        let minute = [Window::per_minute(50)];
        for expected in (0..50).rev() {
            let decision = limiter.check("org", &minute, 1);
            assert!(decision.allowed);
            assert_eq!(decision.windows[0].remaining, expected);
        }
        let rejected = limiter.check("org", &minute, 1);
        assert!(!rejected.allowed);
        assert_eq!(rejected.windows[0].remaining, 0);
        // One token every 1.2 s.
        assert_eq!(rejected.retry_after, Some(Duration::from_millis(1200)));

        clock.advance(Duration::from_millis(1199));
        assert!(!limiter.check("org", &minute, 1).allowed);
        clock.advance(Duration::from_millis(1));
        let decision = limiter.check("org", &minute, 1);
        assert!(decision.allowed);
        assert_eq!(decision.windows[0].remaining, 0);
    }

    #[test]
    fn reset_is_time_until_full() {
        let (limiter, clock) = limiter();
        let minute = [Window::per_minute(60)];
        limiter.check("org", &minute, 1);
        let decision = limiter.check("org", &minute, 1);
        assert_eq!(decision.windows[0].reset, Duration::from_secs(2));
        clock.advance(Duration::from_secs(5));
        let decision = limiter.check("org", &minute, 1);
        assert_eq!(decision.windows[0].reset, Duration::from_secs(1));
        assert_eq!(decision.windows[0].remaining, 59);
    }

    #[test]
    fn rejected_request_is_not_charged() {
        let (limiter, clock) = limiter();
        let second = [Window::per_second(10)];
        assert!(limiter.check("org", &second, 10).allowed);
        for _ in 0..100 {
            assert!(!limiter.check("org", &second, 1).allowed);
        }
        clock.advance(Duration::from_millis(100));
        assert!(limiter.check("org", &second, 1).allowed);
    }

    #[test]
    fn windows_are_charged_all_or_nothing() {
        let (limiter, clock) = limiter();
        let windows = [Window::per_second(100), Window::per_day(150)];
        assert!(limiter.check("org", &windows, 100).allowed);
        clock.advance(Duration::from_secs(1));
        // The day window has 50 left: 60 is rejected by it alone.
        let rejected = limiter.check("org", &windows, 60);
        assert!(!rejected.allowed);
        assert!(rejected.windows[0].allowed);
        assert!(!rejected.windows[1].allowed);
        // The second window was not charged by the rejection.
        let decision = limiter.check("org", &windows, 50);
        assert!(decision.allowed);
        assert_eq!(decision.windows[0].remaining, 50);
        assert_eq!(decision.windows[1].remaining, 0);
        assert_eq!(decision.tightest().unwrap().window, Window::per_day(150));
    }

    #[test]
    fn cost_above_limit_never_fits() {
        let (limiter, _) = limiter();
        let decision = limiter.check("org", &[Window::per_second(5)], 6);
        assert!(!decision.allowed);
        assert_eq!(decision.retry_after, None);
    }

    #[test]
    fn keys_are_independent() {
        let (limiter, _) = limiter();
        let second = [Window::per_second(1)];
        assert!(limiter.check("a", &second, 1).allowed);
        assert!(!limiter.check("a", &second, 1).allowed);
        assert!(limiter.check("b", &second, 1).allowed);
    }

    #[test]
    fn changed_windows_restart_the_key() {
        let (limiter, _) = limiter();
        assert!(limiter.check("org", &[Window::per_minute(1)], 1).allowed);
        assert!(!limiter.check("org", &[Window::per_minute(1)], 1).allowed);
        assert!(limiter.check("org", &[Window::per_minute(2000)], 1).allowed);
    }

    #[test]
    fn refund_returns_tokens() {
        let (limiter, _) = limiter();
        let second = [Window::per_second(10)];
        assert!(limiter.check("org", &second, 10).allowed);
        limiter.refund("org", &second, 4);
        assert!(limiter.check("org", &second, 4).allowed);
        assert!(!limiter.check("org", &second, 1).allowed);
    }

    #[test]
    fn sustained_rate_matches_the_limit() {
        let (limiter, clock) = limiter();
        let second = [Window::per_second(14)];
        let mut granted = 0;
        // 10 s in 1 ms steps: 14 of burst plus 140 refilled.
        for _ in 0..10_000 {
            while limiter.check("org", &second, 1).allowed {
                granted += 1;
            }
            clock.advance(Duration::from_millis(1));
        }
        assert!((153..=154).contains(&granted), "granted {granted}");
    }

    #[test]
    fn full_buckets_are_pruned() {
        let (limiter, clock) = limiter();
        let second = [Window::per_second(1)];
        for index in 0..(PRUNE_AT * MAPS * 2) {
            limiter.check(&format!("key-{index}"), &second, 1);
            clock.advance(Duration::from_millis(1));
        }
        let total: usize = limiter.maps.iter().map(|m| m.lock().unwrap().len()).sum();
        assert!(total <= PRUNE_AT * MAPS, "{total} entries kept");
    }

    #[test]
    fn policy_text() {
        assert_eq!(Window::per_minute(2000).policy(), "2000;w=60");
        assert_eq!(Window::per_hour(100).policy(), "100;w=3600");
    }
}
