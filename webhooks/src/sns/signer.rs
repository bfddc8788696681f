//! Signing SNS messages with a local key, for the SES simulator and for
//! tests. Production messages are signed by SNS itself; a receiver that
//! should accept these must fetch the matching certificate from the
//! message's `SigningCertURL`.

use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::Value;
use sha1::Sha1;
use sha2::Sha256;
use thiserror::Error;

use super::{string_to_sign, SignatureVersion};
use crate::envelope::{parse_envelope, Envelope, SnsMessage};

/// The reason a message could not be signed.
#[derive(Debug, Error)]
pub enum SignError {
    #[error("the signing key is not an RSA private key in PKCS#8 or PKCS#1 PEM form")]
    InvalidKey,
    #[error("the message is not a complete SNS message: {0}")]
    InvalidMessage(String),
}

/// Signs SNS messages with an RSA key.
#[derive(Clone)]
pub struct SnsSigner {
    sha1: SigningKey<Sha1>,
    sha256: SigningKey<Sha256>,
}

impl std::fmt::Debug for SnsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsSigner").finish_non_exhaustive()
    }
}

impl SnsSigner {
    /// Reads an RSA private key in PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`) PEM form.
    pub fn from_pem(pem: &str) -> Result<Self, SignError> {
        RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map(|key| Self {
                sha1: SigningKey::new(key.clone()),
                sha256: SigningKey::new(key),
            })
            .map_err(|_| SignError::InvalidKey)
    }

    /// Computes the base64 `Signature` of `message` over its canonical
    /// string. The message's own `SignatureVersion` and `Signature` fields
    /// are not read.
    pub fn signature(
        &self,
        message: &SnsMessage,
        version: SignatureVersion,
    ) -> Result<String, SignError> {
        let canonical =
            string_to_sign(message).map_err(|err| SignError::InvalidMessage(err.to_string()))?;
        let signature = match version {
            SignatureVersion::V1 => self.sha1.sign(canonical.as_bytes()).to_vec(),
            SignatureVersion::V2 => self.sha256.sign(canonical.as_bytes()).to_vec(),
        };
        Ok(base64::engine::general_purpose::STANDARD.encode(signature))
    }

    /// Sets `SignatureVersion` and `Signature` on a JSON SNS message that
    /// has every other field (`Type`, `MessageId`, `TopicArn`, `Message`,
    /// `Timestamp`, `SigningCertURL`, and `Token` and `SubscribeURL` for the
    /// confirmations).
    pub fn sign(&self, message: &mut Value, version: SignatureVersion) -> Result<(), SignError> {
        let object = message
            .as_object_mut()
            .ok_or_else(|| SignError::InvalidMessage("not a JSON object".into()))?;
        let version_text = match version {
            SignatureVersion::V1 => "1",
            SignatureVersion::V2 => "2",
        };
        object.insert("SignatureVersion".into(), Value::from(version_text));
        object.insert("Signature".into(), Value::from(""));

        let body = serde_json::to_vec(&object)
            .map_err(|err| SignError::InvalidMessage(err.to_string()))?;
        let envelope = parse_envelope(&body, None)
            .map_err(|err| SignError::InvalidMessage(err.to_string()))?;
        let sns = match &envelope {
            Envelope::EventBridge(_) => {
                return Err(SignError::InvalidMessage("an EventBridge event".into()))
            }
            other => other.sns().expect("every other variant is SNS"),
        };
        let signature = self.signature(sns, version)?;
        object.insert("Signature".into(), Value::from(signature));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::sns::{verify_with_certificate, VerifyPolicy};

    #[test]
    fn signed_message_verifies_with_the_matching_certificate_only() {
        let key = include_str!("../../tests/data/signing-key.pem");
        let cert = include_bytes!("../../tests/data/signing-cert.pem");
        let other = include_bytes!("../../tests/data/other-cert.pem");
        let signer = SnsSigner::from_pem(key).unwrap();
        for version in [SignatureVersion::V1, SignatureVersion::V2] {
            let mut message = json!({
                "Type": "Notification",
                "MessageId": "m-1",
                "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-events",
                "Message": "{\"eventType\":\"Delivery\"}",
                "Timestamp": Utc::now().to_rfc3339(),
                "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem",
            });
            signer.sign(&mut message, version).unwrap();
            let body = serde_json::to_vec(&message).unwrap();
            let envelope = parse_envelope(&body, Some("Notification")).unwrap();
            let sns = envelope.sns().unwrap();
            let policy = VerifyPolicy::default();
            verify_with_certificate(sns, cert, Utc::now(), &policy).unwrap();
            assert!(verify_with_certificate(sns, other, Utc::now(), &policy).is_err());
        }
    }
}
