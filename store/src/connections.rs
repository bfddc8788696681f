//! AWS account connections: the customers' SES accounts wrapsd sends
//! through. One organisation connects an AWS account at most once, but
//! several organisations may connect the same account.

use rand::rngs::OsRng;
use rand::RngCore;
use schemas::connections::{Connection, ConnectionRegistered, CreateConnection};
use schemas::{ConnectionId, OrgId};
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection};

use crate::db::{Backend, Store};
use crate::error::StoreError;
use crate::row::{now_millis, RowExt};

/// Settings of `POST /v1/connections` that come from configuration and the
/// caller rather than from the request body.
#[derive(Clone, Debug)]
pub struct RegisterOptions {
    /// Maximum connections the organisation's plan allows (`None`: unlimited).
    pub account_limit: Option<u32>,
    /// IAM role name in the role ARN, `wraps-console-access-role` by default.
    pub role_name: String,
    /// Public base URL of the API. A trailing slash is ignored.
    pub api_base_url: String,
    /// User registering the connection, kept from the first registration.
    pub created_by: Option<String>,
}

/// Returns `wraps_` and 32 lower-case hex characters (16 random bytes), the
/// external id of the IAM role's trust policy.
fn generate_external_id() -> String {
    format!("wraps_{}", random_hex::<16>())
}

/// Returns 64 lower-case hex characters (32 random bytes).
fn generate_webhook_secret() -> String {
    random_hex::<32>()
}

fn random_hex<const N: usize>() -> String {
    let mut bytes = [0_u8; N];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Applies JavaScript truthiness to a `features` entry, as the hosted
/// service does: a missing key, `false`, `null`, `0` and `""` disable.
fn feature_enabled(features: &Map<String, Value>, key: &str) -> bool {
    match features.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(on)) => *on,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0 && !n.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(_) | Value::Object(_)) => true,
    }
}

fn connection_from_row(row: &AnyRow) -> Result<Connection, StoreError> {
    Ok(Connection {
        id: row.id("id")?,
        account_id: row.text("account_id")?,
        name: row.text("name")?,
        region: row.text("region")?,
        is_verified: row.flag("is_verified")?,
        email_enabled: row.flag("email_enabled")?,
        sms_enabled: row.flag("sms_enabled")?,
        last_verified_at: row.opt_ts("last_verified_at")?,
        last_event_received_at: row.opt_ts("last_event_received_at")?,
        created_at: row.ts("created_at")?,
        webhook_connected: row.flag("webhook_connected")?,
    })
}

/// Locks the organisation row for the rest of the transaction, so that
/// concurrent registrations for one organisation run one after another and
/// cannot both pass the account limit. SQLite needs no lock because its
/// single writer already runs write transactions one at a time.
async fn lock_org(
    conn: &mut AnyConnection,
    backend: Backend,
    org: OrgId,
) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT id FROM organizations WHERE id = $1{}",
        backend.for_update()
    );
    let row = sqlx::query::<Any>(&sql)
        .bind(org.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

impl Store {
    /// Registers the AWS account `req.account_id` for `org`, or updates the
    /// organisation's existing connection to it, and returns the response
    /// body and whether a connection was created.
    ///
    /// A new connection counts against `opts.account_limit` (an update does
    /// not), and at the limit the result is `LimitReached`. The external id is
    /// generated once and kept on updates. The webhook secret is generated
    /// on every call, so the previous one stops working. The name defaults to
    /// `AWS <accountId>` for new connections and is kept on updates unless
    /// given, and so are `features`.
    pub async fn register_connection(
        &self,
        org: OrgId,
        req: &CreateConnection,
        opts: &RegisterOptions,
    ) -> Result<(ConnectionRegistered, bool), StoreError> {
        let (Some(account_id), Some(region)) = (req.account_id.as_deref(), req.region.as_deref())
        else {
            return Err(StoreError::Invalid(
                "accountId and region are required".to_owned(),
            ));
        };
        let now = now_millis();
        let role_arn = format!("arn:aws:iam::{account_id}:role/{}", opts.role_name);
        let webhook_endpoint = format!(
            "{}/webhooks/ses/{account_id}",
            opts.api_base_url.trim_end_matches('/')
        );
        let webhook_secret = generate_webhook_secret();

        let mut tx = self.begin_write().await?;
        if !lock_org(&mut tx, self.backend, org).await? {
            return Err(StoreError::NotFound("Organization not found"));
        }

        let existing = sqlx::query::<Any>(
            "SELECT id, external_id FROM aws_connections WHERE organization_id = $1 AND account_id = $2",
        )
        .bind(org.to_string())
        .bind(account_id)
        .fetch_optional(&mut *tx)
        .await?;

        let (connection_id, external_id, created) = match existing {
            Some(row) => {
                let id: ConnectionId = row.id("id")?;
                let features = req
                    .features
                    .as_ref()
                    .map(|f| Value::Object(f.clone()).to_string());
                let email_enabled = req.features.as_ref().map(|f| feature_enabled(f, "email"));
                let sms_enabled = req.features.as_ref().map(|f| feature_enabled(f, "sms"));
                sqlx::query::<Any>(
                    "UPDATE aws_connections SET region = $1, name = COALESCE($2, name), role_arn = $3, \
                     webhook_secret = $4, features = COALESCE($5, features), \
                     email_enabled = COALESCE($6, email_enabled), sms_enabled = COALESCE($7, sms_enabled), \
                     is_verified = $8, last_verified_at = $9, updated_at = $9 WHERE id = $10",
                )
                .bind(region)
                .bind(req.name.clone())
                .bind(role_arn.as_str())
                .bind(webhook_secret.as_str())
                .bind(features)
                .bind(email_enabled)
                .bind(sms_enabled)
                .bind(true)
                .bind(now)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
                (id, row.text("external_id")?, false)
            }
            None => {
                if let Some(limit) = opts.account_limit {
                    let count = sqlx::query::<Any>(
                        "SELECT COUNT(*) AS n FROM aws_connections WHERE organization_id = $1",
                    )
                    .bind(org.to_string())
                    .fetch_one(&mut *tx)
                    .await?
                    .int("n")?;
                    if count >= i64::from(limit) {
                        return Err(StoreError::LimitReached(format!(
                            "AWS account limit reached ({limit}). Upgrade your plan to add more accounts."
                        )));
                    }
                }

                let id = ConnectionId::new();
                let external_id = generate_external_id();
                let features = req.features.clone().unwrap_or_default();
                sqlx::query::<Any>(
                    "INSERT INTO aws_connections (id, organization_id, account_id, region, name, role_arn, \
                     external_id, webhook_secret, features, email_enabled, sms_enabled, is_verified, \
                     last_verified_at, created_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $13, $13)",
                )
                .bind(id.to_string())
                .bind(org.to_string())
                .bind(account_id)
                .bind(region)
                .bind(req.name.clone().unwrap_or_else(|| format!("AWS {account_id}")))
                .bind(role_arn.as_str())
                .bind(external_id.as_str())
                .bind(webhook_secret.as_str())
                .bind(Value::Object(features.clone()).to_string())
                .bind(feature_enabled(&features, "email"))
                .bind(feature_enabled(&features, "sms"))
                .bind(true)
                .bind(now)
                .bind(opts.created_by.clone())
                .execute(&mut *tx)
                .await?;
                (id, external_id, true)
            }
        };
        tx.commit().await?;

        tracing::info!(org_id = %org, connection_id = %connection_id, created, "AWS connection registered");
        let registered = ConnectionRegistered {
            success: true,
            connection_id,
            external_id,
            role_arn,
            webhook_secret,
            webhook_endpoint,
        };
        Ok((registered, created))
    }

    /// Lists the organisation's connections, oldest first, without secrets.
    pub async fn list_connections(&self, org: OrgId) -> Result<Vec<Connection>, StoreError> {
        let rows = sqlx::query::<Any>(
            "SELECT id, account_id, name, region, is_verified, email_enabled, sms_enabled, last_verified_at, \
             last_event_received_at, created_at, \
             CASE WHEN webhook_secret IS NULL THEN 0 ELSE 1 END AS webhook_connected \
             FROM aws_connections WHERE organization_id = $1 ORDER BY created_at, id",
        )
        .bind(org.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(connection_from_row).collect()
    }

    /// Clears the connection's webhook secret, which stops event intake for
    /// it, but the connection itself stays. Returns false when the organisation
    /// has no such connection.
    pub async fn disconnect_webhook(
        &self,
        org: OrgId,
        id: ConnectionId,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query::<Any>(
            "UPDATE aws_connections SET webhook_secret = NULL, updated_at = $1 WHERE organization_id = $2 AND id = $3",
        )
        .bind(now_millis())
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generated_ids_have_the_documented_shape() {
        let external_id = generate_external_id();
        assert_eq!(external_id.len(), 38);
        assert!(external_id.starts_with("wraps_"));
        assert!(external_id[6..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));

        let secret = generate_webhook_secret();
        assert_eq!(secret.len(), 64);
        assert!(secret
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn features_use_truthiness() {
        let features = json!({"email": {"configurationSet": "x"}, "sms": false})
            .as_object()
            .unwrap()
            .clone();
        assert!(feature_enabled(&features, "email"));
        assert!(!feature_enabled(&features, "sms"));
        assert!(!feature_enabled(&features, "push"));
    }
}

/// Credentials a sender needs to reach an AWS account; never returned by the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionCredentials {
    pub id: ConnectionId,
    pub organization_id: OrgId,
    /// The 12-digit AWS account number.
    pub account_id: String,
    pub region: String,
    pub role_arn: String,
    pub external_id: String,
}

impl Store {
    /// Loads the credentials of connection `id` of `org`.
    pub async fn connection_credentials(
        &self,
        org: OrgId,
        id: ConnectionId,
    ) -> Result<Option<ConnectionCredentials>, StoreError> {
        let row = sqlx::query::<Any>(
            "SELECT id, organization_id, account_id, region, role_arn, external_id \
             FROM aws_connections WHERE id = $1 AND organization_id = $2",
        )
        .bind(id.to_string())
        .bind(org.to_string())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| {
            Ok(ConnectionCredentials {
                id: row.id("id")?,
                organization_id: row.id("organization_id")?,
                account_id: row.text("account_id")?,
                region: row.text("region")?,
                role_arn: row.text("role_arn")?,
                external_id: row.text("external_id")?,
            })
        })
        .transpose()
    }
}
