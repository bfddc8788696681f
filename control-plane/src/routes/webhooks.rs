//! `POST /webhooks/ses/{awsAccountNumber}`: SES events from the customer's
//! account, as an EventBridge API destination or an SNS HTTP(S)
//! subscription sends them.
//!
//! The route authenticates, parses and normalises each event, puts it on
//! the intake stream ([`streams::ShardId::INTAKE`]) and responds. The
//! dispatchers apply it to the store. So each event costs the API one stream
//! append, and the route writes no batch or contact rows.
//!
//! # Authentication
//!
//! - EventBridge: the `x-wraps-api-key` header must equal the webhook secret
//!   of one of the connections registered for the account number; the
//!   match, in constant time, picks the connection and so the organisation.
//! - SNS: the signature must verify against the certificate at
//!   `SigningCertURL` (fetched over HTTPS from an SNS host only, and
//!   cached), and the `TopicArn` must belong to the account in the path.
//!   SNS cannot set headers, but it sends HTTP Basic credentials given in
//!   the subscription URL (`https://wraps:SECRET@host/webhooks/ses/…`); the
//!   password is then matched like the header. Without a secret, a
//!   notification is accepted only from a topic whose subscription a
//!   connection confirmed here, and a `SubscriptionConfirmation` only when
//!   one connection has the account number.
//!
//! Every failure is the same 401, so callers cannot learn which accounts
//! exist.
//!
//! # Answers
//!
//! - 200 `{"status":"accepted","eventType","messageId"}`: queued. The hosted
//!   service answers `processed` after applying the event; wrapsd applies it
//!   just after answering, so it says `accepted`. Senders only look at the
//!   status code.
//! - 200 `{"status":"ignored","reason"}`: a permanent condition that a retry
//!   cannot fix (missing `mail.messageId`, an event type wrapsd does not
//!   record).
//! - 200 `{"status":"confirmed"}`: an SNS subscription was confirmed.
//! - 400 for a body that is not an envelope (raw SNS message delivery
//!   included), 401 as above, 422 for an account number that is not 12
//!   digits.
//! - 500 `{"error":"Failed to process event"}` when the store or the stream
//!   failed, so that the sender retries.
//!
//! No subscription gate: plans in wrapsd are configuration and every
//! organisation has one, so there is no lapsed subscription whose events
//! could be ignored.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use chrono::Utc;
use metrics_catalogue as names;
use schemas::delivery::{DeliveryEvent, DeliveryFact, SES_EVENT};
use serde_json::json;
use store::WebhookConnection;
use streams::{Job, ShardId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use webhooks::envelope::SNS_MESSAGE_TYPE_HEADER;
use webhooks::record::{BounceType, EventDetail};
use webhooks::secret::WEBHOOK_SECRET_HEADER;
use webhooks::sns::{check_subscribe_url, CachingFetcher, CertificateFetcher};
use webhooks::{
    find_matching_secret, parse_envelope, Envelope, EventKind, ParsedRecord, SnsVerifier,
};

use crate::error::AppError;
use crate::AppState;

/// How long the connections of an account number are reused before they
/// are read again; a new or rotated webhook secret works after this.
const CONNECTION_CACHE_TTL: Duration = Duration::from_secs(2);
/// Account numbers kept in the connection cache before it is cleared.
const CONNECTION_CACHE_ENTRIES: usize = 10_000;
const PROCESSING_FAILED: &str = "Failed to process event";

/// Confirms an SNS subscription by fetching its `SubscribeURL`.
#[async_trait]
pub trait SubscriptionConfirmer: Send + Sync {
    /// Fetches `url`, which passed
    /// [`check_subscribe_url`](webhooks::sns::check_subscribe_url). An
    /// error is the reason, for the log.
    async fn confirm(&self, url: &str) -> Result<(), String>;
}

/// The outside world of the SNS path, injectable so tests use local
/// servers only.
#[derive(Clone)]
pub struct WebhookClients {
    pub certificates: Arc<dyn CertificateFetcher>,
    pub confirmer: Arc<dyn SubscriptionConfirmer>,
}

/// The connections of one account number and when they were read.
type CachedConnections = (Instant, Arc<Vec<WebhookConnection>>);

/// State of the webhook route: the SNS verifier with its certificate cache,
/// the subscription confirmer and a short-lived cache of connections.
pub struct WebhookState {
    verifier: SnsVerifier<CachingFetcher<Arc<dyn CertificateFetcher>>>,
    confirmer: Arc<dyn SubscriptionConfirmer>,
    connections: Mutex<HashMap<String, CachedConnections>>,
}

impl WebhookState {
    pub fn new(clients: WebhookClients) -> Self {
        Self {
            verifier: SnsVerifier::new(CachingFetcher::new(clients.certificates)),
            confirmer: clients.confirmer,
            connections: Mutex::default(),
        }
    }

    async fn connections(
        &self,
        store: &store::Store,
        account: &str,
    ) -> Result<Arc<Vec<WebhookConnection>>, store::StoreError> {
        {
            let cache = self
                .connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((read_at, connections)) = cache.get(account) {
                if read_at.elapsed() < CONNECTION_CACHE_TTL {
                    return Ok(connections.clone());
                }
            }
        }
        let connections = Arc::new(store.webhook_connections(account).await?);
        let mut cache = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CONNECTION_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(account.to_owned(), (Instant::now(), connections.clone()));
        Ok(connections)
    }

    /// Forgets the cached connections of an account number.
    fn forget(&self, account: &str) {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(account);
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive))
}

/// A response, with the `result` label it is counted under.
struct Answer {
    result: &'static str,
    response: Response,
}

impl Answer {
    fn ok(result: &'static str, body: serde_json::Value) -> Self {
        Self {
            result,
            response: (StatusCode::OK, Json(body)).into_response(),
        }
    }

    fn ignored(reason: &str) -> Self {
        Self::ok("ignored", json!({"status": "ignored", "reason": reason}))
    }

    fn error(result: &'static str, error: AppError) -> Self {
        Self {
            result,
            response: error.into_response(),
        }
    }

    fn unauthorized() -> Self {
        Self::error("unauthorized", AppError::unauthorized())
    }

    fn failed(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "accepting an SES event failed; the sender will retry");
        Self::error(
            "error",
            AppError::new(StatusCode::INTERNAL_SERVER_ERROR, PROCESSING_FAILED),
        )
    }
}

/// Receives one SES event.
#[utoipa::path(post, path = "/webhooks/ses/{awsAccountNumber}", tag = "webhooks",
    params(("awsAccountNumber" = String, Path, description = "The 12-digit AWS account the events come from")),
    request_body(content = serde_json::Value, description = "An EventBridge event or an SNS message"),
    responses(
        (status = 200, description = "Accepted, confirmed, or ignored with a reason"),
        (status = 400, body = schemas::ApiError, description = "Not an EventBridge event or SNS message"),
        (status = 401, body = schemas::ApiError, description = "Unknown account, wrong secret or invalid SNS signature"),
        (status = 422, body = schemas::ApiError, description = "The account number is not 12 digits"),
        (status = 500, body = schemas::ApiError, description = "Processing failed; retry")))]
async fn receive(
    State(state): State<AppState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sns_type = headers
        .get(SNS_MESSAGE_TYPE_HEADER)
        .map(|value| value.to_str().unwrap_or("?"));
    let envelope_label = if sns_type.is_some() {
        "sns"
    } else {
        "eventbridge"
    };
    let answer = handle(&state, &account, &headers, sns_type, &body).await;
    metrics::counter!(names::WEBHOOK_REQUESTS, "envelope" => envelope_label, "result" => answer.result)
        .increment(1);
    answer.response
}

async fn handle(
    state: &AppState,
    account: &str,
    headers: &HeaderMap,
    sns_type: Option<&str>,
    body: &[u8],
) -> Answer {
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Answer::error(
            "invalid",
            AppError::invalid_field("awsAccountNumber", "must be exactly 12 digits"),
        );
    }
    let connections = match state.webhooks.connections(&state.store, account).await {
        Ok(connections) => connections,
        Err(err) => return Answer::failed(err),
    };
    let secret = presented_secret(headers);
    let by_secret = secret.as_deref().and_then(|secret| {
        // A disconnected webhook has no secret, which becomes an empty
        // candidate, and an empty candidate never matches.
        let secrets: Vec<&[u8]> = connections
            .iter()
            .map(|c| c.secret.as_deref().unwrap_or_default().as_bytes())
            .collect();
        find_matching_secret(secret.as_bytes(), &secrets).map(|index| &connections[index])
    });
    // An EventBridge call must carry the secret; checking it before the
    // body is parsed keeps unauthenticated input away from the parser.
    if sns_type.is_none() && by_secret.is_none() {
        return Answer::unauthorized();
    }

    let envelope = match parse_envelope(body, sns_type) {
        Ok(envelope) => envelope,
        Err(err) => return Answer::error("invalid", AppError::bad_request(err.to_string())),
    };

    let connection = match envelope.sns() {
        None => match by_secret {
            Some(connection) => connection,
            None => return Answer::unauthorized(),
        },
        Some(message) => {
            if let Err(err) = state.webhooks.verifier.verify(message, Utc::now()).await {
                tracing::info!(reason = %err, "SNS message rejected");
                return Answer::unauthorized();
            }
            if topic_account(&message.topic_arn) != Some(account) {
                tracing::info!("SNS message rejected: its topic belongs to another account");
                return Answer::unauthorized();
            }
            let confirmed = |c: &&WebhookConnection| c.sns_topic_arns.contains(&message.topic_arn);
            let chosen = match (secret.is_some(), &envelope) {
                (true, _) => by_secret,
                (false, Envelope::SnsSubscriptionConfirmation(_)) => {
                    let live: Vec<_> = connections.iter().filter(|c| c.secret.is_some()).collect();
                    (live.len() == 1).then(|| live[0])
                }
                (false, _) => connections.iter().find(confirmed),
            };
            match chosen {
                Some(connection) => connection,
                None => return Answer::unauthorized(),
            }
        }
    };

    match &envelope {
        Envelope::SnsSubscriptionConfirmation(message) => {
            confirm_subscription(state, account, connection, message).await
        }
        Envelope::SnsUnsubscribeConfirmation(_) => {
            tracing::info!(connection = %connection.id, "SNS subscription ended");
            Answer::ignored("unsubscribe confirmation")
        }
        Envelope::EventBridge(_) | Envelope::SnsNotification(_) => {
            accept_event(state, connection, &envelope).await
        }
    }
}

async fn confirm_subscription(
    state: &AppState,
    account: &str,
    connection: &WebhookConnection,
    message: &webhooks::envelope::SnsMessage,
) -> Answer {
    let url = match message
        .subscribe_url
        .as_deref()
        .map(check_subscribe_url)
        .transpose()
    {
        Ok(Some(url)) => url,
        Ok(None) => {
            return Answer::error("invalid", AppError::bad_request("SubscribeURL is missing"))
        }
        Err(err) => return Answer::error("invalid", AppError::bad_request(err.to_string())),
    };
    if let Err(reason) = state.webhooks.confirmer.confirm(&url).await {
        return Answer::failed(format!("confirming the SNS subscription failed: {reason}"));
    }
    if let Err(err) = state
        .store
        .add_sns_topic(&connection.id, &message.topic_arn)
        .await
    {
        return Answer::failed(err);
    }
    state.webhooks.forget(account);
    tracing::info!(connection = %connection.id, "SNS subscription confirmed");
    Answer::ok("confirmed", json!({"status": "confirmed"}))
}

async fn accept_event(
    state: &AppState,
    connection: &WebhookConnection,
    envelope: &Envelope,
) -> Answer {
    let record = match envelope.ses_record() {
        Some(Ok(record)) => record,
        Some(Err(err)) => return Answer::error("invalid", AppError::bad_request(err.to_string())),
        None => return Answer::ignored("no SES record"),
    };
    let event = match record {
        ParsedRecord::MissingMessageId { .. } => return Answer::ignored("missing mail.messageId"),
        ParsedRecord::Event(event) => event,
    };
    let Some(fact) = fact_of(&event.kind) else {
        return Answer::ignored(&format!("unsupported event type: {}", event.type_name));
    };
    let (bounce_type, bounce_sub_type) = match &event.detail {
        EventDetail::Bounce(bounce) => (
            match &bounce.bounce_type {
                BounceType::Permanent => Some("Permanent".to_owned()),
                BounceType::Transient => Some("Transient".to_owned()),
                BounceType::Undetermined => Some("Undetermined".to_owned()),
                BounceType::Other(other) => Some(other.clone()),
                BounceType::Missing => None,
            },
            bounce.bounce_sub_type.clone(),
        ),
        _ => (None, None),
    };
    let error_message = match &event.detail {
        EventDetail::RenderingFailure(failure) => failure.error_message.clone(),
        _ => None,
    };
    let occurred_at = event
        .occurred_at()
        .unwrap_or_else(Utc::now)
        .timestamp_millis();
    let delivery = DeliveryEvent {
        organization_id: connection.organization_id,
        connection_id: connection.id.clone(),
        delivery_key: envelope.delivery_key().to_string(),
        fact,
        type_name: event.type_name.clone(),
        message_id: event.message_id.clone(),
        batch_id: event.tag("batchId").map(str::to_owned),
        recipient_id: event.tag("recipientId").map(str::to_owned),
        occurred_at,
        mail_timestamp: event.mail_timestamp.map(|t| t.timestamp_millis()),
        bounce_type,
        bounce_sub_type,
        error_message,
        recipient: event.destination.first().map(|d| d.as_str().to_owned()),
        source: event.source.as_ref().map(|s| s.as_str().to_owned()),
        subject: event.subject.clone(),
    };
    let job = match Job::from_payload(SES_EVENT, &delivery) {
        Ok(job) => job,
        Err(err) => return Answer::failed(err),
    };
    if let Err(err) = state.streams.producer.publish(ShardId::INTAKE, &job).await {
        return Answer::failed(err);
    }
    Answer::ok(
        "accepted",
        json!({"status": "accepted", "eventType": event.type_name, "messageId": event.message_id}),
    )
}

/// Maps an SES event kind to the fact the store records; `None` for kinds
/// wrapsd does not record.
fn fact_of(kind: &EventKind) -> Option<DeliveryFact> {
    Some(match kind {
        EventKind::Send => DeliveryFact::Send,
        EventKind::Delivery => DeliveryFact::Delivery,
        EventKind::Open => DeliveryFact::Open,
        EventKind::Click => DeliveryFact::Click,
        EventKind::Bounce => DeliveryFact::Bounce,
        EventKind::Complaint => DeliveryFact::Complaint,
        EventKind::Suppressed => DeliveryFact::Suppressed,
        EventKind::Reject => DeliveryFact::Reject,
        EventKind::RenderingFailure => DeliveryFact::RenderingFailure,
        EventKind::DeliveryDelay | EventKind::Subscription | EventKind::Other(_) => return None,
    })
}

/// Reads the webhook secret of the request: the `x-wraps-api-key` header, or
/// the password of HTTP Basic credentials (what SNS sends for a subscription
/// URL with user information).
fn presented_secret(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(WEBHOOK_SECRET_HEADER) {
        return value.to_str().ok().map(str::to_owned);
    }
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    decoded
        .split_once(':')
        .map(|(_, password)| password.to_owned())
}

/// Reads the account field of an SNS topic ARN, `arn:aws:sns:<region>:<account>:<name>`.
fn topic_account(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    let (Some("arn"), Some(_partition), Some("sns"), Some(_region), Some(account), Some(_name)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    parts.next().is_none().then_some(account)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn topic_account_reads_only_well_formed_sns_arns() {
        assert_eq!(
            topic_account("arn:aws:sns:eu-west-1:123456789012:ses-events"),
            Some("123456789012")
        );
        assert_eq!(
            topic_account("arn:aws-cn:sns:cn-north-1:123456789012:t"),
            Some("123456789012")
        );
        assert_eq!(topic_account("arn:aws:sqs:eu-west-1:123456789012:q"), None);
        assert_eq!(topic_account("arn:aws:sns:eu-west-1:123456789012"), None);
        assert_eq!(
            topic_account("arn:aws:sns:eu-west-1:123456789012:t:extra"),
            None
        );
    }

    #[test]
    fn secret_comes_from_the_header_or_basic_credentials() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_secret(&headers), None);
        let basic = base64::engine::general_purpose::STANDARD.encode("wraps:s3cret:with:colons");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {basic}")).unwrap(),
        );
        assert_eq!(
            presented_secret(&headers).as_deref(),
            Some("s3cret:with:colons")
        );
        headers.insert(
            WEBHOOK_SECRET_HEADER,
            HeaderValue::from_static("from-header"),
        );
        assert_eq!(presented_secret(&headers).as_deref(), Some("from-header"));
    }
}
