//! AWS account connections: the customer's SES accounts wrapsd sends through.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::ids::ConnectionId;
use crate::validation::Violations;

/// `POST /v1/connections`: register an AWS account, or update the one with
/// the same account number.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateConnection {
    /// 12-digit AWS account id.
    pub account_id: Option<String>,
    /// AWS region of the SES account, for example `us-east-1`.
    pub region: Option<String>,
    pub name: Option<String>,
    /// Stored as given; the keys `email` and `sms` enable those channels.
    #[schema(value_type = Option<Object>)]
    pub features: Option<Map<String, Value>>,
}

impl CreateConnection {
    /// Validates the request. The hosted service accepts any account id and
    /// region. wrapsd rejects values that cannot be an AWS account or region,
    /// because the role ARN and the webhook endpoint are built from them.
    pub fn validate(&self) -> Result<(), Vec<crate::FieldError>> {
        let mut v = Violations::new();
        match self.account_id.as_deref() {
            None => v.push("accountId", "is required"),
            Some(id) if !is_aws_account_id(id) => {
                v.push("accountId", "must be a 12-digit AWS account id")
            }
            Some(_) => {}
        }
        match self.region.as_deref() {
            None => v.push("region", "is required"),
            Some(region) if !is_aws_region(region) => {
                v.push("region", "must be an AWS region such as us-east-1")
            }
            Some(_) => {}
        }
        v.max_chars("name", self.name.as_deref(), 255);
        v.finish()
    }
}

pub fn is_aws_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Reports whether `s` has the shape of an AWS region code (`us-east-1`,
/// `ap-southeast-2`, `us-gov-west-1`).
pub fn is_aws_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// Response of `POST /v1/connections` (201 when new, 200 on update).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionRegistered {
    pub success: bool,
    pub connection_id: ConnectionId,
    /// External id for the IAM role's trust policy; kept across updates.
    pub external_id: String,
    pub role_arn: String,
    /// Shared secret of the SES event webhook; rotated on every call.
    pub webhook_secret: String,
    pub webhook_endpoint: String,
}

/// A connection as listed; secrets are never returned here.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub id: ConnectionId,
    pub account_id: String,
    pub name: String,
    pub region: String,
    pub is_verified: bool,
    pub email_enabled: bool,
    pub sms_enabled: bool,
    #[serde(with = "crate::time::iso_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_verified_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::iso_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_event_received_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::iso")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Whether a webhook secret is set.
    pub webhook_connected: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectionList {
    pub connections: Vec<Connection>,
}

/// `{"success": true}`, the body of deletes.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Success {
    pub success: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_shapes() {
        for ok in [
            "us-east-1",
            "ap-southeast-2",
            "us-gov-west-1",
            "eu-central-1",
        ] {
            assert!(is_aws_region(ok), "{ok}");
        }
        for bad in ["", "us-east", "US-EAST-1", "useast1", "us-east-x"] {
            assert!(!is_aws_region(bad), "{bad}");
        }
    }

    #[test]
    fn create_requires_account_and_region() {
        let paths: Vec<_> = CreateConnection::default()
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["accountId", "region"]);
    }
}
