//! Decoding of `AnyRow` columns into the store's types.
//!
//! Every column is read by name. Ids are UUID text, timestamps are BIGINT
//! milliseconds since the epoch, JSON is text, and booleans arrive as `bool`
//! from PostgreSQL but as 0/1 integers from SQLite.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::StoreError;

pub(crate) trait RowExt {
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn flag(&self, column: &str) -> Result<bool, StoreError>;
    fn ts(&self, column: &str) -> Result<DateTime<Utc>, StoreError>;
    fn opt_ts(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn id<T: FromStr>(&self, column: &str) -> Result<T, StoreError>;
    fn json_object(&self, column: &str) -> Result<Map<String, Value>, StoreError>;
    /// Parses a text column with `parse`, such as `EmailStatus::parse`.
    fn opt_enum<T>(
        &self,
        column: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, StoreError>;
}

impl RowExt for AnyRow {
    fn text(&self, column: &str) -> Result<String, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn int(&self, column: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        match self.try_get::<bool, _>(column) {
            Ok(value) => Ok(value),
            Err(_) => Ok(self.try_get::<i64, _>(column)? != 0),
        }
    }

    fn ts(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        Ok(schemas::time::from_millis(self.int(column)?))
    }

    fn opt_ts(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.opt_int(column)?.map(schemas::time::from_millis))
    }

    fn id<T: FromStr>(&self, column: &str) -> Result<T, StoreError> {
        let raw = self.text(column)?;
        raw.parse().map_err(|_| {
            StoreError::Corrupt(format!(
                "column {column} contains {raw:?}, which is not a UUID"
            ))
        })
    }

    fn json_object(&self, column: &str) -> Result<Map<String, Value>, StoreError> {
        let raw = self.text(column)?;
        serde_json::from_str(&raw).map_err(|err| {
            StoreError::Corrupt(format!("column {column} is not a JSON object: {err}"))
        })
    }

    fn opt_enum<T>(
        &self,
        column: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, StoreError> {
        match self.opt_text(column)? {
            None => Ok(None),
            Some(raw) => parse(&raw).map(Some).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "column {column} contains the unknown value {raw:?}"
                ))
            }),
        }
    }
}

/// Milliseconds since the Unix epoch, the store's timestamp representation.
pub(crate) fn millis(ts: DateTime<Utc>) -> i64 {
    ts.timestamp_millis()
}

pub(crate) fn now_millis() -> i64 {
    millis(Utc::now())
}
