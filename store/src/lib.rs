//! Persistence for wrapsd over SQLite (the embedded default) and PostgreSQL.
//!
//! [`Store`] is the one handle, and each file adds the methods of one table or
//! concept. Every tenant method takes the caller's [`OrgId`] first and
//! touches only that organisation's rows, so another organisation's id reads
//! as "not found". Methods return the wire types of the `schemas` crate.
//!
//! [`OrgId`]: schemas::OrgId

mod api_keys;
mod audience;
mod batches;
pub mod confirmations;
mod connections;
mod contacts;
mod db;
mod delivery_events;
mod error;
mod idempotency;
mod import;
mod orgs;
mod recipients;
mod row;
mod sql;
mod subscriptions;
mod templates;
mod topics;
mod unsubscribe;

#[cfg(feature = "test-support")]
pub mod test_support;

pub use api_keys::{hash_api_key, ApiKeyRecord, AuthContext, KeyType, NewApiKey, ALL_PERMISSIONS};
pub use batches::{Batch, BatchCounters, BatchFilter, ChunkProgress, NewBatch};
pub use connections::{ConnectionCredentials, RegisterOptions};
pub use contacts::{hash_identity, IdentityShape};
pub use db::{Backend, ConnectOptions, Store};
pub use delivery_events::{
    ExternalMessage, RecipientFacts, WebhookConnection, DELIVERY_KEY_RETENTION_MILLIS,
};
pub use error::StoreError;
pub use idempotency::IdempotencyBegin;
pub use import::{ImportOutcome, ImportRow};
pub use orgs::Org;
pub use recipients::{
    ChunkClaim, ClaimedRecipient, FanOut, RecipientOutcome, RecipientRow, RecordedOutcomes,
};
pub use templates::{source_hash, Template, TemplateCursor, TemplateFilter, TemplateUpdate};
pub use unsubscribe::UnsubscribeOutcome;
