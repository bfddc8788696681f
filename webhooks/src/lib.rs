//! The I/O-free core of the SES event webhook,
//! `POST /webhooks/ses/{awsAccountNumber}`: envelope and record parsing, SNS
//! signature verification and webhook secret matching. Nothing here opens a
//! socket or touches the store; the certificate fetch is a trait that the
//! caller implements.
//!
//! # Two envelopes
//!
//! - **EventBridge** ([`envelope::EventBridgeEvent`]): an EventBridge rule
//!   sends the SES event to an API destination, which posts
//!   `{version, id, detail-type, source, account, time, region, detail}`
//!   with the connection's webhook secret in `x-wraps-api-key`. `detail` is
//!   the SES record. The event `id` is the delivery key.
//! - **SNS** ([`envelope::SnsMessage`]): an SNS topic with an HTTP(S)
//!   subscription posts a signed JSON message with the
//!   `x-amz-sns-message-type` header. A `Notification` carries the SES
//!   record as JSON text in `Message`; `SubscriptionConfirmation` and
//!   `UnsubscribeConfirmation` carry a `SubscribeURL`. The `MessageId` is
//!   the delivery key. SNS cannot add the secret header, so the signature
//!   and the topic authenticate the message. Raw message delivery (a bare
//!   SES record with no SNS fields and no signature) is rejected with
//!   [`envelope::EnvelopeError::RawMessageDelivery`].
//!
//! # Two SES schemas
//!
//! SES writes either *event publishing* records (`eventType`, from a
//! configuration set) or *identity notifications* (`notificationType`,
//! for bounces, complaints and deliveries only). [`record::parse_record`]
//! reads both into one [`record::SesEvent`]. A bounce with subtype
//! `Suppressed` becomes [`record::EventKind::Suppressed`], as does the
//! custom `Suppressed` event. Unknown types become
//! [`record::EventKind::Other`]. A record without `mail.messageId` is
//! [`record::ParsedRecord::MissingMessageId`].
//!
//! # SNS verification rules
//!
//! [`sns::SnsVerifier`] accepts `SignatureVersion` 1 (SHA1withRSA) and 2
//! (SHA256withRSA) over the canonical string of [`sns::string_to_sign`],
//! rejects messages whose `Timestamp` is over one hour old, and accepts
//! `SigningCertURL` only as `https://sns.<region>.amazonaws.com/….pem` or
//! `https://sns.cn-<region>.amazonaws.com.cn/….pem`, checked before any
//! fetch. The current time is passed in, so tests control the clock.
//! [`sns::CachingFetcher`] caches certificates by URL.
//!
//! # What the caller still does
//!
//! The route, for `POST /webhooks/ses/{awsAccountNumber}`:
//!
//! 1. Checks the account number (12 digits, else 422) and caps the body.
//! 2. Calls [`envelope::parse_envelope`] with the body and the
//!    `x-amz-sns-message-type` header. An error is a 400 with its message.
//! 3. Authenticates:
//!    - EventBridge: looks up every connection with the account number and
//!      calls [`secret::find_matching_secret`] with the `x-wraps-api-key`
//!      header. No match is the uniform 401 `{"error":"Unauthorized"}`.
//!    - SNS: calls [`sns::SnsVerifier::verify`] with the current time, then
//!      compares [`sns::VerifiedSns::topic_arn`] with the topic stored on a
//!      connection of that account number. A failed verification or an
//!      unknown topic is the same uniform 401.
//! 4. For a `SubscriptionConfirmation` whose topic matched, passes
//!    `SubscribeURL` through [`sns::check_subscribe_url`], fetches the URL
//!    it returns with an injected HTTP client to confirm the subscription,
//!    and responds 200. It logs an `UnsubscribeConfirmation` and responds
//!    200.
//! 5. Applies the subscription gate (200 ignored).
//! 6. Skips a delivery whose [`envelope::Envelope::delivery_key`] was
//!    already processed (200). It stores the key only after processing
//!    succeeded, so that a retry after a 5xx is processed again.
//! 7. Parses the record with [`envelope::Envelope::ses_record`] (an error
//!    is a 400), responds 200 ignored for
//!    [`record::ParsedRecord::MissingMessageId`] and for
//!    [`record::EventKind::Other`], and records facts keyed by
//!    [`record::SesEvent::fact_key`] as first-seen timestamps.
//! 8. Responds 5xx only when processing failed and a retry can help, and
//!    200 ignored for permanent conditions, so that SNS and EventBridge do
//!    not retry them.
//!
//! Never log email addresses or secrets: addresses in parsed records are
//! [`record::Sensitive`], whose `Debug` output is redacted.

pub mod envelope;
pub mod record;
pub mod secret;
pub mod sns;

pub use envelope::{parse_envelope, DeliveryKey, Envelope, EnvelopeError};
pub use record::{EventKind, FactKey, ParsedRecord, RecordError, SesEvent};
pub use secret::find_matching_secret;
pub use sns::{SnsError, SnsVerifier};
