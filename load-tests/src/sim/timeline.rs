//! When send calls were admitted or throttled, for measuring a sender's rate.
//!
//! The simulator serves one AWS account: every call shares one `MaxSendRate` limiter
//! whatever it was signed for, so there is one timeline for the whole simulator.
//!
//! Two views are kept from the start of the simulator or its last reset:
//! - slots of [`SLOT_MILLIS`] with the recipients admitted and the calls throttled in
//!   each, for the first [`MAX_SLOTS`] slots (one hour); later events are only counted;
//! - the exact offset and recipient count of the first [`MAX_CALLS`] admitted calls, so
//!   that a rate of one recipient per second can be measured from timestamps rather
//!   than from slot counts.
//!
//! Both are bounded: at most 36,000 pairs of counters and 262,144 call records, about
//! 4.8 MB in all.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Length of one slot of the timeline in milliseconds.
pub const SLOT_MILLIS: u64 = 100;
/// Slots kept: one hour of 100 ms slots.
pub const MAX_SLOTS: usize = 36_000;
/// Admitted calls whose exact time is kept.
pub const MAX_CALLS: usize = 1 << 18;

/// One admitted send call.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AdmittedCall {
    /// Microseconds from the start of the timeline to the call's admission.
    pub at_micros: u64,
    /// Recipients the call carried.
    pub recipients: u32,
}

impl AdmittedCall {
    /// Returns the admission time as a duration since the start of the timeline.
    pub fn at(&self) -> Duration {
        Duration::from_micros(self.at_micros)
    }
}

/// A copy of the timeline. `accepted` and `throttled` have the same length, which
/// ends at the last slot with an event.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SimTimeline {
    /// Length of one slot in milliseconds; slot `i` covers `[i * slot, (i + 1) * slot)`
    /// from the start of the timeline.
    pub slot_millis: u64,
    /// Recipients admitted in each slot.
    pub accepted: Vec<u64>,
    /// Send calls rejected with `TooManyRequestsException` in each slot, for the rate or
    /// injected.
    pub throttled: Vec<u64>,
    /// Recipients admitted in all, including those after the last slot.
    pub accepted_total: u64,
    /// Send calls throttled in all, including those after the last slot.
    pub throttled_total: u64,
    /// The first admitted calls in admission order, at most [`MAX_CALLS`]. Left out of
    /// `/sim/stats` unless asked for with `?calls=true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<AdmittedCall>,
    /// Admitted calls that are not in `calls` because it was full.
    pub calls_dropped: u64,
}

/// The live timeline behind one mutex, held only to add one event.
#[derive(Debug)]
pub(crate) struct Timeline {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    start: Instant,
    accepted: Vec<u64>,
    throttled: Vec<u64>,
    accepted_total: u64,
    throttled_total: u64,
    calls: Vec<AdmittedCall>,
    calls_dropped: u64,
}

impl Inner {
    fn new(start: Instant) -> Self {
        Self {
            start,
            accepted: Vec::new(),
            throttled: Vec::new(),
            accepted_total: 0,
            throttled_total: 0,
            calls: Vec::new(),
            calls_dropped: 0,
        }
    }

    /// Returns the index of the slot of `elapsed`, growing both slot vectors to hold it,
    /// or `None` past the last slot kept.
    fn slot(&mut self, elapsed: Duration) -> Option<usize> {
        let index = usize::try_from(elapsed.as_millis() / u128::from(SLOT_MILLIS)).ok()?;
        if index >= MAX_SLOTS {
            return None;
        }
        if index >= self.accepted.len() {
            self.accepted.resize(index + 1, 0);
            self.throttled.resize(index + 1, 0);
        }
        Some(index)
    }
}

impl Timeline {
    pub(crate) fn new(start: Instant) -> Self {
        Self {
            inner: Mutex::new(Inner::new(start)),
        }
    }

    /// Records a send call of `recipients` admitted at `now`.
    pub(crate) fn admitted(&self, now: Instant, recipients: u64) {
        let mut inner = self.lock();
        let elapsed = now.saturating_duration_since(inner.start);
        if let Some(slot) = inner.slot(elapsed) {
            inner.accepted[slot] += recipients;
        }
        inner.accepted_total += recipients;
        if inner.calls.len() < MAX_CALLS {
            inner.calls.push(AdmittedCall {
                at_micros: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                recipients: u32::try_from(recipients).unwrap_or(u32::MAX),
            });
        } else {
            inner.calls_dropped += 1;
        }
    }

    /// Records a send call throttled at `now`.
    pub(crate) fn throttled(&self, now: Instant) {
        let mut inner = self.lock();
        let elapsed = now.saturating_duration_since(inner.start);
        if let Some(slot) = inner.slot(elapsed) {
            inner.throttled[slot] += 1;
        }
        inner.throttled_total += 1;
    }

    /// Returns a copy, with the exact calls only when `with_calls` is set.
    pub(crate) fn snapshot(&self, with_calls: bool) -> SimTimeline {
        let inner = self.lock();
        SimTimeline {
            slot_millis: SLOT_MILLIS,
            accepted: inner.accepted.clone(),
            throttled: inner.throttled.clone(),
            accepted_total: inner.accepted_total,
            throttled_total: inner.throttled_total,
            calls: if with_calls {
                inner.calls.clone()
            } else {
                Vec::new()
            },
            calls_dropped: inner.calls_dropped,
        }
    }

    /// Forgets every event and starts again at `now`.
    pub(crate) fn reset(&self, now: Instant) {
        *self.lock() = Inner::new(now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update leaves the counters consistent, so a panicked holder does not
        // matter.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_land_in_their_slot() {
        let start = Instant::now();
        let timeline = Timeline::new(start);
        timeline.admitted(start + Duration::from_millis(5), 50);
        timeline.admitted(start + Duration::from_millis(99), 1);
        timeline.admitted(start + Duration::from_millis(250), 7);
        timeline.throttled(start + Duration::from_millis(120));

        let snapshot = timeline.snapshot(true);
        assert_eq!(snapshot.slot_millis, 100);
        assert_eq!(snapshot.accepted, [51, 0, 7]);
        assert_eq!(snapshot.throttled, [0, 1, 0]);
        assert_eq!(snapshot.accepted_total, 58);
        assert_eq!(snapshot.throttled_total, 1);
        let offsets: Vec<u64> = snapshot.calls.iter().map(|c| c.at_micros).collect();
        assert_eq!(offsets, [5_000, 99_000, 250_000]);
        assert_eq!(snapshot.calls[2].recipients, 7);
        assert_eq!(snapshot.calls[2].at(), Duration::from_millis(250));
    }

    #[test]
    fn snapshot_leaves_calls_out_unless_asked() {
        let start = Instant::now();
        let timeline = Timeline::new(start);
        timeline.admitted(start, 3);
        assert!(timeline.snapshot(false).calls.is_empty());
        assert_eq!(timeline.snapshot(true).calls.len(), 1);
    }

    #[test]
    fn events_after_the_last_slot_are_only_counted() {
        let start = Instant::now();
        let timeline = Timeline::new(start);
        let late = start + Duration::from_millis(SLOT_MILLIS * MAX_SLOTS as u64);
        timeline.admitted(late, 4);
        timeline.throttled(late);

        let snapshot = timeline.snapshot(true);
        assert!(snapshot.accepted.is_empty());
        assert_eq!(snapshot.accepted_total, 4);
        assert_eq!(snapshot.throttled_total, 1);
        assert_eq!(snapshot.calls.len(), 1);
    }

    #[test]
    fn call_log_stops_at_its_limit() {
        let start = Instant::now();
        let timeline = Timeline::new(start);
        for _ in 0..MAX_CALLS + 3 {
            timeline.admitted(start, 1);
        }
        let snapshot = timeline.snapshot(true);
        assert_eq!(snapshot.calls.len(), MAX_CALLS);
        assert_eq!(snapshot.calls_dropped, 3);
        assert_eq!(snapshot.accepted, [MAX_CALLS as u64 + 3]);
    }

    #[test]
    fn reset_starts_again_from_its_own_time() {
        let start = Instant::now();
        let timeline = Timeline::new(start);
        timeline.admitted(start + Duration::from_millis(300), 2);
        let restart = start + Duration::from_secs(5);
        timeline.reset(restart);
        timeline.admitted(restart + Duration::from_millis(150), 9);

        let snapshot = timeline.snapshot(true);
        assert_eq!(snapshot.accepted, [0, 9]);
        assert_eq!(snapshot.accepted_total, 9);
        assert_eq!(snapshot.calls[0].at_micros, 150_000);
    }
}
