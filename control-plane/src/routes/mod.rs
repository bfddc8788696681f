//! One module per resource, each with its handlers and `router()`.

pub mod batch;
pub mod confirm;
pub mod connections;
pub mod contacts;
pub mod health;
pub mod preferences;
pub mod templates;
pub mod topics;
pub mod unsubscribe;
pub mod webhooks;

use crate::error::AppError;

/// Parses a resource id from a path: longer than a UUID is a 422 on `id`,
/// anything else that is not a UUID cannot name a resource and is a 404
/// with `not_found` as its message.
pub(crate) fn path_id<T: std::str::FromStr>(
    raw: &str,
    not_found: &'static str,
) -> Result<T, AppError> {
    if raw.chars().count() > 36 {
        return Err(AppError::invalid_field(
            "id",
            "must be at most 36 characters",
        ));
    }
    raw.parse().map_err(|_| AppError::not_found(not_found))
}
