//! Health and info responses.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Info {
    pub name: String,
    pub version: String,
    pub docs: String,
}

/// `GET /health`: liveness only, no dependency checks.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub timestamp: String,
    pub version: String,
}

/// `GET /health/ready`: each dependency and whether it responded. A 503
/// also carries the error envelope's `error` and `code`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    /// `ok` when every component is up, else `unavailable`.
    pub status: String,
    pub components: Vec<ComponentStatus>,
    /// Names the failing components, when any failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<crate::ErrorCode>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ComponentStatus {
    /// `store` or `streams`.
    pub name: String,
    pub ok: bool,
    /// Reason the component is down, absent when it is up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
