//! Template rendering that matches what SES does with stored templates.
//!
//! SES renders stored templates with Handlebars and does not escape HTML in
//! the values it substitutes (SES Developer Guide, "Advanced email
//! personalization"). wrapsd renders locally for raw-HTML sends and for the
//! subject it stores for logs, with the `handlebars` crate configured the
//! same way:
//!
//! * HTML escaping is off, so `{{name}}` with `Tom & Jerry` renders
//!   `Tom & Jerry` as SES would.
//! * Strict mode is on: a variable missing from the data is a render error,
//!   which fails that recipient, so raw `{{...}}` is never delivered. SES
//!   fails a message with a missing variable too, but only later, as a
//!   Rendering Failure event. [`pad`] adds `""` for every variable the
//!   template references, so a missing value renders empty on both sides.
//!
//! A send goes through these steps: [`translate_authoring`] once per
//! template, [`referenced_variables`] once per template, then
//! [`recipient_data`] and [`pad`] per recipient, and [`Template::render`]
//! when rendering locally.

mod authoring;
mod data;
mod text;

use handlebars::Handlebars;
use serde_json::{Map, Value};

pub use authoring::{referenced_variables, translate_authoring};
pub use data::{
    default_template_data, pad, recipient_data, RecipientFields, BUILT_IN_VARIABLES,
    RESERVED_VARIABLES,
};
pub use text::html_to_text;

/// HTML body of a send whose template and batch have no content.
pub const DEFAULT_HTML: &str = "<p>Hello from Wraps!</p>";

/// Subject of a send whose template and batch have no subject.
pub const DEFAULT_SUBJECT: &str = "Message from Wraps";

/// Name under which a compiled template is registered.
const TEMPLATE_NAME: &str = "template";

/// Failure to parse or render a template.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template is not valid Handlebars: {0}")]
    Parse(#[source] Box<handlebars::TemplateError>),
    #[error("template rendering failed: {0}")]
    Render(#[source] Box<handlebars::RenderError>),
}

impl From<handlebars::TemplateError> for RenderError {
    fn from(err: handlebars::TemplateError) -> Self {
        Self::Parse(Box::new(err))
    }
}

impl From<handlebars::RenderError> for RenderError {
    fn from(err: handlebars::RenderError) -> Self {
        Self::Render(Box::new(err))
    }
}

/// Returns a Handlebars registry configured like SES: strict, no escaping.
pub fn ses_registry() -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    registry
}

/// A template parsed once and rendered for many recipients.
#[derive(Clone, Debug)]
pub struct Template {
    registry: Handlebars<'static>,
}

impl Template {
    /// Parses `source`, which must already be in SES form (see
    /// [`translate_authoring`]).
    pub fn compile(source: &str) -> Result<Self, RenderError> {
        let mut registry = ses_registry();
        registry.register_template_string(TEMPLATE_NAME, source)?;
        Ok(Self { registry })
    }

    /// Renders the template with one recipient's data.
    pub fn render(&self, data: &Map<String, Value>) -> Result<String, RenderError> {
        Ok(self.registry.render(TEMPLATE_NAME, data)?)
    }
}

/// Parses and renders `source` once; prefer [`Template`] for many
/// recipients.
pub fn render(source: &str, data: &Map<String, Value>) -> Result<String, RenderError> {
    Template::compile(source)?.render(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn html_is_not_escaped() {
        let out = render(
            "<p>{{name}}</p>",
            &data(json!({"name": "Tom & <b>Jerry</b>"})),
        );
        assert_eq!(out.unwrap(), "<p>Tom & <b>Jerry</b></p>");
    }

    #[test]
    fn missing_variable_is_an_error() {
        let err = render("Hi {{firstName}}", &Map::new()).unwrap_err();
        assert!(matches!(err, RenderError::Render(_)), "{err}");
    }

    #[test]
    fn padded_variable_renders_empty() {
        let source = "Hi {{firstName}}!";
        let mut values = Map::new();
        pad(&mut values, &referenced_variables(source).unwrap());
        assert_eq!(render(source, &values).unwrap(), "Hi !");
    }

    #[test]
    fn invalid_template_is_a_parse_error() {
        let err = Template::compile("{{#if x}}open").unwrap_err();
        assert!(matches!(err, RenderError::Parse(_)), "{err}");
    }

    #[test]
    fn compiled_template_renders_many_times() {
        let template = Template::compile("{{a}}").unwrap();
        assert_eq!(template.render(&data(json!({"a": "1"}))).unwrap(), "1");
        assert_eq!(template.render(&data(json!({"a": "2"}))).unwrap(), "2");
    }
}
