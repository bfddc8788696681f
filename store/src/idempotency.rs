//! `Idempotency-Key` records (a wrapsd addition to the hosted API).
//!
//! The first request with a key inserts an `in_flight` row, and its response is
//! stored when it completes. A repeat with the same key and body gets the
//! stored response until the row expires, a repeat while the first is still
//! running gets `InFlight`, and a repeat with another body is a mismatch. An
//! expired row counts as absent.

use std::time::Duration;

use schemas::OrgId;
use sqlx::Any;

use crate::db::Store;
use crate::error::StoreError;
use crate::row::{now_millis, RowExt};

/// Result of [`Store::begin_idempotent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key is new (or its row expired): run the request, then call
    /// `complete_idempotent`, or `abandon_idempotent` if it failed.
    Started,
    /// Another request with this key has not finished yet (HTTP 409).
    InFlight,
    /// The request already ran, so replay this response.
    Completed { status: u16, body: Vec<u8> },
    /// The key was used with a different request body (HTTP 422).
    Mismatch,
}

/// Attempts to claim a key before giving up, for the rare case where the row
/// that blocked the insert is abandoned before it can be read.
const CLAIM_ATTEMPTS: usize = 3;

impl Store {
    /// Claims `key` for a request whose body hashes to `request_hash`, or
    /// reports what an earlier request with the key did. A claimed key lives
    /// for `ttl` from now.
    // NOTE: an in-flight row whose request died without completing or
    // abandoning it blocks the key until `ttl` passes.
    pub async fn begin_idempotent(
        &self,
        org: OrgId,
        key: &str,
        request_hash: &str,
        ttl: Duration,
    ) -> Result<IdempotencyBegin, StoreError> {
        let ttl_millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        for _ in 0..CLAIM_ATTEMPTS {
            let now = now_millis();
            sqlx::query::<Any>(
                "DELETE FROM idempotency_keys WHERE organization_id = $1 AND idempotency_key = $2 AND expires_at <= $3",
            )
            .bind(org.to_string())
            .bind(key)
            .bind(now)
            .execute(&self.writer)
            .await?;

            // On PostgreSQL a concurrent insert of the same key makes this one
            // wait for the other transaction, then do nothing.
            let inserted = sqlx::query::<Any>(
                "INSERT INTO idempotency_keys (organization_id, idempotency_key, request_hash, state, created_at, \
                 expires_at) VALUES ($1, $2, $3, 'in_flight', $4, $5) \
                 ON CONFLICT (organization_id, idempotency_key) DO NOTHING",
            )
            .bind(org.to_string())
            .bind(key)
            .bind(request_hash)
            .bind(now)
            .bind(now.saturating_add(ttl_millis))
            .execute(&self.writer)
            .await?
            .rows_affected();
            if inserted == 1 {
                return Ok(IdempotencyBegin::Started);
            }

            let row = sqlx::query::<Any>(
                "SELECT request_hash, state, status_code, response_body FROM idempotency_keys \
                 WHERE organization_id = $1 AND idempotency_key = $2 AND expires_at > $3",
            )
            .bind(org.to_string())
            .bind(key)
            .bind(now)
            .fetch_optional(&self.writer)
            .await?;
            let Some(row) = row else {
                continue;
            };

            if row.text("request_hash")? != request_hash {
                return Ok(IdempotencyBegin::Mismatch);
            }
            if row.text("state")? != "completed" {
                return Ok(IdempotencyBegin::InFlight);
            }
            let status = row.opt_int("status_code")?.unwrap_or_default();
            let status = u16::try_from(status).map_err(|_| {
                StoreError::Corrupt(format!("idempotency status code {status} is out of range"))
            })?;
            let body: Option<Vec<u8>> = sqlx::Row::try_get(&row, "response_body")?;
            return Ok(IdempotencyBegin::Completed {
                status,
                body: body.unwrap_or_default(),
            });
        }

        // Each attempt saw the row vanish between the insert and the read,
        // so other requests are busy with this key.
        Ok(IdempotencyBegin::InFlight)
    }

    /// Stores the response of the request that claimed `key`.
    pub async fn complete_idempotent(
        &self,
        org: OrgId,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query::<Any>(
            "UPDATE idempotency_keys SET state = 'completed', status_code = $1, response_body = $2 \
             WHERE organization_id = $3 AND idempotency_key = $4 AND state = 'in_flight'",
        )
        .bind(i64::from(status))
        .bind(body.to_vec())
        .bind(org.to_string())
        .bind(key)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Releases a claimed key without storing a response, so a retry can run
    /// (used after a server error).
    pub async fn abandon_idempotent(&self, org: OrgId, key: &str) -> Result<(), StoreError> {
        sqlx::query::<Any>(
            "DELETE FROM idempotency_keys WHERE organization_id = $1 AND idempotency_key = $2 AND state = 'in_flight'",
        )
        .bind(org.to_string())
        .bind(key)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Deletes expired idempotency rows of every organisation and returns how
    /// many went. Meant for a periodic reaper.
    pub async fn purge_expired_idempotency_keys(&self) -> Result<u64, StoreError> {
        let result = sqlx::query::<Any>("DELETE FROM idempotency_keys WHERE expires_at <= $1")
            .bind(now_millis())
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected())
    }
}
