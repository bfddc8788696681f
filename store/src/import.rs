//! Bulk contact import, used by the CSV import in batches of about a
//! thousand rows.

use std::collections::HashMap;

use schemas::contacts::{Contact, EmailStatus, SmsStatus};
use schemas::{ContactId, OrgId, TopicId};
use serde_json::{Map, Value};
use sqlx::{Any, AnyConnection};

use crate::contacts::{
    contact_from_row, hash_identity, identity_taken, insert_contact, millis_to_ts, update_contact,
    Identity, StatusTimes, CONTACT_COLUMNS, STATUS_TIME_COLUMNS,
};
use crate::db::{Backend, Store};
use crate::error::StoreError;
use crate::row::{now_millis, RowExt};
use crate::sql::SqlBuilder;

/// One contact of an import. Values are trimmed, and empty ones count as
/// absent.
#[derive(Clone, Debug, Default)]
pub struct ImportRow {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub properties: Map<String, Value>,
}

/// Counts of one [`Store::import_contacts`] call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub created: u64,
    pub updated: u64,
    /// Rows without an email, which were not imported.
    pub skipped: u64,
}

/// Email hashes looked up per query, under SQLite's limit on bound
/// parameters even in builds before 3.32, where it is 999.
const LOOKUP_CHUNK: usize = 500;

impl Store {
    /// Imports contacts in one transaction, matched by email hash.
    ///
    /// A new email creates a contact with `emailStatus` `active`. An existing
    /// contact takes every non-empty imported field (empty fields keep the
    /// stored value) and the imported properties merged key by key into its
    /// own. A phone that another contact already has is dropped from the
    /// row rather than failing the batch. With `topic`, each imported contact
    /// is subscribed (`pending` for a double opt-in topic) unless it already
    /// has a subscription to it, which stays as it is.
    pub async fn import_contacts(
        &self,
        org: OrgId,
        rows: &[ImportRow],
        topic: Option<TopicId>,
    ) -> Result<ImportOutcome, StoreError> {
        let now = now_millis();
        let mut outcome = ImportOutcome::default();
        let mut tx = self.begin_write().await?;

        let topic = match topic {
            Some(id) => Some(
                topic_double_opt_in(&mut tx, org, id)
                    .await?
                    .map(|doi| (id, doi))
                    .ok_or(StoreError::NotFound("Topic not found"))?,
            ),
            None => None,
        };

        let hashes: Vec<String> = rows
            .iter()
            .filter_map(|row| trimmed(Some(&row.email)).map(hash_identity))
            .collect();
        let mut known = existing_by_email_hash(&mut tx, self.backend, org, &hashes).await?;

        for row in rows {
            let Some(email) = trimmed(Some(&row.email)) else {
                outcome.skipped += 1;
                continue;
            };
            let email_hash = hash_identity(email);

            let contact_id = match known.get_mut(&email_hash) {
                Some((contact, times)) => {
                    merge_row(&mut tx, org, contact, row, now).await?;
                    update_contact(&mut tx, org, contact, times).await?;
                    outcome.updated += 1;
                    contact.id
                }
                None => {
                    let (contact, times) = new_contact(&mut tx, org, email, row, now).await?;
                    insert_contact(
                        &mut tx,
                        org,
                        &contact,
                        Some(&email_hash),
                        contact.phone.as_deref().map(hash_identity).as_deref(),
                        &times,
                    )
                    .await?;
                    outcome.created += 1;
                    let id = contact.id;
                    known.insert(email_hash, (contact, times));
                    id
                }
            };

            if let Some((topic_id, double_opt_in)) = topic {
                subscribe_if_absent(&mut tx, org, contact_id, topic_id, double_opt_in, now).await?;
            }
        }
        tx.commit().await?;

        tracing::debug!(org_id = %org, created = outcome.created, updated = outcome.updated, skipped = outcome.skipped, "contacts imported");
        Ok(outcome)
    }
}

/// Returns the trimmed value unless it is empty.
fn trimmed(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

async fn topic_double_opt_in(
    conn: &mut AnyConnection,
    org: OrgId,
    id: TopicId,
) -> Result<Option<bool>, StoreError> {
    let row = sqlx::query::<Any>(
        "SELECT double_opt_in FROM topics WHERE organization_id = $1 AND id = $2",
    )
    .bind(org.to_string())
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?;
    row.map(|row| row.flag("double_opt_in")).transpose()
}

/// Loads the organisation's contacts whose email hash is in `hashes`, with
/// their status times, keyed by email hash.
async fn existing_by_email_hash(
    conn: &mut AnyConnection,
    backend: Backend,
    org: OrgId,
    hashes: &[String],
) -> Result<HashMap<String, (Contact, StatusTimes)>, StoreError> {
    let mut known = HashMap::new();
    let select = format!(
        "SELECT {CONTACT_COLUMNS}, {}, email_hash FROM contacts WHERE organization_id = ",
        STATUS_TIME_COLUMNS.join(", ")
    );
    for chunk in hashes.chunks(LOOKUP_CHUNK) {
        let mut sql = SqlBuilder::new(backend, &select);
        sql.bind(org.to_string())
            .push(" AND email_hash IN ")
            .bind_list(chunk.iter().map(String::as_str));
        for row in sql.build().fetch_all(&mut *conn).await? {
            known.insert(
                row.text("email_hash")?,
                (contact_from_row(&row)?, StatusTimes::from_row(&row)?),
            );
        }
    }
    Ok(known)
}

/// Returns the phone of `row` unless a contact other than `owner` has it.
async fn usable_phone<'a>(
    conn: &mut AnyConnection,
    org: OrgId,
    row: &'a ImportRow,
    owner: Option<ContactId>,
) -> Result<Option<&'a str>, StoreError> {
    let Some(phone) = trimmed(row.phone.as_deref()) else {
        return Ok(None);
    };
    if identity_taken(conn, org, Identity::Phone, &hash_identity(phone), owner).await? {
        tracing::debug!(org_id = %org, contact_id = ?owner, "imported phone belongs to another contact; left out");
        return Ok(None);
    }
    Ok(Some(phone))
}

async fn new_contact(
    conn: &mut AnyConnection,
    org: OrgId,
    email: &str,
    row: &ImportRow,
    now: i64,
) -> Result<(Contact, StatusTimes), StoreError> {
    let phone = usable_phone(conn, org, row, None).await?;
    let sms_status = phone.map(|_| SmsStatus::PendingConsent);
    let mut times = StatusTimes::default();
    times.apply_email(None, EmailStatus::Active, now);

    let contact = Contact {
        id: ContactId::new(),
        external_id: None,
        email: Some(email.to_owned()),
        phone: phone.map(str::to_owned),
        first_name: trimmed(row.first_name.as_deref()).map(str::to_owned),
        last_name: trimmed(row.last_name.as_deref()).map(str::to_owned),
        company: trimmed(row.company.as_deref()).map(str::to_owned),
        job_title: trimmed(row.job_title.as_deref()).map(str::to_owned),
        email_status: Some(EmailStatus::Active),
        sms_status,
        preferred_channel: None,
        properties: row.properties.clone(),
        emails_sent: 0,
        emails_opened: 0,
        emails_clicked: 0,
        sms_sent: 0,
        sms_clicked: 0,
        created_at: millis_to_ts(now),
        updated_at: millis_to_ts(now),
    };
    Ok((contact, times))
}

/// Applies an imported row to an existing contact.
async fn merge_row(
    conn: &mut AnyConnection,
    org: OrgId,
    contact: &mut Contact,
    row: &ImportRow,
    now: i64,
) -> Result<(), StoreError> {
    for (field, value) in [
        (&mut contact.first_name, &row.first_name),
        (&mut contact.last_name, &row.last_name),
        (&mut contact.company, &row.company),
        (&mut contact.job_title, &row.job_title),
    ] {
        if let Some(value) = trimmed(value.as_deref()) {
            *field = Some(value.to_owned());
        }
    }

    if let Some(phone) = usable_phone(conn, org, row, Some(contact.id)).await? {
        contact.phone = Some(phone.to_owned());
        if contact.sms_status.is_none() {
            contact.sms_status = Some(SmsStatus::PendingConsent);
        }
    }

    for (key, value) in &row.properties {
        contact.properties.insert(key.clone(), value.clone());
    }
    contact.updated_at = millis_to_ts(now);
    Ok(())
}

async fn subscribe_if_absent(
    conn: &mut AnyConnection,
    org: OrgId,
    contact: ContactId,
    topic: TopicId,
    double_opt_in: bool,
    now: i64,
) -> Result<(), StoreError> {
    let (status, stamp) = if double_opt_in {
        ("pending", None)
    } else {
        ("subscribed", Some(now))
    };
    sqlx::query::<Any>(
        "INSERT INTO contact_topics (contact_id, topic_id, organization_id, status, subscribed_at, confirmed_at, \
         created_at) VALUES ($1, $2, $3, $4, $5, $5, $6) ON CONFLICT (contact_id, topic_id) DO NOTHING",
    )
    .bind(contact.to_string())
    .bind(topic.to_string())
    .bind(org.to_string())
    .bind(status)
    .bind(stamp)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
