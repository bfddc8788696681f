//! The `wrapsd ses-sim` command: runs the SES simulator until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::sim::events::{DEFAULT_ACCOUNT, DEFAULT_REGION, DEFAULT_SNS_TOPIC};
use crate::sim::{
    self, EventRatios, RateMode, SimConfig, SnsSignatureVersion, SnsSigning, WebhookConfig,
    WebhookFormat, WebhookSecret,
};

/// The envelope of posted SES events, as `--webhook-format` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WebhookFormatName {
    /// The EventBridge event of an API destination, with the secret in x-wraps-api-key.
    Eventbridge,
    /// A signed SNS Notification (needs --sns-signing-key and --sns-cert-url).
    Sns,
}

/// Options of `wrapsd ses-sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SesSimArgs {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4566")]
    pub listen: SocketAddr,

    /// MaxSendRate in recipients per second. Unlimited when not set.
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    pub max_send_rate: Option<f64>,

    /// Rule of MaxSendRate for a call larger than what remains of the one-second burst:
    /// `debt` admits it as SES does, `strict` throttles it.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = RateMode::Debt)]
    pub rate_mode: RateMode,

    /// Max24HourSend in recipients over a rolling 24 hours. Unlimited when not set.
    #[arg(long = "max-24h", value_name = "N")]
    pub max_24h: Option<u64>,

    /// Delay added to every SES call, in milliseconds.
    #[arg(long, value_name = "L", default_value_t = 0)]
    pub latency_ms: u64,

    /// Fraction (0 to 1) of send calls rejected with TooManyRequestsException at random.
    #[arg(long, value_name = "X", default_value_t = 0.0, value_parser = parse_ratio)]
    pub throttle_ratio: f64,

    /// Fraction (0 to 1) of accepted send calls whose response is lost after the
    /// recipients are recorded.
    #[arg(long, value_name = "Y", default_value_t = 0.0, value_parser = parse_ratio)]
    pub fail_after_accept_ratio: f64,

    /// Fraction (0 to 1) of send calls failed with HTTP 500 InternalFailure at random.
    #[arg(long, value_name = "Z", default_value_t = 0.0, value_parser = parse_ratio)]
    pub server_error_ratio: f64,

    /// How long a lost response keeps its connection open before aborting it, in
    /// milliseconds. Set it above the client's timeout.
    #[arg(long, value_name = "S", default_value_t = 30_000)]
    pub stall_ms: u64,

    /// Seed of the random fault decisions and of the SES events' fates. The same seed
    /// and recipients give the same events.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Keep rendered text and HTML bodies in the records (uses more memory).
    #[arg(long)]
    pub record_content: bool,

    /// URL to post SES events to for every accepted message, e.g.
    /// http://127.0.0.1:8080/webhooks/ses/123456789012 (http only). A user and password
    /// in the URL are sent as HTTP Basic credentials, as SNS does. No events are posted
    /// when not set.
    #[arg(long, value_name = "URL", help_heading = "SES events")]
    pub webhook: Option<String>,

    /// Webhook secret of the connection, sent in x-wraps-api-key with EventBridge events.
    #[arg(
        long,
        value_name = "S",
        env = "WRAPS_SES_SIM_WEBHOOK_SECRET",
        hide_env_values = true,
        help_heading = "SES events"
    )]
    pub secret: Option<String>,

    /// Envelope of the posted events.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value_t = WebhookFormatName::Eventbridge,
        requires = "webhook", help_heading = "SES events"
    )]
    pub webhook_format: WebhookFormatName,

    /// Fraction (0 to 1) of accepted messages that bounce permanently instead of being
    /// delivered.
    #[arg(long, value_name = "B", default_value_t = 0.0, value_parser = parse_ratio, requires = "webhook", help_heading = "SES events")]
    pub bounce_ratio: f64,

    /// Fraction (0 to 1) of delivered messages that get a complaint.
    #[arg(long, value_name = "C", default_value_t = 0.0, value_parser = parse_ratio, requires = "webhook", help_heading = "SES events")]
    pub complaint_ratio: f64,

    /// Fraction (0 to 1) of delivered messages that get an open.
    #[arg(long, value_name = "O", default_value_t = 0.0, value_parser = parse_ratio, requires = "webhook", help_heading = "SES events")]
    pub open_ratio: f64,

    /// Fraction (0 to 1) of delivered messages that get a click, drawn independently of
    /// opens.
    #[arg(long, value_name = "K", default_value_t = 0.0, value_parser = parse_ratio, requires = "webhook", help_heading = "SES events")]
    pub click_ratio: f64,

    /// Wait between accepting a message and posting its events, in milliseconds.
    #[arg(
        long,
        value_name = "D",
        default_value_t = 0,
        requires = "webhook",
        help_heading = "SES events"
    )]
    pub delivery_delay_ms: u64,

    /// Post a Send event before the others.
    #[arg(long, requires = "webhook", help_heading = "SES events")]
    pub emit_send: bool,

    /// 12-digit AWS account number named in the events and ARNs.
    #[arg(long, value_name = "ID", default_value = DEFAULT_ACCOUNT, requires = "webhook", help_heading = "SES events")]
    pub account: String,

    /// AWS region named in the events and ARNs.
    #[arg(long, value_name = "REGION", default_value = DEFAULT_REGION, requires = "webhook", help_heading = "SES events")]
    pub region: String,

    /// Messages whose events are posted at the same time, one connection each.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..), requires = "webhook", help_heading = "SES events")]
    pub webhook_concurrency: u16,

    /// Accepted messages that may wait to be posted. A send waits for room when the queue
    /// is full, counted in /sim/stats as webhook.queueFullWaits.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..), requires = "webhook", help_heading = "SES events")]
    pub event_queue_capacity: u32,

    /// PEM file of the RSA private key (PKCS#8 or PKCS#1) that signs SNS notifications.
    #[arg(
        long,
        value_name = "FILE",
        requires = "webhook",
        help_heading = "SES events"
    )]
    pub sns_signing_key: Option<PathBuf>,

    /// SigningCertURL of SNS notifications, where the receiver finds the key's
    /// certificate: https://sns.<region>.amazonaws.com/<name>.pem.
    #[arg(
        long,
        value_name = "URL",
        requires = "webhook",
        help_heading = "SES events"
    )]
    pub sns_cert_url: Option<String>,

    /// Topic name in the SNS TopicArn (arn:aws:sns:<region>:<account>:<name>).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_SNS_TOPIC, requires = "webhook", help_heading = "SES events")]
    pub sns_topic: String,

    /// SNS SignatureVersion: 1 (SHA1withRSA) or 2 (SHA256withRSA).
    #[arg(long, value_enum, value_name = "V", default_value_t = SnsSignatureVersion::V1, requires = "webhook", help_heading = "SES events")]
    pub sns_signature_version: SnsSignatureVersion,
}

impl SesSimArgs {
    /// Builds the simulator's configuration, reading the SNS signing key when the SNS
    /// format is chosen.
    pub fn to_config(&self) -> anyhow::Result<SimConfig> {
        Ok(SimConfig {
            max_send_rate: self.max_send_rate,
            rate_mode: self.rate_mode,
            max_24h_send: self.max_24h,
            latency: Duration::from_millis(self.latency_ms),
            throttle_ratio: self.throttle_ratio,
            fail_after_accept_ratio: self.fail_after_accept_ratio,
            server_error_ratio: self.server_error_ratio,
            stall: Duration::from_millis(self.stall_ms),
            seed: self.seed,
            record_content: self.record_content,
            webhook: self.webhook_config()?,
        })
    }

    fn webhook_config(&self) -> anyhow::Result<Option<WebhookConfig>> {
        let Some(url) = &self.webhook else {
            return Ok(None);
        };
        let format = match self.webhook_format {
            WebhookFormatName::Eventbridge => {
                let secret = self.secret.as_deref().context(
                    "--webhook-format eventbridge needs --secret (or WRAPS_SES_SIM_WEBHOOK_SECRET): the webhook secret of the connection",
                )?;
                WebhookFormat::EventBridge(WebhookSecret::new(secret))
            }
            WebhookFormatName::Sns => WebhookFormat::Sns(self.sns_signing()?),
        };
        Ok(Some(WebhookConfig {
            ratios: EventRatios {
                bounce: self.bounce_ratio,
                complaint: self.complaint_ratio,
                open: self.open_ratio,
                click: self.click_ratio,
            },
            delivery_delay: Duration::from_millis(self.delivery_delay_ms),
            emit_send: self.emit_send,
            account: self.account.clone(),
            region: self.region.clone(),
            concurrency: usize::from(self.webhook_concurrency),
            queue_capacity: self.event_queue_capacity as usize,
            ..WebhookConfig::new(url.clone(), format)
        }))
    }

    fn sns_signing(&self) -> anyhow::Result<SnsSigning> {
        let (Some(key_path), Some(cert_url)) = (&self.sns_signing_key, &self.sns_cert_url) else {
            anyhow::bail!(
                "--webhook-format sns needs --sns-signing-key FILE and --sns-cert-url URL: the simulator signs SNS notifications with a local key"
            );
        };
        let pem = std::fs::read_to_string(key_path).with_context(|| {
            format!("reading the SNS signing key {} failed", key_path.display())
        })?;
        SnsSigning::from_pem(&pem, cert_url, &self.sns_topic, self.sns_signature_version)
    }
}

/// Serves the simulator until Ctrl-C, then shuts it down.
pub async fn run_ses_sim(args: SesSimArgs) -> anyhow::Result<()> {
    let server = sim::start(args.to_config()?, args.listen).await?;
    let endpoint = server.endpoint();
    tracing::info!(%endpoint, "SES simulator ready; stop it with Ctrl-C");
    tracing::info!("point wrapsd at it with WRAPS_SES_ENDPOINT_URL={endpoint} (other SES clients: AWS_ENDPOINT_URL_SESV2={endpoint})");

    let signal = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    signal.map_err(|err| anyhow::anyhow!("waiting for Ctrl-C failed: {err}"))
}

fn parse_ratio(value: &str) -> Result<f64, String> {
    let ratio: f64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number"))?;
    if (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err(format!("{ratio} is outside 0 to 1"))
    }
}

fn parse_rate(value: &str) -> Result<f64, String> {
    let rate: f64 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number"))?;
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(format!(
            "{rate} is not a positive number of recipients per second"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        args: SesSimArgs,
    }

    #[test]
    fn defaults_have_no_limits_and_no_faults() {
        let command = Command::try_parse_from(["ses-sim"]).unwrap();
        assert_eq!(command.args.listen, "127.0.0.1:4566".parse().unwrap());
        let config = command.args.to_config().unwrap();
        assert_eq!(config.max_send_rate, None);
        assert_eq!(config.rate_mode, RateMode::Debt);
        assert_eq!(config.throttle_ratio, 0.0);
        assert_eq!(config.stall, Duration::from_secs(30));
    }

    #[test]
    fn flags_set_limits_and_faults() {
        let command = Command::try_parse_from([
            "ses-sim",
            "--listen",
            "127.0.0.1:0",
            "--max-send-rate",
            "14",
            "--rate-mode",
            "strict",
            "--max-24h",
            "50000",
            "--latency-ms",
            "20",
            "--throttle-ratio",
            "0.3",
            "--fail-after-accept-ratio",
            "0.01",
            "--stall-ms",
            "5000",
            "--seed",
            "7",
        ])
        .unwrap();
        let config = command.args.to_config().unwrap();
        assert_eq!(config.max_send_rate, Some(14.0));
        assert_eq!(config.rate_mode, RateMode::Strict);
        assert_eq!(config.max_24h_send, Some(50_000));
        assert_eq!(config.latency, Duration::from_millis(20));
        assert_eq!(config.fail_after_accept_ratio, 0.01);
        assert_eq!(config.stall, Duration::from_millis(5000));
        assert_eq!(config.seed, 7);
    }

    #[test]
    fn ratio_above_one_is_rejected() {
        let err = Command::try_parse_from(["ses-sim", "--throttle-ratio", "1.5"]).unwrap_err();
        assert!(err.to_string().contains("outside 0 to 1"), "{err}");
    }

    #[test]
    fn unknown_rate_mode_is_rejected() {
        let err = Command::try_parse_from(["ses-sim", "--rate-mode", "loose"]).unwrap_err();
        assert!(err.to_string().contains("strict"), "{err}");
    }

    #[test]
    fn webhook_flags_build_config() {
        let command = Command::try_parse_from([
            "ses-sim",
            "--webhook",
            "http://127.0.0.1:8080/webhooks/ses/111122223333",
            "--secret",
            "s3cret",
            "--bounce-ratio",
            "0.02",
            "--complaint-ratio",
            "0.001",
            "--open-ratio",
            "0.4",
            "--click-ratio",
            "0.1",
            "--delivery-delay-ms",
            "250",
            "--emit-send",
            "--account",
            "111122223333",
            "--webhook-concurrency",
            "8",
        ])
        .unwrap();
        let webhook = command.args.to_config().unwrap().webhook.expect("webhook");
        assert_eq!(
            webhook.url,
            "http://127.0.0.1:8080/webhooks/ses/111122223333"
        );
        assert!(matches!(webhook.format, WebhookFormat::EventBridge(_)));
        assert_eq!(
            webhook.ratios,
            EventRatios {
                bounce: 0.02,
                complaint: 0.001,
                open: 0.4,
                click: 0.1
            }
        );
        assert_eq!(webhook.delivery_delay, Duration::from_millis(250));
        assert!(webhook.emit_send);
        assert_eq!(webhook.account, "111122223333");
        assert_eq!(webhook.region, DEFAULT_REGION);
        assert_eq!(webhook.concurrency, 8);
    }

    #[test]
    fn no_webhook_posts_nothing() {
        let command = Command::try_parse_from(["ses-sim"]).unwrap();
        assert!(command.args.to_config().unwrap().webhook.is_none());
    }

    #[test]
    fn event_flags_need_webhook() {
        for flags in [
            &["--open-ratio", "0.5"][..],
            &["--emit-send"][..],
            &["--webhook-format", "sns"][..],
        ] {
            let args = std::iter::once("ses-sim").chain(flags.iter().copied());
            let err = Command::try_parse_from(args).unwrap_err();
            assert!(err.to_string().contains("--webhook"), "{flags:?}: {err}");
        }
    }

    #[test]
    fn eventbridge_needs_secret() {
        let command = Command::try_parse_from([
            "ses-sim",
            "--webhook",
            "http://127.0.0.1:8080/webhooks/ses/123456789012",
        ])
        .unwrap();
        let err = command.args.to_config().unwrap_err();
        assert!(err.to_string().contains("--secret"), "{err:#}");
    }

    #[test]
    fn sns_needs_key_and_cert_url() {
        let command = Command::try_parse_from([
            "ses-sim",
            "--webhook",
            "http://127.0.0.1:8080/webhooks/ses/123456789012",
            "--webhook-format",
            "sns",
        ])
        .unwrap();
        let err = command.args.to_config().unwrap_err();
        assert!(err.to_string().contains("--sns-signing-key"), "{err:#}");
    }

    #[test]
    fn sns_flags_read_the_key() {
        let key = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/sns-signing-key.pem"
        );
        let command = Command::try_parse_from([
            "ses-sim",
            "--webhook",
            "http://127.0.0.1:8080/webhooks/ses/123456789012",
            "--webhook-format",
            "sns",
            "--sns-signing-key",
            key,
            "--sns-cert-url",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-sim.pem",
            "--sns-signature-version",
            "2",
        ])
        .unwrap();
        let webhook = command.args.to_config().unwrap().webhook.expect("webhook");
        assert!(matches!(webhook.format, WebhookFormat::Sns(_)));
    }

    #[test]
    fn missing_key_file_is_named() {
        let command = Command::try_parse_from([
            "ses-sim",
            "--webhook",
            "http://127.0.0.1:8080/webhooks/ses/123456789012",
            "--webhook-format",
            "sns",
            "--sns-signing-key",
            "/nonexistent/key.pem",
            "--sns-cert-url",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-sim.pem",
        ])
        .unwrap();
        let err = command.args.to_config().unwrap_err();
        assert!(err.to_string().contains("/nonexistent/key.pem"), "{err:#}");
    }

    #[test]
    fn help_lists_event_flags() {
        use clap::CommandFactory;
        let help = Command::command().render_long_help().to_string();
        for flag in [
            "--webhook <URL>",
            "--secret <S>",
            "--webhook-format <FORMAT>",
            "--bounce-ratio <B>",
            "--complaint-ratio <C>",
            "--open-ratio <O>",
            "--click-ratio <K>",
            "--delivery-delay-ms <D>",
            "--emit-send",
            "--account <ID>",
            "--sns-signing-key <FILE>",
            "--sns-cert-url <URL>",
        ] {
            assert!(help.contains(flag), "{flag} missing from the help");
        }
        assert!(help.contains("SES events:"), "no SES events heading");
    }

    #[test]
    fn zero_rate_is_rejected() {
        assert!(Command::try_parse_from(["ses-sim", "--max-send-rate", "0"]).is_err());
    }
}
