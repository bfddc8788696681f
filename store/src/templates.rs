//! Templates: stored email content, its slug (unique per organisation when
//! set) and its publication to SES.
//!
//! Lists page by keyset on (`updated_at` desc, `id` desc). The cursor is
//! opaque to clients: the base64url encoding (no padding) of
//! `<updated_at milliseconds>:<id>` of the last row of the page.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use schemas::contacts::Channel;
use schemas::templates::{
    CreateTemplate, EmailType, LastEditedFrom, PatchTemplate, TemplateContent, TemplateDetail,
    TemplateStatus, TemplateSummary, TemplateVariable,
};
use schemas::{ConnectionId, OrgId, TemplateId};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection};

use crate::db::Store;
use crate::error::{unique_violation, StoreError};
use crate::row::{millis, now_millis, RowExt};
use crate::sql::SqlBuilder;

/// A stored template: the wire detail, with its content always present,
/// and the publication fields the API does not return.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub detail: TemplateDetail,
    /// Name of the template in the customer's SES account, once published.
    pub ses_template_name: Option<String>,
    pub published_connection_id: Option<ConnectionId>,
}

/// Position after the last template of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateCursor {
    pub updated_at_ms: i64,
    pub id: TemplateId,
}

impl TemplateCursor {
    fn after(summary: &TemplateSummary) -> TemplateCursor {
        TemplateCursor {
            updated_at_ms: millis(summary.updated_at),
            id: summary.id,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.updated_at_ms, self.id))
    }

    /// Decodes a cursor made by [`TemplateCursor::encode`], or returns
    /// `None` for any other string.
    pub fn decode(raw: &str) -> Option<TemplateCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (updated_at, id) = text.split_once(':')?;
        Some(TemplateCursor {
            updated_at_ms: updated_at.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

/// Filter and page of the template list.
#[derive(Clone, Debug, Default)]
pub struct TemplateFilter {
    pub limit: i64,
    pub after: Option<TemplateCursor>,
    pub status: Option<TemplateStatus>,
    pub channel: Option<Channel>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
}

/// Outcome of [`Store::patch_template`].
#[derive(Clone, Debug, PartialEq)]
pub enum TemplateUpdate {
    Updated(Box<Template>),
    NotFound,
    /// The template changed after the request's `ifUnmodifiedSince`; nothing
    /// was written.
    ModifiedSince {
        last_edited_from: Option<LastEditedFrom>,
        updated_at: DateTime<Utc>,
    },
}

const TEMPLATE_COLUMNS: &str = "id, name, slug, description, subject, preview_text, email_type, \
    channel, status, source, source_hash, compiled_html, compiled_text, variables, last_edited_from, \
    ses_template_name, published_connection_id, published_at, created_at, updated_at";

const SUMMARY_COLUMNS: &str = "id, name, slug, description, subject, preview_text, email_type, \
    channel, status, published_at, created_at, updated_at";

/// Returns the SHA-256 hex digest of a template's source.
pub fn source_hash(source: &str) -> String {
    hex::encode(Sha256::digest(source.as_bytes()))
}

fn slug_conflict() -> StoreError {
    StoreError::Conflict("slug already exists".to_owned())
}

fn required_enum<T>(
    row: &AnyRow,
    column: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    row.opt_enum(column, parse)?
        .ok_or_else(|| StoreError::Corrupt(format!("column {column} is NULL")))
}

fn summary_from_row(row: &AnyRow) -> Result<TemplateSummary, StoreError> {
    Ok(TemplateSummary {
        id: row.id("id")?,
        name: row.text("name")?,
        description: row.opt_text("description")?,
        subject: row.opt_text("subject")?,
        preview_text: row.opt_text("preview_text")?,
        email_type: required_enum(row, "email_type", EmailType::parse)?,
        channel: required_enum(row, "channel", Channel::parse)?,
        status: required_enum(row, "status", TemplateStatus::parse)?,
        slug: row.opt_text("slug")?,
        published_at: row.opt_ts("published_at")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
    })
}

fn template_from_row(row: &AnyRow) -> Result<Template, StoreError> {
    let variables = row.text("variables")?;
    let variables: Vec<TemplateVariable> = serde_json::from_str(&variables).map_err(|err| {
        StoreError::Corrupt(format!(
            "column variables is not a JSON array of variables: {err}"
        ))
    })?;
    let published_connection_id = match row.opt_text("published_connection_id")? {
        None => None,
        Some(raw) => Some(raw.parse().map_err(|_| {
            StoreError::Corrupt(format!(
                "column published_connection_id contains {raw:?}, which is not a UUID"
            ))
        })?),
    };
    Ok(Template {
        detail: TemplateDetail {
            summary: summary_from_row(row)?,
            source_hash: row.opt_text("source_hash")?,
            variables,
            last_edited_from: row.opt_enum("last_edited_from", LastEditedFrom::parse)?,
            content: Some(TemplateContent {
                source: row.opt_text("source")?,
                compiled_html: row.opt_text("compiled_html")?,
                compiled_text: row.opt_text("compiled_text")?,
            }),
        },
        ses_template_name: row.opt_text("ses_template_name")?,
        published_connection_id,
    })
}

async fn fetch_template(
    conn: &mut AnyConnection,
    org: OrgId,
    id: TemplateId,
    for_update: &str,
) -> Result<Option<Template>, StoreError> {
    let sql = format!(
        "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE organization_id = $1 AND id = $2{for_update}"
    );
    let row = sqlx::query::<Any>(&sql)
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(template_from_row).transpose()
}

/// Inserts `template` as a new row of `org`. A slug the organisation
/// already uses is a `Conflict`.
async fn insert_template(
    conn: &mut AnyConnection,
    org: OrgId,
    template: &Template,
) -> Result<(), StoreError> {
    let detail = &template.detail;
    let summary = &detail.summary;
    let content = detail.content.clone().unwrap_or_default();
    let variables = serde_json::to_string(&detail.variables)
        .map_err(|err| StoreError::Corrupt(err.to_string()))?;

    if let Some(slug) = summary.slug.as_deref() {
        let slug_owner =
            sqlx::query::<Any>("SELECT id FROM templates WHERE organization_id = $1 AND slug = $2")
                .bind(org.to_string())
                .bind(slug)
                .fetch_optional(&mut *conn)
                .await?;
        if slug_owner.is_some() {
            return Err(slug_conflict());
        }
    }

    sqlx::query::<Any>(
        "INSERT INTO templates (id, organization_id, name, slug, description, subject, preview_text, \
         email_type, channel, status, source, source_hash, compiled_html, compiled_text, variables, \
         last_edited_from, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(summary.id.to_string())
    .bind(org.to_string())
    .bind(summary.name.as_str())
    .bind(summary.slug.clone())
    .bind(summary.description.clone())
    .bind(summary.subject.clone())
    .bind(summary.preview_text.clone())
    .bind(summary.email_type.as_str())
    .bind(summary.channel.as_str())
    .bind(summary.status.as_str())
    .bind(content.source)
    .bind(detail.source_hash.clone())
    .bind(content.compiled_html)
    .bind(content.compiled_text)
    .bind(variables)
    .bind(detail.last_edited_from.unwrap_or(LastEditedFrom::Api).as_str())
    .bind(millis(summary.created_at))
    .bind(millis(summary.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(|err| match unique_violation(&err) {
        Some(target) if target.contains("slug") => slug_conflict(),
        _ => StoreError::Database(err),
    })?;
    Ok(())
}

/// Returns a new, empty draft edited through the API, timestamped `now`.
fn new_draft(now: DateTime<Utc>) -> Template {
    Template {
        detail: TemplateDetail {
            summary: TemplateSummary {
                id: TemplateId::new(),
                name: String::new(),
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
            content: Some(TemplateContent::default()),
        },
        ses_template_name: None,
        published_connection_id: None,
    }
}

/// Applies the fields present in `patch` to `template`.
fn apply_patch(template: &mut Template, patch: &PatchTemplate) {
    let summary = &mut template.detail.summary;
    if let Some(name) = &patch.name {
        summary.name.clone_from(name);
    }
    if let Some(subject) = &patch.subject {
        summary.subject.clone_from(subject);
    }
    if let Some(preview_text) = &patch.preview_text {
        summary.preview_text.clone_from(preview_text);
    }
    if let Some(description) = &patch.description {
        summary.description.clone_from(description);
    }
    if let Some(email_type) = patch.email_type {
        summary.email_type = email_type;
    }
    if let Some(channel) = patch.channel {
        summary.channel = channel;
    }

    let content = template.detail.content.get_or_insert_with(Default::default);
    if let Some(source) = &patch.source {
        content.source.clone_from(source);
        template.detail.source_hash = source.as_deref().map(source_hash);
    }
    if let Some(html) = &patch.compiled_html {
        content.compiled_html.clone_from(html);
    }
    if let Some(text) = &patch.compiled_text {
        content.compiled_text.clone_from(text);
    }
    if let Some(variables) = &patch.variables {
        template.detail.variables.clone_from(variables);
    }
    template.detail.last_edited_from = Some(LastEditedFrom::Api);
}

impl Store {
    /// Creates a draft template edited from the API. A slug the organisation
    /// already uses is a `Conflict` with the message `slug already exists`.
    pub async fn create_template(
        &self,
        org: OrgId,
        req: &CreateTemplate,
    ) -> Result<Template, StoreError> {
        let Some(name) = req.name.as_deref() else {
            return Err(StoreError::Invalid("Template name is required".to_owned()));
        };
        let mut template = new_draft(schemas::time::from_millis(now_millis()));
        let summary = &mut template.detail.summary;
        summary.name = name.to_owned();
        summary.slug.clone_from(&req.slug);
        summary.description.clone_from(&req.description);
        summary.subject.clone_from(&req.subject);
        summary.preview_text.clone_from(&req.preview_text);
        summary.email_type = req.email_type.unwrap_or(EmailType::Marketing);
        summary.channel = req.channel.unwrap_or(Channel::Email);
        template.detail.source_hash = req.source.as_deref().map(source_hash);
        template.detail.variables = req.variables.clone().unwrap_or_default();
        template.detail.content = Some(TemplateContent {
            source: req.source.clone(),
            compiled_html: req.compiled_html.clone(),
            compiled_text: req.compiled_text.clone(),
        });

        let mut tx = self.begin_write().await?;
        insert_template(&mut tx, org, &template).await?;
        tx.commit().await?;

        tracing::info!(organization_id = %org, template_id = %template.detail.summary.id, "template created");
        Ok(template)
    }

    pub async fn get_template(
        &self,
        org: OrgId,
        id: TemplateId,
    ) -> Result<Option<Template>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        fetch_template(&mut conn, org, id, "").await
    }

    /// Lists one page of templates, most recently updated first, and the
    /// cursor of the next page (`None` on the last page).
    pub async fn list_templates(
        &self,
        org: OrgId,
        filter: &TemplateFilter,
    ) -> Result<(Vec<TemplateSummary>, Option<TemplateCursor>), StoreError> {
        let limit = filter.limit.max(1);
        let mut sql = SqlBuilder::new(
            self.backend,
            &format!("SELECT {SUMMARY_COLUMNS} FROM templates WHERE organization_id = "),
        );
        sql.bind(org.to_string());
        if let Some(after) = filter.after {
            sql.push(" AND (updated_at < ")
                .bind(after.updated_at_ms)
                .push(" OR (updated_at = ")
                .bind(after.updated_at_ms)
                .push(" AND id < ")
                .bind(after.id.to_string())
                .push("))");
        }
        if let Some(status) = filter.status {
            sql.push(" AND status = ").bind(status.as_str());
        }
        if let Some(channel) = filter.channel {
            sql.push(" AND channel = ").bind(channel.as_str());
        }
        if let Some(search) = &filter.search {
            sql.push(" AND ").contains_ignore_case("name", search);
        }
        // One row more than the page shows whether another page follows.
        sql.push(" ORDER BY updated_at DESC, id DESC LIMIT ")
            .bind(limit + 1);

        let rows = sql.build().fetch_all(&self.reader).await?;
        let mut templates = rows
            .iter()
            .map(summary_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if templates.len() as i64 > limit {
            templates.truncate(limit as usize);
            templates.last().map(TemplateCursor::after)
        } else {
            None
        };
        Ok((templates, next))
    }

    /// Updates the fields present in `patch` and marks the template as last
    /// edited from the API. With `ifUnmodifiedSince`, a template updated
    /// after that time is left alone and reported as `ModifiedSince`.
    pub async fn patch_template(
        &self,
        org: OrgId,
        id: TemplateId,
        patch: &PatchTemplate,
    ) -> Result<TemplateUpdate, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(mut template) =
            fetch_template(&mut tx, org, id, self.backend.for_update()).await?
        else {
            return Ok(TemplateUpdate::NotFound);
        };
        let stored_updated_at = template.detail.summary.updated_at;
        if let Some(since) = patch.if_unmodified_since() {
            if millis(stored_updated_at) > millis(since) {
                return Ok(TemplateUpdate::ModifiedSince {
                    last_edited_from: template.detail.last_edited_from,
                    updated_at: stored_updated_at,
                });
            }
        }

        // TODO: keep the previous source as a template version when it
        // changes; the store has no table for versions yet.
        apply_patch(&mut template, patch);
        let now = now_millis();
        template.detail.summary.updated_at = schemas::time::from_millis(now);

        let detail = &template.detail;
        let summary = &detail.summary;
        let content = detail.content.clone().unwrap_or_default();
        let variables = serde_json::to_string(&detail.variables)
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        sqlx::query::<Any>(
            "UPDATE templates SET name = $1, description = $2, subject = $3, preview_text = $4, \
             email_type = $5, channel = $6, source = $7, source_hash = $8, compiled_html = $9, \
             compiled_text = $10, variables = $11, last_edited_from = $12, updated_at = $13 \
             WHERE organization_id = $14 AND id = $15",
        )
        .bind(summary.name.as_str())
        .bind(summary.description.clone())
        .bind(summary.subject.clone())
        .bind(summary.preview_text.clone())
        .bind(summary.email_type.as_str())
        .bind(summary.channel.as_str())
        .bind(content.source)
        .bind(detail.source_hash.clone())
        .bind(content.compiled_html)
        .bind(content.compiled_text)
        .bind(variables)
        .bind(LastEditedFrom::Api.as_str())
        .bind(now)
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;

        Ok(TemplateUpdate::Updated(Box::new(template)))
    }

    /// Copies a template as a new draft named `<name> (Copy)`, without slug
    /// or publication. Returns `None` when the organisation has no such
    /// template.
    pub async fn duplicate_template(
        &self,
        org: OrgId,
        id: TemplateId,
    ) -> Result<Option<Template>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(original) = fetch_template(&mut tx, org, id, "").await? else {
            return Ok(None);
        };

        let mut copy = new_draft(schemas::time::from_millis(now_millis()));
        let source = &original.detail.summary;
        let summary = &mut copy.detail.summary;
        summary.name = format!("{} (Copy)", source.name);
        summary.description.clone_from(&source.description);
        summary.subject.clone_from(&source.subject);
        summary.preview_text.clone_from(&source.preview_text);
        summary.email_type = source.email_type;
        summary.channel = source.channel;
        copy.detail
            .source_hash
            .clone_from(&original.detail.source_hash);
        copy.detail.variables.clone_from(&original.detail.variables);
        copy.detail.content.clone_from(&original.detail.content);

        insert_template(&mut tx, org, &copy).await?;
        tx.commit().await?;

        tracing::info!(organization_id = %org, template_id = %copy.detail.summary.id, original_id = %id, "template duplicated");
        Ok(Some(copy))
    }

    /// Records that a template was published to SES through `connection`
    /// as `ses_template_name`, and marks it `PUBLISHED`. Returns the
    /// publication time, or `None` when the organisation has no such
    /// template.
    pub async fn mark_template_published(
        &self,
        org: OrgId,
        id: TemplateId,
        connection: ConnectionId,
        ses_template_name: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let now = now_millis();
        let result = sqlx::query::<Any>(
            "UPDATE templates SET status = 'PUBLISHED', ses_template_name = $1, published_connection_id = $2, \
             published_at = $3, updated_at = $3 WHERE organization_id = $4 AND id = $5",
        )
        .bind(ses_template_name)
        .bind(connection.to_string())
        .bind(now)
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        if result.rows_affected() == 0 {
            return Ok(None);
        }
        tracing::info!(organization_id = %org, template_id = %id, connection_id = %connection, "template published");
        Ok(Some(schemas::time::from_millis(now)))
    }

    /// Returns the names of those of `ids` that are templates of `org`.
    pub async fn template_names(
        &self,
        org: OrgId,
        ids: &[TemplateId],
    ) -> Result<HashMap<TemplateId, String>, StoreError> {
        let mut names = HashMap::new();
        for group in ids.chunks(500) {
            let mut sql = SqlBuilder::new(
                self.backend,
                "SELECT id, name FROM templates WHERE organization_id = ",
            );
            sql.bind(org.to_string())
                .push(" AND id IN ")
                .bind_list(group.iter().map(|id| id.to_string()));
            for row in sql.build().fetch_all(&self.reader).await? {
                names.insert(row.id("id")?, row.text("name")?);
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let cursor = TemplateCursor {
            updated_at_ms: 1_767_225_600_123,
            id: TemplateId::new(),
        };
        assert_eq!(TemplateCursor::decode(&cursor.encode()), Some(cursor));
    }

    #[test]
    fn cursor_rejects_other_strings() {
        for bad in [
            "",
            "!!",
            "bm90IGEgY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("12:not-a-uuid"),
        ] {
            assert_eq!(TemplateCursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn source_hash_is_sha256_hex() {
        assert_eq!(
            source_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
