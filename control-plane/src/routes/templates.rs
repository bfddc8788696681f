//! `/v1/templates`: create, read, update, duplicate and publish templates.
//! There is no delete on purpose, because batches reference templates.
//!
//! Lists page with an opaque cursor (`nextCursor`): base64url text of the
//! last row's update time and id. A cursor that does not decode is rejected
//! with 422 naming `cursor`, rather than silently restarting at the first
//! page.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemas::contacts::Channel;
use schemas::templates::{
    CreateTemplate, GetTemplateQuery, ListTemplatesQuery, PatchTemplate, PublishTemplate,
    TemplateConflict, TemplateDetail, TemplateList, TemplatePublished, TemplateStatus,
};
use schemas::validation::Violations;
use schemas::{ConnectionId, FieldError, OrgId, TemplateId};
use store::{Store, StoreError, Template, TemplateCursor, TemplateFilter, TemplateUpdate};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::AppError;
use crate::json::{ValidJson, Validate};
use crate::AppState;

const TEMPLATE_NOT_FOUND: &str = "Template not found";

// TODO: these routes take the per-minute rate limit of `/v1/batch` once
// the limiter exists.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(get_template, patch_template))
        .routes(routes!(publish_template))
        .routes(routes!(duplicate_template))
}

impl Validate for CreateTemplate {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        CreateTemplate::validate(self)
    }
}

impl Validate for PatchTemplate {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        PatchTemplate::validate(self)
    }
}

impl Validate for PublishTemplate {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        PublishTemplate::validate(self)
    }
}

/// List templates, most recently updated first.
#[utoipa::path(get, path = "/v1/templates", tag = "templates", params(ListTemplatesQuery),
    responses((status = 200, body = TemplateList)), security(("bearerAuth" = [])))]
async fn list_templates(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Query(query): Query<ListTemplatesQuery>,
) -> Result<Json<TemplateList>, AppError> {
    let filter = template_filter(&query)?;
    let (data, next) = state
        .store
        .list_templates(auth.organization_id, &filter)
        .await?;
    Ok(Json(TemplateList {
        data,
        next_cursor: next.map(|cursor| cursor.encode()),
    }))
}

/// Create a draft template. A slug the organisation already uses is a 409.
#[utoipa::path(post, path = "/v1/templates", tag = "templates", request_body = CreateTemplate,
    responses((status = 201, body = TemplateDetail),
        (status = 409, body = TemplateConflict, description = "The slug is already used in the organization")),
    security(("bearerAuth" = [])))]
async fn create_template(
    State(state): State<AppState>,
    Auth(auth): Auth,
    ValidJson(body): ValidJson<CreateTemplate>,
) -> Result<Response, AppError> {
    match state
        .store
        .create_template(auth.organization_id, &body)
        .await
    {
        Ok(template) => Ok((StatusCode::CREATED, Json(template.detail)).into_response()),
        Err(StoreError::Conflict(message)) => Ok(conflict(TemplateConflict::new(message))),
        Err(err) => Err(err.into()),
    }
}

/// Get a template, with its source and compiled content unless
/// `source=false`.
#[utoipa::path(get, path = "/v1/templates/{id}", tag = "templates",
    params(("id" = String, Path, description = "Template id"), GetTemplateQuery),
    responses((status = 200, body = TemplateDetail), (status = 404, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn get_template(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Path(id): Path<String>,
    Query(query): Query<GetTemplateQuery>,
) -> Result<Json<TemplateDetail>, AppError> {
    let with_content = match query.source.as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => return Err(AppError::invalid_field("source", "must be true or false")),
    };
    let template = load_template(&state.store, auth.organization_id, &id).await?;
    let mut detail = template.detail;
    if !with_content {
        detail.content = None;
    }
    Ok(Json(detail))
}

/// Update the given fields of a template. With `ifUnmodifiedSince`, a
/// template changed after that time is left alone and the response is 409.
#[utoipa::path(patch, path = "/v1/templates/{id}", tag = "templates", request_body = PatchTemplate,
    params(("id" = String, Path, description = "Template id")),
    responses((status = 200, body = TemplateDetail), (status = 404, body = schemas::ApiError),
        (status = 409, body = TemplateConflict, description = "The template was modified after ifUnmodifiedSince")),
    security(("bearerAuth" = [])))]
async fn patch_template(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<PatchTemplate>,
) -> Result<Response, AppError> {
    let id = parse_template_id(&id)?;
    match state
        .store
        .patch_template(auth.organization_id, id, &body)
        .await?
    {
        TemplateUpdate::Updated(template) => Ok(Json(template.detail).into_response()),
        TemplateUpdate::NotFound => Err(AppError::not_found(TEMPLATE_NOT_FOUND)),
        TemplateUpdate::ModifiedSince {
            last_edited_from,
            updated_at,
        } => Ok(conflict(TemplateConflict {
            last_edited_from,
            updated_at: Some(updated_at),
            ..TemplateConflict::new("Template was modified after ifUnmodifiedSince")
        })),
    }
}

/// Publish a template to SES in an AWS account of the organisation: the
/// body's `awsAccountId`, or the first connected account. The SES template
/// is named `wraps_` followed by the template id without hyphens.
#[utoipa::path(post, path = "/v1/templates/{id}/publish", tag = "templates", request_body = PublishTemplate,
    params(("id" = String, Path, description = "Template id")),
    responses((status = 200, body = TemplatePublished),
        (status = 400, body = schemas::ApiError, description = "No subject, no compiled HTML or no connected AWS account"),
        (status = 404, body = schemas::ApiError, description = "Template or AWS account not found")),
    security(("bearerAuth" = [])))]
async fn publish_template(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<PublishTemplate>,
) -> Result<Json<TemplatePublished>, AppError> {
    let org = auth.organization_id;
    let template = load_template(&state.store, org, &id).await?;
    let summary = &template.detail.summary;
    if summary
        .subject
        .as_deref()
        .is_none_or(|s| s.trim().is_empty())
    {
        return Err(AppError::bad_request(
            "Template subject is required for publishing. Set a subject and publish again.",
        ));
    }
    let connection = publish_connection(&state.store, org, body.aws_account_id.as_deref()).await?;
    let content = template.detail.content.as_ref();
    let html = content
        .and_then(|c| c.compiled_html.as_deref())
        .filter(|html| !html.trim().is_empty());
    let Some(html) = html else {
        return Err(AppError::bad_request(
            "Template has no compiled HTML. Save compiledHtml and publish again.",
        ));
    };

    // Authoring syntax ({{contact.firstName}}, {{x|fallback}}) becomes the
    // Handlebars SES renders, and a missing text part is made from the HTML.
    let ses_template_name = format!("wraps_{}", summary.id.0.simple());
    let subject = ses::render::translate_authoring(summary.subject.as_deref().unwrap_or_default());
    let html = ses::render::translate_authoring(html);
    let text = match content
        .and_then(|c| c.compiled_text.as_deref())
        .filter(|t| !t.trim().is_empty())
    {
        Some(text) => ses::render::translate_authoring(text),
        None => ses::render::html_to_text(&html),
    };
    let credentials = state
        .store
        .connection_credentials(org, connection)
        .await?
        .ok_or_else(|| AppError::not_found("AWS account not found"))?;
    let target = ses::ConnectionTarget {
        account_id: credentials.account_id,
        region: credentials.region,
        role_arn: credentials.role_arn,
        external_id: credentials.external_id,
    };
    let client = state.ses.client(&target).await;
    if let Err(err) = client
        .upsert_template(&ses_template_name, &subject, &html, Some(&text))
        .await
    {
        tracing::warn!(organization_id = %org, template_id = %summary.id, error = %err, "publishing a template to SES failed");
        return Err(ses_publish_error(&err));
    }

    let published_at = state
        .store
        .mark_template_published(org, summary.id, connection, &ses_template_name)
        .await?
        .ok_or_else(|| AppError::not_found(TEMPLATE_NOT_FOUND))?;

    Ok(Json(TemplatePublished {
        success: true,
        ses_template_name,
        published_at,
    }))
}

/// Maps an SES failure to the client: SES's own rejection is the caller's
/// to fix (400); anything transient is a 503 to retry.
fn ses_publish_error(err: &ses::SesError) -> AppError {
    match err.outcome() {
        ses::SendOutcome::RetryLater { .. } | ses::SendOutcome::Unknown { .. } => AppError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "SES did not answer; publish the template again in a moment",
        ),
        _ => AppError::bad_request(format!("SES rejected the template: {err}")),
    }
}

/// Copy a template as a new draft named `<name> (Copy)`, without slug or
/// publication.
#[utoipa::path(post, path = "/v1/templates/{id}/duplicate", tag = "templates",
    params(("id" = String, Path, description = "Template id")),
    responses((status = 201, body = TemplateDetail), (status = 404, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn duplicate_template(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TemplateDetail>), AppError> {
    let id = parse_template_id(&id)?;
    let copy = state
        .store
        .duplicate_template(auth.organization_id, id)
        .await?
        .ok_or_else(|| AppError::not_found(TEMPLATE_NOT_FOUND))?;
    Ok((StatusCode::CREATED, Json(copy.detail)))
}

/// The connection to publish to: the one `raw` names, which must belong to
/// the organisation, or else the organisation's first connection.
async fn publish_connection(
    store: &Store,
    org: OrgId,
    raw: Option<&str>,
) -> Result<ConnectionId, AppError> {
    if let Some(raw) = raw {
        let connection = match raw.parse::<ConnectionId>() {
            Ok(id) => store.connection_credentials(org, id).await?,
            Err(_) => None,
        };
        return connection
            .map(|c| c.id)
            .ok_or_else(|| AppError::not_found("AWS account not found"));
    }
    store
        .list_connections(org)
        .await?
        .first()
        .map(|c| c.id)
        .ok_or_else(|| {
            AppError::bad_request(
                "No AWS account connected. Connect an AWS account with POST /v1/connections before publishing.",
            )
        })
}

fn conflict(body: TemplateConflict) -> Response {
    (StatusCode::CONFLICT, Json(body)).into_response()
}

fn parse_template_id(raw: &str) -> Result<TemplateId, AppError> {
    super::path_id(raw, TEMPLATE_NOT_FOUND)
}

async fn load_template(store: &Store, org: OrgId, raw: &str) -> Result<Template, AppError> {
    let id = parse_template_id(raw)?;
    store
        .get_template(org, id)
        .await?
        .ok_or_else(|| AppError::not_found(TEMPLATE_NOT_FOUND))
}

fn template_filter(query: &ListTemplatesQuery) -> Result<TemplateFilter, AppError> {
    let mut v = Violations::new();
    let limit = schemas::batches::int_param(&mut v, "limit", query.limit.as_deref(), 20, 1, 100);
    let after = query
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .and_then(|raw| {
            let cursor = TemplateCursor::decode(raw);
            if cursor.is_none() {
                v.push(
                    "cursor",
                    "is not a cursor returned by this API; start again without it",
                );
            }
            cursor
        });
    let status = v.enum_value("status", query.status.as_deref(), TemplateStatus::parse);
    let channel = v.enum_value("channel", query.channel.as_deref(), Channel::parse);
    v.max_chars("search", query.search.as_deref(), 200);
    v.finish().map_err(AppError::Validation)?;

    Ok(TemplateFilter {
        limit,
        after,
        status,
        channel,
        search: query.search.clone().filter(|s| !s.is_empty()),
    })
}
