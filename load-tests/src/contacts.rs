//! The bundled quickstart contact file: a deterministic, deliberately messy CSV in a
//! common ESP export layout, for `wrapsd quickstart` and import tests.
//!
//! The layout is Mailchimp-like (`Email Address,First Name,...,OPTIN_TIME`). It has the
//! mess real exports have: a UTF-8 byte order mark, CRLF line endings, a few blank
//! lines, quoted fields with commas and quotes, and non-ASCII names. About 2% of rows
//! repeat an earlier address in another letter case, and about 0.5% have an invalid
//! address. Every
//! address uses example.com, example.org, example.net or their subdomains (reserved by
//! RFC 2606), and phone numbers use ranges reserved for fiction, so nobody real is in it.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::Path;

use crate::address::{bare_address, is_valid_address};
use crate::rng::SplitMix64;

/// Data rows of the committed `data/quickstart-contacts.csv`.
pub const QUICKSTART_ROWS: usize = 50_000;
/// Seed of the committed `data/quickstart-contacts.csv`.
pub const QUICKSTART_SEED: u64 = 20_240_601;

/// Header row of the file.
pub const HEADER: [&str; 8] = [
    "Email Address",
    "First Name",
    "Last Name",
    "Company",
    "Phone Number",
    "Tags",
    "MEMBER_RATING",
    "OPTIN_TIME",
];

const INVALID_RATIO: f64 = 0.005;
const DUPLICATE_RATIO: f64 = 0.02;
const BLANK_LINE_RATIO: f64 = 0.002;

/// Counts of a generated file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactFileSummary {
    /// Data rows, not counting the header and blank lines.
    pub rows: usize,
    /// Empty lines between data rows.
    pub blank_lines: usize,
    /// Distinct valid addresses, compared case-insensitively.
    pub distinct_valid_emails: usize,
    /// Rows whose valid address (compared case-insensitively) an earlier row has.
    pub duplicate_rows: usize,
    /// Rows whose address is invalid.
    pub invalid_rows: usize,
    /// Size of the file.
    pub bytes: usize,
}

/// Writes the quickstart contact file for `rows` and `seed` to `path`.
pub fn write_quickstart_contacts(
    path: &Path,
    rows: usize,
    seed: u64,
) -> io::Result<ContactFileSummary> {
    let (bytes, summary) = render_quickstart_contacts(rows, seed);
    fs::write(path, bytes)?;
    Ok(summary)
}

/// Generates the quickstart contact file in memory. The same arguments give the same
/// bytes on every platform and build.
pub fn render_quickstart_contacts(rows: usize, seed: u64) -> (Vec<u8>, ContactFileSummary) {
    let mut generator = Generator::new(seed);
    let mut out = Vec::with_capacity(rows * 96);
    out.extend_from_slice("\u{feff}".as_bytes());
    push_record(&mut out, &HEADER);

    let mut blank_lines = 0;
    for _ in 0..rows {
        let row = generator.next_row();
        push_record(&mut out, &row.fields());
        if generator.rng.chance(BLANK_LINE_RATIO) {
            out.extend_from_slice(b"\r\n");
            blank_lines += 1;
        }
    }

    let summary = ContactFileSummary {
        rows,
        blank_lines,
        distinct_valid_emails: generator.seen.len(),
        duplicate_rows: generator.duplicate_rows,
        invalid_rows: generator.invalid_rows,
        bytes: out.len(),
    };
    (out, summary)
}

/// Appends one CSV record with CRLF, quoting fields that contain a comma, a quote or a
/// line break (RFC 4180).
fn push_record(out: &mut Vec<u8>, fields: &[&str]) {
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            out.push(b'"');
            out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(field.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// (display name, ASCII form used in addresses)
const FIRST_NAMES: &[(&str, &str)] = &[
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Łukasz", "lukasz"),
    ("太郎", "taro"),
    ("花子", "hanako"),
    ("Anna", "anna"),
    ("Mohammed", "mohammed"),
    ("Priya", "priya"),
    ("Chloé", "chloe"),
    ("Søren", "soren"),
    ("Björn", "bjorn"),
    ("Ana María", "anamaria"),
    ("Siobhán", "siobhan"),
    ("Jürgen", "jurgen"),
    ("Oğuz", "oguz"),
    ("Élodie", "elodie"),
    ("Kwame", "kwame"),
    ("Amara", "amara"),
    ("Liam", "liam"),
    ("Olivia", "olivia"),
    ("Noah", "noah"),
    ("Emma", "emma"),
    ("Mateo", "mateo"),
    ("Fatima", "fatima"),
    ("Dmitri", "dmitri"),
    ("Ingrid", "ingrid"),
    ("Mei", "mei"),
    ("Ravi", "ravi"),
    ("Zoltán", "zoltan"),
    ("Hana", "hana"),
];

const LAST_NAMES: &[(&str, &str)] = &[
    ("Müller", "muller"),
    ("García", "garcia"),
    ("Nowak", "nowak"),
    ("山田", "yamada"),
    ("Ølstad", "olstad"),
    ("Smith", "smith"),
    ("O'Brien", "obrien"),
    ("Nguyễn", "nguyen"),
    ("Kowalczyk", "kowalczyk"),
    ("Dubois", "dubois"),
    ("Rossi", "rossi"),
    ("Johansson", "johansson"),
    ("Silva", "silva"),
    ("Khan", "khan"),
    ("Okafor", "okafor"),
    ("Suzuki", "suzuki"),
    ("Schmidt", "schmidt"),
    ("Fernández", "fernandez"),
    ("Virtanen", "virtanen"),
    ("Papadopoulos", "papadopoulos"),
    ("van der Berg", "vanderberg"),
    ("Lee", "lee"),
];

/// Repeated entries weight the choice.
const DOMAINS: &[&str] = &[
    "example.com",
    "example.com",
    "example.com",
    "example.org",
    "example.org",
    "example.net",
    "mail.example.com",
    "eu.example.org",
    "shop.example.net",
];

/// Fictional companies; empty entries leave the field blank.
const COMPANIES: &[&str] = &[
    "",
    "",
    "",
    "",
    "Contoso Ltd",
    "Fabrikam, Inc.",
    "Northwind Traders",
    "Tailspin Toys",
    "Wide World Importers, LLC",
    "Müller & Söhne GmbH",
    "株式会社サンプル",
    "Café \"Zur Post\"",
];

const TAGS: &[&str] = &[
    "newsletter",
    "vip",
    "trial",
    "customer",
    "event-2024",
    "beta",
];

/// First second of the opt-in range, 2019-01-01T00:00:00Z, and its length (six years).
const OPTIN_START: i64 = 1_546_300_800;
const OPTIN_RANGE_SECONDS: usize = 6 * 365 * 24 * 60 * 60;

struct Row {
    email: String,
    first_name: &'static str,
    last_name: &'static str,
    company: &'static str,
    phone: String,
    tags: String,
    rating: String,
    optin_time: String,
}

impl Row {
    fn fields(&self) -> [&str; 8] {
        [
            &self.email,
            self.first_name,
            self.last_name,
            self.company,
            &self.phone,
            &self.tags,
            &self.rating,
            &self.optin_time,
        ]
    }
}

struct Generator {
    rng: SplitMix64,
    /// Lower-cased valid addresses so far, to keep new ones unique.
    seen: HashSet<String>,
    /// Valid rows so far as (address, first name, last name), for duplicates.
    earlier: Vec<(String, &'static str, &'static str)>,
    duplicate_rows: usize,
    invalid_rows: usize,
}

impl Generator {
    fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64::new(seed),
            seen: HashSet::new(),
            earlier: Vec::new(),
            duplicate_rows: 0,
            invalid_rows: 0,
        }
    }

    fn next_row(&mut self) -> Row {
        let roll = self.rng.next_f64();
        let (email, first_name, last_name) = if roll < INVALID_RATIO {
            self.invalid_rows += 1;
            let (first, last) = self.names();
            (self.invalid_address(first.1, last.1), first.0, last.0)
        } else if roll < INVALID_RATIO + DUPLICATE_RATIO && !self.earlier.is_empty() {
            self.duplicate_rows += 1;
            let (address, first, last) = self.rng.pick(&self.earlier).clone();
            (self.recased(&address), first, last)
        } else {
            let (first, last) = self.names();
            let address = self.new_address(first.1, last.1);
            self.earlier.push((address.clone(), first.0, last.0));
            (address, first.0, last.0)
        };

        Row {
            email,
            first_name,
            last_name,
            company: COMPANIES[self.rng.below(COMPANIES.len())],
            phone: self.phone(),
            tags: self.tags(),
            rating: (1 + self.rng.below(5)).to_string(),
            optin_time: self.optin_time(),
        }
    }

    fn names(
        &mut self,
    ) -> (
        &'static (&'static str, &'static str),
        &'static (&'static str, &'static str),
    ) {
        (self.rng.pick(FIRST_NAMES), self.rng.pick(LAST_NAMES))
    }

    /// Builds a valid address not used before, in one of the usual local-part styles.
    fn new_address(&mut self, first: &str, last: &str) -> String {
        let domain = self.rng.pick(DOMAINS);
        loop {
            let number = self.rng.below(100_000);
            let local = match self.rng.below(4) {
                0 => format!("{first}.{last}{number}"),
                1 => format!("{first}{number}"),
                2 => format!("{}.{last}{number}", &first[..1]),
                _ => format!("{first}_{last}.{number}"),
            };
            let address = format!("{local}@{domain}");
            if self.seen.insert(address.clone()) {
                return address;
            }
        }
    }

    /// Changes the letter case of an earlier address, so it differs only in case.
    fn recased(&mut self, address: &str) -> String {
        let (local, domain) = address.split_once('@').unwrap_or((address, ""));
        match self.rng.below(3) {
            0 => address.to_uppercase(),
            1 => format!("{}@{}", capitalize(local), capitalize(domain)),
            _ => format!("{local}@{}", domain.to_uppercase()),
        }
    }

    /// Builds an address broken in one of the ways exports are.
    fn invalid_address(&mut self, first: &str, last: &str) -> String {
        let domain = self.rng.pick(DOMAINS);
        let number = self.rng.below(1000);
        match self.rng.below(7) {
            0 => format!("{first}.{last}{number}{domain}"),
            1 => format!("{first} {last}@{domain}"),
            2 => format!("{first}.{last}{number}@{domain}."),
            3 => format!("{first}{number}@@{domain}"),
            4 => format!("{first}.{last}@"),
            5 => format!("{first}{number}@{}", domain.replacen('.', ",", 1)),
            _ => String::new(),
        }
    }

    fn phone(&mut self) -> String {
        // 555-0100..555-0199 (North America) and 020 7946 0000..0999 (UK) are set
        // aside for fiction.
        match self.rng.below(5) {
            0 => format!("+1 202-555-01{:02}", self.rng.below(100)),
            1 => format!("+44 20 7946 0{:03}", self.rng.below(1000)),
            _ => String::new(),
        }
    }

    fn tags(&mut self) -> String {
        let count = match self.rng.below(10) {
            0..=4 => 0,
            5..=7 => 1,
            _ => 2,
        };
        let mut tags: Vec<&str> = Vec::with_capacity(count);
        while tags.len() < count {
            let tag = *self.rng.pick(TAGS);
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags.join(",")
    }

    fn optin_time(&mut self) -> String {
        let seconds = OPTIN_START + self.rng.below(OPTIN_RANGE_SECONDS) as i64;
        chrono::DateTime::from_timestamp(seconds, 0)
            .map(|time| time.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Counts a contact file as an importer would: rows, blank lines, distinct valid
/// addresses (trimmed, compared case-insensitively), duplicate rows and invalid rows.
/// It reads only the first column, so it works on any file in this layout.
pub fn count_contacts(bytes: &[u8]) -> Result<ContactFileSummary, csv::Error> {
    let text = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let blank_lines = text
        .split(|&byte| byte == b'\n')
        .skip(1)
        .filter(|line| line.is_empty() || *line == b"\r")
        .count()
        // The split after the final CRLF is empty too.
        .saturating_sub(usize::from(text.ends_with(b"\n")));

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text);
    let mut seen = HashSet::new();
    let mut summary = ContactFileSummary {
        rows: 0,
        blank_lines,
        distinct_valid_emails: 0,
        duplicate_rows: 0,
        invalid_rows: 0,
        bytes: bytes.len(),
    };
    for record in reader.records() {
        let record = record?;
        summary.rows += 1;
        let email = bare_address(record.get(0).unwrap_or_default());
        if !is_valid_address(email) {
            summary.invalid_rows += 1;
        } else if !seen.insert(email.to_lowercase()) {
            summary.duplicate_rows += 1;
        }
    }
    summary.distinct_valid_emails = seen.len();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_matches_generator() {
        let (bytes, generated) = render_quickstart_contacts(5_000, 1);
        assert_eq!(count_contacts(&bytes).unwrap(), generated);
    }

    #[test]
    fn generated_file_has_requested_mess() {
        let (bytes, summary) = render_quickstart_contacts(5_000, 1);
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with('\u{feff}'));
        assert!(
            !text.replace("\r\n", "").contains('\n'),
            "a bare LF line ending"
        );
        assert!(text.contains("\"Fabrikam, Inc.\""));
        assert!(summary.invalid_rows > 0);
        assert!(summary.duplicate_rows > 0);
        assert!(summary.blank_lines > 0);
    }

    #[test]
    fn generator_is_deterministic() {
        assert_eq!(
            render_quickstart_contacts(500, 9),
            render_quickstart_contacts(500, 9)
        );
        assert_ne!(
            render_quickstart_contacts(500, 9).0,
            render_quickstart_contacts(500, 10).0
        );
    }

    #[test]
    fn every_address_uses_an_example_domain() {
        let (bytes, _) = render_quickstart_contacts(5_000, 3);
        let mut reader = csv::Reader::from_reader(&bytes[3..]);
        for record in reader.records() {
            let email = record.unwrap()[0].to_lowercase();
            let bases = ["example.com", "example.org", "example.net"];
            let allowed = match email.rsplit_once('@') {
                Some((_, domain)) => {
                    let domain = domain.trim_end_matches('.').replace(',', ".");
                    domain.is_empty()
                        || bases
                            .iter()
                            .any(|base| domain == *base || domain.ends_with(&format!(".{base}")))
                }
                // The "missing @" rows run the domain into the local part.
                None => email.is_empty() || bases.iter().any(|base| email.ends_with(base)),
            };
            assert!(allowed, "{email} is outside the example domains");
        }
    }
}
