//! The API's error type and the layer that turns every error response into
//! the wire envelope (`error`, `code`, `requestId`, optional `details`).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use schemas::{ApiError, ErrorCode, FieldError};
use store::StoreError;

use crate::request_id::RequestId;

/// An error a handler returns. Only the status, message and field details
/// reach the client; the cause of a 5xx is logged and never sent.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Client {
        status: StatusCode,
        message: String,
        code: Option<ErrorCode>,
    },
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Client {
            status,
            message: message.into(),
            code: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::Client {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            code: Some(ErrorCode::MalformedRequest),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(cause))
    }

    /// Creates a 422 naming a single invalid field.
    pub fn invalid_field(path: &str, message: &str) -> Self {
        Self::Validation(vec![FieldError::new(path, message)])
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(message) => Self::not_found(message),
            StoreError::Conflict(message) => Self::conflict(message),
            StoreError::LimitReached(message) => Self::new(StatusCode::FORBIDDEN, message),
            StoreError::Invalid(message) => Self::bad_request(message),
            other => Self::internal(other),
        }
    }
}

/// The envelope of an error response, carried as a response extension until
/// [`render_errors`] adds the request id and writes the body.
#[derive(Clone, Debug)]
pub struct PendingError(pub ApiError);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, envelope) = match self {
            Self::Client {
                status,
                message,
                code,
            } => (status, envelope(status, message, code, None)),
            Self::Validation(details) => {
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                (
                    status,
                    envelope(status, "Validation failed".into(), None, Some(details)),
                )
            }
            Self::Internal(cause) => {
                tracing::error!(error = %cause, source = ?cause.source(), "request failed with an internal error");
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                (
                    status,
                    envelope(status, "Internal server error".into(), None, None),
                )
            }
        };

        let mut response = status.into_response();
        response.extensions_mut().insert(PendingError(envelope));
        response
    }
}

fn envelope(
    status: StatusCode,
    message: String,
    code: Option<ErrorCode>,
    details: Option<Vec<FieldError>>,
) -> ApiError {
    ApiError {
        error: message,
        code: code.unwrap_or_else(|| ErrorCode::for_status(status.as_u16())),
        request_id: None,
        details,
    }
}

/// Writes the envelope of every 4xx and 5xx response, with the request id.
///
/// Errors raised by handlers arrive as a [`PendingError`] extension. Errors
/// produced by the framework or by tower layers (405, 413 from the body
/// limit, 408 from a timeout) arrive with no JSON body, and get an envelope
/// built from their status.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let request_id = request.extensions().get::<RequestId>().cloned();
    let mut response = next.run(request).await;

    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }

    let pending = response.extensions_mut().remove::<PendingError>();
    // A handler's own JSON body, or an HTML page meant for a person (the
    // unsubscribe page), is kept as it is.
    let is_rendered = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            value.as_bytes().starts_with(b"application/json")
                || value.as_bytes().starts_with(b"text/html")
        });
    let mut envelope = match pending {
        Some(PendingError(envelope)) => envelope,
        None if is_rendered => return response,
        None => envelope(status, default_message(status), None, None),
    };
    envelope.request_id = request_id.map(|id| id.0);

    let body = serde_json::to_vec(&envelope).unwrap_or_default();
    *response.body_mut() = Body::from(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.remove(header::CONTENT_LENGTH);
    response
}

fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "Not found".into(),
        StatusCode::PAYLOAD_TOO_LARGE => "Request body is larger than 1 MiB".into(),
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed".into(),
        status if status.is_server_error() => "Internal server error".into(),
        status => status.canonical_reason().unwrap_or("Request failed").into(),
    }
}
