//! Signing SNS notifications with a local key.
//!
//! Real SNS signs with an AWS key whose certificate it serves at `SigningCertURL`. The
//! simulator signs with a key the user provides, through
//! [`webhooks::sns::SnsSigner`], so a receiver that serves the matching certificate
//! for `SigningCertURL` (a test fetcher, say) verifies the messages as it would real ones.

use std::fmt;
use std::sync::Arc;

use anyhow::Context;
use webhooks::envelope::{SnsMessage, SnsMessageType};
use webhooks::sns::{SignatureVersion, SnsSigner};

/// The default topic name in `TopicArn`.
pub const DEFAULT_SNS_TOPIC: &str = "wraps-ses-events";

/// The `Subject` that SES event notifications carry.
const NOTIFICATION_SUBJECT: &str = "Amazon SES Email Event Notification";

/// The SNS `SignatureVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SnsSignatureVersion {
    /// SHA1withRSA, the default of SNS topics.
    #[default]
    #[value(name = "1")]
    V1,
    /// SHA256withRSA.
    #[value(name = "2")]
    V2,
}

impl SnsSignatureVersion {
    fn as_str(self) -> &'static str {
        match self {
            SnsSignatureVersion::V1 => "1",
            SnsSignatureVersion::V2 => "2",
        }
    }

    fn signature_version(self) -> SignatureVersion {
        match self {
            SnsSignatureVersion::V1 => SignatureVersion::V1,
            SnsSignatureVersion::V2 => SignatureVersion::V2,
        }
    }
}

/// The key, certificate URL and topic that SNS notifications are signed with.
#[derive(Clone)]
pub struct SnsSigning {
    signer: Arc<SnsSigner>,
    version: SnsSignatureVersion,
    cert_url: String,
    topic: String,
}

impl fmt::Debug for SnsSigning {
    /// Formats every field except the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnsSigning")
            .field("version", &self.version)
            .field("cert_url", &self.cert_url)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// One signed `Notification`, serialised in the field order SNS uses.
#[derive(Debug, serde::Serialize)]
pub(crate) struct SnsNotification {
    #[serde(rename = "Type")]
    message_type: &'static str,
    #[serde(rename = "MessageId")]
    pub(crate) message_id: String,
    #[serde(rename = "TopicArn")]
    pub(crate) topic_arn: String,
    #[serde(rename = "Subject")]
    subject: &'static str,
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "Timestamp")]
    timestamp: String,
    #[serde(rename = "SignatureVersion")]
    signature_version: &'static str,
    #[serde(rename = "Signature")]
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
    #[serde(rename = "UnsubscribeURL")]
    unsubscribe_url: String,
}

impl SnsSigning {
    /// Reads an RSA private key in PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`) PEM form.
    ///
    /// `cert_url` must pass [`webhooks::sns::check_signing_cert_url`]
    /// (`https://sns.<region>.amazonaws.com/<name>.pem`), because a receiver rejects
    /// any other URL before fetching it.
    pub fn from_pem(
        pem: &str,
        cert_url: &str,
        topic: &str,
        version: SnsSignatureVersion,
    ) -> anyhow::Result<Self> {
        let signer = SnsSigner::from_pem(pem)?;
        webhooks::sns::check_signing_cert_url(cert_url).with_context(|| {
            format!("the SNS certificate URL {cert_url:?} would be rejected by the receiver; use https://sns.<region>.amazonaws.com/<name>.pem")
        })?;
        anyhow::ensure!(
            is_topic_name(topic),
            "the SNS topic name {topic:?} is invalid: use 1 to 256 ASCII letters, digits, '-' and '_'"
        );

        Ok(Self {
            signer: Arc::new(signer),
            version,
            cert_url: cert_url.to_owned(),
            topic: topic.to_owned(),
        })
    }

    /// Returns the topic ARN of `account` in `region`.
    pub(crate) fn topic_arn(&self, region: &str, account: &str) -> String {
        format!("arn:aws:sns:{region}:{account}:{}", self.topic)
    }

    /// Builds and signs a notification that carries `message`, sent at `timestamp`
    /// (RFC 3339).
    pub(crate) fn notification(
        &self,
        topic_arn: String,
        message: String,
        timestamp: String,
    ) -> anyhow::Result<SnsNotification> {
        let message_id = uuid::Uuid::new_v4().to_string();
        let region = topic_arn.split(':').nth(3).unwrap_or_default();
        let unsubscribe_url = format!(
            "https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:{}",
            uuid::Uuid::new_v4()
        );

        let unsigned = SnsMessage {
            message_type: SnsMessageType::Notification,
            message_id,
            topic_arn,
            message,
            timestamp,
            subject: Some(NOTIFICATION_SUBJECT.to_owned()),
            token: None,
            subscribe_url: None,
            unsubscribe_url: Some(unsubscribe_url),
            signature_version: self.version.as_str().to_owned(),
            signature: String::new(),
            signing_cert_url: self.cert_url.clone(),
        };
        let signature = self
            .signer
            .signature(&unsigned, self.version.signature_version())
            .context("signing the SNS notification failed")?;

        Ok(SnsNotification {
            message_type: SnsMessageType::Notification.as_str(),
            message_id: unsigned.message_id,
            topic_arn: unsigned.topic_arn,
            subject: NOTIFICATION_SUBJECT,
            message: unsigned.message,
            timestamp: unsigned.timestamp,
            signature_version: self.version.as_str(),
            signature,
            signing_cert_url: unsigned.signing_cert_url,
            unsubscribe_url: unsigned.unsubscribe_url.unwrap_or_default(),
        })
    }
}

/// SNS topic names: 1 to 256 ASCII letters, digits, hyphens and underscores.
fn is_topic_name(name: &str) -> bool {
    (1..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT_URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-sim.pem";

    const TEST_KEY: &str = include_str!("../../../tests/data/sns-signing-key.pem");

    #[test]
    fn non_sns_cert_url_is_rejected() {
        let err = SnsSigning::from_pem(
            TEST_KEY,
            "https://example.com/cert.pem",
            DEFAULT_SNS_TOPIC,
            SnsSignatureVersion::V1,
        )
        .unwrap_err();
        assert!(err.to_string().contains("certificate URL"), "{err:#}");
    }

    #[test]
    fn signature_version_is_stated() {
        let signing = SnsSigning::from_pem(
            TEST_KEY,
            CERT_URL,
            DEFAULT_SNS_TOPIC,
            SnsSignatureVersion::V2,
        )
        .unwrap();
        let arn = signing.topic_arn("us-east-1", "123456789012");
        assert_eq!(arn, "arn:aws:sns:us-east-1:123456789012:wraps-ses-events");
        let notification = signing
            .notification(arn, "{}".into(), "2026-01-01T00:00:00.000Z".into())
            .unwrap();
        assert_eq!(notification.signature_version, "2");
        assert!(notification
            .unsubscribe_url
            .starts_with("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"));
    }

    #[test]
    fn garbage_key_is_rejected() {
        let err = SnsSigning::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            CERT_URL,
            DEFAULT_SNS_TOPIC,
            SnsSignatureVersion::V2,
        )
        .unwrap_err();
        assert!(err.to_string().contains("PKCS#8"), "{err:#}");
    }

    #[test]
    fn topic_names_are_checked() {
        assert!(is_topic_name("wraps-ses-events"));
        assert!(is_topic_name("a_b"));
        assert!(!is_topic_name(""));
        assert!(!is_topic_name("a:b"));
        assert!(!is_topic_name(&"a".repeat(257)));
    }
}
