//! Signing keys of unsubscribe links, and the unsubscribe itself.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use schemas::unsubscribe::{SigningKey, UnsubscribeClaims, UnsubscribeKeys};
use sqlx::Any;

use crate::row::{now_millis, RowExt};
use crate::{Store, StoreError};

const PURPOSE: &str = "unsubscribe";

/// The result of an unsubscribe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubscribeOutcome {
    /// The contact's address, for the confirmation page (shown masked).
    pub email: Option<String>,
    /// The topic's name, for a topic-scoped link.
    pub topic_name: Option<String>,
    /// False when the contact was already unsubscribed, so a repeated
    /// request changes nothing.
    pub changed: bool,
}

fn random_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

impl Store {
    /// Returns every unsubscribe signing key, creating version 1 on first
    /// use. Concurrent first calls agree on one key.
    pub async fn unsubscribe_keys(&self) -> Result<UnsubscribeKeys, StoreError> {
        if let Some(keys) = self.read_unsubscribe_keys().await? {
            return Ok(keys);
        }
        sqlx::query::<Any>(
            "INSERT INTO signing_keys (purpose, version, secret, created_at) \
             VALUES ($1, 1, $2, $3) ON CONFLICT (purpose, version) DO NOTHING",
        )
        .bind(PURPOSE)
        .bind(random_secret())
        .bind(now_millis())
        .execute(&self.writer)
        .await?;
        tracing::info!("unsubscribe signing key 1 created");
        self.read_unsubscribe_keys().await?.ok_or_else(|| {
            StoreError::Invalid("no unsubscribe signing key after creating one".into())
        })
    }

    async fn read_unsubscribe_keys(&self) -> Result<Option<UnsubscribeKeys>, StoreError> {
        let rows = sqlx::query::<Any>(
            "SELECT version, secret FROM signing_keys WHERE purpose = $1 ORDER BY version",
        )
        .bind(PURPOSE)
        .fetch_all(&self.writer)
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in &rows {
            let version = row.int("version")?;
            let secret = row.text("secret")?;
            let secret = STANDARD.decode(secret).map_err(|err| {
                StoreError::Invalid(format!("signing key {version} is not base64: {err}"))
            })?;
            let version = u8::try_from(version).map_err(|_| {
                StoreError::Invalid(format!("signing key version {version} is out of range"))
            })?;
            keys.push(SigningKey { version, secret });
        }
        Ok(UnsubscribeKeys::new(keys))
    }

    /// Adds the next key version; new links are signed with it once each
    /// process reloads its keys, and links signed before stay valid.
    pub async fn rotate_unsubscribe_key(&self) -> Result<u8, StoreError> {
        let current = self.unsubscribe_keys().await?.current_version();
        let next = current
            .checked_add(1)
            .ok_or_else(|| StoreError::Invalid("all 255 key versions are used".into()))?;
        let inserted = sqlx::query::<Any>(
            "INSERT INTO signing_keys (purpose, version, secret, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (purpose, version) DO NOTHING",
        )
        .bind(PURPOSE)
        .bind(i32::from(next))
        .bind(random_secret())
        .bind(now_millis())
        .execute(&self.writer)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::Conflict(
                "another rotation created the same key version; run it again".into(),
            ));
        }
        tracing::info!(version = next, "unsubscribe signing key rotated");
        Ok(next)
    }

    /// Looks up the contact and topic a token names, without changing
    /// anything; `None` when the contact is not in the token's organisation.
    pub async fn unsubscribe_preview(
        &self,
        claims: &UnsubscribeClaims,
    ) -> Result<Option<UnsubscribeOutcome>, StoreError> {
        let row = sqlx::query::<Any>(
            "SELECT c.email, c.email_status, t.name AS topic_name, ct.status AS topic_status \
             FROM contacts c \
             LEFT JOIN topics t ON t.id = $3 AND t.organization_id = c.organization_id \
             LEFT JOIN contact_topics ct ON ct.contact_id = c.id AND ct.topic_id = t.id \
             WHERE c.id = $1 AND c.organization_id = $2",
        )
        .bind(claims.contact_id.to_string())
        .bind(claims.organization_id.to_string())
        .bind(claims.topic_id.map(|t| t.to_string()))
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let email = row.opt_text("email")?;
        let topic_name = row.opt_text("topic_name")?;
        let already = match claims.topic_id {
            Some(_) => row.opt_text("topic_status")?.as_deref() == Some("unsubscribed"),
            None => row.opt_text("email_status")?.as_deref() == Some("unsubscribed"),
        };
        Ok(Some(UnsubscribeOutcome {
            email,
            topic_name,
            changed: !already,
        }))
    }

    /// Unsubscribes the contact a verified token names: from the token's
    /// topic, or from every topic and all marketing mail. Idempotent: a
    /// second call changes nothing and reports `changed: false`. `None` when
    /// the contact is not in the token's organisation.
    pub async fn unsubscribe(
        &self,
        claims: &UnsubscribeClaims,
    ) -> Result<Option<UnsubscribeOutcome>, StoreError> {
        let Some(mut outcome) = self.unsubscribe_preview(claims).await? else {
            return Ok(None);
        };
        let now = now_millis();
        let contact = claims.contact_id.to_string();
        let org = claims.organization_id.to_string();

        let mut tx = self.begin_write().await?;
        let changed = match claims.topic_id {
            Some(topic) => sqlx::query::<Any>(
                "UPDATE contact_topics SET status = 'unsubscribed', unsubscribed_at = $1 \
                     WHERE contact_id = $2 AND topic_id = $3 AND organization_id = $4 \
                     AND status <> 'unsubscribed'",
            )
            .bind(now)
            .bind(&contact)
            .bind(topic.to_string())
            .bind(&org)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            None => {
                let topics = sqlx::query::<Any>(
                    "UPDATE contact_topics SET status = 'unsubscribed', unsubscribed_at = $1 \
                     WHERE contact_id = $2 AND organization_id = $3 AND status <> 'unsubscribed'",
                )
                .bind(now)
                .bind(&contact)
                .bind(&org)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                // A bounced, complained or suppressed address keeps that
                // status, which already stops mail; only the time is noted.
                let status = sqlx::query::<Any>(
                    "UPDATE contacts SET \
                     email_status = CASE WHEN email_status IS NULL OR email_status = 'active' \
                         THEN 'unsubscribed' ELSE email_status END, \
                     email_unsubscribed_at = $1, updated_at = $1 \
                     WHERE id = $2 AND organization_id = $3 \
                     AND (email_status IS NULL OR email_status = 'active' OR email_unsubscribed_at IS NULL)",
                )
                .bind(now)
                .bind(&contact)
                .bind(&org)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                topics + status
            }
        };
        tx.commit().await?;

        // TODO: emit topic_unsubscribed for workflows once workflow events
        // exist; the rows changed here are the topics to emit it for.
        outcome.changed = changed > 0;
        if outcome.changed {
            tracing::info!(organization_id = %claims.organization_id, contact_id = %claims.contact_id, topic_id = ?claims.topic_id, "contact unsubscribed");
        }
        Ok(Some(outcome))
    }
}
