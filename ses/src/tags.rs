//! SES message tags.
//!
//! SES returns a message's tags on every event it publishes for it (send,
//! delivery, bounce, open, ...), which is how events are matched back to a
//! batch and a recipient. The SES v2 API reference (`MessageTag`) allows only
//! ASCII letters, digits, `_` and `-` in tag names and values, at most 256
//! characters each; SES rejects the whole request otherwise.

/// Maximum length of a tag name or value, in characters.
pub const MAX_TAG_LEN: usize = 256;

/// Value of the `source` tag on broadcast sends.
pub const SOURCE_BROADCAST: &str = "broadcast";

/// Value of the `source` tag on workflow sends.
pub const SOURCE_AUTOMATION: &str = "automation";

/// Makes `value` a valid tag name or value: every character outside
/// `[A-Za-z0-9_-]` becomes `_`, the result is cut to [`MAX_TAG_LEN`]
/// characters, and an empty value becomes `_` (SES requires one character).
pub fn sanitize_tag_value(value: &str) -> String {
    let sanitized: String = value
        .chars()
        .take(MAX_TAG_LEN)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if sanitized.is_empty() {
        "_".to_owned()
    } else {
        sanitized
    }
}

/// Returns the tags of one broadcast message: `batchId`, `organizationId`,
/// `recipientId`, `templateId` (when the batch has a template) and
/// `source=broadcast`. Values are sanitised.
pub fn message_tags(
    batch_id: &str,
    organization_id: &str,
    recipient_id: &str,
    template_id: Option<&str>,
) -> Vec<(String, String)> {
    let mut tags = vec![
        tag("batchId", batch_id),
        tag("organizationId", organization_id),
        tag("recipientId", recipient_id),
    ];
    if let Some(template_id) = template_id {
        tags.push(tag("templateId", template_id));
    }
    tags.push(tag("source", SOURCE_BROADCAST));
    tags
}

fn tag(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), sanitize_tag_value(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_allowed_characters() {
        let value = "Ab09_-0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(sanitize_tag_value(value), value);
    }

    #[test]
    fn sanitize_replaces_others() {
        assert_eq!(sanitize_tag_value("a.b@c d/é"), "a_b_c_d__");
    }

    #[test]
    fn sanitize_truncates_and_fills_empty() {
        assert_eq!(sanitize_tag_value(&"x".repeat(300)).len(), MAX_TAG_LEN);
        assert_eq!(sanitize_tag_value(""), "_");
    }

    #[test]
    fn broadcast_tags_in_order() {
        let tags = message_tags("batch-1", "org.1", "rcpt-1", Some("tpl-1"));
        let expected = [
            ("batchId", "batch-1"),
            ("organizationId", "org_1"),
            ("recipientId", "rcpt-1"),
            ("templateId", "tpl-1"),
            ("source", "broadcast"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(tags, expected);
    }

    #[test]
    fn broadcast_tags_without_template() {
        let tags = message_tags("b", "o", "r", None);
        assert!(tags.iter().all(|(name, _)| name != "templateId"));
        assert_eq!(tags.len(), 4);
    }
}
