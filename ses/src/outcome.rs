//! Send outcomes: the result of one send, which the dispatcher acts on.

use std::fmt;
use std::time::Duration;

/// The result of handing one message (or one bulk entry) to SES.
///
/// The `reason` and `detail` texts may quote SES error messages, which can
/// contain email addresses (SES names unverified identities). Store them on the
/// recipient, but keep them out of logs and metric labels.
#[derive(Clone, Debug, PartialEq)]
pub enum SendOutcome {
    /// SES accepted the message.
    Sent { message_id: String },
    /// SES rejected the message with a transient error, or the request never
    /// left this process. Sending the same message again after `after` is safe.
    RetryLater { after: Duration, reason: String },
    /// The request may have reached SES, but no response came back (a timeout
    /// or a dropped connection after the request was written). Sending again
    /// could deliver twice, so the recipient is parked until an SES event
    /// settles it.
    Unknown { reason: String },
    /// An account-level condition stops every send through this account or
    /// this configuration until someone acts, so the caller pauses the work
    /// instead of failing recipients one by one.
    PauseAccount { reason: PauseReason, detail: String },
    /// SES rejected this message for good; sending it again fails the same way.
    Failed { reason: String },
}

impl SendOutcome {
    /// Returns the outcome label used in metrics and logs: `sent`,
    /// `retry_later`, `unknown`, `pause_account` or `failed`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Sent { .. } => "sent",
            Self::RetryLater { .. } => "retry_later",
            Self::Unknown { .. } => "unknown",
            Self::PauseAccount { .. } => "pause_account",
            Self::Failed { .. } => "failed",
        }
    }
}

/// The reason the sends through an AWS account (or one of its
/// configurations) must pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PauseReason {
    /// The rolling 24-hour sending quota (`Max24HourSend`) is used up.
    DailyQuota,
    /// Sending is paused for the account or for its configuration set.
    SendingPaused,
    /// AWS suspended the account's ability to send.
    AccountSuspended,
    /// The credentials or the assumed role may not send through SES.
    NotAuthorized,
    /// The sender address, its domain or its custom MAIL FROM domain is not
    /// verified in this account and region.
    SenderNotVerified,
    /// The stored SES template named by the send does not exist.
    TemplateNotFound,
    /// The configuration set does not exist, or it names a dedicated IP pool
    /// that does not exist.
    ConfigurationInvalid,
}

impl PauseReason {
    /// Returns the snake_case name stored as a batch's pause reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DailyQuota => "daily_quota",
            Self::SendingPaused => "sending_paused",
            Self::AccountSuspended => "account_suspended",
            Self::NotAuthorized => "not_authorized",
            Self::SenderNotVerified => "sender_not_verified",
            Self::TemplateNotFound => "template_not_found",
            Self::ConfigurationInvalid => "configuration_invalid",
        }
    }
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
