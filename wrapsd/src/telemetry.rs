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

/// Starts the `/metrics` listener.
pub fn start_metrics(listen: SocketAddr) -> anyhow::Result<()> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(listen)
        .install()
        .map_err(|err| anyhow::anyhow!("cannot start the metrics listener on {listen}: {err}"))?;
    tracing::info!(%listen, "metrics listener started");
    Ok(())
}
