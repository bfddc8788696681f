//! The error envelope shared by every 4xx and 5xx response.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Stable machine code of an error; the complete set the API may return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BadRequest,
    Conflict,
    Forbidden,
    InternalError,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    PaymentRequired,
    RateLimited,
    RequestFailed,
    Unauthorized,
    ValidationFailed,
}

impl ErrorCode {
    /// Maps an HTTP status to its code, as the global error handler does.
    pub fn for_status(status: u16) -> Self {
        match status {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            402 => Self::PaymentRequired,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            409 => Self::Conflict,
            413 => Self::PayloadTooLarge,
            422 => Self::ValidationFailed,
            429 => Self::RateLimited,
            500..=599 => Self::InternalError,
            _ => Self::RequestFailed,
        }
    }
}

/// One invalid field of a request, named by its JSON path (`email`,
/// `properties.plan`, `topicIds[3]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Body of every error response.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// Human-readable message; its wording is not stable.
    pub error: String,
    pub code: ErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// One entry per invalid field, on 422 responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<FieldError>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_maps_to_code() {
        assert_eq!(ErrorCode::for_status(400), ErrorCode::BadRequest);
        assert_eq!(ErrorCode::for_status(413), ErrorCode::PayloadTooLarge);
        assert_eq!(ErrorCode::for_status(418), ErrorCode::RequestFailed);
        assert_eq!(ErrorCode::for_status(503), ErrorCode::InternalError);
    }

    #[test]
    fn code_serializes_screaming_snake() {
        let json = serde_json::to_string(&ErrorCode::ValidationFailed).unwrap();
        assert_eq!(json, "\"VALIDATION_FAILED\"");
    }
}
