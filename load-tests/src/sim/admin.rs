//! The simulator's own endpoints under `/sim`, for tests and load runs:
//!
//! - `GET /sim/stats`: counters (`SimStats`) as JSON, with a `timeline` object
//!   (`SimTimeline`) of the recipients admitted and calls throttled per 100 ms slot.
//!   With `?calls=true` the timeline also lists the exact time of each admitted call.
//!   When a webhook is configured, a `webhook` object (`WebhookStats`) counts the SES
//!   events generated, posted and failed by type, the retries and the queue waits.
//! - `GET /sim/messages?batchId=...&limit=...`: accepted recipients in acceptance order
//!   (`SimMessage`), at most `limit` (default 1000).
//! - `POST /sim/reset`: clears records, counters (webhook counters too), the timeline,
//!   the rate and the 24-hour window, but keeps templates and fault settings.
//! - `GET` or `POST /sim/config`: reads or changes the faults at run time, e.g.
//!   `{"throttleRatio": 0.3}` to start a throttling storm and `{"throttleRatio": 0}` to
//!   end it. Fields left out keep their value.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::events::WebhookStats;
use super::faults::FaultSettings;
use super::recorder::{SimMessage, SimStats};
use super::state::SimState;
use super::timeline::SimTimeline;

const DEFAULT_MESSAGES_LIMIT: usize = 1000;

pub(crate) fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route("/sim/stats", get(stats))
        .route("/sim/messages", get(messages))
        .route("/sim/reset", post(reset))
        .route("/sim/config", get(config).post(update_config))
}

/// A rejected `/sim` request: HTTP 400 with `{"message": ...}`.
struct AdminError(String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.0 });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// The body of `/sim/stats`: the counters at the top level, as before the timeline
/// existed, and the timeline and webhook counters beside them.
#[derive(Debug, Serialize)]
struct StatsResponse {
    #[serde(flatten)]
    stats: SimStats,
    timeline: SimTimeline,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook: Option<WebhookStats>,
}

#[derive(Debug, Deserialize)]
struct StatsQuery {
    #[serde(default)]
    calls: bool,
}

async fn stats(
    State(state): State<Arc<SimState>>,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> Result<Json<StatsResponse>, AdminError> {
    let Query(query) = query.map_err(|err| AdminError(format!("invalid query string: {err}")))?;
    Ok(Json(StatsResponse {
        stats: state.recorder.stats(),
        timeline: state.timeline.snapshot(query.calls),
        webhook: state.events.as_ref().map(|events| events.stats()),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessagesQuery {
    batch_id: Option<String>,
    limit: Option<usize>,
}

async fn messages(
    State(state): State<Arc<SimState>>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Result<Json<Vec<SimMessage>>, AdminError> {
    let Query(query) = query.map_err(|err| AdminError(format!("invalid query string: {err}")))?;
    let limit = query.limit.unwrap_or(DEFAULT_MESSAGES_LIMIT);
    Ok(Json(
        state.recorder.messages(query.batch_id.as_deref(), limit),
    ))
}

async fn reset(State(state): State<Arc<SimState>>) -> StatusCode {
    state.reset();
    tracing::info!("SES simulator reset");
    StatusCode::NO_CONTENT
}

/// Fault settings on the wire. In a request every field is optional.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultConfig {
    throttle_ratio: Option<f64>,
    server_error_ratio: Option<f64>,
    fail_after_accept_ratio: Option<f64>,
    latency_ms: Option<u64>,
}

impl From<FaultSettings> for FaultConfig {
    fn from(settings: FaultSettings) -> Self {
        Self {
            throttle_ratio: Some(settings.throttle_ratio),
            server_error_ratio: Some(settings.server_error_ratio),
            fail_after_accept_ratio: Some(settings.fail_after_accept_ratio),
            latency_ms: Some(u64::try_from(settings.latency.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

async fn config(State(state): State<Arc<SimState>>) -> Json<FaultConfig> {
    Json(state.faults.settings().into())
}

async fn update_config(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<FaultConfig>, AdminError> {
    let update: FaultConfig = serde_json::from_slice(&body)
        .map_err(|err| AdminError(format!("invalid fault configuration: {err}")))?;
    let ratios = [
        ("throttleRatio", update.throttle_ratio),
        ("serverErrorRatio", update.server_error_ratio),
        ("failAfterAcceptRatio", update.fail_after_accept_ratio),
    ];
    for (field, ratio) in ratios {
        if let Some(ratio) = ratio {
            if !(0.0..=1.0).contains(&ratio) {
                return Err(AdminError(format!(
                    "{field} is {ratio}; it must be between 0 and 1"
                )));
            }
        }
    }

    let current = state.faults.settings();
    let settings = FaultSettings {
        throttle_ratio: update.throttle_ratio.unwrap_or(current.throttle_ratio),
        server_error_ratio: update
            .server_error_ratio
            .unwrap_or(current.server_error_ratio),
        fail_after_accept_ratio: update
            .fail_after_accept_ratio
            .unwrap_or(current.fail_after_accept_ratio),
        latency: update
            .latency_ms
            .map_or(current.latency, Duration::from_millis),
    };
    state.faults.apply(settings);
    tracing::info!(
        throttle_ratio = settings.throttle_ratio,
        server_error_ratio = settings.server_error_ratio,
        fail_after_accept_ratio = settings.fail_after_accept_ratio,
        latency_ms = settings.latency.as_millis() as u64,
        "SES simulator faults changed"
    );
    Ok(Json(settings.into()))
}
