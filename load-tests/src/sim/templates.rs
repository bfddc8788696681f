//! Stored email templates and their rendering with Handlebars.
//!
//! SES renders `{{name}}` tags from the template data. Where the data lacks a tag, SES
//! accepts the call and later drops the message with a Rendering Failure event. The
//! simulator has no events, so it renders the missing tag as an empty string (the
//! `handlebars` crate's non-strict mode) and records the message as sent.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use handlebars::Handlebars;
use serde_json::Value;

use super::error::SesError;
use super::wire::EmailTemplateContent;

const SUBJECT: &str = "subject";
const TEXT: &str = "text";
const HTML: &str = "html";

/// Page size of `ListEmailTemplates` when the request sets none.
// NOTE: SES documents the 1..=100 range but not the default; 10 is a guess.
const DEFAULT_PAGE_SIZE: usize = 10;
const MAX_PAGE_SIZE: usize = 100;

/// A template's parts, parsed once so sends only render.
///
/// Every part inserts substituted values verbatim, without HTML escaping, as the SES
/// Developer Guide's "Advanced email personalization" page describes, so the
/// simulator renders what SES and wrapsd's local renderer render.
pub(crate) struct CompiledTemplate {
    html: Handlebars<'static>,
    plain: Handlebars<'static>,
}

/// One recipient's rendered message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rendered {
    pub(crate) subject: String,
    pub(crate) text: Option<String>,
    pub(crate) html: Option<String>,
}

impl CompiledTemplate {
    /// Parses each part; a syntax error is a `BadRequestException`, as SES rejects it.
    pub(crate) fn compile(content: &EmailTemplateContent) -> Result<Self, SesError> {
        let mut html = Handlebars::new();
        html.register_escape_fn(handlebars::no_escape);
        let mut plain = Handlebars::new();
        plain.register_escape_fn(handlebars::no_escape);

        register_part(&mut plain, SUBJECT, content.subject.as_deref())?;
        register_part(&mut plain, TEXT, content.text.as_deref())?;
        register_part(&mut html, HTML, content.html.as_deref())?;
        Ok(Self { html, plain })
    }

    /// Renders the subject, and the bodies when `with_bodies` is set.
    pub(crate) fn render(&self, data: &Value, with_bodies: bool) -> Result<Rendered, String> {
        let subject = render_part(&self.plain, SUBJECT, data)?.unwrap_or_default();
        if !with_bodies {
            return Ok(Rendered {
                subject,
                ..Rendered::default()
            });
        }
        Ok(Rendered {
            subject,
            text: render_part(&self.plain, TEXT, data)?,
            html: render_part(&self.html, HTML, data)?,
        })
    }
}

fn register_part(
    registry: &mut Handlebars<'static>,
    part: &str,
    source: Option<&str>,
) -> Result<(), SesError> {
    let Some(source) = source else {
        return Ok(());
    };
    registry
        .register_template_string(part, source)
        .map_err(|err| SesError::BadRequest(format!("Invalid template {part} part: {err}")))
}

fn render_part(
    registry: &Handlebars<'_>,
    part: &str,
    data: &Value,
) -> Result<Option<String>, String> {
    if !registry.has_template(part) {
        return Ok(None);
    }
    registry
        .render(part, data)
        .map(Some)
        .map_err(|err| format!("Rendering the template {part} part failed: {err}"))
}

/// A template created with `CreateEmailTemplate`.
pub(crate) struct StoredTemplate {
    pub(crate) content: EmailTemplateContent,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) compiled: CompiledTemplate,
}

/// One page of `ListEmailTemplates`.
pub(crate) struct TemplatePage {
    /// (name, creation time) in name order.
    pub(crate) templates: Vec<(String, DateTime<Utc>)>,
    /// The last name returned, when more templates follow it.
    pub(crate) next_token: Option<String>,
}

/// The account's templates, by name.
#[derive(Default)]
pub(crate) struct TemplateStore {
    templates: RwLock<BTreeMap<String, Arc<StoredTemplate>>>,
}

impl TemplateStore {
    pub(crate) fn create(&self, name: &str, content: EmailTemplateContent) -> Result<(), SesError> {
        validate_name(name)?;
        let compiled = CompiledTemplate::compile(&content)?;

        let mut templates = self.templates.write().unwrap_or_else(|p| p.into_inner());
        if templates.contains_key(name) {
            return Err(SesError::AlreadyExists(format!(
                "Email template {name} already exists."
            )));
        }
        let stored = StoredTemplate {
            content,
            created_at: Utc::now(),
            compiled,
        };
        templates.insert(name.to_owned(), Arc::new(stored));
        Ok(())
    }

    pub(crate) fn get(&self, name: &str) -> Result<Arc<StoredTemplate>, SesError> {
        let templates = self.templates.read().unwrap_or_else(|p| p.into_inner());
        templates.get(name).cloned().ok_or_else(|| not_found(name))
    }

    /// Replaces the content and keeps the creation time.
    pub(crate) fn update(&self, name: &str, content: EmailTemplateContent) -> Result<(), SesError> {
        let compiled = CompiledTemplate::compile(&content)?;

        let mut templates = self.templates.write().unwrap_or_else(|p| p.into_inner());
        let current = templates.get(name).ok_or_else(|| not_found(name))?;
        let updated = StoredTemplate {
            content,
            created_at: current.created_at,
            compiled,
        };
        templates.insert(name.to_owned(), Arc::new(updated));
        Ok(())
    }

    pub(crate) fn delete(&self, name: &str) -> Result<(), SesError> {
        let mut templates = self.templates.write().unwrap_or_else(|p| p.into_inner());
        templates
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| not_found(name))
    }

    /// Returns one page of templates in name order.
    pub(crate) fn list(
        &self,
        next_token: Option<&str>,
        page_size: Option<u32>,
    ) -> Result<TemplatePage, SesError> {
        let page_size = match page_size {
            None => DEFAULT_PAGE_SIZE,
            Some(size @ 1..=100) => size as usize,
            Some(size) => {
                return Err(SesError::BadRequest(format!(
                    "PageSize {size} is invalid: it must be between 1 and {MAX_PAGE_SIZE}."
                )))
            }
        };

        let templates = self.templates.read().unwrap_or_else(|p| p.into_inner());
        let remaining = templates.iter().filter(|(name, _)| match next_token {
            Some(after) => name.as_str() > after,
            None => true,
        });
        let page: Vec<(String, DateTime<Utc>)> = remaining
            .take(page_size + 1)
            .map(|(name, template)| (name.clone(), template.created_at))
            .collect();

        if page.len() > page_size {
            let templates = page[..page_size].to_vec();
            let next_token = templates.last().map(|(name, _)| name.clone());
            Ok(TemplatePage {
                templates,
                next_token,
            })
        } else {
            Ok(TemplatePage {
                templates: page,
                next_token: None,
            })
        }
    }
}

/// Checks a template name: 1 to 64 letters, digits, `_` or `-`, as SES requires.
fn validate_name(name: &str) -> Result<(), SesError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(SesError::BadRequest(format!(
            "Template name {name:?} is invalid: use 1 to 64 letters, digits, underscores or hyphens."
        )))
    }
}

fn not_found(name: &str) -> SesError {
    SesError::NotFound(format!("Email template {name} does not exist."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn content(subject: &str, html: &str) -> EmailTemplateContent {
        EmailTemplateContent {
            subject: Some(subject.to_owned()),
            text: Some("Hi {{name}} & co".to_owned()),
            html: Some(html.to_owned()),
        }
    }

    #[test]
    fn render_fills_tags_and_leaves_missing_empty() {
        let compiled =
            CompiledTemplate::compile(&content("Hi {{name}}{{missing}}", "<p>{{name}}</p>"))
                .unwrap();
        let rendered = compiled
            .render(&json!({"name": "Zoë & Łukasz"}), true)
            .unwrap();
        assert_eq!(rendered.subject, "Hi Zoë & Łukasz");
        assert_eq!(rendered.text.as_deref(), Some("Hi Zoë & Łukasz & co"));
        assert_eq!(
            rendered.html.as_deref(),
            Some("<p>Zoë & Łukasz</p>"),
            "SES inserts values unescaped"
        );
    }

    #[test]
    fn render_without_bodies_skips_them() {
        let compiled = CompiledTemplate::compile(&content("S", "<p>B</p>")).unwrap();
        let rendered = compiled.render(&json!({}), false).unwrap();
        assert_eq!(rendered.subject, "S");
        assert!(rendered.html.is_none());
    }

    #[test]
    fn compile_rejects_unclosed_block() {
        let err = CompiledTemplate::compile(&content("{{#if x}}", ""))
            .err()
            .unwrap();
        assert_eq!(err.error_type(), "BadRequestException");
    }

    #[test]
    fn store_rejects_duplicate_and_missing_names() {
        let store = TemplateStore::default();
        store.create("welcome", content("S", "H")).unwrap();
        let duplicate = store.create("welcome", content("S", "H")).unwrap_err();
        assert_eq!(duplicate.error_type(), "AlreadyExistsException");
        let missing = store.update("other", content("S", "H")).unwrap_err();
        assert_eq!(missing.error_type(), "NotFoundException");
        assert_eq!(
            store.delete("other").unwrap_err().error_type(),
            "NotFoundException"
        );
    }

    #[test]
    fn store_lists_pages_in_name_order() {
        let store = TemplateStore::default();
        for name in ["c", "a", "b"] {
            store.create(name, content("S", "H")).unwrap();
        }
        let first = store.list(None, Some(2)).unwrap();
        let names: Vec<_> = first
            .templates
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(first.next_token.as_deref(), Some("b"));

        let second = store.list(Some("b"), Some(2)).unwrap();
        assert_eq!(second.templates.len(), 1);
        assert_eq!(second.next_token, None);
    }

    #[test]
    fn store_rejects_invalid_name() {
        let store = TemplateStore::default();
        let err = store.create("has space", content("S", "H")).unwrap_err();
        assert_eq!(err.error_type(), "BadRequestException");
    }
}
