//! The production side of the SNS path: fetching signing certificates and
//! confirming subscriptions over HTTPS.

use std::time::Duration;

use async_trait::async_trait;
use webhooks::sns::{CertificateFetcher, FetchError, MAX_CERTIFICATE_BYTES};

use crate::routes::webhooks::SubscriptionConfirmer;

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
