//! Reduces an aws-sdk-sesv2 error to an [`ErrorInfo`].
//!
//! The hard question is whether a failed request may have reached SES. The
//! SDK's errors settle it only in part, so two facts are combined:
//!
//! * whether the request was handed to the HTTP client at all, which an
//!   interceptor (`TransmitProbe`) records. Credentials, endpoint resolution
//!   and signing fail before that point, and they surface as
//!   `DispatchFailure` or `TimeoutError` just as network errors do.
//! * whether the HTTP client failed while connecting. The hyper-based client
//!   of aws-smithy-http-client 1.5 reports a refused connection as an I/O
//!   error and a connect timeout as a timeout. In both cases the cause chain
//!   contains a `hyper_util` client error of the connect kind (or a DNS
//!   error). A read timeout, or a connection lost after the request was
//!   written, has no such error in its chain.

use std::error::Error as StdError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sesv2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sesv2::error::{
    BoxError, ConnectorError, DisplayErrorContext, ProvideErrorMetadata, SdkError,
};
use aws_smithy_runtime_api::client::dns::ResolveDnsError;

use crate::classify::{ErrorInfo, ErrorKind};

/// Interceptor that records that a request reached the HTTP client.
///
/// Add a fresh probe to each call (`customize().interceptor(..)`), because the
/// flag belongs to that one call.
#[derive(Clone, Debug, Default)]
pub(crate) struct TransmitProbe {
    transmitted: Arc<AtomicBool>,
}

impl TransmitProbe {
    pub(crate) fn transmitted(&self) -> bool {
        self.transmitted.load(Ordering::Acquire)
    }
}

impl Intercept for TransmitProbe {
    fn name(&self) -> &'static str {
        "TransmitProbe"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.transmitted.store(true, Ordering::Release);
        Ok(())
    }
}

/// Reduces `error` to an [`ErrorInfo`]. `transmitted` is whether the request
/// reached the HTTP client, as recorded by the crate's `TransmitProbe`
/// interceptor.
pub fn error_info<E>(error: &SdkError<E, HttpResponse>, transmitted: bool) -> ErrorInfo
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    let full_message = || DisplayErrorContext(error).to_string();

    match error {
        SdkError::ServiceError(context) => {
            let err = context.err();
            ErrorInfo {
                kind: ErrorKind::Service {
                    status: context.raw().status().as_u16(),
                    code: err.code().map(str::to_owned),
                },
                message: err
                    .message()
                    .map(str::to_owned)
                    .unwrap_or_else(|| DisplayErrorContext(err).to_string()),
            }
        }
        SdkError::ResponseError(context) => ErrorInfo {
            kind: ErrorKind::UnreadableResponse {
                status: context.raw().status().as_u16(),
            },
            message: full_message(),
        },
        SdkError::ConstructionFailure(_) => ErrorInfo {
            kind: ErrorKind::InvalidRequest,
            message: full_message(),
        },
        SdkError::TimeoutError(_) => ErrorInfo {
            kind: if transmitted {
                ErrorKind::MaybeSent
            } else {
                ErrorKind::NotSent
            },
            message: full_message(),
        },
        SdkError::DispatchFailure(failure) => ErrorInfo {
            kind: match failure.as_connector_error() {
                Some(connector) => dispatch_kind(connector, transmitted),
                None if transmitted => ErrorKind::MaybeSent,
                None => ErrorKind::NotSent,
            },
            message: full_message(),
        },
        // `SdkError` is non-exhaustive; a new variant is treated as the
        // unsafe case.
        _ => ErrorInfo {
            kind: ErrorKind::MaybeSent,
            message: full_message(),
        },
    }
}

fn dispatch_kind(connector: &ConnectorError, transmitted: bool) -> ErrorKind {
    if let Some(credentials) = find_source::<CredentialsError>(connector) {
        return ErrorKind::Credentials {
            missing: matches!(credentials, CredentialsError::CredentialsNotLoaded(_)),
        };
    }
    if !transmitted || failed_to_connect(connector) {
        return ErrorKind::NotSent;
    }
    if connector.is_user() {
        // The HTTP client rejected the request itself (an invalid URI or
        // header), so no byte of it was written.
        return ErrorKind::InvalidRequest;
    }
    ErrorKind::MaybeSent
}

fn failed_to_connect(connector: &ConnectorError) -> bool {
    let connect = find_source::<hyper_util::client::legacy::Error>(connector)
        .is_some_and(hyper_util::client::legacy::Error::is_connect);
    connect || find_source::<ResolveDnsError>(connector).is_some()
}

/// Finds the first error of type `T` in the cause chain of `error`, `error`
/// included.
fn find_source<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        next = current.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use aws_sdk_sesv2::error::ErrorMetadata;
    use aws_sdk_sesv2::operation::send_email::SendEmailError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    type Error = SdkError<SendEmailError, HttpResponse>;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
    }

    fn io_error(kind: std::io::ErrorKind) -> BoxError {
        Box::new(std::io::Error::from(kind))
    }

    #[test]
    fn service_error_keeps_code_status_and_message() {
        let meta = ErrorMetadata::builder()
            .code("MessageRejected")
            .message("Illegal address")
            .build();
        let error: Error = SdkError::service_error(SendEmailError::generic(meta), response(400));

        let info = error_info(&error, true);

        assert_eq!(
            info.kind,
            ErrorKind::Service {
                status: 400,
                code: Some("MessageRejected".to_owned())
            }
        );
        assert_eq!(info.message, "Illegal address");
    }

    #[test]
    fn response_error_keeps_status() {
        let error: Error =
            SdkError::response_error(io_error(std::io::ErrorKind::ConnectionReset), response(200));
        assert_eq!(
            error_info(&error, true).kind,
            ErrorKind::UnreadableResponse { status: 200 }
        );
    }

    #[test]
    fn timeout_depends_on_transmission() {
        let error: Error = SdkError::timeout_error("attempt timeout");
        assert_eq!(error_info(&error, true).kind, ErrorKind::MaybeSent);
        assert_eq!(error_info(&error, false).kind, ErrorKind::NotSent);
    }

    #[test]
    fn dispatch_failure_before_transmit_is_not_sent() {
        let error: Error =
            SdkError::dispatch_failure(ConnectorError::other("signing failed".into(), None));
        assert_eq!(error_info(&error, false).kind, ErrorKind::NotSent);
    }

    #[test]
    fn io_error_after_transmit_is_maybe_sent() {
        let error: Error = SdkError::dispatch_failure(ConnectorError::io(io_error(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(error_info(&error, true).kind, ErrorKind::MaybeSent);
    }

    #[test]
    fn dns_failure_is_not_sent() {
        let dns = ResolveDnsError::new(io_error(std::io::ErrorKind::NotFound));
        let error: Error = SdkError::dispatch_failure(ConnectorError::io(Box::new(dns)));
        assert_eq!(error_info(&error, true).kind, ErrorKind::NotSent);
    }

    #[test]
    fn missing_credentials_are_detected() {
        let credentials = CredentialsError::not_loaded("no providers in chain");
        let error: Error =
            SdkError::dispatch_failure(ConnectorError::other(Box::new(credentials), None));
        assert_eq!(
            error_info(&error, false).kind,
            ErrorKind::Credentials { missing: true }
        );
    }

    #[test]
    fn credential_provider_error_is_not_missing() {
        let credentials = CredentialsError::provider_error(
            "AccessDenied: not authorized to perform sts:AssumeRole",
        );
        let error: Error =
            SdkError::dispatch_failure(ConnectorError::other(Box::new(credentials), None));
        let info = error_info(&error, false);
        assert_eq!(info.kind, ErrorKind::Credentials { missing: false });
        assert!(info.message.contains("sts:AssumeRole"), "{}", info.message);
    }

    #[test]
    fn construction_failure_is_invalid_request() {
        let error: Error = SdkError::construction_failure("missing field");
        assert_eq!(error_info(&error, false).kind, ErrorKind::InvalidRequest);
    }
}
