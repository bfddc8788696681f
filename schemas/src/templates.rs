//! Templates: stored email content that batches reference and that can be
//! published to SES. The API never compiles React Email source; callers
//! send the compiled HTML with it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::contacts::{nullable, Channel};
use crate::error::{ErrorCode, FieldError};
use crate::ids::TemplateId;
use crate::validation::Violations;

/// Maximum length of a template name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum TemplateStatus {
    Draft,
    /// Stored in the customer's SES account as `sesTemplateName`.
    Published,
    Archived,
}

/// Marketing mail carries the one-click unsubscribe headers; transactional
/// mail does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailType {
    Marketing,
    Transactional,
}

/// Origin of a template's last change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LastEditedFrom {
    Api,
    Cli,
    Dashboard,
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

text_enum!(TemplateStatus { Draft => "DRAFT", Published => "PUBLISHED", Archived => "ARCHIVED" });
text_enum!(EmailType { Marketing => "marketing", Transactional => "transactional" });
text_enum!(LastEditedFrom { Api => "api", Cli => "cli", Dashboard => "dashboard" });

/// A personalisation variable the template uses, with the value to use when
/// a recipient has none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateVariable {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// A template as `GET /v1/templates` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSummary {
    pub id: TemplateId,
    pub name: String,
    pub description: Option<String>,
    pub subject: Option<String>,
    pub preview_text: Option<String>,
    pub email_type: EmailType,
    pub channel: Channel,
    pub status: TemplateStatus,
    pub slug: Option<String>,
    #[serde(with = "crate::time::iso_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

/// The content fields of a template, left out of the detail when the
/// request has `source=false`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateContent {
    /// React Email (TSX) source, stored as given.
    pub source: Option<String>,
    pub compiled_html: Option<String>,
    pub compiled_text: Option<String>,
}

/// A template as `GET /v1/templates/{id}` and every write return it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateDetail {
    #[serde(flatten)]
    pub summary: TemplateSummary,
    /// SHA-256 hex digest of `source`.
    pub source_hash: Option<String>,
    pub variables: Vec<TemplateVariable>,
    pub last_edited_from: Option<LastEditedFrom>,
    #[serde(flatten)]
    #[schema(value_type = TemplateContent)]
    pub content: Option<TemplateContent>,
}

/// `GET /v1/templates`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateList {
    pub data: Vec<TemplateSummary>,
    /// Cursor of the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Query of `GET /v1/templates`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListTemplatesQuery {
    /// 1 to 100 (default 20).
    pub limit: Option<String>,
    /// `nextCursor` of the previous page. A cursor that cannot be decoded is
    /// rejected with 422.
    pub cursor: Option<String>,
    /// `DRAFT`, `PUBLISHED` or `ARCHIVED`.
    pub status: Option<String>,
    /// `email` or `sms`.
    pub channel: Option<String>,
    /// Case-insensitive substring of the name, at most 200 characters.
    pub search: Option<String>,
}

/// Query of `GET /v1/templates/{id}`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetTemplateQuery {
    /// `false` leaves out `source`, `compiledHtml` and `compiledText`
    /// (default `true`).
    pub source: Option<String>,
}

/// `POST /v1/templates`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateTemplate {
    /// 1 to 200 characters.
    pub name: Option<String>,
    /// Unique in the organisation; `^[a-z0-9-]{1,100}$`.
    pub slug: Option<String>,
    pub subject: Option<String>,
    pub preview_text: Option<String>,
    pub description: Option<String>,
    /// Default `marketing`.
    pub email_type: Option<EmailType>,
    /// Default `email`.
    pub channel: Option<Channel>,
    pub source: Option<String>,
    pub compiled_html: Option<String>,
    pub compiled_text: Option<String>,
    pub variables: Option<Vec<TemplateVariable>>,
}

impl CreateTemplate {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut v = Violations::new();
        match self.name.as_deref() {
            None => v.push("name", "is required"),
            Some(name) => check_name(&mut v, name),
        }
        if let Some(slug) = self.slug.as_deref() {
            if !is_valid_slug(slug) {
                v.push(
                    "slug",
                    "must be 1 to 100 lower-case letters, digits or hyphens",
                );
            }
        }
        check_content(
            &mut v,
            self.subject.as_deref(),
            self.preview_text.as_deref(),
            self.variables.as_deref(),
        );
        v.finish()
    }
}

/// `PATCH /v1/templates/{id}`: the fields to change. `null` clears a text
/// field. The slug cannot be changed, and a `slug` field is ignored.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchTemplate {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub subject: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub preview_text: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub description: Option<Option<String>>,
    pub email_type: Option<EmailType>,
    pub channel: Option<Channel>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub source: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub compiled_html: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub compiled_text: Option<Option<String>>,
    pub variables: Option<Vec<TemplateVariable>>,
    /// Reject the change with 409 when the template was updated after this
    /// time.
    #[schema(format = DateTime)]
    pub if_unmodified_since: Option<String>,
}

impl PatchTemplate {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut v = Violations::new();
        if let Some(name) = self.name.as_deref() {
            check_name(&mut v, name);
        }
        check_content(
            &mut v,
            self.subject.as_ref().and_then(|s| s.as_deref()),
            self.preview_text.as_ref().and_then(|s| s.as_deref()),
            self.variables.as_deref(),
        );
        if self.if_unmodified_since.is_some() && self.if_unmodified_since().is_none() {
            v.push(
                "ifUnmodifiedSince",
                "must be an ISO 8601 date-time such as 2026-01-31T12:00:00.000Z",
            );
        }
        v.finish()
    }

    /// Returns `ifUnmodifiedSince` parsed, or `None` when absent or invalid.
    pub fn if_unmodified_since(&self) -> Option<DateTime<Utc>> {
        let raw = self.if_unmodified_since.as_deref()?;
        DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|ts| ts.with_timezone(&Utc))
    }
}

/// `POST /v1/templates/{id}/publish`; the body is optional.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishTemplate {
    /// Connection to publish to; the organisation's first connection when
    /// absent.
    pub aws_account_id: Option<String>,
}

impl PublishTemplate {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut v = Violations::new();
        v.max_chars("awsAccountId", self.aws_account_id.as_deref(), 36);
        v.finish()
    }
}

/// Response of `POST /v1/templates/{id}/publish`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplatePublished {
    pub success: bool,
    pub ses_template_name: String,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub published_at: DateTime<Utc>,
}

/// The 409 body of the template routes, in the hosted service's shape:
/// `error` is always `conflict`, and `message` describes the conflict.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateConflict {
    pub error: String,
    pub message: String,
    pub code: ErrorCode,
    /// Origin of the newer change (stale `ifUnmodifiedSince` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_edited_from: Option<LastEditedFrom>,
    /// When the template was last changed (stale `ifUnmodifiedSince` only).
    #[serde(
        default,
        with = "crate::time::iso_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl TemplateConflict {
    /// Creates a conflict body with `message` and no further fields.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            error: "conflict".into(),
            message: message.into(),
            code: ErrorCode::Conflict,
            last_edited_from: None,
            updated_at: None,
        }
    }
}

/// Reports whether `slug` matches `^[a-z0-9-]{1,100}$`.
pub fn is_valid_slug(slug: &str) -> bool {
    (1..=100).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_name(v: &mut Violations, name: &str) {
    if name.trim().is_empty() {
        v.push("name", "must not be empty");
    }
    v.max_chars("name", Some(name), MAX_NAME_CHARS);
}

fn check_content(
    v: &mut Violations,
    subject: Option<&str>,
    preview_text: Option<&str>,
    variables: Option<&[TemplateVariable]>,
) {
    v.max_chars("subject", subject, 998);
    v.max_chars("previewText", preview_text, 500);
    for (index, variable) in variables.unwrap_or_default().iter().enumerate() {
        if variable.name.trim().is_empty() {
            v.push(format!("variables[{index}].name"), "must not be empty");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_pattern() {
        for ok in ["welcome", "a-1", &"x".repeat(100)] {
            assert!(is_valid_slug(ok), "{ok}");
        }
        for bad in ["", "Welcome", "a_b", "a b", &"x".repeat(101)] {
            assert!(!is_valid_slug(bad), "{bad}");
        }
    }

    #[test]
    fn create_requires_name() {
        let errors = CreateTemplate::default().validate().unwrap_err();
        assert_eq!(errors[0].path, "name");
    }

    #[test]
    fn patch_rejects_bad_if_unmodified_since() {
        let patch: PatchTemplate =
            serde_json::from_value(serde_json::json!({ "ifUnmodifiedSince": "yesterday" }))
                .unwrap();
        assert_eq!(patch.validate().unwrap_err()[0].path, "ifUnmodifiedSince");
    }

    #[test]
    fn detail_without_content_omits_its_keys() {
        let now = Utc::now();
        let detail = TemplateDetail {
            summary: TemplateSummary {
                id: TemplateId::new(),
                name: "n".into(),
                description: None,
                subject: None,
                preview_text: None,
                email_type: EmailType::Marketing,
                channel: Channel::Email,
                status: TemplateStatus::Draft,
                slug: None,
                published_at: None,
                created_at: now,
                updated_at: now,
            },
            source_hash: None,
            variables: Vec::new(),
            last_edited_from: Some(LastEditedFrom::Api),
            content: None,
        };
        let json = serde_json::to_value(&detail).unwrap();
        assert!(json.get("source").is_none());
        assert_eq!(json["status"], "DRAFT");

        let with_content = TemplateDetail {
            content: Some(TemplateContent::default()),
            ..detail
        };
        let json = serde_json::to_value(&with_content).unwrap();
        assert_eq!(json["source"], serde_json::Value::Null);
        assert_eq!(json["compiledHtml"], serde_json::Value::Null);
    }
}
