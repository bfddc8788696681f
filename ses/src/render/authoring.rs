//! The authoring syntax of Wraps templates and the variables a template uses.
//!
//! Authors write dotted paths and inline fallbacks; SES templates get flat
//! camelCase names, because the per-recipient data is a flat object:
//!
//! * `{{contact.firstName}}` becomes `{{contactFirstName}}`;
//! * `{{contact.properties.plan}}` becomes `{{contactPropertiesPlan}}`;
//! * `{{firstName|there}}` becomes
//!   `{{#if firstName}}{{firstName}}{{else}}there{{/if}}`;
//! * the parameter of `{{#if ...}}` and `{{#unless ...}}` is flattened too.
//!
//! Everything else (other helpers, comments, partials, literal text) is
//! copied unchanged.

use std::collections::BTreeSet;

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{Path, PathSeg};

use super::RenderError;

/// Helpers of the `handlebars` crate and of Handlebars.js; a bare `{{name}}`
/// with one of these names is a helper call, not a variable.
const BUILT_IN_HELPERS: &[&str] = &[
    "if", "unless", "each", "with", "lookup", "log", "raw", "eq", "ne", "gt", "gte", "lt", "lte",
    "and", "or", "not", "len",
];

/// Rewrites the authoring syntax of `source` into the form SES stores.
pub fn translate_authoring(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;

    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];

        // A triple stash `{{{x}}}` and a double `{{x}}` differ only in their
        // delimiters; SES escapes neither.
        let (open, close) = if tail.starts_with("{{{") {
            ("{{{", "}}}")
        } else {
            ("{{", "}}")
        };
        let Some(end) = tail[open.len()..].find(close) else {
            // An unclosed expression is left for the parser to report.
            out.push_str(tail);
            return out;
        };
        let inner = &tail[open.len()..open.len() + end];
        out.push_str(&translate_expression(open, inner, close));
        rest = &tail[open.len() + end + close.len()..];
    }
    out.push_str(rest);
    out
}

fn translate_expression(open: &str, inner: &str, close: &str) -> String {
    let trimmed = inner.trim();

    for helper in ["#if ", "#unless "] {
        if let Some(param) = trimmed.strip_prefix(helper) {
            if let Some(name) = flat_name(param.trim()) {
                return format!("{open}{helper}{name}{close}");
            }
        }
    }

    let (path, fallback) = match trimmed.split_once('|') {
        Some((path, fallback)) => (path.trim(), Some(unquote(fallback.trim()))),
        None => (trimmed, None),
    };
    let Some(name) = flat_name(path) else {
        return format!("{open}{inner}{close}");
    };
    match fallback {
        Some(fallback) => {
            format!("{{{{#if {name}}}}}{open}{name}{close}{{{{else}}}}{fallback}{{{{/if}}}}")
        }
        None => format!("{open}{name}{close}"),
    }
}

/// Returns the flat camelCase name of a dotted variable path, or `None` when
/// `path` is not a plain path (a helper call, `this`, `@index`, `../x`).
fn flat_name(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| !is_identifier(s)) || segments[0] == "this" {
        return None;
    }
    if segments.len() == 1 && BUILT_IN_HELPERS.contains(&segments[0]) {
        return None;
    }

    let mut name = segments[0].to_owned();
    for segment in &segments[1..] {
        let mut chars = segment.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    Some(name)
}

fn is_identifier(segment: &str) -> bool {
    let mut chars = segment.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn unquote(text: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            return inner;
        }
    }
    text
}

/// Returns the variables `source` reads from the top-level data: plain
/// `{{x}}` expressions and the parameters of helpers (`{{#if x}}`), as dotted
/// paths.
///
/// NOTE: the bodies of `{{#each}}` and `{{#with}}` read from another context
/// and are not searched, so a variable used only inside them is not padded.
pub fn referenced_variables(source: &str) -> Result<BTreeSet<String>, RenderError> {
    let template = Template::compile(source)?;
    let mut names = BTreeSet::new();
    collect_template(&template, &mut names);
    Ok(names)
}

fn collect_template(template: &Template, names: &mut BTreeSet<String>) {
    for element in &template.elements {
        collect_element(element, names);
    }
}

fn collect_element(element: &TemplateElement, names: &mut BTreeSet<String>) {
    match element {
        TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
            collect_expression(helper, names)
        }
        TemplateElement::HelperBlock(helper) => collect_block(helper, names),
        _ => {}
    }
}

fn collect_expression(helper: &HelperTemplate, names: &mut BTreeSet<String>) {
    let is_call = !helper.params.is_empty() || !helper.hash.is_empty();
    if !is_call {
        // `{{name}}` parses as a name that is either a helper or a variable.
        match &helper.name {
            Parameter::Name(name) if !BUILT_IN_HELPERS.contains(&name.as_str()) => {
                names.insert(name.clone());
            }
            parameter => collect_parameter(parameter, names),
        }
        return;
    }
    collect_parameters(helper, names);
}

fn collect_block(helper: &HelperTemplate, names: &mut BTreeSet<String>) {
    collect_parameters(helper, names);

    let changes_context = matches!(
        &helper.name,
        Parameter::Name(name) if name == "each" || name == "with"
    );
    if !changes_context {
        if let Some(body) = &helper.template {
            collect_template(body, names);
        }
    }
    // The `{{else}}` branch of `each` and `with` runs in the outer context.
    if let Some(inverse) = &helper.inverse {
        collect_template(inverse, names);
    }
}

fn collect_parameters(helper: &HelperTemplate, names: &mut BTreeSet<String>) {
    for parameter in helper.params.iter().chain(helper.hash.values()) {
        collect_parameter(parameter, names);
    }
}

fn collect_parameter(parameter: &Parameter, names: &mut BTreeSet<String>) {
    match parameter {
        Parameter::Path(path) => {
            if let Some(name) = top_level_path(path) {
                names.insert(name);
            }
        }
        Parameter::Subexpression(subexpression) => collect_element(&subexpression.element, names),
        // Helper names and literals read no data.
        _ => {}
    }
}

/// Returns `a.b.c` for a path read from the top-level data, and `None` for
/// `this`, `../x` and `@index` style paths.
fn top_level_path(path: &Path) -> Option<String> {
    let Path::Relative((segments, _raw)) = path else {
        return None;
    };
    let mut parts = Vec::with_capacity(segments.len());
    for segment in segments {
        match segment {
            PathSeg::Named(name) => parts.push(name.as_str()),
            // `this`, `..` and any segment kind added later.
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translate_table() {
        let cases = [
            ("Hi {{contact.firstName}}", "Hi {{contactFirstName}}"),
            ("{{ contact.firstName }}", "{{contactFirstName}}"),
            ("{{contact.properties.plan}}", "{{contactPropertiesPlan}}"),
            ("{{firstName}}", "{{firstName}}"),
            (
                "Hi {{firstName|there}}!",
                "Hi {{#if firstName}}{{firstName}}{{else}}there{{/if}}!",
            ),
            (
                "{{contact.firstName | \"friend\"}}",
                "{{#if contactFirstName}}{{contactFirstName}}{{else}}friend{{/if}}",
            ),
            (
                "{{{contact.bio|none}}}",
                "{{#if contactBio}}{{{contactBio}}}{{else}}none{{/if}}",
            ),
            (
                "{{#if contact.company}}at {{contact.company}}{{/if}}",
                "{{#if contactCompany}}at {{contactCompany}}{{/if}}",
            ),
            (
                "{{#unless contact.company}}x{{/unless}}",
                "{{#unless contactCompany}}x{{/unless}}",
            ),
            ("{{else}}", "{{else}}"),
            ("{{! a comment }}", "{{! a comment }}"),
            (
                "{{#each items}}{{this}}{{/each}}",
                "{{#each items}}{{this}}{{/each}}",
            ),
            ("{{lookup a \"b\"}}", "{{lookup a \"b\"}}"),
            ("{{@index}}", "{{@index}}"),
            ("no braces", "no braces"),
            ("unclosed {{name", "unclosed {{name"),
            (
                "Grüße {{contact.firstName|Freund}}",
                "Grüße {{#if contactFirstName}}{{contactFirstName}}{{else}}Freund{{/if}}",
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(translate_authoring(source), expected, "{source}");
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn referenced_simple_and_helper_params() {
        let source = "{{a}} {{{b}}} {{#if c}}{{d}}{{else}}{{e}}{{/if}} {{#unless f}}{{/unless}}";
        assert_eq!(
            referenced_variables(source).unwrap(),
            set(&["a", "b", "c", "d", "e", "f"])
        );
    }

    #[test]
    fn referenced_skips_each_body_and_locals() {
        let source = "{{#each items}}{{name}} {{@index}}{{else}}{{empty}}{{/each}} {{this}}";
        assert_eq!(
            referenced_variables(source).unwrap(),
            set(&["empty", "items"])
        );
    }

    #[test]
    fn referenced_keeps_dotted_paths() {
        assert_eq!(referenced_variables("{{a.b}}").unwrap(), set(&["a.b"]));
    }

    #[test]
    fn referenced_ignores_helper_names_and_literals() {
        let source = "{{#if (eq plan \"pro\")}}x{{/if}} {{lookup user \"name\"}}";
        assert_eq!(
            referenced_variables(source).unwrap(),
            set(&["plan", "user"])
        );
    }

    #[test]
    fn referenced_of_translated_fallback() {
        let source = translate_authoring("{{contact.firstName|there}}");
        assert_eq!(
            referenced_variables(&source).unwrap(),
            set(&["contactFirstName"])
        );
    }

    #[test]
    fn referenced_rejects_invalid_template() {
        assert!(referenced_variables("{{#if a}}").is_err());
    }
}
