//! Batches (broadcasts): the batch row, its status machine and its counters.
//!
//! Every status change is a compare-and-set from an allowed set of previous
//! states, so a cancel can never be undone by a sender that was mid-chunk,
//! and a resume cannot revive a completed batch.

use chrono::{DateTime, Utc};
use schemas::batches::{AudienceType, BatchStatus, VariableMapping};
use schemas::{BatchId, ConnectionId, OrgId, TemplateId, TopicId};
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::Any;

use crate::db::Store;
use crate::error::StoreError;
use crate::row::{millis, now_millis, RowExt};
use crate::sql::SqlBuilder;

/// A stored batch with everything the API and the sender need.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub id: BatchId,
    pub organization_id: OrgId,
    pub connection_id: Option<ConnectionId>,
    pub name: String,
    pub channel: String,
    pub status: BatchStatus,
    pub audience_type: AudienceType,
    pub topic_id: Option<TopicId>,
    pub segment_id: Option<String>,
    /// Contact ids of a `list` audience, resolved when the batch was created.
    pub recipient_list: Option<Vec<String>>,
    pub subject: Option<String>,
    pub preview_text: Option<String>,
    pub from_email: Option<String>,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    pub template_id: Option<TemplateId>,
    pub html_content: Option<String>,
    pub variable_mappings: Vec<VariableMapping>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub counters: BatchCounters,
    pub chunk_count: i64,
    pub fanned_out_at: Option<DateTime<Utc>>,
    pub paused_reason: Option<String>,
    pub error_message: Option<String>,
    pub error_details: Map<String, Value>,
    pub last_progress_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The progress counters of a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchCounters {
    pub total_recipients: i64,
    pub processed_recipients: i64,
    pub sent: i64,
    pub failed: i64,
    pub unknown: i64,
    pub skipped: i64,
    pub delivered: i64,
    pub opened: i64,
    pub clicked: i64,
    pub bounced: i64,
    pub complained: i64,
    pub suppressed: i64,
}

/// A batch to create; the API validates it first.
#[derive(Clone, Debug, Default)]
pub struct NewBatch {
    pub connection_id: Option<ConnectionId>,
    pub name: String,
    pub channel: String,
    pub audience_type: Option<AudienceType>,
    pub topic_id: Option<TopicId>,
    pub segment_id: Option<String>,
    pub recipient_list: Option<Vec<String>>,
    pub subject: Option<String>,
    pub preview_text: Option<String>,
    pub from_email: Option<String>,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    pub template_id: Option<TemplateId>,
    pub html_content: Option<String>,
    pub variable_mappings: Vec<VariableMapping>,
    /// `Some` in the future makes the batch `scheduled`; otherwise `queued`.
    pub scheduled_for: Option<DateTime<Utc>>,
    pub total_recipients: i64,
    pub created_by: Option<String>,
}

/// Filter of the batch list.
#[derive(Clone, Debug, Default)]
pub struct BatchFilter {
    pub page: i64,
    pub page_size: i64,
    pub status: Option<BatchStatus>,
    pub channel: Option<String>,
    pub search: Option<String>,
}

/// Counter increments from one processed chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkProgress {
    pub processed: i64,
    pub sent: i64,
    pub failed: i64,
    pub unknown: i64,
    pub skipped: i64,
}

pub(crate) const BATCH_COLUMNS: &str = "id, organization_id, aws_connection_id, name, channel, status, \
    audience_type, topic_id, segment_id, recipient_list, subject, preview_text, from_email, from_name, \
    reply_to, template_id, html_content, variable_mappings, scheduled_for, total_recipients, \
    processed_recipients, sent, failed, unknown, skipped, delivered, opened, clicked, bounced, \
    complained, suppressed, chunk_count, fanned_out_at, paused_reason, error_message, error_details, \
    last_progress_at, started_at, completed_at, created_at, updated_at";

fn opt_id<T: std::str::FromStr>(row: &AnyRow, column: &str) -> Result<Option<T>, StoreError> {
    match row.opt_text(column)? {
        None => Ok(None),
        Some(raw) => raw.parse().map(Some).map_err(|_| {
            StoreError::Corrupt(format!(
                "column {column} contains {raw:?}, which is not a UUID"
            ))
        }),
    }
}

fn json_column<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    column: &str,
) -> Result<T, StoreError> {
    let raw = row.text(column)?;
    serde_json::from_str(&raw)
        .map_err(|err| StoreError::Corrupt(format!("column {column} is not valid JSON: {err}")))
}

pub(crate) fn batch_from_row(row: &AnyRow) -> Result<Batch, StoreError> {
    let status_text = row.text("status")?;
    let status = BatchStatus::parse(&status_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown batch status {status_text:?}")))?;
    let audience_text = row.text("audience_type")?;
    let audience_type = AudienceType::parse(&audience_text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown audience type {audience_text:?}")))?;
    let recipient_list = match row.opt_text("recipient_list")? {
        None => None,
        Some(raw) => Some(serde_json::from_str(&raw).map_err(|err| {
            StoreError::Corrupt(format!("column recipient_list is not a JSON array: {err}"))
        })?),
    };

    Ok(Batch {
        id: row.id("id")?,
        organization_id: row.id("organization_id")?,
        connection_id: opt_id(row, "aws_connection_id")?,
        name: row.text("name")?,
        channel: row.text("channel")?,
        status,
        audience_type,
        topic_id: opt_id(row, "topic_id")?,
        segment_id: row.opt_text("segment_id")?,
        recipient_list,
        subject: row.opt_text("subject")?,
        preview_text: row.opt_text("preview_text")?,
        from_email: row.opt_text("from_email")?,
        from_name: row.opt_text("from_name")?,
        reply_to: row.opt_text("reply_to")?,
        template_id: opt_id(row, "template_id")?,
        html_content: row.opt_text("html_content")?,
        variable_mappings: json_column(row, "variable_mappings")?,
        scheduled_for: row.opt_ts("scheduled_for")?,
        counters: BatchCounters {
            total_recipients: row.int("total_recipients")?,
            processed_recipients: row.int("processed_recipients")?,
            sent: row.int("sent")?,
            failed: row.int("failed")?,
            unknown: row.int("unknown")?,
            skipped: row.int("skipped")?,
            delivered: row.int("delivered")?,
            opened: row.int("opened")?,
            clicked: row.int("clicked")?,
            bounced: row.int("bounced")?,
            complained: row.int("complained")?,
            suppressed: row.int("suppressed")?,
        },
        chunk_count: row.int("chunk_count")?,
        fanned_out_at: row.opt_ts("fanned_out_at")?,
        paused_reason: row.opt_text("paused_reason")?,
        error_message: row.opt_text("error_message")?,
        error_details: row.json_object("error_details")?,
        last_progress_at: row.opt_ts("last_progress_at")?,
        started_at: row.opt_ts("started_at")?,
        completed_at: row.opt_ts("completed_at")?,
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
    })
}

/// Renders `statuses` as a SQL list of literals. The values come from the
/// `BatchStatus` enum, never from a client.
fn status_list(statuses: &[BatchStatus]) -> String {
    let quoted: Vec<String> = statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    quoted.join(", ")
}

fn push_batch_filter(sql: &mut SqlBuilder, org: OrgId, filter: &BatchFilter) {
    sql.push("organization_id = ").bind(org.to_string());
    if let Some(status) = filter.status {
        sql.push(" AND status = ").bind(status.as_str());
    }
    if let Some(channel) = &filter.channel {
        sql.push(" AND channel = ").bind(channel.clone());
    }
    if let Some(search) = &filter.search {
        sql.push(" AND (");
        sql.contains_ignore_case("name", search);
        sql.push(" OR ");
        sql.contains_ignore_case("COALESCE(subject, '')", search);
        sql.push(")");
    }
}

impl Store {
    /// Inserts a batch as `scheduled` when `scheduled_for` is in the future,
    /// else `queued`.
    pub async fn create_batch(&self, org: OrgId, new: &NewBatch) -> Result<Batch, StoreError> {
        let id = BatchId::new();
        let now = now_millis();
        let scheduled_for = new.scheduled_for.map(millis);
        let status = match scheduled_for {
            Some(at) if at > now => BatchStatus::Scheduled,
            _ => BatchStatus::Queued,
        };
        let recipient_list = match &new.recipient_list {
            Some(list) => Some(
                serde_json::to_string(list).map_err(|err| StoreError::Corrupt(err.to_string()))?,
            ),
            None => None,
        };
        let mappings = serde_json::to_string(&new.variable_mappings)
            .map_err(|err| StoreError::Corrupt(err.to_string()))?;

        let mut tx = self.begin_write().await?;
        sqlx::query::<Any>(
            "INSERT INTO batches (id, organization_id, aws_connection_id, name, channel, status, audience_type, \
             topic_id, segment_id, recipient_list, subject, preview_text, from_email, from_name, reply_to, \
             template_id, html_content, variable_mappings, scheduled_for, total_recipients, created_by, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22)",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .bind(new.connection_id.map(|c| c.to_string()))
        .bind(new.name.as_str())
        .bind(new.channel.as_str())
        .bind(status.as_str())
        .bind(new.audience_type.unwrap_or(AudienceType::All).as_str())
        .bind(new.topic_id.map(|t| t.to_string()))
        .bind(new.segment_id.clone())
        .bind(recipient_list)
        .bind(new.subject.clone())
        .bind(new.preview_text.clone())
        .bind(new.from_email.clone())
        .bind(new.from_name.clone())
        .bind(new.reply_to.clone())
        .bind(new.template_id.map(|t| t.to_string()))
        .bind(new.html_content.clone())
        .bind(mappings)
        .bind(scheduled_for)
        .bind(new.total_recipients)
        .bind(new.created_by.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query::<Any>(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;

        tracing::info!(organization_id = %org, batch_id = %id, status = status.as_str(), "batch created");
        batch_from_row(&row)
    }

    pub async fn get_batch(&self, org: OrgId, id: BatchId) -> Result<Option<Batch>, StoreError> {
        let row = sqlx::query::<Any>(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1 AND organization_id = $2"
        ))
        .bind(id.to_string())
        .bind(org.to_string())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(batch_from_row).transpose()
    }

    /// Lists batches newest first, with the total matching the filter.
    pub async fn list_batches(
        &self,
        org: OrgId,
        filter: &BatchFilter,
    ) -> Result<(Vec<Batch>, i64), StoreError> {
        let mut count =
            SqlBuilder::new(self.backend, "SELECT COUNT(*) AS total FROM batches WHERE ");
        push_batch_filter(&mut count, org, filter);
        let total = count.build().fetch_one(&self.reader).await?.int("total")?;

        let mut page = SqlBuilder::new(
            self.backend,
            &format!("SELECT {BATCH_COLUMNS} FROM batches WHERE "),
        );
        push_batch_filter(&mut page, org, filter);
        page.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .bind(filter.page_size)
            .push(" OFFSET ")
            .bind((filter.page - 1).max(0) * filter.page_size);
        let rows = page.build().fetch_all(&self.reader).await?;
        let batches = rows
            .iter()
            .map(batch_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((batches, total))
    }

    /// Moves a batch to `to` when its status is one of `from`; returns
    /// whether it moved. Entering `processing` stamps `started_at` once, and
    /// entering a terminal status stamps `completed_at`.
    pub async fn transition_batch(
        &self,
        id: BatchId,
        from: &[BatchStatus],
        to: BatchStatus,
        error_message: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        let sql = format!(
            "UPDATE batches SET status = $1, updated_at = $2, \
             started_at = CASE WHEN $1 = 'processing' THEN COALESCE(started_at, $2) ELSE started_at END, \
             completed_at = CASE WHEN $1 IN ('completed', 'failed', 'cancelled') THEN $2 ELSE completed_at END, \
             paused_reason = CASE WHEN $1 IN ('completed', 'cancelled') THEN NULL ELSE paused_reason END, \
             error_message = COALESCE($3, error_message) \
             WHERE id = $4 AND status IN ({})",
            status_list(from)
        );
        let result = sqlx::query::<Any>(&sql)
            .bind(to.as_str())
            .bind(now)
            .bind(error_message.map(str::to_owned))
            .bind(id.to_string())
            .execute(&self.writer)
            .await?;
        let moved = result.rows_affected() == 1;
        if moved {
            tracing::info!(batch_id = %id, to = to.as_str(), "batch status changed");
        }
        Ok(moved)
    }

    /// Cancels a scheduled, queued or processing batch of `org`. Returns the
    /// status the batch had when it could not be cancelled.
    pub async fn cancel_batch(
        &self,
        org: OrgId,
        id: BatchId,
    ) -> Result<Result<(), BatchStatus>, StoreError> {
        let Some(batch) = self.get_batch(org, id).await? else {
            return Err(StoreError::NotFound("Batch not found"));
        };
        let cancellable = [
            BatchStatus::Scheduled,
            BatchStatus::Queued,
            BatchStatus::Processing,
        ];
        if self
            .transition_batch(id, &cancellable, BatchStatus::Cancelled, None)
            .await?
        {
            return Ok(Ok(()));
        }
        // The status changed between the read and the update; report the new one.
        let current = self
            .get_batch(org, id)
            .await?
            .map(|b| b.status)
            .unwrap_or(batch.status);
        Ok(Err(current))
    }

    /// Adds one chunk's outcomes to the counters and records progress. A
    /// completed batch is left alone: completion already set its counters
    /// from the rows, which include this chunk's outcomes.
    pub async fn add_batch_progress(
        &self,
        id: BatchId,
        progress: &ChunkProgress,
    ) -> Result<(), StoreError> {
        sqlx::query::<Any>(
            "UPDATE batches SET processed_recipients = processed_recipients + $1, sent = sent + $2, \
             failed = failed + $3, unknown = unknown + $4, skipped = skipped + $5, \
             last_progress_at = $6, updated_at = $6, paused_reason = NULL, paused_at = NULL \
             WHERE id = $7 AND status <> 'completed'",
        )
        .bind(progress.processed)
        .bind(progress.sent)
        .bind(progress.failed)
        .bind(progress.unknown)
        .bind(progress.skipped)
        .bind(now_millis())
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Marks a processing batch as paused with a reason (`daily_quota`), or
    /// clears the pause with `None`. The status stays `processing`.
    pub async fn set_batch_paused(
        &self,
        id: BatchId,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_millis();
        sqlx::query::<Any>(
            "UPDATE batches SET paused_reason = $1, paused_at = CASE WHEN $1 IS NULL THEN NULL ELSE $2 END, \
             last_progress_at = $2, updated_at = $2 WHERE id = $3 AND status = 'processing'",
        )
        .bind(reason.map(str::to_owned))
        .bind(now)
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Appends `entry` to the JSON array `key` of the batch's error details
    /// (`resumes`, `chunksFailed`).
    pub async fn append_batch_detail(
        &self,
        id: BatchId,
        key: &str,
        entry: Value,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query::<Any>(&format!(
            "SELECT error_details FROM batches WHERE id = $1{}",
            self.backend.for_update()
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound("Batch not found"));
        };
        let mut details = row.json_object("error_details")?;
        let list = details
            .entry(key.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.push(entry);
        }
        let text =
            serde_json::to_string(&details).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        sqlx::query::<Any>("UPDATE batches SET error_details = $1, updated_at = $2 WHERE id = $3")
            .bind(text)
            .bind(now_millis())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Batches the dispatcher's sweeper must look at: scheduled ones that
    /// are due, queued ones, and processing ones whose last progress is
    /// older than `stale_before` (their jobs may have been lost).
    pub async fn batches_needing_dispatch(
        &self,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Batch>, StoreError> {
        let rows = sqlx::query::<Any>(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE \
             (status = 'scheduled' AND scheduled_for <= $1) \
             OR (status = 'queued' AND updated_at <= $2) \
             OR (status = 'processing' AND COALESCE(last_progress_at, started_at, created_at) <= $2) \
             ORDER BY created_at LIMIT $3"
        ))
        .bind(millis(now))
        .bind(millis(stale_before))
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(batch_from_row).collect()
    }

    /// Counts unfinished batches by status.
    pub async fn count_active_batches(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query::<Any>(
            "SELECT status, COUNT(*) AS batches FROM batches \
             WHERE status IN ('scheduled', 'queued', 'processing') GROUP BY status",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| Ok((row.text("status")?, row.int("batches")?)))
            .collect()
    }

    /// Counts unfinished batches that are paused, by pause reason.
    pub async fn count_paused_batches(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query::<Any>(
            "SELECT paused_reason, COUNT(*) AS paused FROM batches \
             WHERE paused_reason IS NOT NULL AND status IN ('queued', 'processing') \
             GROUP BY paused_reason",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| Ok((row.text("paused_reason")?, row.int("paused")?)))
            .collect()
    }

    /// Records a heartbeat without changing counters, so the sweeper does
    /// not treat a batch that is waiting on purpose (paused, rate limited)
    /// as stalled.
    pub async fn touch_batch(&self, id: BatchId) -> Result<(), StoreError> {
        let now = now_millis();
        sqlx::query::<Any>(
            "UPDATE batches SET last_progress_at = $1, updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Loads a batch by id alone, for the dispatcher, which takes the
    /// organisation from the batch itself.
    pub async fn get_batch_for_dispatch(&self, id: BatchId) -> Result<Option<Batch>, StoreError> {
        let row = sqlx::query::<Any>(&format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(batch_from_row).transpose()
    }
}
