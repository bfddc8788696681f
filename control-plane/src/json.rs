//! JSON request bodies: 400 `MALFORMED_REQUEST` when the body is not JSON,
//! 422 `VALIDATION_FAILED` with one detail per invalid field when it is JSON
//! of the wrong shape or fails the request's own checks.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use schemas::FieldError;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// A request type that checks its own fields after deserialization.
pub trait Validate {
    fn validate(&self) -> Result<(), Vec<FieldError>>;
}

/// Extracts and validates a JSON body. An empty body counts as `{}`, so
/// requests whose fields are all optional may omit it. The content type is
/// not checked: clients of the hosted service do not all send one.
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| AppError::new(rejection.status(), rejection.body_text()))?;
        let value = parse_body(&bytes)?;
        let body: T = deserialize(value)?;
        body.validate().map_err(AppError::Validation)?;
        Ok(Self(body))
    }
}

/// Parses raw bytes as JSON, or `{}` when blank.
pub fn parse_body(bytes: &[u8]) -> Result<serde_json::Value, AppError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_slice(bytes)
        .map_err(|err| AppError::malformed(format!("Malformed JSON in request body: {err}")))
}

/// Deserializes a parsed body, naming the path of the first field with the
/// wrong type.
pub fn deserialize<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, AppError> {
    if !value.is_object() {
        return Err(AppError::invalid_field(
            "",
            "request body must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        AppError::Validation(vec![FieldError::new(path, err.into_inner().to_string())])
    })
}

macro_rules! impl_validate {
    ($($ty:ty),+ $(,)?) => {
        $(impl Validate for $ty {
            fn validate(&self) -> Result<(), Vec<FieldError>> {
                <$ty>::validate(self)
            }
        })+
    };
}

impl_validate!(
    schemas::contacts::CreateContact,
    schemas::contacts::PatchContact,
    schemas::contacts::BulkDeleteContacts,
    schemas::contacts::ReplaceTopics,
    schemas::topics::CreateTopic,
    schemas::topics::PatchTopic,
    schemas::connections::CreateConnection,
);

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::contacts::CreateContact;

    #[test]
    fn blank_body_is_empty_object() {
        assert_eq!(parse_body(b"  \n").unwrap(), serde_json::json!({}));
    }

    #[test]
    fn wrong_type_names_the_field() {
        let err = deserialize::<CreateContact>(serde_json::json!({"email": 5})).unwrap_err();
        let AppError::Validation(details) = err else {
            panic!("expected a validation error, got {err:?}");
        };
        assert_eq!(details[0].path, "email");
    }

    #[test]
    fn array_body_is_rejected() {
        let err = deserialize::<CreateContact>(serde_json::json!([1])).unwrap_err();
        assert!(matches!(err, AppError::Validation(_)));
    }
}
