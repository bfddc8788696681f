//! Id newtypes.
//!
//! Ids are random UUID v4 values, written as lower-case hyphenated text on the
//! wire and in the store. One type per resource keeps a contact id from being
//! passed where a topic id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Creates a new random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Uuid,
                    )))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// Id of an organisation (the tenant).
    OrgId
);
id_type!(
    /// Id of an API key record (never the key itself).
    ApiKeyId
);
id_type!(
    /// Id of a contact.
    ContactId
);
id_type!(
    /// Id of a topic.
    TopicId
);
id_type!(
    /// Id of an AWS account connection.
    ConnectionId
);

/// Reports whether `s` has the shape of a UUID (any version), as used to tell
/// a contact id from an email or an external id in paths.
pub fn looks_like_uuid(s: &str) -> bool {
    s.len() == 36 && Uuid::parse_str(s).is_ok()
}
id_type!(
    /// Id of a batch (broadcast).
    BatchId
);
id_type!(
    /// Id of a stored template.
    TemplateId
);
