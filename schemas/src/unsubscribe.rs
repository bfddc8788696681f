//! Signed tokens in links: one-click unsubscribe (RFC 8058) and double
//! opt-in confirmation.
//!
//! An unsubscribe token names an organisation, a contact and, for a
//! topic-scoped link, a topic. Unsubscribe tokens do not expire, so a link
//! in an old message keeps working. A confirmation token names an
//! organisation, a contact and a topic, and expires [`CONFIRMATION_TTL`]
//! after it was issued. Both carry an HMAC-SHA256 tag under a versioned key
//! of the same key set. Keys rotate by version: new links are signed with
//! the newest key while every older key still verifies the links it signed.
//!
//! Wire form: `base64url(payload) "." base64url(tag)`, where the tag is the
//! first 16 bytes of the HMAC over the payload. The payload starts with a
//! kind byte and the key version:
//!
//! - unsubscribe: `u`, version, org id, contact id (16 bytes each), a flag
//!   and the optional topic id;
//! - confirmation: `c`, version, org id, contact id, topic id, and the
//!   expiry as big-endian Unix seconds (8 bytes).
//!
//! The kind byte is signed with the rest, so a token of one kind can never
//! be verified as the other.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
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

/// The grant of a confirmation token: confirming one contact's pending
/// subscription to one topic, until `expires_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfirmationClaims {
    pub organization_id: OrgId,
    pub contact_id: ContactId,
    pub topic_id: TopicId,
    /// Whole seconds, as the token carries it.
    pub expires_at: DateTime<Utc>,
}

impl ConfirmationClaims {
    /// Creates the claims of a token issued at `issued_at`, which expires
    /// [`CONFIRMATION_TTL`] later (rounded down to the second).
    pub fn issued_at(
        organization_id: OrgId,
        contact_id: ContactId,
        topic_id: TopicId,
        issued_at: DateTime<Utc>,
    ) -> Self {
        let expires = (issued_at + CONFIRMATION_TTL).timestamp();
        Self {
            organization_id,
            contact_id,
            topic_id,
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or_default(),
        }
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
    #[error("the token has expired")]
    Expired,
}

const UNSUBSCRIBE_KIND: u8 = b'u';
const CONFIRMATION_KIND: u8 = b'c';
const TAG_BYTES: usize = 16;
/// Maximum token length accepted, as the unsubscribe route allows.
pub const MAX_TOKEN_CHARS: usize = 500;
/// How long a confirmation link stays valid after it was issued.
pub const CONFIRMATION_TTL: TimeDelta = TimeDelta::hours(48);

/// The keys link tokens are signed and verified with.
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

    /// Signs an unsubscribe grant with the newest key.
    pub fn sign(&self, claims: &UnsubscribeClaims) -> String {
        let mut body = Vec::with_capacity(49);
        body.extend_from_slice(claims.organization_id.0.as_bytes());
        body.extend_from_slice(claims.contact_id.0.as_bytes());
        match claims.topic_id {
            Some(topic) => {
                body.push(1);
                body.extend_from_slice(topic.0.as_bytes());
            }
            None => body.push(0),
        }
        self.seal(UNSUBSCRIBE_KIND, &body)
    }

    /// Checks an unsubscribe token and returns its claims.
    pub fn verify(&self, token: &str) -> Result<UnsubscribeClaims, TokenError> {
        self.open(token, UNSUBSCRIBE_KIND, parse_unsubscribe)
    }

    /// Signs a confirmation grant with the newest key.
    pub fn sign_confirmation(&self, claims: &ConfirmationClaims) -> String {
        let mut body = Vec::with_capacity(56);
        body.extend_from_slice(claims.organization_id.0.as_bytes());
        body.extend_from_slice(claims.contact_id.0.as_bytes());
        body.extend_from_slice(claims.topic_id.0.as_bytes());
        body.extend_from_slice(&claims.expires_at.timestamp().to_be_bytes());
        self.seal(CONFIRMATION_KIND, &body)
    }

    /// Checks a confirmation token and returns its claims. A token with a
    /// valid signature and an expiry at or before `now` is
    /// [`TokenError::Expired`].
    pub fn verify_confirmation(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<ConfirmationClaims, TokenError> {
        let claims = self.open(token, CONFIRMATION_KIND, parse_confirmation)?;
        if claims.expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// Prefixes `body` with the kind and the newest key version, and
    /// appends the tag.
    fn seal(&self, kind: u8, body: &[u8]) -> String {
        let key = self.current();
        let mut payload = Vec::with_capacity(body.len() + 2);
        payload.push(kind);
        payload.push(key.version);
        payload.extend_from_slice(body);
        let tag = Self::mac(key, &payload);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Decodes a token of `kind`, parses its body and checks its tag.
    fn open<T>(
        &self,
        token: &str,
        kind: u8,
        parse: fn(&[u8]) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
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
        let (version, claims) = match payload.as_slice() {
            [found, version, body @ ..] if *found == kind => (*version, parse(body)?),
            _ => return Err(TokenError::Malformed),
        };
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

/// Reads the key version of a token of either kind without verifying it,
/// so a caller can load a key it does not have yet.
pub fn token_key_version(token: &str) -> Option<u8> {
    let (payload, _) = token.split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let parsed = match payload.as_slice() {
        [UNSUBSCRIBE_KIND, _, body @ ..] => parse_unsubscribe(body).is_ok(),
        [CONFIRMATION_KIND, _, body @ ..] => parse_confirmation(body).is_ok(),
        _ => false,
    };
    parsed.then(|| payload[1])
}

fn uuid(bytes: &[u8]) -> Result<Uuid, TokenError> {
    Uuid::from_slice(bytes).map_err(|_| TokenError::Malformed)
}

fn parse_unsubscribe(body: &[u8]) -> Result<UnsubscribeClaims, TokenError> {
    if body.len() != 33 && body.len() != 49 {
        return Err(TokenError::Malformed);
    }
    let organization_id = OrgId(uuid(&body[..16])?);
    let contact_id = ContactId(uuid(&body[16..32])?);
    let topic_id = match (body[32], body.len()) {
        (0, 33) => None,
        (1, 49) => Some(TopicId(uuid(&body[33..49])?)),
        _ => return Err(TokenError::Malformed),
    };
    Ok(UnsubscribeClaims {
        organization_id,
        contact_id,
        topic_id,
    })
}

fn parse_confirmation(body: &[u8]) -> Result<ConfirmationClaims, TokenError> {
    if body.len() != 56 {
        return Err(TokenError::Malformed);
    }
    let (ids, expiry) = body.split_at(48);
    let expiry: [u8; 8] = expiry.try_into().map_err(|_| TokenError::Malformed)?;
    let expires_at =
        DateTime::from_timestamp(i64::from_be_bytes(expiry), 0).ok_or(TokenError::Malformed)?;
    Ok(ConfirmationClaims {
        organization_id: OrgId(uuid(&ids[..16])?),
        contact_id: ContactId(uuid(&ids[16..32])?),
        topic_id: TopicId(uuid(&ids[32..48])?),
        expires_at,
    })
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

/// Escapes text for HTML element content and attribute values, for the
/// pages and emails that show a topic name or a link.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
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

    fn confirmation(issued_at: DateTime<Utc>) -> ConfirmationClaims {
        ConfirmationClaims::issued_at(OrgId::new(), ContactId::new(), TopicId::new(), issued_at)
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    #[test]
    fn confirmation_round_trip() {
        let keys = keys(&[(1, "first secret")]);
        let claims = confirmation(at("2025-01-05T10:00:00.750Z"));
        assert_eq!(claims.expires_at, at("2025-01-07T10:00:00Z"));

        let token = keys.sign_confirmation(&claims);

        assert!(token.len() < 120, "{} characters", token.len());
        assert!(token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_eq!(token_key_version(&token), Some(1));
        let now = at("2025-01-07T09:59:59Z");
        assert_eq!(keys.verify_confirmation(&token, now), Ok(claims));
    }

    #[test]
    fn confirmation_expires_after_48_hours() {
        let keys = keys(&[(1, "first secret")]);
        let token = keys.sign_confirmation(&confirmation(at("2025-01-05T10:00:00Z")));

        let expiry = at("2025-01-07T10:00:00Z");
        assert_eq!(
            keys.verify_confirmation(&token, expiry),
            Err(TokenError::Expired)
        );
        assert_eq!(
            keys.verify_confirmation(&token, at("2025-03-01T00:00:00Z")),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn confirmation_is_not_an_unsubscribe_token() {
        let keys = keys(&[(1, "first secret")]);
        let token = keys.sign_confirmation(&confirmation(Utc::now()));

        assert_eq!(keys.verify(&token), Err(TokenError::Malformed));
    }

    #[test]
    fn unsubscribe_is_not_a_confirmation_token() {
        let keys = keys(&[(1, "first secret")]);
        for topic in [false, true] {
            let token = keys.sign(&claims(topic));
            assert_eq!(
                keys.verify_confirmation(&token, Utc::now()),
                Err(TokenError::Malformed),
                "topic-scoped: {topic}"
            );
        }
    }

    #[test]
    fn relabelled_kind_fails_the_signature() {
        let keys = keys(&[(1, "first secret")]);
        let token = keys.sign_confirmation(&confirmation(Utc::now()));
        let (payload, tag) = token.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        assert_eq!(bytes[0], CONFIRMATION_KIND);

        // Rewriting the kind byte keeps the shape but not the tag.
        bytes[0] = UNSUBSCRIBE_KIND;
        bytes.truncate(2 + 49);
        bytes[2 + 32] = 1;
        let relabelled = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(keys.verify(&relabelled), Err(TokenError::BadSignature));
    }

    #[test]
    fn tampered_confirmation_is_rejected() {
        let keys = keys(&[(1, "first secret")]);
        let issued = at("2025-01-05T10:00:00Z");
        let token = keys.sign_confirmation(&confirmation(issued));
        let (payload, tag) = token.split_once('.').unwrap();
        let now = issued + TimeDelta::hours(1);

        // Another topic id under the same tag.
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        bytes[40] ^= 1;
        let other_topic = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(
            keys.verify_confirmation(&other_topic, now),
            Err(TokenError::BadSignature)
        );

        // A later expiry under the same tag.
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let last = bytes.len() - 1;
        bytes[last] = bytes[last].wrapping_add(1);
        let extended = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(
            keys.verify_confirmation(&extended, now),
            Err(TokenError::BadSignature)
        );

        // Another key.
        let other = self::keys(&[(1, "other secret")]);
        assert_eq!(
            other.verify_confirmation(&token, now),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rotated_keys_still_verify_old_confirmations() {
        let old = keys(&[(1, "first secret")]);
        let rotated = keys(&[(2, "second secret"), (1, "first secret")]);
        let issued = at("2025-01-05T10:00:00Z");
        let claims = confirmation(issued);
        let now = issued + TimeDelta::hours(47);

        let old_token = old.sign_confirmation(&claims);
        assert_eq!(rotated.verify_confirmation(&old_token, now), Ok(claims));

        let new_token = rotated.sign_confirmation(&claims);
        assert_eq!(token_key_version(&new_token), Some(2));
        assert_eq!(
            old.verify_confirmation(&new_token, now),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn masks_addresses() {
        assert_eq!(mask_email("jane@example.com"), "j***e@example.com");
        assert_eq!(mask_email("j@example.com"), "j***@example.com");
        assert_eq!(mask_email("no-at-sign"), "***");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html("<b>\"Tom & 'Jerry'\"</b>"),
            "&lt;b&gt;&quot;Tom &amp; &#39;Jerry&#39;&quot;&lt;/b&gt;"
        );
    }

    #[test]
    fn empty_key_list_is_refused() {
        assert!(UnsubscribeKeys::new(Vec::new()).is_none());
    }
}
