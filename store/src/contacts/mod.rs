//! Contacts: reads, deletes and the pieces shared by the writes in
//! [`create`] and [`patch`].
//!
//! Email, phone and external id are each unique per organisation when present.
//! Email and phone are compared by [`hash_identity`], while the stored values
//! keep the caller's spelling.

mod create;
mod patch;
mod status;

use chrono::{DateTime, Utc};
use schemas::contacts::{Channel, Contact, ContactDetail, ContactFilter, EmailStatus, SmsStatus};
use schemas::{ContactId, OrgId};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection};

use crate::db::Store;
use crate::error::{unique_violation, StoreError};
use crate::row::RowExt;
use crate::sql::SqlBuilder;
use crate::subscriptions::contact_topics;

pub(crate) use create::insert_contact;
pub(crate) use patch::update_contact;
pub(crate) use status::{StatusTimes, STATUS_TIME_COLUMNS};

/// Returns the SHA-256 hex digest of a lower-cased, trimmed email or phone,
/// the value that makes each unique per organisation.
pub fn hash_identity(value: &str) -> String {
    hex::encode(Sha256::digest(
        schemas::validation::normalize_identity(value).as_bytes(),
    ))
}

/// Kind of contact identifier in a path, which decides the column matched
/// first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityShape {
    Email,
    Id,
    ExternalId,
}

impl IdentityShape {
    /// Classifies an identifier: an `@` means an email, the UUID pattern an
    /// id, anything else an external id.
    pub fn of(ident: &str) -> IdentityShape {
        if ident.contains('@') {
            IdentityShape::Email
        } else if schemas::ids::looks_like_uuid(ident) {
            IdentityShape::Id
        } else {
            IdentityShape::ExternalId
        }
    }
}

/// Columns of the wire [`Contact`], in the order [`contact_from_row`] reads.
pub(crate) const CONTACT_COLUMNS: &str = "id, external_id, email, phone, first_name, last_name, company, \
     job_title, email_status, sms_status, preferred_channel, properties, emails_sent, emails_opened, \
     emails_clicked, sms_sent, sms_clicked, created_at, updated_at";

pub(crate) fn contact_from_row(row: &AnyRow) -> Result<Contact, StoreError> {
    Ok(Contact {
        id: row.id("id")?,
        external_id: row.opt_text("external_id")?,
        email: row.opt_text("email")?,
        phone: row.opt_text("phone")?,
        first_name: row.opt_text("first_name")?,
        last_name: row.opt_text("last_name")?,
        company: row.opt_text("company")?,
        job_title: row.opt_text("job_title")?,
        email_status: row.opt_enum("email_status", EmailStatus::parse)?,
        sms_status: row.opt_enum("sms_status", SmsStatus::parse)?,
        preferred_channel: row.opt_enum("preferred_channel", Channel::parse)?,
        properties: row.json_object("properties")?,
        emails_sent: row.int("emails_sent")?,
        emails_opened: row.int("emails_opened")?,
        emails_clicked: row.int("emails_clicked")?,
        sms_sent: row.int("sms_sent")?,
        sms_clicked: row.int("sms_clicked")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
    })
}

/// The identity columns a contact write may collide on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    ExternalId,
    Email,
    Phone,
}

impl Identity {
    fn column(self) -> &'static str {
        match self {
            Identity::ExternalId => "external_id",
            Identity::Email => "email_hash",
            Identity::Phone => "phone_hash",
        }
    }

    pub(crate) fn conflict(self) -> StoreError {
        let field = match self {
            Identity::ExternalId => "externalId",
            Identity::Email => "email",
            Identity::Phone => "phone",
        };
        StoreError::Conflict(format!("Contact with this {field} already exists"))
    }
}

/// Maps a unique violation on one of the contact identity indexes to the
/// client's 409. Any other error stays a database error.
pub(crate) fn contact_write_error(err: sqlx::Error) -> StoreError {
    if let Some(target) = unique_violation(&err) {
        for identity in [Identity::ExternalId, Identity::Email, Identity::Phone] {
            if target.contains(identity.column()) {
                return identity.conflict();
            }
        }
    }
    StoreError::Database(err)
}

/// Reports whether a contact of `org` other than `except` has `value` in the
/// identity column.
pub(crate) async fn identity_taken(
    conn: &mut AnyConnection,
    org: OrgId,
    identity: Identity,
    value: &str,
    except: Option<ContactId>,
) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT id FROM contacts WHERE organization_id = $1 AND {} = $2 AND id <> $3 LIMIT 1",
        identity.column()
    );
    let except = except.map(|id| id.to_string()).unwrap_or_default();
    let row = sqlx::query::<Any>(&sql)
        .bind(org.to_string())
        .bind(value)
        .bind(except)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// Returns `value` unless it is empty or only whitespace.
pub(crate) fn non_blank(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

pub(crate) fn millis_to_ts(ms: i64) -> DateTime<Utc> {
    schemas::time::from_millis(ms)
}

impl Store {
    /// Lists one page of contacts, newest first, and the number of contacts
    /// matching the filter. `search` matches a case-insensitive substring of
    /// the email or the phone, with `%` and `_` taken literally.
    // NOTE: on SQLite the search folds the case of ASCII letters only.
    pub async fn list_contacts(
        &self,
        org: OrgId,
        filter: &ContactFilter,
    ) -> Result<(Vec<Contact>, i64), StoreError> {
        let mut count = SqlBuilder::new(self.backend, "SELECT COUNT(*) AS n FROM contacts WHERE ");
        push_contact_filter(&mut count, org, filter);
        let total = count.build().fetch_one(&self.reader).await?.int("n")?;

        let page_size = filter.page_size.max(1);
        let offset = filter
            .page
            .max(1)
            .saturating_sub(1)
            .saturating_mul(page_size);
        let mut page = SqlBuilder::new(
            self.backend,
            &format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE "),
        );
        push_contact_filter(&mut page, org, filter);
        page.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .bind(page_size)
            .push(" OFFSET ")
            .bind(offset);
        let rows = page.build().fetch_all(&self.reader).await?;

        let contacts = rows
            .iter()
            .map(contact_from_row)
            .collect::<Result<_, _>>()?;
        Ok((contacts, total))
    }

    /// Finds the contact a path identifier names: an email (exact match on
    /// the stored email), a UUID (the contact id) or an external id. Because
    /// an external id may look like either of the others, the external id
    /// always matches too, and the column implied by the shape wins when two
    /// contacts match.
    pub async fn resolve_contact(
        &self,
        org: OrgId,
        ident: &str,
    ) -> Result<Option<ContactId>, StoreError> {
        let (column, shaped_value) = match IdentityShape::of(ident) {
            IdentityShape::Email => ("email", ident.to_owned()),
            // Ids are stored in lower case, and the caller may have sent upper case.
            IdentityShape::Id => ("id", ident.to_ascii_lowercase()),
            IdentityShape::ExternalId => ("external_id", ident.to_owned()),
        };
        let sql = format!(
            "SELECT id, CASE WHEN {column} = $2 THEN 0 ELSE 1 END AS preference FROM contacts \
             WHERE organization_id = $1 AND ({column} = $2 OR external_id = $3) \
             ORDER BY preference LIMIT 1"
        );
        let row = sqlx::query::<Any>(&sql)
            .bind(org.to_string())
            .bind(shaped_value)
            .bind(ident)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| row.id("id")).transpose()
    }

    /// Returns the contact and its topic subscriptions.
    pub async fn get_contact(
        &self,
        org: OrgId,
        id: ContactId,
    ) -> Result<Option<ContactDetail>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let Some(contact) = fetch_contact(&mut conn, org, id).await? else {
            return Ok(None);
        };
        let topics = contact_topics(&mut conn, org, id).await?;
        Ok(Some(ContactDetail { contact, topics }))
    }

    /// Deletes a contact and, through the foreign key, its subscriptions.
    /// Returns false when the organisation has no such contact.
    pub async fn delete_contact(&self, org: OrgId, id: ContactId) -> Result<bool, StoreError> {
        let result =
            sqlx::query::<Any>("DELETE FROM contacts WHERE organization_id = $1 AND id = $2")
                .bind(org.to_string())
                .bind(id.to_string())
                .execute(&self.writer)
                .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Deletes the listed contacts of `org` and returns how many went.
    /// Strings that are not UUIDs and ids of other organisations are ignored.
    /// The API caps the list at 100 ids.
    pub async fn bulk_delete_contacts(
        &self,
        org: OrgId,
        ids: &[String],
    ) -> Result<u64, StoreError> {
        let mut parsed: Vec<String> = ids
            .iter()
            .filter_map(|id| id.parse::<ContactId>().ok())
            .map(|id| id.to_string())
            .collect();
        parsed.sort();
        parsed.dedup();
        if parsed.is_empty() {
            return Ok(0);
        }

        let mut delete = SqlBuilder::new(
            self.backend,
            "DELETE FROM contacts WHERE organization_id = ",
        );
        delete
            .bind(org.to_string())
            .push(" AND id IN ")
            .bind_list(parsed);
        let result = delete.build().execute(&self.writer).await?;
        Ok(result.rows_affected())
    }
}

fn push_contact_filter(sql: &mut SqlBuilder, org: OrgId, filter: &ContactFilter) {
    sql.push("organization_id = ").bind(org.to_string());
    if let Some(status) = filter.email_status {
        sql.push(" AND email_status = ").bind(status.as_str());
    }
    if let Some(status) = filter.sms_status {
        sql.push(" AND sms_status = ").bind(status.as_str());
    }
    if let Some(channel) = filter.preferred_channel {
        sql.push(" AND preferred_channel = ").bind(channel.as_str());
    }
    if let Some(search) = filter.search.as_deref().filter(|s| !s.is_empty()) {
        sql.push(" AND (").contains_ignore_case("email", search);
        sql.push(" OR ")
            .contains_ignore_case("phone", search)
            .push(")");
    }
}

pub(crate) async fn fetch_contact(
    conn: &mut AnyConnection,
    org: OrgId,
    id: ContactId,
) -> Result<Option<Contact>, StoreError> {
    let sql =
        format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE organization_id = $1 AND id = $2");
    let row = sqlx::query::<Any>(&sql)
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(contact_from_row).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_hash_ignores_case_and_spaces() {
        assert_eq!(
            hash_identity("  Ada@Example.COM "),
            hash_identity("ada@example.com")
        );
        assert_eq!(hash_identity("abc").len(), 64);
    }

    #[test]
    fn identifier_shapes() {
        assert_eq!(IdentityShape::of("a@b.co"), IdentityShape::Email);
        assert_eq!(
            IdentityShape::of("0b8f2c1e-3c44-4f7a-9d2e-5f1a2b3c4d5e"),
            IdentityShape::Id
        );
        assert_eq!(IdentityShape::of("crm-42"), IdentityShape::ExternalId);
    }
}
