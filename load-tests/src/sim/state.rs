//! The simulator's shared state and the admission of send calls.

use std::io;
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::error::SesError;
use super::events::{AcceptedMail, EventPublisher};
use super::faults::{Faults, InjectedFault};
use super::limits::{SendRateLimiter, SendWindow};
use super::recorder::{Operation, Recorder};
use super::templates::TemplateStore;
use super::timeline::Timeline;

/// State shared by every request handler.
pub(crate) struct SimState {
    pub(crate) faults: Faults,
    pub(crate) rate: Option<SendRateLimiter>,
    pub(crate) window: SendWindow,
    pub(crate) recorder: Recorder,
    /// When send calls were admitted or throttled.
    pub(crate) timeline: Timeline,
    pub(crate) templates: TemplateStore,
    pub(crate) max_send_rate: Option<f64>,
    /// The webhook poster, when a webhook is configured.
    pub(crate) events: Option<EventPublisher>,
    /// Cancelled when the server shuts down; ends latency sleeps and stalls early.
    pub(crate) shutdown: CancellationToken,
}

impl SimState {
    /// Counts the call and waits for the configured latency.
    pub(crate) async fn begin_call(&self, operation: Operation) {
        self.recorder.count_call(operation);
        let latency = self.faults.latency();
        if !latency.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(latency) => {}
                () = self.shutdown.cancelled() => {}
            }
        }
    }

    /// Admits a send call for `recipients`, or returns the error SES would, in this order:
    /// an injected fault, the sending rate, then the 24-hour quota. A rejected call
    /// leaves no trace in the rate or the quota. Admissions and throttles go to the
    /// timeline.
    pub(crate) fn admit(&self, recipients: u64) -> Result<(), SesError> {
        let now = Instant::now();
        match self.faults.before_admission() {
            Some(InjectedFault::Throttle) => {
                self.recorder.count_throttled();
                self.timeline.throttled(now);
                return Err(SesError::SendingRateExceeded);
            }
            Some(InjectedFault::ServerError) => {
                self.recorder.count_server_error();
                return Err(SesError::InternalFailure);
            }
            None => {}
        }

        if let Some(rate) = &self.rate {
            if !rate.try_acquire(now, recipients) {
                self.recorder.count_throttled();
                self.timeline.throttled(now);
                return Err(SesError::SendingRateExceeded);
            }
        }
        if !self.window.try_reserve(now, recipients) {
            if let Some(rate) = &self.rate {
                rate.release(recipients);
            }
            self.recorder.count_quota_rejected();
            return Err(SesError::DailyQuotaExceeded);
        }
        self.timeline.admitted(now, recipients);
        Ok(())
    }

    /// Returns whether accepted messages need an [`AcceptedMail`] for the webhook.
    pub(crate) fn publishes_events(&self) -> bool {
        self.events.is_some()
    }

    /// Queues the events of accepted messages. Waits only while the event queue is full.
    pub(crate) async fn publish_events(&self, mails: impl IntoIterator<Item = AcceptedMail>) {
        let Some(events) = &self.events else {
            return;
        };
        for mail in mails {
            events.publish(mail).await;
        }
    }

    /// Returns `response` for an accepted send, or loses it for the configured fraction
    /// of calls. A lost response keeps the connection open for the stall time and then
    /// aborts it, so the client sees a timeout or a broken response for a recorded send.
    pub(crate) async fn respond_after_accept(&self, response: Response) -> Response {
        if !self.faults.lose_response() {
            return response;
        }

        self.recorder.count_failed_after_accept();
        tokio::select! {
            () = tokio::time::sleep(self.faults.stall()) => {}
            () = self.shutdown.cancelled() => {}
        }

        // A body that fails makes hyper abort the connection instead of finishing the
        // response.
        let failing = futures::stream::once(async {
            Err::<Bytes, io::Error>(io::Error::other("response dropped by fault injection"))
        });
        Response::new(Body::from_stream(failing))
    }

    pub(crate) fn reset(&self) {
        self.recorder.reset();
        if let Some(events) = &self.events {
            events.reset();
        }
        self.timeline.reset(Instant::now());
        self.window.reset();
        if let Some(rate) = &self.rate {
            rate.reset();
        }
    }
}
