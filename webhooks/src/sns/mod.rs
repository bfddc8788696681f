//! SNS message signature verification.
//!
//! SNS signs every HTTP(S) message with RSASSA-PKCS1-v1_5 over a canonical
//! string built from some of its fields (see [`string_to_sign`]), using
//! SHA-1 for `SignatureVersion` 1 and SHA-256 for version 2. The public key
//! is in the X.509 certificate at `SigningCertURL`.
//!
//! [`SnsVerifier::verify`] runs the checks in this order, all of them
//! before any certificate is fetched except the last four:
//!
//! 1. the signature version is 1 or 2 (and 1 is allowed by the policy);
//! 2. `Timestamp` is at most [`VerifyPolicy::max_age`] old and at most
//!    [`VerifyPolicy::max_clock_skew`] in the future;
//! 3. `SigningCertURL` passes [`check_signing_cert_url`];
//! 4. the certificate is fetched through the injected [`CertificateFetcher`];
//! 5. the certificate is at most [`MAX_CERTIFICATE_BYTES`], parses as PEM
//!    X.509, and is within its validity period at `now`;
//! 6. its key is RSA of 2048 to 4096 bits;
//! 7. the signature verifies over the canonical string.
//!
//! The certificate chain is not checked: the certificate is trusted because
//! it was fetched over HTTPS from an SNS host, which is what the AWS SDKs
//! rely on as well.

mod fetcher;
mod signer;
mod urls;

use chrono::{DateTime, TimeDelta, Utc};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;
use sha1::Sha1;
use sha2::Sha256;
use thiserror::Error;
use x509_cert::der::{DecodePem, Encode};
use x509_cert::Certificate;

use base64::Engine as _;

use crate::envelope::{SnsMessage, SnsMessageType};

pub use fetcher::{CachingFetcher, CertificateFetcher, FetchError};
pub use signer::{SignError, SnsSigner};
pub use urls::{check_signing_cert_url, check_subscribe_url};

/// Largest certificate accepted, in bytes. SNS certificates are under 2 KiB.
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

/// Smallest RSA modulus accepted, in bits. SNS uses 2048-bit keys.
pub const MIN_KEY_BITS: usize = 2048;

/// Limits applied by the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Oldest `Timestamp` accepted, relative to `now`. AWS documents one hour
    /// as the longest an SNS message stays valid.
    pub max_age: TimeDelta,
    /// How far in the future a `Timestamp` may be, to allow for clock skew.
    pub max_clock_skew: TimeDelta,
    /// Whether `SignatureVersion` 1 (SHA-1) is accepted. SNS topics sign
    /// with version 1 unless the topic owner set version 2.
    pub accept_sha1: bool,
}

impl Default for VerifyPolicy {
    /// Returns a policy of one hour maximum age, five minutes of clock skew,
    /// and SHA-1 accepted.
    fn default() -> Self {
        Self {
            max_age: TimeDelta::hours(1),
            max_clock_skew: TimeDelta::minutes(5),
            accept_sha1: true,
        }
    }
}

/// The SNS signature versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureVersion {
    /// `"1"`: SHA1withRSA.
    V1,
    /// `"2"`: SHA256withRSA.
    V2,
}

impl SignatureVersion {
    /// Parses the `SignatureVersion` field.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "1" => Some(Self::V1),
            "2" => Some(Self::V2),
            _ => None,
        }
    }
}

/// A message whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSns {
    /// `TopicArn`, which the caller must compare with the topic configured
    /// for the connection before acting on the message.
    pub topic_arn: String,
    /// `Type`.
    pub message_type: SnsMessageType,
    /// `MessageId`.
    pub message_id: String,
    /// The signature version that was used.
    pub signature_version: SignatureVersion,
}

/// Errors of SNS message verification. Messages contain no field values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SnsError {
    /// `SignatureVersion` is not 1 or 2.
    #[error("unsupported SNS SignatureVersion")]
    UnsupportedSignatureVersion,
    /// `SignatureVersion` is 1 and the policy requires version 2.
    #[error("SNS SignatureVersion 1 (SHA-1) is not accepted; set SignatureVersion 2 on the topic")]
    Sha1NotAccepted,
    /// `Timestamp` is not RFC 3339.
    #[error("SNS Timestamp is not a valid RFC 3339 time")]
    InvalidTimestamp,
    /// `Timestamp` is older than the policy allows.
    #[error("SNS message expired: its Timestamp is {age_seconds} s old")]
    Expired {
        /// Age of the message at `now`, in seconds.
        age_seconds: i64,
    },
    /// `Timestamp` is further in the future than the clock skew allows.
    #[error("SNS Timestamp is in the future")]
    TimestampInFuture,
    /// `SigningCertURL` is not an SNS certificate URL.
    #[error("invalid SNS SigningCertURL: {0}")]
    InvalidCertUrl(&'static str),
    /// `SubscribeURL` is not an SNS `ConfirmSubscription` URL.
    #[error("invalid SNS SubscribeURL: {0}")]
    InvalidSubscribeUrl(&'static str),
    /// A field that the string to sign needs is missing.
    #[error("SNS message lacks {0}, which the signature covers")]
    MissingField(&'static str),
    /// The fetcher failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The certificate is larger than [`MAX_CERTIFICATE_BYTES`].
    #[error("SNS signing certificate is larger than {MAX_CERTIFICATE_BYTES} bytes")]
    CertificateTooLarge,
    /// The certificate is not a PEM X.509 certificate.
    #[error("SNS signing certificate is not a valid PEM X.509 certificate")]
    InvalidCertificate,
    /// `now` is outside the certificate's validity period.
    #[error("SNS signing certificate is not valid at the current time")]
    CertificateNotValidNow,
    /// The certificate key is not RSA, or its size is out of range.
    #[error("SNS signing certificate key is not an RSA key of 2048 to 4096 bits")]
    UnsupportedKey,
    /// `Signature` is not base64.
    #[error("SNS Signature is not valid base64")]
    InvalidSignatureEncoding,
    /// The signature does not match the message and key.
    #[error("SNS signature does not match the message")]
    BadSignature,
}

/// Builds the canonical string that SNS signs.
///
/// Each included field contributes its name, a newline, its value and a
/// newline, in this byte order of names:
///
/// - `Notification`: `Message`, `MessageId`, `Subject` (only when present),
///   `Timestamp`, `TopicArn`, `Type`;
/// - `SubscriptionConfirmation` and `UnsubscribeConfirmation`: `Message`,
///   `MessageId`, `SubscribeURL`, `Timestamp`, `Token`, `TopicArn`, `Type`.
///
/// Values are the decoded JSON strings, so escaped characters such as `\n`
/// count as the characters themselves.
pub fn string_to_sign(message: &SnsMessage) -> Result<String, SnsError> {
    let mut fields: Vec<(&str, &str)> = vec![
        ("Message", &message.message),
        ("MessageId", &message.message_id),
    ];
    match message.message_type {
        SnsMessageType::Notification => {
            if let Some(subject) = &message.subject {
                fields.push(("Subject", subject));
            }
            fields.push(("Timestamp", &message.timestamp));
        }
        SnsMessageType::SubscriptionConfirmation | SnsMessageType::UnsubscribeConfirmation => {
            let subscribe_url = message
                .subscribe_url
                .as_deref()
                .ok_or(SnsError::MissingField("SubscribeURL"))?;
            let token = message
                .token
                .as_deref()
                .ok_or(SnsError::MissingField("Token"))?;
            fields.push(("SubscribeURL", subscribe_url));
            fields.push(("Timestamp", &message.timestamp));
            fields.push(("Token", token));
        }
    }
    fields.push(("TopicArn", &message.topic_arn));
    fields.push(("Type", message.message_type.as_str()));

    let mut canonical = String::new();
    for (name, value) in fields {
        canonical.push_str(name);
        canonical.push('\n');
        canonical.push_str(value);
        canonical.push('\n');
    }
    Ok(canonical)
}

/// Verifies SNS messages, fetching certificates through `F`.
pub struct SnsVerifier<F> {
    fetcher: F,
    policy: VerifyPolicy,
}

impl<F: CertificateFetcher> SnsVerifier<F> {
    /// Creates a verifier with the default policy. Wrap the fetcher in a
    /// [`CachingFetcher`] to avoid one fetch per message.
    pub fn new(fetcher: F) -> Self {
        Self::with_policy(fetcher, VerifyPolicy::default())
    }

    /// Creates a verifier with `policy`.
    pub fn with_policy(fetcher: F, policy: VerifyPolicy) -> Self {
        Self { fetcher, policy }
    }

    /// Returns the policy.
    pub fn policy(&self) -> &VerifyPolicy {
        &self.policy
    }

    /// Verifies `message` at time `now` and returns its topic.
    pub async fn verify(
        &self,
        message: &SnsMessage,
        now: DateTime<Utc>,
    ) -> Result<VerifiedSns, SnsError> {
        let (version, url) = check_before_fetch(message, now, &self.policy)?;
        let certificate = self.fetcher.fetch(&url).await?;
        verify_signature(message, version, &certificate, now)
    }
}

/// Verifies `message` against a certificate that the caller already has,
/// running every check of [`SnsVerifier::verify`] except the fetch.
pub fn verify_with_certificate(
    message: &SnsMessage,
    certificate_pem: &[u8],
    now: DateTime<Utc>,
    policy: &VerifyPolicy,
) -> Result<VerifiedSns, SnsError> {
    let (version, _url) = check_before_fetch(message, now, policy)?;
    verify_signature(message, version, certificate_pem, now)
}

/// Runs the checks that need no certificate and returns the signature
/// version and the normalised certificate URL.
fn check_before_fetch(
    message: &SnsMessage,
    now: DateTime<Utc>,
    policy: &VerifyPolicy,
) -> Result<(SignatureVersion, String), SnsError> {
    let version = SignatureVersion::parse(&message.signature_version)
        .ok_or(SnsError::UnsupportedSignatureVersion)?;
    if version == SignatureVersion::V1 && !policy.accept_sha1 {
        return Err(SnsError::Sha1NotAccepted);
    }
    check_timestamp(&message.timestamp, now, policy)?;
    let url = check_signing_cert_url(&message.signing_cert_url)?;
    Ok((version, url))
}

fn check_timestamp(
    timestamp: &str,
    now: DateTime<Utc>,
    policy: &VerifyPolicy,
) -> Result<(), SnsError> {
    let sent = DateTime::parse_from_rfc3339(timestamp)
        .map_err(|_| SnsError::InvalidTimestamp)?
        .with_timezone(&Utc);
    let age = now.signed_duration_since(sent);
    if age > policy.max_age {
        return Err(SnsError::Expired {
            age_seconds: age.num_seconds(),
        });
    }
    if -age > policy.max_clock_skew {
        return Err(SnsError::TimestampInFuture);
    }
    Ok(())
}

fn verify_signature(
    message: &SnsMessage,
    version: SignatureVersion,
    certificate_pem: &[u8],
    now: DateTime<Utc>,
) -> Result<VerifiedSns, SnsError> {
    let key = public_key_from_certificate(certificate_pem, now)?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(message.signature.as_bytes())
        .map_err(|_| SnsError::InvalidSignatureEncoding)?;
    let signature = Signature::try_from(signature.as_slice())
        .map_err(|_| SnsError::InvalidSignatureEncoding)?;
    let canonical = string_to_sign(message)?;

    let verified = match version {
        SignatureVersion::V1 => {
            VerifyingKey::<Sha1>::new(key).verify(canonical.as_bytes(), &signature)
        }
        SignatureVersion::V2 => {
            VerifyingKey::<Sha256>::new(key).verify(canonical.as_bytes(), &signature)
        }
    };
    verified.map_err(|_| SnsError::BadSignature)?;

    Ok(VerifiedSns {
        topic_arn: message.topic_arn.clone(),
        message_type: message.message_type,
        message_id: message.message_id.clone(),
        signature_version: version,
    })
}

/// Reads the RSA public key of a PEM certificate that is valid at `now`.
fn public_key_from_certificate(
    certificate_pem: &[u8],
    now: DateTime<Utc>,
) -> Result<RsaPublicKey, SnsError> {
    if certificate_pem.len() > MAX_CERTIFICATE_BYTES {
        return Err(SnsError::CertificateTooLarge);
    }
    let certificate =
        Certificate::from_pem(certificate_pem).map_err(|_| SnsError::InvalidCertificate)?;

    let validity = &certificate.tbs_certificate.validity;
    let not_before = validity.not_before.to_unix_duration();
    let not_after = validity.not_after.to_unix_duration();
    // A time before 1970 cannot be valid for a certificate checked today.
    let now = u64::try_from(now.timestamp()).map_err(|_| SnsError::CertificateNotValidNow)?;
    if now < not_before.as_secs() || now > not_after.as_secs() {
        return Err(SnsError::CertificateNotValidNow);
    }

    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| SnsError::InvalidCertificate)?;
    // Parsing rejects keys that are not RSA, and RSA moduli above 4096 bits.
    let key = RsaPublicKey::from_public_key_der(&spki).map_err(|_| SnsError::UnsupportedKey)?;
    if key.n().bits() < MIN_KEY_BITS {
        return Err(SnsError::UnsupportedKey);
    }
    Ok(key)
}
