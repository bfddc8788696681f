//! `/v1/batch`: create, list, inspect, cancel and resume broadcasts, and
//! follow their progress as Server-Sent Events.
//!
//! Every route requires plan `pro` or higher (unless plan gates are off),
//! checked after authentication and before the body. Creating or resuming a
//! batch writes the store first and then publishes a job to the shard of the
//! batch's AWS account. A failed publish is logged and not returned as an
//! error, because the dispatcher's sweeper republishes queued and stalled
//! batches from the store.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures::Stream;
use schemas::batches::{
    int_param, AudienceType, AwsAccountRef, BatchCancelled, BatchCreated, BatchDetail, BatchList,
    BatchListItem, BatchRecipient, BatchRejected, BatchResumed, BatchStatus, CreateBatch,
    ListBatchesQuery, ListRecipientsQuery, RecipientList, RecipientStatus, ResumeBatch,
    TemplateRef,
};
use schemas::connections::Connection;
use schemas::contacts::Channel;
use schemas::jobs::{shard_for_account, ChunkJob, FanOutJob, BATCH_CHUNK, BATCH_FAN_OUT};
use schemas::validation::Violations;
use schemas::{
    BatchId, ConnectionId, ContactId, ErrorCode, FieldError, OrgId, TemplateId, TopicId,
};
use serde::Serialize;
use serde_json::json;
use store::{AuthContext, Batch, BatchFilter, ConnectionCredentials, NewBatch, Store};
use streams::{Job, ShardId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::AppError;
use crate::json::{ValidJson, Validate};
use crate::limits::require_feature;
use crate::AppState;

const BATCH_NOT_FOUND: &str = "Batch not found";

/// A `scheduledFor` up to this far in the past sends now; an older one is
/// rejected rather than turned into an immediate send.
const SCHEDULE_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// A recipient claimed more recently than this means a dispatcher may still
/// be sending the batch, so resuming it could send twice.
const RECENT_CLAIM: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// How often the events stream reads the batch again.
const EVENTS_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Maximum number of `recipients[i]` details in a 422. One more detail
/// counts the rest.
const MAX_UNKNOWN_DETAILS: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_batches, create_batch))
        .routes(routes!(get_batch, cancel_batch))
        .routes(routes!(list_recipients))
        .routes(routes!(resume_batch))
        .routes(routes!(batch_events))
}

/// The authenticated caller of a `/v1/batch` route, admitted by the plan
/// gate of the `batch` feature.
pub struct BatchCaller(pub AuthContext);

impl FromRequestParts<AppState> for BatchCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Auth(auth) = Auth::from_request_parts(parts, state).await?;
        // The per-minute limit ran before this, in the group's layer.
        require_feature(&state.plans, &auth, "batch")?;
        Ok(Self(auth))
    }
}

impl Validate for CreateBatch {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        CreateBatch::validate(self)
    }
}

impl Validate for ResumeBatch {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        ResumeBatch::validate(self)
    }
}

/// Create a broadcast and queue it, or schedule it for `scheduledFor`.
///
/// A `topicId` that is not a topic of the organisation, a `templateId` that
/// is not one of its templates, and list entries that match no contact are
/// 422 errors naming the field. A queued batch gets one fan-out job on the
/// shard of its AWS account; a scheduled one gets none until it is due.
#[utoipa::path(post, path = "/v1/batch", tag = "batch", request_body = CreateBatch,
    responses((status = 200, body = BatchCreated, description = "Batch queued or scheduled"),
        (status = 400, body = schemas::ApiError, description = "scheduledFor is invalid or more than 60 seconds in the past"),
        (status = 403, body = BatchRejected, description = "The plan lacks the batch feature, or awsAccountId is not a connection of the organization")),
    security(("bearerAuth" = [])))]
async fn create_batch(
    State(state): State<AppState>,
    BatchCaller(auth): BatchCaller,
    ValidJson(body): ValidJson<CreateBatch>,
) -> Result<Response, AppError> {
    let org = auth.organization_id;
    let now = Utc::now();
    let channel = body.channel.unwrap_or(Channel::Email);

    let Some(connection) =
        owned_connection(&state.store, org, body.aws_account_id.as_deref()).await?
    else {
        tracing::warn!(target: "api.authz_denied", organization_id = %org, "batch rejected: the AWS account is not a connection of the organization");
        let looks_like_account_number = body
            .aws_account_id
            .as_deref()
            .is_some_and(schemas::connections::is_aws_account_id);
        return Ok(account_rejected(channel, now, looks_like_account_number));
    };
    let audience = resolve_audience(&state.store, org, &body).await?;
    let template_id = check_template(&state.store, org, &body).await?;
    let scheduled_for = send_time(body.scheduled_for.as_deref(), now)?;
    let total_recipients = match body.total_recipients {
        Some(total) => total,
        None => {
            state
                .store
                .count_audience(
                    org,
                    audience.audience_type,
                    audience.topic_id,
                    audience.list.as_deref(),
                )
                .await?
        }
    };

    let new = NewBatch {
        connection_id: Some(connection.id),
        name: body
            .name
            .clone()
            .unwrap_or_else(|| format!("Batch {}", schemas::time::format(&now))),
        channel: channel.as_str().to_owned(),
        audience_type: Some(audience.audience_type),
        topic_id: audience.topic_id,
        segment_id: None,
        recipient_list: audience
            .list
            .map(|ids| ids.iter().map(ContactId::to_string).collect()),
        subject: body.subject.clone(),
        preview_text: body.preview_text.clone(),
        from_email: body.from.clone(),
        from_name: body.from_name.clone(),
        reply_to: body.reply_to.clone(),
        template_id,
        html_content: body.html_content.clone(),
        variable_mappings: body.variable_mappings.clone().unwrap_or_default(),
        scheduled_for,
        total_recipients,
        created_by: Some(acting_user(&auth)),
    };
    let batch = state.store.create_batch(org, &new).await?;

    if batch.status == BatchStatus::Queued {
        let job = FanOutJob {
            batch_id: batch.id,
            organization_id: org,
        };
        publish(
            &state,
            &connection.account_id,
            batch.id,
            BATCH_FAN_OUT,
            &job,
        )
        .await;
    }

    let created = BatchCreated {
        id: batch.id,
        status: batch.status,
        channel: batch.channel,
        total_recipients: batch.counters.total_recipients,
        created_at: batch.created_at,
    };
    Ok(Json(created).into_response())
}

/// List batches, newest first.
#[utoipa::path(get, path = "/v1/batch", tag = "batch", params(ListBatchesQuery),
    responses((status = 200, body = BatchList)), security(("bearerAuth" = [])))]
async fn list_batches(
    State(state): State<AppState>,
    BatchCaller(auth): BatchCaller,
    Query(query): Query<ListBatchesQuery>,
) -> Result<Json<BatchList>, AppError> {
    let org = auth.organization_id;
    let filter = batch_filter(&query)?;
    let (batches, total) = state.store.list_batches(org, &filter).await?;

    let template_ids: HashSet<TemplateId> = batches.iter().filter_map(|b| b.template_id).collect();
    let template_ids: Vec<TemplateId> = template_ids.into_iter().collect();
    let template_names = state.store.template_names(org, &template_ids).await?;
    let accounts: HashMap<ConnectionId, Connection> = state
        .store
        .list_connections(org)
        .await?
        .into_iter()
        .map(|connection| (connection.id, connection))
        .collect();

    let data = batches
        .iter()
        .map(|batch| list_item(batch, &template_names, &accounts))
        .collect();
    Ok(Json(BatchList {
        data,
        page: filter.page,
        page_size: filter.page_size,
        total,
    }))
}

/// Get a batch's status and counters.
#[utoipa::path(get, path = "/v1/batch/{id}", tag = "batch", params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, body = BatchDetail), (status = 404, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn get_batch(
    State(state): State<AppState>,
    BatchCaller(auth): BatchCaller,
    Path(id): Path<String>,
) -> Result<Json<BatchDetail>, AppError> {
    let batch = load_batch(&state.store, auth.organization_id, &id).await?;
    Ok(Json(batch_detail(&batch)))
}

/// List a batch's recipients, newest first.
///
/// Statuses map from the pipeline. `queued` is a recipient claimed by a
/// dispatcher or handed to SES without an outcome yet. `opted_out` is one
/// that became ineligible before its send. `unknown` (a wrapsd addition) is
/// one whose SES call ended without a clear result, and it is never resent.
#[utoipa::path(get, path = "/v1/batch/{id}/recipients", tag = "batch",
    params(("id" = String, Path, description = "Batch id"), ListRecipientsQuery),
    responses((status = 200, body = RecipientList), (status = 404, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn list_recipients(
    State(state): State<AppState>,
    BatchCaller(auth): BatchCaller,
    Path(id): Path<String>,
    Query(query): Query<ListRecipientsQuery>,
) -> Result<Json<RecipientList>, AppError> {
    let org = auth.organization_id;
    let mut v = Violations::new();
    let status = v.enum_value("status", query.status.as_deref(), RecipientStatus::parse);
    let limit = int_param(&mut v, "limit", query.limit.as_deref(), 50, 1, 1000);
    let offset = int_param(&mut v, "offset", query.offset.as_deref(), 0, 0, i64::MAX);
    v.finish().map_err(AppError::Validation)?;

    let batch = load_batch(&state.store, org, &id).await?;
    let states = status.map(RecipientStatus::states);
    let (rows, total) = state
        .store
        .list_batch_recipients_in_states(org, batch.id, states, limit, offset)
        .await?;

    let data = rows
        .into_iter()
        .map(|row| BatchRecipient {
            id: row.id,
            recipient: row.email,
            status: RecipientStatus::of_state(row.state),
            error: row.error,
            bounce_type: None,
            bounce_sub_type: None,
            sent_at: row.sent_at,
            created_at: row.created_at,
        })
        .collect();
    Ok(Json(RecipientList {
        data,
        limit,
        offset,
        total,
    }))
}

/// Cancel a scheduled, queued or processing batch. A chunk already being
/// sent still finishes; the dispatcher stops before the next one.
#[utoipa::path(delete, path = "/v1/batch/{id}", tag = "batch", params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, body = BatchCancelled),
        (status = 400, body = schemas::ApiError, description = "The batch is in a status that cannot be cancelled"),
        (status = 404, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn cancel_batch(
    State(state): State<AppState>,
    BatchCaller(auth): BatchCaller,
    Path(id): Path<String>,
) -> Result<Json<BatchCancelled>, AppError> {
    let id = parse_batch_id(&id)?;
    match state.store.cancel_batch(auth.organization_id, id).await? {
        Ok(()) => Ok(Json(BatchCancelled {
            success: true,
            id,
            status: BatchStatus::Cancelled,
        })),
        Err(status) => Err(AppError::bad_request(format!(
            "Cannot cancel batch in '{}' status. Only scheduled, queued, or processing batches can be cancelled.",
            status.as_str()
        ))),
    }
}

/// Resume a processing or failed email batch.
///
/// A batch whose audience was never frozen gets a new fan-out job.
/// Otherwise each chunk that still has unsent recipients is published again,
/// from `fromChunkIndex` on when given. Claims on the recipients keep a
/// republished chunk from sending anyone twice. The request is rejected
/// with 409 while a dispatcher has claimed recipients in the last two
/// minutes.
// TODO: the hosted service's operator switch that disables resume (503)
// has no setting in wrapsd yet.
#[utoipa::path(post, path = "/v1/batch/{id}/resume", tag = "batch", request_body = ResumeBatch,
    params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, body = BatchResumed), (status = 404, body = schemas::ApiError),
        (status = 409, body = schemas::ApiError, description = "The batch cannot be resumed now")),
    security(("bearerAuth" = [])))]
async fn resume_batch(
    State(state): State<AppState>,
    BatchCaller(auth): BatchCaller,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<ResumeBatch>,
) -> Result<Json<BatchResumed>, AppError> {
    let org = auth.organization_id;
    let batch = load_batch(&state.store, org, &id).await?;
    if !matches!(batch.status, BatchStatus::Processing | BatchStatus::Failed) {
        return Err(AppError::conflict(format!(
            "Cannot resume batch in '{}' status. Only processing or failed batches can be resumed.",
            batch.status.as_str()
        )));
    }
    if batch.channel != Channel::Email.as_str() {
        return Err(AppError::conflict("Only email batches can be resumed"));
    }
    let connection = match batch.connection_id {
        Some(connection_id) => {
            state
                .store
                .connection_credentials(org, connection_id)
                .await?
        }
        None => None,
    };
    let Some(connection) = connection else {
        return Err(AppError::conflict(
            "Batch has no AWS account: its connection was removed",
        ));
    };
    if state
        .store
        .batch_recently_claimed(batch.id, Utc::now() - RECENT_CLAIM)
        .await?
    {
        return Err(AppError::conflict(
            "Batch is still being sent by a dispatcher",
        ));
    }

    let chunks = match batch.fanned_out_at {
        None => None,
        Some(_) => {
            let from = body.from_chunk_index.unwrap_or(0);
            let mut chunks = state.store.unfinished_chunks(batch.id).await?;
            chunks.retain(|&chunk| chunk >= from);
            Some(chunks)
        }
    };
    let first_chunk = chunks
        .as_ref()
        .and_then(|c| c.first().copied())
        .unwrap_or(0);

    let resumable = [BatchStatus::Processing, BatchStatus::Failed];
    if !state
        .store
        .transition_batch(batch.id, &resumable, BatchStatus::Processing, None)
        .await?
    {
        return Err(AppError::conflict(
            "Batch changed status while resuming; read it again before retrying",
        ));
    }
    let entry = json!({
        "resumedAt": schemas::time::format(&Utc::now()),
        "resumedBy": acting_user(&auth),
        "fromChunkIndex": first_chunk,
    });
    state
        .store
        .append_batch_detail(batch.id, "resumes", entry)
        .await?;

    match chunks {
        None => {
            let job = FanOutJob {
                batch_id: batch.id,
                organization_id: org,
            };
            publish(
                &state,
                &connection.account_id,
                batch.id,
                BATCH_FAN_OUT,
                &job,
            )
            .await;
        }
        Some(chunks) => {
            for chunk_index in chunks {
                let job = ChunkJob {
                    batch_id: batch.id,
                    organization_id: org,
                    chunk_index,
                };
                publish(&state, &connection.account_id, batch.id, BATCH_CHUNK, &job).await;
            }
        }
    }
    tracing::info!(organization_id = %org, batch_id = %batch.id, from_chunk_index = first_chunk, "batch resumed");

    Ok(Json(BatchResumed {
        resumed: true,
        from_chunk_index: first_chunk,
    }))
}

/// Follow a batch's progress as Server-Sent Events (wrapsd addition).
///
/// The first `progress` event carries the batch at once, and another
/// follows whenever the batch changes. When the batch is completed, failed
/// or cancelled, an `end` event with the final state closes the stream. The
/// stream reads the store every 500 ms rather than listening to the
/// dispatcher, so it works on every store backend and behind any number of
/// API replicas.
#[utoipa::path(get, path = "/v1/batch/{id}/events", tag = "batch", params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, content_type = "text/event-stream", body = BatchDetail,
            description = "`progress` events, then one `end` event; each event's data is the batch status"),
        (status = 404, body = schemas::ApiError)),
    security(("bearerAuth" = [])))]
async fn batch_events(
    State(state): State<AppState>,
    BatchCaller(auth): BatchCaller,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let batch = load_batch(&state.store, auth.organization_id, &id).await?;
    let events = progress_events(state.store.clone(), auth.organization_id, batch.id);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// State of the events stream between two events.
enum Progress {
    Watching {
        last: Option<BatchDetail>,
    },
    /// The batch reached a terminal status; the `end` event is next.
    Ending(BatchDetail),
    Closed,
}

fn progress_events(
    store: Store,
    org: OrgId,
    id: BatchId,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let start = Progress::Watching { last: None };
    futures::stream::unfold(start, move |progress| {
        let store = store.clone();
        async move {
            let last = match progress {
                Progress::Watching { last } => last,
                Progress::Ending(detail) => {
                    return Some((Ok(sse_event("end", &detail)), Progress::Closed))
                }
                Progress::Closed => return None,
            };
            loop {
                if last.is_some() {
                    tokio::time::sleep(EVENTS_POLL_INTERVAL).await;
                }
                let detail = match store.get_batch(org, id).await {
                    Ok(Some(batch)) => batch_detail(&batch),
                    Ok(None) => return None,
                    Err(err) => {
                        tracing::error!(error = %err, batch_id = %id, "failed to read a batch for its events stream; closing the stream");
                        let event = Event::default()
                            .event("error")
                            .data(r#"{"error":"Internal server error","code":"INTERNAL_ERROR"}"#);
                        return Some((Ok(event), Progress::Closed));
                    }
                };
                let terminal = detail.status.is_terminal();
                if last.as_ref() != Some(&detail) {
                    let event = sse_event("progress", &detail);
                    let next = if terminal {
                        Progress::Ending(detail)
                    } else {
                        Progress::Watching { last: Some(detail) }
                    };
                    return Some((Ok(event), next));
                }
                if terminal {
                    return Some((Ok(sse_event("end", &detail)), Progress::Closed));
                }
            }
        }
    })
}

fn sse_event(name: &'static str, detail: &BatchDetail) -> Event {
    let event = Event::default().event(name);
    match event.clone().json_data(detail) {
        Ok(event) => event,
        Err(err) => {
            // Serializing a plain struct does not fail. Should it, the event
            // is still sent, without data.
            tracing::error!(error = %err, batch_id = %detail.id, "failed to serialize a batch event");
            event
        }
    }
}

/// The audience of a new batch after lookups.
struct Audience {
    audience_type: AudienceType,
    topic_id: Option<TopicId>,
    /// Distinct contacts of a `list` audience.
    list: Option<Vec<ContactId>>,
}

/// Checks the topic of a `topic` audience and resolves the entries of a
/// `list` audience. `topicId` is ignored for other audience types, as the
/// hosted service ignores it.
async fn resolve_audience(
    store: &Store,
    org: OrgId,
    body: &CreateBatch,
) -> Result<Audience, AppError> {
    let audience_type = body.audience_type.unwrap_or(AudienceType::All);
    let mut audience = Audience {
        audience_type,
        topic_id: None,
        list: None,
    };

    if audience_type == AudienceType::Topic {
        if let Some(raw) = body.topic_id.as_deref() {
            let topic = match raw.parse::<TopicId>() {
                Ok(id) => store.get_topic(org, id).await?,
                Err(_) => None,
            };
            let Some(topic) = topic else {
                return Err(AppError::invalid_field("topicId", "Topic not found"));
            };
            audience.topic_id = Some(topic.id);
        }
    }

    if audience_type == AudienceType::List {
        let entries = body.recipients.as_deref().unwrap_or_default();
        let (contacts, unknown) = store.resolve_recipients(org, entries).await?;
        if !unknown.is_empty() {
            return Err(AppError::Validation(unknown_entry_details(
                entries, &unknown,
            )));
        }
        audience.list = Some(contacts);
    }
    Ok(audience)
}

/// Builds one detail per list entry that matched no contact, naming its
/// index.
fn unknown_entry_details(entries: &[String], unknown: &[String]) -> Vec<FieldError> {
    let unknown: HashSet<&str> = unknown.iter().map(String::as_str).collect();
    let indexes: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, entry)| unknown.contains(entry.as_str()))
        .map(|(index, _)| index)
        .collect();

    let mut details: Vec<FieldError> = indexes
        .iter()
        .take(MAX_UNKNOWN_DETAILS)
        .map(|index| {
            FieldError::new(
                format!("recipients[{index}]"),
                "matches no contact id or email of this organization",
            )
        })
        .collect();
    if indexes.len() > MAX_UNKNOWN_DETAILS {
        details.push(FieldError::new(
            "recipients",
            format!(
                "{} more entries match no contact id or email of this organization",
                indexes.len() - MAX_UNKNOWN_DETAILS
            ),
        ));
    }
    details
}

/// Checks that `templateId` names a template of the organisation, and that
/// the batch gets a subject from the request or from the template.
async fn check_template(
    store: &Store,
    org: OrgId,
    body: &CreateBatch,
) -> Result<Option<TemplateId>, AppError> {
    let Some(raw) = body.template_id.as_deref() else {
        return Ok(None);
    };
    let template = match raw.parse::<TemplateId>() {
        Ok(id) => store.get_template(org, id).await?,
        Err(_) => None,
    };
    let Some(template) = template else {
        return Err(AppError::invalid_field("templateId", "Template not found"));
    };
    if body.subject.is_none() && template.detail.summary.subject.is_none() {
        return Err(AppError::invalid_field(
            "subject",
            "is required because the template has no subject",
        ));
    }
    Ok(Some(template.detail.summary.id))
}

/// Returns the connection `raw` names when it belongs to `org`. An id that
/// is not a UUID names no connection.
async fn owned_connection(
    store: &Store,
    org: OrgId,
    raw: Option<&str>,
) -> Result<Option<ConnectionCredentials>, AppError> {
    let Some(id) = raw.and_then(|raw| raw.parse::<ConnectionId>().ok()) else {
        return Ok(None);
    };
    Ok(store.connection_credentials(org, id).await?)
}

/// Builds the 403 response for a foreign AWS account: the hosted service's
/// batch shape plus `error` and `code`.
fn account_rejected(channel: Channel, now: DateTime<Utc>, account_number_given: bool) -> Response {
    let mut error = String::from("AWS account does not belong to this organization");
    if account_number_given {
        // A common mistake: the field takes the connection id, not the
        // 12-digit AWS account number.
        error.push_str(". awsAccountId takes the connectionId returned by POST /v1/connections, not the AWS account number");
    }
    let body = BatchRejected {
        id: String::new(),
        status: "error".into(),
        channel: channel.as_str().into(),
        total_recipients: 0,
        created_at: now,
        error,
        code: ErrorCode::Forbidden,
    };
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

/// Decides when a batch sends: `None` for now, or the future time it is
/// scheduled for.
fn send_time(raw: Option<&str>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, AppError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| AppError::bad_request("scheduledFor is not a valid date"))?
        .with_timezone(&Utc);
    if at < now - SCHEDULE_TOLERANCE {
        return Err(AppError::bad_request(
            "scheduledFor is more than 60 seconds in the past. A past schedule is not sent immediately: omit scheduledFor to send now, or give a future time.",
        ));
    }
    Ok((at > now).then_some(at))
}

/// Publishes a job for a batch to the shard of its AWS account. A failure
/// is logged only, because the dispatcher's sweeper finds queued and
/// stalled batches in the store and publishes their jobs again.
async fn publish<T: Serialize>(
    state: &AppState,
    account_number: &str,
    batch_id: BatchId,
    kind: &'static str,
    payload: &T,
) {
    let shard = ShardId(shard_for_account(account_number, state.config.shards));
    let published = match Job::from_payload(kind, payload) {
        Ok(job) => state
            .streams
            .producer
            .publish(shard, &job)
            .await
            .map(|_| ()),
        Err(err) => Err(err),
    };
    if let Err(err) = published {
        tracing::warn!(error = %err, batch_id = %batch_id, shard = shard.0, kind, "failed to publish a batch job; the sweeper will publish it again");
    }
}

/// Returns the user a change is recorded as: the key's creator, else the
/// key.
fn acting_user(auth: &AuthContext) -> String {
    auth.user_id
        .clone()
        .unwrap_or_else(|| auth.api_key_id.to_string())
}

fn parse_batch_id(raw: &str) -> Result<BatchId, AppError> {
    super::path_id(raw, BATCH_NOT_FOUND)
}

async fn load_batch(store: &Store, org: OrgId, raw: &str) -> Result<Batch, AppError> {
    let id = parse_batch_id(raw)?;
    store
        .get_batch(org, id)
        .await?
        .ok_or_else(|| AppError::not_found(BATCH_NOT_FOUND))
}

fn batch_filter(query: &ListBatchesQuery) -> Result<BatchFilter, AppError> {
    let mut v = Violations::new();
    let page = int_param(&mut v, "page", query.page.as_deref(), 1, 1, i64::MAX);
    let page_size = int_param(&mut v, "pageSize", query.page_size.as_deref(), 20, 1, 100);
    let status = v.enum_value("status", query.status.as_deref(), BatchStatus::parse);
    let channel = v.enum_value("channel", query.channel.as_deref(), Channel::parse);
    v.max_chars("search", query.search.as_deref(), 200);
    v.finish().map_err(AppError::Validation)?;

    Ok(BatchFilter {
        page,
        page_size,
        status,
        channel: channel.map(|c| c.as_str().to_owned()),
        search: query.search.clone().filter(|s| !s.is_empty()),
    })
}

fn list_item(
    batch: &Batch,
    template_names: &HashMap<TemplateId, String>,
    accounts: &HashMap<ConnectionId, Connection>,
) -> BatchListItem {
    let counters = &batch.counters;
    BatchListItem {
        id: batch.id,
        status: batch.status,
        channel: batch.channel.clone(),
        name: Some(batch.name.clone()),
        subject: batch.subject.clone(),
        total_recipients: counters.total_recipients,
        processed_recipients: counters.processed_recipients,
        sent: counters.sent,
        delivered: counters.delivered,
        opened: counters.opened,
        clicked: counters.clicked,
        bounced: counters.bounced,
        complained: counters.complained,
        suppressed: counters.suppressed,
        failed: counters.failed,
        scheduled_for: batch.scheduled_for,
        started_at: batch.started_at,
        completed_at: batch.completed_at,
        created_at: batch.created_at,
        template: batch.template_id.and_then(|id| {
            template_names.get(&id).map(|name| TemplateRef {
                id,
                name: name.clone(),
            })
        }),
        aws_account: batch
            .connection_id
            .and_then(|id| accounts.get(&id))
            .map(|account| AwsAccountRef {
                id: account.id,
                name: account.name.clone(),
                region: account.region.clone(),
            }),
    }
}

fn batch_detail(batch: &Batch) -> BatchDetail {
    let counters = &batch.counters;
    BatchDetail {
        id: batch.id,
        status: batch.status,
        channel: batch.channel.clone(),
        name: Some(batch.name.clone()),
        total_recipients: counters.total_recipients,
        processed_recipients: counters.processed_recipients,
        sent: counters.sent,
        delivered: counters.delivered,
        failed: counters.failed,
        opened: counters.opened,
        clicked: counters.clicked,
        bounced: counters.bounced,
        complained: counters.complained,
        suppressed: counters.suppressed,
        unknown: counters.unknown,
        skipped: counters.skipped,
        paused_reason: batch.paused_reason.clone(),
        error_message: batch.error_message.clone(),
        scheduled_for: batch.scheduled_for,
        started_at: batch.started_at,
        completed_at: batch.completed_at,
        created_at: batch.created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_tolerates_a_minute_in_the_past() {
        let now = Utc::now();
        let at = |delta: chrono::TimeDelta| Some(schemas::time::format(&(now + delta)));

        assert_eq!(send_time(None, now).unwrap(), None);
        assert_eq!(
            send_time(at(chrono::TimeDelta::seconds(-30)).as_deref(), now).unwrap(),
            None
        );
        assert!(send_time(at(chrono::TimeDelta::seconds(-61)).as_deref(), now).is_err());
        let future = send_time(at(chrono::TimeDelta::hours(1)).as_deref(), now).unwrap();
        assert!(future.is_some_and(|t| t > now));
        assert!(send_time(Some("tomorrow"), now).is_err());
    }

    #[test]
    fn unknown_entries_are_named_by_index() {
        let entries: Vec<String> = ["a@x.io", "nobody", "b@x.io", "nobody"]
            .map(String::from)
            .to_vec();
        let details = unknown_entry_details(&entries, &["nobody".to_string()]);
        let paths: Vec<&str> = details.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["recipients[1]", "recipients[3]"]);
    }
}
