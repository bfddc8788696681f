//! The committed quickstart contact file matches its generator and its README.

use std::path::PathBuf;

use load_tests::contacts::{
    count_contacts, render_quickstart_contacts, QUICKSTART_ROWS, QUICKSTART_SEED,
};

fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// Formats a count as the README writes it, e.g. `50,000`.
fn with_commas(count: usize) -> String {
    let digits = count.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[test]
fn quickstart_file_matches_generator() {
    let committed = std::fs::read(data_path("quickstart-contacts.csv")).unwrap();
    let (generated, _) = render_quickstart_contacts(QUICKSTART_ROWS, QUICKSTART_SEED);
    assert!(
        committed == generated,
        "data/quickstart-contacts.csv differs from the generator; run \
         `cargo run -p load-tests --example write_quickstart_contacts` and update data/README.md"
    );
}

#[test]
fn quickstart_counts_match_readme() {
    let committed = std::fs::read(data_path("quickstart-contacts.csv")).unwrap();
    let (_, generated) = render_quickstart_contacts(QUICKSTART_ROWS, QUICKSTART_SEED);
    let counted = count_contacts(&committed).unwrap();
    assert_eq!(
        counted, generated,
        "the generator's counts differ from an independent count"
    );

    let readme = std::fs::read_to_string(data_path("README.md")).unwrap();
    let rows = [
        ("data rows", counted.rows),
        ("distinct valid emails", counted.distinct_valid_emails),
        ("duplicate rows", counted.duplicate_rows),
        ("invalid rows", counted.invalid_rows),
        ("blank lines", counted.blank_lines),
        ("bytes", counted.bytes),
    ];
    for (label, count) in rows {
        let line = format!("| {label} | {} |", with_commas(count));
        assert!(readme.contains(&line), "README.md lacks the line `{line}`");
    }
}

#[test]
fn quickstart_file_stays_small() {
    let size = std::fs::metadata(data_path("quickstart-contacts.csv"))
        .unwrap()
        .len();
    assert!(size < 5 * 1024 * 1024, "{size} bytes");
}

#[test]
fn with_commas_groups_thousands() {
    assert_eq!(with_commas(0), "0");
    assert_eq!(with_commas(999), "999");
    assert_eq!(with_commas(50_000), "50,000");
    assert_eq!(with_commas(4_567_890), "4,567,890");
}
