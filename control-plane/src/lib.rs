//! The wrapsd HTTP API (control plane).
//!
//! Requests pass, outermost first: trailing-slash normalisation, CORS,
//! request id, error rendering, then per group. The `/v1` group
//! authenticates before anything reads the body, so an unauthenticated
//! request gets 401 rather than 422; then `Idempotency-Key` handling; then,
//! on the rate-limited groups, the per-organisation limit ([`limits`]); then
//! the handler, whose extractors apply plan gates before validation. The API never calls the dispatcher: it writes the store and
//! the streams, and the dispatcher picks the work up from there.

pub mod auth;
pub mod docs;
pub mod error;
pub mod idempotency;
pub mod json;
pub mod limits;
pub mod request_id;
pub mod routes;
pub mod sns_https;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderName, Method, Uri};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::future::BoxFuture;
use metrics_catalogue as names;
use ratelimit::{Limiter, Plans};
use schemas::unsubscribe::UnsubscribeKeys;
use ses::SesProvider;
use store::Store;
use streams::Streams;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::AppError;

/// Settings of the API, validated by the binary before it starts.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Base URL clients reach this API at, without a trailing slash; used
    /// for webhook endpoints and the OpenAPI server entry.
    pub public_base_url: String,
    /// IAM role name in the role ARN given to new connections.
    pub role_name: String,
    pub body_limit_bytes: usize,
    pub idempotency_ttl: Duration,
    /// Number of dispatcher shards; jobs for an AWS account go to
    /// `schemas::jobs::shard_for_account(account, shards)`.
    pub shards: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            public_base_url: "http://127.0.0.1:8080".into(),
            role_name: "wraps-console-access-role".into(),
            body_limit_bytes: 1024 * 1024,
            idempotency_ttl: Duration::from_secs(24 * 60 * 60),
            shards: 16,
        }
    }
}

/// A dependency the readiness route checks.
pub trait Probe: Send + Sync {
    fn name(&self) -> &'static str;
    /// Resolves to `Err(reason)` when the dependency does not respond.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// Readiness probe of the store.
pub struct StoreProbe(pub Store);

impl Probe for StoreProbe {
    fn name(&self) -> &'static str {
        "store"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.0.ping().await.map_err(|err| err.to_string()) })
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Work queues to the dispatchers.
    pub streams: Arc<Streams>,
    /// SES clients, for publishing templates into customers' accounts.
    pub ses: Arc<dyn SesProvider>,
    pub config: Arc<ApiConfig>,
    pub probes: Arc<Vec<Arc<dyn Probe>>>,
    /// Plan limits and feature gates; `plans.enforced` is false on a
    /// single-tenant install.
    pub plans: Arc<Plans>,
    /// Buckets of the per-organisation API limit.
    pub limiter: Limiter,
    /// Keys of unsubscribe links, read from the store on first use.
    unsubscribe_keys: Arc<tokio::sync::RwLock<Option<UnsubscribeKeys>>>,
    /// SNS verification and connection cache of the SES event webhook.
    pub webhooks: Arc<routes::webhooks::WebhookState>,
}

impl AppState {
    pub fn new(
        store: Store,
        streams: Arc<Streams>,
        ses: Arc<dyn SesProvider>,
        config: ApiConfig,
        probes: Vec<Arc<dyn Probe>>,
    ) -> Self {
        Self {
            store,
            streams,
            ses,
            config: Arc::new(config),
            probes: Arc::new(probes),
            plans: Arc::new(Plans::hosted()),
            limiter: Limiter::local(),
            unsubscribe_keys: Arc::default(),
            webhooks: Arc::new(routes::webhooks::WebhookState::new(
                sns_https::default_clients(),
            )),
        }
    }

    /// Uses `clients` to fetch SNS certificates and confirm subscriptions,
    /// in place of HTTPS.
    pub fn with_webhook_clients(mut self, clients: routes::webhooks::WebhookClients) -> Self {
        self.webhooks = Arc::new(routes::webhooks::WebhookState::new(clients));
        self
    }

    /// Uses `keys` for unsubscribe links instead of reading them on first use.
    pub fn with_unsubscribe_keys(self, keys: UnsubscribeKeys) -> Self {
        *self
            .unsubscribe_keys
            .try_write()
            .expect("no reader exists yet") = Some(keys);
        self
    }

    /// Returns the unsubscribe keys, read from the store the first time.
    pub async fn unsubscribe_keys(&self) -> Result<UnsubscribeKeys, store::StoreError> {
        if let Some(keys) = self.unsubscribe_keys.read().await.as_ref() {
            return Ok(keys.clone());
        }
        self.reload_unsubscribe_keys().await
    }

    /// Reads the unsubscribe keys from the store again, after a rotation.
    pub async fn reload_unsubscribe_keys(&self) -> Result<UnsubscribeKeys, store::StoreError> {
        let keys = self.store.unsubscribe_keys().await?;
        *self.unsubscribe_keys.write().await = Some(keys.clone());
        Ok(keys)
    }

    /// Replaces the hosted plan table and the in-process limiter.
    pub fn with_limits(mut self, plans: Arc<Plans>, limiter: Limiter) -> Self {
        self.plans = plans;
        self.limiter = limiter;
        self
    }
}

/// Returns the authenticated `/v1` resources without the group middleware;
/// with `state`, the rate-limited groups carry their limit.
fn v1_routes(state: Option<&AppState>) -> OpenApiRouter<AppState> {
    let limited = OpenApiRouter::new()
        .merge(routes::batch::router())
        .merge(routes::templates::router());
    let limited = match state {
        Some(state) => limited.route_layer(from_fn_with_state(state.clone(), limits::per_minute)),
        None => limited,
    };
    OpenApiRouter::new()
        .merge(routes::contacts::router())
        .merge(routes::topics::router())
        .merge(routes::connections::router())
        .merge(limited)
}

/// Builds the OpenAPI 3.0.3 document for a deployment reached at `server_url`.
pub fn openapi_document(server_url: &str) -> serde_json::Value {
    let (_, doc) = OpenApiRouter::<AppState>::with_openapi(docs::ApiDoc::openapi())
        .merge(routes::health::router())
        .merge(routes::unsubscribe::router())
        .merge(routes::confirm::router())
        .merge(routes::preferences::router())
        .merge(routes::webhooks::router())
        .merge(v1_routes(None))
        .split_for_parts();
    docs::finish_document(doc, server_url)
}

/// Builds the complete API service.
pub fn app(state: AppState) -> Router {
    let v1 = v1_routes(Some(&state))
        .layer(from_fn(error::render_errors))
        .layer(from_fn_with_state(
            state.clone(),
            idempotency::idempotent_post,
        ))
        .layer(from_fn_with_state(state.clone(), auth::require_api_key));
    let (routes, doc) = OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .merge(routes::health::router())
        .merge(routes::unsubscribe::router())
        .merge(routes::confirm::router())
        .merge(routes::preferences::router())
        .merge(routes::webhooks::router())
        .merge(v1)
        .split_for_parts();
    let document = docs::finish_document(doc, &state.config.public_base_url);

    let router = routes
        .merge(SwaggerUi::new("/swagger").external_url_unchecked("/swagger/json", document))
        .fallback(not_found)
        .layer(from_fn(record_request))
        .layer(DefaultBodyLimit::max(state.config.body_limit_bytes))
        .with_state(state)
        .layer(from_fn(error::render_errors))
        .layer(from_fn(request_id::assign_request_id))
        .layer(cors());

    // Routing happens inside `router`, so the path is normalised here, in a
    // router that has nothing but the fallback.
    Router::new()
        .fallback_service(router)
        .layer(from_fn(trim_trailing_slash))
}

/// Counts and times every request by its route template, so the labels
/// stay bounded: `/v1/contacts/{id}`, never the id itself. Requests that
/// match no route are labelled `unmatched`.
async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let class = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::histogram!(names::API_REQUEST_DURATION, "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(names::API_REQUESTS, "route" => route, "method" => method, "status_class" => class)
        .increment(1);
    response
}

async fn not_found() -> AppError {
    AppError::not_found("Not found")
}

/// CORS as the hosted service sets it: any origin, no credentials.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-organization-id"),
            idempotency::IDEMPOTENCY_KEY.clone(),
        ])
        .expose_headers([request_id::X_REQUEST_ID.clone()])
        .max_age(Duration::from_secs(24 * 60 * 60))
}

/// Serves every path with and without a trailing slash, since clients of
/// the hosted service call collections as `/v1/contacts/`. Swagger UI's own
/// paths are left alone because it redirects `/swagger` to `/swagger/`.
async fn trim_trailing_slash(mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with("/swagger") {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        match rebuilt.parse::<Uri>() {
            Ok(uri) => *request.uri_mut() = uri,
            Err(_) => return AppError::not_found("Not found").into_response(),
        }
    }
    next.run(request).await
}
