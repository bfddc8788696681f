//! The store's error type.

/// Failure of a store call. The first four variants are outcomes a client
/// caused, and they carry the message the API returns. The rest are faults.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named resource does not exist in the caller's organisation, for
    /// example "Contact not found".
    #[error("{0}")]
    NotFound(&'static str),
    /// A uniqueness rule was broken (HTTP 409). The message is the client's.
    #[error("{0}")]
    Conflict(String),
    /// A plan limit stops the write (HTTP 403). The message is the client's.
    #[error("{0}")]
    LimitReached(String),
    /// The request lacks something the store cannot default, for example a
    /// contact with neither email nor phone (HTTP 400). Callers that validate
    /// first never see it.
    #[error("{0}")]
    Invalid(String),
    #[error("database query failed")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// A stored value cannot be decoded (an id that is not a UUID, a JSON
    /// column that does not parse, an unknown enum value).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Reports whether the error is a client outcome (4xx) rather than a fault.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            Self::NotFound(_) | Self::Conflict(_) | Self::LimitReached(_) | Self::Invalid(_)
        )
    }
}

/// Returns the name of the unique index (PostgreSQL) or the `table.column`
/// list (SQLite, which reports no constraint name) behind a unique violation,
/// or `None` when `err` is anything else.
pub(crate) fn unique_violation(err: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    if !db.is_unique_violation() {
        return None;
    }
    Some(match db.constraint() {
        Some(name) => name.to_owned(),
        // SQLite: "UNIQUE constraint failed: contacts.organization_id, contacts.email_hash".
        None => db.message().to_owned(),
    })
}
