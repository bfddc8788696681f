//! SES delivery feedback: the connections a webhook call may authenticate
//! as, and the effects of accepted SES events on recipients, batches and
//! contacts.
//!
//! # Exactly once per fact
//!
//! Each recipient row keeps the first-seen time of each fact (delivered,
//! opened, clicked, bounced, complained, suppressed). An event sets its
//! fact's time only while it is unset, and a batch counter moves only when
//! that update changed a row. So a fact counts once however often and in
//! whatever order SES reports it, and concurrent intake workers cannot both
//! count it: the second update waits for the first one's row lock and then
//! matches nothing. On top of that, the delivery key of every processed
//! event is stored in the same transaction, so a retried delivery is
//! recognised before it is looked at.
//!
//! An open or click proves the message arrived, so it records the delivery
//! too when the `Delivery` event has not come yet. The late `Delivery` then
//! changes nothing.
//!
//! # Hot rows
//!
//! Counter changes are summed per batch and per contact over the events of
//! one call. Each sum is written once, in id order, at the end of the
//! transaction, so a burst of events touches each batch row once per call
//! rather than once per event.

use std::collections::BTreeMap;

use schemas::delivery::{DeliveryEvent, DeliveryFact, EventOutcome};
use schemas::OrgId;
use sqlx::{Any, Transaction};

use crate::contacts::hash_identity;
use crate::row::{now_millis, RowExt};
use crate::{Store, StoreError};

/// A connection that a call to `POST /webhooks/ses/{account}` may
/// authenticate as.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConnection {
    pub id: String,
    pub organization_id: OrgId,
    /// The webhook secret, compared in constant time by the route. `None`
    /// when the connection's webhook was disconnected.
    pub secret: Option<String>,
    /// SNS topics whose subscription this connection confirmed.
    pub sns_topic_arns: Vec<String>,
}

impl std::fmt::Debug for WebhookConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConnection")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("sns_topic_arns", &self.sns_topic_arns)
            .finish_non_exhaustive()
    }
}

/// First-seen times of one recipient's facts, in Unix milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecipientFacts {
    pub batch_id: String,
    pub contact_id: String,
    pub status: String,
    pub delivered_at: Option<i64>,
    pub opened_at: Option<i64>,
    pub clicked_at: Option<i64>,
    pub bounced_at: Option<i64>,
    pub bounce_type: Option<String>,
    pub complained_at: Option<i64>,
    pub suppressed_at: Option<i64>,
    pub error: Option<String>,
}

/// A message that SES reported and wrapsd did not send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalMessage {
    pub message_id: String,
    pub status: String,
    pub sent_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub bounced_at: Option<i64>,
    pub bounce_type: Option<String>,
    pub complained_at: Option<i64>,
    pub suppressed_at: Option<i64>,
}

#[derive(Default)]
struct BatchDelta {
    delivered: i64,
    opened: i64,
    clicked: i64,
    bounced: i64,
    complained: i64,
    suppressed: i64,
    failed: i64,
}

impl BatchDelta {
    fn is_empty(&self) -> bool {
        self.delivered == 0
            && self.opened == 0
            && self.clicked == 0
            && self.bounced == 0
            && self.complained == 0
            && self.suppressed == 0
            && self.failed == 0
    }
}

/// The address status an event sets. Later variants win over earlier
/// ones: a complaint is the strongest signal, a suppression the weakest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum StatusChange {
    Suppressed,
    Bounced,
    Complained,
}

#[derive(Default)]
struct ContactDelta {
    organization_id: String,
    opened: i64,
    clicked: i64,
    last_opened_at: Option<i64>,
    last_clicked_at: Option<i64>,
    status: Option<(StatusChange, i64)>,
}

impl ContactDelta {
    fn change_status(&mut self, change: StatusChange, at: i64) {
        match self.status {
            Some((current, _)) if current >= change => {}
            _ => self.status = Some((change, at)),
        }
    }
}

#[derive(Default)]
struct Deltas {
    batches: BTreeMap<String, BatchDelta>,
    contacts: BTreeMap<String, ContactDelta>,
}

impl Deltas {
    fn contact(&mut self, contact_id: &str, org: &str) -> &mut ContactDelta {
        self.contacts
            .entry(contact_id.to_owned())
            .or_insert_with(|| ContactDelta {
                organization_id: org.to_owned(),
                ..ContactDelta::default()
            })
    }
}

/// Deliveries processed longer ago than this are forgotten; SNS and
/// EventBridge stop retrying within a day.
pub const DELIVERY_KEY_RETENTION_MILLIS: i64 = 7 * 24 * 60 * 60 * 1000;

impl Store {
    /// Lists the connections registered for an AWS account number, across
    /// organisations.
    pub async fn webhook_connections(
        &self,
        account_number: &str,
    ) -> Result<Vec<WebhookConnection>, StoreError> {
        let rows = sqlx::query::<Any>(
            "SELECT id, organization_id, webhook_secret, sns_topic_arns FROM aws_connections \
             WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account_number)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let arns = row.text("sns_topic_arns")?;
                Ok(WebhookConnection {
                    id: row.text("id")?,
                    organization_id: row.id("organization_id")?,
                    secret: row.opt_text("webhook_secret")?,
                    sns_topic_arns: serde_json::from_str(&arns).map_err(|err| {
                        StoreError::Corrupt(format!("aws_connections.sns_topic_arns: {err}"))
                    })?,
                })
            })
            .collect()
    }

    /// Records an SNS topic whose subscription the connection confirmed.
    /// Recording a topic twice keeps one entry.
    pub async fn add_sns_topic(
        &self,
        connection_id: &str,
        topic_arn: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query::<Any>("SELECT sns_topic_arns FROM aws_connections WHERE id = $1")
            .bind(connection_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound("Connection not found"))?;
        let mut arns: Vec<String> = serde_json::from_str(&row.text("sns_topic_arns")?)
            .map_err(|err| StoreError::Corrupt(format!("aws_connections.sns_topic_arns: {err}")))?;
        if !arns.iter().any(|arn| arn == topic_arn) {
            arns.push(topic_arn.to_owned());
            sqlx::query::<Any>(
                "UPDATE aws_connections SET sns_topic_arns = $1, updated_at = $2 WHERE id = $3",
            )
            .bind(serde_json::Value::from(arns).to_string())
            .bind(now_millis())
            .bind(connection_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stamps `lastEventReceivedAt` on the connections, skipping a connection
    /// stamped less than a minute ago (the update's `WHERE` clause).
    pub async fn stamp_events_received(
        &self,
        connection_ids: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        for id in connection_ids {
            sqlx::query::<Any>(
                "UPDATE aws_connections SET last_event_received_at = $1 WHERE id = $2 \
                 AND (last_event_received_at IS NULL OR last_event_received_at < $3)",
            )
            .bind(now)
            .bind(id)
            .bind(now - 60_000)
            .execute(&self.writer)
            .await?;
        }
        Ok(())
    }

    /// Forgets processed deliveries received before `before` (Unix
    /// milliseconds) and returns how many.
    pub async fn prune_event_deliveries(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query::<Any>("DELETE FROM ses_event_deliveries WHERE received_at < $1")
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    /// Applies SES events in one transaction and returns one outcome per
    /// event, in order. Either every event is applied or, on error, none.
    pub async fn apply_delivery_events(
        &self,
        events: &[DeliveryEvent],
    ) -> Result<Vec<EventOutcome>, StoreError> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let mut deltas = Deltas::default();
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            outcomes.push(apply_one(&mut tx, event, now, &mut deltas).await?);
        }
        write_deltas(&mut tx, &deltas).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Reads the facts recorded for the recipient of an SES message.
    pub async fn recipient_facts(
        &self,
        organization_id: OrgId,
        message_id: &str,
    ) -> Result<Option<RecipientFacts>, StoreError> {
        let row = sqlx::query::<Any>(
            "SELECT batch_id, contact_id, status, delivered_at, opened_at, clicked_at, bounced_at, \
             bounce_type, complained_at, suppressed_at, error FROM batch_recipients \
             WHERE message_id = $1 AND organization_id = $2",
        )
        .bind(message_id)
        .bind(organization_id.to_string())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| {
            Ok(RecipientFacts {
                batch_id: row.text("batch_id")?,
                contact_id: row.text("contact_id")?,
                status: row.text("status")?,
                delivered_at: row.opt_int("delivered_at")?,
                opened_at: row.opt_int("opened_at")?,
                clicked_at: row.opt_int("clicked_at")?,
                bounced_at: row.opt_int("bounced_at")?,
                bounce_type: row.opt_text("bounce_type")?,
                complained_at: row.opt_int("complained_at")?,
                suppressed_at: row.opt_int("suppressed_at")?,
                error: row.opt_text("error")?,
            })
        })
        .transpose()
    }

    /// Reads a message recorded from SES events that wrapsd did not send.
    pub async fn external_message(
        &self,
        organization_id: OrgId,
        message_id: &str,
    ) -> Result<Option<ExternalMessage>, StoreError> {
        let row = sqlx::query::<Any>(
            "SELECT message_id, status, sent_at, delivered_at, bounced_at, bounce_type, \
             complained_at, suppressed_at FROM external_messages \
             WHERE organization_id = $1 AND message_id = $2",
        )
        .bind(organization_id.to_string())
        .bind(message_id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| {
            Ok(ExternalMessage {
                message_id: row.text("message_id")?,
                status: row.text("status")?,
                sent_at: row.opt_int("sent_at")?,
                delivered_at: row.opt_int("delivered_at")?,
                bounced_at: row.opt_int("bounced_at")?,
                bounce_type: row.opt_text("bounce_type")?,
                complained_at: row.opt_int("complained_at")?,
                suppressed_at: row.opt_int("suppressed_at")?,
            })
        })
        .transpose()
    }
}

/// The recipient row an event is about: the batch and contact that make
/// its primary key.
struct RowKey {
    batch: String,
    contact: String,
}

/// Sets one first-seen column of the recipient row when it is still unset
/// and `guard` holds; returns whether the row changed.
async fn set_first_seen(
    tx: &mut Transaction<'static, Any>,
    column: &str,
    guard: &str,
    key: &RowKey,
    at: i64,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE batch_recipients SET {column} = $1 \
         WHERE batch_id = $2 AND contact_id = $3 AND {column} IS NULL{guard}"
    );
    let done = sqlx::query::<Any>(&sql)
        .bind(at)
        .bind(&key.batch)
        .bind(&key.contact)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Finds the recipient row of an event: by the `batchId` and `recipientId`
/// tags when the event has them, else by the SES message id.
async fn find_row(
    tx: &mut Transaction<'static, Any>,
    event: &DeliveryEvent,
    org: &str,
) -> Result<Option<RowKey>, StoreError> {
    if let (Some(batch), Some(contact)) = (&event.batch_id, &event.recipient_id) {
        let row = sqlx::query::<Any>(
            "SELECT batch_id, contact_id FROM batch_recipients \
             WHERE batch_id = $1 AND contact_id = $2 AND organization_id = $3",
        )
        .bind(batch)
        .bind(contact)
        .bind(org)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = row {
            return Ok(Some(RowKey {
                batch: row.text("batch_id")?,
                contact: row.text("contact_id")?,
            }));
        }
    }
    let row = sqlx::query::<Any>(
        "SELECT batch_id, contact_id FROM batch_recipients \
         WHERE message_id = $1 AND organization_id = $2",
    )
    .bind(&event.message_id)
    .bind(org)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| {
        Ok(RowKey {
            batch: row.text("batch_id")?,
            contact: row.text("contact_id")?,
        })
    })
    .transpose()
}

const NOT_BOUNCED: &str = " AND bounced_at IS NULL";

async fn apply_one(
    tx: &mut Transaction<'static, Any>,
    event: &DeliveryEvent,
    now: i64,
    deltas: &mut Deltas,
) -> Result<EventOutcome, StoreError> {
    let org = event.organization_id.to_string();
    let fresh = sqlx::query::<Any>(
        "INSERT INTO ses_event_deliveries (organization_id, delivery_key, received_at) \
         VALUES ($1, $2, $3) ON CONFLICT (organization_id, delivery_key) DO NOTHING",
    )
    .bind(&org)
    .bind(&event.delivery_key)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        > 0;
    if !fresh {
        return Ok(EventOutcome::Duplicate);
    }

    let Some(key) = find_row(tx, event, &org).await? else {
        apply_external(tx, event, now, deltas).await?;
        return Ok(EventOutcome::External);
    };
    let batch = key.batch.clone();
    let contact = key.contact.clone();
    let at = event.occurred_at;

    let applied = match event.fact {
        DeliveryFact::Send => false,
        DeliveryFact::Delivery => {
            let done = set_first_seen(tx, "delivered_at", NOT_BOUNCED, &key, at).await?;
            if done {
                deltas.batches.entry(batch).or_default().delivered += 1;
            }
            done
        }
        DeliveryFact::Open | DeliveryFact::Click => {
            let (column, opened) = match event.fact {
                DeliveryFact::Open => ("opened_at", true),
                _ => ("clicked_at", false),
            };
            let done = set_first_seen(tx, column, "", &key, at).await?;
            let delivered = set_first_seen(tx, "delivered_at", NOT_BOUNCED, &key, at).await?;
            let batch_delta = deltas.batches.entry(batch).or_default();
            batch_delta.delivered += i64::from(delivered);
            if done {
                if opened {
                    batch_delta.opened += 1;
                } else {
                    batch_delta.clicked += 1;
                }
                let contact = deltas.contact(&contact, &org);
                if opened {
                    contact.opened += 1;
                    contact.last_opened_at = contact.last_opened_at.max(Some(at));
                } else {
                    contact.clicked += 1;
                    contact.last_clicked_at = contact.last_clicked_at.max(Some(at));
                }
            }
            done || delivered
        }
        DeliveryFact::Bounce => {
            let done = sqlx::query::<Any>(
                "UPDATE batch_recipients SET bounced_at = $1, bounce_type = $2 \
                 WHERE batch_id = $3 AND contact_id = $4 AND bounced_at IS NULL",
            )
            .bind(at)
            .bind(event.bounce_type.clone())
            .bind(&key.batch)
            .bind(&key.contact)
            .execute(&mut **tx)
            .await?
            .rows_affected()
                > 0;
            if done {
                deltas.batches.entry(batch).or_default().bounced += 1;
            }
            // Only a permanent bounce means the address is dead. A transient
            // one (mailbox full, greylisting) leaves the contact alone.
            if event.is_permanent_bounce() {
                deltas
                    .contact(&contact, &org)
                    .change_status(StatusChange::Bounced, at);
            }
            done
        }
        DeliveryFact::Complaint => {
            let done = set_first_seen(tx, "complained_at", "", &key, at).await?;
            if done {
                deltas.batches.entry(batch).or_default().complained += 1;
            }
            deltas
                .contact(&contact, &org)
                .change_status(StatusChange::Complained, at);
            done
        }
        DeliveryFact::Suppressed => {
            let done = set_first_seen(tx, "suppressed_at", "", &key, at).await?;
            if done {
                deltas.batches.entry(batch).or_default().suppressed += 1;
            }
            deltas
                .contact(&contact, &org)
                .change_status(StatusChange::Suppressed, at);
            done
        }
        DeliveryFact::Reject => {
            sqlx::query::<Any>(
                "UPDATE batch_recipients SET error = 'Rejected by SES' \
                 WHERE batch_id = $1 AND contact_id = $2 AND error IS NULL \
                 AND bounced_at IS NULL AND complained_at IS NULL",
            )
            .bind(&key.batch)
            .bind(&key.contact)
            .execute(&mut **tx)
            .await?
            .rows_affected()
                > 0
        }
        DeliveryFact::RenderingFailure => {
            let error = format!(
                "Rendering failure: {}",
                event.error_message.as_deref().unwrap_or("no message")
            );
            let done = sqlx::query::<Any>(
                "UPDATE batch_recipients SET status = 'failed', error = $1 \
                 WHERE batch_id = $2 AND contact_id = $3 AND status = 'sent'",
            )
            .bind(error)
            .bind(&key.batch)
            .bind(&key.contact)
            .execute(&mut **tx)
            .await?
            .rows_affected()
                > 0;
            if done {
                deltas.batches.entry(batch).or_default().failed += 1;
            }
            done
        }
    };
    Ok(if applied {
        EventOutcome::Applied
    } else {
        EventOutcome::AlreadyKnown
    })
}

/// Records an event for a message wrapsd did not send. Only the lifecycle
/// events create a record; each later one sets its own first-seen time.
/// A permanent bounce, complaint or suppression still updates the contact
/// with that address, so mail sent with the customer's own SDK protects
/// broadcasts too.
async fn apply_external(
    tx: &mut Transaction<'static, Any>,
    event: &DeliveryEvent,
    now: i64,
    deltas: &mut Deltas,
) -> Result<(), StoreError> {
    let (status, column) = match event.fact {
        DeliveryFact::Send => ("sent", "sent_at"),
        DeliveryFact::Delivery => ("delivered", "delivered_at"),
        DeliveryFact::Bounce => ("bounced", "bounced_at"),
        DeliveryFact::Complaint => ("complained", "complained_at"),
        DeliveryFact::Suppressed => ("suppressed", "suppressed_at"),
        DeliveryFact::Open
        | DeliveryFact::Click
        | DeliveryFact::Reject
        | DeliveryFact::RenderingFailure => return Ok(()),
    };
    let org = event.organization_id.to_string();
    let sent_at = event.mail_timestamp.unwrap_or(event.occurred_at);
    let inserted = sqlx::query::<Any>(&format!(
        "INSERT INTO external_messages (organization_id, message_id, recipient, sender, subject, \
         status, sent_at, {column}, bounce_type, bounce_sub_type, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (organization_id, message_id) DO NOTHING"
    ))
    .bind(&org)
    .bind(&event.message_id)
    .bind(event.recipient.clone())
    .bind(event.source.clone())
    .bind(event.subject.clone())
    .bind(status)
    .bind(sent_at)
    .bind(event.occurred_at)
    .bind(event.bounce_type.clone())
    .bind(event.bounce_sub_type.clone())
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        > 0;
    if !inserted && column != "sent_at" {
        // A later fact: record its time once, and let a lifecycle event
        // move the status forward from `sent` or `delivered` only.
        sqlx::query::<Any>(&format!(
            "UPDATE external_messages SET {column} = $1, \
             bounce_type = COALESCE(bounce_type, $2), bounce_sub_type = COALESCE(bounce_sub_type, $3), \
             status = CASE WHEN status IN ('sent', 'delivered') THEN $4 ELSE status END \
             WHERE organization_id = $5 AND message_id = $6 AND {column} IS NULL"
        ))
        .bind(event.occurred_at)
        .bind(event.bounce_type.clone())
        .bind(event.bounce_sub_type.clone())
        .bind(status)
        .bind(&org)
        .bind(&event.message_id)
        .execute(&mut **tx)
        .await?;
    }

    let change = match event.fact {
        DeliveryFact::Bounce if event.is_permanent_bounce() => StatusChange::Bounced,
        DeliveryFact::Complaint => StatusChange::Complained,
        DeliveryFact::Suppressed => StatusChange::Suppressed,
        _ => return Ok(()),
    };
    let Some(recipient) = event.recipient.as_deref() else {
        return Ok(());
    };
    let contact = sqlx::query::<Any>(
        "SELECT id FROM contacts WHERE organization_id = $1 AND email_hash = $2",
    )
    .bind(&org)
    .bind(hash_identity(recipient))
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(contact) = contact {
        deltas
            .contact(&contact.text("id")?, &org)
            .change_status(change, event.occurred_at);
    }
    Ok(())
}

async fn write_deltas(
    tx: &mut Transaction<'static, Any>,
    deltas: &Deltas,
) -> Result<(), StoreError> {
    for (batch, delta) in &deltas.batches {
        if delta.is_empty() {
            continue;
        }
        // A rendering failure turns a sent message into a failed one.
        sqlx::query::<Any>(
            "UPDATE batches SET delivered = delivered + $1, opened = opened + $2, \
             clicked = clicked + $3, bounced = bounced + $4, complained = complained + $5, \
             suppressed = suppressed + $6, failed = failed + $7, sent = sent - $7 WHERE id = $8",
        )
        .bind(delta.delivered)
        .bind(delta.opened)
        .bind(delta.clicked)
        .bind(delta.bounced)
        .bind(delta.complained)
        .bind(delta.suppressed)
        .bind(delta.failed)
        .bind(batch)
        .execute(&mut **tx)
        .await?;
    }
    let now = now_millis();
    for (contact, delta) in &deltas.contacts {
        if delta.opened > 0 || delta.clicked > 0 {
            sqlx::query::<Any>(
                "UPDATE contacts SET emails_opened = emails_opened + $1, \
                 emails_clicked = emails_clicked + $2, \
                 last_email_opened_at = CASE WHEN $3 IS NOT NULL AND (last_email_opened_at IS NULL \
                     OR last_email_opened_at < $3) THEN $3 ELSE last_email_opened_at END, \
                 last_email_clicked_at = CASE WHEN $4 IS NOT NULL AND (last_email_clicked_at IS NULL \
                     OR last_email_clicked_at < $4) THEN $4 ELSE last_email_clicked_at END \
                 WHERE id = $5 AND organization_id = $6",
            )
            .bind(delta.opened)
            .bind(delta.clicked)
            .bind(delta.last_opened_at)
            .bind(delta.last_clicked_at)
            .bind(contact)
            .bind(&delta.organization_id)
            .execute(&mut **tx)
            .await?;
        }
        if let Some((change, at)) = delta.status {
            // The stronger status wins: complained over bounced over
            // suppressed over unsubscribed or active.
            let (status, column, weaker) = match change {
                StatusChange::Complained => (
                    "complained",
                    "email_complained_at",
                    "'active', 'unsubscribed', 'suppressed', 'bounced'",
                ),
                StatusChange::Bounced => (
                    "bounced",
                    "email_bounced_at",
                    "'active', 'unsubscribed', 'suppressed'",
                ),
                StatusChange::Suppressed => (
                    "suppressed",
                    "email_suppressed_at",
                    "'active', 'unsubscribed'",
                ),
            };
            sqlx::query::<Any>(&format!(
                "UPDATE contacts SET email_status = $1, {column} = COALESCE({column}, $2), updated_at = $3 \
                 WHERE id = $4 AND organization_id = $5 \
                 AND (email_status IS NULL OR email_status IN ({weaker}))"
            ))
            .bind(status)
            .bind(at)
            .bind(now)
            .bind(contact)
            .bind(&delta.organization_id)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}
