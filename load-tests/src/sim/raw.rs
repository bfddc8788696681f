//! The few MIME headers the simulator reads from a raw message.

use crate::address::split_address_list;

/// Headers of a raw message that matter to SES when the request leaves them out.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct RawHeaders {
    pub(crate) from: Option<String>,
    pub(crate) subject: Option<String>,
    /// Mailboxes from `To`, `Cc` and `Bcc`, in that order.
    pub(crate) recipients: Vec<String>,
}

/// Reads the header section (up to the first empty line), unfolding continuation lines.
/// Encoded words (RFC 2047) are left as they are.
pub(crate) fn parse_headers(message: &[u8]) -> RawHeaders {
    let text = String::from_utf8_lossy(message);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split('\n').map(|line| line.trim_end_matches('\r')) {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }

    let mut headers = RawHeaders::default();
    for wanted in ["to", "cc", "bcc"] {
        for (_, value) in fields.iter().filter(|(name, _)| name == wanted) {
            let mailboxes = split_address_list(value);
            headers
                .recipients
                .extend(mailboxes.into_iter().map(str::to_owned));
        }
    }
    let first = |wanted: &str| {
        fields
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.clone())
    };
    headers.from = first("from");
    headers.subject = first("subject");
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_headers_reads_recipients_subject_and_from() {
        let message = b"From: Sender <s@example.com>\r\nTo: a@example.com, \"B, Bee\" <b@example.org>\r\nCc: c@example.net\r\nSubject: Hello\r\n  world\r\n\r\nTo: body@example.com\r\n";
        let headers = parse_headers(message);
        assert_eq!(headers.from.as_deref(), Some("Sender <s@example.com>"));
        assert_eq!(headers.subject.as_deref(), Some("Hello world"));
        assert_eq!(
            headers.recipients,
            [
                "a@example.com",
                "\"B, Bee\" <b@example.org>",
                "c@example.net"
            ]
        );
    }
}
