//! The production side of the SNS path: fetching signing certificates and
//! confirming subscriptions over HTTPS.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use webhooks::sns::{CertificateFetcher, FetchError, MAX_CERTIFICATE_BYTES};

use crate::routes::webhooks::{SubscriptionConfirmer, WebhookClients};

/// An HTTPS client that validates server certificates against the system
/// roots, follows no redirects and gives up after five seconds.
#[derive(Clone)]
pub struct SnsHttpsClient {
    client: reqwest::Client,
}

impl SnsHttpsClient {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self { client })
    }
}

#[async_trait]
impl CertificateFetcher for SnsHttpsClient {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| FetchError(err.to_string()))?;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| FetchError(err.to_string()))?
        {
            if body.len() + chunk.len() > MAX_CERTIFICATE_BYTES {
                return Err(FetchError("the certificate is too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[async_trait]
impl SubscriptionConfirmer for SnsHttpsClient {
    async fn confirm(&self, url: &str) -> Result<(), String> {
        self.client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map(drop)
            .map_err(|err| err.to_string())
    }
}

/// Returns the HTTPS clients of the SNS path, built once per process. If
/// the client cannot be built, SNS deliveries are rejected with 401 and
/// subscriptions stay unconfirmed, while EventBridge keeps working.
pub fn default_clients() -> WebhookClients {
    static CLIENTS: OnceLock<WebhookClients> = OnceLock::new();
    CLIENTS.get_or_init(build_clients).clone()
}

fn build_clients() -> WebhookClients {
    match SnsHttpsClient::new() {
        Ok(client) => {
            let client = Arc::new(client);
            WebhookClients {
                certificates: client.clone(),
                confirmer: client,
            }
        }
        Err(err) => {
            tracing::error!(error = %err, "building the HTTPS client for SNS failed; SNS deliveries will be rejected");
            let unavailable = Arc::new(NoHttpsClient);
            WebhookClients {
                certificates: unavailable.clone(),
                confirmer: unavailable,
            }
        }
    }
}

/// The SNS clients used when no HTTPS client could be built: every call
/// fails.
struct NoHttpsClient;

#[async_trait]
impl CertificateFetcher for NoHttpsClient {
    async fn fetch(&self, _url: &str) -> Result<Vec<u8>, FetchError> {
        Err(FetchError("no HTTPS client".into()))
    }
}

#[async_trait]
impl SubscriptionConfirmer for NoHttpsClient {
    async fn confirm(&self, _url: &str) -> Result<(), String> {
        Err("no HTTPS client".into())
    }
}
