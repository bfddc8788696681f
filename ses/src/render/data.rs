//! Per-recipient template data.

use std::collections::BTreeSet;

use schemas::batches::{VariableMapping, VariableSource};
use serde_json::{Map, Value};

/// Every key [`recipient_data`] may set besides custom properties. The
/// default template data of a bulk send sets each of them to `""`.
pub const BUILT_IN_VARIABLES: &[&str] = &[
    "email",
    "contactEmail",
    "firstName",
    "lastName",
    "company",
    "jobTitle",
    "contactFirstName",
    "contactLastName",
    "contactCompany",
    "contactJobTitle",
    "organizationName",
    "unsubscribeUrl",
    "preferencesUrl",
];

/// Keys that variable mappings may not overwrite, so that every marketing
/// message keeps a working unsubscribe link.
pub const RESERVED_VARIABLES: &[&str] = &["unsubscribeUrl", "preferencesUrl"];

/// Prefix of the flattened copy of each custom property.
const PROPERTIES_PREFIX: &str = "contactProperties";

/// The contact fields a template can use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecipientFields {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    /// Custom properties of the contact.
    pub properties: Map<String, Value>,
}

/// Builds one recipient's template data.
///
/// Only non-empty values are set, so that `{{#if}}` fallbacks behave the same
/// in SES and locally:
///
/// * `email` and `contactEmail`;
/// * `firstName`, `lastName`, `company`, `jobTitle` and their `contact*`
///   copies (`contactFirstName`, ...);
/// * `organizationName`, `unsubscribeUrl`, `preferencesUrl`;
/// * every custom property under its own key and flattened as
///   `contactProperties<Key>` (`plan` becomes `contactPropertiesPlan`). A
///   property whose key is one of the names above is only set flattened, so
///   it cannot replace the contact's email or unsubscribe link.
///
/// Variable mappings are applied last. A mapping whose source is empty
/// removes the variable, so its fallback shows; mappings onto
/// [`RESERVED_VARIABLES`] are ignored.
pub fn recipient_data(
    fields: &RecipientFields,
    organization_name: &str,
    unsubscribe_url: Option<&str>,
    preferences_url: Option<&str>,
    mappings: &[VariableMapping],
) -> Map<String, Value> {
    let mut data = Map::new();

    for (key, value) in &fields.properties {
        if key.is_empty() || !is_present(value) {
            continue;
        }
        data.insert(flattened_property_key(key), value.clone());
        if !BUILT_IN_VARIABLES.contains(&key.as_str()) {
            data.insert(key.clone(), value.clone());
        }
    }

    let contact_fields = [
        ("firstName", "contactFirstName", &fields.first_name),
        ("lastName", "contactLastName", &fields.last_name),
        ("company", "contactCompany", &fields.company),
        ("jobTitle", "contactJobTitle", &fields.job_title),
    ];
    set_text(&mut data, "email", Some(&fields.email));
    set_text(&mut data, "contactEmail", Some(&fields.email));
    for (key, prefixed, value) in contact_fields {
        set_text(&mut data, key, value.as_deref());
        set_text(&mut data, prefixed, value.as_deref());
    }
    set_text(&mut data, "organizationName", Some(organization_name));
    set_text(&mut data, "unsubscribeUrl", unsubscribe_url);
    set_text(&mut data, "preferencesUrl", preferences_url);

    for mapping in mappings {
        apply_mapping(&mut data, fields, mapping);
    }
    data
}

fn apply_mapping(
    data: &mut Map<String, Value>,
    fields: &RecipientFields,
    mapping: &VariableMapping,
) {
    let name = mapping.variable_name.as_str();
    if name.is_empty() || RESERVED_VARIABLES.contains(&name) {
        return;
    }

    let value = match &mapping.source {
        VariableSource::Static { value } => Some(Value::String(value.clone())),
        VariableSource::Contact { field } => contact_field(fields, field),
    };
    match value.filter(is_present) {
        Some(value) => {
            data.insert(name.to_owned(), value);
        }
        None => {
            data.remove(name);
        }
    }
}

/// Looks up `firstName`, `lastName`, `company`, `jobTitle`, `email` or
/// `properties.<key>`, with an optional `contact.` prefix.
fn contact_field(fields: &RecipientFields, field: &str) -> Option<Value> {
    let field = field.strip_prefix("contact.").unwrap_or(field);
    if let Some(key) = field.strip_prefix("properties.") {
        return fields.properties.get(key).cloned();
    }
    let text = match field {
        "email" => Some(&fields.email),
        "firstName" => fields.first_name.as_ref(),
        "lastName" => fields.last_name.as_ref(),
        "company" => fields.company.as_ref(),
        "jobTitle" => fields.job_title.as_ref(),
        _ => None,
    };
    text.map(|text| Value::String(text.clone()))
}

fn set_text(data: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
        data.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

/// Reports whether a value counts as set: not null, not blank text, not an
/// empty list or object. Numbers and booleans always count.
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(text) => !text.trim().is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn flattened_property_key(key: &str) -> String {
    let mut chars = key.chars();
    let mut flattened = String::with_capacity(PROPERTIES_PREFIX.len() + key.len());
    flattened.push_str(PROPERTIES_PREFIX);
    if let Some(first) = chars.next() {
        flattened.extend(first.to_uppercase());
        flattened.push_str(chars.as_str());
    }
    flattened
}

/// Adds `""` for every referenced variable missing from `data`, so that it
/// renders empty instead of failing. A dotted name (`a.b`) is padded as a
/// nested object, unless a value that is not an object is already in the way.
pub fn pad(data: &mut Map<String, Value>, referenced: &BTreeSet<String>) {
    for name in referenced {
        pad_path(data, name);
    }
}

fn pad_path(data: &mut Map<String, Value>, name: &str) {
    match name.split_once('.') {
        None => {
            data.entry(name.to_owned())
                .or_insert_with(|| Value::String(String::new()));
        }
        Some((head, rest)) => {
            let entry = data
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = entry {
                pad_path(inner, rest);
            }
        }
    }
}

/// Returns the default template data of a bulk send: every built-in
/// variable and every referenced variable set to `""`. SES uses it for any
/// variable an entry's own data lacks.
pub fn default_template_data(referenced: &BTreeSet<String>) -> Map<String, Value> {
    let mut data: Map<String, Value> = BUILT_IN_VARIABLES
        .iter()
        .map(|key| (key.to_string(), Value::String(String::new())))
        .collect();
    pad(&mut data, referenced);
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields() -> RecipientFields {
        RecipientFields {
            email: "ada@example.com".to_owned(),
            first_name: Some("Ada".to_owned()),
            last_name: Some(String::new()),
            company: None,
            job_title: Some("Engineer".to_owned()),
            properties: json!({
                "plan": "pro",
                "seats": 5,
                "beta": false,
                "empty": "",
                "none": null,
                "email": "other@example.com",
            })
            .as_object()
            .unwrap()
            .clone(),
        }
    }

    fn keys(data: &Map<String, Value>) -> BTreeSet<&str> {
        data.keys().map(String::as_str).collect()
    }

    #[test]
    fn data_has_exactly_the_non_empty_keys() {
        let data = recipient_data(&fields(), "Acme", Some("https://u"), None, &[]);
        let expected: BTreeSet<&str> = [
            "email",
            "contactEmail",
            "firstName",
            "contactFirstName",
            "jobTitle",
            "contactJobTitle",
            "organizationName",
            "unsubscribeUrl",
            "plan",
            "contactPropertiesPlan",
            "seats",
            "contactPropertiesSeats",
            "beta",
            "contactPropertiesBeta",
            "contactPropertiesEmail",
        ]
        .into_iter()
        .collect();
        assert_eq!(keys(&data), expected);
    }

    #[test]
    fn property_cannot_replace_contact_email() {
        let data = recipient_data(&fields(), "Acme", None, None, &[]);
        assert_eq!(data["email"], json!("ada@example.com"));
        assert_eq!(data["contactPropertiesEmail"], json!("other@example.com"));
    }

    #[test]
    fn non_text_properties_keep_their_type() {
        let data = recipient_data(&fields(), "", None, None, &[]);
        assert_eq!(data["seats"], json!(5));
        assert!(!data.contains_key("organizationName"));
    }

    #[test]
    fn mappings_apply_last() {
        let mappings = vec![
            VariableMapping {
                variable_name: "firstName".to_owned(),
                source: VariableSource::Contact {
                    field: "properties.plan".to_owned(),
                },
            },
            VariableMapping {
                variable_name: "promo".to_owned(),
                source: VariableSource::Static {
                    value: "SPRING".to_owned(),
                },
            },
            VariableMapping {
                variable_name: "title".to_owned(),
                source: VariableSource::Contact {
                    field: "contact.jobTitle".to_owned(),
                },
            },
        ];
        let data = recipient_data(&fields(), "Acme", None, None, &mappings);
        assert_eq!(data["firstName"], json!("pro"));
        assert_eq!(data["contactFirstName"], json!("Ada"));
        assert_eq!(data["promo"], json!("SPRING"));
        assert_eq!(data["title"], json!("Engineer"));
    }

    #[test]
    fn empty_mapping_removes_variable() {
        let mappings = vec![VariableMapping {
            variable_name: "firstName".to_owned(),
            source: VariableSource::Contact {
                field: "company".to_owned(),
            },
        }];
        let data = recipient_data(&fields(), "Acme", None, None, &mappings);
        assert!(!data.contains_key("firstName"));
    }

    #[test]
    fn mappings_cannot_replace_unsubscribe_url() {
        let mappings = vec![VariableMapping {
            variable_name: "unsubscribeUrl".to_owned(),
            source: VariableSource::Static {
                value: "https://evil.test".to_owned(),
            },
        }];
        let data = recipient_data(&fields(), "Acme", Some("https://u"), None, &mappings);
        assert_eq!(data["unsubscribeUrl"], json!("https://u"));
    }

    #[test]
    fn pad_adds_only_missing() {
        let mut data = recipient_data(&fields(), "Acme", None, None, &[]);
        let referenced: BTreeSet<String> = ["firstName", "company", "deal.amount"]
            .into_iter()
            .map(String::from)
            .collect();
        pad(&mut data, &referenced);
        assert_eq!(data["firstName"], json!("Ada"));
        assert_eq!(data["company"], json!(""));
        assert_eq!(data["deal"], json!({"amount": ""}));
    }

    #[test]
    fn default_data_has_built_ins_and_referenced() {
        let referenced: BTreeSet<String> = ["promo".to_owned()].into_iter().collect();
        let data = default_template_data(&referenced);
        assert_eq!(data.len(), BUILT_IN_VARIABLES.len() + 1);
        assert!(data.values().all(|v| v == &json!("")));
    }
}
