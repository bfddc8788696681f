//! `Idempotency-Key` on POST requests that create or send.
//!
//! The first request with a key runs and its response is stored for the
//! configured time (24 hours by default); a repeat with the same body gets
//! the stored response with `Idempotent-Replayed: true`. A repeat that
//! arrives while the first is still running gets 409, and the same key with
//! another body gets 422. A 5xx or a 429 is not stored, so the client may
//! retry.
//! Keys are scoped to the organisation.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use store::{AuthContext, IdempotencyBegin};

use crate::error::AppError;
use crate::AppState;

pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
static REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Longest accepted key, in bytes.
const MAX_KEY_BYTES: usize = 255;

pub async fn idempotent_post(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(&IDEMPOTENCY_KEY).cloned() else {
        return next.run(request).await;
    };
    let Some(auth) = request.extensions().get::<AuthContext>().cloned() else {
        return next.run(request).await;
    };
    let key = match key.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_KEY_BYTES => key.to_owned(),
        _ => {
            return AppError::invalid_field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
            .into_response()
        }
    };

    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, state.config.body_limit_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let fingerprint = request_fingerprint(parts.method.as_str(), parts.uri.path(), &bytes);

    let org = auth.organization_id;
    let ttl = state.config.idempotency_ttl;
    match state
        .store
        .begin_idempotent(org, &key, &fingerprint, ttl)
        .await
    {
        Ok(IdempotencyBegin::Started) => {}
        Ok(IdempotencyBegin::InFlight) => {
            return AppError::conflict("A request with this Idempotency-Key is still in progress")
                .into_response()
        }
        Ok(IdempotencyBegin::Mismatch) => {
            return AppError::invalid_field(
                "Idempotency-Key",
                "was already used with a different request body",
            )
            .into_response()
        }
        Ok(IdempotencyBegin::Completed { status, body }) => return replay(status, body),
        Err(err) => return AppError::from(err).into_response(),
    }

    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(err) => {
            abandon(&state, &auth, &key).await;
            return AppError::internal(std::io::Error::other(err.to_string())).into_response();
        }
    };

    // A 429 is not a result of the request either, because the client
    // retries it with the same key once the limit allows.
    if parts.status.is_server_error() || parts.status == StatusCode::TOO_MANY_REQUESTS {
        abandon(&state, &auth, &key).await;
    } else if let Err(err) = state
        .store
        .complete_idempotent(org, &key, parts.status.as_u16(), &bytes)
        .await
    {
        tracing::error!(error = %err, organization_id = %org, "failed to store an idempotent response; a retry will run again");
        abandon(&state, &auth, &key).await;
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn abandon(state: &AppState, auth: &AuthContext, key: &str) {
    if let Err(err) = state
        .store
        .abandon_idempotent(auth.organization_id, key)
        .await
    {
        tracing::error!(error = %err, organization_id = %auth.organization_id, "failed to release an idempotency key");
    }
}

fn replay(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(REPLAYED.clone(), HeaderValue::from_static("true"));
    response
}

/// SHA-256 of method, path and body, so a key reused for another request is
/// detected.
fn request_fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hex::encode(hasher.finalize())
}
