//! Field checks shared by request validation and the CSV import.
//!
//! Each check appends a [`FieldError`] naming the JSON path, so a 422 response
//! can list every invalid field at once rather than the first one found.

use crate::error::FieldError;

/// Collects the invalid fields of one request.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }

    /// Checks that `value` is at most `max` characters long (Unicode scalar
    /// values, as JSON Schema's `maxLength` counts them).
    pub fn max_chars(&mut self, path: &str, value: Option<&str>, max: usize) {
        if let Some(value) = value {
            if value.chars().count() > max {
                self.push(path, format!("must be at most {max} characters"));
            }
        }
    }

    /// Checks that a present string is not empty after trimming.
    pub fn not_blank(&mut self, path: &str, value: Option<&str>) {
        if let Some(value) = value {
            if value.trim().is_empty() {
                self.push(path, "must not be empty");
            }
        }
    }

    /// Checks that `value`, when present, is a plausible email address.
    pub fn email(&mut self, path: &str, value: Option<&str>) {
        if let Some(value) = value {
            if !is_valid_email(value) {
                self.push(path, "must be a valid email address");
            }
        }
    }

    /// Checks the length of every item of a list and the item count.
    pub fn each_max_chars(&mut self, path: &str, items: Option<&[String]>, max: usize) {
        for (index, item) in items.unwrap_or_default().iter().enumerate() {
            self.max_chars(&format!("{path}[{index}]"), Some(item), max);
        }
    }

    pub fn max_items<T>(&mut self, path: &str, items: Option<&[T]>, max: usize) {
        if let Some(items) = items {
            if items.len() > max {
                self.push(path, format!("must contain at most {max} items"));
            }
        }
    }

    /// Parses an optional enum value with `parse`, recording an unknown
    /// value as a violation at `path`.
    pub fn enum_value<T>(
        &mut self,
        path: &str,
        raw: Option<&str>,
        parse: fn(&str) -> Option<T>,
    ) -> Option<T> {
        let raw = raw?;
        let parsed = parse(raw);
        if parsed.is_none() {
            self.push(path, format!("unknown value {raw:?}"));
        }
        parsed
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// Returns `Ok(())` when no field was invalid, else every violation.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// Reports whether `value` is an email address in the shape JSON Schema's
/// `format: email` accepts for ordinary addresses: one `@`, a local part of
/// 1 to 64 printable characters without spaces, and a domain of dot-separated
/// labels made of letters, digits and hyphens, with at least one dot.
/// Quoted local parts and IP-literal domains are rejected on purpose: SES
/// cannot send to most of them and they show up in imports only as typos.
pub fn is_valid_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };

    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"@<>()[]\\,;:\"".contains(c));

    let domain_ok = domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });

    local_ok && domain_ok
}

/// Normalises an email or phone for duplicate detection: trimmed and
/// lower-cased. The stored value keeps the caller's spelling.
pub fn normalize_identity(value: &str) -> String {
    value.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_accepts_ordinary_addresses() {
        for ok in [
            "a@b.co",
            "first.last+tag@example.com",
            "zoë@exämple.de",
            "x_y@sub.domain.org",
        ] {
            assert!(is_valid_email(ok), "{ok} should be valid");
        }
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@example.com",
            "a@exa mple.com",
            "a..b@example.com",
            "a@-example.com",
            "a@example..com",
            ".a@example.com",
        ] {
            assert!(!is_valid_email(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn violations_name_each_item() {
        let mut v = Violations::new();
        let items = vec!["ok".to_string(), "x".repeat(5)];
        v.each_max_chars("topicSlugs", Some(&items), 3);
        let errors = v.into_vec();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "topicSlugs[1]");
    }
}
