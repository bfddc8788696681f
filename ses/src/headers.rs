//! Header values wrapsd puts on messages: the subject, the sender's display
//! form and the RFC 8058 one-click unsubscribe headers.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Value of `List-Unsubscribe-Post` required by RFC 8058.
pub const LIST_UNSUBSCRIBE_ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// Bytes of UTF-8 text per RFC 2047 encoded word: 45 bytes are 60 base64
/// characters, which with `=?UTF-8?B?` and `?=` stays under the 75-character
/// limit of an encoded word.
const ENCODED_WORD_BYTES: usize = 45;

/// Maximum length of a subject, in characters: the RFC 5322 line limit.
pub const MAX_SUBJECT_CHARS: usize = 998;

/// Cleans a rendered subject: line breaks are removed, runs of whitespace
/// become one space, and the result is cut to [`MAX_SUBJECT_CHARS`]. HTML
/// entities are left as written.
pub fn sanitize_subject(subject: &str) -> String {
    let collapsed = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(MAX_SUBJECT_CHARS).collect()
}

/// Returns the RFC 8058 headers of a marketing message:
/// `List-Unsubscribe: <url>` and
/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
pub fn list_unsubscribe_headers(unsubscribe_url: &str) -> Vec<(String, String)> {
    vec![
        (
            "List-Unsubscribe".to_owned(),
            format!("<{}>", strip_line_breaks(unsubscribe_url)),
        ),
        (
            "List-Unsubscribe-Post".to_owned(),
            LIST_UNSUBSCRIBE_ONE_CLICK.to_owned(),
        ),
    ]
}

/// Formats a sender as `Name <address>`, or the bare address without a
/// name.
///
/// SES requires a display name with non-ASCII characters to be an RFC 2047
/// encoded word, so such a name is sent as `=?UTF-8?B?...?=`. An ASCII name
/// with characters that RFC 5322 reserves (`,`, `"`, `@`, ...) is quoted.
/// Line breaks are removed so a name cannot add headers.
pub fn sender_display(name: Option<&str>, address: &str) -> String {
    let name = name.map(strip_line_breaks);
    let name = name.as_deref().map(str::trim).unwrap_or("");
    if name.is_empty() {
        return address.to_owned();
    }

    let display = if !name.is_ascii() {
        encoded_words(name)
    } else if name.chars().all(is_phrase_char) {
        name.to_owned()
    } else {
        quoted_string(name)
    };
    format!("{display} <{address}>")
}

/// Letters, digits, space and the RFC 5322 `atext` symbols.
fn is_phrase_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ' ' || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

fn quoted_string(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// Encodes `name` as RFC 2047 `B` encoded words, split on character
/// boundaries so each word decodes to valid UTF-8.
fn encoded_words(name: &str) -> String {
    let mut words = Vec::new();
    let mut start = 0;
    while start < name.len() {
        let mut end = (start + ENCODED_WORD_BYTES).min(name.len());
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!(
            "=?UTF-8?B?{}?=",
            STANDARD.encode(&name[start..end])
        ));
        start = end;
    }
    words.join(" ")
}

fn strip_line_breaks(value: &str) -> String {
    value.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsubscribe_headers_follow_rfc_8058() {
        let headers = list_unsubscribe_headers("https://api.example.com/unsubscribe/tok");
        assert_eq!(
            headers,
            vec![
                (
                    "List-Unsubscribe".to_owned(),
                    "<https://api.example.com/unsubscribe/tok>".to_owned()
                ),
                (
                    "List-Unsubscribe-Post".to_owned(),
                    "List-Unsubscribe=One-Click".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn subject_is_one_clean_line() {
        assert_eq!(
            sanitize_subject("  Spring\r\n sale\t&amp; more "),
            "Spring sale &amp; more"
        );
        assert_eq!(
            sanitize_subject(&"é".repeat(1200)).chars().count(),
            MAX_SUBJECT_CHARS
        );
    }

    #[test]
    fn sender_plain_name() {
        assert_eq!(
            sender_display(Some("Acme News"), "news@acme.test"),
            "Acme News <news@acme.test>"
        );
    }

    #[test]
    fn sender_without_name_is_address() {
        assert_eq!(sender_display(None, "a@b.test"), "a@b.test");
        assert_eq!(sender_display(Some("  "), "a@b.test"), "a@b.test");
    }

    #[test]
    fn sender_special_characters_are_quoted() {
        assert_eq!(
            sender_display(Some(r#"Acme, Inc. "HQ""#), "a@b.test"),
            r#""Acme, Inc. \"HQ\"" <a@b.test>"#
        );
    }

    #[test]
    fn sender_non_ascii_is_encoded_word() {
        // "Zoë" in UTF-8 is 5a 6f c3 ab, which is "Wm/Dqw==" in base64.
        assert_eq!(
            sender_display(Some("Zoë"), "z@b.test"),
            "=?UTF-8?B?Wm/Dqw==?= <z@b.test>"
        );
    }

    #[test]
    fn long_non_ascii_name_splits_on_characters() {
        let name = "é".repeat(40);
        let display = sender_display(Some(&name), "a@b.test");
        let words: Vec<&str> = display.trim_end_matches(" <a@b.test>").split(' ').collect();

        assert_eq!(words.len(), 2);
        let mut decoded = Vec::new();
        for word in &words {
            assert!(word.len() <= 75, "{word}");
            let payload = word.trim_start_matches("=?UTF-8?B?").trim_end_matches("?=");
            let bytes = STANDARD.decode(payload).unwrap();
            assert!(String::from_utf8(bytes.clone()).is_ok(), "{word}");
            decoded.extend(bytes);
        }
        assert_eq!(String::from_utf8(decoded).unwrap(), name);
    }

    #[test]
    fn sender_line_breaks_are_removed() {
        assert_eq!(
            sender_display(Some("Evil\r\nBcc: x@y.test"), "a@b.test"),
            "\"EvilBcc: x@y.test\" <a@b.test>"
        );
    }
}
