//! The seam through which the dispatcher and the API get an SES client for
//! an AWS connection.

use std::sync::Arc;

use async_trait::async_trait;

use crate::client::SesClient;

/// An AWS connection as stored by wrapsd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionTarget {
    /// The 12-digit AWS account number.
    pub account_id: String,
    pub region: String,
    /// Role wrapsd assumes in the customer's account.
    pub role_arn: String,
    /// `sts:ExternalId` of the role's trust policy.
    pub external_id: String,
}

/// Gives an SES client for a connection. The binary provides one backed by
/// aws-sdk-sesv2; tests provide scripted clients.
#[async_trait]
pub trait SesProvider: Send + Sync {
    async fn client(&self, connection: &ConnectionTarget) -> Arc<dyn SesClient>;
}
