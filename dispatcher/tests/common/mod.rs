//! Helpers shared by the dispatcher's integration tests: the streams of a
//! test and an SES provider that hands out one client.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dispatcher::SesProvider;
use ses::{ConnectionTarget, SesClient};
use streams::{Streams, StreamsConfig};

/// Returns in-process streams, or Redis under a key prefix of this test's
/// own when `WRAPS_TEST_REDIS_URL` is set. The delivery lease is 5 s, so a
/// lost job comes back within a test's time.
pub async fn streams() -> Arc<Streams> {
    let config = StreamsConfig {
        delivery_lease: Duration::from_secs(5),
        ..StreamsConfig::default()
    };
    match std::env::var("WRAPS_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let config = StreamsConfig {
                key_prefix: format!("wraps-test-{}", uuid::Uuid::new_v4().simple()),
                ..config
            };
            Arc::new(Streams::redis(&url, config).await.unwrap())
        }
        _ => Arc::new(Streams::in_process(config).unwrap()),
    }
}

/// An SES provider that returns the same client for every connection.
pub struct OneClient<C>(pub Arc<C>);

#[async_trait]
impl<C: SesClient + 'static> SesProvider for OneClient<C> {
    async fn client(&self, _: &ConnectionTarget) -> Arc<dyn SesClient> {
        self.0.clone()
    }
}
