//! Helpers shared by the integration tests: fixture loading, test keys, an
//! SNS signer written independently of the crate's canonical-string code,
//! and an in-memory certificate fetcher.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::Value;
use sha1::Sha1;
use sha2::Sha256;
use webhooks::sns::{CertificateFetcher, FetchError};

/// The URL that the SNS fixtures name as `SigningCertURL`.
pub const FIXTURE_CERT_URL: &str =
    "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem";

/// Every fixture file, in both envelopes.
pub const FIXTURES: &[&str] = &[
    "eventbridge-bounce-permanent.json",
    "eventbridge-bounce-transient.json",
    "eventbridge-click.json",
    "eventbridge-complaint.json",
    "eventbridge-delivery.json",
    "eventbridge-open.json",
    "sns-bounce-permanent.json",
    "sns-bounce-transient.json",
    "sns-click.json",
    "sns-complaint.json",
    "sns-delivery.json",
    "sns-open.json",
    "sns-subscription-confirmation.json",
];

fn manifest_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Reads a fixture from the copies under `tests/fixtures`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = manifest_path("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// Reads a fixture as a JSON value.
pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

/// Reads a file under `tests/data`.
pub fn data(name: &str) -> Vec<u8> {
    let path = manifest_path("tests/data").join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// Loads a PKCS#8 PEM private key from `tests/data`.
pub fn private_key(name: &str) -> RsaPrivateKey {
    let pem = String::from_utf8(data(name)).expect("key is UTF-8");
    RsaPrivateKey::from_pkcs8_pem(&pem).expect("key parses")
}

/// Parses an RFC 3339 time.
pub fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("valid time")
        .with_timezone(&Utc)
}

/// Builds the SNS string to sign from a JSON message, following the AWS
/// documentation directly rather than the crate's code.
pub fn reference_string_to_sign(message: &Value) -> String {
    let names: &[&str] = match message["Type"].as_str() {
        Some("Notification") => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
        _ => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
    };
    let mut canonical = String::new();
    for name in names {
        if let Some(value) = message.get(*name).and_then(Value::as_str) {
            canonical.push_str(name);
            canonical.push('\n');
            canonical.push_str(value);
            canonical.push('\n');
        }
    }
    canonical
}

/// Signs an SNS JSON message in place with `key` and signature `version`
/// ("1" or "2"), setting `SignatureVersion` and `Signature`.
pub fn sign(message: &mut Value, key: &RsaPrivateKey, version: &str) {
    message["SignatureVersion"] = Value::String(version.to_owned());
    let canonical = reference_string_to_sign(message);
    let signature = match version {
        "1" => SigningKey::<Sha1>::new(key.clone())
            .sign(canonical.as_bytes())
            .to_vec(),
        "2" => SigningKey::<Sha256>::new(key.clone())
            .sign(canonical.as_bytes())
            .to_vec(),
        other => panic!("unknown signature version {other}"),
    };
    message["Signature"] =
        Value::String(base64::engine::general_purpose::STANDARD.encode(signature));
}

/// A certificate fetcher backed by a map, counting its calls.
#[derive(Default)]
pub struct MapFetcher {
    pub certificates: HashMap<String, Vec<u8>>,
    pub calls: AtomicUsize,
}

impl MapFetcher {
    /// Serves `certificate` at `url`.
    pub fn serving(url: &str, certificate: Vec<u8>) -> Self {
        let mut fetcher = Self::default();
        fetcher.certificates.insert(url.to_owned(), certificate);
        fetcher
    }

    /// Returns the number of fetch calls so far.
    pub fn call_count(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl CertificateFetcher for MapFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.certificates
            .get(url)
            .cloned()
            .ok_or_else(|| FetchError(format!("no certificate at {url}")))
    }
}
