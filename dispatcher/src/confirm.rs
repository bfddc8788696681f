//! Double opt-in confirmation emails (`subscription.confirm` jobs).
//!
//! The API queues one job per pending subscription on the shard of the
//! organisation's AWS connection, and may queue it more than once. A job
//! sends at most one email per pending period. It returns early when the
//! subscription is no longer pending or its email was already claimed.
//! Otherwise it waits for the organisation's plan send limit and for the
//! account's pacer on the priority lane. Then it claims the email in the
//! store and makes the SES call.
//!
//! After the call:
//! - sent, or an unknown outcome (SES may have accepted it): the claim
//!   stays, so no later job sends a second email;
//! - throttled or out of quota: the claim is released and the job is
//!   scheduled again after the wait SES or the limit gives;
//! - rejected: the claim is released and the job fails, so the stream
//!   delivers it again until its maximum deliveries, then dead-letters it.
//!   The subscription stays pending throughout.
//!
//! The email carries no `List-Unsubscribe` headers: it is sent because the
//! contact asked to subscribe, and ignoring it leaves them unsubscribed.

use metrics_catalogue as names;
use std::time::{Duration, SystemTime};

use chrono::Utc;
use ratelimit::{AccountPacer, Lane, PaceError, SendLimitError};
use schemas::contacts::SubscriptionStatus;
use schemas::jobs::{shard_for_account, ConfirmJob, SUBSCRIPTION_CONFIRM};
use schemas::unsubscribe::{escape_html, ConfirmationClaims};
use ses::{EmailMessage, PauseReason, SendOutcome};
use store::confirmations::{ConfirmationClaim, ConfirmationSender};
use store::ConnectionCredentials;
use streams::{Delivery, Job, ShardId};

use crate::broadcast::{target, Broadcaster, JobOutcome};

/// Delay before a job runs again when the send limiter is unavailable.
const LIMITER_RETRY: Duration = Duration::from_secs(5);

/// Value of the `source` tag on confirmation emails.
const SOURCE_CONFIRMATION: &str = "confirmation";

/// The recipient, topic, connection and sender of one confirmation email.
struct Pending {
    email: String,
    topic_name: String,
    connection: ConnectionCredentials,
    sender: ConfirmationSender,
}

/// The end of a job that neither sent its email nor gave it up.
enum Deferral {
    /// Run the job again after this wait.
    RetryAfter(Duration),
    /// Fail the delivery, so the stream delivers it again.
    Failed(String),
}

impl Broadcaster {
    /// Sends the confirmation email of one pending subscription, at most
    /// once per pending period.
    pub async fn send_confirmation(&self, job: &ConfirmJob, delivery: &Delivery) -> JobOutcome {
        let pending = match self.load_pending(job).await {
            Ok(Some(pending)) => pending,
            Ok(None) => return JobOutcome::Done,
            Err(reason) => return JobOutcome::Failed(reason),
        };

        match self.send_pending(job, &pending).await {
            Ok(()) => JobOutcome::Done,
            Err(Deferral::RetryAfter(after)) => {
                self.schedule_confirmation(job, delivery, &pending.connection, after)
                    .await
            }
            Err(Deferral::Failed(reason)) => JobOutcome::Failed(reason),
        }
    }

    /// Loads what the job needs, or `None` when there is nothing to send.
    async fn load_pending(&self, job: &ConfirmJob) -> Result<Option<Pending>, String> {
        let state = self
            .store
            .confirmation_state(job.organization_id, job.contact_id, job.topic_id)
            .await
            .map_err(|err| format!("loading the subscription failed: {err}"))?;
        let Some(state) = state else {
            tracing::debug!(organization_id = %job.organization_id, contact_id = %job.contact_id, "confirmation skipped: the contact was deleted");
            return Ok(None);
        };
        if state.status != Some(SubscriptionStatus::Pending) || state.confirmation_sent_at.is_some()
        {
            tracing::debug!(contact_id = %job.contact_id, topic_id = %job.topic_id, "confirmation skipped: not pending, or its email was already sent");
            return Ok(None);
        }
        let (Some(email), Some(topic_name), true) = (state.email, state.topic_name, state.sendable)
        else {
            tracing::info!(contact_id = %job.contact_id, topic_id = %job.topic_id, "confirmation skipped: the contact has no address that may be mailed");
            return Ok(None);
        };

        let connection = self
            .store
            .connection_credentials(job.organization_id, job.connection_id)
            .await
            .map_err(|err| format!("loading the AWS connection failed: {err}"))?;
        let Some(connection) = connection else {
            tracing::warn!(organization_id = %job.organization_id, connection_id = %job.connection_id, contact_id = %job.contact_id, "confirmation not sent: the AWS connection was removed; the subscription stays pending");
            return Ok(None);
        };

        // The configured sender wins. Without one, the newest broadcast's
        // sender through this connection is the only address known to be
        // verified in that account.
        // TODO: a sender per topic, as the topic settings of the hosted
        // service allow.
        let sender = match &self.config.confirmation_from {
            Some(from) => Some(ConfirmationSender {
                from_email: from.clone(),
                from_name: None,
            }),
            None => self
                .store
                .confirmation_sender(job.organization_id, connection.id)
                .await
                .map_err(|err| format!("loading the sender failed: {err}"))?,
        };
        let Some(sender) = sender else {
            tracing::warn!(organization_id = %job.organization_id, connection_id = %connection.id, contact_id = %job.contact_id, "confirmation not sent: set WRAPS_CONFIRMATION_FROM, or send a broadcast through this AWS connection first; the subscription stays pending");
            return Ok(None);
        };

        Ok(Some(Pending {
            email,
            topic_name,
            connection,
            sender,
        }))
    }

    /// Waits for the limits, claims the email and sends it.
    async fn send_pending(&self, job: &ConfirmJob, pending: &Pending) -> Result<(), Deferral> {
        let client = self.ses.client(&target(&pending.connection)).await;
        let pacer = self
            .pacer(&pending.connection.account_id, client.as_ref())
            .await
            .map_err(Deferral::Failed)?;
        let plan = match self.store.get_org(job.organization_id).await {
            Ok(org) => org.map(|org| org.plan),
            Err(err) => {
                return Err(Deferral::Failed(format!(
                    "loading the organisation failed: {err}"
                )))
            }
        };
        let organization = job.organization_id.to_string();

        match self
            .send_limits
            .acquire(&organization, plan.as_deref(), 1)
            .await
        {
            Ok(()) => {}
            Err(SendLimitError::DailyLimitReached { retry_after }) => {
                tracing::info!(organization_id = %job.organization_id, contact_id = %job.contact_id, "confirmation delayed: the plan's daily send limit is reached");
                return Err(Deferral::RetryAfter(retry_after));
            }
            Err(SendLimitError::Limiter(err)) => {
                tracing::warn!(organization_id = %job.organization_id, error = %err, "the send limiter is unavailable; retrying the confirmation later");
                return Err(Deferral::RetryAfter(LIMITER_RETRY));
            }
        }
        let refund_limit = || self.send_limits.refund(&organization, plan.as_deref(), 1);
        if let Err(PaceError::DailyQuotaReached) = pacer.acquire(1, Lane::Priority).await {
            refund_limit().await;
            tracing::warn!(account = pacer.account(), contact_id = %job.contact_id, "confirmation delayed: the account's daily SES quota is reached");
            return Err(Deferral::RetryAfter(self.config.quota_retry));
        }

        let claim = match self
            .store
            .claim_confirmation(job.organization_id, job.contact_id, job.topic_id)
            .await
        {
            Ok(Some(claim)) => claim,
            Ok(None) => {
                // Another delivery of the job won, or the subscription stopped
                // being pending while this one waited.
                pacer.refund(1);
                refund_limit().await;
                return Ok(());
            }
            Err(err) => {
                pacer.refund(1);
                refund_limit().await;
                return Err(Deferral::Failed(format!(
                    "claiming the confirmation failed: {err}"
                )));
            }
        };

        let message = self.confirmation_message(job, pending);
        let started = std::time::Instant::now();
        let outcome = client.send_email(&message).await;
        metrics::histogram!(names::SES_CALL_DURATION, "operation" => "SendEmail")
            .record(started.elapsed().as_secs_f64());

        let retry = self.settle(job, claim, &pacer, outcome).await;
        if matches!(retry, Err(Deferral::RetryAfter(_))) {
            refund_limit().await;
        }
        retry
    }

    /// Acts on the SES outcome: keeps the claim when the email may have
    /// gone out, and releases it otherwise.
    async fn settle(
        &self,
        job: &ConfirmJob,
        claim: ConfirmationClaim,
        pacer: &AccountPacer,
        outcome: SendOutcome,
    ) -> Result<(), Deferral> {
        let label = match &outcome {
            SendOutcome::Sent { .. } => "sent",
            SendOutcome::Unknown { .. } => "unknown",
            SendOutcome::RetryLater { .. }
            | SendOutcome::PauseAccount {
                reason: PauseReason::DailyQuota,
                ..
            } => "retry",
            SendOutcome::PauseAccount { .. } | SendOutcome::Failed { .. } => "failed",
        };
        metrics::counter!(names::SENDS, "outcome" => label, "account" => pacer.account().to_owned(), "channel" => "email")
            .increment(1);

        // SES error texts may name addresses, so only the outcome is logged.
        let deferral = match outcome {
            SendOutcome::Sent { .. } => {
                tracing::debug!(contact_id = %job.contact_id, topic_id = %job.topic_id, "confirmation email sent");
                return Ok(());
            }
            SendOutcome::Unknown { .. } => {
                tracing::warn!(contact_id = %job.contact_id, topic_id = %job.topic_id, "SES returned no outcome for the confirmation email, which may have been sent, so it is not sent again");
                return Ok(());
            }
            SendOutcome::RetryLater { after, .. } => {
                pacer.on_throttle();
                pacer.refund(1);
                Deferral::RetryAfter(after)
            }
            SendOutcome::PauseAccount {
                reason: PauseReason::DailyQuota,
                ..
            } => {
                pacer.refund(1);
                Deferral::RetryAfter(self.config.quota_retry)
            }
            SendOutcome::PauseAccount { reason, .. } => Deferral::Failed(format!(
                "SES rejected sending from the account ({})",
                reason.as_str()
            )),
            SendOutcome::Failed { .. } => {
                Deferral::Failed("SES rejected the confirmation email".to_owned())
            }
        };

        match self
            .store
            .release_confirmation(job.organization_id, job.contact_id, job.topic_id, claim)
            .await
        {
            Ok(_) => Err(deferral),
            Err(err) => {
                tracing::error!(contact_id = %job.contact_id, topic_id = %job.topic_id, error = %err, "releasing the confirmation claim failed; this pending period sends no email");
                Ok(())
            }
        }
    }

    fn confirmation_message(&self, job: &ConfirmJob, pending: &Pending) -> EmailMessage {
        let claims = ConfirmationClaims::issued_at(
            job.organization_id,
            job.contact_id,
            job.topic_id,
            Utc::now(),
        );
        let token = self.unsubscribe.keys.sign_confirmation(&claims);
        let url = format!("{}/confirm/{token}", self.unsubscribe.base_url);
        let from = ses::headers::sender_display(
            pending.sender.from_name.as_deref(),
            &pending.sender.from_email,
        );
        let mut message = confirmation_email(&from, &pending.email, &pending.topic_name, &url);
        message.tags = vec![
            tag("organizationId", &job.organization_id.to_string()),
            tag("contactId", &job.contact_id.to_string()),
            tag("topicId", &job.topic_id.to_string()),
            tag("source", SOURCE_CONFIRMATION),
        ];
        message
    }

    /// Schedules the job again after `after` and acks this delivery.
    async fn schedule_confirmation(
        &self,
        job: &ConfirmJob,
        delivery: &Delivery,
        connection: &ConnectionCredentials,
        after: Duration,
    ) -> JobOutcome {
        let shard = ShardId(shard_for_account(
            &connection.account_id,
            self.config.shards,
        ));
        let next = match Job::from_payload(SUBSCRIPTION_CONFIRM, job) {
            Ok(next) => Job {
                attempt: delivery.job.attempt + 1,
                ..next
            },
            Err(err) => return JobOutcome::Failed(format!("encoding the job failed: {err}")),
        };
        match self
            .streams
            .producer
            .schedule(shard, &next, SystemTime::now() + after)
            .await
        {
            Ok(()) => JobOutcome::Done,
            Err(err) => {
                JobOutcome::Failed(format!("scheduling the confirmation again failed: {err}"))
            }
        }
    }
}

fn tag(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), ses::tags::sanitize_tag_value(value))
}

/// Builds the confirmation email: subject, HTML and text bodies with the
/// link, and no unsubscribe headers. `from` is in display form.
pub fn confirmation_email(from: &str, to: &str, topic_name: &str, url: &str) -> EmailMessage {
    let subject =
        ses::headers::sanitize_subject(&format!("Confirm your subscription to {topic_name}"));
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Confirm your subscription</title></head><body>\
         <p>Please confirm that you want to receive emails about <strong>{topic}</strong>.</p>\
         <p><a href=\"{link}\">Confirm subscription</a></p>\
         <p>The link is valid for 48 hours. If you did not ask to subscribe, ignore this \
         email and you will not be subscribed.</p></body></html>",
        topic = escape_html(topic_name),
        link = escape_html(url),
    );
    let text = format!(
        "Please confirm that you want to receive emails about {topic_name}.\n\n\
         Confirm your subscription: {url}\n\n\
         The link is valid for 48 hours. If you did not ask to subscribe, ignore this \
         email and you will not be subscribed.\n"
    );
    EmailMessage {
        from: from.to_owned(),
        to: to.to_owned(),
        subject,
        html,
        text: Some(text),
        ..EmailMessage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_escapes_the_topic_name() {
        let message = confirmation_email(
            "News <news@example.com>",
            "jane@example.com",
            "<b>Deals & \"offers\"</b>",
            "https://api.example.com/confirm/abc.def",
        );

        assert!(message
            .html
            .contains("<strong>&lt;b&gt;Deals &amp; &quot;offers&quot;&lt;/b&gt;</strong>"));
        assert!(!message.html.contains("<b>Deals"));
        assert!(message
            .html
            .contains("href=\"https://api.example.com/confirm/abc.def\""));
    }

    #[test]
    fn email_carries_link_and_subject() {
        let url = "https://api.example.com/confirm/abc.def";
        let message = confirmation_email(
            "news@example.com",
            "jane@example.com",
            "Weekly\r\nDigest",
            url,
        );

        assert_eq!(
            message.subject,
            "Confirm your subscription to Weekly Digest"
        );
        assert_eq!(message.from, "news@example.com");
        assert_eq!(message.to, "jane@example.com");
        assert!(message.text.as_deref().unwrap().contains(url));
        assert!(message.reply_to.is_empty());
    }

    #[test]
    fn email_has_no_unsubscribe_headers() {
        let message = confirmation_email(
            "a@example.com",
            "b@example.com",
            "News",
            "https://x/confirm/t",
        );

        assert!(message.headers.is_empty(), "{:?}", message.headers);
    }
}
