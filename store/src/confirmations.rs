//! Double opt-in confirmation emails: the AWS connection and sender they go
//! through, the state a confirmation job or page reads, and the claim that
//! lets a job delivered twice send one email.
//!
//! `contact_topics.confirmation_sent_at` is the claim. The dispatcher sets
//! it right before the SES call, only on a pending row where it is NULL, so
//! one of any number of concurrent jobs wins. The winner clears it again
//! when SES rejects the email, so a later delivery of the job retries. A
//! dispatcher that dies during the call leaves it set, because SES may have
//! accepted the email, and the period then sends nothing more.

use chrono::{DateTime, Utc};
use schemas::contacts::SubscriptionStatus;
use schemas::{ConnectionId, ContactId, OrgId, TopicId};
use sqlx::Any;

use crate::db::Store;
use crate::error::StoreError;
use crate::recipients::ELIGIBLE;
use crate::row::{now_millis, RowExt};

/// The AWS connection an organisation's confirmation emails go through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmationRoute {
    pub connection_id: ConnectionId,
    /// The 12-digit AWS account number, which picks the dispatcher shard.
    pub account_id: String,
}

/// The `From` of a confirmation email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmationSender {
    pub from_email: String,
    pub from_name: Option<String>,
}

/// A contact and its subscription to one topic, as read by a confirmation
/// job or the confirmation page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmationState {
    pub email: Option<String>,
    /// The contact has an address and an `active` (or no) email status,
    /// the rule broadcasts send by.
    pub sendable: bool,
    /// `None` when the topic no longer exists.
    pub topic_name: Option<String>,
    /// `None` when the contact has no subscription to the topic.
    pub status: Option<SubscriptionStatus>,
    /// When this pending period's email was handed to SES.
    pub confirmation_sent_at: Option<DateTime<Utc>>,
}

/// Proof of a won claim, needed to release it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfirmationClaim(i64);

impl Store {
    /// Returns the connection for an organisation's confirmation emails:
    /// the connection of its newest email batch that named a sender, whose
    /// sender is verified in that account, else its oldest email-enabled
    /// connection, else its oldest connection. `None` when it has none.
    pub async fn confirmation_route(
        &self,
        org: OrgId,
    ) -> Result<Option<ConfirmationRoute>, StoreError> {
        let used = sqlx::query::<Any>(
            "SELECT a.id, a.account_id FROM batches b \
             JOIN aws_connections a ON a.id = b.aws_connection_id AND a.organization_id = b.organization_id \
             WHERE b.organization_id = $1 AND b.channel = 'email' \
             AND b.from_email IS NOT NULL AND TRIM(b.from_email) <> '' \
             ORDER BY b.created_at DESC, b.id DESC LIMIT 1",
        )
        .bind(org.to_string())
        .fetch_optional(&self.reader)
        .await?;
        let row = match used {
            Some(row) => Some(row),
            None => {
                sqlx::query::<Any>(
                    "SELECT id, account_id FROM aws_connections WHERE organization_id = $1 \
                     ORDER BY email_enabled DESC, created_at, id LIMIT 1",
                )
                .bind(org.to_string())
                .fetch_optional(&self.reader)
                .await?
            }
        };
        row.map(|row| {
            Ok(ConfirmationRoute {
                connection_id: row.id("id")?,
                account_id: row.text("account_id")?,
            })
        })
        .transpose()
    }

    /// Returns the sender of the organisation's newest email batch through
    /// `connection`, the address most likely verified in that account.
    /// `None` when no batch through it named a sender.
    pub async fn confirmation_sender(
        &self,
        org: OrgId,
        connection: ConnectionId,
    ) -> Result<Option<ConfirmationSender>, StoreError> {
        let row = sqlx::query::<Any>(
            "SELECT from_email, from_name FROM batches \
             WHERE organization_id = $1 AND aws_connection_id = $2 AND channel = 'email' \
             AND from_email IS NOT NULL AND TRIM(from_email) <> '' \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(org.to_string())
        .bind(connection.to_string())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| {
            Ok(ConfirmationSender {
                from_email: row.text("from_email")?.trim().to_owned(),
                from_name: row.opt_text("from_name")?,
            })
        })
        .transpose()
    }

    /// Reads the contact and its subscription to `topic`. `None` when the
    /// contact is not in `org`.
    pub async fn confirmation_state(
        &self,
        org: OrgId,
        contact: ContactId,
        topic: TopicId,
    ) -> Result<Option<ConfirmationState>, StoreError> {
        let sql = format!(
            "SELECT c.email, CASE WHEN {ELIGIBLE} THEN 1 ELSE 0 END AS sendable, \
             t.name AS topic_name, ct.status, ct.confirmation_sent_at \
             FROM contacts c \
             LEFT JOIN topics t ON t.id = $3 AND t.organization_id = c.organization_id \
             LEFT JOIN contact_topics ct ON ct.contact_id = c.id AND ct.topic_id = t.id \
             WHERE c.id = $1 AND c.organization_id = $2"
        );
        let row = sqlx::query::<Any>(&sql)
            .bind(contact.to_string())
            .bind(org.to_string())
            .bind(topic.to_string())
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| {
            Ok(ConfirmationState {
                email: row.opt_text("email")?,
                sendable: row.flag("sendable")?,
                topic_name: row.opt_text("topic_name")?,
                status: row.opt_enum("status", SubscriptionStatus::parse)?,
                confirmation_sent_at: row.opt_ts("confirmation_sent_at")?,
            })
        })
        .transpose()
    }

    /// Claims the confirmation email of a pending subscription. Returns
    /// `None` when the subscription is not pending or its email was already
    /// claimed in this pending period.
    pub async fn claim_confirmation(
        &self,
        org: OrgId,
        contact: ContactId,
        topic: TopicId,
    ) -> Result<Option<ConfirmationClaim>, StoreError> {
        let now = now_millis();
        let claimed = sqlx::query::<Any>(
            "UPDATE contact_topics SET confirmation_sent_at = $1 \
             WHERE organization_id = $2 AND contact_id = $3 AND topic_id = $4 \
             AND status = 'pending' AND confirmation_sent_at IS NULL",
        )
        .bind(now)
        .bind(org.to_string())
        .bind(contact.to_string())
        .bind(topic.to_string())
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok((claimed > 0).then_some(ConfirmationClaim(now)))
    }

    /// Gives a claim back after SES rejected the email, so the next
    /// delivery of the job can send it. Returns false when the claim was
    /// already replaced, for example by a new pending period.
    pub async fn release_confirmation(
        &self,
        org: OrgId,
        contact: ContactId,
        topic: TopicId,
        claim: ConfirmationClaim,
    ) -> Result<bool, StoreError> {
        let released = sqlx::query::<Any>(
            "UPDATE contact_topics SET confirmation_sent_at = NULL \
             WHERE organization_id = $1 AND contact_id = $2 AND topic_id = $3 \
             AND confirmation_sent_at = $4",
        )
        .bind(org.to_string())
        .bind(contact.to_string())
        .bind(topic.to_string())
        .bind(claim.0)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(released > 0)
    }
}
