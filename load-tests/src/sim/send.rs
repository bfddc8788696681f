//! `SendEmail` and `SendBulkEmail`.
//!
//! A send is checked in the order SES reports problems: the request's shape (a
//! `BadRequestException`), then the template (`NotFoundException`), then the limits
//! (`TooManyRequestsException`, `LimitExceededException`), and only then recorded. In a
//! bulk call an entry with a bad destination, tag or replacement data fails alone, with
//! its status in the entry's result, and does not count against the limits.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::Utc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::prelude::{Engine, BASE64_STANDARD};
use bytes::Bytes;
use serde_json::Value;

use super::error::SesError;
use super::events::AcceptedMail;
use super::raw;
use super::recorder::{AcceptedMessage, Operation};
use super::state::SimState;
use super::tags::{checked_tags, Tag, TagSet};
use super::templates::{CompiledTemplate, StoredTemplate};
use super::wire::parse_body;
use super::wire::{
    BulkEmailEntry, BulkEmailEntryResult, BulkEmailStatus, Destination, EmailContent, RawMessage,
    SendBulkEmailRequest, SendBulkEmailResponse, SendEmailRequest, SendEmailResponse, Template,
};
use crate::address::{bare_address, is_valid_address};

/// SES's limit on To, Cc and Bcc addresses together in one message.
const MAX_RECIPIENTS_PER_MESSAGE: usize = 50;
/// SES's limit on entries in one `SendBulkEmail` call.
const MAX_BULK_ENTRIES: usize = 50;

/// A message that passed every check, ready to be admitted and recorded.
struct PreparedMessage {
    /// The sender, as the request or the raw message's `From` header gave it.
    from: String,
    /// The `To` addresses; Cc and Bcc are only in `recipients`.
    to: Vec<String>,
    recipients: Vec<String>,
    subject: Option<Arc<str>>,
    template: Option<Arc<str>>,
    tags: TagSet,
    configuration_set: Option<Arc<str>>,
    text: Option<String>,
    html: Option<String>,
}

impl PreparedMessage {
    /// Records every recipient under a new message id and returns the id, with what the
    /// message's SES events need when the simulator posts them.
    fn record(self, state: &SimState, operation: Operation) -> (String, Option<AcceptedMail>) {
        let (message_seq, message_id) = state.recorder.next_message();
        let mail = state.publishes_events().then(|| AcceptedMail {
            message_id: message_id.clone(),
            accepted_at: Utc::now(),
            source: self.from.clone(),
            to_header: self.to.clone(),
            recipients: self.recipients.clone(),
            subject: self.subject.clone(),
            tags: self.tags.to_map(),
            configuration_set: self.configuration_set.clone(),
        });
        let recipients: Vec<&str> = self.recipients.iter().map(String::as_str).collect();
        state.recorder.record(AcceptedMessage {
            operation,
            message_seq,
            recipients: &recipients,
            subject: self.subject,
            template: self.template,
            tags: self.tags,
            text: self.text,
            html: self.html,
        });
        (message_id, mail)
    }
}

/// `POST /v2/email/outbound-emails`.
pub(crate) async fn send_email(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Response, SesError> {
    state.begin_call(Operation::SendEmail).await;
    let request: SendEmailRequest = parse_body(&body)?;
    let message = prepare_send_email(&state, request)?;

    state.admit(message.recipients.len() as u64)?;
    let (message_id, mail) = message.record(&state, Operation::SendEmail);
    state.publish_events(mail).await;

    let response = Json(SendEmailResponse { message_id }).into_response();
    Ok(state.respond_after_accept(response).await)
}

fn prepare_send_email(
    state: &SimState,
    request: SendEmailRequest,
) -> Result<PreparedMessage, SesError> {
    let shared: Arc<[Tag]> = checked_tags(&request.email_tags)?.into();
    let tags = TagSet::new(shared, Box::default());
    check_reply_to(&request.reply_to_addresses)?;
    let destination = request.destination.unwrap_or_default();
    let configuration_set: Option<Arc<str>> = request.configuration_set_name.map(Into::into);

    let EmailContent {
        simple,
        raw,
        template,
    } = request.content;
    let message = match (simple, raw, template) {
        (Some(simple), None, None) => PreparedMessage {
            from: check_from(request.from_email_address.as_deref())?.to_owned(),
            to: destination.to_addresses.clone(),
            recipients: destination.recipients().cloned().collect(),
            subject: Some(simple.subject.data.into()),
            template: None,
            tags,
            configuration_set,
            text: simple.body.text.map(|content| content.data),
            html: simple.body.html.map(|content| content.data),
        },
        (None, Some(raw), None) => PreparedMessage {
            configuration_set,
            ..prepare_raw(raw, request.from_email_address, &destination, tags)?
        },
        (None, None, Some(template)) => {
            let from = check_from(request.from_email_address.as_deref())?.to_owned();
            let resolved = resolve_template(state, &template)?;
            let data = parse_template_data(template.template_data.as_deref(), "TemplateData")?;
            let rendered = resolved
                .compiled()
                .render(&data, state.recorder.record_content())
                .map_err(SesError::BadRequest)?;
            PreparedMessage {
                from,
                to: destination.to_addresses.clone(),
                recipients: destination.recipients().cloned().collect(),
                subject: Some(rendered.subject.into()),
                template: resolved.name(),
                tags,
                configuration_set,
                text: rendered.text,
                html: rendered.html,
            }
        }
        _ => {
            return Err(SesError::BadRequest(
                "Content must set exactly one of Simple, Raw and Template.".to_owned(),
            ))
        }
    };

    check_recipients(&message.recipients)?;
    Ok(message)
}

/// Takes the sender, subject and, without a `Destination`, the recipients from the
/// message's own headers, as SES does for raw messages.
fn prepare_raw(
    raw: RawMessage,
    from: Option<String>,
    destination: &Destination,
    tags: TagSet,
) -> Result<PreparedMessage, SesError> {
    let message = BASE64_STANDARD
        .decode(raw.data.as_bytes())
        .map_err(|_| SesError::BadRequest("Content.Raw.Data is not valid base64.".to_owned()))?;
    let headers = raw::parse_headers(&message);
    let from = check_from(from.or(headers.from).as_deref())?.to_owned();

    // NOTE: without a Destination, every header recipient (To, Cc and Bcc) counts as
    // To in the events' headers, because the raw header parser merges them.
    let mut to = destination.to_addresses.clone();
    let mut recipients: Vec<String> = destination.recipients().cloned().collect();
    if recipients.is_empty() {
        recipients = headers.recipients;
        to = recipients.clone();
    }
    Ok(PreparedMessage {
        from,
        to,
        recipients,
        subject: headers.subject.map(Into::into),
        template: None,
        tags,
        configuration_set: None,
        text: None,
        html: None,
    })
}

/// `POST /v2/email/outbound-bulk-emails`.
pub(crate) async fn send_bulk_email(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Response, SesError> {
    state.begin_call(Operation::SendBulkEmail).await;
    let request: SendBulkEmailRequest = parse_body(&body)?;
    let entries = prepare_bulk(&state, request)?;

    let recipients: usize = entries
        .iter()
        .filter_map(|entry| entry.as_ref().ok())
        .map(|message| message.recipients.len())
        .sum();
    if recipients > 0 {
        state.admit(recipients as u64)?;
    }

    let mut mails = Vec::new();
    let results: Vec<BulkEmailEntryResult> = entries
        .into_iter()
        .map(|entry| match entry {
            Ok(message) => {
                let (message_id, mail) = message.record(&state, Operation::SendBulkEmail);
                mails.extend(mail);
                BulkEmailEntryResult {
                    status: BulkEmailStatus::Success,
                    error: None,
                    message_id: Some(message_id),
                }
            }
            Err(rejection) => BulkEmailEntryResult {
                status: rejection.status,
                error: Some(rejection.error),
                message_id: None,
            },
        })
        .collect();
    state.publish_events(mails).await;

    let response = Json(SendBulkEmailResponse {
        bulk_email_entry_results: results,
    })
    .into_response();
    if recipients == 0 {
        return Ok(response);
    }
    Ok(state.respond_after_accept(response).await)
}

/// The status and reason of a bulk entry that was not sent.
struct EntryRejection {
    status: BulkEmailStatus,
    error: String,
}

/// Checks the call as a whole, then prepares each entry on its own.
fn prepare_bulk(
    state: &SimState,
    request: SendBulkEmailRequest,
) -> Result<Vec<Result<PreparedMessage, EntryRejection>>, SesError> {
    let entry_count = request.bulk_email_entries.len();
    if entry_count == 0 || entry_count > MAX_BULK_ENTRIES {
        return Err(SesError::BadRequest(format!(
            "BulkEmailEntries has {entry_count} entries; it must have 1 to {MAX_BULK_ENTRIES}."
        )));
    }
    let from = check_from(request.from_email_address.as_deref())?.to_owned();
    check_reply_to(&request.reply_to_addresses)?;
    let shared_tags: Arc<[Tag]> = checked_tags(&request.default_email_tags)?.into();

    let template = request
        .default_content
        .template
        .ok_or_else(|| SesError::BadRequest("DefaultContent.Template is required.".to_owned()))?;
    let resolved = resolve_template(state, &template)?;
    let default_data = parse_template_data(
        template.template_data.as_deref(),
        "DefaultContent.Template.TemplateData",
    )?;

    let context = EntryContext {
        from,
        configuration_set: request.configuration_set_name.map(Into::into),
        template: &resolved,
        default_data: &default_data,
        shared_tags,
        with_bodies: state.recorder.record_content(),
    };
    Ok(request
        .bulk_email_entries
        .into_iter()
        .map(|entry| context.prepare(entry))
        .collect())
}

/// The sender, template, data and tags that every entry of one bulk call shares.
struct EntryContext<'a> {
    from: String,
    configuration_set: Option<Arc<str>>,
    template: &'a ResolvedTemplate,
    default_data: &'a Value,
    shared_tags: Arc<[Tag]>,
    with_bodies: bool,
}

impl EntryContext<'_> {
    fn prepare(&self, entry: BulkEmailEntry) -> Result<PreparedMessage, EntryRejection> {
        let invalid = |err: SesError| EntryRejection {
            status: BulkEmailStatus::InvalidParameter,
            error: err.to_string(),
        };

        let own_tags = checked_tags(&entry.replacement_tags).map_err(invalid)?;
        let tags = TagSet::new(self.shared_tags.clone(), own_tags.into_boxed_slice());
        let recipients: Vec<String> = entry.destination.recipients().cloned().collect();
        check_recipients(&recipients).map_err(invalid)?;

        // NOTE: an entry's ReplacementTemplateData replaces the default TemplateData
        // whole, following the SES v1 wording ("when replacement data is not
        // specified"); whether SES v2 merges the two objects is not documented.
        let replacement = entry
            .replacement_email_content
            .and_then(|content| content.replacement_template)
            .and_then(|template| template.replacement_template_data);
        let data = match replacement {
            Some(json) => Cow::Owned(
                parse_template_data(Some(&json), "ReplacementTemplateData").map_err(invalid)?,
            ),
            None => Cow::Borrowed(self.default_data),
        };

        let rendered = self
            .template
            .compiled()
            .render(&data, self.with_bodies)
            .map_err(|error| EntryRejection {
                status: BulkEmailStatus::Failed,
                error,
            })?;
        Ok(PreparedMessage {
            from: self.from.clone(),
            to: entry.destination.to_addresses,
            recipients,
            subject: Some(rendered.subject.into()),
            template: self.template.name(),
            tags,
            configuration_set: self.configuration_set.clone(),
            text: rendered.text,
            html: rendered.html,
        })
    }
}

/// A template given by name or ARN (stored) or inline in the request.
enum ResolvedTemplate {
    Stored(Arc<str>, Arc<StoredTemplate>),
    Inline(Box<CompiledTemplate>),
}

impl ResolvedTemplate {
    fn compiled(&self) -> &CompiledTemplate {
        match self {
            ResolvedTemplate::Stored(_, stored) => &stored.compiled,
            ResolvedTemplate::Inline(compiled) => compiled,
        }
    }

    fn name(&self) -> Option<Arc<str>> {
        match self {
            ResolvedTemplate::Stored(name, _) => Some(name.clone()),
            ResolvedTemplate::Inline(_) => None,
        }
    }
}

/// Finds the template by `TemplateName`, by the name at the end of `TemplateArn`
/// (`arn:aws:ses:REGION:ACCOUNT:template/NAME`), or compiles `TemplateContent`.
fn resolve_template(state: &SimState, template: &Template) -> Result<ResolvedTemplate, SesError> {
    let arn_name = template
        .template_arn
        .as_deref()
        .and_then(|arn| arn.rsplit_once("template/"))
        .map(|(_, name)| name);
    if let Some(name) = template.template_name.as_deref().or(arn_name) {
        let stored = state.templates.get(name)?;
        return Ok(ResolvedTemplate::Stored(name.into(), stored));
    }
    match &template.template_content {
        Some(content) => {
            let compiled = CompiledTemplate::compile(content)?;
            Ok(ResolvedTemplate::Inline(Box::new(compiled)))
        }
        None => Err(SesError::BadRequest(
            "Template must set TemplateName, TemplateArn or TemplateContent.".to_owned(),
        )),
    }
}

/// Parses template data, which SES requires to be a JSON object; absent data is `{}`.
fn parse_template_data(data: Option<&str>, member: &str) -> Result<Value, SesError> {
    let Some(data) = data else {
        return Ok(Value::Object(serde_json::Map::new()));
    };
    match serde_json::from_str::<Value>(data) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(SesError::BadRequest(format!(
            "{member} must be a JSON object."
        ))),
        Err(err) => Err(SesError::BadRequest(format!(
            "{member} is not valid JSON: {err}"
        ))),
    }
}

// NOTE: the SESv2 reference does not say whether a malformed address is a
// BadRequestException or a MessageRejected. The simulator always returns
// BadRequestException, and its message names no address.
/// Checks the sender and returns it.
fn check_from(from: Option<&str>) -> Result<&str, SesError> {
    match from {
        None => Err(SesError::BadRequest(
            "FromEmailAddress is required.".to_owned(),
        )),
        Some(from) if !is_valid_address(bare_address(from)) => Err(SesError::BadRequest(
            "Illegal address in FromEmailAddress.".to_owned(),
        )),
        Some(from) => Ok(from),
    }
}

fn check_reply_to(addresses: &[String]) -> Result<(), SesError> {
    if addresses
        .iter()
        .all(|address| is_valid_address(bare_address(address)))
    {
        Ok(())
    } else {
        Err(SesError::BadRequest(
            "Illegal address in ReplyToAddresses.".to_owned(),
        ))
    }
}

fn check_recipients(recipients: &[String]) -> Result<(), SesError> {
    if recipients.is_empty() {
        return Err(SesError::BadRequest(
            "The message has no recipients: set Destination (or To, Cc or Bcc headers in a raw message).".to_owned(),
        ));
    }
    if recipients.len() > MAX_RECIPIENTS_PER_MESSAGE {
        return Err(SesError::BadRequest(format!(
            "Recipient count exceeds {MAX_RECIPIENTS_PER_MESSAGE}."
        )));
    }
    if let Some(position) = recipients
        .iter()
        .position(|address| !is_valid_address(bare_address(address)))
    {
        return Err(SesError::BadRequest(format!(
            "Illegal address: recipient {} of the destination.",
            position + 1
        )));
    }
    Ok(())
}
