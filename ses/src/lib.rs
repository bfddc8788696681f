//! Amazon SES v2 for wrapsd: the transport the dispatcher sends through and
//! the API publishes templates with.
//!
//! * [`SesClient`] is the seam: send one message, send a stored template to
//!   up to 50 recipients, read the account's quotas, publish templates.
//!   [`AwsSesClient`] implements it with aws-sdk-sesv2; tests use it against
//!   the SES simulator or replace it with a fake.
//! * [`SesClients`] builds one SDK client per AWS connection, with the
//!   default credential chain or an assumed role, and points every client at
//!   another endpoint when configured (the simulator).
//! * [`classify()`] turns every failure into a [`SendOutcome`]. The SDK never
//!   retries a send, because SES has no idempotency key: a failure before the
//!   request left is retried later, a failure after it may have reached SES
//!   is `Unknown` and is never resent blindly.
//! * [`render`] renders templates the way SES does; [`tags`] and
//!   [`headers`] build message tags, the sender's display form and the
//!   RFC 8058 unsubscribe headers.

pub mod classify;
mod client;
mod clients;
mod error;
pub mod headers;
mod outcome;
mod provider;
pub mod render;
mod sdk;
pub mod sdk_error;
pub mod tags;

pub use classify::{classify, classify_bulk_entry, ErrorInfo, ErrorKind};
pub use client::{AccountQuota, BulkEntry, BulkMessage, EmailMessage, SesClient, MAX_BULK_ENTRIES};
pub use clients::{default_http_client, AssumeRole, AwsConnection, SesClients, SesSettings};
pub use error::SesError;
pub use outcome::{PauseReason, SendOutcome};
pub use provider::{ConnectionTarget, SesProvider};
pub use sdk::AwsSesClient;

/// Re-exported so callers can supply credentials and an HTTP client to
/// [`SesClients`] without depending on the SDK.
pub use aws_sdk_sesv2::config::{Credentials, SharedCredentialsProvider, SharedHttpClient};
