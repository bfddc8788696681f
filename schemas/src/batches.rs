//! Batches (broadcasts): one message to a frozen audience.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::contacts::Channel;
use crate::error::{ErrorCode, FieldError};
use crate::ids::{BatchId, ConnectionId, TemplateId};
use crate::validation::Violations;

/// Lifecycle of a batch. A batch paused by its account's daily quota stays
/// `processing`; the pause shows in `pausedReason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    Draft,
    Scheduled,
    Queued,
    Processing,
    Completed,
    Failed,
    Cancelled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AudienceType {
    All,
    Topic,
    Segment,
    /// An explicit list of contact ids or emails (wrapsd addition).
    List,
}

/// Delivery state of one recipient inside the pipeline. Rows that reached
/// `handed_off` were given to SES and are never sent again automatically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientState {
    Pending,
    Claimed,
    HandedOff,
    Sent,
    Failed,
    /// SES may or may not have accepted the message (a timeout after the
    /// request was sent); it is not resent.
    Unknown,
    /// The contact became ineligible (unsubscribed, bounced, deleted) before
    /// its send.
    Skipped,
}

/// Source of a personalisation variable's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum VariableSource {
    Static {
        value: String,
    },
    /// `firstName`, `lastName`, `company`, `jobTitle`, `email` or
    /// `properties.<key>`.
    Contact {
        field: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariableMapping {
    pub variable_name: String,
    pub source: VariableSource,
}

macro_rules! text_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

text_enum!(BatchStatus { Draft => "draft", Scheduled => "scheduled", Queued => "queued", Processing => "processing", Completed => "completed", Failed => "failed", Cancelled => "cancelled" });
text_enum!(AudienceType { All => "all", Topic => "topic", Segment => "segment", List => "list" });
text_enum!(RecipientState { Pending => "pending", Claimed => "claimed", HandedOff => "handed_off", Sent => "sent", Failed => "failed", Unknown => "unknown", Skipped => "skipped" });

impl BatchStatus {
    /// Reports whether the batch can change no more by itself.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

// Requests and responses of `/v1/batch`.

/// Maximum number of entries in a `list` audience.
pub const MAX_LIST_RECIPIENTS: usize = 10_000;

/// `POST /v1/batch`: create a broadcast and queue or schedule it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBatch {
    /// Id of the AWS account connection to send through (the connection's
    /// UUID, not the 12-digit account number).
    pub aws_account_id: Option<String>,
    /// Only `email` is supported, and `sms` is rejected.
    pub channel: Option<Channel>,
    /// Defaults to `Batch <ISO timestamp>`.
    pub name: Option<String>,
    /// `all` (default), `topic` or `list`. `segment` is rejected.
    pub audience_type: Option<AudienceType>,
    /// Topic of a `topic` audience, ignored for other audience types. A
    /// `topic` audience without it sends to every eligible contact.
    pub topic_id: Option<String>,
    pub segment_id: Option<String>,
    /// Contact ids or emails of a `list` audience (wrapsd addition), 1 to
    /// 10,000 entries. Emails match regardless of case, and entries naming
    /// the same contact count once.
    pub recipients: Option<Vec<String>>,
    /// Required with `htmlContent`. It overrides the template's subject.
    pub subject: Option<String>,
    pub preview_text: Option<String>,
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    /// A template of the organisation. Either this or `htmlContent` is
    /// required.
    pub template_id: Option<String>,
    pub html_content: Option<String>,
    pub variable_mappings: Option<Vec<VariableMapping>>,
    /// SMS text (SMS broadcasts are not supported yet).
    pub body: Option<String>,
    /// SMS sender id (SMS broadcasts are not supported yet).
    pub sender_id: Option<String>,
    /// When to send. A time more than 60 seconds in the past is rejected,
    /// and a time up to 60 seconds in the past, or none, sends now.
    #[schema(format = DateTime)]
    pub scheduled_for: Option<String>,
    /// A recipient count computed by the caller, or counted here when
    /// absent. The dispatcher sets the exact count when it freezes the
    /// audience.
    pub total_recipients: Option<i64>,
}

impl CreateBatch {
    /// Checks every field that needs no lookup: lengths, required fields,
    /// the unsupported channel and audience, and the content rule (a
    /// template, or HTML with a subject).
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut v = Violations::new();

        match self.aws_account_id.as_deref() {
            None => v.push("awsAccountId", "is required"),
            Some(id) => v.max_chars("awsAccountId", Some(id), 36),
        }
        if self.channel == Some(Channel::Sms) {
            v.push(
                "channel",
                "SMS broadcasts are not supported yet; use channel email",
            );
        }

        v.max_chars("name", self.name.as_deref(), 255);
        v.max_chars("topicId", self.topic_id.as_deref(), 36);
        v.max_chars("segmentId", self.segment_id.as_deref(), 36);
        v.max_chars("subject", self.subject.as_deref(), 998);
        v.max_chars("previewText", self.preview_text.as_deref(), 500);
        v.max_chars("from", self.from.as_deref(), 255);
        v.email(
            "from",
            self.from
                .as_deref()
                .filter(|from| from.chars().count() <= 255),
        );
        v.max_chars("fromName", self.from_name.as_deref(), 100);
        v.max_chars("replyTo", self.reply_to.as_deref(), 255);
        v.email(
            "replyTo",
            self.reply_to
                .as_deref()
                .filter(|to| to.chars().count() <= 255),
        );
        v.max_chars("templateId", self.template_id.as_deref(), 36);
        v.max_chars("body", self.body.as_deref(), 1600);
        v.max_chars("senderId", self.sender_id.as_deref(), 20);

        if self.total_recipients.is_some_and(|n| n < 0) {
            v.push("totalRecipients", "must be at least 0");
        }
        for (index, mapping) in self.variable_mappings.iter().flatten().enumerate() {
            if mapping.variable_name.trim().is_empty() {
                v.push(
                    format!("variableMappings[{index}].variableName"),
                    "must not be empty",
                );
            }
        }

        self.validate_audience(&mut v);
        self.validate_content(&mut v);
        v.finish()
    }

    fn validate_audience(&self, v: &mut Violations) {
        let recipients = self.recipients.as_deref();
        match self.audience_type {
            Some(AudienceType::Segment) => v.push(
                "audienceType",
                "segment audiences are not supported yet; use all, topic or list",
            ),
            Some(AudienceType::List) => match recipients {
                None | Some([]) => v.push(
                    "recipients",
                    "is required with audienceType list: give 1 to 10000 contact ids or emails",
                ),
                Some(items) if items.len() > MAX_LIST_RECIPIENTS => v.push(
                    "recipients",
                    format!("must contain at most {MAX_LIST_RECIPIENTS} items"),
                ),
                Some(items) => {
                    for (index, item) in items.iter().enumerate() {
                        let path = format!("recipients[{index}]");
                        v.not_blank(&path, Some(item));
                        v.max_chars(&path, Some(item), 255);
                    }
                }
            },
            _ if recipients.is_some() => {
                v.push("recipients", "is only allowed with audienceType list")
            }
            _ => {}
        }
    }

    fn validate_content(&self, v: &mut Violations) {
        if self.template_id.is_some() {
            return;
        }
        match (&self.html_content, &self.subject) {
            (None, _) => v.push("htmlContent", "is required when no templateId is given"),
            (Some(_), None) => v.push("subject", "is required with htmlContent"),
            (Some(_), Some(_)) => {}
        }
    }
}

/// Response of `POST /v1/batch`, with HTTP 200 as in the hosted service.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchCreated {
    pub id: BatchId,
    pub status: BatchStatus,
    pub channel: String,
    pub total_recipients: i64,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

/// The 403 body of `POST /v1/batch` when `awsAccountId` is not a
/// connection of the organisation. It keeps the hosted service's shape of a
/// created batch, with an empty id, and adds the error envelope's fields.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchRejected {
    /// Always empty.
    pub id: String,
    /// Always `error`.
    pub status: String,
    pub channel: String,
    pub total_recipients: i64,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    pub error: String,
    pub code: ErrorCode,
}

/// The template a batch uses, as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateRef {
    pub id: TemplateId,
    pub name: String,
}

/// The AWS account a batch sends through, as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AwsAccountRef {
    pub id: ConnectionId,
    pub name: String,
    pub region: String,
}

/// One batch of `GET /v1/batch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchListItem {
    pub id: BatchId,
    pub status: BatchStatus,
    pub channel: String,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub total_recipients: i64,
    pub processed_recipients: i64,
    pub sent: i64,
    pub delivered: i64,
    pub opened: i64,
    pub clicked: i64,
    pub bounced: i64,
    pub complained: i64,
    pub suppressed: i64,
    pub failed: i64,
    #[serde(with = "crate::time::iso_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub scheduled_for: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::iso_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::iso_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    pub template: Option<TemplateRef>,
    pub aws_account: Option<AwsAccountRef>,
}

/// `GET /v1/batch`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchList {
    pub data: Vec<BatchListItem>,
    pub page: i64,
    pub page_size: i64,
    pub total: i64,
}

/// Query of `GET /v1/batch`. Numbers arrive as strings and are checked by
/// the route.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListBatchesQuery {
    /// Page number, from 1 (default 1).
    pub page: Option<String>,
    /// Batches per page, 1 to 100 (default 20).
    pub page_size: Option<String>,
    /// A batch status, `draft` included.
    pub status: Option<String>,
    /// `email` or `sms`.
    pub channel: Option<String>,
    /// Case-insensitive substring of the name or subject, at most 200
    /// characters.
    pub search: Option<String>,
}

/// `GET /v1/batch/{id}`, and each `progress` event of
/// `GET /v1/batch/{id}/events`. `unknown`, `skipped`, `pausedReason`,
/// `errorMessage` and `scheduledFor` are wrapsd additions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchDetail {
    pub id: BatchId,
    pub status: BatchStatus,
    pub channel: String,
    pub name: Option<String>,
    pub total_recipients: i64,
    pub processed_recipients: i64,
    pub sent: i64,
    pub delivered: i64,
    pub failed: i64,
    pub opened: i64,
    pub clicked: i64,
    pub bounced: i64,
    pub complained: i64,
    pub suppressed: i64,
    /// Recipients whose send may or may not have reached SES. They are never
    /// resent.
    pub unknown: i64,
    /// Recipients that became ineligible (unsubscribed, bounced, deleted)
    /// before their send.
    pub skipped: i64,
    /// Reason a `processing` batch is waiting, for example `daily_quota`.
    pub paused_reason: Option<String>,
    pub error_message: Option<String>,
    #[serde(with = "crate::time::iso_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub scheduled_for: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::iso_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::iso_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

/// Per-recipient status on the wire. wrapsd records the pipeline states
/// only, so `delivered`, `opened`, `clicked`, `bounced`, `complained` and
/// `suppressed` are accepted as filters but match no recipient yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientStatus {
    Pending,
    /// Claimed by a dispatcher or handed to SES without an outcome yet.
    Queued,
    Sent,
    Delivered,
    Opened,
    Clicked,
    Bounced,
    Complained,
    Suppressed,
    Failed,
    /// The contact became ineligible before its send.
    OptedOut,
    /// SES may or may not have accepted the message (wrapsd addition).
    Unknown,
}

text_enum!(RecipientStatus { Pending => "pending", Queued => "queued", Sent => "sent", Delivered => "delivered", Opened => "opened", Clicked => "clicked", Bounced => "bounced", Complained => "complained", Suppressed => "suppressed", Failed => "failed", OptedOut => "opted_out", Unknown => "unknown" });

impl RecipientStatus {
    /// Maps a pipeline state to its wire status.
    pub fn of_state(state: RecipientState) -> Self {
        match state {
            RecipientState::Pending => Self::Pending,
            RecipientState::Claimed | RecipientState::HandedOff => Self::Queued,
            RecipientState::Sent => Self::Sent,
            RecipientState::Failed => Self::Failed,
            RecipientState::Unknown => Self::Unknown,
            RecipientState::Skipped => Self::OptedOut,
        }
    }

    /// Returns the pipeline states a status filter matches; empty for the
    /// statuses wrapsd does not record per recipient.
    pub fn states(self) -> &'static [RecipientState] {
        match self {
            Self::Pending => &[RecipientState::Pending],
            Self::Queued => &[RecipientState::Claimed, RecipientState::HandedOff],
            Self::Sent => &[RecipientState::Sent],
            Self::Failed => &[RecipientState::Failed],
            Self::Unknown => &[RecipientState::Unknown],
            Self::OptedOut => &[RecipientState::Skipped],
            Self::Delivered
            | Self::Opened
            | Self::Clicked
            | Self::Bounced
            | Self::Complained
            | Self::Suppressed => &[],
        }
    }
}

/// One recipient of `GET /v1/batch/{id}/recipients`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecipient {
    pub id: String,
    /// The email address the message went (or goes) to.
    pub recipient: String,
    pub status: RecipientStatus,
    pub error: Option<String>,
    /// Always null: bounces are not recorded per recipient yet.
    pub bounce_type: Option<String>,
    /// Always null: bounces are not recorded per recipient yet.
    pub bounce_sub_type: Option<String>,
    #[serde(with = "crate::time::iso_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

/// `GET /v1/batch/{id}/recipients`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RecipientList {
    pub data: Vec<BatchRecipient>,
    pub limit: i64,
    pub offset: i64,
    pub total: i64,
}

/// Query of `GET /v1/batch/{id}/recipients`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListRecipientsQuery {
    /// A recipient status; `queued` matches recipients claimed by a
    /// dispatcher or handed to SES.
    pub status: Option<String>,
    /// 1 to 1000 (default 50).
    pub limit: Option<String>,
    /// At least 0 (default 0).
    pub offset: Option<String>,
}

/// Response of `DELETE /v1/batch/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchCancelled {
    pub success: bool,
    pub id: BatchId,
    pub status: BatchStatus,
}

/// `POST /v1/batch/{id}/resume`; the body is optional.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResumeBatch {
    /// Republish only the unfinished chunks from this index on.
    pub from_chunk_index: Option<i64>,
}

impl ResumeBatch {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut v = Violations::new();
        if self.from_chunk_index.is_some_and(|n| n < 0) {
            v.push("fromChunkIndex", "must be at least 0");
        }
        v.finish()
    }
}

/// Response of `POST /v1/batch/{id}/resume`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchResumed {
    pub resumed: bool,
    /// The first chunk republished, or 0 when the audience is frozen again
    /// from the start or no chunk was left.
    pub from_chunk_index: i64,
}

/// Parses an integer query parameter within `min..=max`, or returns
/// `default` when it is absent. An invalid value is recorded in `v` under
/// `path`.
pub fn int_param(
    v: &mut Violations,
    path: &str,
    raw: Option<&str>,
    default: i64,
    min: i64,
    max: i64,
) -> i64 {
    let Some(raw) = raw else {
        return default;
    };
    match raw.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => n,
        _ if max == i64::MAX => {
            v.push(path, format!("must be an integer of at least {min}"));
            default
        }
        _ => {
            v.push(path, format!("must be an integer from {min} to {max}"));
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(body: serde_json::Value) -> Vec<String> {
        let request: CreateBatch = serde_json::from_value(body).unwrap();
        match request.validate() {
            Ok(()) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.path).collect(),
        }
    }

    #[test]
    fn create_needs_account_and_content() {
        assert_eq!(
            paths(serde_json::json!({})),
            ["awsAccountId", "htmlContent"]
        );
        assert_eq!(
            paths(serde_json::json!({ "awsAccountId": "x", "htmlContent": "<p>" })),
            ["subject"]
        );
        assert!(paths(serde_json::json!({ "awsAccountId": "x", "templateId": "t" })).is_empty());
    }

    #[test]
    fn create_rejects_sms_and_segments() {
        let body = serde_json::json!({ "awsAccountId": "x", "templateId": "t", "channel": "sms", "audienceType": "segment" });
        assert_eq!(paths(body), ["channel", "audienceType"]);
    }

    #[test]
    fn list_audience_needs_recipients() {
        let base =
            serde_json::json!({ "awsAccountId": "x", "templateId": "t", "audienceType": "list" });
        assert_eq!(paths(base.clone()), ["recipients"]);

        let mut blank = base;
        blank["recipients"] = serde_json::json!(["a@example.com", " "]);
        assert_eq!(paths(blank), ["recipients[1]"]);

        let stray = serde_json::json!({ "awsAccountId": "x", "templateId": "t", "recipients": ["a@example.com"] });
        assert_eq!(paths(stray), ["recipients"]);
    }

    #[test]
    fn recipient_status_round_trips_states() {
        for state in [
            RecipientState::Pending,
            RecipientState::Claimed,
            RecipientState::HandedOff,
            RecipientState::Sent,
            RecipientState::Failed,
            RecipientState::Unknown,
            RecipientState::Skipped,
        ] {
            let status = RecipientStatus::of_state(state);
            assert!(status.states().contains(&state), "{state:?} -> {status:?}");
        }
        assert!(RecipientStatus::Delivered.states().is_empty());
    }

    #[test]
    fn int_param_checks_bounds() {
        let mut v = Violations::new();
        assert_eq!(int_param(&mut v, "limit", None, 50, 1, 1000), 50);
        assert_eq!(int_param(&mut v, "limit", Some("7"), 50, 1, 1000), 7);
        assert!(v.is_empty());
        int_param(&mut v, "limit", Some("1001"), 50, 1, 1000);
        int_param(&mut v, "offset", Some("-1"), 0, 0, i64::MAX);
        let errors = v.into_vec();
        assert_eq!(errors[0].message, "must be an integer from 1 to 1000");
        assert_eq!(errors[1].message, "must be an integer of at least 0");
    }
}
