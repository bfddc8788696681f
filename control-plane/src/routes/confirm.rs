//! `GET /confirm/{token}` (a page) and `POST /confirm/{token}` (confirms a
//! double opt-in subscription), and the queueing of confirmation emails.
//! No authentication: the signed token names the organisation, the contact
//! and the topic, and expires 48 hours after the email was sent.
//!
//! GET never changes anything, because link scanners and mail previews
//! fetch links; its button posts back to the same URL. POST confirms a
//! pending subscription and is idempotent. It never re-subscribes a contact
//! who unsubscribed after the email was sent.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use schemas::contacts::SubscriptionStatus;
use schemas::jobs::{shard_for_account, ConfirmJob, SUBSCRIPTION_CONFIRM};
use schemas::unsubscribe::{
    escape_html, mask_email, token_key_version, ConfirmationClaims, TokenError, MAX_TOKEN_CHARS,
};
use schemas::{ContactId, OrgId, TopicId};
use serde::Serialize;
use streams::{Job, ShardId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::unsubscribe::page;
use crate::error::AppError;
use crate::AppState;

const INVALID_LINK: &str = "Invalid or expired confirmation link";
const CONTACT_NOT_FOUND: &str = "Contact not found";
const SUBSCRIPTION_NOT_FOUND: &str = "Subscription not found";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(confirmation_page, confirm))
}

/// The reply of a confirmation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Confirmed {
    pub success: bool,
    pub message: String,
    pub contact_id: ContactId,
    pub topic_id: TopicId,
}

/// Verifies `token`, reloading the keys once when it names a key version
/// this process has not loaded yet (a rotation by another process).
async fn verify(state: &AppState, token: &str) -> Result<ConfirmationClaims, AppError> {
    if token.len() > MAX_TOKEN_CHARS {
        return Err(AppError::bad_request(INVALID_LINK));
    }
    let now = Utc::now();
    let keys = state.unsubscribe_keys().await?;
    match keys.verify_confirmation(token, now) {
        Ok(claims) => Ok(claims),
        Err(TokenError::UnknownKey)
            if token_key_version(token).is_some_and(|v| v > keys.current_version()) =>
        {
            let keys = state.reload_unsubscribe_keys().await?;
            keys.verify_confirmation(token, now)
                .map_err(|_| AppError::bad_request(INVALID_LINK))
        }
        Err(err) => {
            tracing::info!(reason = %err, "confirmation link rejected");
            Err(AppError::bad_request(INVALID_LINK))
        }
    }
}

/// Confirm a double opt-in subscription.
#[utoipa::path(post, path = "/confirm/{token}", tag = "topics",
    params(("token" = String, Path, description = "The signed token from the confirmation email's link")),
    responses(
        (status = 200, body = Confirmed, description = "Confirmed (also when already confirmed)"),
        (status = 400, body = schemas::ApiError, description = "Invalid or expired link"),
        (status = 404, body = schemas::ApiError, description = "The contact or the subscription no longer exists"),
        (status = 409, body = schemas::ApiError, description = "The contact unsubscribed from the topic since the email was sent")))]
async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = confirm_subscription(&state, &token).await;
    if !wants_html(&headers) {
        return match result {
            Ok(confirmed) => Json(confirmed).into_response(),
            Err(err) => err.into_response(),
        };
    }
    // The page's button is a plain form post, so a browser gets a page
    // back rather than JSON.
    match result {
        Ok(confirmed) => page(
            StatusCode::OK,
            "Subscription confirmed",
            &format!("<p>{}</p>", escape_html(&confirmed.message)),
        ),
        Err(AppError::Client {
            status, message, ..
        }) => page(
            status,
            "Not confirmed",
            &format!("<p>{}</p>", escape_html(&message)),
        ),
        Err(err) => {
            tracing::error!(error = %err, "confirming a subscription failed");
            try_later_page()
        }
    }
}

/// True when the client prefers HTML, as a browser submitting the
/// confirmation page's form does.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

async fn confirm_subscription(state: &AppState, token: &str) -> Result<Confirmed, AppError> {
    let claims = verify(state, token).await?;
    let (org, contact, topic) = (claims.organization_id, claims.contact_id, claims.topic_id);
    if state
        .store
        .confirmation_state(org, contact, topic)
        .await?
        .is_none()
    {
        return Err(AppError::not_found(CONTACT_NOT_FOUND));
    }

    let message = if state
        .store
        .confirm_subscription(org, contact, topic)
        .await?
    {
        tracing::info!(organization_id = %org, contact_id = %contact, topic_id = %topic, "subscription confirmed");
        "Your subscription is confirmed."
    } else {
        // Read again after the write, so a concurrent confirmation counts.
        let status = state
            .store
            .confirmation_state(org, contact, topic)
            .await?
            .and_then(|current| current.status);
        match status {
            Some(SubscriptionStatus::Subscribed) => "Your subscription was already confirmed.",
            Some(SubscriptionStatus::Unsubscribed) => {
                return Err(AppError::conflict(
                    "The contact unsubscribed from this topic after the confirmation email was sent. Subscribe again to get a new link.",
                ))
            }
            Some(SubscriptionStatus::Pending) | None => {
                return Err(AppError::not_found(SUBSCRIPTION_NOT_FOUND))
            }
        }
    };

    Ok(Confirmed {
        success: true,
        message: message.to_owned(),
        contact_id: contact,
        topic_id: topic,
    })
}

/// Show the subscription the link confirms, with a button that posts
/// back. Changes nothing.
#[utoipa::path(get, path = "/confirm/{token}", tag = "topics",
    params(("token" = String, Path, description = "The signed token from the confirmation email's link")),
    responses(
        (status = 200, content_type = "text/html", description = "Confirmation page"),
        (status = 400, content_type = "text/html", description = "Invalid or expired link"),
        (status = 404, content_type = "text/html", description = "The contact or the subscription no longer exists")))]
async fn confirmation_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let claims = match verify(&state, &token).await {
        Ok(claims) => claims,
        Err(AppError::Internal(cause)) => {
            tracing::error!(error = %cause, "loading the signing keys failed");
            return try_later_page();
        }
        Err(_) => {
            return page(
                StatusCode::BAD_REQUEST,
                "Invalid link",
                &format!("<p>{INVALID_LINK}.</p>"),
            )
        }
    };

    let current = match state
        .store
        .confirmation_state(claims.organization_id, claims.contact_id, claims.topic_id)
        .await
    {
        Ok(current) => current,
        Err(err) => {
            tracing::error!(error = %err, contact_id = %claims.contact_id, "looking up the confirmation link's subscription failed");
            return try_later_page();
        }
    };
    let Some(current) = current else {
        return page(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("<p>{CONTACT_NOT_FOUND}.</p>"),
        );
    };
    let (Some(topic_name), Some(status)) = (current.topic_name, current.status) else {
        return page(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("<p>{SUBSCRIPTION_NOT_FOUND}.</p>"),
        );
    };

    let address = escape_html(&mask_email(current.email.as_deref().unwrap_or("")));
    let topic = escape_html(&topic_name);
    let body = match status {
        SubscriptionStatus::Pending => format!(
            "<p>Confirm that <strong>{address}</strong> wants to receive emails about \
             <strong>{topic}</strong>.</p>\
             <form method=\"post\"><button type=\"submit\">Confirm subscription</button></form>"
        ),
        SubscriptionStatus::Subscribed => format!(
            "<p><strong>{address}</strong> is already subscribed to emails about \
             <strong>{topic}</strong>.</p>"
        ),
        SubscriptionStatus::Unsubscribed => format!(
            "<p><strong>{address}</strong> unsubscribed from emails about \
             <strong>{topic}</strong> after this link was sent, so it cannot confirm \
             the subscription.</p>"
        ),
    };
    page(StatusCode::OK, "Confirm your subscription", &body)
}

fn try_later_page() -> Response {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "<p>Please try the link again later.</p>",
    )
}

/// Queues the confirmation email of each pending topic on the shard of the
/// organisation's AWS connection. Failures are logged and not returned,
/// because the subscriptions are already written and stay pending.
/// Requesting a topic again queues its email again.
///
/// NOTE: no sweeper republishes a lost confirmation job, so a failed
/// publish sends no email until the topic is requested again.
pub(crate) async fn queue_confirmations(
    state: &AppState,
    org: OrgId,
    contact: ContactId,
    topics: &[TopicId],
) {
    if topics.is_empty() {
        return;
    }
    let route = match state.store.confirmation_route(org).await {
        Ok(Some(route)) => route,
        Ok(None) => {
            tracing::warn!(organization_id = %org, contact_id = %contact, "confirmation emails not queued: the organisation has no AWS connection");
            return;
        }
        Err(err) => {
            tracing::warn!(organization_id = %org, contact_id = %contact, error = %err, "confirmation emails not queued: loading the AWS connection failed");
            return;
        }
    };

    let shard = ShardId(shard_for_account(&route.account_id, state.config.shards));
    for topic in topics {
        let payload = ConfirmJob {
            organization_id: org,
            contact_id: contact,
            topic_id: *topic,
            connection_id: route.connection_id,
        };
        let published = match Job::from_payload(SUBSCRIPTION_CONFIRM, &payload) {
            Ok(job) => state
                .streams
                .producer
                .publish(shard, &job)
                .await
                .map(|_| ()),
            Err(err) => Err(err),
        };
        if let Err(err) = published {
            tracing::warn!(organization_id = %org, contact_id = %contact, topic_id = %topic, shard = shard.0, error = %err, "failed to queue a confirmation email");
        }
    }
}
