//! The one classifier from an SES failure to a [`SendOutcome`].
//!
//! The SDK's error is first reduced to an [`ErrorInfo`] (see
//! [`crate::sdk_error`]), so the decision itself is a pure function of plain
//! data with a table test. The rules, in the order they are checked:
//!
//! | failure | outcome |
//! |---|---|
//! | `LimitExceededException`, or a message saying the daily or sending quota is exceeded (SES v2 sometimes reports that as `TooManyRequestsException`) | pause: `DailyQuota` |
//! | `TooManyRequestsException`, `ThrottlingException`, `Throttling`, HTTP 429, "rate exceeded" | retry after [`THROTTLED_RETRY_AFTER`] |
//! | `SendingPausedException` | pause: `SendingPaused` |
//! | `AccountSuspendedException` | pause: `AccountSuspended` |
//! | `MailFromDomainNotVerifiedException` | pause: `SenderNotVerified` |
//! | `AccessDenied*`, invalid or unrecognised credentials, a bad signature, "not authorized" | pause: `NotAuthorized` |
//! | `ExpiredToken*` | retry after [`TRANSIENT_RETRY_AFTER`] (the SDK loads fresh credentials) |
//! | `MessageRejected` saying an identity is "not verified" | pause: `SenderNotVerified` |
//! | `MessageRejected`, `BadRequestException`, any other 4xx | failed |
//! | `NotFoundException` naming a configuration set | pause: `ConfigurationInvalid` |
//! | `NotFoundException` otherwise (the stored template) | pause: `TemplateNotFound` |
//! | any 5xx | retry after [`TRANSIENT_RETRY_AFTER`] |
//! | a response that could not be read: 429 or 5xx / 2xx / other 4xx | retry / unknown / failed |
//! | credentials could not be loaded or assumed | pause `NotAuthorized` when none are configured or STS denied them, otherwise retry |
//! | the request could not be built | failed |
//! | the request never left: DNS, refused or timed-out connect, signing | retry after [`TRANSIENT_RETRY_AFTER`] |
//! | the request may have reached SES: timeout or reset after it was written | unknown |
//!
//! A missing template pauses rather than fails: every recipient of the
//! broadcast would fail the same way, and republishing the template and
//! resuming recovers the whole send.

use std::fmt;
use std::time::Duration;

use crate::outcome::{PauseReason, SendOutcome};

/// Delay before retrying a throttled send. SES rates are per second, so one
/// second lets the account's bucket refill. Callers may wait longer.
pub const THROTTLED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Delay before retrying after a server error or a request that never left.
pub const TRANSIENT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// An SES failure reduced to the facts the classifier needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorInfo {
    pub kind: ErrorKind,
    /// Error message of SES or of the transport, with its causes.
    pub message: String,
}

/// The stage at which a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// SES returned an error response: the HTTP status and the error code
    /// (`x-amzn-ErrorType` or the body's type), when there is one.
    Service { status: u16, code: Option<String> },
    /// A response arrived but its body could not be read or parsed.
    UnreadableResponse { status: u16 },
    /// Credentials could not be loaded or assumed, so nothing was sent.
    /// `missing` is true when no credentials are configured at all.
    Credentials { missing: bool },
    /// The request could not be built from the input, so nothing was sent.
    InvalidRequest,
    /// The call failed before the request was written: DNS resolution, a
    /// refused or timed-out connect, endpoint resolution or signing.
    NotSent,
    /// The call failed after the request may have been written: a timeout
    /// while waiting for the response, or a connection lost while reading it.
    MaybeSent,
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Service {
                status,
                code: Some(code),
            } => write!(f, "{code} (HTTP {status}): {}", self.message),
            ErrorKind::Service { status, code: None } => {
                write!(f, "HTTP {status}: {}", self.message)
            }
            ErrorKind::UnreadableResponse { status } => {
                write!(f, "unreadable response (HTTP {status}): {}", self.message)
            }
            ErrorKind::Credentials { .. } => write!(f, "credentials failed: {}", self.message),
            ErrorKind::InvalidRequest => write!(f, "invalid request: {}", self.message),
            ErrorKind::NotSent => write!(f, "request not sent: {}", self.message),
            ErrorKind::MaybeSent => write!(f, "no response: {}", self.message),
        }
    }
}

impl ErrorInfo {
    /// Returns the error code SES gave, if any.
    pub fn code(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Service { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Returns a bounded label for metrics and logs: the SES error code, or the
    /// kind of failure when SES gave none.
    pub fn label(&self) -> &str {
        match &self.kind {
            ErrorKind::Service {
                code: Some(code), ..
            } => code,
            ErrorKind::Service { code: None, .. } => "http_error",
            ErrorKind::UnreadableResponse { .. } => "unreadable_response",
            ErrorKind::Credentials { .. } => "credentials",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::NotSent => "not_sent",
            ErrorKind::MaybeSent => "maybe_sent",
        }
    }
}

/// Decides what a failed send call means for the message.
pub fn classify(error: &ErrorInfo) -> SendOutcome {
    let message = error.message.to_ascii_lowercase();
    let reason = error.to_string();

    match &error.kind {
        ErrorKind::Service { status, code } => {
            classify_service(*status, code.as_deref().unwrap_or(""), &message, reason)
        }
        ErrorKind::UnreadableResponse { status } => match status {
            429 => retry(THROTTLED_RETRY_AFTER, reason),
            500..=599 => retry(TRANSIENT_RETRY_AFTER, reason),
            400..=499 => SendOutcome::Failed { reason },
            // A success status whose body was lost: SES may have accepted.
            _ => SendOutcome::Unknown { reason },
        },
        ErrorKind::Credentials { missing } => {
            if *missing || says_not_authorized(&message) || says_access_denied(&message) {
                pause(PauseReason::NotAuthorized, reason)
            } else {
                retry(TRANSIENT_RETRY_AFTER, reason)
            }
        }
        ErrorKind::InvalidRequest => SendOutcome::Failed { reason },
        ErrorKind::NotSent => retry(TRANSIENT_RETRY_AFTER, reason),
        ErrorKind::MaybeSent => SendOutcome::Unknown { reason },
    }
}

fn classify_service(status: u16, code: &str, message: &str, reason: String) -> SendOutcome {
    // The quota check comes first because SES v2 can report an exhausted
    // daily quota as TooManyRequestsException.
    if code == "LimitExceededException" || says_quota_exceeded(message) {
        return pause(PauseReason::DailyQuota, reason);
    }
    if is_throttling_code(code) || status == 429 || message.contains("rate exceeded") {
        return retry(THROTTLED_RETRY_AFTER, reason);
    }

    match code {
        "SendingPausedException" => return pause(PauseReason::SendingPaused, reason),
        "AccountSuspendedException" => return pause(PauseReason::AccountSuspended, reason),
        "MailFromDomainNotVerifiedException" => {
            return pause(PauseReason::SenderNotVerified, reason)
        }
        _ => {}
    }
    if is_auth_code(code) || says_not_authorized(message) {
        return pause(PauseReason::NotAuthorized, reason);
    }
    if code.starts_with("ExpiredToken") {
        return retry(TRANSIENT_RETRY_AFTER, reason);
    }

    // NOTE: in the SES sandbox an unverified recipient gets the same "not
    // verified" rejection as an unverified sender, and it pauses too.
    match code {
        "MessageRejected" if message.contains("not verified") => {
            pause(PauseReason::SenderNotVerified, reason)
        }
        "NotFoundException" if message.contains("configuration set") => {
            pause(PauseReason::ConfigurationInvalid, reason)
        }
        "NotFoundException" => pause(PauseReason::TemplateNotFound, reason),
        _ if status >= 500 => retry(TRANSIENT_RETRY_AFTER, reason),
        // MessageRejected, BadRequestException and any other client error.
        _ if status >= 400 => SendOutcome::Failed { reason },
        _ => SendOutcome::Unknown { reason },
    }
}

/// Decides the outcome of one `SendBulkEmail` entry from its result:
/// `status` is the `BulkEmailStatus` text (`SUCCESS`, `MESSAGE_REJECTED`, ...).
pub fn classify_bulk_entry(
    status: Option<&str>,
    message_id: Option<&str>,
    error: Option<&str>,
) -> SendOutcome {
    let Some(status) = status else {
        return SendOutcome::Unknown {
            reason: "SES returned a bulk entry result without a status".to_owned(),
        };
    };
    let reason = match error {
        Some(error) if !error.is_empty() => format!("{status}: {error}"),
        _ => status.to_owned(),
    };

    match status {
        "SUCCESS" => match message_id {
            Some(id) if !id.is_empty() => SendOutcome::Sent {
                message_id: id.to_owned(),
            },
            _ => SendOutcome::Unknown {
                reason: "SES reported SUCCESS without a message id".to_owned(),
            },
        },
        "MESSAGE_REJECTED"
            if error.is_some_and(|e| e.to_ascii_lowercase().contains("not verified")) =>
        {
            pause(PauseReason::SenderNotVerified, reason)
        }
        "MESSAGE_REJECTED" | "INVALID_PARAMETER" | "FAILED" => SendOutcome::Failed { reason },
        "MAIL_FROM_DOMAIN_NOT_VERIFIED" => pause(PauseReason::SenderNotVerified, reason),
        "CONFIGURATION_SET_NOT_FOUND" | "INVALID_SENDING_POOL_NAME" => {
            pause(PauseReason::ConfigurationInvalid, reason)
        }
        "TEMPLATE_NOT_FOUND" => pause(PauseReason::TemplateNotFound, reason),
        "ACCOUNT_SUSPENDED" => pause(PauseReason::AccountSuspended, reason),
        "ACCOUNT_DAILY_QUOTA_EXCEEDED" => pause(PauseReason::DailyQuota, reason),
        "ACCOUNT_SENDING_PAUSED" | "CONFIGURATION_SET_SENDING_PAUSED" => {
            pause(PauseReason::SendingPaused, reason)
        }
        "ACCOUNT_THROTTLED" => retry(THROTTLED_RETRY_AFTER, reason),
        "TRANSIENT_FAILURE" => retry(TRANSIENT_RETRY_AFTER, reason),
        // A status added to SES after this code was written: whether the
        // entry went out is not known, so it must not be resent blindly.
        _ => SendOutcome::Unknown {
            reason: format!("unrecognised bulk status {reason}"),
        },
    }
}

fn retry(after: Duration, reason: String) -> SendOutcome {
    SendOutcome::RetryLater { after, reason }
}

fn pause(reason: PauseReason, detail: String) -> SendOutcome {
    SendOutcome::PauseAccount { reason, detail }
}

fn is_throttling_code(code: &str) -> bool {
    matches!(
        code,
        "TooManyRequestsException" | "ThrottlingException" | "Throttling" | "RequestLimitExceeded"
    )
}

fn is_auth_code(code: &str) -> bool {
    code.starts_with("AccessDenied")
        || matches!(
            code,
            "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "MissingAuthenticationToken"
                | "MissingAuthenticationTokenException"
                | "SignatureDoesNotMatch"
                | "InvalidSignatureException"
                | "NotAuthorizedException"
        )
}

/// Matches "Daily message quota exceeded" and "Maximum sending quota exceeded"
/// in a lowercased message.
fn says_quota_exceeded(message: &str) -> bool {
    message.contains("exceeded")
        && ((message.contains("daily") && message.contains("quota"))
            || message.contains("sending quota"))
}

fn says_not_authorized(message: &str) -> bool {
    message.contains("not authorized")
}

fn says_access_denied(message: &str) -> bool {
    message.contains("accessdenied")
        || message.contains("access denied")
        || message.contains("invalidclienttokenid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str, message: &str) -> ErrorInfo {
        ErrorInfo {
            kind: ErrorKind::Service {
                status,
                code: (!code.is_empty()).then(|| code.to_owned()),
            },
            message: message.to_owned(),
        }
    }

    fn other(kind: ErrorKind, message: &str) -> ErrorInfo {
        ErrorInfo {
            kind,
            message: message.to_owned(),
        }
    }

    /// The outcome without its texts, so table rows stay short.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Expected {
        Sent(&'static str),
        Retry(Duration),
        Unknown,
        Pause(PauseReason),
        Failed,
    }

    fn shape(outcome: &SendOutcome) -> Expected {
        match outcome {
            SendOutcome::Sent { message_id } => {
                Expected::Sent(if message_id == "m-1" { "m-1" } else { "other" })
            }
            SendOutcome::RetryLater { after, .. } => Expected::Retry(*after),
            SendOutcome::Unknown { .. } => Expected::Unknown,
            SendOutcome::PauseAccount { reason, .. } => Expected::Pause(*reason),
            SendOutcome::Failed { .. } => Expected::Failed,
        }
    }

    #[test]
    fn classify_table() {
        use Expected::*;
        use PauseReason::*;
        let throttled = Retry(THROTTLED_RETRY_AFTER);
        let transient = Retry(TRANSIENT_RETRY_AFTER);

        let cases: Vec<(ErrorInfo, Expected)> = vec![
            // Quotas and throttling.
            (service(429, "TooManyRequestsException", "Too many requests."), throttled),
            (service(429, "TooManyRequestsException", "Daily message quota exceeded."), Pause(DailyQuota)),
            (service(429, "TooManyRequestsException", "Maximum sending quota exceeded."), Pause(DailyQuota)),
            (service(400, "LimitExceededException", "Limit exceeded."), Pause(DailyQuota)),
            (service(400, "ThrottlingException", "Rate exceeded"), throttled),
            (service(400, "Throttling", "Rate exceeded"), throttled),
            (service(400, "MessageRejected", "Maximum sending rate exceeded."), throttled),
            (service(429, "", ""), throttled),
            // Account and sender state.
            (service(400, "SendingPausedException", "Sending is paused for this account."), Pause(SendingPaused)),
            (service(400, "AccountSuspendedException", "Account suspended."), Pause(AccountSuspended)),
            (service(400, "MailFromDomainNotVerifiedException", "MAIL FROM domain not verified."), Pause(SenderNotVerified)),
            (service(400, "MessageRejected", "Email address is not verified. The following identities failed the check in region US-EAST-1: a@example.com"), Pause(SenderNotVerified)),
            (service(403, "AccessDeniedException", "User is not authorized to perform ses:SendEmail"), Pause(NotAuthorized)),
            (service(403, "AccessDenied", "Access denied"), Pause(NotAuthorized)),
            (service(403, "UnrecognizedClientException", "The security token included in the request is invalid."), Pause(NotAuthorized)),
            (service(403, "InvalidSignatureException", "Signature mismatch"), Pause(NotAuthorized)),
            (service(400, "MessageRejected", "User arn:aws:iam::1:user/x is not authorized to perform ses:SendEmail"), Pause(NotAuthorized)),
            (service(403, "ExpiredTokenException", "The security token included in the request is expired"), transient),
            // Message and configuration errors.
            (service(400, "MessageRejected", "Illegal address"), Failed),
            (service(400, "BadRequestException", "Missing required header 'From'."), Failed),
            (service(404, "NotFoundException", "Template welcome does not exist."), Pause(TemplateNotFound)),
            (service(404, "NotFoundException", "Configuration set tracking does not exist."), Pause(ConfigurationInvalid)),
            (service(409, "ConflictException", "conflict"), Failed),
            // Server errors.
            (service(500, "InternalFailure", "internal"), transient),
            (service(503, "ServiceUnavailable", "unavailable"), transient),
            (service(502, "", "bad gateway"), transient),
            (service(302, "", "moved"), Unknown),
            // Responses that could not be read.
            (other(ErrorKind::UnreadableResponse { status: 200 }, "connection reset while reading body"), Unknown),
            (other(ErrorKind::UnreadableResponse { status: 503 }, "html error page"), transient),
            (other(ErrorKind::UnreadableResponse { status: 429 }, "html error page"), throttled),
            (other(ErrorKind::UnreadableResponse { status: 403 }, "html error page"), Failed),
            // Failures without a response.
            (other(ErrorKind::Credentials { missing: true }, "no credentials in the chain"), Pause(NotAuthorized)),
            (other(ErrorKind::Credentials { missing: false }, "AccessDenied: User is not authorized to perform: sts:AssumeRole"), Pause(NotAuthorized)),
            (other(ErrorKind::Credentials { missing: false }, "dispatch failure: connection refused"), transient),
            (other(ErrorKind::InvalidRequest, "missing field"), Failed),
            (other(ErrorKind::NotSent, "connection refused"), transient),
            (other(ErrorKind::NotSent, "HTTP connect timeout occurred after 1s"), transient),
            (other(ErrorKind::MaybeSent, "HTTP read timeout occurred after 2s"), Unknown),
            (other(ErrorKind::MaybeSent, "connection reset by peer"), Unknown),
        ];

        for (info, expected) in cases {
            assert_eq!(shape(&classify(&info)), expected, "{info}");
        }
    }

    #[test]
    fn bulk_status_table() {
        use Expected::*;
        use PauseReason::*;
        let throttled = Retry(THROTTLED_RETRY_AFTER);
        let transient = Retry(TRANSIENT_RETRY_AFTER);

        // Status, message id, error text, expected outcome.
        type Row = (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            Expected,
        );
        let cases: Vec<Row> = vec![
            (Some("SUCCESS"), Some("m-1"), None, Sent("m-1")),
            (Some("SUCCESS"), None, None, Unknown),
            (Some("SUCCESS"), Some(""), None, Unknown),
            (
                Some("MESSAGE_REJECTED"),
                None,
                Some("Illegal address"),
                Failed,
            ),
            (
                Some("MESSAGE_REJECTED"),
                None,
                Some("Email address is not verified."),
                Pause(SenderNotVerified),
            ),
            (
                Some("MAIL_FROM_DOMAIN_NOT_VERIFIED"),
                None,
                None,
                Pause(SenderNotVerified),
            ),
            (
                Some("CONFIGURATION_SET_NOT_FOUND"),
                None,
                None,
                Pause(ConfigurationInvalid),
            ),
            (
                Some("TEMPLATE_NOT_FOUND"),
                None,
                None,
                Pause(TemplateNotFound),
            ),
            (
                Some("ACCOUNT_SUSPENDED"),
                None,
                None,
                Pause(AccountSuspended),
            ),
            (Some("ACCOUNT_THROTTLED"), None, None, throttled),
            (
                Some("ACCOUNT_DAILY_QUOTA_EXCEEDED"),
                None,
                None,
                Pause(DailyQuota),
            ),
            (
                Some("INVALID_SENDING_POOL_NAME"),
                None,
                None,
                Pause(ConfigurationInvalid),
            ),
            (
                Some("ACCOUNT_SENDING_PAUSED"),
                None,
                None,
                Pause(SendingPaused),
            ),
            (
                Some("CONFIGURATION_SET_SENDING_PAUSED"),
                None,
                None,
                Pause(SendingPaused),
            ),
            (
                Some("INVALID_PARAMETER"),
                None,
                Some("bad template data"),
                Failed,
            ),
            (Some("TRANSIENT_FAILURE"), None, None, transient),
            (Some("FAILED"), None, None, Failed),
            (Some("SOME_FUTURE_STATUS"), None, None, Unknown),
            (None, Some("m-1"), None, Unknown),
        ];

        for (status, message_id, error, expected) in cases {
            let outcome = classify_bulk_entry(status, message_id, error);
            assert_eq!(shape(&outcome), expected, "{status:?} {error:?}");
        }
    }

    #[test]
    fn every_sdk_bulk_status_is_mapped() {
        use aws_sdk_sesv2::types::BulkEmailStatus;

        // Every status the SDK defines must get a decision of its own rather
        // than the fallback for statuses added later.
        for status in BulkEmailStatus::values() {
            let outcome = classify_bulk_entry(Some(status), Some("m-1"), None);
            if let SendOutcome::Unknown { reason } = &outcome {
                assert!(!reason.starts_with("unrecognised"), "{status} has no rule");
            }
        }
    }

    #[test]
    fn reason_names_code_and_status() {
        let outcome = classify(&service(400, "MessageRejected", "Illegal address"));
        assert_eq!(
            outcome,
            SendOutcome::Failed {
                reason: "MessageRejected (HTTP 400): Illegal address".to_owned()
            }
        );
    }

    #[test]
    fn label_is_code_or_kind() {
        assert_eq!(
            service(400, "MessageRejected", "x").label(),
            "MessageRejected"
        );
        assert_eq!(service(502, "", "x").label(), "http_error");
        assert_eq!(other(ErrorKind::MaybeSent, "x").label(), "maybe_sent");
    }
}
