//! Audience queries the API runs around a batch: resolving an explicit
//! recipient list, counting who a new batch would reach, and listing a
//! batch's recipients by wire status.

use std::collections::{HashMap, HashSet};

use schemas::batches::{AudienceType, RecipientState};
use schemas::{BatchId, ContactId, OrgId, TopicId};
use sqlx::any::AnyRow;

use crate::contacts::hash_identity;
use crate::db::Store;
use crate::error::StoreError;
use crate::recipients::RecipientRow;
use crate::row::RowExt;
use crate::sql::SqlBuilder;

use crate::recipients::{ELIGIBLE, IN_LIST_BATCH};

impl Store {
    /// Resolves the entries of a `list` audience (contact ids or emails) to
    /// distinct contacts of `org`, in the order first named, and returns the
    /// entries that name no contact. Emails match through the hash of the
    /// trimmed, lower-cased address, so two spellings of one address give one
    /// contact; ids match in any letter case.
    pub async fn resolve_recipients(
        &self,
        org: OrgId,
        entries: &[String],
    ) -> Result<(Vec<ContactId>, Vec<String>), StoreError> {
        let keys: Vec<EntryKey> = entries.iter().map(|entry| EntryKey::of(entry)).collect();

        let ids: Vec<String> = distinct(keys.iter().filter_map(EntryKey::id));
        let hashes: Vec<String> = distinct(keys.iter().filter_map(EntryKey::email_hash));
        let known_ids = self.contacts_matching(org, "id", &ids).await?;
        let by_hash = self.contacts_matching(org, "email_hash", &hashes).await?;

        let mut contacts = Vec::new();
        let mut seen = HashSet::new();
        let mut unknown = Vec::new();
        for (entry, key) in entries.iter().zip(&keys) {
            let found = match key {
                EntryKey::Id(id) => known_ids.get(id),
                EntryKey::EmailHash(hash) => by_hash.get(hash),
                EntryKey::Neither => None,
            };
            match found {
                Some(contact) if seen.insert(*contact) => contacts.push(*contact),
                Some(_) => {}
                None => unknown.push(entry.clone()),
            }
        }
        Ok((contacts, unknown))
    }

    /// Maps each value of `column` (`id` or `email_hash`) found among
    /// `org`'s contacts to the contact's id.
    async fn contacts_matching(
        &self,
        org: OrgId,
        column: &'static str,
        values: &[String],
    ) -> Result<HashMap<String, ContactId>, StoreError> {
        let mut found = HashMap::new();
        for group in values.chunks(IN_LIST_BATCH) {
            let mut sql = SqlBuilder::new(
                self.backend,
                &format!("SELECT id, {column} AS matched FROM contacts WHERE organization_id = "),
            );
            sql.bind(org.to_string())
                .push(&format!(" AND {column} IN "))
                .bind_list(group.iter().map(String::as_str));
            for row in sql.build().fetch_all(&self.reader).await? {
                found.insert(row.text("matched")?, row.id("id")?);
            }
        }
        Ok(found)
    }

    /// Counts the contacts a new batch would reach, with the eligibility
    /// rule of fan-out. A contact needs an email and an `active` (or no)
    /// email status. A `topic` audience with `topic_id` also needs a
    /// `subscribed` row for it, and a `list` audience membership of `list`.
    /// Segments are not evaluated yet and count zero contacts.
    pub async fn count_audience(
        &self,
        org: OrgId,
        audience_type: AudienceType,
        topic_id: Option<TopicId>,
        list: Option<&[ContactId]>,
    ) -> Result<i64, StoreError> {
        let topic = topic_id.filter(|_| audience_type == AudienceType::Topic);
        match audience_type {
            AudienceType::Segment => Ok(0),
            AudienceType::List => {
                let ids: Vec<String> = list
                    .unwrap_or_default()
                    .iter()
                    .map(ContactId::to_string)
                    .collect();
                let mut total = 0;
                for group in ids.chunks(IN_LIST_BATCH) {
                    total += self.count_eligible(org, topic, Some(group)).await?;
                }
                Ok(total)
            }
            AudienceType::All | AudienceType::Topic => self.count_eligible(org, topic, None).await,
        }
    }

    async fn count_eligible(
        &self,
        org: OrgId,
        topic: Option<TopicId>,
        ids: Option<&[String]>,
    ) -> Result<i64, StoreError> {
        let mut sql = SqlBuilder::new(
            self.backend,
            &format!(
                "SELECT COUNT(*) AS n FROM contacts c WHERE {ELIGIBLE} AND c.organization_id = "
            ),
        );
        sql.bind(org.to_string());
        if let Some(topic) = topic {
            sql.push(
                " AND EXISTS (SELECT 1 FROM contact_topics t WHERE t.contact_id = c.id AND t.topic_id = ",
            )
            .bind(topic.to_string())
            .push(" AND t.status = 'subscribed')");
        }
        if let Some(ids) = ids {
            sql.push(" AND c.id IN ")
                .bind_list(ids.iter().map(String::as_str));
        }
        sql.build().fetch_one(&self.reader).await?.int("n")
    }

    /// Lists a batch's recipients whose state is one of `states` (every
    /// recipient when `None`), newest first, with the number matching. An
    /// empty `states` matches nothing.
    pub async fn list_batch_recipients_in_states(
        &self,
        org: OrgId,
        batch_id: BatchId,
        states: Option<&[RecipientState]>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<RecipientRow>, i64), StoreError> {
        if states.is_some_and(<[RecipientState]>::is_empty) {
            return Ok((Vec::new(), 0));
        }
        let filter = |sql: &mut SqlBuilder| {
            sql.bind(batch_id.to_string())
                .push(" AND organization_id = ")
                .bind(org.to_string());
            if let Some(states) = states {
                sql.push(" AND status IN ")
                    .bind_list(states.iter().map(|state| state.as_str()));
            }
        };

        let mut count = SqlBuilder::new(
            self.backend,
            "SELECT COUNT(*) AS n FROM batch_recipients WHERE batch_id = ",
        );
        filter(&mut count);
        let total = count.build().fetch_one(&self.reader).await?.int("n")?;

        let mut page = SqlBuilder::new(
            self.backend,
            "SELECT id, email, status, error, message_id, sent_at, created_at \
             FROM batch_recipients WHERE batch_id = ",
        );
        filter(&mut page);
        page.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .bind(limit)
            .push(" OFFSET ")
            .bind(offset);
        let rows = page.build().fetch_all(&self.reader).await?;
        let recipients = rows
            .iter()
            .map(recipient_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((recipients, total))
    }
}

/// Lookup key of one entry of a recipient list.
enum EntryKey {
    /// A contact id, lower-cased.
    Id(String),
    /// The hash of an email address.
    EmailHash(String),
    /// Neither a UUID nor an address: it can name no contact.
    Neither,
}

impl EntryKey {
    fn of(entry: &str) -> EntryKey {
        let entry = entry.trim();
        if schemas::ids::looks_like_uuid(entry) {
            EntryKey::Id(entry.to_ascii_lowercase())
        } else if entry.contains('@') {
            EntryKey::EmailHash(hash_identity(entry))
        } else {
            EntryKey::Neither
        }
    }

    fn id(&self) -> Option<&String> {
        match self {
            EntryKey::Id(id) => Some(id),
            _ => None,
        }
    }

    fn email_hash(&self) -> Option<&String> {
        match self {
            EntryKey::EmailHash(hash) => Some(hash),
            _ => None,
        }
    }
}

fn distinct<'a>(values: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut seen = HashSet::new();
    values.filter(|v| seen.insert(*v)).cloned().collect()
}

fn recipient_row(row: &AnyRow) -> Result<RecipientRow, StoreError> {
    let state_text = row.text("status")?;
    let state = RecipientState::parse(&state_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown recipient status {state_text:?}")))?;
    Ok(RecipientRow {
        id: row.text("id")?,
        email: row.text("email")?,
        state,
        error: row.opt_text("error")?,
        message_id: row.opt_text("message_id")?,
        sent_at: row.opt_ts("sent_at")?,
        created_at: row.ts("created_at")?,
    })
}
