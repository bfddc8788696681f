//! One-click unsubscribe tokens (RFC 8058 links).
//!
//! A token names an organisation, a contact and, for a topic-scoped link, a
//! topic, and carries an HMAC-SHA256 tag under a versioned key. Tokens do
//! not expire, so a link in an old message keeps working. Keys rotate by
//! version: new links are signed with the newest key while every older key
//! still verifies the links it signed.
//!
//! Wire form: `base64url(payload) "." base64url(tag)`, where the payload is
//! the purpose byte `u`, the key version, the two 16-byte ids, a flag and
//! the optional topic id, and the tag is the first 16 bytes of the HMAC over
//! the payload. The purpose byte keeps these tokens apart from any other
//! token signed with the same key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::{ContactId, OrgId, TopicId};

/// The grant of a token: unsubscribing one contact of one organisation,
/// from one topic or from everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsubscribeClaims {
    pub organization_id: OrgId,
    pub contact_id: ContactId,
    pub topic_id: Option<TopicId>,
}

/// One signing key and its version.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub version: u8,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Reason a token was rejected. Callers respond to every kind the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token was signed with an unknown key version")]
    UnknownKey,
    #[error("the token's signature does not match")]
    BadSignature,
}

const PURPOSE: u8 = b'u';
const TAG_BYTES: usize = 16;
/// Maximum token length accepted, as the unsubscribe route allows.
pub const MAX_TOKEN_CHARS: usize = 500;

/// The keys unsubscribe tokens are signed and verified with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubscribeKeys {
    /// Sorted by version, newest last; never empty.
    keys: Vec<SigningKey>,
}

impl UnsubscribeKeys {
    /// Returns `None` when `keys` is empty.
    pub fn new(mut keys: Vec<SigningKey>) -> Option<Self> {
        keys.sort_by_key(|key| key.version);
        keys.dedup_by_key(|key| key.version);
        (!keys.is_empty()).then_some(Self { keys })
    }

    /// The version new tokens are signed with.
    pub fn current_version(&self) -> u8 {
        self.current().version
    }

    fn current(&self) -> &SigningKey {
        self.keys.last().expect("keys are never empty")
    }

    fn mac(key: &SigningKey, payload: &[u8]) -> [u8; TAG_BYTES] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&key.secret).expect("HMAC takes any key length");
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut tag = [0; TAG_BYTES];
        tag.copy_from_slice(&full[..TAG_BYTES]);
        tag
    }

    /// Signs `claims` with the newest key.
    pub fn sign(&self, claims: &UnsubscribeClaims) -> String {
        let key = self.current();
        let mut payload = Vec::with_capacity(51);
        payload.push(PURPOSE);
        payload.push(key.version);
        payload.extend_from_slice(claims.organization_id.0.as_bytes());
        payload.extend_from_slice(claims.contact_id.0.as_bytes());
        match claims.topic_id {
            Some(topic) => {
                payload.push(1);
                payload.extend_from_slice(topic.0.as_bytes());
            }
            None => payload.push(0),
        }
        let tag = Self::mac(key, &payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Checks `token` and returns its claims.
    pub fn verify(&self, token: &str) -> Result<UnsubscribeClaims, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        let (payload, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        let claims = parse_payload(&payload)?;
        let version = payload[1];
        let key = self
            .keys
            .iter()
            .find(|key| key.version == version)
            .ok_or(TokenError::UnknownKey)?;
        if tag.len() != TAG_BYTES {
            return Err(TokenError::BadSignature);
        }
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&key.secret).expect("HMAC takes any key length");
        mac.update(&payload);
        // Constant-time comparison of the truncated tag.
        mac.verify_truncated_left(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        Ok(claims)
    }
}

/// Reads the key version of a token without verifying it, so a caller can
/// load a key it does not have yet.
pub fn token_key_version(token: &str) -> Option<u8> {
    let (payload, _) = token.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    parse_payload(&payload).ok()?;
    Some(payload[1])
}

fn parse_payload(payload: &[u8]) -> Result<UnsubscribeClaims, TokenError> {
    let uuid = |bytes: &[u8]| Uuid::from_slice(bytes).map_err(|_| TokenError::Malformed);
    match payload {
        [PURPOSE, _version, ids @ ..] if ids.len() == 33 || ids.len() == 49 => {
            let organization_id = OrgId(uuid(&ids[..16])?);
            let contact_id = ContactId(uuid(&ids[16..32])?);
            let topic_id = match (ids[32], ids.len()) {
                (0, 33) => None,
                (1, 49) => Some(TopicId(uuid(&ids[33..49])?)),
                _ => return Err(TokenError::Malformed),
            };
            Ok(UnsubscribeClaims {
                organization_id,
                contact_id,
                topic_id,
            })
        }
        _ => Err(TokenError::Malformed),
    }
}

/// Masks an address for the confirmation page: `j***e@example.com`.
pub fn mask_email(email: &str) -> String {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return "***".to_owned();
    };
    let chars: Vec<char> = local.chars().collect();
    let masked = match chars.as_slice() {
        [] => "***".to_owned(),
        [only] => format!("{only}***"),
        [first, .., last] => format!("{first}***{last}"),
    };
    format!("{masked}@{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(versions: &[(u8, &str)]) -> UnsubscribeKeys {
        UnsubscribeKeys::new(
            versions
                .iter()
                .map(|(version, secret)| SigningKey {
                    version: *version,
                    secret: secret.as_bytes().to_vec(),
                })
                .collect(),
        )
        .unwrap()
    }

    fn claims(topic: bool) -> UnsubscribeClaims {
        UnsubscribeClaims {
            organization_id: OrgId::new(),
            contact_id: ContactId::new(),
            topic_id: topic.then(TopicId::new),
        }
    }

    #[test]
    fn round_trip_global_and_topic() {
        let keys = keys(&[(1, "first secret")]);
        for topic in [false, true] {
            let claims = claims(topic);
            let token = keys.sign(&claims);
            assert!(token.len() < 100, "{} characters", token.len());
            assert!(token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
            assert_eq!(keys.verify(&token), Ok(claims));
        }
    }

    #[test]
    fn rotated_keys_still_verify_old_tokens() {
        let old = keys(&[(1, "first secret")]);
        let rotated = keys(&[(2, "second secret"), (1, "first secret")]);
        let claims = claims(true);
        let old_token = old.sign(&claims);
        assert_eq!(rotated.verify(&old_token), Ok(claims));
        let new_token = rotated.sign(&claims);
        assert_eq!(token_key_version(&new_token), Some(2));
        assert_eq!(old.verify(&new_token), Err(TokenError::UnknownKey));
    }

    #[test]
    fn tampering_is_rejected() {
        let keys = keys(&[(1, "first secret")]);
        let claims = claims(false);
        let token = keys.sign(&claims);
        let (payload, tag) = token.split_once('.').unwrap();

        // Another contact id under the same tag.
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        bytes[20] ^= 1;
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(keys.verify(&forged), Err(TokenError::BadSignature));

        // Another key.
        let other = self::keys(&[(1, "other secret")]);
        assert_eq!(other.verify(&token), Err(TokenError::BadSignature));

        // A shortened tag.
        let short = format!("{payload}.{}", &tag[..4]);
        assert_eq!(keys.verify(&short), Err(TokenError::BadSignature));
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let keys = keys(&[(1, "first secret")]);
        for token in ["", ".", "abc", "abc.def", "!!!.???", &"a".repeat(600)] {
            assert_eq!(keys.verify(token), Err(TokenError::Malformed), "{token:?}");
        }
        // A payload of another purpose.
        let mut payload = vec![b'c', 1];
        payload.extend_from_slice(&[0; 33]);
        let token = format!("{}.AAAA", URL_SAFE_NO_PAD.encode(payload));
        assert_eq!(keys.verify(&token), Err(TokenError::Malformed));
    }

    #[test]
    fn masks_addresses() {
        assert_eq!(mask_email("jane@example.com"), "j***e@example.com");
        assert_eq!(mask_email("j@example.com"), "j***@example.com");
        assert_eq!(mask_email("no-at-sign"), "***");
    }

    #[test]
    fn empty_key_list_is_refused() {
        assert!(UnsubscribeKeys::new(Vec::new()).is_none());
    }
}
