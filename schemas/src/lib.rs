//! Wire types of the Wraps Platform API.
//!
//! Everything a client sends or receives is defined here: request and response
//! bodies (camelCase, as the hosted service spells them), enums, the error
//! envelope and the id newtypes. The crate does no I/O, so the store, the API
//! and the dispatcher can share one definition of each shape.

pub mod batches;
pub mod connections;
pub mod contacts;
pub mod delivery;
pub mod error;
pub mod health;
pub mod ids;
pub mod jobs;
pub mod templates;
pub mod time;
pub mod topics;
pub mod unsubscribe;
pub mod validation;

pub use error::{ApiError, ErrorCode, FieldError};
pub use ids::{ApiKeyId, BatchId, ConnectionId, ContactId, OrgId, TemplateId, TopicId};
