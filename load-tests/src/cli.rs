//! The `wrapsd ses-sim` command: runs the SES simulator until Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use crate::sim::{self, RateMode, SimConfig};

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

    /// Seed of the random fault decisions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Keep rendered text and HTML bodies in the records (uses more memory).
    #[arg(long)]
    pub record_content: bool,
}

impl SesSimArgs {
    pub fn to_config(&self) -> SimConfig {
        SimConfig {
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
        }
    }
}

/// Serves the simulator until Ctrl-C, then shuts it down.
pub async fn run_ses_sim(args: SesSimArgs) -> anyhow::Result<()> {
    let server = sim::start(args.to_config(), args.listen).await?;
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
        let config = command.args.to_config();
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
        let config = command.args.to_config();
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
    fn zero_rate_is_rejected() {
        assert!(Command::try_parse_from(["ses-sim", "--max-send-rate", "0"]).is_err());
    }
}
