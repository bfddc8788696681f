//! Request and response bodies of the SES v2 operations the simulator serves.
//!
//! Member names follow the SESv2 model as serialized by aws-sdk-sesv2 1.145
//! (`protocol_serde/shape_*.rs`). Members the simulator does not use (headers,
//! attachments, overrides, tenant names, list management options) are accepted and
//! ignored, because serde skips unknown fields. The configuration set name is read only
//! for the events the simulator posts.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::SesError;

/// Parses a JSON request body; a body that does not fit is a `BadRequestException`.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, SesError> {
    serde_json::from_slice(body)
        .map_err(|err| SesError::BadRequest(format!("The request body is invalid: {err}")))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SendEmailRequest {
    pub(crate) from_email_address: Option<String>,
    pub(crate) destination: Option<Destination>,
    #[serde(default)]
    pub(crate) reply_to_addresses: Vec<String>,
    pub(crate) content: EmailContent,
    #[serde(default)]
    pub(crate) email_tags: Vec<MessageTag>,
    pub(crate) configuration_set_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Destination {
    #[serde(default)]
    pub(crate) to_addresses: Vec<String>,
    #[serde(default)]
    pub(crate) cc_addresses: Vec<String>,
    #[serde(default)]
    pub(crate) bcc_addresses: Vec<String>,
}

impl Destination {
    pub(crate) fn recipients(&self) -> impl Iterator<Item = &String> {
        self.to_addresses
            .iter()
            .chain(&self.cc_addresses)
            .chain(&self.bcc_addresses)
    }
}

/// `EmailContent`: exactly one of the three members is set.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EmailContent {
    pub(crate) simple: Option<Message>,
    pub(crate) raw: Option<RawMessage>,
    pub(crate) template: Option<Template>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Message {
    pub(crate) subject: Content,
    pub(crate) body: Body,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Content {
    pub(crate) data: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Body {
    pub(crate) text: Option<Content>,
    pub(crate) html: Option<Content>,
}

/// `RawMessage`: `Data` is the whole MIME message, base64-encoded as a JSON blob.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RawMessage {
    pub(crate) data: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Template {
    pub(crate) template_name: Option<String>,
    pub(crate) template_arn: Option<String>,
    pub(crate) template_content: Option<EmailTemplateContent>,
    pub(crate) template_data: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MessageTag {
    pub(crate) name: String,
    pub(crate) value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SendEmailResponse {
    pub(crate) message_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SendBulkEmailRequest {
    pub(crate) from_email_address: Option<String>,
    #[serde(default)]
    pub(crate) reply_to_addresses: Vec<String>,
    #[serde(default)]
    pub(crate) default_email_tags: Vec<MessageTag>,
    pub(crate) default_content: BulkEmailContent,
    pub(crate) bulk_email_entries: Vec<BulkEmailEntry>,
    pub(crate) configuration_set_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BulkEmailContent {
    pub(crate) template: Option<Template>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BulkEmailEntry {
    pub(crate) destination: Destination,
    #[serde(default)]
    pub(crate) replacement_tags: Vec<MessageTag>,
    pub(crate) replacement_email_content: Option<ReplacementEmailContent>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ReplacementEmailContent {
    pub(crate) replacement_template: Option<ReplacementTemplate>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ReplacementTemplate {
    pub(crate) replacement_template_data: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SendBulkEmailResponse {
    pub(crate) bulk_email_entry_results: Vec<BulkEmailEntryResult>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BulkEmailEntryResult {
    pub(crate) status: BulkEmailStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message_id: Option<String>,
}

/// The `BulkEmailStatus` values the simulator produces (a subset of the model's enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum BulkEmailStatus {
    Success,
    InvalidParameter,
    Failed,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetAccountResponse {
    pub(crate) dedicated_ip_auto_warmup_enabled: bool,
    pub(crate) enforcement_status: &'static str,
    pub(crate) production_access_enabled: bool,
    pub(crate) send_quota: SendQuota,
    pub(crate) sending_enabled: bool,
}

/// `SendQuota`. SES documents `-1` in `Max24HourSend` as an unlimited quota.
#[derive(Debug, Serialize)]
pub(crate) struct SendQuota {
    #[serde(rename = "Max24HourSend")]
    pub(crate) max_24_hour_send: f64,
    #[serde(rename = "MaxSendRate")]
    pub(crate) max_send_rate: f64,
    #[serde(rename = "SentLast24Hours")]
    pub(crate) sent_last_24_hours: f64,
}

/// `EmailTemplateContent`, used in requests and responses alike.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EmailTemplateContent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) html: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateEmailTemplateRequest {
    pub(crate) template_name: String,
    pub(crate) template_content: EmailTemplateContent,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateEmailTemplateRequest {
    pub(crate) template_content: EmailTemplateContent,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetEmailTemplateResponse {
    pub(crate) template_name: String,
    pub(crate) template_content: EmailTemplateContent,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListEmailTemplatesQuery {
    pub(crate) next_token: Option<String>,
    pub(crate) page_size: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListEmailTemplatesResponse {
    pub(crate) templates_metadata: Vec<EmailTemplateMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_token: Option<String>,
}

/// `EmailTemplateMetadata`. The SDK reads `CreatedTimestamp` as epoch seconds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EmailTemplateMetadata {
    pub(crate) template_name: String,
    pub(crate) created_timestamp: f64,
}
