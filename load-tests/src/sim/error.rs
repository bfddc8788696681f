//! SES v2 errors in the restJson1 form that aws-sdk-sesv2 parses.
//!
//! The SDK (aws-sdk-sesv2 1.145, `json_errors.rs`) takes the error code from the
//! `x-amzn-errortype` header, cut at the first `:`, and falls back to the body's `code`
//! or `__type`. It reads the message from the body's `message`. Each code below is one
//! of the SESv2 model's error shapes, so the SDK maps it to its typed variant.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Header that carries the error code.
pub(crate) const ERROR_TYPE_HEADER: &str = "x-amzn-ErrorType";

/// An error returned to the client as SES returns it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SesError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// The per-second sending rate, or an injected throttle.
    #[error("Maximum sending rate exceeded.")]
    SendingRateExceeded,
    // NOTE: SES documents the daily-quota message but not, for the v2 API, its error
    // code. LimitExceededException with HTTP 400 is what SESv2 clients report in
    // practice; the v1 API used Throttling.
    /// The rolling 24-hour sending quota.
    #[error("Daily message quota exceeded.")]
    DailyQuotaExceeded,
    /// An injected server-side failure.
    #[error("Simulated internal failure.")]
    InternalFailure,
    #[error("The SES simulator does not implement {method} {path}.")]
    UnknownOperation { method: String, path: String },
}

impl SesError {
    /// Returns the SESv2 error shape name sent in `x-amzn-ErrorType`.
    pub(crate) fn error_type(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "BadRequestException",
            Self::NotFound(_) => "NotFoundException",
            Self::AlreadyExists(_) => "AlreadyExistsException",
            Self::SendingRateExceeded => "TooManyRequestsException",
            Self::DailyQuotaExceeded => "LimitExceededException",
            Self::InternalFailure => "InternalFailure",
            Self::UnknownOperation { .. } => "UnknownOperationException",
        }
    }

    /// Returns the HTTP status the SESv2 API reference gives for the error.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::AlreadyExists(_) | Self::DailyQuotaExceeded => {
                StatusCode::BAD_REQUEST
            }
            Self::NotFound(_) | Self::UnknownOperation { .. } => StatusCode::NOT_FOUND,
            Self::SendingRateExceeded => StatusCode::TOO_MANY_REQUESTS,
            Self::InternalFailure => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for SesError {
    fn into_response(self) -> Response {
        let status = self.status();
        let error_type = HeaderValue::from_static(self.error_type());
        let body = serde_json::json!({ "message": self.to_string() });

        let mut response = (status, Json(body)).into_response();
        response.headers_mut().insert(ERROR_TYPE_HEADER, error_type);
        response
    }
}
