//! Plain-text part generated from an HTML body.
//!
//! The result is meant for mail clients that show the text part and for spam
//! filters that compare both parts, not for faithful layout. Text is kept and
//! blocks become lines. List items get `- ` and links show their target.
//! The content of `head`, `style` and `script` is dropped.

/// Elements whose content is never text.
const HIDDEN_ELEMENTS: &[&str] = &["head", "style", "script", "title", "template", "noscript"];

/// Elements that start and end a paragraph (a blank line around them).
const PARAGRAPH_ELEMENTS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "blockquote",
    "ul",
    "ol",
    "hr",
    "pre",
];

/// Elements that start and end a line.
const LINE_ELEMENTS: &[&str] = &[
    "div",
    "tr",
    "section",
    "article",
    "header",
    "footer",
    "center",
    "address",
    "dl",
    "dt",
    "dd",
    "tbody",
    "thead",
    "tfoot",
    "main",
    "nav",
    "aside",
    "figure",
    "figcaption",
];

/// Converts an HTML body to plain text.
pub fn html_to_text(html: &str) -> String {
    let mut writer = TextWriter::default();
    let mut rest = html;

    while let Some(open) = rest.find('<') {
        writer.text(&rest[..open]);
        rest = &rest[open..];

        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(tag_end) = find_tag_end(rest) else {
            // A lone `<` is text.
            writer.text("<");
            rest = &rest[1..];
            continue;
        };
        let tag = Tag::parse(&rest[1..tag_end]);
        rest = &rest[tag_end + 1..];

        if !tag.closing && HIDDEN_ELEMENTS.contains(&tag.name.as_str()) {
            rest = skip_element(rest, &tag.name);
            continue;
        }
        writer.tag(&tag);
    }
    writer.text(rest);
    writer.finish()
}

/// Finds the `>` that closes the tag starting at `source[0]`, skipping quoted
/// attribute values. Returns `None` when `<` does not start a tag.
fn find_tag_end(source: &str) -> Option<usize> {
    let next = source[1..].chars().next()?;
    if !(next.is_ascii_alphabetic() || next == '/' || next == '!' || next == '?') {
        return None;
    }
    let mut quote = None;
    for (i, c) in source.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Returns the text after the closing tag of `name`, or nothing when the
/// element is never closed.
fn skip_element<'a>(source: &'a str, name: &str) -> &'a str {
    let closing = format!("</{name}");
    let lower = source.to_ascii_lowercase();
    match lower.find(&closing) {
        Some(start) => match source[start..].find('>') {
            Some(end) => &source[start + end + 1..],
            None => "",
        },
        None => "",
    }
}

struct Tag {
    name: String,
    closing: bool,
    href: Option<String>,
}

impl Tag {
    fn parse(inner: &str) -> Self {
        let closing = inner.starts_with('/');
        let inner = inner.trim_start_matches('/');
        let name: String = inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        let href = (name == "a" && !closing)
            .then(|| attribute(inner, "href"))
            .flatten();
        Self {
            name,
            closing,
            href,
        }
    }
}

/// Returns the value of attribute `name` in the inside of a start tag.
fn attribute(inner: &str, name: &str) -> Option<String> {
    let lower = inner.to_ascii_lowercase();
    let mut search = 0;
    while let Some(found) = lower[search..].find(name) {
        let start = search + found;
        search = start + name.len();
        let preceded_by_space = lower[..start].ends_with(|c: char| c.is_ascii_whitespace());
        let after = lower[search..].trim_start();
        if !preceded_by_space || !after.starts_with('=') {
            continue;
        }
        let value_start = inner.len() - after.len() + 1;
        let value = inner[value_start..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or("").to_owned(),
            _ => value
                .split(|c: char| c.is_ascii_whitespace() || c == '>')
                .next()
                .unwrap_or("")
                .to_owned(),
        });
    }
    None
}

/// Accumulates text, collapsing whitespace the way a browser does and
/// turning block boundaries into line breaks.
#[derive(Default)]
struct TextWriter {
    out: String,
    /// Line breaks owed before the next text (1 = new line, 2 = blank line).
    pending_breaks: usize,
    pending_space: bool,
    /// Target and text position of the link being written.
    link: Option<(String, usize)>,
    /// Depth of `<pre>` elements, inside which whitespace is kept.
    preformatted: usize,
}

impl TextWriter {
    fn text(&mut self, raw: &str) {
        let decoded = decode_entities(raw);
        if self.preformatted > 0 {
            self.flush_breaks();
            self.out.push_str(&decoded);
            return;
        }
        let words = decoded.split(|c: char| c.is_whitespace() && c != '\u{a0}');
        for (i, word) in words.enumerate() {
            // Every word after the first had whitespace before it.
            if i > 0 {
                self.pending_space = true;
            }
            if word.is_empty() {
                continue;
            }
            self.flush_breaks();
            if self.pending_space && !self.out.is_empty() && !self.out.ends_with('\n') {
                self.out.push(' ');
            }
            self.pending_space = false;
            self.out.push_str(&word.replace('\u{a0}', " "));
        }
    }

    fn tag(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        match name {
            "br" => self.line_break(),
            "li" if !tag.closing => {
                self.block(1);
                self.flush_breaks();
                self.out.push_str("- ");
                self.pending_space = false;
            }
            "td" | "th" if !tag.closing => self.pending_space = true,
            "a" if !tag.closing => {
                self.link = tag.href.clone().map(|href| (href, self.out.len()));
            }
            "a" => self.close_link(),
            "pre" if tag.closing => {
                self.preformatted = self.preformatted.saturating_sub(1);
                self.block(2);
            }
            "pre" => {
                self.block(2);
                self.preformatted += 1;
            }
            _ if PARAGRAPH_ELEMENTS.contains(&name) => self.block(2),
            _ if LINE_ELEMENTS.contains(&name) || name == "li" => self.block(1),
            _ => {}
        }
    }

    fn close_link(&mut self) {
        let Some((href, start)) = self.link.take() else {
            return;
        };
        let href = decode_entities(&href);
        let shown = self.out[start..].trim();
        let is_target = href.starts_with("http://")
            || href.starts_with("https://")
            || href.starts_with("mailto:");
        if is_target && shown != href && !shown.is_empty() {
            self.out.push_str(" (");
            self.out.push_str(&href);
            self.out.push(')');
        }
    }

    fn line_break(&mut self) {
        self.out.push('\n');
        self.pending_space = false;
    }

    fn block(&mut self, breaks: usize) {
        self.pending_breaks = self.pending_breaks.max(breaks);
        self.pending_space = false;
    }

    fn flush_breaks(&mut self) {
        if self.pending_breaks == 0 || self.out.is_empty() {
            self.pending_breaks = 0;
            return;
        }
        let have = self.out.len() - self.out.trim_end_matches('\n').len();
        for _ in have..self.pending_breaks {
            self.out.push('\n');
        }
        self.pending_breaks = 0;
        self.pending_space = false;
    }

    fn finish(self) -> String {
        let mut lines: Vec<&str> = self.out.lines().map(str::trim_end).collect();
        // Keep at most one blank line in a row.
        lines.dedup_by(|a, b| a.is_empty() && b.is_empty());
        lines.join("\n").trim().to_owned()
    }
}

/// Decodes character references: numeric ones and the named ones common in
/// email HTML. Unknown names are kept as written.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest[1..]
            .find(';')
            .filter(|end| *end <= 10)
            .and_then(|end| decode_entity(&rest[1..=end]).map(|c| (c, end + 2)));
        match decoded {
            Some((c, consumed)) => {
                out.push_str(c.as_str());
                rest = &rest[consumed..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<String> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).map(String::from);
    }
    let text = match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "hellip" => "…",
        "mdash" => "—",
        "ndash" => "–",
        "lsquo" => "‘",
        "rsquo" => "’",
        "ldquo" => "“",
        "rdquo" => "”",
        "bull" => "•",
        "middot" => "·",
        "euro" => "€",
        "pound" => "£",
        "zwnj" | "zwj" | "shy" => "",
        _ => return None,
    };
    Some(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_table() {
        let cases = [
            ("<p>Hello</p><p>World</p>", "Hello\n\nWorld"),
            (
                "Line one<br>Line two<br/>Line three",
                "Line one\nLine two\nLine three",
            ),
            ("<div>a</div><div>b</div>", "a\nb"),
            ("<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
            (
                "Tom &amp; Jerry &lt;3 &#233;&#x e9; &unknown;",
                "Tom & Jerry <3 é&#x e9; &unknown;",
            ),
            ("  lots   of\n\n  space  ", "lots of space"),
            (
                "<head><title>T</title><style>p{color:red}</style></head><p>Body</p>",
                "Body",
            ),
            ("<script>var a = '<p>';</script>after", "after"),
            ("<!-- hidden --><p>shown</p>", "shown"),
            (
                "<a href=\"https://x.test/u?a=1&amp;b=2\">Unsubscribe</a>",
                "Unsubscribe (https://x.test/u?a=1&b=2)",
            ),
            (
                "<a href='https://x.test'>https://x.test</a>",
                "https://x.test",
            ),
            ("<a href=\"#top\">Top</a>", "Top"),
            ("<table><tr><td>a</td><td>b</td></tr></table>", "a b"),
            ("<h1>Title</h1>text", "Title\n\ntext"),
            ("Grüße, 你好 &nbsp;!", "Grüße, 你好  !"),
            ("a < b and c > d", "a < b and c > d"),
            ("<pre>  keep\n  this</pre>", "keep\n  this"),
            ("<P CLASS=\"x\">Upper</P>", "Upper"),
            ("<span>in</span><b>line</b> text", "inline text"),
        ];
        for (html, expected) in cases {
            assert_eq!(html_to_text(html), expected, "{html}");
        }
    }

    #[test]
    fn email_layout() {
        let html = r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>News</title></head>
            <body><table><tr><td><h1>Hi Ada,</h1><p>Our <b>spring</b> sale starts today.</p>
            <p><a href="https://shop.test/sale">See the offers</a></p></td></tr></table>
            <p style="font-size:12px">You can <a href="https://api.test/unsubscribe/t">unsubscribe</a>.</p>
            </body></html>"#;
        let expected = "Hi Ada,\n\nOur spring sale starts today.\n\nSee the offers (https://shop.test/sale)\n\nYou can unsubscribe (https://api.test/unsubscribe/t).";
        assert_eq!(html_to_text(html), expected);
    }
}
