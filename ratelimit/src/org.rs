//! Plan send limits per organisation: messages per second and per day
//! across every AWS account the organisation sends through.
//!
//! The hosted plans set no send limit, so by default this costs one map
//! lookup. When a plan sets one, each SES call first waits here and then in
//! its account's pacer, so the tighter of the two governs. The buckets live
//! in Redis when it is configured (an organisation's accounts may be paced
//! by different dispatchers), else in this process.

use metrics_catalogue as names;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::plans::Plans;
use crate::{Limiter, LimiterError};

/// A wait on the daily window longer than this ends the request instead:
/// the caller pauses the batch and tries again later.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The reason recipients cannot be granted now.
#[derive(Debug, thiserror::Error)]
pub enum SendLimitError {
    /// The plan's daily message limit is used up until `retry_after`.
    #[error("the plan's daily send limit is reached")]
    DailyLimitReached { retry_after: Duration },
    #[error("send limiter unavailable: {0}")]
    Limiter(#[from] LimiterError),
}

/// Organisation send limits by plan.
#[derive(Clone, Debug)]
pub struct SendLimits {
    limiter: Limiter,
    plans: Arc<Plans>,
}

impl SendLimits {
    pub fn new(limiter: Limiter, plans: Arc<Plans>) -> Self {
        Self { limiter, plans }
    }

    pub fn plans(&self) -> &Plans {
        &self.plans
    }

    /// Largest number of messages one SES call should carry so that the
    /// plan's per-second limit spreads calls evenly; `usize::MAX` without one.
    pub fn max_call_size(&self, plan: Option<&str>) -> usize {
        if !self.plans.enforced {
            return usize::MAX;
        }
        self.plans
            .get(plan)
            .send_windows()
            .iter()
            .map(|w| w.limit.max(1) as usize)
            .min()
            .unwrap_or(usize::MAX)
    }

    /// Waits until `organization`'s plan lets `recipients` messages through,
    /// in pieces no larger than the plan's per-second limit.
    pub async fn acquire(
        &self,
        organization: &str,
        plan: Option<&str>,
        recipients: u32,
    ) -> Result<(), SendLimitError> {
        if !self.plans.enforced {
            return Ok(());
        }
        let windows = self.plans.get(plan).send_windows();
        if windows.is_empty() || recipients == 0 {
            return Ok(());
        }
        let key = format!("send:{organization}");
        let largest = windows.iter().map(|w| w.limit).min().unwrap_or(1).max(1);
        let started = Instant::now();
        let mut remaining = u64::from(recipients);
        let mut granted = 0_u64;
        let mut waited = false;

        while remaining > 0 {
            let piece = remaining.min(largest);
            let decision = match self.limiter.check(&key, &windows, piece).await {
                Ok(decision) => decision,
                Err(err) => {
                    self.give_back(&key, &windows, granted).await;
                    return Err(err.into());
                }
            };
            if decision.allowed {
                remaining -= piece;
                granted += piece;
                continue;
            }
            let wait = decision.retry_after.unwrap_or(Duration::from_secs(1));
            if wait > MAX_WAIT {
                self.give_back(&key, &windows, granted).await;
                return Err(SendLimitError::DailyLimitReached { retry_after: wait });
            }
            waited = true;
            tokio::time::sleep(wait).await;
        }

        metrics::counter!(names::SEND_TOKENS_GRANTED, "limiter" => "organization", "lane" => "any")
            .increment(granted);
        if waited {
            metrics::counter!(names::SEND_TOKENS_WAITED, "limiter" => "organization", "lane" => "any")
                .increment(granted);
        }
        metrics::histogram!(names::SEND_TOKEN_WAIT, "limiter" => "organization", "lane" => "any")
            .record(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Returns tokens for messages that were granted but not sent.
    pub async fn refund(&self, organization: &str, plan: Option<&str>, recipients: u32) {
        if !self.plans.enforced {
            return;
        }
        let windows = self.plans.get(plan).send_windows();
        if windows.is_empty() {
            return;
        }
        let key = format!("send:{organization}");
        self.give_back(&key, &windows, u64::from(recipients)).await;
    }

    async fn give_back(&self, key: &str, windows: &[crate::Window], tokens: u64) {
        if tokens == 0 {
            return;
        }
        if let Err(err) = self.limiter.refund(key, windows, tokens).await {
            tracing::warn!(error = %err, "returning unused send tokens failed; the organisation's bucket stays charged until it refills");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::PlanSettings;
    use std::collections::BTreeMap;

    fn limits(per_second: i64, per_day: i64) -> SendLimits {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "pro".to_owned(),
            PlanSettings {
                sends_per_second: Some(per_second),
                sends_per_day: Some(per_day),
                ..PlanSettings::default()
            },
        );
        let plans = Plans::with_overrides(&overrides, true).unwrap();
        SendLimits::new(Limiter::local(), Arc::new(plans))
    }

    #[tokio::test]
    async fn unlimited_plans_do_not_wait() {
        let limits = limits(10, -1);
        let started = std::time::Instant::now();
        limits
            .acquire("org-a", Some("business"), 1_000_000)
            .await
            .unwrap();
        limits.acquire("org-a", None, 1_000_000).await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn daily_limit_ends_the_request_and_refunds() {
        let limits = limits(1_000, 1_500);
        limits.acquire("org-a", Some("pro"), 1_000).await.unwrap();
        // 500 left today: 800 cannot be covered within a minute.
        let err = limits.acquire("org-a", Some("pro"), 800).await.unwrap_err();
        assert!(
            matches!(err, SendLimitError::DailyLimitReached { retry_after } if retry_after > MAX_WAIT)
        );
        // The rejected request gave its tokens back.
        limits.refund("org-a", Some("pro"), 0).await;
        tokio::time::timeout(
            Duration::from_secs(3),
            limits.acquire("org-a", Some("pro"), 500),
        )
        .await
        .expect("500 fit in the daily window")
        .unwrap();
    }

    #[tokio::test]
    async fn gates_off_means_no_limit() {
        let plans = Plans::from_toml("[plans.free]\nsends_per_second = 1\n", false).unwrap();
        let limits = SendLimits::new(Limiter::local(), Arc::new(plans));
        let started = std::time::Instant::now();
        limits.acquire("org-a", Some("free"), 1_000).await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(100));
    }
}
