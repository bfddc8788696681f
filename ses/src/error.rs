//! The crate's error type, for calls that do not send.

use aws_sdk_sesv2::error::BoxError;

use crate::classify::{classify, ErrorInfo, ErrorKind};
use crate::outcome::SendOutcome;

/// Failure of an SES call that does not send (`GetAccount`, templates), or of
/// the client setup.
#[derive(Debug, thiserror::Error)]
pub enum SesError {
    /// SES, the credentials or the network failed the call.
    #[error("SES {operation} failed: {info}")]
    Call {
        operation: &'static str,
        info: ErrorInfo,
        #[source]
        source: BoxError,
    },
    /// The SES response lacks a field the call needs.
    #[error("SES {operation} returned no {field}")]
    MissingField {
        operation: &'static str,
        field: &'static str,
    },
    /// A client setting is invalid; the message names the setting.
    #[error("invalid SES setting {setting}: {reason}")]
    InvalidSetting {
        setting: &'static str,
        reason: String,
    },
}

impl SesError {
    /// Returns what the failure would mean for a send through the same
    /// account, so callers can tell a paused or unauthorised account from a
    /// passing fault.
    pub fn outcome(&self) -> SendOutcome {
        match self {
            Self::Call { info, .. } => classify(info),
            other => SendOutcome::Failed {
                reason: other.to_string(),
            },
        }
    }

    /// Returns the classified failure of an SES call.
    pub fn info(&self) -> Option<&ErrorInfo> {
        match self {
            Self::Call { info, .. } => Some(info),
            _ => None,
        }
    }

    /// Reports whether SES returned `NotFoundException`: the named resource
    /// does not exist.
    pub fn is_not_found(&self) -> bool {
        self.info()
            .and_then(ErrorInfo::code)
            .is_some_and(|code| code == "NotFoundException")
    }

    /// Reports whether SES returned `AlreadyExistsException`: the named
    /// resource already exists.
    pub fn is_already_exists(&self) -> bool {
        self.info()
            .and_then(ErrorInfo::code)
            .is_some_and(|code| code == "AlreadyExistsException")
    }

    /// Reports whether the call may succeed when repeated later.
    pub fn is_transient(&self) -> bool {
        match self.info().map(|info| &info.kind) {
            Some(ErrorKind::NotSent | ErrorKind::MaybeSent) => true,
            Some(_) => matches!(self.outcome(), SendOutcome::RetryLater { .. }),
            None => false,
        }
    }
}
