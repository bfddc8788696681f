//! The background task that turns accepted messages into posted events.
//!
//! 1. A send handler puts each accepted message on a bounded queue. It waits only when
//!    the queue is full, and counts that wait.
//! 2. The dispatcher takes a connection slot (a semaphore permit), then the next
//!    message. It waits until the message is due, at its acceptance time plus the
//!    delivery delay, and spawns its posting. The queue is in acceptance order, so due
//!    times never decrease.
//! 3. The posting decides the message's fate, then posts its events one after another
//!    in the order SES produces them, each with retries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::envelope::{Envelope, Post};
use super::fate::{self, EventRatios, Fate};
use super::record::{AcceptedMail, EventType, Origin};
use super::stats::{Counters, PendingMessage};

/// Maximum wait between two attempts of one event.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// A message waiting in the queue.
pub(crate) struct QueuedMail {
    pub(crate) mail: AcceptedMail,
    pub(crate) due: Instant,
    pub(crate) pending: PendingMessage,
}

/// Everything a posting needs, shared by the dispatcher and the posting tasks.
pub(crate) struct Poster {
    pub(crate) client: reqwest::Client,
    pub(crate) url: reqwest::Url,
    pub(crate) envelope: Envelope,
    pub(crate) origin: Origin,
    pub(crate) seed: u64,
    pub(crate) ratios: EventRatios,
    pub(crate) emit_send: bool,
    pub(crate) max_attempts: u32,
    pub(crate) retry_base_delay: Duration,
    pub(crate) counters: Arc<Counters>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) retry_log: LogLimiter,
    pub(crate) failure_log: LogLimiter,
}

/// The decision after one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Posted,
    Retry,
    GiveUp,
}

/// Classifies a response status. EventBridge API destinations retry 5xx and 429 and
/// give up on other 4xx; 408 is retried too, because it reports a timeout.
pub(crate) fn classify_status(status: StatusCode) -> Verdict {
    if status.is_success() {
        Verdict::Posted
    } else if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        Verdict::Retry
    } else {
        Verdict::GiveUp
    }
}

/// Returns the wait before the attempt that follows `failed_attempts` failures:
/// `base`, then doubling, at most [`MAX_RETRY_DELAY`].
pub(crate) fn retry_delay(base: Duration, failed_attempts: u32) -> Duration {
    let factor = 1u32
        .checked_shl(failed_attempts.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(MAX_RETRY_DELAY)
}

/// Returns the events SES would publish for a message with `fate`, in the order it
/// publishes them.
pub(crate) fn planned_events(fate: Fate, emit_send: bool) -> Vec<EventType> {
    let mut events = Vec::with_capacity(5);
    if emit_send {
        events.push(EventType::Send);
    }
    if fate.bounced {
        events.push(EventType::Bounce);
        return events;
    }
    events.push(EventType::Delivery);
    if fate.opened {
        events.push(EventType::Open);
    }
    if fate.clicked {
        events.push(EventType::Click);
    }
    if fate.complained {
        events.push(EventType::Complaint);
    }
    events
}

/// Takes messages off the queue until shutdown or until every sender is gone, with at
/// most `concurrency` messages posted at once.
pub(crate) async fn run_dispatcher(
    poster: Arc<Poster>,
    mut queue: mpsc::Receiver<QueuedMail>,
    concurrency: usize,
) {
    let slots = Arc::new(Semaphore::new(concurrency));
    let shutdown = poster.shutdown.clone();
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let queued = tokio::select! {
            queued = queue.recv() => match queued {
                Some(queued) => queued,
                None => break,
            },
            () = shutdown.cancelled() => break,
        };
        tokio::select! {
            () = tokio::time::sleep_until(queued.due) => {}
            () = shutdown.cancelled() => break,
        }

        let poster = poster.clone();
        tokio::spawn(async move {
            let shutdown = poster.shutdown.clone();
            tokio::select! {
                () = poster.post_message(queued, permit) => {}
                () = shutdown.cancelled() => {}
            }
        });
    }

    let pending = poster.counters.pending_messages();
    if pending > 0 {
        tracing::warn!(
            pending_messages = pending,
            "SES simulator stopped before posting the events of some accepted messages"
        );
    }
}

impl Poster {
    /// Posts every event of one message. The permit and the pending mark are released
    /// when this returns.
    async fn post_message(&self, queued: QueuedMail, _permit: OwnedSemaphorePermit) {
        let QueuedMail {
            mail,
            pending: _pending,
            ..
        } = queued;
        let fate = fate::decide(self.seed, &mail.recipients, &self.ratios);
        let events = planned_events(fate, self.emit_send);
        for &event in &events {
            self.counters.generated(event);
        }

        for event in events {
            match self.envelope.wrap(&mail, event, Utc::now(), &self.origin) {
                Ok(post) => self.deliver(&mail.message_id, &post).await,
                Err(err) => {
                    self.counters.failed(event);
                    tracing::error!(
                        message_id = %mail.message_id,
                        event_type = event.name(),
                        error = format!("{err:#}"),
                        "building an SES event failed"
                    );
                }
            }
        }
    }

    /// Posts one event, with retries decided by [`classify_status`] and spaced by
    /// [`retry_delay`], up to `max_attempts` attempts in all.
    async fn deliver(&self, message_id: &str, post: &Post) {
        let event_type = post.event.name();
        for attempt in 1..=self.max_attempts {
            let (verdict, reason) = match self.attempt(post).await {
                Ok(status) => (classify_status(status), status.to_string()),
                Err(err) => (Verdict::Retry, error_chain(&err.without_url())),
            };
            match verdict {
                Verdict::Posted => {
                    self.counters.posted(post.event);
                    return;
                }
                Verdict::Retry if attempt < self.max_attempts => {
                    self.counters.retried();
                    let delay = retry_delay(self.retry_base_delay, attempt);
                    if let Some(suppressed) = self.retry_log.allow() {
                        tracing::warn!(
                            message_id,
                            event_type,
                            attempt,
                            retry_in_ms = delay.as_millis() as u64,
                            reason,
                            suppressed_since_last_log = suppressed,
                            "posting an SES event failed; retrying"
                        );
                    }
                    tokio::time::sleep(delay).await;
                }
                Verdict::Retry | Verdict::GiveUp => {
                    self.counters.failed(post.event);
                    if let Some(suppressed) = self.failure_log.allow() {
                        tracing::error!(
                            message_id,
                            event_type,
                            attempts = attempt,
                            reason,
                            suppressed_since_last_log = suppressed,
                            "posting an SES event failed; giving up"
                        );
                    }
                    return;
                }
            }
        }
    }

    /// Sends the post once and reads the whole response, so that the connection can
    /// be reused.
    async fn attempt(&self, post: &Post) -> Result<StatusCode, reqwest::Error> {
        let response = self
            .client
            .post(self.url.clone())
            .headers(post.headers.clone())
            .body(post.body.clone())
            .send()
            .await?;
        let status = response.status();
        // The receiver's body does not change the outcome, so a broken body is ignored.
        let _ = response.bytes().await;
        Ok(status)
    }
}

/// Formats an error with its causes, `outer: inner: ...`.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Lets one log line through per interval and counts the lines held back, so that a
/// receiver that is down does not flood the log.
pub(crate) struct LogLimiter {
    origin: std::time::Instant,
    interval_millis: u64,
    /// Milliseconds after `origin` of the last line let through, plus one (0 = none).
    last_millis: AtomicU64,
    suppressed: AtomicU64,
}

impl LogLimiter {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            origin: std::time::Instant::now(),
            interval_millis: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            last_millis: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Returns the number of lines held back since the last one let through, or `None`
    /// when this line is held back.
    pub(crate) fn allow(&self) -> Option<u64> {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX) + 1;
        let last = self.last_millis.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.interval_millis;
        if due
            && self
                .last_millis
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let cases = [
            (200, Verdict::Posted),
            (202, Verdict::Posted),
            (204, Verdict::Posted),
            (301, Verdict::GiveUp),
            (400, Verdict::GiveUp),
            (401, Verdict::GiveUp),
            (404, Verdict::GiveUp),
            (408, Verdict::Retry),
            (422, Verdict::GiveUp),
            (429, Verdict::Retry),
            (500, Verdict::Retry),
            (502, Verdict::Retry),
            (503, Verdict::Retry),
        ];
        for (status, expected) in cases {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(classify_status(status), expected, "status {status}");
        }
    }

    #[test]
    fn retry_delay_doubles_up_to_cap() {
        let base = Duration::from_millis(200);
        assert_eq!(retry_delay(base, 1), Duration::from_millis(200));
        assert_eq!(retry_delay(base, 2), Duration::from_millis(400));
        assert_eq!(retry_delay(base, 4), Duration::from_millis(1600));
        assert_eq!(retry_delay(base, 10), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(base, u32::MAX), MAX_RETRY_DELAY);
    }

    #[test]
    fn bounce_has_no_other_events() {
        let fate = Fate {
            bounced: true,
            ..Fate::default()
        };
        assert_eq!(planned_events(fate, false), [EventType::Bounce]);
        assert_eq!(
            planned_events(fate, true),
            [EventType::Send, EventType::Bounce]
        );
    }

    #[test]
    fn engagement_follows_delivery() {
        let fate = Fate {
            bounced: false,
            complained: true,
            opened: true,
            clicked: true,
        };
        assert_eq!(
            planned_events(fate, false),
            [
                EventType::Delivery,
                EventType::Open,
                EventType::Click,
                EventType::Complaint
            ]
        );
        assert_eq!(
            planned_events(Fate::default(), false),
            [EventType::Delivery]
        );
    }

    #[test]
    fn log_limiter_holds_back_repeats() {
        let limiter = LogLimiter::new(Duration::from_secs(3600));
        assert_eq!(limiter.allow(), Some(0));
        assert_eq!(limiter.allow(), None);
        assert_eq!(limiter.allow(), None);

        let open = LogLimiter::new(Duration::ZERO);
        assert_eq!(open.allow(), Some(0));
        assert_eq!(open.allow(), Some(0));
    }
}
