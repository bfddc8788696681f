//! `/v1/topics`: manage the topics contacts subscribe to. The hosted service
//! manages topics in its dashboard; these endpoints are wrapsd's addition.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use schemas::connections::Success;
use schemas::topics::{CreateTopic, PatchTopic, Topic, TopicList};
use schemas::TopicId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::AppError;
use crate::json::ValidJson;
use crate::AppState;

const TOPIC_NOT_FOUND: &str = "Topic not found";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_topics, create_topic))
        .routes(routes!(get_topic, patch_topic, delete_topic))
}

/// List the organisation's topics by name.
#[utoipa::path(get, path = "/v1/topics", tag = "topics",
    responses((status = 200, body = TopicList)), security(("bearerAuth" = [])))]
async fn list_topics(
    State(state): State<AppState>,
    Auth(auth): Auth,
) -> Result<Json<TopicList>, AppError> {
    let topics = state.store.list_topics(auth.organization_id).await?;
    Ok(Json(TopicList { topics }))
}

/// Create a topic; the slug is unique within the organisation.
#[utoipa::path(post, path = "/v1/topics", tag = "topics", request_body = CreateTopic,
    responses((status = 201, body = Topic), (status = 409, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn create_topic(
    State(state): State<AppState>,
    Auth(auth): Auth,
    ValidJson(body): ValidJson<CreateTopic>,
) -> Result<(StatusCode, Json<Topic>), AppError> {
    let topic = state
        .store
        .create_topic(auth.organization_id, &body)
        .await?;
    Ok((StatusCode::CREATED, Json(topic)))
}

#[utoipa::path(get, path = "/v1/topics/{id}", tag = "topics", params(("id" = String, Path)),
    responses((status = 200, body = Topic), (status = 404, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn get_topic(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Path(id): Path<String>,
) -> Result<Json<Topic>, AppError> {
    let id = parse_id(&id)?;
    let topic = state.store.get_topic(auth.organization_id, id).await?;
    topic
        .map(Json)
        .ok_or_else(|| AppError::not_found(TOPIC_NOT_FOUND))
}

/// Update a topic's name, slug, description or double opt-in setting.
/// Turning double opt-in on affects only later subscriptions.
#[utoipa::path(patch, path = "/v1/topics/{id}", tag = "topics", request_body = PatchTopic,
    params(("id" = String, Path)),
    responses((status = 200, body = Topic), (status = 404, body = schemas::ApiError),
        (status = 409, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn patch_topic(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<PatchTopic>,
) -> Result<Json<Topic>, AppError> {
    let id = parse_id(&id)?;
    let topic = state
        .store
        .patch_topic(auth.organization_id, id, &body)
        .await?;
    topic
        .map(Json)
        .ok_or_else(|| AppError::not_found(TOPIC_NOT_FOUND))
}

/// Delete a topic and every subscription to it.
#[utoipa::path(delete, path = "/v1/topics/{id}", tag = "topics", params(("id" = String, Path)),
    responses((status = 200, body = Success), (status = 404, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn delete_topic(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Path(id): Path<String>,
) -> Result<Json<Success>, AppError> {
    let id = parse_id(&id)?;
    if !state.store.delete_topic(auth.organization_id, id).await? {
        return Err(AppError::not_found(TOPIC_NOT_FOUND));
    }
    Ok(Json(Success { success: true }))
}

/// Parses a topic id from a path. A value that is not a UUID cannot name
/// a topic, so it is a 404.
fn parse_id(raw: &str) -> Result<TopicId, AppError> {
    raw.parse()
        .map_err(|_| AppError::not_found(TOPIC_NOT_FOUND))
}
