//! Contacts: the people a team sends to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::ids::{ContactId, TopicId};
use crate::validation::Violations;

/// Most topic ids or slugs one request may name.
pub const MAX_TOPICS_PER_REQUEST: usize = 100;
/// Most contact ids one bulk delete may name.
pub const MAX_BULK_DELETE: usize = 100;

/// Email sending state of a contact. Only `active` (or no status at all) may
/// receive email.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    Active,
    Unsubscribed,
    Bounced,
    Complained,
    Suppressed,
}

/// SMS consent state of a contact. Only `opted_in` may receive SMS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsStatus {
    PendingConsent,
    OptedIn,
    OptedOut,
    Invalid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
}

/// State of one contact's subscription to one topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Waiting for double opt-in confirmation.
    Pending,
    Subscribed,
    Unsubscribed,
}

macro_rules! str_enum {
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

str_enum!(EmailStatus { Active => "active", Unsubscribed => "unsubscribed", Bounced => "bounced", Complained => "complained", Suppressed => "suppressed" });
str_enum!(SmsStatus { PendingConsent => "pending_consent", OptedIn => "opted_in", OptedOut => "opted_out", Invalid => "invalid" });
str_enum!(Channel { Email => "email", Sms => "sms" });
str_enum!(SubscriptionStatus { Pending => "pending", Subscribed => "subscribed", Unsubscribed => "unsubscribed" });

/// A contact as every contact route returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: ContactId,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub email_status: Option<EmailStatus>,
    pub sms_status: Option<SmsStatus>,
    pub preferred_channel: Option<Channel>,
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    pub emails_sent: i64,
    pub emails_opened: i64,
    pub emails_clicked: i64,
    pub sms_sent: i64,
    pub sms_clicked: i64,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

/// One topic subscription of a contact, as shown with the contact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactTopic {
    pub topic_id: TopicId,
    pub topic_name: String,
    pub status: SubscriptionStatus,
    #[serde(with = "crate::time::iso_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub subscribed_at: Option<DateTime<Utc>>,
}

/// `GET /v1/contacts/{id}`: the contact and its topic subscriptions.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactDetail {
    #[serde(flatten)]
    pub contact: Contact,
    pub topics: Vec<ContactTopic>,
}

/// `POST` and `PATCH` responses: the contact and the topics that still wait
/// for double opt-in confirmation (omitted when there are none).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactWritten {
    #[serde(flatten)]
    pub contact: Contact,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_topics: Vec<TopicId>,
}

/// `GET /v1/contacts`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactList {
    pub contacts: Vec<Contact>,
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
    pub total_pages: i64,
}

/// Query of `GET /v1/contacts`. `page` and `pageSize` arrive as strings of at
/// most 10 characters and are parsed as integers.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListContactsQuery {
    /// Page number, from 1.
    pub page: Option<String>,
    /// Contacts per page, 1 to 100 (default 50; larger values are capped).
    pub page_size: Option<String>,
    pub email_status: Option<String>,
    pub sms_status: Option<String>,
    pub preferred_channel: Option<String>,
    /// Case-insensitive substring of the email or phone, at most 255 characters.
    pub search: Option<String>,
}

/// A validated contact list filter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContactFilter {
    pub page: i64,
    pub page_size: i64,
    pub email_status: Option<EmailStatus>,
    pub sms_status: Option<SmsStatus>,
    pub preferred_channel: Option<Channel>,
    pub search: Option<String>,
}

impl ListContactsQuery {
    /// Validates the query. Unlike the hosted service, a page or page size
    /// below 1 or not a number is rejected rather than producing a `null`
    /// page count.
    pub fn validate(&self) -> Result<ContactFilter, Vec<crate::FieldError>> {
        let mut v = Violations::new();
        let page = parse_positive(&mut v, "page", self.page.as_deref(), 1);
        let page_size = parse_positive(&mut v, "pageSize", self.page_size.as_deref(), 50).min(100);
        let email_status = v.enum_value(
            "emailStatus",
            self.email_status.as_deref(),
            EmailStatus::parse,
        );
        let sms_status = v.enum_value("smsStatus", self.sms_status.as_deref(), SmsStatus::parse);
        let preferred_channel = v.enum_value(
            "preferredChannel",
            self.preferred_channel.as_deref(),
            Channel::parse,
        );
        v.max_chars("search", self.search.as_deref(), 255);
        v.finish()?;

        Ok(ContactFilter {
            page,
            page_size,
            email_status,
            sms_status,
            preferred_channel,
            search: self.search.clone().filter(|s| !s.is_empty()),
        })
    }
}

fn parse_positive(v: &mut Violations, path: &str, raw: Option<&str>, default: i64) -> i64 {
    let Some(raw) = raw else {
        return default;
    };
    if raw.chars().count() > 10 {
        v.push(path, "must be at most 10 characters");
        return default;
    }
    match raw.trim().parse::<i64>() {
        Ok(n) if n >= 1 => n,
        _ => {
            v.push(path, "must be an integer of at least 1");
            default
        }
    }
}

/// Deserializes a field that distinguishes "absent" (`None`) from an explicit
/// `null` (`Some(None)`), so PATCH can clear a field.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /v1/contacts`. Every field is optional, but an email or a phone
/// must be present.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateContact {
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub email_status: Option<EmailStatus>,
    pub sms_status: Option<SmsStatus>,
    pub preferred_channel: Option<Channel>,
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Value>>,
    pub topic_ids: Option<Vec<String>>,
    pub topic_slugs: Option<Vec<String>>,
}

impl CreateContact {
    pub fn validate(&self) -> Result<(), Vec<crate::FieldError>> {
        let mut v = Violations::new();
        v.max_chars("externalId", self.external_id.as_deref(), 255);
        v.max_chars("email", self.email.as_deref(), 255);
        v.email("email", self.email.as_deref());
        v.max_chars("phone", self.phone.as_deref(), 50);
        v.max_chars("firstName", self.first_name.as_deref(), 100);
        v.max_chars("lastName", self.last_name.as_deref(), 100);
        v.max_chars("company", self.company.as_deref(), 200);
        v.max_chars("jobTitle", self.job_title.as_deref(), 200);
        validate_topics(
            &mut v,
            self.topic_ids.as_deref(),
            self.topic_slugs.as_deref(),
        );
        v.finish()
    }
}

/// `PATCH /v1/contacts/{id}`. Absent fields are left alone; `null` clears the
/// fields that allow it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchContact {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub external_id: Option<Option<String>>,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub job_title: Option<Option<String>>,
    pub email_status: Option<EmailStatus>,
    pub sms_status: Option<SmsStatus>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Channel>, nullable)]
    pub preferred_channel: Option<Option<Channel>>,
    /// Merged into the stored properties key by key; a `null` value is
    /// stored as `null`.
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Value>>,
    pub topic_ids: Option<Vec<String>>,
    pub topic_slugs: Option<Vec<String>>,
}

impl PatchContact {
    pub fn validate(&self) -> Result<(), Vec<crate::FieldError>> {
        let mut v = Violations::new();
        v.max_chars(
            "externalId",
            self.external_id.as_ref().and_then(|s| s.as_deref()),
            255,
        );
        v.max_chars("email", self.email.as_deref(), 255);
        v.email("email", self.email.as_deref());
        v.max_chars("phone", self.phone.as_deref(), 50);
        v.max_chars(
            "firstName",
            self.first_name.as_ref().and_then(|s| s.as_deref()),
            100,
        );
        v.max_chars(
            "lastName",
            self.last_name.as_ref().and_then(|s| s.as_deref()),
            100,
        );
        v.max_chars(
            "company",
            self.company.as_ref().and_then(|s| s.as_deref()),
            200,
        );
        v.max_chars(
            "jobTitle",
            self.job_title.as_ref().and_then(|s| s.as_deref()),
            200,
        );
        validate_topics(
            &mut v,
            self.topic_ids.as_deref(),
            self.topic_slugs.as_deref(),
        );
        v.finish()
    }

    /// Reports whether the request names any topic field.
    pub fn touches_topics(&self) -> bool {
        self.topic_ids.is_some() || self.topic_slugs.is_some()
    }
}

/// `DELETE /v1/contacts`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkDeleteContacts {
    #[serde(default)]
    pub ids: Vec<String>,
}

impl BulkDeleteContacts {
    pub fn validate(&self) -> Result<(), Vec<crate::FieldError>> {
        let mut v = Violations::new();
        v.each_max_chars("ids", Some(&self.ids), 36);
        v.finish()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkDeleted {
    pub success: bool,
    pub deleted: u64,
}

/// `PUT /v1/contacts/{id}/topics`: the complete new set of subscriptions.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplaceTopics {
    pub topic_ids: Option<Vec<String>>,
    pub topic_slugs: Option<Vec<String>>,
}

impl ReplaceTopics {
    pub fn validate(&self) -> Result<(), Vec<crate::FieldError>> {
        let mut v = Violations::new();
        validate_topics(
            &mut v,
            self.topic_ids.as_deref(),
            self.topic_slugs.as_deref(),
        );
        v.finish()
    }
}

/// Response of `PUT /v1/contacts/{id}/topics`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicsReplaced {
    pub topics: Vec<ContactTopic>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_topics: Vec<TopicId>,
}

fn validate_topics(v: &mut Violations, ids: Option<&[String]>, slugs: Option<&[String]>) {
    v.max_items("topicIds", ids, MAX_TOPICS_PER_REQUEST);
    v.each_max_chars("topicIds", ids, 36);
    v.max_items("topicSlugs", slugs, MAX_TOPICS_PER_REQUEST);
    v.each_max_chars("topicSlugs", slugs, 100);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_tells_null_from_absent() {
        let patch: PatchContact = serde_json::from_str(r#"{"firstName":null}"#).unwrap();
        assert_eq!(patch.first_name, Some(None));
        assert_eq!(patch.last_name, None);
    }

    #[test]
    fn list_query_rejects_zero_page_size() {
        let query = ListContactsQuery {
            page_size: Some("0".into()),
            ..Default::default()
        };
        let errors = query.validate().unwrap_err();
        assert_eq!(errors[0].path, "pageSize");
    }

    #[test]
    fn list_query_caps_page_size() {
        let query = ListContactsQuery {
            page_size: Some("500".into()),
            ..Default::default()
        };
        assert_eq!(query.validate().unwrap().page_size, 100);
    }

    #[test]
    fn create_reports_every_invalid_field() {
        let body = CreateContact {
            email: Some("not-an-email".into()),
            first_name: Some("x".repeat(101)),
            ..Default::default()
        };
        let paths: Vec<_> = body
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["email", "firstName"]);
    }

    #[test]
    fn written_contact_omits_empty_pending_topics() {
        let contact = Contact {
            id: ContactId::new(),
            external_id: None,
            email: Some("a@b.co".into()),
            phone: None,
            first_name: None,
            last_name: None,
            company: None,
            job_title: None,
            email_status: Some(EmailStatus::Active),
            sms_status: None,
            preferred_channel: None,
            properties: Map::new(),
            emails_sent: 0,
            emails_opened: 0,
            emails_clicked: 0,
            sms_sent: 0,
            sms_clicked: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let json = serde_json::to_value(ContactWritten {
            contact,
            pending_topics: vec![],
        })
        .unwrap();
        assert!(json.get("pendingTopics").is_none());
        assert_eq!(json["emailStatus"], "active");
    }
}
