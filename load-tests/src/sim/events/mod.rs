//! SES events for accepted messages, posted to a webhook so that a send loop closes
//! locally: wrapsd sends through the simulator, and the simulator reports deliveries,
//! bounces, complaints, opens and clicks back to wrapsd's `POST /webhooks/ses/{account}`.
//!
//! For each accepted message (one per `SendEmail` call, one per successful
//! `SendBulkEmail` entry), a seeded decision ([`fate`]) picks a permanent bounce or a
//! delivery, and after a delivery a complaint, an open and a click, each with its own
//! ratio. The events go out in the SES event publishing schema (`eventType`), wrapped
//! as an EventBridge event with the webhook secret in `x-wraps-api-key`, or as an SNS
//! notification signed with a local key. A `Send` event comes first only when
//! [`WebhookConfig::emit_send`] is set.
//!
//! Posting cannot fail a send, because it runs in a background task behind a bounded
//! queue (see [`poster`]). A send waits only while that queue is full. [`WebhookStats`]
//! counts what was generated, posted, retried and given up on.
//!
//! NOTE: one message with several recipients gets one fate and one event of each
//! type listing every recipient, whereas SES may report a bounce for one recipient and
//! a delivery for another. wrapsd sends one recipient per message, so this does not
//! change its counts.

mod envelope;
mod fate;
mod poster;
mod record;
mod sns;
mod stats;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

pub use envelope::{API_KEY_HEADER, SNS_MESSAGE_TYPE_HEADER};
pub use fate::EventRatios;
pub use record::EventType;
pub use sns::{SnsSignatureVersion, SnsSigning, DEFAULT_SNS_TOPIC};
pub use stats::WebhookStats;

pub(crate) use record::AcceptedMail;

use envelope::Envelope;
use poster::{LogLimiter, Poster, QueuedMail};
use record::Origin;
use stats::{Counters, PendingMessage};

/// The account number SES events name when none is configured.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// The region SES events name when none is configured.
pub const DEFAULT_REGION: &str = "us-east-1";

/// A webhook secret, kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The envelope of posted events, with its credentials.
#[derive(Debug, Clone)]
pub enum WebhookFormat {
    /// The EventBridge event an API destination posts, with the secret in
    /// `x-wraps-api-key`.
    EventBridge(WebhookSecret),
    /// An SNS `Notification` signed with a local key, with `x-amz-sns-message-type`.
    Sns(SnsSigning),
}

/// Settings of the SES events the simulator posts: the webhook, the envelope, the
/// ratios and the retries.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The URL to post to, such as `http://127.0.0.1:8080/webhooks/ses/123456789012`.
    /// Only `http` URLs are accepted. A user and password in the URL are sent as HTTP
    /// Basic credentials and are never logged.
    pub url: String,
    pub format: WebhookFormat,
    pub ratios: EventRatios,
    /// Wait between accepting a message and posting its events.
    pub delivery_delay: Duration,
    /// Whether to post a `Send` event before the others.
    pub emit_send: bool,
    /// The 12-digit AWS account in the envelope, `sendingAccountId` and ARNs.
    pub account: String,
    /// The AWS region in the envelope and ARNs.
    pub region: String,
    /// Messages whose events are posted at the same time, each on one connection.
    pub concurrency: usize,
    /// Accepted messages that may wait for posting before a send waits for room.
    pub queue_capacity: usize,
    /// Attempts per event, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry. Each further retry waits twice as long, at most 5 s.
    pub retry_base_delay: Duration,
    /// Time limit of one attempt, from connecting to the end of the response.
    pub request_timeout: Duration,
}

impl WebhookConfig {
    /// Returns a configuration with the default settings: only deliveries, no delay,
    /// 4 connections, a queue of 10,000 messages and 5 attempts per event.
    pub fn new(url: impl Into<String>, format: WebhookFormat) -> Self {
        Self {
            url: url.into(),
            format,
            ratios: EventRatios::default(),
            delivery_delay: Duration::ZERO,
            emit_send: false,
            account: DEFAULT_ACCOUNT.to_owned(),
            region: DEFAULT_REGION.to_owned(),
            concurrency: 4,
            queue_capacity: 10_000,
            max_attempts: 5,
            retry_base_delay: Duration::from_millis(200),
            request_timeout: Duration::from_secs(10),
        }
    }

    pub(crate) fn validate(&self) -> anyhow::Result<reqwest::Url> {
        let url = reqwest::Url::parse(&self.url)
            .with_context(|| format!("the webhook URL {:?} is not a valid URL", self.url))?;
        ensure!(
            url.scheme() == "http",
            "the webhook URL {:?} is not http://; the simulator posts to a local receiver over plain HTTP",
            self.url
        );
        ensure!(
            self.account.len() == 12 && self.account.bytes().all(|b| b.is_ascii_digit()),
            "the account {:?} is invalid: AWS account numbers have exactly 12 digits",
            self.account
        );
        ensure!(
            !self.region.is_empty()
                && self
                    .region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "the region {:?} is invalid: use a region name such as us-east-1",
            self.region
        );
        for (name, ratio) in self.ratios.named() {
            ensure!(
                (0.0..=1.0).contains(&ratio),
                "{name} is {ratio}; it must be between 0 and 1"
            );
        }
        ensure!(
            self.concurrency >= 1,
            "the webhook concurrency must be at least 1"
        );
        ensure!(
            self.queue_capacity >= 1,
            "the event queue capacity must be at least 1"
        );
        ensure!(
            self.max_attempts >= 1,
            "the webhook attempts per event must be at least 1"
        );
        if let WebhookFormat::EventBridge(secret) = &self.format {
            ensure!(
                !secret.expose().is_empty(),
                "the webhook secret is empty; set the connection's webhook secret"
            );
            reqwest::header::HeaderValue::from_str(secret.expose())
                .context("the webhook secret cannot be sent in a header because it contains control characters or non-ASCII text; use printable ASCII")?;
        }
        Ok(url)
    }

    fn envelope(&self) -> Envelope {
        match &self.format {
            WebhookFormat::EventBridge(secret) => Envelope::EventBridge {
                secret: secret.clone(),
            },
            WebhookFormat::Sns(signing) => Envelope::Sns {
                topic_arn: signing.topic_arn(&self.region, &self.account),
                signing: signing.clone(),
            },
        }
    }
}

/// The send path's handle on the background poster.
pub(crate) struct EventPublisher {
    queue: mpsc::Sender<QueuedMail>,
    counters: Arc<Counters>,
    delivery_delay: Duration,
}

impl EventPublisher {
    /// Checks `config` and starts the poster on the current Tokio runtime. It stops when
    /// `shutdown` is cancelled.
    pub(crate) fn start(
        config: &WebhookConfig,
        seed: u64,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let url = config.validate()?;
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .pool_max_idle_per_host(config.concurrency)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the webhook HTTP client failed")?;

        let counters = Arc::new(Counters::default());
        let poster = Arc::new(Poster {
            client,
            url: url.clone(),
            envelope: config.envelope(),
            origin: Origin {
                account: config.account.clone(),
                region: config.region.clone(),
            },
            seed,
            ratios: config.ratios,
            emit_send: config.emit_send,
            max_attempts: config.max_attempts,
            retry_base_delay: config.retry_base_delay,
            counters: counters.clone(),
            shutdown,
            retry_log: LogLimiter::new(Duration::from_secs(1)),
            failure_log: LogLimiter::new(Duration::from_secs(1)),
        });
        let (queue, receiver) = mpsc::channel(config.queue_capacity);
        tokio::spawn(poster::run_dispatcher(poster, receiver, config.concurrency));

        tracing::info!(
            webhook_host = url.host_str().unwrap_or_default(),
            webhook_port = url.port_or_known_default(),
            webhook_path = url.path(),
            format = match config.format {
                WebhookFormat::EventBridge(_) => "eventbridge",
                WebhookFormat::Sns(_) => "sns",
            },
            account = %config.account,
            bounce_ratio = config.ratios.bounce,
            complaint_ratio = config.ratios.complaint,
            open_ratio = config.ratios.open,
            click_ratio = config.ratios.click,
            delivery_delay_ms = config.delivery_delay.as_millis() as u64,
            "SES simulator posts events to a webhook"
        );
        Ok(Self {
            queue,
            counters,
            delivery_delay: config.delivery_delay,
        })
    }

    /// Queues the events of an accepted message. Waits only when the queue is full.
    pub(crate) async fn publish(&self, mail: AcceptedMail) {
        let queued = QueuedMail {
            mail,
            due: tokio::time::Instant::now() + self.delivery_delay,
            pending: PendingMessage::new(self.counters.clone()),
        };
        match self.queue.try_send(queued) {
            Ok(()) => {}
            Err(TrySendError::Full(queued)) => {
                self.counters.queue_full_wait();
                // An error means that the poster stopped at shutdown, and dropping the
                // message clears its pending mark.
                let _ = self.queue.send(queued).await;
            }
            Err(TrySendError::Closed(_)) => {}
        }
    }

    pub(crate) fn stats(&self) -> WebhookStats {
        self.counters.snapshot()
    }

    pub(crate) fn reset(&self) {
        self.counters.reset();
    }

    /// Waits until every queued message's events are posted or given up on.
    pub(crate) async fn wait_idle(&self) {
        self.counters.wait_idle().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WebhookConfig {
        WebhookConfig::new(
            "http://127.0.0.1:9/webhooks/ses/123456789012",
            WebhookFormat::EventBridge(WebhookSecret::new("s")),
        )
    }

    #[test]
    fn default_config_is_valid() {
        config().validate().expect("valid");
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let text = format!("{:?}", config());
        assert!(!text.contains("\"s\""), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn invalid_settings_are_named() {
        let cases: [(WebhookConfig, &str); 7] = [
            (
                WebhookConfig {
                    url: "https://127.0.0.1/x".into(),
                    ..config()
                },
                "http://",
            ),
            (
                WebhookConfig {
                    url: "not a url".into(),
                    ..config()
                },
                "not a valid URL",
            ),
            (
                WebhookConfig {
                    account: "12345".into(),
                    ..config()
                },
                "12 digits",
            ),
            (
                WebhookConfig {
                    region: "US East".into(),
                    ..config()
                },
                "region",
            ),
            (
                WebhookConfig {
                    ratios: EventRatios {
                        open: 1.5,
                        ..EventRatios::default()
                    },
                    ..config()
                },
                "open_ratio",
            ),
            (
                WebhookConfig {
                    concurrency: 0,
                    ..config()
                },
                "concurrency",
            ),
            (
                WebhookConfig {
                    format: WebhookFormat::EventBridge(WebhookSecret::new("")),
                    ..config()
                },
                "secret is empty",
            ),
        ];
        for (config, expected) in cases {
            let err = config.validate().unwrap_err();
            assert!(
                format!("{err:#}").contains(expected),
                "{err:#} lacks {expected}"
            );
        }
    }
}
