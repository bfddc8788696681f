//! `POST /v1/preference-events`: the preference centre reports the topic
//! changes it has already written, so the matching workflow events can be
//! emitted. The route writes nothing.
//!
//! There is no bearer authentication: the body carries the contact's
//! unsubscribe token, and the contact and organisation come only from that
//! verified token. The body's `contactId` and `organizationId` must name
//! the same ones, so a token cannot report changes for another contact.
//! The token is checked before the changes are validated, so a request that
//! fails both gets 401, not 422.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use schemas::unsubscribe::{token_key_version, TokenError, UnsubscribeClaims, MAX_TOKEN_CHARS};
use schemas::validation::Violations;
use schemas::{ContactId, FieldError, OrgId, TopicId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::AppError;
use crate::json::{deserialize, parse_body, Validate};
use crate::AppState;

const INVALID_TOKEN: &str = "Invalid or expired token";

/// Maximum number of changes in one request, the same cap as on `topicIds`.
pub const MAX_CHANGES: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(record_preference_events))
}

/// `POST /v1/preference-events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreferenceEvents {
    /// The contact's unsubscribe token, from the preference centre's link.
    pub token: String,
    /// Must equal the contact the token names.
    pub contact_id: String,
    /// Must equal the organisation the token names.
    pub organization_id: String,
    pub changes: Vec<PreferenceChange>,
}

/// One topic change the preference centre wrote.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreferenceChange {
    pub topic_id: String,
    pub topic_name: Option<String>,
    pub action: PreferenceAction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PreferenceAction {
    Subscribed,
    Unsubscribed,
}

/// Counts of the events the changes would emit, by kind.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreferenceEventsRecorded {
    pub success: bool,
    pub subscribed: usize,
    pub unsubscribed: usize,
}

impl Validate for PreferenceEvents {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut v = Violations::new();
        v.max_items("changes", Some(self.changes.as_slice()), MAX_CHANGES);
        for (index, change) in self.changes.iter().enumerate() {
            let path = format!("changes[{index}]");
            if change.topic_id.parse::<TopicId>().is_err() {
                v.push(format!("{path}.topicId"), "must be a topic id (a UUID)");
            }
            v.max_chars(
                &format!("{path}.topicName"),
                change.topic_name.as_deref(),
                255,
            );
        }
        v.finish()
    }
}

/// Record topic changes made in the preference centre.
#[utoipa::path(post, path = "/v1/preference-events", tag = "topics",
    request_body = PreferenceEvents,
    responses(
        (status = 200, body = PreferenceEventsRecorded),
        (status = 401, body = schemas::ApiError, description = "The token is invalid or names another contact or organisation"),
        (status = 422, body = schemas::ApiError, description = "Invalid changes")))]
async fn record_preference_events(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<PreferenceEventsRecorded>), AppError> {
    let body = parse_body(&body)?;
    let claims = authenticate(&state, &body).await?;

    let events: PreferenceEvents = deserialize(body)?;
    events.validate().map_err(AppError::Validation)?;

    let subscribed = events
        .changes
        .iter()
        .filter(|change| change.action == PreferenceAction::Subscribed)
        .count();
    let unsubscribed = events.changes.len() - subscribed;
    // TODO: emit `topic_subscribed` or `topic_unsubscribed` per change for
    // the token's contact, once workflow events exist, with the topics
    // resolved within the token's organisation.
    tracing::info!(organization_id = %claims.organization_id, contact_id = %claims.contact_id, subscribed, unsubscribed, "preference events received");

    Ok((
        StatusCode::OK,
        Json(PreferenceEventsRecorded {
            success: true,
            subscribed,
            unsubscribed,
        }),
    ))
}

/// Verifies the body's token and checks that the body names the token's
/// contact and organisation. Every failure is the same 401.
async fn authenticate(state: &AppState, body: &Value) -> Result<UnsubscribeClaims, AppError> {
    let unauthorized = || AppError::new(StatusCode::UNAUTHORIZED, INVALID_TOKEN);
    let field = |name: &str| body.get(name).and_then(Value::as_str);

    let token = field("token")
        .filter(|token| token.len() <= MAX_TOKEN_CHARS)
        .ok_or_else(unauthorized)?;
    let contact: Option<ContactId> = field("contactId").and_then(|id| id.parse().ok());
    let organization: Option<OrgId> = field("organizationId").and_then(|id| id.parse().ok());

    let keys = state.unsubscribe_keys().await?;
    let claims = match keys.verify(token) {
        Ok(claims) => claims,
        Err(TokenError::UnknownKey)
            if token_key_version(token).is_some_and(|v| v > keys.current_version()) =>
        {
            let keys = state.reload_unsubscribe_keys().await?;
            keys.verify(token).map_err(|_| unauthorized())?
        }
        Err(err) => {
            tracing::info!(reason = %err, "preference events token rejected");
            return Err(unauthorized());
        }
    };

    if contact != Some(claims.contact_id) || organization != Some(claims.organization_id) {
        tracing::warn!(target: "api.authz_denied", organization_id = %claims.organization_id, contact_id = %claims.contact_id, "preference events rejected: the body names another contact or organisation than the token");
        return Err(unauthorized());
    }
    Ok(claims)
}
