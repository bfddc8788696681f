//! Topics: named lists a contact subscribes to, optionally with double
//! opt-in. The hosted service manages them in its dashboard; wrapsd adds
//! endpoints for them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::contacts::nullable;
use crate::ids::TopicId;
use crate::validation::Violations;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    pub id: TopicId,
    pub name: String,
    /// Unique per organisation; lower-case letters, digits, `-` and `_`.
    pub slug: String,
    pub description: Option<String>,
    /// New subscriptions stay `pending` until the contact confirms.
    pub double_opt_in: bool,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TopicList {
    pub topics: Vec<Topic>,
}

/// `POST /v1/topics`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateTopic {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub double_opt_in: Option<bool>,
}

impl CreateTopic {
    pub fn validate(&self) -> Result<(), Vec<crate::FieldError>> {
        let mut v = Violations::new();
        if self.name.is_none() {
            v.push("name", "is required");
        }
        if self.slug.is_none() {
            v.push("slug", "is required");
        }
        validate_fields(
            &mut v,
            self.name.as_deref(),
            self.slug.as_deref(),
            self.description.as_deref(),
        );
        v.finish()
    }
}

/// `PATCH /v1/topics/{id}`. `description: null` clears the description.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchTopic {
    pub name: Option<String>,
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub description: Option<Option<String>>,
    pub double_opt_in: Option<bool>,
}

impl PatchTopic {
    pub fn validate(&self) -> Result<(), Vec<crate::FieldError>> {
        let mut v = Violations::new();
        let description = self.description.as_ref().and_then(|d| d.as_deref());
        validate_fields(
            &mut v,
            self.name.as_deref(),
            self.slug.as_deref(),
            description,
        );
        v.finish()
    }
}

fn validate_fields(
    v: &mut Violations,
    name: Option<&str>,
    slug: Option<&str>,
    description: Option<&str>,
) {
    v.not_blank("name", name);
    v.max_chars("name", name, 100);
    v.max_chars("slug", slug, 100);
    if let Some(slug) = slug {
        if !is_valid_slug(slug) {
            v.push(
                "slug",
                "must be 1 to 100 lower-case letters, digits, '-' or '_'",
            );
        }
    }
    v.max_chars("description", description, 500);
}

/// Reports whether `slug` is usable as a topic slug.
pub fn is_valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 100
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_requires_name_and_slug() {
        let paths: Vec<_> = CreateTopic::default()
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["name", "slug"]);
    }

    #[test]
    fn slug_rejects_upper_case_and_spaces() {
        assert!(is_valid_slug("product-news_2"));
        assert!(!is_valid_slug("Product News"));
        assert!(!is_valid_slug(""));
    }
}
