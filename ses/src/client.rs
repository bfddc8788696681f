//! The transport seam: the SES operations wrapsd uses, independent of the SDK.

use async_trait::async_trait;

use crate::error::SesError;
use crate::outcome::SendOutcome;

/// SES accepts at most this many entries in one `SendBulkEmail` call.
pub const MAX_BULK_ENTRIES: usize = 50;

/// One message with its content inline (SES `SendEmail` with simple content).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmailMessage {
    /// Sender in display form, `Name <address>` or a bare address.
    pub from: String,
    /// The one recipient address.
    pub to: String,
    pub reply_to: Vec<String>,
    pub subject: String,
    pub html: String,
    /// Plain-text part; `None` sends HTML only.
    pub text: Option<String>,
    /// Extra MIME headers, for example `List-Unsubscribe`.
    pub headers: Vec<(String, String)>,
    /// SES message tags, returned on every event of the message.
    pub tags: Vec<(String, String)>,
    pub configuration_set: Option<String>,
}

/// A `SendBulkEmail` call: one stored template, one entry per recipient.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BulkMessage {
    /// Sender in display form, `Name <address>` or a bare address.
    pub from: String,
    pub reply_to: Vec<String>,
    /// Name of the stored SES template.
    pub template_name: String,
    /// JSON object used for any variable an entry's data lacks.
    pub default_template_data: String,
    /// Tags of every entry; an entry's own tags with the same name win.
    pub default_tags: Vec<(String, String)>,
    pub configuration_set: Option<String>,
    /// Recipients in order; outcomes come back in the same order. A message
    /// with more than [`MAX_BULK_ENTRIES`] entries is sent in several calls.
    pub entries: Vec<BulkEntry>,
}

/// One recipient of a [`BulkMessage`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BulkEntry {
    pub to: String,
    /// JSON object with this recipient's template variables.
    pub template_data: String,
    /// Replacement headers of this entry, for example `List-Unsubscribe`.
    pub headers: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
}

/// Sending limits and state of an SES account in one region (`GetAccount`).
#[derive(Clone, Debug, PartialEq)]
pub struct AccountQuota {
    /// Messages per second (`MaxSendRate`).
    pub max_send_rate: f64,
    /// Messages per rolling 24 hours (`Max24HourSend`); `-1` means unlimited.
    pub max_24h_send: f64,
    /// Messages sent in the last 24 hours (`SentLast24Hours`).
    pub sent_last_24h: f64,
    /// Whether the account may send at all (`SendingEnabled`).
    pub sending_enabled: bool,
    /// Whether the account has left the SES sandbox (`ProductionAccessEnabled`).
    pub production_access_enabled: bool,
    /// SES review status such as `HEALTHY`, `PROBATION` or `SHUTDOWN`
    /// (`EnforcementStatus`), when SES reports one.
    pub enforcement_status: Option<String>,
}

impl AccountQuota {
    /// Reports whether the 24-hour quota is unlimited.
    pub fn is_unlimited(&self) -> bool {
        self.max_24h_send < 0.0
    }
}

/// An SES account in one region, as seen by the sender and the API.
///
/// Send methods never return an error: every failure is classified into a
/// [`SendOutcome`], so the caller only decides what to do next. Calls that do
/// not send (`get_account`, templates) return [`SesError`], whose
/// [`SesError::outcome`] gives the same classification.
#[async_trait]
pub trait SesClient: Send + Sync {
    /// Sends one message (`SendEmail`). The call is never retried inside.
    async fn send_email(&self, message: &EmailMessage) -> SendOutcome;

    /// Sends a stored template to each entry (`SendBulkEmail`) and returns one
    /// outcome per entry, by position. A call-level error gives every entry of
    /// that call the same outcome. Calls are never retried inside. When a
    /// message needs several calls and one is throttled or paused, the later
    /// entries get the same outcome without being sent.
    async fn send_bulk_email(&self, message: &BulkMessage) -> Vec<SendOutcome>;

    /// Reads the account's quotas (`GetAccount`).
    async fn get_account(&self) -> Result<AccountQuota, SesError>;

    /// Creates the stored template `name`, or replaces its content when it
    /// exists.
    async fn upsert_template(
        &self,
        name: &str,
        subject: &str,
        html: &str,
        text: Option<&str>,
    ) -> Result<(), SesError>;

    /// Deletes the stored template `name`; a template that does not exist is
    /// not an error.
    async fn delete_template(&self, name: &str) -> Result<(), SesError>;
}
