//! `/v1/contacts`: create, read, update and delete contacts and replace
//! their topic subscriptions. Authenticated, with no per-minute limit.
//!
//! Create, update and replace queue a confirmation email for each topic the
//! write left pending (double opt-in) after the store write succeeded.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use schemas::connections::Success;
use schemas::contacts::{
    BulkDeleteContacts, BulkDeleted, ContactDetail, ContactList, ContactWritten, CreateContact,
    ListContactsQuery, PatchContact, ReplaceTopics, TopicsReplaced, MAX_BULK_DELETE,
};
use schemas::{ContactId, OrgId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::confirm::queue_confirmations;
use crate::auth::Auth;
use crate::error::AppError;
use crate::json::ValidJson;
use crate::AppState;

const CONTACT_NOT_FOUND: &str = "Contact not found";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_contacts, create_contact, bulk_delete_contacts))
        .routes(routes!(get_contact, patch_contact, delete_contact))
        .routes(routes!(replace_topics))
}

/// List contacts, newest first.
#[utoipa::path(get, path = "/v1/contacts", tag = "contacts", params(ListContactsQuery),
    responses((status = 200, body = ContactList)), security(("bearerAuth" = [])))]
async fn list_contacts(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Query(query): Query<ListContactsQuery>,
) -> Result<Json<ContactList>, AppError> {
    let filter = query.validate().map_err(AppError::Validation)?;
    let (contacts, total) = state
        .store
        .list_contacts(auth.organization_id, &filter)
        .await?;
    let total_pages = (total + filter.page_size - 1) / filter.page_size;
    Ok(Json(ContactList {
        contacts,
        total,
        page: filter.page,
        page_size: filter.page_size,
        total_pages,
    }))
}

/// Create a contact. There is no upsert: a duplicate externalId, email or
/// phone is a 409.
#[utoipa::path(post, path = "/v1/contacts", tag = "contacts", request_body = CreateContact,
    responses((status = 201, body = ContactWritten), (status = 409, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn create_contact(
    State(state): State<AppState>,
    Auth(auth): Auth,
    ValidJson(body): ValidJson<CreateContact>,
) -> Result<(StatusCode, Json<ContactWritten>), AppError> {
    if body.email.is_none() && body.phone.is_none() {
        return Err(AppError::bad_request("Email or phone is required"));
    }
    let written = state
        .store
        .create_contact(auth.organization_id, &body)
        .await?;
    queue_confirmations(
        &state,
        auth.organization_id,
        written.contact.id,
        &written.pending_topics,
    )
    .await;
    Ok((StatusCode::CREATED, Json(written)))
}

/// Delete up to 100 contacts by id. Ids of other organisations are ignored.
#[utoipa::path(delete, path = "/v1/contacts", tag = "contacts", request_body = BulkDeleteContacts,
    responses((status = 200, body = BulkDeleted)), security(("bearerAuth" = [])))]
async fn bulk_delete_contacts(
    State(state): State<AppState>,
    Auth(auth): Auth,
    ValidJson(body): ValidJson<BulkDeleteContacts>,
) -> Result<Json<BulkDeleted>, AppError> {
    if body.ids.is_empty() {
        return Err(AppError::bad_request("No contact IDs provided"));
    }
    if body.ids.len() > MAX_BULK_DELETE {
        return Err(AppError::bad_request(
            "Maximum 100 contacts can be deleted at once",
        ));
    }
    let deleted = state
        .store
        .bulk_delete_contacts(auth.organization_id, &body.ids)
        .await?;
    Ok(Json(BulkDeleted {
        success: true,
        deleted,
    }))
}

/// Get a contact and its topic subscriptions, by id, email or externalId.
#[utoipa::path(get, path = "/v1/contacts/{id}", tag = "contacts",
    params(("id" = String, Path, description = "Contact id, email or externalId")),
    responses((status = 200, body = ContactDetail), (status = 404, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn get_contact(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Path(ident): Path<String>,
) -> Result<Json<ContactDetail>, AppError> {
    let id = resolve(&state, auth.organization_id, &ident).await?;
    let detail = state
        .store
        .get_contact(auth.organization_id, id)
        .await?
        .ok_or_else(|| AppError::not_found(CONTACT_NOT_FOUND))?;
    Ok(Json(detail))
}

/// Update the given fields of a contact; topics are added, never removed.
#[utoipa::path(patch, path = "/v1/contacts/{id}", tag = "contacts", request_body = PatchContact,
    params(("id" = String, Path, description = "Contact id, email or externalId")),
    responses((status = 200, body = ContactWritten), (status = 404, body = schemas::ApiError),
        (status = 409, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn patch_contact(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Path(ident): Path<String>,
    ValidJson(body): ValidJson<PatchContact>,
) -> Result<Json<ContactWritten>, AppError> {
    let id = resolve(&state, auth.organization_id, &ident).await?;
    let written = state
        .store
        .patch_contact(auth.organization_id, id, &body)
        .await?;
    queue_confirmations(&state, auth.organization_id, id, &written.pending_topics).await;
    Ok(Json(written))
}

/// Delete a contact and its subscriptions.
#[utoipa::path(delete, path = "/v1/contacts/{id}", tag = "contacts",
    params(("id" = String, Path, description = "Contact id, email or externalId")),
    responses((status = 200, body = Success), (status = 404, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn delete_contact(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Path(ident): Path<String>,
) -> Result<Json<Success>, AppError> {
    let id = resolve(&state, auth.organization_id, &ident).await?;
    if !state.store.delete_contact(auth.organization_id, id).await? {
        return Err(AppError::not_found(CONTACT_NOT_FOUND));
    }
    Ok(Json(Success { success: true }))
}

/// Replace a contact's topic subscriptions with the given set, in one
/// transaction. The path takes the contact id only.
#[utoipa::path(put, path = "/v1/contacts/{id}/topics", tag = "contacts", request_body = ReplaceTopics,
    params(("id" = String, Path, description = "Contact id")),
    responses((status = 200, body = TopicsReplaced), (status = 404, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn replace_topics(
    State(state): State<AppState>,
    Auth(auth): Auth,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<ReplaceTopics>,
) -> Result<Json<TopicsReplaced>, AppError> {
    if id.chars().count() > 36 {
        return Err(AppError::invalid_field(
            "id",
            "must be at most 36 characters",
        ));
    }
    let id: ContactId = id
        .parse()
        .map_err(|_| AppError::not_found(CONTACT_NOT_FOUND))?;
    let replaced = state
        .store
        .replace_contact_topics(auth.organization_id, id, &body)
        .await?;
    queue_confirmations(&state, auth.organization_id, id, &replaced.pending_topics).await;
    Ok(Json(replaced))
}

/// Resolves a path identifier (id, email or externalId) within the org.
async fn resolve(state: &AppState, org: OrgId, ident: &str) -> Result<ContactId, AppError> {
    if ident.chars().count() > 255 {
        return Err(AppError::invalid_field(
            "id",
            "must be at most 255 characters",
        ));
    }
    state
        .store
        .resolve_contact(org, ident)
        .await?
        .ok_or_else(|| AppError::not_found(CONTACT_NOT_FOUND))
}
