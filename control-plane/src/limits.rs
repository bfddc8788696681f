//! The per-organisation API rate limit and the plan gates.
//!
//! The limit applies to the rate-limited route groups, after authentication
//! and before the plan gate. Here those are batches and templates. Segments,
//! domains, email metrics and workflow triggers take the same layer when
//! they arrive. Each organisation has a token bucket per window of its
//! plan (per minute, and per day when the plan sets one), shared by every
//! API replica through Redis when Redis is configured.
//!
//! Headers on every limited response: `RateLimit-Limit`,
//! `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the bucket is
//! full again), `RateLimit-Policy` (`<limit>;w=<seconds>` per window) and the
//! `X-RateLimit-*` duplicates, describing the window closest to running out.
//! A rejection is 429 with `Retry-After`, the seconds until the request fits,
//! which is also the `RateLimit-Reset` of that response.
//!
//! When the limiter cannot decide (Redis down or slow), the route group's
//! [`FailurePolicy`] applies: reads go through without headers, and
//! requests that start costly fan-out (creating a batch) are rejected with
//! 503 so that an outage cannot become an unmetered flood of broadcasts.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_catalogue as names;
use ratelimit::{Decision, Plans};
use store::AuthContext;

use crate::error::AppError;
use crate::AppState;

/// The behaviour when the limiter cannot decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Let the request through, without rate-limit headers.
    Open,
    /// Reject with 503 and `Retry-After: 1`.
    Closed,
}

/// Returns the policy of a request: closed for `POST /v1/batch`, which
/// starts a fan-out to up to millions of recipients, open for the rest.
pub fn failure_policy(method: &Method, path: &str) -> FailurePolicy {
    if method == Method::POST && path.trim_end_matches('/') == "/v1/batch" {
        FailurePolicy::Closed
    } else {
        FailurePolicy::Open
    }
}

/// Applies the per-organisation limit to the limited route groups.
pub async fn per_minute(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let plans = &state.plans;
    if !plans.enforced {
        return next.run(request).await;
    }
    let Some(auth) = request.extensions().get::<AuthContext>().cloned() else {
        // Unreachable behind the auth layer, and the handler returns 401.
        return next.run(request).await;
    };
    let windows = plans.get(Some(&auth.plan)).api_windows();
    if windows.is_empty() {
        return next.run(request).await;
    }

    let key = format!("api:{}", auth.organization_id);
    match state.limiter.check(&key, &windows, 1).await {
        Ok(decision) if decision.allowed => {
            let mut response = next.run(request).await;
            set_headers(response.headers_mut(), &decision);
            response
        }
        Ok(decision) => reject(&auth, &decision),
        Err(err) => match failure_policy(request.method(), request.uri().path()) {
            FailurePolicy::Open => {
                tracing::warn!(error = %err, organization_id = %auth.organization_id, "rate limiter unavailable; failing open");
                next.run(request).await
            }
            FailurePolicy::Closed => {
                tracing::error!(error = %err, organization_id = %auth.organization_id, "rate limiter unavailable; rejecting a fan-out request");
                let mut response = AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The rate limiter is unavailable; retry shortly",
                )
                .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
        },
    }
}

fn reject(auth: &AuthContext, decision: &Decision) -> Response {
    let rejected = decision
        .windows
        .iter()
        .find(|w| !w.allowed)
        .or_else(|| decision.windows.first());
    let message = match rejected {
        Some(state) if state.window.period.as_secs() == 60 => {
            format!(
                "Rate limit exceeded: {} requests per minute",
                state.window.limit
            )
        }
        Some(state) if state.window.period.as_secs() == 86_400 => {
            format!(
                "Rate limit exceeded: {} requests per day",
                state.window.limit
            )
        }
        Some(state) => format!(
            "Rate limit exceeded: {} requests per {} seconds",
            state.window.limit,
            state.window.period.as_secs()
        ),
        None => "Rate limit exceeded".to_owned(),
    };
    tracing::info!(target: "api.rate_limited", organization_id = %auth.organization_id, plan_id = auth.plan.as_str(), "request rejected by the rate limit");
    metrics::counter!(names::API_RATE_LIMITED).increment(1);
    let mut response = AppError::new(StatusCode::TOO_MANY_REQUESTS, message).into_response();
    set_headers(response.headers_mut(), decision);
    response
}

/// Writes the rate-limit headers of `decision` into `headers`.
pub fn set_headers(headers: &mut HeaderMap, decision: &Decision) {
    let Some(tightest) = decision.tightest() else {
        return;
    };
    let (remaining, reset) = if decision.allowed {
        (tightest.remaining, ceil_seconds(tightest.reset))
    } else {
        let wait = decision.retry_after.map(ceil_seconds).unwrap_or(
            // A request that can never fit: point at the longest window.
            decision
                .windows
                .iter()
                .map(|w| w.window.period.as_secs())
                .max()
                .unwrap_or(60),
        );
        (0, wait.max(1))
    };
    let policy = decision
        .windows
        .iter()
        .map(|w| w.window.policy())
        .collect::<Vec<_>>()
        .join(", ");
    let limit = tightest.window.limit.to_string();
    let remaining = remaining.to_string();
    let reset = reset.to_string();
    for (name, value) in [
        ("ratelimit-limit", &limit),
        ("ratelimit-remaining", &remaining),
        ("ratelimit-reset", &reset),
        ("ratelimit-policy", &policy),
        ("x-ratelimit-limit", &limit),
        ("x-ratelimit-remaining", &remaining),
        ("x-ratelimit-reset", &reset),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    if !decision.allowed {
        if let Ok(value) = HeaderValue::from_str(&reset) {
            headers.insert(header::RETRY_AFTER, value);
        }
    }
}

fn ceil_seconds(duration: std::time::Duration) -> u64 {
    let whole = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        whole + 1
    } else {
        whole
    }
}

/// Rejects a plan without `feature` with the spec's 403.
pub fn require_feature(plans: &Plans, auth: &AuthContext, feature: &str) -> Result<(), AppError> {
    if plans.allows(Some(&auth.plan), feature) {
        return Ok(());
    }
    let minimum = Plans::feature_rank(feature).unwrap_or(0);
    let minimum = ["free", "pro", "business"][usize::from(minimum.min(2))];
    tracing::warn!(target: "api.authz_denied", organization_id = %auth.organization_id, plan_id = auth.plan.as_str(), feature, "request rejected: the plan lacks the feature");
    Err(AppError::new(
        StatusCode::FORBIDDEN,
        format!(
            "Feature '{feature}' requires {minimum} plan or higher. Current plan: {}. Upgrade at https://wraps.dev/upgrade",
            auth.plan
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratelimit::{LocalLimiter, Window};

    fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
        headers.get(name).unwrap().to_str().unwrap()
    }

    #[test]
    fn policy_by_route() {
        assert_eq!(
            failure_policy(&Method::POST, "/v1/batch"),
            FailurePolicy::Closed
        );
        assert_eq!(
            failure_policy(&Method::POST, "/v1/batch/"),
            FailurePolicy::Closed
        );
        assert_eq!(
            failure_policy(&Method::GET, "/v1/batch"),
            FailurePolicy::Open
        );
        assert_eq!(
            failure_policy(&Method::POST, "/v1/batch/abc/resume"),
            FailurePolicy::Open
        );
        assert_eq!(
            failure_policy(&Method::POST, "/v1/templates"),
            FailurePolicy::Open
        );
    }

    #[test]
    fn headers_describe_the_tightest_window() {
        let limiter = LocalLimiter::default();
        let windows = [Window::per_minute(50), Window::per_day(60)];
        let mut decision = limiter.check("org", &windows, 1);
        for _ in 0..54 {
            decision = limiter.check("org", &windows, 1);
        }
        // 50 were let through and 5 rejected without being charged: the
        // minute window has 0 of 50 left, the day window 10 of 60.
        let mut headers = HeaderMap::new();
        set_headers(&mut headers, &decision);
        assert_eq!(header(&headers, "ratelimit-policy"), "50;w=60, 60;w=86400");
        assert!(!decision.allowed);
        assert_eq!(header(&headers, "ratelimit-limit"), "50");
        assert_eq!(header(&headers, "ratelimit-remaining"), "0");
        assert_eq!(header(&headers, "x-ratelimit-remaining"), "0");
        assert_eq!(
            header(&headers, "retry-after"),
            header(&headers, "ratelimit-reset")
        );
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_seconds(std::time::Duration::from_millis(1200)), 2);
        assert_eq!(ceil_seconds(std::time::Duration::from_secs(60)), 60);
        assert_eq!(ceil_seconds(std::time::Duration::ZERO), 0);
    }
}
