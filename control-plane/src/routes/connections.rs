//! `/v1/connections`: link the AWS accounts wrapsd sends through.
//! Authenticated, with no per-minute limit.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use schemas::connections::{ConnectionList, ConnectionRegistered, CreateConnection, Success};
use schemas::ConnectionId;
use store::RegisterOptions;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::AppError;
use crate::json::ValidJson;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_connections, register_connection))
        .routes(routes!(delete_connection))
}

/// List the organisation's AWS connections; secrets are never included.
#[utoipa::path(get, path = "/v1/connections", tag = "connections",
    responses((status = 200, body = ConnectionList)), security(("bearerAuth" = [])))]
async fn list_connections(
    State(state): State<AppState>,
    Auth(auth): Auth,
) -> Result<Json<ConnectionList>, AppError> {
    let connections = state.store.list_connections(auth.organization_id).await?;
    Ok(Json(ConnectionList { connections }))
}

/// Register an AWS account, or update the organisation's connection with the
/// same account id. The webhook secret is rotated on every call.
#[utoipa::path(post, path = "/v1/connections", tag = "connections", request_body = CreateConnection,
    responses((status = 201, body = ConnectionRegistered, description = "Connection created"),
        (status = 200, body = ConnectionRegistered, description = "Connection updated"),
        (status = 403, body = schemas::ApiError, description = "The plan's AWS account limit is reached")),
    security(("bearerAuth" = [])))]
async fn register_connection(
    State(state): State<AppState>,
    Auth(auth): Auth,
    ValidJson(body): ValidJson<CreateConnection>,
) -> Result<(StatusCode, Json<ConnectionRegistered>), AppError> {
    let options = RegisterOptions {
        account_limit: if state.plans.enforced {
            state.plans.get(Some(&auth.plan)).aws_accounts
        } else {
            None
        },
        role_name: state.config.role_name.clone(),
        api_base_url: state.config.public_base_url.clone(),
        created_by: auth.user_id.clone(),
    };
    let (registered, created) = state
        .store
        .register_connection(auth.organization_id, &body, &options)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(registered)))
}

/// Disconnect the SES event webhook of a connection by clearing its secret;
/// the connection itself is kept.
#[utoipa::path(delete, path = "/v1/connections/{id}", tag = "connections", params(("id" = String, Path)),
    responses((status = 200, body = Success), (status = 404, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn delete_connection(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Path(id): Path<String>,
) -> Result<Json<Success>, AppError> {
    let not_found = || AppError::not_found("Connection not found");
    let id: ConnectionId = id.parse().map_err(|_| not_found())?;
    if !state
        .store
        .disconnect_webhook(auth.organization_id, id)
        .await?
    {
        return Err(not_found());
    }
    Ok(Json(Success { success: true }))
}
