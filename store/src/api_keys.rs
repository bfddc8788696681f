//! API keys: `wraps_live_`, `wraps_test_` or `wraps_rk_` followed by 32
//! base64url characters (24 random bytes). Only the SHA-256 hex digest of the
//! whole key and a display prefix are stored. The plaintext exists once, in
//! the value [`Store::create_api_key`] returns.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use rand::RngCore;
use schemas::{ApiKeyId, OrgId};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Any;

use crate::db::Store;
use crate::error::StoreError;
use crate::row::{millis, now_millis, RowExt};

/// Every permission an API key can carry. Permissions are stored but not
/// enforced, as in the hosted service.
pub const ALL_PERMISSIONS: [&str; 12] = [
    "contacts:read",
    "contacts:write",
    "topics:read",
    "topics:write",
    "segments:read",
    "segments:write",
    "campaigns:read",
    "campaigns:write",
    "workflows:read",
    "workflows:write",
    "analytics:read",
    "send:email",
];

/// Random characters shown in a key's display prefix.
const PREFIX_RANDOM_CHARS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    Live,
    Test,
    /// `wraps_rk_` keys.
    Restricted,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Live => "live",
            KeyType::Test => "test",
            KeyType::Restricted => "restricted",
        }
    }

    pub fn parse(s: &str) -> Option<KeyType> {
        match s {
            "live" => Some(KeyType::Live),
            "test" => Some(KeyType::Test),
            "restricted" => Some(KeyType::Restricted),
            _ => None,
        }
    }

    /// Returns the literal start of keys of this type.
    pub fn token_prefix(self) -> &'static str {
        match self {
            KeyType::Live => "wraps_live_",
            KeyType::Test => "wraps_test_",
            KeyType::Restricted => "wraps_rk_",
        }
    }
}

/// A stored API key, without its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub organization_id: OrgId,
    pub name: String,
    /// Type prefix, first random characters and `...`, for display.
    pub prefix: String,
    pub key_type: KeyType,
    pub permissions: Vec<String>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// User who created the key. Keys made on the command line have none.
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A freshly created key. `plaintext` is the only copy of the secret.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub record: ApiKeyRecord,
    pub plaintext: String,
}

/// Identity of an authenticated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthContext {
    pub api_key_id: ApiKeyId,
    pub organization_id: OrgId,
    /// The key's creator, which becomes the request's user id.
    pub user_id: Option<String>,
    pub plan: String,
}

const KEY_COLUMNS: &str =
    "id, organization_id, name, prefix, key_type, permissions, last_used_at, \
     expires_at, revoked_at, created_by, created_at";

/// Returns the SHA-256 hex digest of a whole API key, the value stored and
/// looked up.
pub fn hash_api_key(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn generate_key(key_type: KeyType) -> (String, String) {
    let mut random = [0_u8; 24];
    OsRng.fill_bytes(&mut random);
    let encoded = URL_SAFE_NO_PAD.encode(random);

    let plaintext = format!("{}{encoded}", key_type.token_prefix());
    let display = format!(
        "{}{}...",
        key_type.token_prefix(),
        &encoded[..PREFIX_RANDOM_CHARS]
    );
    (plaintext, display)
}

/// Permissions given to a new key: everything, or the `:read` ones for
/// restricted keys.
// NOTE: the hosted service issues keys from its dashboard, where the caller
// picks the permissions; the choice for `wraps_rk_` keys here is wrapsd's.
fn default_permissions(key_type: KeyType) -> Vec<String> {
    ALL_PERMISSIONS
        .iter()
        .filter(|permission| key_type != KeyType::Restricted || permission.ends_with(":read"))
        .map(|permission| (*permission).to_owned())
        .collect()
}

fn key_from_row(row: &AnyRow) -> Result<ApiKeyRecord, StoreError> {
    let key_type = row.text("key_type")?;
    let permissions = row.text("permissions")?;
    Ok(ApiKeyRecord {
        id: row.id("id")?,
        organization_id: row.id("organization_id")?,
        name: row.text("name")?,
        prefix: row.text("prefix")?,
        key_type: KeyType::parse(&key_type)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown API key type {key_type:?}")))?,
        permissions: serde_json::from_str(&permissions).map_err(|err| {
            StoreError::Corrupt(format!("API key permissions are not a JSON array: {err}"))
        })?,
        last_used_at: row.opt_ts("last_used_at")?,
        expires_at: row.opt_ts("expires_at")?,
        revoked_at: row.opt_ts("revoked_at")?,
        created_by: row.opt_text("created_by")?,
        created_at: row.ts("created_at")?,
    })
}

impl Store {
    /// Creates a key for `org`. Fails with `NotFound` when the organisation
    /// does not exist.
    pub async fn create_api_key(
        &self,
        org: OrgId,
        name: &str,
        key_type: KeyType,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<NewApiKey, StoreError> {
        let (plaintext, prefix) = generate_key(key_type);
        let record = ApiKeyRecord {
            id: ApiKeyId::new(),
            organization_id: org,
            name: name.to_owned(),
            prefix,
            key_type,
            permissions: default_permissions(key_type),
            last_used_at: None,
            expires_at: expires_at.map(|ts| schemas::time::from_millis(millis(ts))),
            revoked_at: None,
            created_by: None,
            created_at: schemas::time::from_millis(now_millis()),
        };
        let permissions = serde_json::Value::from(record.permissions.clone()).to_string();

        let mut tx = self.begin_write().await?;
        let org_exists = sqlx::query::<Any>("SELECT id FROM organizations WHERE id = $1")
            .bind(org.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !org_exists {
            return Err(StoreError::NotFound("Organization not found"));
        }

        sqlx::query::<Any>(
            "INSERT INTO api_keys (id, organization_id, name, key_hash, prefix, key_type, permissions, \
             expires_at, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(record.id.to_string())
        .bind(org.to_string())
        .bind(name)
        .bind(hash_api_key(&plaintext))
        .bind(record.prefix.as_str())
        .bind(key_type.as_str())
        .bind(permissions)
        .bind(record.expires_at.map(millis))
        .bind(record.created_by.clone())
        .bind(millis(record.created_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;

        tracing::info!(org_id = %org, api_key_id = %record.id, key_type = key_type.as_str(), "API key created");
        Ok(NewApiKey { record, plaintext })
    }

    /// Lists the organisation's keys, revoked ones included, oldest first.
    pub async fn list_api_keys(&self, org: OrgId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE organization_id = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query::<Any>(&sql)
            .bind(org.to_string())
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key (an admin action, not tenant-scoped) and returns its
    /// organisation, or `None` when no such key exists. Revoking twice keeps
    /// the first revocation time.
    pub async fn revoke_api_key(&self, key: ApiKeyId) -> Result<Option<OrgId>, StoreError> {
        let row = sqlx::query::<Any>(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING organization_id",
        )
        .bind(now_millis())
        .bind(key.to_string())
        .fetch_optional(&self.writer)
        .await?;

        let org = row
            .map(|row| row.id::<OrgId>("organization_id"))
            .transpose()?;
        if org.is_some() {
            tracing::info!(api_key_id = %key, "API key revoked");
        }
        Ok(org)
    }

    /// Looks a bearer token up by the SHA-256 of the whole token. Returns
    /// `None` for unknown, revoked and expired keys, and records the use of
    /// a valid one. The reason for a rejection is only logged.
    pub async fn authenticate(&self, token: &str) -> Result<Option<AuthContext>, StoreError> {
        let row = sqlx::query::<Any>(
            "SELECT k.id, k.organization_id, k.created_by, k.expires_at, k.revoked_at, o.plan \
             FROM api_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.key_hash = $1",
        )
        .bind(hash_api_key(token))
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            tracing::debug!("authentication failed: unknown API key");
            return Ok(None);
        };

        let api_key_id: ApiKeyId = row.id("id")?;
        let now = now_millis();
        if row.opt_int("revoked_at")?.is_some() {
            tracing::debug!(%api_key_id, "authentication failed: API key revoked");
            return Ok(None);
        }
        if row
            .opt_int("expires_at")?
            .is_some_and(|expires_at| expires_at <= now)
        {
            tracing::debug!(%api_key_id, "authentication failed: API key expired");
            return Ok(None);
        }

        // Skipping the write when the stored time is under a second old keeps
        // a busy key from turning every request into a write on the key's row.
        sqlx::query::<Any>(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1 - 1000)",
        )
        .bind(now)
        .bind(api_key_id.to_string())
        .execute(&self.writer)
        .await?;

        Ok(Some(AuthContext {
            api_key_id,
            organization_id: row.id("organization_id")?,
            user_id: row.opt_text("created_by")?,
            plan: row.text("plan")?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        for (key_type, total_len) in [
            (KeyType::Live, 43),
            (KeyType::Test, 43),
            (KeyType::Restricted, 41),
        ] {
            let (plaintext, display) = generate_key(key_type);
            assert_eq!(plaintext.len(), total_len, "{plaintext}");
            assert!(plaintext.starts_with(key_type.token_prefix()));
            assert_eq!(
                display,
                format!("{}...", &plaintext[..key_type.token_prefix().len() + 8])
            );
        }
    }

    #[test]
    fn restricted_keys_get_read_permissions_only() {
        let permissions = default_permissions(KeyType::Restricted);
        assert!(permissions.iter().all(|p| p.ends_with(":read")));
        assert_eq!(permissions.len(), 6);
        assert_eq!(default_permissions(KeyType::Live).len(), 12);
    }
}
