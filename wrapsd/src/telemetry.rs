//! Logging and the Prometheus exporter.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use axum::Router;
use tokio_util::sync::CancellationToken;

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

/// Installs the Prometheus recorder and serves `/metrics` on `listen` until
/// `shutdown`, returning the address bound (the real port when `listen`
/// names port 0). Histogram upkeep runs every five seconds, so
/// histograms drain even when nothing scrapes them.
pub async fn start_metrics(
    listen: SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
            &SECONDS_BUCKETS,
        )
        .map_err(|err| anyhow::anyhow!("invalid histogram buckets: {err}"))?
        .install_recorder()
        .map_err(|err| anyhow::anyhow!("cannot install the metrics recorder: {err}"))?;
    metrics_catalogue::describe();

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!("cannot start the metrics listener on {listen} (WRAPS_METRICS_LISTEN)")
        })?;
    let bound = listener.local_addr()?;

    let upkeep = handle.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => upkeep.run_upkeep(),
            }
        }
    });

    let app = Router::new().route("/metrics", get(move || std::future::ready(handle.render())));
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(err) = server.await {
            tracing::error!(error = %err, "the metrics listener stopped");
        }
    });
    tracing::info!(listen = %bound, "metrics listener started");
    Ok(bound)
}
