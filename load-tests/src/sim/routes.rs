//! The HTTP routes: SES v2 operations, the `/sim` control endpoints, and the fallback.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{Method, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};

use super::admin;
use super::error::SesError;
use super::recorder::Operation;
use super::send;
use super::state::SimState;
use super::wire::parse_body;
use super::wire::{
    CreateEmailTemplateRequest, EmailTemplateMetadata, GetAccountResponse,
    GetEmailTemplateResponse, ListEmailTemplatesQuery, ListEmailTemplatesResponse, SendQuota,
    UpdateEmailTemplateRequest,
};

/// SES accepts messages of up to 40 MB with attachments; requests above this are refused
/// before they are read.
const MAX_REQUEST_BYTES: usize = 40 * 1024 * 1024;

pub(crate) fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v2/email/outbound-emails", post(send::send_email))
        .route(
            "/v2/email/outbound-bulk-emails",
            post(send::send_bulk_email),
        )
        .route("/v2/email/account", get(get_account))
        .route(
            "/v2/email/templates",
            post(create_template).get(list_templates),
        )
        .route(
            "/v2/email/templates/{name}",
            get(get_template)
                .put(update_template)
                .delete(delete_template),
        )
        .merge(admin::router())
        .fallback(unknown_operation)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(state)
}

/// `GET /v2/email/account`. An unlimited simulator reports `-1` for both limits: SES
/// documents `-1` as an unlimited `Max24HourSend`, and the simulator uses the same value
/// for `MaxSendRate`, which SES never leaves unlimited.
async fn get_account(State(state): State<Arc<SimState>>) -> Json<GetAccountResponse> {
    state.begin_call(Operation::GetAccount).await;
    let sent = state.window.sent_last_24_hours(Instant::now());
    let send_quota = SendQuota {
        max_24_hour_send: state
            .window
            .max_24_hour_send()
            .map_or(-1.0, |max| max as f64),
        max_send_rate: state.max_send_rate.unwrap_or(-1.0),
        sent_last_24_hours: sent as f64,
    };
    Json(GetAccountResponse {
        dedicated_ip_auto_warmup_enabled: false,
        enforcement_status: "HEALTHY",
        production_access_enabled: true,
        send_quota,
        sending_enabled: true,
    })
}

/// `POST /v2/email/templates`.
async fn create_template(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Value>, SesError> {
    state.begin_call(Operation::CreateEmailTemplate).await;
    let request: CreateEmailTemplateRequest = parse_body(&body)?;
    state
        .templates
        .create(&request.template_name, request.template_content)?;
    Ok(Json(json!({})))
}

/// `GET /v2/email/templates/{name}`.
async fn get_template(
    State(state): State<Arc<SimState>>,
    Path(name): Path<String>,
) -> Result<Json<GetEmailTemplateResponse>, SesError> {
    state.begin_call(Operation::GetEmailTemplate).await;
    let template = state.templates.get(&name)?;
    Ok(Json(GetEmailTemplateResponse {
        template_name: name,
        template_content: template.content.clone(),
    }))
}

/// `PUT /v2/email/templates/{name}`.
async fn update_template(
    State(state): State<Arc<SimState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, SesError> {
    state.begin_call(Operation::UpdateEmailTemplate).await;
    let request: UpdateEmailTemplateRequest = parse_body(&body)?;
    state.templates.update(&name, request.template_content)?;
    Ok(Json(json!({})))
}

/// `DELETE /v2/email/templates/{name}`.
async fn delete_template(
    State(state): State<Arc<SimState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, SesError> {
    state.begin_call(Operation::DeleteEmailTemplate).await;
    state.templates.delete(&name)?;
    Ok(Json(json!({})))
}

/// `GET /v2/email/templates?NextToken=...&PageSize=...`.
async fn list_templates(
    State(state): State<Arc<SimState>>,
    query: Result<Query<ListEmailTemplatesQuery>, QueryRejection>,
) -> Result<Json<ListEmailTemplatesResponse>, SesError> {
    state.begin_call(Operation::ListEmailTemplates).await;
    let Query(query) =
        query.map_err(|err| SesError::BadRequest(format!("Invalid query string: {err}")))?;

    let page = state
        .templates
        .list(query.next_token.as_deref(), query.page_size)?;
    let templates_metadata = page
        .templates
        .into_iter()
        .map(|(template_name, created_at)| EmailTemplateMetadata {
            template_name,
            created_timestamp: created_at.timestamp_millis() as f64 / 1000.0,
        })
        .collect();
    Ok(Json(ListEmailTemplatesResponse {
        templates_metadata,
        next_token: page.next_token,
    }))
}

async fn unknown_operation(method: Method, uri: Uri) -> SesError {
    SesError::UnknownOperation {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}
