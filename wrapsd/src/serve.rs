//! `wrapsd serve`, `wrapsd api` and `wrapsd dispatch`: start the store, the
//! streams, the metrics listener and the requested halves, and stop them
//! together on Ctrl-C or SIGTERM.

use std::sync::Arc;

use anyhow::Context;
use control_plane::{ApiConfig, AppState, Probe, StoreProbe};
use dispatcher::{Dispatcher, DispatcherConfig};
use futures::future::BoxFuture;
use store::{KeyType, Store};
use streams::{Streams, StreamsConfig};
use tokio_util::sync::CancellationToken;

use crate::admin::open_store;
use crate::config::Config;
use crate::telemetry;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// API and dispatcher in one process.
    Both,
    Api,
    Dispatcher,
}

/// Opens the configured streams backend: Redis when `redis_url` is set,
/// else in-process queues.
pub async fn open_streams(config: &Config) -> anyhow::Result<Streams> {
    let streams_config = StreamsConfig {
        key_prefix: config.redis_prefix.clone(),
        ..StreamsConfig::default()
    };
    match &config.redis_url {
        Some(url) => Streams::redis(url, streams_config)
            .await
            .context("cannot connect to Redis"),
        None => Streams::in_process(streams_config).context("cannot start in-process streams"),
    }
}

pub async fn run(config: Config, role: Role) -> anyhow::Result<()> {
    if role != Role::Both && config.redis_url.is_none() {
        anyhow::bail!(
            "`wrapsd {}` needs WRAPS_REDIS_URL: in-process streams cannot connect separate processes; use `wrapsd serve` for one process",
            if role == Role::Api { "api" } else { "dispatch" }
        );
    }

    let store = open_store(&config).await?;
    let streams = Arc::new(open_streams(&config).await?);
    telemetry::start_metrics(config.metrics_listen)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));

    let mut tasks = tokio::task::JoinSet::new();
    if role != Role::Api {
        let dispatcher = Dispatcher::new(streams.clone(), dispatcher_config(&config));
        tasks.spawn(dispatcher.run(shutdown.clone()));
    }
    if role != Role::Dispatcher {
        bootstrap_default_org(&store).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (WRAPS_LISTEN)", config.listen))?;
        let state = AppState::new(store.clone(), api_config(&config), probes(&store, &streams));
        let app = control_plane::app(state);
        tracing::info!(listen = %config.listen, public_url = config.public_url(), "API listening");
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "API server failed");
                stop.cancel();
            }
        });
    }

    while tasks.join_next().await.is_some() {}
    tracing::info!("wrapsd stopped");
    Ok(())
}

fn api_config(config: &Config) -> ApiConfig {
    ApiConfig {
        public_base_url: config.public_url(),
        role_name: config.role_name.clone(),
        plan_gates: config.plan_gates,
        ..ApiConfig::default()
    }
}

fn dispatcher_config(config: &Config) -> DispatcherConfig {
    DispatcherConfig {
        shards: config.shards,
        lease: config.shard_lease(),
        ..DispatcherConfig::default()
    }
}

fn probes(store: &Store, streams: &Arc<Streams>) -> Vec<Arc<dyn Probe>> {
    vec![
        Arc::new(StoreProbe(store.clone())),
        Arc::new(StreamsProbe(streams.clone())),
    ]
}

/// Readiness probe of the streams backend: one round trip that reads the
/// dead letters.
struct StreamsProbe(Arc<Streams>);

impl Probe for StreamsProbe {
    fn name(&self) -> &'static str {
        "streams"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.0
                .dead_letters
                .list(None, 1)
                .await
                .map(|_| ())
                .map_err(|err| err.to_string())
        })
    }
}

/// On first start with no organisation, creates one and prints an API key
/// for it, so a new install can make its first request at once.
async fn bootstrap_default_org(store: &Store) -> anyhow::Result<()> {
    if store.count_orgs().await? > 0 {
        return Ok(());
    }
    let org = store.create_org("Default", "business").await?;
    let key = store
        .create_api_key(org.id, "bootstrap", KeyType::Live, None)
        .await?;
    tracing::info!(organization_id = %org.id, api_key_id = %key.record.id, "created the default organisation and its first API key");
    println!();
    println!(
        "  wrapsd created organisation \"Default\" ({}) and this API key.",
        org.id
    );
    println!("  It is shown once; store it now:");
    println!();
    println!("    {}", key.plaintext);
    println!();
    Ok(())
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(term) => term,
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops wrapsd");
                let _ = ctrl_c.await;
                shutdown.cancel();
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested");
    shutdown.cancel();
}
