//! Fault injection: latency, random throttling, random server errors, and responses
//! lost after the send was accepted. All of it can change while the simulator runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::rng;

/// Fault settings that `POST /sim/config` and `SimServer::set_faults` change at run time.
///
/// Ratios are stored as `f64` bits in atomics so the send path reads them without a lock.
/// Each decision draws the next value of one seeded SplitMix64 stream through an atomic
/// counter, so a run with the same seed and the same call order makes the same decisions.
/// Concurrent calls may take the draws in a different order.
#[derive(Debug)]
pub(crate) struct Faults {
    throttle_ratio: AtomicU64,
    server_error_ratio: AtomicU64,
    fail_after_accept_ratio: AtomicU64,
    latency_millis: AtomicU64,
    stall: Duration,
    seed: u64,
    draws: AtomicU64,
}

/// A fault injected before a send is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InjectedFault {
    Throttle,
    ServerError,
}

/// The current fault settings, as `/sim/config` returns them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FaultSettings {
    pub(crate) throttle_ratio: f64,
    pub(crate) server_error_ratio: f64,
    pub(crate) fail_after_accept_ratio: f64,
    pub(crate) latency: Duration,
}

impl Faults {
    pub(crate) fn new(settings: FaultSettings, stall: Duration, seed: u64) -> Self {
        let faults = Self {
            throttle_ratio: AtomicU64::new(0),
            server_error_ratio: AtomicU64::new(0),
            fail_after_accept_ratio: AtomicU64::new(0),
            latency_millis: AtomicU64::new(0),
            stall,
            seed,
            draws: AtomicU64::new(0),
        };
        faults.apply(settings);
        faults
    }

    /// Replaces every setting. Ratios are clamped to `[0, 1]`, and NaN counts as 0.
    pub(crate) fn apply(&self, settings: FaultSettings) {
        store_ratio(&self.throttle_ratio, settings.throttle_ratio);
        store_ratio(&self.server_error_ratio, settings.server_error_ratio);
        store_ratio(
            &self.fail_after_accept_ratio,
            settings.fail_after_accept_ratio,
        );
        let latency_millis = u64::try_from(settings.latency.as_millis()).unwrap_or(u64::MAX);
        self.latency_millis.store(latency_millis, Ordering::Relaxed);
    }

    pub(crate) fn settings(&self) -> FaultSettings {
        FaultSettings {
            throttle_ratio: load_ratio(&self.throttle_ratio),
            server_error_ratio: load_ratio(&self.server_error_ratio),
            fail_after_accept_ratio: load_ratio(&self.fail_after_accept_ratio),
            latency: self.latency(),
        }
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_millis.load(Ordering::Relaxed))
    }

    /// How long a lost response keeps its connection open before aborting it.
    pub(crate) fn stall(&self) -> Duration {
        self.stall
    }

    /// Decides whether a send call is throttled or fails before it is admitted.
    pub(crate) fn before_admission(&self) -> Option<InjectedFault> {
        if self.draw_below(&self.throttle_ratio) {
            return Some(InjectedFault::Throttle);
        }
        if self.draw_below(&self.server_error_ratio) {
            return Some(InjectedFault::ServerError);
        }
        None
    }

    /// Decides whether an accepted send loses its response.
    pub(crate) fn lose_response(&self) -> bool {
        self.draw_below(&self.fail_after_accept_ratio)
    }

    /// Draws only when the ratio is set, so a fault-free run costs one atomic load.
    fn draw_below(&self, ratio: &AtomicU64) -> bool {
        let ratio = load_ratio(ratio);
        if ratio <= 0.0 {
            return false;
        }
        let index = self.draws.fetch_add(1, Ordering::Relaxed);
        rng::unit_f64(rng::nth_output(self.seed, index)) < ratio
    }
}

fn store_ratio(cell: &AtomicU64, ratio: f64) {
    let ratio = if ratio.is_nan() {
        0.0
    } else {
        ratio.clamp(0.0, 1.0)
    };
    cell.store(ratio.to_bits(), Ordering::Relaxed);
}

fn load_ratio(cell: &AtomicU64) -> f64 {
    f64::from_bits(cell.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(throttle_ratio: f64) -> FaultSettings {
        FaultSettings {
            throttle_ratio,
            server_error_ratio: 0.0,
            fail_after_accept_ratio: 0.0,
            latency: Duration::ZERO,
        }
    }

    #[test]
    fn no_faults_by_default_ratio_zero() {
        let faults = Faults::new(settings(0.0), Duration::ZERO, 7);
        assert!((0..1000).all(|_| faults.before_admission().is_none()));
    }

    #[test]
    fn throttle_ratio_is_approximated() {
        let faults = Faults::new(settings(0.3), Duration::ZERO, 7);
        let throttled = (0..10_000)
            .filter(|_| faults.before_admission() == Some(InjectedFault::Throttle))
            .count();
        assert!(
            (2_700..3_300).contains(&throttled),
            "throttled {throttled} of 10000"
        );
    }

    #[test]
    fn same_seed_repeats_decisions() {
        let first = Faults::new(settings(0.5), Duration::ZERO, 99);
        let second = Faults::new(settings(0.5), Duration::ZERO, 99);
        let decisions = |faults: &Faults| {
            (0..64)
                .map(|_| faults.before_admission())
                .collect::<Vec<_>>()
        };
        assert_eq!(decisions(&first), decisions(&second));
    }

    #[test]
    fn ratios_are_clamped() {
        let faults = Faults::new(settings(f64::NAN), Duration::ZERO, 1);
        faults.apply(FaultSettings {
            fail_after_accept_ratio: 4.0,
            ..settings(-1.0)
        });
        let current = faults.settings();
        assert_eq!(current.throttle_ratio, 0.0);
        assert_eq!(current.fail_after_accept_ratio, 1.0);
    }
}
