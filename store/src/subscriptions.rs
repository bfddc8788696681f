//! Topic subscriptions of contacts.
//!
//! Two strategies write them. Create and PATCH *add* ([`add_subscriptions`]):
//! new topics are inserted, inactive ones re-subscribed, active ones left
//! alone. `PUT /v1/contacts/{id}/topics` *replaces*
//! ([`Store::replace_contact_topics`]) as a diff in one transaction, so a
//! failure leaves the old set intact. Either way a double opt-in topic the
//! contact never confirmed becomes `pending`.
//!
//! A pending row gets at most one confirmation email per pending period
//! (see `confirmations`). A period starts when the row becomes pending, and
//! again when a pending row is requested once more after its last
//! confirmation link expired, so a contact who missed the email can get a
//! new one.

use std::collections::{HashMap, HashSet};

use schemas::contacts::{ContactTopic, ReplaceTopics, SubscriptionStatus, TopicsReplaced};
use schemas::unsubscribe::CONFIRMATION_TTL;
use schemas::{ContactId, OrgId, TopicId};
use sqlx::{Any, AnyConnection};

use crate::db::{Backend, Store};
use crate::error::{unique_violation, StoreError};
use crate::row::{now_millis, RowExt};
use crate::sql::SqlBuilder;

/// A topic named by a request, resolved within the organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TopicRef {
    pub id: TopicId,
    pub name: String,
    pub double_opt_in: bool,
}

/// A contact's stored subscription to one topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Existing {
    pub status: SubscriptionStatus,
    pub confirmed_at: Option<i64>,
}

/// Resolves topic ids and slugs to the organisation's topics, in request
/// order (ids first, then slugs) and without duplicates. Ids that are not
/// UUIDs, unknown ids and slugs, and other organisations' topics are dropped.
pub(crate) async fn resolve_topics(
    conn: &mut AnyConnection,
    backend: Backend,
    org: OrgId,
    ids: Option<&[String]>,
    slugs: Option<&[String]>,
) -> Result<Vec<TopicRef>, StoreError> {
    let ids: Vec<TopicId> = ids
        .unwrap_or_default()
        .iter()
        .filter_map(|id| id.parse().ok())
        .collect();
    let slugs = slugs.unwrap_or_default();
    if ids.is_empty() && slugs.is_empty() {
        return Ok(Vec::new());
    }

    let mut sql = SqlBuilder::new(
        backend,
        "SELECT id, name, slug, double_opt_in FROM topics WHERE organization_id = ",
    );
    sql.bind(org.to_string()).push(" AND (");
    if !ids.is_empty() {
        sql.push("id IN ")
            .bind_list(ids.iter().map(|id| id.to_string()));
    }
    if !ids.is_empty() && !slugs.is_empty() {
        sql.push(" OR ");
    }
    if !slugs.is_empty() {
        sql.push("slug IN ")
            .bind_list(slugs.iter().map(String::as_str));
    }
    sql.push(")");
    let rows = sql.build().fetch_all(&mut *conn).await?;

    let mut by_id = HashMap::new();
    let mut id_by_slug = HashMap::new();
    for row in &rows {
        let topic = TopicRef {
            id: row.id("id")?,
            name: row.text("name")?,
            double_opt_in: row.flag("double_opt_in")?,
        };
        id_by_slug.insert(row.text("slug")?, topic.id);
        by_id.insert(topic.id, topic);
    }

    let requested = ids.into_iter().chain(
        slugs
            .iter()
            .filter_map(|slug| id_by_slug.get(slug).copied()),
    );
    let mut seen = HashSet::new();
    Ok(requested
        .filter(|id| seen.insert(*id))
        .filter_map(|id| by_id.get(&id).cloned())
        .collect())
}

/// Loads the contact's subscriptions by topic.
pub(crate) async fn existing_subscriptions(
    conn: &mut AnyConnection,
    org: OrgId,
    contact: ContactId,
) -> Result<HashMap<TopicId, Existing>, StoreError> {
    let rows = sqlx::query::<Any>(
        "SELECT topic_id, status, confirmed_at FROM contact_topics WHERE organization_id = $1 AND contact_id = $2",
    )
    .bind(org.to_string())
    .bind(contact.to_string())
    .fetch_all(conn)
    .await?;

    rows.iter()
        .map(|row| {
            let status = row
                .opt_enum("status", SubscriptionStatus::parse)?
                .ok_or_else(|| StoreError::Corrupt("contact_topics.status is NULL".to_owned()))?;
            let existing = Existing {
                status,
                confirmed_at: row.opt_int("confirmed_at")?,
            };
            Ok((row.id("topic_id")?, existing))
        })
        .collect()
}

/// Lists the contact's subscriptions with topic names, ordered by name.
pub(crate) async fn contact_topics(
    conn: &mut AnyConnection,
    org: OrgId,
    contact: ContactId,
) -> Result<Vec<ContactTopic>, StoreError> {
    let rows = sqlx::query::<Any>(
        "SELECT ct.topic_id, t.name, ct.status, ct.subscribed_at FROM contact_topics ct \
         JOIN topics t ON t.id = ct.topic_id \
         WHERE ct.organization_id = $1 AND ct.contact_id = $2 ORDER BY t.name, ct.topic_id",
    )
    .bind(org.to_string())
    .bind(contact.to_string())
    .fetch_all(conn)
    .await?;

    rows.iter()
        .map(|row| {
            Ok(ContactTopic {
                topic_id: row.id("topic_id")?,
                topic_name: row.text("name")?,
                status: row
                    .opt_enum("status", SubscriptionStatus::parse)?
                    .ok_or_else(|| {
                        StoreError::Corrupt("contact_topics.status is NULL".to_owned())
                    })?,
                subscribed_at: row.opt_ts("subscribed_at")?,
            })
        })
        .collect()
}

/// State a subscription is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// Active now, with `confirmed_at` keeping an earlier confirmation.
    Subscribed,
    /// Waiting for double opt-in confirmation.
    Pending,
}

impl Target {
    fn status(self) -> SubscriptionStatus {
        match self {
            Target::Subscribed => SubscriptionStatus::Subscribed,
            Target::Pending => SubscriptionStatus::Pending,
        }
    }
}

/// Adds subscriptions as create and PATCH do, and returns the topics left
/// waiting for confirmation. A topic the contact never had is inserted. A
/// pending or unsubscribed one is re-subscribed directly when it was
/// confirmed before or needs no confirmation, and otherwise goes back to
/// pending. A subscribed one is left alone.
pub(crate) async fn add_subscriptions(
    conn: &mut AnyConnection,
    org: OrgId,
    contact: ContactId,
    topics: &[TopicRef],
    now: i64,
) -> Result<Vec<TopicId>, StoreError> {
    if topics.is_empty() {
        return Ok(Vec::new());
    }
    let existing = existing_subscriptions(conn, org, contact).await?;

    let mut pending = Vec::new();
    for topic in topics {
        let current = existing.get(&topic.id);
        if current.is_some_and(|row| row.status == SubscriptionStatus::Subscribed) {
            continue;
        }
        let confirmed_before = current.is_some_and(|row| row.confirmed_at.is_some());
        let target = if topic.double_opt_in && !confirmed_before {
            pending.push(topic.id);
            Target::Pending
        } else {
            Target::Subscribed
        };
        write_subscription(conn, org, contact, topic.id, current, target, now).await?;
    }
    Ok(pending)
}

/// Inserts or updates one subscription row.
async fn write_subscription(
    conn: &mut AnyConnection,
    org: OrgId,
    contact: ContactId,
    topic: TopicId,
    current: Option<&Existing>,
    target: Target,
    now: i64,
) -> Result<(), StoreError> {
    let result = match (current, target) {
        (None, Target::Subscribed) => {
            sqlx::query::<Any>(
                "INSERT INTO contact_topics (contact_id, topic_id, organization_id, status, subscribed_at, \
                 confirmed_at, created_at) VALUES ($1, $2, $3, 'subscribed', $4, $4, $4)",
            )
            .bind(contact.to_string())
            .bind(topic.to_string())
            .bind(org.to_string())
            .bind(now)
            .execute(&mut *conn)
            .await
        }
        (None, Target::Pending) => {
            sqlx::query::<Any>(
                "INSERT INTO contact_topics (contact_id, topic_id, organization_id, status, created_at) \
                 VALUES ($1, $2, $3, 'pending', $4)",
            )
            .bind(contact.to_string())
            .bind(topic.to_string())
            .bind(org.to_string())
            .bind(now)
            .execute(&mut *conn)
            .await
        }
        (Some(_), Target::Subscribed) => {
            sqlx::query::<Any>(
                "UPDATE contact_topics SET status = 'subscribed', subscribed_at = $1, \
                 confirmed_at = COALESCE(confirmed_at, $1) \
                 WHERE organization_id = $2 AND contact_id = $3 AND topic_id = $4",
            )
            .bind(now)
            .bind(org.to_string())
            .bind(contact.to_string())
            .bind(topic.to_string())
            .execute(&mut *conn)
            .await
        }
        (Some(_), Target::Pending) => {
            // A row that is already pending keeps its confirmation claim
            // while the emailed link is still valid.
            let valid_since = now - CONFIRMATION_TTL.num_milliseconds();
            sqlx::query::<Any>(
                "UPDATE contact_topics SET status = 'pending', subscribed_at = NULL, \
                 confirmation_sent_at = CASE WHEN status = 'pending' AND confirmation_sent_at > $1 \
                     THEN confirmation_sent_at ELSE NULL END \
                 WHERE organization_id = $2 AND contact_id = $3 AND topic_id = $4",
            )
            .bind(valid_since)
            .bind(org.to_string())
            .bind(contact.to_string())
            .bind(topic.to_string())
            .execute(&mut *conn)
            .await
        }
    };

    match result {
        Ok(_) => Ok(()),
        // Only a concurrent writer that inserted the same row first gets here.
        Err(err) if unique_violation(&err).is_some() => Err(StoreError::Conflict(
            "Contact is already subscribed to one of these topics".to_owned(),
        )),
        Err(err) => Err(err.into()),
    }
}

impl Store {
    /// Replaces the contact's subscriptions with the requested topics, in one
    /// transaction. Rows of topics no longer requested are deleted. Rows that
    /// are and stay subscribed are left untouched, so their subscription and
    /// confirmation times survive. A double opt-in topic becomes pending
    /// unless the contact confirmed it before. An empty request removes every
    /// subscription.
    pub async fn replace_contact_topics(
        &self,
        org: OrgId,
        id: ContactId,
        req: &ReplaceTopics,
    ) -> Result<TopicsReplaced, StoreError> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;

        // Locking the contact serialises concurrent replaces of one contact on
        // PostgreSQL. Without it, each could delete only the rows it saw, and
        // the two sets would be merged.
        let lock = format!(
            "SELECT id FROM contacts WHERE organization_id = $1 AND id = $2{}",
            self.backend.for_update()
        );
        let found = sqlx::query::<Any>(&lock)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Err(StoreError::NotFound("Contact not found"));
        }

        let topics = resolve_topics(
            &mut tx,
            self.backend,
            org,
            req.topic_ids.as_deref(),
            req.topic_slugs.as_deref(),
        )
        .await?;
        let existing = existing_subscriptions(&mut tx, org, id).await?;

        let requested_ids: HashSet<TopicId> = topics.iter().map(|topic| topic.id).collect();
        let removed: Vec<TopicId> = existing
            .keys()
            .filter(|topic| !requested_ids.contains(topic))
            .copied()
            .collect();
        if !removed.is_empty() {
            let mut delete = SqlBuilder::new(
                self.backend,
                "DELETE FROM contact_topics WHERE organization_id = ",
            );
            delete
                .bind(org.to_string())
                .push(" AND contact_id = ")
                .bind(id.to_string())
                .push(" AND topic_id IN ")
                .bind_list(removed.iter().map(|topic| topic.to_string()));
            delete.build().execute(&mut *tx).await?;
        }

        let mut pending = Vec::new();
        for topic in &topics {
            let current = existing.get(&topic.id);
            let confirmed_before = current.is_some_and(|row| row.confirmed_at.is_some());
            let target = if topic.double_opt_in && !confirmed_before {
                pending.push(topic.id);
                Target::Pending
            } else {
                Target::Subscribed
            };
            // A pending row is written again so that an expired
            // confirmation period restarts.
            if target == Target::Subscribed
                && current.is_some_and(|row| row.status == target.status())
            {
                continue;
            }
            write_subscription(&mut tx, org, id, topic.id, current, target, now).await?;
        }

        let mut stored: HashMap<TopicId, ContactTopic> = contact_topics(&mut tx, org, id)
            .await?
            .into_iter()
            .map(|row| (row.topic_id, row))
            .collect();
        tx.commit().await?;

        // TODO: emit `topic_subscribed` for topics that are subscribed now and
        // were not before (re-subscriptions included) and `topic_unsubscribed`
        // for removed topics that were subscribed, once workflow events exist.
        // The API queues the confirmation emails of `pending`.
        let topics = topics
            .iter()
            .filter_map(|topic| stored.remove(&topic.id))
            .collect();
        Ok(TopicsReplaced {
            topics,
            pending_topics: pending,
        })
    }
}

impl Store {
    /// Confirms a pending double opt-in subscription: it becomes
    /// `subscribed`, with the confirmation time kept if one exists. Returns
    /// false when the contact has no pending subscription to the topic.
    pub async fn confirm_subscription(
        &self,
        org: OrgId,
        contact: ContactId,
        topic: TopicId,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query::<Any>(
            "UPDATE contact_topics SET status = 'subscribed', subscribed_at = $1, confirmed_at = COALESCE(confirmed_at, $1) \
             WHERE organization_id = $2 AND contact_id = $3 AND topic_id = $4 AND status = 'pending'",
        )
        .bind(now_millis())
        .bind(org.to_string())
        .bind(contact.to_string())
        .bind(topic.to_string())
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Marks the contact's subscription to the topic `unsubscribed`. Returns
    /// false when there is no subscription or it is already unsubscribed, so
    /// repeated unsubscribes change nothing.
    pub async fn unsubscribe_topic(
        &self,
        org: OrgId,
        contact: ContactId,
        topic: TopicId,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query::<Any>(
            "UPDATE contact_topics SET status = 'unsubscribed', unsubscribed_at = $1 \
             WHERE organization_id = $2 AND contact_id = $3 AND topic_id = $4 AND status <> 'unsubscribed'",
        )
        .bind(now_millis())
        .bind(org.to_string())
        .bind(contact.to_string())
        .bind(topic.to_string())
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected() > 0)
    }
}
