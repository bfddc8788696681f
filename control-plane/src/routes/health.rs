//! `GET /`, `GET /health` and `GET /health/ready`. No authentication.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use schemas::health::{ComponentStatus, Health, Info, Readiness};
use schemas::ErrorCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// Version reported by the info and health routes; clients of the hosted
/// service expect the API version, not the build version.
const API_VERSION: &str = "1.0.0";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(health))
        .routes(routes!(ready))
}

#[utoipa::path(get, path = "/", tag = "health", responses((status = 200, body = Info)))]
async fn info() -> Json<Info> {
    Json(Info {
        name: "Wraps Platform API".into(),
        version: API_VERSION.into(),
        docs: "/swagger".into(),
    })
}

/// Liveness: responds while the process runs, without checking dependencies.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        timestamp: schemas::time::format(&chrono::Utc::now()),
        version: API_VERSION.into(),
    })
}

/// Readiness: checks the store and the streams backend, and responds 503
/// naming each component that failed.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let mut components = Vec::with_capacity(state.probes.len());
    for probe in state.probes.iter() {
        let result = probe.check().await;
        if let Err(error) = &result {
            tracing::warn!(component = probe.name(), error, "readiness check failed");
        }
        components.push(ComponentStatus {
            name: probe.name().into(),
            ok: result.is_ok(),
            error: result.err(),
        });
    }

    let failing: Vec<&str> = components
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    if failing.is_empty() {
        let readiness = Readiness {
            status: "ok".into(),
            components,
            error: None,
            code: None,
        };
        return (StatusCode::OK, Json(readiness));
    }

    let readiness = Readiness {
        status: "unavailable".into(),
        error: Some(format!("Not ready: {} unavailable", failing.join(", "))),
        code: Some(ErrorCode::InternalError),
        components,
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(readiness))
}
