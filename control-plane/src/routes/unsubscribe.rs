//! `POST /unsubscribe/{token}` (RFC 8058 one-click) and
//! `GET /unsubscribe/{token}` (a confirmation page). No authentication: the
//! signed token names the organisation, the contact and, for a topic-scoped
//! link, the topic.
//!
//! GET never changes anything, because link scanners and mail previews
//! fetch links. POST always unsubscribes, with or without the one-click
//! form body, responds 200 without a redirect, and is idempotent.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use schemas::unsubscribe::{
    mask_email, token_key_version, TokenError, UnsubscribeClaims, MAX_TOKEN_CHARS,
};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::AppError;
use crate::AppState;

const INVALID_LINK: &str = "Invalid or expired unsubscribe link";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(confirmation_page, unsubscribe))
}

/// Verifies `token`, reloading the keys once when it names a key version
/// this process has not loaded yet (a rotation by another process).
async fn verify(state: &AppState, token: &str) -> Result<UnsubscribeClaims, AppError> {
    if token.len() > MAX_TOKEN_CHARS {
        return Err(AppError::bad_request(INVALID_LINK));
    }
    let keys = state.unsubscribe_keys().await?;
    match keys.verify(token) {
        Ok(claims) => Ok(claims),
        Err(TokenError::UnknownKey)
            if token_key_version(token).is_some_and(|v| v > keys.current_version()) =>
        {
            let keys = state.reload_unsubscribe_keys().await?;
            keys.verify(token)
                .map_err(|_| AppError::bad_request(INVALID_LINK))
        }
        Err(err) => {
            tracing::info!(reason = %err, "unsubscribe link rejected");
            Err(AppError::bad_request(INVALID_LINK))
        }
    }
}

/// True for the RFC 8058 one-click body, `List-Unsubscribe=One-Click`, as
/// a form (in any field order) or as the raw string.
fn is_one_click(headers: &HeaderMap, body: &[u8]) -> bool {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let body = String::from_utf8_lossy(body);
    form && body
        .split('&')
        .any(|pair| pair.trim() == "List-Unsubscribe=One-Click")
}

/// One-click unsubscribe.
#[utoipa::path(post, path = "/unsubscribe/{token}", tag = "unsubscribe",
    params(("token" = String, Path, description = "The signed token from the message's link")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Optional; RFC 8058 clients send `List-Unsubscribe=One-Click`"),
    responses(
        (status = 200, description = "Unsubscribed (also when already unsubscribed)"),
        (status = 400, body = schemas::ApiError, description = "Invalid link"),
        (status = 404, body = schemas::ApiError, description = "The contact no longer exists")))]
async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let claims = verify(&state, &token).await?;
    let Some(_) = state.store.unsubscribe(&claims).await? else {
        return Err(AppError::not_found("Contact not found"));
    };
    metrics::counter!(metrics_catalogue::UNSUBSCRIBES, "scope" => if claims.topic_id.is_some() { "topic" } else { "all" })
        .increment(1);
    let reply = if is_one_click(&headers, &body) {
        json!({ "success": true, "message": "Unsubscribed successfully" })
    } else {
        let message = match claims.topic_id {
            Some(_) => "You have been unsubscribed from this topic.",
            None => "You have been unsubscribed from all emails.",
        };
        json!({
            "success": true,
            "message": message,
            "contactId": claims.contact_id,
            "topicId": claims.topic_id,
        })
    };
    Ok((StatusCode::OK, Json(reply)).into_response())
}

/// A page that shows what the link unsubscribes from, with a button that
/// posts back. Changes nothing.
#[utoipa::path(get, path = "/unsubscribe/{token}", tag = "unsubscribe",
    params(("token" = String, Path, description = "The signed token from the message's link")),
    responses(
        (status = 200, content_type = "text/html", description = "Confirmation page"),
        (status = 400, content_type = "text/html", description = "Invalid link"),
        (status = 404, content_type = "text/html", description = "The contact no longer exists")))]
async fn confirmation_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let page = match verify(&state, &token).await {
        Err(AppError::Internal(cause)) => {
            tracing::error!(error = %cause, "loading the unsubscribe keys failed");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Please try the link again later.</p>",
            );
        }
        Err(_) => page(
            StatusCode::BAD_REQUEST,
            "Invalid link",
            &format!("<p>{INVALID_LINK}.</p>"),
        ),
        Ok(claims) => {
            match state.store.unsubscribe_preview(&claims).await {
                Err(err) => {
                    tracing::error!(error = %err, "looking up the unsubscribe link's contact failed");
                    page(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Something went wrong",
                        "<p>Please try the link again later.</p>",
                    )
                }
                Ok(None) => page(
                    StatusCode::NOT_FOUND,
                    "Not found",
                    "<p>Contact not found.</p>",
                ),
                Ok(Some(preview)) => {
                    let address = escape(&mask_email(preview.email.as_deref().unwrap_or("")));
                    let scope = match &preview.topic_name {
                        Some(topic) => format!("emails about <strong>{}</strong>", escape(topic)),
                        None => "all emails".to_owned(),
                    };
                    let status = if preview.changed {
                        format!(
                            "<p>Unsubscribe <strong>{address}</strong> from {scope}?</p>\
                         <form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>"
                        )
                    } else {
                        format!("<p><strong>{address}</strong> is already unsubscribed from {scope}.</p>")
                    };
                    page(StatusCode::OK, "Unsubscribe", &status)
                }
            }
        }
    };
    page
}

/// Renders the HTML page a link from an email opens: never cached, and
/// followed links send no referrer. `body` must already be escaped.
pub(super) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_click_needs_the_form_body() {
        let mut form = HeaderMap::new();
        form.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        assert!(is_one_click(&form, b"List-Unsubscribe=One-Click"));
        assert!(is_one_click(&form, b"a=b&List-Unsubscribe=One-Click"));
        assert!(!is_one_click(&form, b""));
        assert!(!is_one_click(
            &HeaderMap::new(),
            b"List-Unsubscribe=One-Click"
        ));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<b>\"Tom & 'Jerry'\"</b>"),
            "&lt;b&gt;&quot;Tom &amp; &#39;Jerry&#39;&quot;&lt;/b&gt;"
        );
    }
}
