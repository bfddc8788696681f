//! The certificate source that the caller injects, and a bounded cache in
//! front of it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use thiserror::Error;

/// A failure to fetch a signing certificate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("fetching the SNS signing certificate failed: {0}")]
pub struct FetchError(pub String);

/// Fetches the PEM certificate at a `SigningCertURL`.
///
/// The verifier calls it only with URLs that passed
/// [`check_signing_cert_url`](super::check_signing_cert_url), in the
/// normalised form that check returns. An implementation must fetch over
/// HTTPS with server certificate validation, must not follow redirects to
/// other hosts, should time out within seconds, and should stop reading past
/// [`MAX_CERTIFICATE_BYTES`](super::MAX_CERTIFICATE_BYTES).
#[async_trait]
pub trait CertificateFetcher: Send + Sync {
    /// Returns the certificate bytes served at `url`.
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError>;
}

#[async_trait]
impl<F: CertificateFetcher + ?Sized> CertificateFetcher for Arc<F> {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        (**self).fetch(url).await
    }
}

#[async_trait]
impl<F: CertificateFetcher + ?Sized> CertificateFetcher for &F {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        (**self).fetch(url).await
    }
}

/// A [`CertificateFetcher`] that keeps up to `capacity` certificates by URL.
///
/// SNS names each signing certificate by a URL of its own and publishes a
/// new URL when it rotates keys, so entries need no expiry. When the cache
/// is full, the entry inserted first is evicted. Failed fetches are not
/// cached. Two concurrent misses for one URL both call the inner fetcher.
pub struct CachingFetcher<F> {
    inner: F,
    capacity: usize,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<String, Arc<[u8]>>,
    insertion_order: VecDeque<String>,
}

impl<F> CachingFetcher<F> {
    /// Default number of cached certificates. SNS uses one certificate per
    /// region at a time, so a few dozen entries cover every region.
    pub const DEFAULT_CAPACITY: usize = 64;

    /// Wraps `inner` with a cache of [`Self::DEFAULT_CAPACITY`] entries.
    pub fn new(inner: F) -> Self {
        Self::with_capacity(inner, Self::DEFAULT_CAPACITY)
    }

    /// Wraps `inner` with a cache of `capacity` entries; 0 disables caching.
    pub fn with_capacity(inner: F, capacity: usize) -> Self {
        Self {
            inner,
            capacity,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Returns the number of cached certificates.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Returns true when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // The cache holds no invariant that a panic could break halfway
        // beyond a missing entry, so a poisoned lock is still usable.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, url: &str, certificate: Arc<[u8]>) {
        if self.capacity == 0 {
            return;
        }
        let mut cache = self.lock();
        if cache.entries.contains_key(url) {
            return;
        }
        while cache.entries.len() >= self.capacity {
            let Some(oldest) = cache.insertion_order.pop_front() else {
                break;
            };
            cache.entries.remove(&oldest);
        }
        cache.entries.insert(url.to_owned(), certificate);
        cache.insertion_order.push_back(url.to_owned());
    }
}

#[async_trait]
impl<F: CertificateFetcher> CertificateFetcher for CachingFetcher<F> {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let cached = self.lock().entries.get(url).cloned();
        if let Some(certificate) = cached {
            return Ok(certificate.to_vec());
        }
        let certificate = self.inner.fetch(url).await?;
        self.insert(url, Arc::from(certificate.as_slice()));
        Ok(certificate)
    }
}
