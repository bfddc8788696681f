//! Bearer authentication with API keys.
//!
//! `Authorization: Bearer <key>`, the `Bearer ` prefix being optional as in
//! the hosted service. wrapsd has no dashboard and therefore no login
//! sessions: a token that is not an API key (`wraps_...`) is rejected like an
//! unknown key. Every failure answers the same 401 body so that callers
//! cannot tell a revoked key from a mistyped one; the reason is only logged.

use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use store::AuthContext;

use crate::error::AppError;
use crate::request_id::RequestId;
use crate::AppState;

/// The authenticated caller, for handlers.
#[derive(Clone, Debug)]
pub struct Auth(pub AuthContext);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AuthContext>()
            .cloned()
            .map(Auth)
            .ok_or_else(AppError::unauthorized)
    }
}

/// Reason a request was not authenticated, which is logged and never returned.
#[derive(Debug, Clone, Copy)]
enum Denial {
    MissingHeader,
    NotAnApiKey,
    UnknownRevokedOrExpiredKey,
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let token = match value.strip_prefix("Bearer") {
        Some(rest) if rest.is_empty() || rest.starts_with(' ') => rest.trim_start(),
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

/// Authenticates the request before anything else looks at it, then writes
/// the `api.request` access log line once the response is ready.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();

    let denial = match bearer_token(request.headers()) {
        None => Err(Denial::MissingHeader),
        Some(token) if !token.starts_with("wraps_") => Err(Denial::NotAnApiKey),
        Some(token) => match state.store.authenticate(token).await {
            Ok(Some(context)) => Ok(context),
            Ok(None) => Err(Denial::UnknownRevokedOrExpiredKey),
            Err(err) => return AppError::from(err).into_response(),
        },
    };
    let context = match denial {
        Ok(context) => context,
        Err(reason) => {
            tracing::warn!(target: "api.authz_denied", request_id, ?reason, path = request.uri().path(), "request rejected: not authenticated");
            return AppError::unauthorized().into_response();
        }
    };

    request.extensions_mut().insert(context.clone());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;

    tracing::info!(
        target: "api.request",
        request_id,
        %method,
        path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_millis() as u64,
        organization_id = %context.organization_id,
        api_key_id = %context.api_key_id,
        user_id = context.user_id.as_deref(),
        plan_id = context.plan.as_str(),
        auth_method = "api_key",
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn bearer_prefix_is_optional() {
        assert_eq!(
            bearer_token(&headers("Bearer wraps_live_x")),
            Some("wraps_live_x")
        );
        assert_eq!(bearer_token(&headers("wraps_live_x")), Some("wraps_live_x"));
        assert_eq!(bearer_token(&headers("Bearer ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
