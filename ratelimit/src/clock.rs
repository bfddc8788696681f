//! Time source of the GCRA limiters, injectable so tests control it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time in nanoseconds since the Unix epoch.
///
/// Wall-clock rather than monotonic time, because the shared limiter keeps
/// its state in Redis where every process must read the same scale.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_nanos(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_nanos(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when a test advances it.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// Starts at `start` after the epoch.
    pub fn starting_at(start: Duration) -> Self {
        Self(Arc::new(AtomicU64::new(start.as_nanos() as u64)))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}
