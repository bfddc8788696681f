//! The OpenAPI document, generated from the route definitions, and the
//! Swagger UI that renders it from vendored assets (no internet needed).
//!
//! utoipa writes OpenAPI 3.1; clients of the hosted service expect 3.0.3, so
//! [`finish_document`] rewrites the few 3.1 constructs utoipa emits (`null`
//! in type arrays and in `oneOf`) into 3.0's `nullable`, and adds the shared
//! error responses to every operation.

use serde_json::{json, Map, Value};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Wraps Platform API", version = "1.0.0",
        description = "Self-hosted, wire-compatible implementation of the Wraps Platform API (wrapsd)."),
    modifiers(&BearerAuth),
    components(schemas(schemas::ApiError)),
    tags(
        (name = "health"), (name = "contacts"), (name = "topics"), (name = "connections"),
        (name = "batch"), (name = "templates"), (name = "webhooks"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some("API key (wraps_*)".into());
        components.add_security_scheme("bearerAuth", SecurityScheme::Http(scheme));
    }
}

/// Error responses every operation documents unless it has its own.
const SHARED_ERRORS: [(&str, &str); 7] = [
    ("400", "Bad request or malformed JSON"),
    ("401", "Missing, unknown, revoked or expired API key"),
    ("403", "Forbidden"),
    ("404", "Not found"),
    ("422", "Validation failed"),
    ("429", "Rate limited"),
    ("500", "Internal server error"),
];

/// Turns utoipa's document into the OpenAPI 3.0.3 document served at
/// `/swagger/json`, with `server_url` as the server.
pub fn finish_document(doc: utoipa::openapi::OpenApi, server_url: &str) -> Value {
    let mut value = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    downgrade_nullable(&mut value);

    value["openapi"] = json!("3.0.3");
    value["servers"] = json!([{ "url": server_url }]);
    if let Some(paths) = value.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut().filter_map(Value::as_object_mut) {
                add_shared_errors(operation);
            }
        }
    }
    value
}

fn add_shared_errors(operation: &mut Map<String, Value>) {
    let responses = operation
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(responses) = responses else {
        return;
    };
    for (status, description) in SHARED_ERRORS {
        responses
            .entry(status)
            .or_insert_with(|| error_response(status, description));
    }
}

fn error_response(status: &str, description: &str) -> Value {
    let mut response = json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ApiError" } } }
    });
    if status == "429" {
        let integer = json!({ "schema": { "type": "integer" } });
        response["headers"] = json!({
            "RateLimit-Limit": integer,
            "RateLimit-Remaining": integer,
            "RateLimit-Reset": integer,
            "RateLimit-Policy": { "schema": { "type": "string" } },
            "Retry-After": integer,
        });
    }
    response
}

/// Rewrites `"type": ["T", "null"]` to `"type": "T", "nullable": true`, and
/// `oneOf: [{"type": "null"}, X]` to `allOf: [X], nullable: true`.
fn downgrade_nullable(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get("type") {
                let non_null: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if non_null.len() < types.len() {
                    map.insert("nullable".into(), Value::Bool(true));
                }
                if let [single] = non_null.as_slice() {
                    map.insert("type".into(), single.clone());
                }
            }
            if let Some(Value::Array(variants)) = map.get("oneOf") {
                let non_null: Vec<Value> = variants
                    .iter()
                    .filter(|v| v.get("type") != Some(&json!("null")))
                    .cloned()
                    .collect();
                if non_null.len() < variants.len() {
                    map.remove("oneOf");
                    map.insert("nullable".into(), Value::Bool(true));
                    let key = if non_null.len() == 1 {
                        "allOf"
                    } else {
                        "oneOf"
                    };
                    map.insert(key.into(), Value::Array(non_null));
                }
            }
            map.values_mut().for_each(downgrade_nullable);
        }
        Value::Array(items) => items.iter_mut().for_each(downgrade_nullable),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_type_becomes_nullable() {
        let mut schema = json!({ "type": ["string", "null"] });
        downgrade_nullable(&mut schema);
        assert_eq!(schema, json!({ "type": "string", "nullable": true }));
    }

    #[test]
    fn null_one_of_becomes_nullable_all_of() {
        let mut schema =
            json!({ "oneOf": [{ "type": "null" }, { "$ref": "#/components/schemas/Channel" }] });
        downgrade_nullable(&mut schema);
        assert_eq!(
            schema,
            json!({ "allOf": [{ "$ref": "#/components/schemas/Channel" }], "nullable": true })
        );
    }
}
