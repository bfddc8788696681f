//! Counters of the webhook poster, as `/sim/stats` returns them under `webhook`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::record::EventType;

/// Webhook counters since start or the last reset.
///
/// Every event is counted in `generated` when its message's fate is decided, then in
/// exactly one of `posted` (a 2xx response) or `failed` (a response that is not
/// retried, or the last attempt failed). Once `pendingMessages` is 0, `generated =
/// posted + failed` for each type, unless a reset came while events were in flight.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookStats {
    /// Events decided, by `eventType`.
    pub generated: BTreeMap<String, u64>,
    /// Events that received a 2xx response, by `eventType`.
    pub posted: BTreeMap<String, u64>,
    /// Events given up on, by `eventType`.
    pub failed: BTreeMap<String, u64>,
    /// Attempts repeated after a 5xx, a 408, a 429, a timeout or a connection error.
    pub retries: u64,
    /// Sends that waited because the event queue was full.
    pub queue_full_waits: u64,
    /// Accepted messages whose events are queued or being posted.
    pub pending_messages: u64,
}

impl WebhookStats {
    pub fn total_generated(&self) -> u64 {
        self.generated.values().sum()
    }

    pub fn total_posted(&self) -> u64 {
        self.posted.values().sum()
    }

    pub fn total_failed(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Returns the count of `event_type` (`"Delivery"`, ...) in `counts`, 0 when absent.
    pub fn count(counts: &BTreeMap<String, u64>, event_type: &str) -> u64 {
        counts.get(event_type).copied().unwrap_or(0)
    }
}

type PerType = [AtomicU64; EventType::ALL.len()];

/// The live counters behind [`WebhookStats`].
#[derive(Default)]
pub(crate) struct Counters {
    generated: PerType,
    posted: PerType,
    failed: PerType,
    retries: AtomicU64,
    queue_full_waits: AtomicU64,
    pending_messages: AtomicU64,
    /// Woken when `pending_messages` drops to 0.
    idle: Notify,
}

impl Counters {
    pub(crate) fn generated(&self, event: EventType) {
        self.generated[event.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn posted(&self, event: EventType) {
        self.posted[event.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, event: EventType) {
        self.failed[event.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn queue_full_wait(&self) {
        self.queue_full_waits.fetch_add(1, Ordering::Relaxed);
    }

    fn message_queued(&self) {
        self.pending_messages.fetch_add(1, Ordering::AcqRel);
    }

    fn message_done(&self) {
        if self.pending_messages.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    pub(crate) fn pending_messages(&self) -> u64 {
        self.pending_messages.load(Ordering::Acquire)
    }

    /// Waits until no message has events queued or in flight.
    pub(crate) async fn wait_idle(&self) {
        loop {
            // Register for the wake-up before reading the count, so that a drop to 0
            // between the read and the wait is not missed.
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pending_messages() == 0 {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn snapshot(&self) -> WebhookStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let by_type = |counters: &PerType| {
            EventType::ALL
                .iter()
                .map(|event| (event.name().to_owned(), load(&counters[event.index()])))
                .collect()
        };
        WebhookStats {
            generated: by_type(&self.generated),
            posted: by_type(&self.posted),
            failed: by_type(&self.failed),
            retries: load(&self.retries),
            queue_full_waits: load(&self.queue_full_waits),
            pending_messages: self.pending_messages(),
        }
    }

    /// Zeroes every counter except `pending_messages`, which tracks work still queued.
    pub(crate) fn reset(&self) {
        let per_type = self
            .generated
            .iter()
            .chain(&self.posted)
            .chain(&self.failed);
        for counter in per_type.chain([&self.retries, &self.queue_full_waits]) {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

/// One accepted message whose events are not all posted yet, counted in
/// `pending_messages` from creation to drop. Whatever ends the message's journey drops
/// it: the last event's post, a dropped queue at shutdown, or a send handler cancelled
/// while it waited for room in the queue.
pub(crate) struct PendingMessage(Arc<Counters>);

impl PendingMessage {
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        counters.message_queued();
        Self(counters)
    }
}

impl Drop for PendingMessage {
    fn drop(&mut self) {
        self.0.message_done();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn snapshot_lists_every_type() {
        let counters = Counters::default();
        counters.generated(EventType::Open);
        counters.posted(EventType::Open);
        let stats = counters.snapshot();
        assert_eq!(stats.generated.len(), EventType::ALL.len());
        assert_eq!(WebhookStats::count(&stats.posted, "Open"), 1);
        assert_eq!(WebhookStats::count(&stats.posted, "Click"), 0);
    }

    #[test]
    fn reset_keeps_pending_messages() {
        let counters = Arc::new(Counters::default());
        let _pending = PendingMessage::new(counters.clone());
        counters.generated(EventType::Delivery);
        counters.retried();
        counters.reset();
        let stats = counters.snapshot();
        assert_eq!(stats.total_generated(), 0);
        assert_eq!(stats.retries, 0);
        assert_eq!(stats.pending_messages, 1);
    }

    #[tokio::test]
    async fn wait_idle_returns_when_last_message_is_done() {
        let counters = Arc::new(Counters::default());
        let first = PendingMessage::new(counters.clone());
        let second = PendingMessage::new(counters.clone());
        let waiter = tokio::spawn({
            let counters = counters.clone();
            async move { counters.wait_idle().await }
        });

        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "one message is still pending");
        drop(second);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("wait_idle returns")
            .unwrap();
    }
}
