//! `wrapsd serve`, `wrapsd api` and `wrapsd dispatch`: start the store, the
//! streams, the metrics listener and the requested halves, and stop them
//! together on Ctrl-C or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use control_plane::{ApiConfig, AppState, Probe, StoreProbe};
use dispatcher::content::UnsubscribeLinks;
use dispatcher::{
    BroadcastConfig, Broadcaster, Dispatcher, DispatcherConfig, SesProvider, SweeperConfig,
};
use futures::future::BoxFuture;
use ratelimit::{Pacers, SendLimits};
use ses::{AssumeRole, AwsConnection, ConnectionTarget, SesClients, SesSettings};
use store::{KeyType, Store};
use streams::{Streams, StreamsConfig};
use tokio_util::sync::CancellationToken;

use crate::admin::open_store;
use crate::config::Config;
use crate::telemetry;

/// How long open API connections (progress streams, slow requests) may
/// take to finish after a shutdown was requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
        delivery_lease: Duration::from_secs(config.delivery_lease_secs),
        ..StreamsConfig::default()
    };
    match &config.redis_url {
        Some(url) => Streams::redis(url, streams_config)
            .await
            .context("cannot connect to Redis"),
        None => Streams::in_process(streams_config).context("cannot start in-process streams"),
    }
}

/// A started server: its tasks and the address the API listens on.
pub struct Running {
    pub shutdown: CancellationToken,
    pub api_addr: Option<std::net::SocketAddr>,
    /// Address of the `/metrics` listener.
    pub metrics_addr: std::net::SocketAddr,
    pub store: Store,
    tasks: tokio::task::JoinSet<()>,
}

impl Running {
    /// Waits until every task ended, after Ctrl-C, SIGTERM or `shutdown`.
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
        tracing::info!("wrapsd stopped");
    }
}

pub async fn run(config: Config, role: Role) -> anyhow::Result<()> {
    let running = start(config, role, true).await?;
    tokio::spawn(cancel_on_signal(running.shutdown.clone()));
    running.wait().await;
    Ok(())
}

/// Starts the requested halves and returns once the API listens. With
/// `bootstrap`, an empty store gets a default organisation and a printed key.
pub async fn start(config: Config, role: Role, bootstrap: bool) -> anyhow::Result<Running> {
    if role != Role::Both && config.redis_url.is_none() {
        anyhow::bail!(
            "`wrapsd {}` needs WRAPS_REDIS_URL: in-process streams cannot connect separate processes; use `wrapsd serve` for one process",
            if role == Role::Api { "api" } else { "dispatch" }
        );
    }

    let store = open_store(&config).await?;
    let streams = Arc::new(open_streams(&config).await?);
    let shutdown = CancellationToken::new();
    let metrics_addr = telemetry::start_metrics(config.metrics_listen, shutdown.clone()).await?;

    let ses: Arc<dyn SesProvider> = Arc::new(SdkSesProvider::new(&config)?);
    match &config.ses_endpoint_url {
        Some(endpoint) => tracing::info!(
            endpoint,
            "SES calls go to the configured endpoint, without AWS credentials"
        ),
        None => tracing::info!("SES calls go to AWS, assuming each connection's role"),
    }
    let plans = Arc::new(config.plan_table()?);
    let limiter = match &config.redis_url {
        Some(url) => ratelimit::Limiter::redis(
            url,
            &format!("{}:", config.redis_prefix),
            Duration::from_secs(2),
        )
        .await
        .context("cannot connect the rate limiter to Redis (WRAPS_REDIS_URL)")?,
        None => ratelimit::Limiter::local(),
    };
    let unsubscribe_keys = store
        .unsubscribe_keys()
        .await
        .context("cannot read the unsubscribe signing keys")?;
    let mut tasks = tokio::task::JoinSet::new();

    // The API binds first, so that with port 0 the public URL in links
    // names the port actually bound.
    let mut config = config;
    let listener = if role != Role::Dispatcher {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {} (WRAPS_LISTEN)", config.listen))?;
        if config.public_url.is_none() {
            config.public_url = Some(format!("http://{}", listener.local_addr()?));
        }
        Some(listener)
    } else {
        None
    };

    if role != Role::Api {
        let broadcaster = Arc::new(Broadcaster {
            store: store.clone(),
            streams: streams.clone(),
            ses: ses.clone(),
            pacers: Pacers::default(),
            send_limits: SendLimits::new(limiter.clone(), plans.clone()),
            unsubscribe: UnsubscribeLinks {
                keys: unsubscribe_keys.clone(),
                base_url: config.public_url(),
            },
            config: broadcast_config(&config),
        });
        let dispatcher = Dispatcher::new(broadcaster, dispatcher_config(&config));
        tasks.spawn(dispatcher.run(shutdown.clone()));
    }

    let mut api_addr = None;
    if let Some(listener) = listener {
        if bootstrap {
            bootstrap_default_org(&store).await?;
        }
        let local = listener.local_addr()?;
        api_addr = Some(local);
        let state = AppState::new(
            store.clone(),
            streams.clone(),
            ses.clone(),
            api_config(&config),
            probes(&store, &streams),
        )
        .with_limits(plans.clone(), limiter.clone())
        .with_unsubscribe_keys(unsubscribe_keys);
        let app = control_plane::app(state);
        tracing::info!(listen = %local, public_url = config.public_url(), "API listening");
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
            // Graceful shutdown waits for open connections, and a progress
            // stream stays open until its batch ends; give them a bounded time.
            let deadline = async {
                stop.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            };
            tokio::select! {
                served = server => {
                    if let Err(err) = served {
                        tracing::error!(error = %err, "API server failed");
                        stop.cancel();
                    }
                }
                _ = deadline => tracing::warn!(grace = ?SHUTDOWN_GRACE, "closing connections still open after the shutdown grace period"),
            }
        });
    }

    Ok(Running {
        shutdown,
        api_addr,
        metrics_addr,
        store,
        tasks,
    })
}

fn broadcast_config(config: &Config) -> BroadcastConfig {
    BroadcastConfig {
        shards: config.shards,
        public_url: config.public_url(),
        daily_reserve: config.ses_daily_reserve as f64,
        confirmation_from: config.confirmation_from.clone(),
        ..BroadcastConfig::default()
    }
}

/// SES clients from aws-sdk-sesv2. With an endpoint override (the simulator
/// or another SES-compatible endpoint) the clients use fixed placeholder
/// credentials and assume no role, so nothing ever reaches AWS itself.
struct SdkSesProvider {
    clients: SesClients,
    assume_roles: bool,
}

impl SdkSesProvider {
    fn new(config: &Config) -> anyhow::Result<Self> {
        let settings = SesSettings {
            endpoint_url: config.ses_endpoint_url.clone(),
            ..SesSettings::default()
        };
        let (clients, assume_roles) = match &config.ses_endpoint_url {
            Some(_) => {
                let credentials = ses::Credentials::new(
                    "wrapsd-simulator",
                    "wrapsd-simulator",
                    None,
                    None,
                    "wrapsd",
                );
                (SesClients::with_credentials(settings, credentials)?, false)
            }
            None => (SesClients::new(settings)?, true),
        };
        Ok(Self {
            clients,
            assume_roles,
        })
    }
}

#[async_trait::async_trait]
impl SesProvider for SdkSesProvider {
    async fn client(&self, connection: &ConnectionTarget) -> Arc<dyn ses::SesClient> {
        let role = self.assume_roles.then(|| AssumeRole {
            role_arn: connection.role_arn.clone(),
            external_id: Some(connection.external_id.clone()),
        });
        let connection = AwsConnection {
            account_id: connection.account_id.clone(),
            region: connection.region.clone(),
            role,
        };
        self.clients.client(&connection).await
    }
}

fn api_config(config: &Config) -> ApiConfig {
    ApiConfig {
        public_base_url: config.public_url(),
        role_name: config.role_name.clone(),
        shards: config.shards,
        ..ApiConfig::default()
    }
}

fn dispatcher_config(config: &Config) -> DispatcherConfig {
    let defaults = DispatcherConfig::default();
    DispatcherConfig {
        shards: config.shards,
        lease: config.shard_lease(),
        sweeper: SweeperConfig {
            // A batch counts as stalled only after its jobs could have been
            // reclaimed, so the sweeper does not race the streams' own recovery.
            stall_after: Duration::from_secs(config.delivery_lease_secs * 2),
            ..defaults.sweeper.clone()
        },
        ..defaults
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
