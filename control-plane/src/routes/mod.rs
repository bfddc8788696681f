//! One module per resource, each with its handlers and `router()`.

pub mod batch;
pub mod connections;
pub mod contacts;
pub mod health;
pub mod templates;
pub mod topics;
