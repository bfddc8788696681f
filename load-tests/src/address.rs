//! Email address checks shared by the simulator and the quickstart contact file.

/// Returns the bare address of `Name <user@example.com>` or `user@example.com`, trimmed.
pub fn bare_address(mailbox: &str) -> &str {
    let mailbox = mailbox.trim();
    match (mailbox.rfind('<'), mailbox.ends_with('>')) {
        (Some(start), true) => mailbox[start + 1..mailbox.len() - 1].trim(),
        _ => mailbox,
    }
}

/// Checks the shape of a bare address: one `@`, a non-empty local part of at most 64
/// bytes, a dotted domain without empty labels, and no whitespace or control characters.
///
/// This is deliberately narrower than RFC 5321 (no quoted local parts, no address
/// literals): it is the shape SES accepts from typical senders, and the quickstart
/// file's invalid rows each break one of these rules.
pub fn is_valid_address(address: &str) -> bool {
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }

    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }

    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2 && labels.iter().all(|label| is_valid_label(label))
}

fn is_valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_alphanumeric() || c == '-')
}

/// Splits an address-list header value (`To:`, `Cc:`) at commas outside quotes and angle
/// brackets.
pub(crate) fn split_address_list(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut in_quotes, mut in_angle, mut start) = (false, false, 0);
    for (index, c) in value.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            ',' if !in_quotes && !in_angle => {
                parts.push(value[start..index].trim());
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.retain(|part| !part.is_empty());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_address_strips_display_name() {
        assert_eq!(bare_address("Zoë <zoe@example.com>"), "zoe@example.com");
        assert_eq!(bare_address("  zoe@example.com "), "zoe@example.com");
    }

    #[test]
    fn valid_address_shapes() {
        for address in [
            "a@example.com",
            "first.last+tag@mail.example.org",
            "x@a-b.example.net",
        ] {
            assert!(is_valid_address(address), "{address} should be valid");
        }
    }

    #[test]
    fn invalid_address_shapes() {
        let cases = [
            "no-at.example.com",
            "two@@example.com",
            "a@b@example.com",
            "with space@example.com",
            "trailing@example.com.",
            "@example.com",
            "local@",
            "local@localhost",
            ".dot@example.com",
            "a..b@example.com",
            "a@-bad.example.com",
            "",
        ];
        for address in cases {
            assert!(!is_valid_address(address), "{address:?} should be invalid");
        }
    }

    #[test]
    fn split_address_list_respects_quotes() {
        let parts = split_address_list(r#""Doe, Jane" <jane@example.com>, bob@example.org"#);
        assert_eq!(
            parts,
            vec![r#""Doe, Jane" <jane@example.com>"#, "bob@example.org"]
        );
    }
}
