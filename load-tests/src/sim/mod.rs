//! An Amazon SES v2 simulator that speaks the real REST-JSON wire format.
//!
//! The unmodified `aws-sdk-sesv2` client talks to it through an endpoint override
//! (`AWS_ENDPOINT_URL_SESV2=http://127.0.0.1:PORT`, or `endpoint_url` in code). It
//! accepts any SigV4 signature without checking it. It serves `SendEmail`,
//! `SendBulkEmail`, `GetAccount` and the email template operations, enforces
//! `MaxSendRate` and `Max24HourSend` as SES does (or the rate more strictly, see
//! [`RateMode`]), and injects latency and faults. It records every accepted recipient
//! so that tests can count losses and duplicates. It also records when each call was
//! admitted ([`SimServer::timeline`]) so that they can measure a sender's rate.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use load_tests::sim::{self, SimConfig};
//!
//! let config = SimConfig { max_send_rate: Some(14.0), ..SimConfig::default() };
//! let server = sim::start(config, "127.0.0.1:0".parse()?).await?;
//! // Point the SES client at server.endpoint(), send, then:
//! assert_eq!(server.stats().duplicates, 0);
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! With [`SimConfig::webhook`] set, it also posts SES events for every accepted message
//! to a webhook: deliveries, permanent bounces, complaints, opens and clicks, at seeded
//! ratios. They go out as EventBridge events or as signed SNS notifications (see
//! [`events`]).
//!
//! Differences from SES that a caller may notice:
//! - identities, configuration sets and sandbox rules are not checked, so any sender and
//!   configuration set name is accepted;
//! - events cover only the types above: no transient bounces, delivery delays, rejects
//!   or rendering failures;
//! - a template tag missing from the data renders empty instead of dropping the message.

mod admin;
mod error;
pub mod events;
mod faults;
mod limits;
mod raw;
mod recorder;
mod routes;
mod send;
mod state;
mod tags;
mod templates;
mod timeline;
mod wire;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use axum::serve::ListenerExt;
use chrono::Utc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use events::{
    EventRatios, EventType, SnsSignatureVersion, SnsSigning, WebhookConfig, WebhookFormat,
    WebhookSecret, WebhookStats,
};
pub use limits::RateMode;
pub use recorder::{SimMessage, SimStats, BATCH_ID_TAG};
pub use timeline::{AdmittedCall, SimTimeline, MAX_CALLS, MAX_SLOTS, SLOT_MILLIS};

use events::EventPublisher;
use faults::{FaultSettings, Faults};
use limits::{SendRateLimiter, SendWindow};
use recorder::Recorder;
use state::SimState;
use templates::TemplateStore;
use timeline::Timeline;

/// Limits and faults of a simulator. The default has no limits and no faults.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// `MaxSendRate` in recipients per second; `None` is unlimited.
    pub max_send_rate: Option<f64>,
    /// Rule for a call larger than what remains of the one-second burst: admitted into
    /// debt as SES does (the default), or throttled.
    pub rate_mode: RateMode,
    /// `Max24HourSend` in recipients over a rolling 24 hours; `None` is unlimited.
    pub max_24h_send: Option<u64>,
    /// Delay added to every SES call before it is handled.
    pub latency: Duration,
    /// Fraction (0 to 1) of send calls rejected with `TooManyRequestsException` at random.
    pub throttle_ratio: f64,
    /// Fraction (0 to 1) of accepted send calls whose response is lost: the recipients
    /// are recorded, then the connection is held for `stall` and aborted.
    pub fail_after_accept_ratio: f64,
    /// Fraction (0 to 1) of send calls failed with HTTP 500 `InternalFailure` at random.
    pub server_error_ratio: f64,
    /// How long a lost response keeps its connection open. Set it above the client's
    /// timeout.
    pub stall: Duration,
    /// Seed of the random fault decisions and of the events' fates.
    pub seed: u64,
    /// Whether to keep rendered text and HTML bodies in the records. Off by default so
    /// that a run of a million recipients stays within a few hundred megabytes.
    pub record_content: bool,
    /// The webhook that receives SES events for accepted messages. `None` posts no
    /// events.
    pub webhook: Option<WebhookConfig>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            max_send_rate: None,
            rate_mode: RateMode::Debt,
            max_24h_send: None,
            latency: Duration::ZERO,
            throttle_ratio: 0.0,
            fail_after_accept_ratio: 0.0,
            server_error_ratio: 0.0,
            stall: Duration::from_secs(30),
            seed: 0,
            record_content: false,
            webhook: None,
        }
    }
}

impl SimConfig {
    fn validate(&self) -> anyhow::Result<()> {
        if let Some(rate) = self.max_send_rate {
            ensure!(
                rate.is_finite() && rate > 0.0,
                "max_send_rate is {rate}; it must be a positive number of recipients per second"
            );
        }
        let ratios = [
            ("throttle_ratio", self.throttle_ratio),
            ("fail_after_accept_ratio", self.fail_after_accept_ratio),
            ("server_error_ratio", self.server_error_ratio),
        ];
        for (name, ratio) in ratios {
            ensure!(
                (0.0..=1.0).contains(&ratio),
                "{name} is {ratio}; it must be between 0 and 1"
            );
        }
        Ok(())
    }
}

/// A running simulator. Dropping it stops the server without waiting; `shutdown` waits.
pub struct SimServer {
    addr: SocketAddr,
    state: Arc<SimState>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// Starts a simulator listening on `listen` (port 0 picks a free port).
pub async fn start(config: SimConfig, listen: SocketAddr) -> anyhow::Result<SimServer> {
    config.validate()?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the SES simulator to {listen} failed"))?;
    let addr = listener.local_addr()?;

    let state = Arc::new(new_state(&config)?);
    let app = routes::router(state.clone());
    let shutdown = state.shutdown.clone();
    let listener = listener.tap_io(|stream| {
        // Small JSON responses: send them without waiting for Nagle's algorithm.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "setting TCP_NODELAY failed");
        }
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    });

    tracing::info!(
        %addr,
        max_send_rate = config.max_send_rate,
        rate_mode = ?config.rate_mode,
        max_24h_send = config.max_24h_send,
        "SES simulator started"
    );
    Ok(SimServer {
        addr,
        state,
        task: Some(task),
    })
}

/// Builds the state, and starts the event poster when a webhook is configured.
fn new_state(config: &SimConfig) -> anyhow::Result<SimState> {
    let origin = Instant::now();
    let shutdown = CancellationToken::new();
    let events = config
        .webhook
        .as_ref()
        .map(|webhook| EventPublisher::start(webhook, config.seed, shutdown.clone()))
        .transpose()
        .context("the webhook configuration is invalid")?;
    let faults = Faults::new(
        FaultSettings {
            throttle_ratio: config.throttle_ratio,
            server_error_ratio: config.server_error_ratio,
            fail_after_accept_ratio: config.fail_after_accept_ratio,
            latency: config.latency,
        },
        config.stall,
        config.seed,
    );
    Ok(SimState {
        faults,
        rate: config
            .max_send_rate
            .map(|rate| SendRateLimiter::new(rate, config.rate_mode, origin)),
        window: SendWindow::new(config.max_24h_send, origin),
        recorder: Recorder::new(config.record_content, message_id_prefix(config.seed)),
        timeline: Timeline::new(origin),
        templates: TemplateStore::default(),
        max_send_rate: config.max_send_rate,
        events,
        shutdown,
    })
}

/// Builds the first five groups of message ids from the start time and the seed, so
/// that ids differ between runs.
fn message_id_prefix(seed: u64) -> String {
    let start_millis = Utc::now().timestamp_millis() as u64;
    let random = crate::rng::nth_output(seed ^ start_millis, 0);
    format!(
        "{start_millis:016x}-{:08x}-{:04x}-{:04x}-{:04x}",
        random >> 32,
        (random >> 16) & 0xffff,
        random & 0xffff,
        (start_millis ^ seed) & 0xffff,
    )
}

impl SimServer {
    /// Returns the address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the URL to give the SES client, e.g. `http://127.0.0.1:4566`. A wildcard
    /// listen address is replaced by the loopback address of the same family.
    pub fn endpoint(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}")
    }

    pub fn stats(&self) -> SimStats {
        self.state.recorder.stats()
    }

    /// Returns the webhook counters, or `None` when no webhook is configured.
    pub fn webhook_stats(&self) -> Option<WebhookStats> {
        self.state.events.as_ref().map(EventPublisher::stats)
    }

    /// Waits until the events of every message accepted so far are posted or given up
    /// on, at most `timeout`. Returns false on timeout. Returns true at once when no
    /// webhook is configured.
    pub async fn flush_events(&self, timeout: Duration) -> bool {
        let Some(events) = &self.state.events else {
            return true;
        };
        tokio::time::timeout(timeout, events.wait_idle())
            .await
            .is_ok()
    }

    /// Returns when send calls were admitted and throttled since start or the last
    /// reset, with the exact time of the first [`MAX_CALLS`] admitted calls.
    pub fn timeline(&self) -> SimTimeline {
        self.state.timeline.snapshot(true)
    }

    /// Stores an email template as `CreateEmailTemplate` would, for callers that set
    /// up a run in-process.
    pub(crate) fn create_template(
        &self,
        name: &str,
        subject: &str,
        html: &str,
        text: &str,
    ) -> anyhow::Result<()> {
        let content = wire::EmailTemplateContent {
            subject: Some(subject.to_owned()),
            html: Some(html.to_owned()),
            text: Some(text.to_owned()),
        };
        self.state
            .templates
            .create(name, content)
            .map_err(|err| anyhow::anyhow!("creating the template {name} failed: {err}"))
    }

    /// Returns every accepted recipient in acceptance order, or only those whose
    /// message carried the `batchId` tag `batch_id`.
    pub fn messages(&self, batch_id: Option<&str>) -> Vec<SimMessage> {
        self.state.recorder.messages(batch_id, usize::MAX)
    }

    /// Changes the injected throttling and lost-response ratios at run time. Values are
    /// clamped to `[0, 1]`, and the other fault settings keep their value.
    pub fn set_faults(&self, throttle_ratio: f64, fail_after_accept_ratio: f64) {
        let current = self.state.faults.settings();
        self.state.faults.apply(FaultSettings {
            throttle_ratio,
            fail_after_accept_ratio,
            ..current
        });
    }

    /// Forgets records and counters, webhook counters included, as `POST /sim/reset`
    /// does. Events still queued are posted and counted afterwards.
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Stops accepting connections, ends stalled responses, and waits for the server.
    pub async fn shutdown(mut self) {
        self.state.shutdown.cancel();
        let Some(task) = self.task.take() else {
            return;
        };
        match task.await {
            Ok(Ok(())) => tracing::info!(addr = %self.addr, "SES simulator stopped"),
            Ok(Err(err)) => {
                tracing::error!(addr = %self.addr, error = %err, "SES simulator failed")
            }
            Err(err) => {
                tracing::error!(addr = %self.addr, error = %err, "SES simulator task failed")
            }
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}
