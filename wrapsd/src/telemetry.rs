//! Logging and the Prometheus exporter.

use std::net::SocketAddr;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Logs to stderr, so that commands that print results (an API key, an id)
/// keep stdout for them. `RUST_LOG` overrides `default_level`.
pub fn init_logging(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},sqlx=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Bucket bounds, in seconds, of every `*_seconds` histogram: from a
/// millisecond (a local bucket check) to a minute (a wait on a daily limit).
const SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

/// Starts the `/metrics` listener.
pub fn start_metrics(listen: SocketAddr) -> anyhow::Result<()> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(listen)
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
            &SECONDS_BUCKETS,
        )
        .map_err(|err| anyhow::anyhow!("invalid histogram buckets: {err}"))?
        .install()
        .map_err(|err| anyhow::anyhow!("cannot start the metrics listener on {listen}: {err}"))?;
    metrics_catalogue::describe();
    tracing::info!(%listen, "metrics listener started");
    Ok(())
}
