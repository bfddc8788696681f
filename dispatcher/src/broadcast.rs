//! Broadcast jobs: fan-out of a batch into chunks, and the sending of one
//! chunk through the batch's SES account.
//!
//! A chunk is sent in calls of at most the account's per-second rate (and at
//! most 50 recipients, the SES bulk limit). Before each call the sender
//! checks that the batch was not cancelled, hands the call's recipients off
//! (a compare-and-set on its claim token), waits for the account's tokens and
//! sends; the outcomes are recorded right after the call. A throttle or a
//! daily quota puts the chunk's remaining recipients back to `pending` and
//! schedules the same chunk again later, without counting anyone as sent or
//! failed.

use metrics_catalogue as names;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::stream::{self, StreamExt};
use schemas::batches::BatchStatus;
use schemas::jobs::{shard_for_account, ChunkJob, FanOutJob, BATCH_CHUNK, BATCH_FAN_OUT};
use ses::{ConnectionTarget, EmailMessage, PauseReason, SendOutcome, SesClient, SesProvider};
use store::{
    Batch, ChunkProgress, ClaimedRecipient, ConnectionCredentials, RecipientOutcome, Store,
};
use streams::{Delivery, Job, ShardId, Streams};
use tokio_util::sync::CancellationToken;

use ratelimit::{AccountPacer, Lane, PaceError, Pacers, Quota, SendLimitError, SendLimits};

use crate::content::{Content, ContentError, UnsubscribeLinks};

/// Settings of the broadcast sender.
#[derive(Clone, Debug)]
pub struct BroadcastConfig {
    pub shards: u32,
    /// Recipients per chunk job.
    pub chunk_size: i64,
    /// Concurrent `SendEmail` calls of one chunk.
    pub send_concurrency: usize,
    /// Delay before a chunk paused by the daily quota is tried again.
    pub quota_retry: Duration,
    /// Maximum age of a quota reading before `GetAccount` is called again.
    pub quota_refresh: Duration,
    /// Base URL of the public API, for links in messages.
    pub public_url: String,
    /// Messages of each account's 24-hour quota that broadcasts leave for
    /// transactional and workflow mail.
    pub daily_reserve: f64,
    /// Sender of double opt-in confirmation emails. Unset, the sender of
    /// the organisation's newest broadcast through the same connection.
    pub confirmation_from: Option<String>,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        Self {
            shards: 16,
            chunk_size: 500,
            send_concurrency: 16,
            quota_retry: Duration::from_secs(15 * 60),
            quota_refresh: Duration::from_secs(5 * 60),
            public_url: "http://127.0.0.1:8080".into(),
            daily_reserve: 0.0,
            confirmation_from: None,
        }
    }
}

/// Everything a broadcast job needs.
pub struct Broadcaster {
    pub store: Store,
    pub streams: Arc<Streams>,
    pub ses: Arc<dyn SesProvider>,
    pub pacers: Pacers,
    /// Plan send limits per organisation.
    pub send_limits: SendLimits,
    /// Signing keys and base URL of the one-click unsubscribe links every
    /// broadcast message carries.
    pub unsubscribe: UnsubscribeLinks,
    pub config: BroadcastConfig,
}

/// Result of one job, deciding whether its delivery is acked.
#[derive(Debug, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    Failed(String),
}

/// Reason a chunk stopped before all its recipients were sent.
enum Interruption {
    Cancelled,
    Stopping,
    RetryLater(Duration),
    DailyQuota,
    /// The organisation's plan allows no more messages today.
    PlanDailyLimit(Duration),
    AccountProblem(PauseReason, String),
}

impl Broadcaster {
    /// Freezes the batch's audience and queues one job per chunk. Running it
    /// twice queues the chunks twice, which the claims make harmless.
    pub async fn fan_out(&self, job: &FanOutJob) -> JobOutcome {
        let batch = match self
            .store
            .get_batch(job.organization_id, job.batch_id)
            .await
        {
            Ok(Some(batch)) => batch,
            Ok(None) => return JobOutcome::Done,
            Err(err) => return JobOutcome::Failed(format!("loading the batch failed: {err}")),
        };
        if batch.status != BatchStatus::Queued && batch.status != BatchStatus::Processing {
            return JobOutcome::Done;
        }
        let Some(connection) = self.connection(&batch).await else {
            self.fail_batch(&batch, "the batch's AWS connection was removed")
                .await;
            return JobOutcome::Done;
        };

        if batch.channel != "email" {
            self.fail_batch(
                &batch,
                "unsupported channel: only email broadcasts can be sent",
            )
            .await;
            return JobOutcome::Done;
        }
        let started = std::time::Instant::now();
        let fan_out = match self
            .store
            .fan_out_batch(&batch, self.config.chunk_size)
            .await
        {
            Ok(fan_out) => fan_out,
            Err(err) => return JobOutcome::Failed(format!("fan-out failed: {err}")),
        };
        metrics::counter!(names::FANNED_OUT_RECIPIENTS).increment(fan_out.total.max(0) as u64);

        if batch
            .from_email
            .as_deref()
            .is_none_or(|from| from.trim().is_empty())
        {
            let reason = "No sender email configured: set `from` on the batch";
            if let Err(err) = self.store.fail_unsent_recipients(batch.id, reason).await {
                return JobOutcome::Failed(format!("failing recipients failed: {err}"));
            }
            self.fail_batch(&batch, reason).await;
            return JobOutcome::Done;
        }

        let chunks = match self.store.unfinished_chunks(batch.id).await {
            Ok(chunks) => chunks,
            Err(err) => return JobOutcome::Failed(format!("listing chunks failed: {err}")),
        };
        let shard = ShardId(shard_for_account(
            &connection.account_id,
            self.config.shards,
        ));
        for chunk_index in &chunks {
            let payload = ChunkJob {
                batch_id: batch.id,
                organization_id: batch.organization_id,
                chunk_index: *chunk_index,
            };
            if let Err(err) = self.publish_chunk(shard, &payload, None).await {
                return JobOutcome::Failed(format!("queueing chunk {chunk_index} failed: {err}"));
            }
        }

        metrics::histogram!(names::FAN_OUT_DURATION).record(started.elapsed().as_secs_f64());
        self.complete_if_done(&batch).await;
        tracing::info!(batch_id = %batch.id, chunks = chunks.len(), total = fan_out.total, "batch chunks queued");
        JobOutcome::Done
    }

    /// Sends one chunk of a batch.
    pub async fn send_chunk(
        &self,
        job: &ChunkJob,
        delivery: &Delivery,
        stop: &CancellationToken,
    ) -> JobOutcome {
        let batch = match self
            .store
            .get_batch(job.organization_id, job.batch_id)
            .await
        {
            Ok(Some(batch)) => batch,
            Ok(None) => return JobOutcome::Done,
            Err(err) => return JobOutcome::Failed(format!("loading the batch failed: {err}")),
        };
        if batch.status != BatchStatus::Processing || batch.fanned_out_at.is_none() {
            return JobOutcome::Done;
        }
        let Some(connection) = self.connection(&batch).await else {
            self.fail_batch(&batch, "the batch's AWS connection was removed")
                .await;
            return JobOutcome::Done;
        };
        let content = match Content::load(&self.store, &batch, &self.unsubscribe).await {
            Ok(content) => content,
            Err(ContentError::Store(err)) => {
                return JobOutcome::Failed(format!("loading content failed: {err}"))
            }
            Err(ContentError::Invalid(reason)) => {
                if let Err(err) = self.store.fail_unsent_recipients(batch.id, &reason).await {
                    return JobOutcome::Failed(format!("failing recipients failed: {err}"));
                }
                self.fail_batch(&batch, &reason).await;
                return JobOutcome::Done;
            }
        };

        let client = self.ses.client(&target(&connection)).await;
        let pacer = match self.pacer(&connection.account_id, client.as_ref()).await {
            Ok(pacer) => pacer,
            Err(err) => return JobOutcome::Failed(err),
        };

        let plan = match self.store.get_org(batch.organization_id).await {
            Ok(org) => org.map(|org| org.plan),
            Err(err) => {
                return JobOutcome::Failed(format!("loading the organisation failed: {err}"))
            }
        };

        let token = uuid::Uuid::new_v4().to_string();
        let claim = match self
            .store
            .claim_chunk(&batch, job.chunk_index, &token)
            .await
        {
            Ok(claim) => claim,
            Err(err) => return JobOutcome::Failed(format!("claiming chunk failed: {err}")),
        };
        let mut progress = ChunkProgress {
            processed: claim.skipped + claim.unknown,
            skipped: claim.skipped,
            unknown: claim.unknown,
            ..ChunkProgress::default()
        };

        let interruption = self
            .send_claimed(
                &batch,
                &content,
                client.as_ref(),
                &pacer,
                plan.as_deref(),
                &token,
                claim.recipients,
                &mut progress,
                delivery,
                stop,
            )
            .await;
        if let Err(err) = self.store.add_batch_progress(batch.id, &progress).await {
            tracing::error!(batch_id = %batch.id, error = %err, "recording chunk progress failed; counters are reconciled from rows at completion");
        }

        let outcome = self
            .after_interruption(&batch, &connection, job, &token, interruption)
            .await;
        self.complete_if_done(&batch).await;
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_claimed(
        &self,
        batch: &Batch,
        content: &Content,
        client: &dyn SesClient,
        pacer: &AccountPacer,
        plan: Option<&str>,
        token: &str,
        recipients: Vec<ClaimedRecipient>,
        progress: &mut ChunkProgress,
        delivery: &Delivery,
        stop: &CancellationToken,
    ) -> Option<Interruption> {
        let call_size = pacer
            .max_call_size()
            .min(self.send_limits.max_call_size(plan))
            .min(ses::MAX_BULK_ENTRIES);
        for group in recipients.chunks(call_size) {
            if stop.is_cancelled() {
                return Some(Interruption::Stopping);
            }
            match self.store.get_batch(batch.organization_id, batch.id).await {
                Ok(Some(current)) if current.status == BatchStatus::Cancelled => {
                    return Some(Interruption::Cancelled)
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(batch_id = %batch.id, error = %err, "re-reading the batch status failed; sending on")
                }
            }

            let ids: Vec<_> = group.iter().map(|r| r.contact_id).collect();
            let handed = match self.store.hand_off(batch.id, token, &ids).await {
                Ok(handed) => handed,
                Err(err) => {
                    tracing::warn!(batch_id = %batch.id, error = %err, "hand-off failed; retrying the chunk later");
                    return Some(Interruption::RetryLater(Duration::from_secs(5)));
                }
            };
            let handed: Vec<&ClaimedRecipient> = group
                .iter()
                .filter(|r| handed.contains(&r.contact_id))
                .collect();
            if handed.is_empty() {
                continue;
            }

            let organization = batch.organization_id.to_string();
            let size = handed.len() as u32;
            let outcomes = match self.send_limits.acquire(&organization, plan, size).await {
                Ok(()) => {
                    self.send_group(batch, content, client, pacer, &handed)
                        .await
                }
                Err(err) => {
                    let (outcome, stop) = match err {
                        SendLimitError::DailyLimitReached { retry_after } => (
                            "the plan's daily send limit is reached",
                            Interruption::PlanDailyLimit(retry_after),
                        ),
                        SendLimitError::Limiter(err) => {
                            tracing::warn!(batch_id = %batch.id, error = %err, "the send limiter is unavailable; retrying the chunk later");
                            (
                                "the send limiter is unavailable",
                                Interruption::RetryLater(Duration::from_secs(5)),
                            )
                        }
                    };
                    let unsent: Vec<_> = handed
                        .iter()
                        .map(|r| (r.contact_id, RecipientOutcome::Retry))
                        .collect();
                    tracing::debug!(batch_id = %batch.id, reason = outcome, "call not made");
                    if let Err(err) = self.store.record_outcomes(batch.id, token, &unsent).await {
                        tracing::error!(batch_id = %batch.id, error = %err, "returning recipients to pending failed; they will end unknown");
                    }
                    return Some(stop);
                }
            };
            let (records, interruption) = interpret(&handed, outcomes, pacer);
            let unsent = records
                .iter()
                .filter(|(_, r)| matches!(r, RecipientOutcome::Retry))
                .count() as u32;
            if unsent > 0 {
                self.send_limits.refund(&organization, plan, unsent).await;
            }
            match self.store.record_outcomes(batch.id, token, &records).await {
                Ok(recorded) => {
                    progress.processed += recorded.sent + recorded.failed + recorded.unknown;
                    progress.sent += recorded.sent;
                    progress.failed += recorded.failed;
                    progress.unknown += recorded.unknown;
                    for (outcome, count) in [
                        ("sent", recorded.sent),
                        ("failed", recorded.failed),
                        ("unknown", recorded.unknown),
                        ("retry", i64::from(unsent)),
                    ] {
                        metrics::counter!(names::SENDS, "outcome" => outcome, "account" => pacer.account().to_owned(), "channel" => batch.channel.clone())
                            .increment(count.max(0) as u64);
                    }
                }
                Err(err) => {
                    // The rows stay handed off; a later claim marks them unknown rather than resending.
                    tracing::error!(batch_id = %batch.id, error = %err, "recording outcomes failed; these recipients will end unknown");
                }
            }
            if let Err(err) = self.streams.consumer.extend(delivery).await {
                tracing::warn!(batch_id = %batch.id, error = %err, "extending the chunk's delivery failed; stopping the chunk");
                return Some(Interruption::Stopping);
            }
            if interruption.is_some() {
                return interruption;
            }
        }
        None
    }

    /// Sends one call's worth of recipients and returns their outcomes in order.
    async fn send_group(
        &self,
        batch: &Batch,
        content: &Content,
        client: &dyn SesClient,
        pacer: &AccountPacer,
        recipients: &[&ClaimedRecipient],
    ) -> Vec<SendOutcome> {
        if let Some(bulk) = content.bulk_message(batch, recipients) {
            if let Err(PaceError::DailyQuotaReached) =
                pacer.acquire(recipients.len() as u32, Lane::Bulk).await
            {
                return vec![daily_quota_outcome(); recipients.len()];
            }
            let started = std::time::Instant::now();
            let outcomes = client.send_bulk_email(&bulk).await;
            metrics::histogram!(names::SES_CALL_DURATION, "operation" => "SendBulkEmail")
                .record(started.elapsed().as_secs_f64());
            return outcomes;
        }

        let messages: Vec<Result<EmailMessage, String>> = recipients
            .iter()
            .map(|r| content.email_message(batch, r))
            .collect();
        let sends = messages.into_iter().map(|message| async move {
            let message = match message {
                Ok(message) => message,
                Err(reason) => return SendOutcome::Failed { reason },
            };
            if let Err(PaceError::DailyQuotaReached) = pacer.acquire(1, Lane::Bulk).await {
                return daily_quota_outcome();
            }
            let started = std::time::Instant::now();
            let outcome = client.send_email(&message).await;
            metrics::histogram!(names::SES_CALL_DURATION, "operation" => "SendEmail")
                .record(started.elapsed().as_secs_f64());
            outcome
        });
        stream::iter(sends)
            .buffered(self.config.send_concurrency.max(1))
            .collect()
            .await
    }

    /// Acts on what stopped the chunk and decides how its job ends.
    async fn after_interruption(
        &self,
        batch: &Batch,
        connection: &ConnectionCredentials,
        job: &ChunkJob,
        token: &str,
        interruption: Option<Interruption>,
    ) -> JobOutcome {
        let Some(interruption) = interruption else {
            return JobOutcome::Done;
        };
        let release = || async {
            if let Err(err) = self
                .store
                .release_claims(batch.id, job.chunk_index, token)
                .await
            {
                tracing::warn!(batch_id = %batch.id, error = %err, "releasing claims failed; the next claim of the chunk takes them over");
            }
        };
        let shard = ShardId(shard_for_account(
            &connection.account_id,
            self.config.shards,
        ));

        match interruption {
            Interruption::Cancelled => {
                release().await;
                tracing::info!(batch_id = %batch.id, chunk = job.chunk_index, "chunk stopped: the batch was cancelled");
                JobOutcome::Done
            }
            // Leave the claims: the shard's next owner takes them over.
            Interruption::Stopping => {
                JobOutcome::Failed("the dispatcher is stopping or lost the shard".into())
            }
            Interruption::RetryLater(after) => {
                release().await;
                self.requeue(shard, job, after).await
            }
            Interruption::DailyQuota => {
                release().await;
                if let Err(err) = self
                    .store
                    .set_batch_paused(batch.id, Some("daily_quota"))
                    .await
                {
                    tracing::warn!(batch_id = %batch.id, error = %err, "recording the pause failed");
                }
                tracing::warn!(batch_id = %batch.id, account = connection.account_id, "batch paused: the account's daily SES quota is reached");
                metrics::counter!(names::BATCH_PAUSES, "reason" => "daily_quota").increment(1);
                self.requeue(shard, job, self.config.quota_retry).await
            }
            Interruption::PlanDailyLimit(after) => {
                release().await;
                if let Err(err) = self
                    .store
                    .set_batch_paused(batch.id, Some("plan_daily_limit"))
                    .await
                {
                    tracing::warn!(batch_id = %batch.id, error = %err, "recording the pause failed");
                }
                tracing::warn!(batch_id = %batch.id, organization_id = %batch.organization_id, "batch paused: the plan's daily send limit is reached");
                metrics::counter!(names::BATCH_PAUSES, "reason" => "plan_daily_limit").increment(1);
                self.requeue(shard, job, after.min(self.config.quota_retry))
                    .await
            }
            Interruption::AccountProblem(reason, detail) => {
                release().await;
                let message = format!(
                    "SES rejected sending from the account ({}): {detail}",
                    reason.as_str()
                );
                metrics::counter!(names::BATCH_PAUSES, "reason" => reason.as_str()).increment(1);
                self.fail_batch(batch, &message).await;
                JobOutcome::Done
            }
        }
    }

    async fn requeue(&self, shard: ShardId, job: &ChunkJob, after: Duration) -> JobOutcome {
        match self.publish_chunk(shard, job, Some(after)).await {
            Ok(()) => JobOutcome::Done,
            Err(err) => JobOutcome::Failed(format!("scheduling the chunk again failed: {err}")),
        }
    }

    async fn publish_chunk(
        &self,
        shard: ShardId,
        payload: &ChunkJob,
        delay: Option<Duration>,
    ) -> Result<(), String> {
        let job = Job::from_payload(BATCH_CHUNK, payload).map_err(|err| err.to_string())?;
        match delay {
            None => self.streams.producer.publish(shard, &job).await.map(|_| ()),
            Some(delay) => {
                self.streams
                    .producer
                    .schedule(shard, &job, SystemTime::now() + delay)
                    .await
            }
        }
        .map_err(|err| err.to_string())
    }

    /// Publishes the fan-out job of a batch to its account's shard.
    pub async fn publish_fan_out(&self, batch: &Batch) -> Result<(), String> {
        let Some(connection) = self.connection(batch).await else {
            return Err("the batch has no AWS connection".into());
        };
        let shard = ShardId(shard_for_account(
            &connection.account_id,
            self.config.shards,
        ));
        let payload = FanOutJob {
            batch_id: batch.id,
            organization_id: batch.organization_id,
        };
        let job = Job::from_payload(BATCH_FAN_OUT, &payload).map_err(|err| err.to_string())?;
        self.streams
            .producer
            .publish(shard, &job)
            .await
            .map(|_| ())
            .map_err(|err| err.to_string())
    }

    /// Queues the chunks of a processing batch that still have recipients to
    /// send; used by the sweeper after jobs were lost.
    pub async fn republish_unfinished(&self, batch: &Batch) -> Result<usize, String> {
        let Some(connection) = self.connection(batch).await else {
            return Err("the batch has no AWS connection".into());
        };
        let chunks = self
            .store
            .unfinished_chunks(batch.id)
            .await
            .map_err(|err| err.to_string())?;
        let shard = ShardId(shard_for_account(
            &connection.account_id,
            self.config.shards,
        ));
        for chunk_index in &chunks {
            let payload = ChunkJob {
                batch_id: batch.id,
                organization_id: batch.organization_id,
                chunk_index: *chunk_index,
            };
            self.publish_chunk(shard, &payload, None).await?;
        }
        Ok(chunks.len())
    }

    pub async fn complete_if_done(&self, batch: &Batch) {
        match self.store.try_complete_batch(batch.id).await {
            Ok(true) => metrics::counter!(names::BATCHES_COMPLETED).increment(1),
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(batch_id = %batch.id, error = %err, "completion check failed; the sweeper retries it")
            }
        }
    }

    async fn connection(&self, batch: &Batch) -> Option<ConnectionCredentials> {
        let id = batch.connection_id?;
        match self
            .store
            .connection_credentials(batch.organization_id, id)
            .await
        {
            Ok(connection) => connection,
            Err(err) => {
                tracing::warn!(batch_id = %batch.id, error = %err, "loading the AWS connection failed");
                None
            }
        }
    }

    async fn fail_batch(&self, batch: &Batch, reason: &str) {
        let from = [BatchStatus::Queued, BatchStatus::Processing];
        match self
            .store
            .transition_batch(batch.id, &from, BatchStatus::Failed, Some(reason))
            .await
        {
            Ok(true) => tracing::warn!(batch_id = %batch.id, reason, "batch failed"),
            Ok(false) => {}
            Err(err) => {
                tracing::error!(batch_id = %batch.id, error = %err, "marking the batch failed did not work")
            }
        }
    }

    /// Returns the account's pacer, reading its quota with `GetAccount` when
    /// it is new or its reading is stale.
    pub(crate) async fn pacer(
        &self,
        account: &str,
        client: &dyn SesClient,
    ) -> Result<Arc<AccountPacer>, String> {
        let existing = self.pacers.get(account);
        if let Some(pacer) = &existing {
            if !pacer.is_stale(self.config.quota_refresh) {
                return Ok(pacer.clone());
            }
        }
        let started = std::time::Instant::now();
        let reading = client.get_account().await;
        metrics::histogram!(names::SES_CALL_DURATION, "operation" => "GetAccount")
            .record(started.elapsed().as_secs_f64());
        let quota = match reading {
            Ok(quota) => Quota {
                max_send_rate: quota.max_send_rate,
                max_24h_send: quota.max_24h_send,
                sent_last_24h: quota.sent_last_24h,
            },
            Err(err) => match existing {
                Some(pacer) => {
                    tracing::warn!(account, error = %err, "refreshing the SES quota failed; keeping the last reading");
                    return Ok(pacer);
                }
                None => return Err(format!("reading the SES quota (GetAccount) failed: {err}")),
            },
        };
        match existing {
            Some(pacer) => {
                pacer.refresh(quota);
                Ok(pacer)
            }
            None => Ok(self.pacers.insert(
                account,
                Arc::new(AccountPacer::new(account, quota, self.config.daily_reserve)),
            )),
        }
    }
}

/// Converts a stored connection into the form the SES crate takes.
pub fn target(connection: &ConnectionCredentials) -> ConnectionTarget {
    ConnectionTarget {
        account_id: connection.account_id.clone(),
        region: connection.region.clone(),
        role_arn: connection.role_arn.clone(),
        external_id: connection.external_id.clone(),
    }
}

fn daily_quota_outcome() -> SendOutcome {
    SendOutcome::PauseAccount {
        reason: PauseReason::DailyQuota,
        detail: "the account's 24-hour sending quota is reached".into(),
    }
}

/// Turns SES outcomes into recipient outcomes, and finds the first reason to
/// stop the chunk.
fn interpret(
    recipients: &[&ClaimedRecipient],
    outcomes: Vec<SendOutcome>,
    pacer: &AccountPacer,
) -> (
    Vec<(schemas::ContactId, RecipientOutcome)>,
    Option<Interruption>,
) {
    let mut records = Vec::with_capacity(recipients.len());
    let mut interruption = None;
    let mut throttled = false;
    let mut unsent = 0_u32;

    for (index, recipient) in recipients.iter().enumerate() {
        let outcome = outcomes
            .get(index)
            .cloned()
            .unwrap_or(SendOutcome::Unknown {
                reason: "SES returned fewer results than entries".into(),
            });
        let record = match outcome {
            SendOutcome::Sent { message_id } => RecipientOutcome::Sent { message_id },
            SendOutcome::Failed { reason } => RecipientOutcome::Failed { error: reason },
            SendOutcome::Unknown { reason } => RecipientOutcome::Unknown { error: reason },
            SendOutcome::RetryLater { after, .. } => {
                throttled = true;
                unsent += 1;
                if interruption.is_none() {
                    interruption = Some(Interruption::RetryLater(after));
                }
                RecipientOutcome::Retry
            }
            SendOutcome::PauseAccount { reason, detail } => {
                unsent += 1;
                let stop = match reason {
                    PauseReason::DailyQuota => Interruption::DailyQuota,
                    other => Interruption::AccountProblem(other, detail),
                };
                if !matches!(interruption, Some(Interruption::AccountProblem(..))) {
                    interruption = Some(stop);
                }
                RecipientOutcome::Retry
            }
        };
        records.push((recipient.contact_id, record));
    }

    if throttled {
        pacer.on_throttle();
    }
    if unsent > 0 {
        pacer.refund(unsent);
    }
    (records, interruption)
}
