//! The frozen audience of a batch and the claim protocol that keeps every
//! recipient from being handed to SES twice.
//!
//! Fan-out writes one `batch_recipients` row per eligible contact, unique on
//! (batch, contact), numbered into chunks. A sender then:
//!
//! 1. claims a chunk with a fresh token: `pending` and `claimed` rows become
//!    `claimed` by that token, so a redelivered job takes over the claims of a
//!    sender that died before handing anything off;
//! 2. moves the rows it is about to send from `claimed` to `handed_off`, only
//!    where the token is still its own (a compare-and-set), and sends exactly
//!    the rows that moved;
//! 3. records each outcome, again only for rows carrying its token.
//!
//! A row that reached `handed_off` is never claimed again. If its sender
//! vanishes mid-call, the next claim of the chunk turns the row `unknown`,
//! because SES may have accepted it. A sender that was only slow can still
//! settle the row to `sent` or `failed` with its token.

use chrono::{DateTime, Utc};
use schemas::batches::{AudienceType, RecipientState};
use schemas::{BatchId, ContactId, OrgId};
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection};

use crate::batches::Batch;
use crate::db::{Backend, Store};
use crate::error::StoreError;
use crate::row::{millis, now_millis, RowExt};
use crate::sql::SqlBuilder;

/// Result of freezing a batch's audience.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FanOut {
    pub total: i64,
    pub chunk_count: i64,
    /// False when an earlier fan-out already froze the audience.
    pub fresh: bool,
}

/// A claimed recipient with the contact fields needed to render its message.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedRecipient {
    pub contact_id: ContactId,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub properties: Map<String, Value>,
}

/// The recipients of one chunk that this claim owns.
#[derive(Clone, Debug, Default)]
pub struct ChunkClaim {
    pub recipients: Vec<ClaimedRecipient>,
    /// Rows that became ineligible since fan-out and were skipped.
    pub skipped: i64,
    /// Rows an earlier sender handed off without recording an outcome.
    pub unknown: i64,
}

/// Outcome of one recipient handed to SES.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientOutcome {
    Sent {
        message_id: String,
    },
    Failed {
        error: String,
    },
    /// SES may have accepted the message; it is never resent.
    Unknown {
        error: String,
    },
    /// SES did not accept it (throttled, 5xx, not sent at all): the row goes
    /// back to `pending` for a later attempt.
    Retry,
}

/// Counts of the outcomes that were applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordedOutcomes {
    pub sent: i64,
    pub failed: i64,
    pub unknown: i64,
    pub retried: i64,
}

/// One recipient as listed by the API.
#[derive(Clone, Debug, PartialEq)]
pub struct RecipientRow {
    pub id: String,
    pub email: String,
    pub state: RecipientState,
    pub error: Option<String>,
    pub message_id: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Email eligibility of contact `c`: an address and a sendable status. The
/// audience count of the API uses it too, so a counted total matches the
/// audience fan-out freezes.
pub(crate) const ELIGIBLE: &str =
    "c.email IS NOT NULL AND (c.email_status IS NULL OR c.email_status = 'active')";

/// Most contact ids bound in one `IN` list.
pub(crate) const IN_LIST_BATCH: usize = 500;

fn uuid_expression(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "gen_random_uuid()::text",
        Backend::Sqlite => {
            "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) \
             || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) \
             || '-' || hex(randomblob(6)))"
        }
    }
}

fn recipient_from_row(row: &AnyRow) -> Result<RecipientRow, StoreError> {
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

impl Store {
    /// Freezes the audience of `batch` into recipient rows numbered into
    /// chunks of `chunk_size`, sets the exact total and moves the batch from
    /// `queued` to `processing`, all in one transaction. Calling it again
    /// for a batch already fanned out changes nothing.
    pub async fn fan_out_batch(
        &self,
        batch: &Batch,
        chunk_size: i64,
    ) -> Result<FanOut, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query::<Any>(&format!(
            "SELECT fanned_out_at, total_recipients, chunk_count FROM batches WHERE id = $1{}",
            self.backend.for_update()
        ))
        .bind(batch.id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound("Batch not found"));
        };
        if row.opt_int("fanned_out_at")?.is_some() {
            return Ok(FanOut {
                total: row.int("total_recipients")?,
                chunk_count: row.int("chunk_count")?,
                fresh: false,
            });
        }

        let now = now_millis();
        let total = match batch.audience_type {
            AudienceType::List => {
                let ids = batch.recipient_list.clone().unwrap_or_default();
                let mut inserted = 0;
                for group in ids.chunks(IN_LIST_BATCH) {
                    inserted += self
                        .insert_recipients(&mut tx, batch, chunk_size, now, inserted, Some(group))
                        .await?;
                }
                inserted
            }
            // Segments are not evaluated yet; an unknown audience fails closed.
            AudienceType::Segment => 0,
            AudienceType::All | AudienceType::Topic => {
                self.insert_recipients(&mut tx, batch, chunk_size, now, 0, None)
                    .await?
            }
        };
        let chunk_count = (total + chunk_size - 1) / chunk_size;

        sqlx::query::<Any>(
            "UPDATE batches SET total_recipients = $1, chunk_count = $2, fanned_out_at = $3, \
             status = CASE WHEN status = 'queued' THEN 'processing' ELSE status END, \
             started_at = COALESCE(started_at, $3), last_progress_at = $3, updated_at = $3 WHERE id = $4",
        )
        .bind(total)
        .bind(chunk_count)
        .bind(now)
        .bind(batch.id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;

        // Fresh statistics let PostgreSQL's planner pick the primary key for
        // the per-call updates that follow. With the statistics of an empty
        // table it may scan the status index instead, which grows with
        // every update until a vacuum runs.
        if self.backend == Backend::Postgres {
            if let Err(err) = sqlx::query::<Any>("ANALYZE batch_recipients")
                .execute(&self.writer)
                .await
            {
                tracing::warn!(batch_id = %batch.id, error = %err, "analyzing batch_recipients after fan-out failed");
            }
        }

        tracing::info!(batch_id = %batch.id, total, chunk_count, "batch audience frozen");
        Ok(FanOut {
            total,
            chunk_count,
            fresh: true,
        })
    }

    /// Inserts the eligible contacts of the batch's audience (or of `ids`
    /// for a list), numbering chunks from recipient `offset`.
    async fn insert_recipients(
        &self,
        conn: &mut AnyConnection,
        batch: &Batch,
        chunk_size: i64,
        now: i64,
        offset: i64,
        ids: Option<&[String]>,
    ) -> Result<i64, StoreError> {
        let leading = vec![
            offset.into(),
            chunk_size.into(),
            now.into(),
            batch.id.to_string().into(),
            batch.organization_id.to_string().into(),
        ];
        let mut sql = SqlBuilder::with_params(
            self.backend,
            &format!(
                "INSERT INTO batch_recipients (batch_id, contact_id, id, organization_id, email, chunk_index, status, created_at) \
                 SELECT b.id, c.id, {}, c.organization_id, c.email, \
                 ($1 + ROW_NUMBER() OVER (ORDER BY c.id) - 1) / $2, 'pending', $3 \
                 FROM contacts c JOIN batches b ON b.id = $4 WHERE c.organization_id = $5 AND {ELIGIBLE}",
                uuid_expression(self.backend)
            ),
            leading,
        );
        if let Some(topic) = batch
            .topic_id
            .filter(|_| batch.audience_type == AudienceType::Topic)
        {
            sql.push(" AND EXISTS (SELECT 1 FROM contact_topics t WHERE t.contact_id = c.id AND t.topic_id = ")
                .bind(topic.to_string())
                .push(" AND t.status = 'subscribed')");
        }
        if let Some(ids) = ids {
            sql.push(" AND c.id IN ")
                .bind_list(ids.iter().map(String::as_str));
        }
        sql.push(" ON CONFLICT (batch_id, contact_id) DO NOTHING");

        let result = sql.build().execute(&mut *conn).await?;
        Ok(result.rows_affected() as i64)
    }

    /// Claims chunk `chunk_index` of a batch for `token`. Ineligible
    /// contacts are skipped, and rows an earlier sender handed off without
    /// an outcome become `unknown`.
    pub async fn claim_chunk(
        &self,
        batch: &Batch,
        chunk_index: i64,
        token: &str,
    ) -> Result<ChunkClaim, StoreError> {
        let now = now_millis();
        let batch_id = batch.id.to_string();
        let mut tx = self.begin_write().await?;

        let unknown = sqlx::query::<Any>(
            "UPDATE batch_recipients SET status = 'unknown', \
             error = 'the dispatcher stopped during its SES call; SES may have accepted the message' \
             WHERE batch_id = $1 AND chunk_index = $2 AND status = 'handed_off' AND claim_token <> $3",
        )
        .bind(batch_id.clone())
        .bind(chunk_index)
        .bind(token)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;

        sqlx::query::<Any>(
            "UPDATE batch_recipients SET status = 'claimed', claim_token = $1, claimed_at = $2 \
             WHERE batch_id = $3 AND chunk_index = $4 AND status IN ('pending', 'claimed')",
        )
        .bind(token)
        .bind(now)
        .bind(batch_id.clone())
        .bind(chunk_index)
        .execute(&mut *tx)
        .await?;

        let mut still_eligible = format!(
            "SELECT 1 FROM contacts c WHERE c.id = batch_recipients.contact_id AND {ELIGIBLE}"
        );
        if let Some(topic) = batch
            .topic_id
            .filter(|_| batch.audience_type == AudienceType::Topic)
        {
            still_eligible.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM contact_topics t WHERE t.contact_id = c.id AND t.topic_id = '{topic}' AND t.status = 'subscribed')"
            ));
        }
        let skipped = sqlx::query::<Any>(&format!(
            "UPDATE batch_recipients SET status = 'skipped', \
             error = 'the contact unsubscribed, bounced, complained or was deleted before the send' \
             WHERE batch_id = $1 AND chunk_index = $2 AND status = 'claimed' AND claim_token = $3 \
             AND NOT EXISTS ({still_eligible})"
        ))
        .bind(batch_id.clone())
        .bind(chunk_index)
        .bind(token)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;

        let rows = sqlx::query::<Any>(
            "SELECT c.id, c.email, c.first_name, c.last_name, c.company, c.job_title, c.properties \
             FROM batch_recipients r JOIN contacts c ON c.id = r.contact_id \
             WHERE r.batch_id = $1 AND r.chunk_index = $2 AND r.status = 'claimed' AND r.claim_token = $3 \
             ORDER BY c.id",
        )
        .bind(batch_id)
        .bind(chunk_index)
        .bind(token)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;

        let recipients = rows
            .iter()
            .map(|row| {
                Ok(ClaimedRecipient {
                    contact_id: row.id("id")?,
                    email: row.text("email")?,
                    first_name: row.opt_text("first_name")?,
                    last_name: row.opt_text("last_name")?,
                    company: row.opt_text("company")?,
                    job_title: row.opt_text("job_title")?,
                    properties: row.json_object("properties")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(ChunkClaim {
            recipients,
            skipped,
            unknown,
        })
    }

    /// Moves `contacts` from `claimed` to `handed_off` where the claim is
    /// still `token`'s, and returns the ones that moved: only those may be
    /// given to SES.
    pub async fn hand_off(
        &self,
        batch_id: BatchId,
        token: &str,
        contacts: &[ContactId],
    ) -> Result<Vec<ContactId>, StoreError> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let mut moved = Vec::with_capacity(contacts.len());
        let mut tx = self.begin_write().await?;
        for group in contacts.chunks(IN_LIST_BATCH) {
            let mut sql = SqlBuilder::new(
                self.backend,
                "UPDATE batch_recipients SET status = 'handed_off' WHERE batch_id = ",
            );
            sql.bind(batch_id.to_string())
                .push(" AND claim_token = ")
                .bind(token)
                .push(" AND status = 'claimed' AND contact_id IN ")
                .bind_list(group.iter().map(|id| id.to_string()))
                .push(" RETURNING contact_id");
            for row in sql.build().fetch_all(&mut *tx).await? {
                moved.push(row.id("contact_id")?);
            }
        }
        tx.commit().await?;
        Ok(moved)
    }

    /// Puts `token`'s claimed rows of a chunk back to `pending`, before the
    /// chunk is retried later (throttled, account paused).
    pub async fn release_claims(
        &self,
        batch_id: BatchId,
        chunk_index: i64,
        token: &str,
    ) -> Result<i64, StoreError> {
        let released = sqlx::query::<Any>(
            "UPDATE batch_recipients SET status = 'pending', claim_token = NULL, claimed_at = NULL \
             WHERE batch_id = $1 AND chunk_index = $2 AND status = 'claimed' AND claim_token = $3",
        )
        .bind(batch_id.to_string())
        .bind(chunk_index)
        .bind(token)
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(released as i64)
    }

    /// Records the outcome of recipients `token` handed off, and counts the
    /// contacts' sent mail. Rows that are no longer `token`'s are left alone.
    pub async fn record_outcomes(
        &self,
        batch_id: BatchId,
        token: &str,
        outcomes: &[(ContactId, RecipientOutcome)],
    ) -> Result<RecordedOutcomes, StoreError> {
        let now = now_millis();
        let mut recorded = RecordedOutcomes::default();
        let mut tx = self.begin_write().await?;

        for group in outcomes.chunks(IN_LIST_BATCH) {
            let sent: Vec<(&ContactId, &str)> = group
                .iter()
                .filter_map(|(id, outcome)| match outcome {
                    RecipientOutcome::Sent { message_id } => Some((id, message_id.as_str())),
                    _ => None,
                })
                .collect();
            if !sent.is_empty() {
                let mut sql = SqlBuilder::new(
                    self.backend,
                    "UPDATE batch_recipients SET status = 'sent', error = NULL, sent_at = ",
                );
                sql.bind(now).push(", message_id = CASE contact_id");
                for (id, message_id) in &sent {
                    sql.push(" WHEN ")
                        .bind(id.to_string())
                        .push(" THEN ")
                        .bind(*message_id);
                }
                sql.push(" END WHERE batch_id = ")
                    .bind(batch_id.to_string());
                sql.push(" AND claim_token = ").bind(token);
                sql.push(" AND status IN ('handed_off', 'unknown') AND contact_id IN ")
                    .bind_list(sent.iter().map(|(id, _)| id.to_string()))
                    .push(" RETURNING contact_id");
                let rows = sql.build().fetch_all(&mut *tx).await?;
                recorded.sent += rows.len() as i64;

                let mut counted = SqlBuilder::new(
                    self.backend,
                    "UPDATE contacts SET emails_sent = emails_sent + 1, last_email_sent_at = ",
                );
                counted.bind(now).push(" WHERE id IN ");
                let ids: Vec<String> = rows
                    .iter()
                    .map(|row| row.text("contact_id"))
                    .collect::<Result<_, _>>()?;
                if !ids.is_empty() {
                    counted.bind_list(ids.iter().map(String::as_str));
                    counted.build().execute(&mut *tx).await?;
                }
            }

            for (state, matches) in [
                ("failed", is_failed as fn(&RecipientOutcome) -> bool),
                ("unknown", is_unknown),
            ] {
                let rows: Vec<(&ContactId, &str)> = group
                    .iter()
                    .filter(|(_, outcome)| matches(outcome))
                    .map(|(id, outcome)| (id, outcome_error(outcome)))
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                let mut sql =
                    SqlBuilder::new(self.backend, "UPDATE batch_recipients SET status = ");
                sql.bind(state).push(", error = CASE contact_id");
                for (id, error) in &rows {
                    sql.push(" WHEN ")
                        .bind(id.to_string())
                        .push(" THEN ")
                        .bind(*error);
                }
                sql.push(" END WHERE batch_id = ")
                    .bind(batch_id.to_string());
                sql.push(" AND claim_token = ").bind(token);
                sql.push(" AND status IN ('handed_off', 'unknown') AND contact_id IN ")
                    .bind_list(rows.iter().map(|(id, _)| id.to_string()));
                let applied = sql.build().execute(&mut *tx).await?.rows_affected() as i64;
                if state == "failed" {
                    recorded.failed += applied;
                } else {
                    recorded.unknown += applied;
                }
            }

            let retry: Vec<String> = group
                .iter()
                .filter(|(_, outcome)| *outcome == RecipientOutcome::Retry)
                .map(|(id, _)| id.to_string())
                .collect();
            if !retry.is_empty() {
                let mut sql = SqlBuilder::new(
                    self.backend,
                    "UPDATE batch_recipients SET status = 'pending', claim_token = NULL, claimed_at = NULL WHERE batch_id = ",
                );
                sql.bind(batch_id.to_string())
                    .push(" AND claim_token = ")
                    .bind(token)
                    .push(" AND status = 'handed_off' AND contact_id IN ")
                    .bind_list(retry.iter().map(String::as_str));
                recorded.retried += sql.build().execute(&mut *tx).await?.rows_affected() as i64;
            }
        }
        tx.commit().await?;
        Ok(recorded)
    }

    /// Fails every pending or claimed recipient of a batch with `error`,
    /// returning how many were failed.
    pub async fn fail_unsent_recipients(
        &self,
        batch_id: BatchId,
        error: &str,
    ) -> Result<i64, StoreError> {
        let failed = sqlx::query::<Any>(
            "UPDATE batch_recipients SET status = 'failed', error = $1 \
             WHERE batch_id = $2 AND status IN ('pending', 'claimed')",
        )
        .bind(error)
        .bind(batch_id.to_string())
        .execute(&self.writer)
        .await?
        .rows_affected();
        Ok(failed as i64)
    }

    /// Chunks of a batch that still have pending or claimed recipients.
    pub async fn unfinished_chunks(&self, batch_id: BatchId) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query::<Any>(
            "SELECT DISTINCT chunk_index FROM batch_recipients \
             WHERE batch_id = $1 AND status IN ('pending', 'claimed') ORDER BY chunk_index",
        )
        .bind(batch_id.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(|row| row.int("chunk_index")).collect()
    }

    /// Reports whether a sender claimed or handed off any recipient of the
    /// batch after `since`, that is, whether a dispatcher may still be
    /// working on it.
    pub async fn batch_recently_claimed(
        &self,
        batch_id: BatchId,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query::<Any>(
            "SELECT COUNT(*) AS n FROM batch_recipients \
             WHERE batch_id = $1 AND status IN ('claimed', 'handed_off') AND claimed_at > $2",
        )
        .bind(batch_id.to_string())
        .bind(millis(since))
        .fetch_one(&self.reader)
        .await?;
        Ok(row.int("n")? > 0)
    }

    /// Completes a processing batch once no recipient is pending, claimed or
    /// handed off, setting its counters from the rows. Returns whether it
    /// completed now.
    pub async fn try_complete_batch(&self, batch_id: BatchId) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        // LIMIT 1 keeps this check cheap while a large batch is under way,
        // since it runs after every chunk.
        let open = sqlx::query::<Any>(
            "SELECT 1 AS open FROM batch_recipients WHERE batch_id = $1 \
             AND status IN ('pending', 'claimed', 'handed_off') LIMIT 1",
        )
        .bind(batch_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if open.is_some() {
            return Ok(false);
        }

        let rows = sqlx::query::<Any>("SELECT status, COUNT(*) AS n FROM batch_recipients WHERE batch_id = $1 GROUP BY status")
            .bind(batch_id.to_string())
            .fetch_all(&mut *tx)
            .await?;
        let mut counts = std::collections::HashMap::new();
        for row in &rows {
            counts.insert(row.text("status")?, row.int("n")?);
        }
        let count = |state: &str| counts.get(state).copied().unwrap_or(0);
        let processed: i64 = counts.values().sum();

        let now = now_millis();
        let completed = sqlx::query::<Any>(
            "UPDATE batches SET status = 'completed', completed_at = $1, updated_at = $1, paused_reason = NULL, \
             processed_recipients = $2, sent = $3, failed = $4, unknown = $5, skipped = $6, last_progress_at = $1 \
             WHERE id = $7 AND status = 'processing' AND fanned_out_at IS NOT NULL",
        )
        .bind(now)
        .bind(processed)
        .bind(count("sent"))
        .bind(count("failed"))
        .bind(count("unknown"))
        .bind(count("skipped"))
        .bind(batch_id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        if completed {
            tracing::info!(batch_id = %batch_id, sent = count("sent"), failed = count("failed"), unknown = count("unknown"), skipped = count("skipped"), "batch completed");
        }
        Ok(completed)
    }

    /// Lists a batch's recipients, newest first.
    pub async fn list_batch_recipients(
        &self,
        org: OrgId,
        batch_id: BatchId,
        state: Option<RecipientState>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<RecipientRow>, i64), StoreError> {
        let mut count = SqlBuilder::new(
            self.backend,
            "SELECT COUNT(*) AS n FROM batch_recipients WHERE batch_id = ",
        );
        count
            .bind(batch_id.to_string())
            .push(" AND organization_id = ")
            .bind(org.to_string());
        if let Some(state) = state {
            count.push(" AND status = ").bind(state.as_str());
        }
        let total = count.build().fetch_one(&self.reader).await?.int("n")?;

        let mut page = SqlBuilder::new(
            self.backend,
            "SELECT id, email, status, error, message_id, sent_at, created_at FROM batch_recipients WHERE batch_id = ",
        );
        page.bind(batch_id.to_string())
            .push(" AND organization_id = ")
            .bind(org.to_string());
        if let Some(state) = state {
            page.push(" AND status = ").bind(state.as_str());
        }
        page.push(" ORDER BY created_at DESC, contact_id DESC LIMIT ")
            .bind(limit)
            .push(" OFFSET ")
            .bind(offset);
        let rows = page.build().fetch_all(&self.reader).await?;
        let recipients = rows
            .iter()
            .map(recipient_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((recipients, total))
    }
}

fn is_failed(outcome: &RecipientOutcome) -> bool {
    matches!(outcome, RecipientOutcome::Failed { .. })
}

fn is_unknown(outcome: &RecipientOutcome) -> bool {
    matches!(outcome, RecipientOutcome::Unknown { .. })
}

fn outcome_error(outcome: &RecipientOutcome) -> &str {
    match outcome {
        RecipientOutcome::Failed { error } | RecipientOutcome::Unknown { error } => error,
        _ => "",
    }
}
