//! `wrapsd contacts import`: loads a CSV export from another email service
//! provider into an organisation's contacts.
//!
//! The file is streamed, never loaded whole. A blocking task reads and
//! validates rows and hands batches to the async side over a bounded channel,
//! so reading pauses while the store is busy and memory stays at a few
//! batches plus one hash per distinct email. The async side upserts each batch
//! with [`Store::import_contacts`], which creates new contacts, fills in
//! existing ones and subscribes them to the `--topic` topic.
//!
//! Rows are checked against the limits of `POST /v1/contacts`. An invalid row
//! is counted and skipped, and the first [`MAX_INVALID_SAMPLES`] are reported
//! by line number and reason. Logs and the summary name lines, ids and counts,
//! never an email address.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use schemas::validation::{is_valid_email, normalize_identity};
use schemas::{OrgId, TopicId};
use serde_json::Value;
use store::{ImportRow, Store};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

/// Invalid rows kept in the summary; the rest are only counted.
pub const MAX_INVALID_SAMPLES: usize = 20;
/// Batches read ahead of the store. Two lets the next batch be parsed while
/// the current one is written.
const BATCHES_IN_FLIGHT: usize = 2;
/// Header names listed in the error for a file without an email column.
const MAX_HEADERS_IN_ERROR: usize = 20;

/// Settings of one import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub org: OrgId,
    /// CSV file with a header row.
    pub path: PathBuf,
    /// Slug of the topic every imported contact is subscribed to.
    pub topic_slug: Option<String>,
    /// Distinct emails per store call, at least 1.
    pub batch_rows: usize,
    /// Whether to draw a progress bar on stderr. The bar stays hidden when
    /// stderr is not a terminal.
    pub progress: bool,
}

/// Counts of one import. Every data row ends up in exactly one of `created`,
/// `updated`, `duplicates_in_file` and `invalid`, so they add up to `rows`.
/// The exception is two distinct addresses with the same hash, which
/// [`RowBatcher`] explains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Data rows read, without the header and without blank rows.
    pub rows: u64,
    /// Contacts that did not exist before the import.
    pub created: u64,
    /// Contacts that existed before the import and were updated.
    pub updated: u64,
    /// Valid rows whose email (compared trimmed and case-insensitively)
    /// appeared on an earlier valid row; they were merged into that contact.
    pub duplicates_in_file: u64,
    /// Rows skipped because of a missing or invalid field.
    pub invalid: u64,
    /// The first [`MAX_INVALID_SAMPLES`] invalid rows, in file order.
    pub invalid_samples: Vec<InvalidRow>,
}

/// A skipped row, by line number and reason. The reason never contains the
/// row's values, so it is safe to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidRow {
    /// Line of the file where the row starts, from 1 (the header is usually
    /// line 1).
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Rows read:             {:>10}", self.rows)?;
        writeln!(f, "Contacts created:      {:>10}", self.created)?;
        writeln!(f, "Contacts updated:      {:>10}", self.updated)?;
        writeln!(f, "Duplicate rows merged: {:>10}", self.duplicates_in_file)?;
        write!(f, "Invalid rows skipped:  {:>10}", self.invalid)?;

        for sample in &self.invalid_samples {
            write!(f, "\n  line {}: {}", sample.line, sample.reason)?;
        }
        let unlisted = self
            .invalid
            .saturating_sub(self.invalid_samples.len() as u64);
        if unlisted > 0 {
            write!(f, "\n  and {unlisted} more invalid rows")?;
        }
        Ok(())
    }
}

/// Imports the contacts of `options.path` into `options.org`.
///
/// Fails before reading any row when the topic slug is unknown, the file
/// cannot be opened, or its header has no email column. A read or store error
/// later stops the import, and the batches written before it stay written.
pub async fn import_contacts(
    store: &Store,
    options: &ImportOptions,
) -> anyhow::Result<ImportSummary> {
    if options.batch_rows == 0 {
        bail!("invalid batch size 0: expected at least 1 row per batch");
    }
    let topic = resolve_topic(store, options).await?;
    let file = File::open(&options.path)
        .with_context(|| format!("failed to open {}", options.path.display()))?;
    let size_bytes = file
        .metadata()
        .with_context(|| format!("failed to read the size of {}", options.path.display()))?
        .len();

    info!(
        organization_id = %options.org,
        topic_id = ?topic,
        size_bytes,
        batch_rows = options.batch_rows,
        "contact import started"
    );

    let rows_read = Arc::new(AtomicU64::new(0));
    let bar = progress_bar(options.progress, size_bytes, rows_read.clone());
    let result = write_batches(store, options, topic, file, &bar, rows_read).await;
    bar.finish_and_clear();

    let summary = result?;
    info!(
        organization_id = %options.org,
        rows = summary.rows,
        created = summary.created,
        updated = summary.updated,
        duplicates = summary.duplicates_in_file,
        invalid = summary.invalid,
        "contact import finished"
    );
    Ok(summary)
}

/// Looks the topic slug up once, so a typo fails before any row is written.
async fn resolve_topic(store: &Store, options: &ImportOptions) -> anyhow::Result<Option<TopicId>> {
    let Some(slug) = options.topic_slug.as_deref() else {
        return Ok(None);
    };
    let topic = store
        .get_topic_by_slug(options.org, slug)
        .await
        .with_context(|| format!("failed to look up topic {slug:?}"))?;
    match topic {
        Some(topic) => Ok(Some(topic.id)),
        None => bail!(
            "topic {slug:?} not found in organisation {}. List its topics with `wrapsd topics list --org {}`",
            options.org,
            options.org
        ),
    }
}

/// Runs the reader task and writes each batch it sends, in order.
async fn write_batches(
    store: &Store,
    options: &ImportOptions,
    topic: Option<TopicId>,
    file: File,
    bar: &ProgressBar,
    rows_read: Arc<AtomicU64>,
) -> anyhow::Result<ImportSummary> {
    let (sender, mut receiver) = mpsc::channel::<Batch>(BATCHES_IN_FLIGHT);
    let reader = {
        let input = bar.wrap_read(BufReader::new(file));
        let path = options.path.clone();
        let batch_rows = options.batch_rows;
        let bar = bar.clone();
        tokio::task::spawn_blocking(move || {
            let send = |batch| {
                sender
                    .blocking_send(batch)
                    .map_err(|_| anyhow::anyhow!("the store writer stopped taking batches"))
            };
            read_rows(input, &path, batch_rows, &rows_read, &bar, send)
        })
    };

    // Returning early drops the receiver, so the reader's next send fails
    // and the blocking task ends.
    let mut written = StoreCounts::default();
    while let Some(batch) = receiver.recv().await {
        let outcome = match store.import_contacts(options.org, &batch.rows, topic).await {
            Ok(outcome) => outcome,
            Err(err) => {
                let err = anyhow::Error::new(err).context(format!(
                    "failed to write the contacts of lines up to {} to the store",
                    batch.last_line
                ));
                return Err(written.explain(err));
            }
        };
        written.add(&batch, outcome);
        debug!(
            organization_id = %options.org,
            rows = batch.rows.len(),
            last_line = batch.last_line,
            created = outcome.created,
            updated = outcome.updated,
            "contact batch written"
        );
    }

    let tally = match reader.await.context("the CSV reader task panicked")? {
        Ok(tally) => tally,
        Err(err) => return Err(written.explain(err)),
    };
    Ok(ImportSummary {
        rows: tally.rows,
        created: written.created,
        updated: written.updated,
        duplicates_in_file: tally.duplicates_in_file,
        invalid: tally.invalid,
        invalid_samples: tally.invalid_samples,
    })
}

/// Contacts the store reported across the batches written so far.
#[derive(Debug, Default)]
struct StoreCounts {
    created: u64,
    updated: u64,
}

impl StoreCounts {
    fn add(&mut self, batch: &Batch, outcome: store::ImportOutcome) {
        // `outcome.skipped` counts rows with a blank email, which the reader
        // never sends.
        self.created += outcome.created;
        // A row whose email an earlier batch already wrote always counts as
        // an update in the store, but for the user it is a duplicate row,
        // already counted in `duplicates_in_file`.
        self.updated += outcome.updated.saturating_sub(batch.repeats);
    }

    /// Adds to `err` how far the import got, when some contacts were
    /// written before it.
    fn explain(&self, err: anyhow::Error) -> anyhow::Error {
        if self.created + self.updated == 0 {
            return err;
        }
        err.context(format!(
            "the import stopped part way: {} contacts were created and {} updated before the error. \
             Once the cause is fixed, importing the file again is safe because existing contacts are \
             updated rather than duplicated",
            self.created, self.updated
        ))
    }
}

/// Creates the progress bar over the file's bytes. It shows the rows read and
/// their average rate since the start, and an ETA from the bytes read.
fn progress_bar(enabled: bool, size_bytes: u64, rows_read: Arc<AtomicU64>) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }

    let rows_key = move |state: &ProgressState, out: &mut dyn fmt::Write| {
        let rows = rows_read.load(Ordering::Relaxed);
        let seconds = state.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 {
            rows as f64 / seconds
        } else {
            0.0
        };
        let _ = write!(out, "{rows} rows ({rate:.0} rows/s)");
    };
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {rows} ETA {eta}",
    )
    .expect("the progress template is valid")
    .with_key("rows", rows_key);

    // indicatif 0.17 draws a `ProgressDrawTarget::stderr()` target only
    // while stderr is a terminal, so redirected stderr gets no bar.
    ProgressBar::with_draw_target(Some(size_bytes), ProgressDrawTarget::stderr()).with_style(style)
}

/// Row counts kept by the reader. The rows themselves go out in batches.
#[derive(Debug, Default)]
struct FileTally {
    rows: u64,
    duplicates_in_file: u64,
    invalid: u64,
    invalid_samples: Vec<InvalidRow>,
}

impl FileTally {
    /// Counts a non-blank row, here and on the progress bar.
    fn count_row(&mut self, rows_read: &AtomicU64) {
        self.rows += 1;
        rows_read.fetch_add(1, Ordering::Relaxed);
    }

    fn record_invalid(&mut self, line: u64, reason: String) {
        self.invalid += 1;
        if self.invalid_samples.len() < MAX_INVALID_SAMPLES {
            debug!(line, reason = %reason, "skipped an invalid row");
            self.invalid_samples.push(InvalidRow { line, reason });
        }
    }
}

/// Reads the CSV from `input`, validates each row and passes full batches to
/// `send`, then the last partial one. `path` only names the file in errors.
fn read_rows<R: Read>(
    input: R,
    path: &Path,
    batch_rows: usize,
    rows_read: &AtomicU64,
    bar: &ProgressBar,
    mut send: impl FnMut(Batch) -> anyhow::Result<()>,
) -> anyhow::Result<FileTally> {
    // Rows may have fewer or more fields than the header. The csv crate
    // skips blank lines and a UTF-8 byte order mark on its own.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(LineBreaks::new(input));
    let headers = reader
        .byte_headers()
        .with_context(|| format!("failed to read the header row of {}", path.display()))?
        .clone();
    let columns = ColumnMap::from_headers(&headers)
        .with_context(|| format!("invalid header row in {}", path.display()))?;
    if !columns.unnamed.is_empty() {
        bar.suspend(
            || warn!(columns = ?columns.unnamed, "columns without a header are not imported"),
        );
    }

    let mut tally = FileTally::default();
    let mut batcher = RowBatcher::new(batch_rows);
    let mut record = csv::ByteRecord::new();
    let mut line = 1;
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .with_context(|| format!("failed to read {} after line {line}", path.display()))?;
        if !more {
            break;
        }
        line = record_start_line(&mut reader, &record);

        let row = match columns.parse_row(&record) {
            ParsedRow::Blank => continue,
            ParsedRow::Invalid(reason) => {
                tally.count_row(rows_read);
                tally.record_invalid(line, reason);
                continue;
            }
            ParsedRow::Valid(row) => row,
        };
        tally.count_row(rows_read);

        if batcher.push(row, line) == Added::Duplicate {
            tally.duplicates_in_file += 1;
        }
        if batcher.is_full() {
            send(batcher.take())?;
        }
    }

    if !batcher.is_empty() {
        send(batcher.take())?;
    }
    Ok(tally)
}

/// Returns the line where the record just read starts, from 1.
///
/// The csv crate's own record position (csv 1.4) is taken before it skips
/// blank lines and the `\n` of a preceding `\r\n`, so it can name a line
/// above the record. Instead this finds the line of the record's last byte
/// from where the reader stopped, then goes back over the line breaks inside
/// its quoted fields.
fn record_start_line<R: Read>(
    reader: &mut csv::Reader<LineBreaks<R>>,
    record: &csv::ByteRecord,
) -> u64 {
    let end = reader.position().byte();
    let last_line = reader.get_mut().line_of(end.saturating_sub(1));
    let breaks_inside: u64 = record.iter().map(count_line_breaks).sum();
    last_line.saturating_sub(breaks_inside).max(1)
}

/// Counts line breaks the way [`LineBreaks`] does: `\r\n` once, a lone `\r`
/// or `\n` once each.
fn count_line_breaks(bytes: &[u8]) -> u64 {
    let mut count = 0;
    let mut after_cr = false;
    for &byte in bytes {
        match byte {
            b'\n' if after_cr => after_cr = false,
            b'\n' => count += 1,
            b'\r' => {
                count += 1;
                after_cr = true;
            }
            _ => after_cr = false,
        }
    }
    count
}

/// A reader that notes the byte offset of each line break passing through
/// it, so a byte offset can be turned into a line number. A line break is
/// `\n`, `\r\n` or a lone `\r`, the terminators the csv crate accepts by
/// default.
struct LineBreaks<R> {
    inner: R,
    /// Offset of the next byte `inner` returns.
    offset: u64,
    /// Offsets of the line breaks not yet passed by [`Self::line_of`], in
    /// order. A `\r\n` pair is noted at its `\n`.
    pending: VecDeque<u64>,
    /// Line breaks before the first pending one.
    passed: u64,
    /// Whether the last byte read was a `\r` not yet known to be lone.
    after_cr: bool,
}

impl<R> LineBreaks<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            pending: VecDeque::new(),
            passed: 0,
            after_cr: false,
        }
    }

    /// Returns the line, from 1, of the byte at `offset`. Calls must not go
    /// back in the file, because the breaks before `offset` are forgotten.
    fn line_of(&mut self, offset: u64) -> u64 {
        while self.pending.front().is_some_and(|&at| at < offset) {
            self.pending.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

impl<R: Read> Read for LineBreaks<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buf)?;

        // A `\r` is a break of its own unless a `\n` follows it, which the
        // next byte, possibly in the next read, decides.
        for (index, &byte) in buf[..count].iter().enumerate() {
            let at = self.offset + index as u64;
            if self.after_cr && byte != b'\n' {
                self.pending.push_back(at - 1);
            }
            if byte == b'\n' {
                self.pending.push_back(at);
            }
            self.after_cr = byte == b'\r';
        }
        if count == 0 && self.after_cr {
            self.pending.push_back(self.offset - 1);
            self.after_cr = false;
        }

        self.offset += count as u64;
        Ok(count)
    }
}

/// Contact fields other than the email that a column can fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    FirstName,
    LastName,
    Phone,
    Company,
    JobTitle,
}

impl Field {
    /// Maximum length in characters that the API accepts for the field.
    fn max_chars(self) -> usize {
        match self {
            Field::FirstName | Field::LastName => 100,
            Field::Phone => 50,
            Field::Company | Field::JobTitle => 200,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Field::FirstName => "first name",
            Field::LastName => "last name",
            Field::Phone => "phone",
            Field::Company => "company",
            Field::JobTitle => "job title",
        }
    }

    fn slot(self, row: &mut ImportRow) -> &mut Option<String> {
        match self {
            Field::FirstName => &mut row.first_name,
            Field::LastName => &mut row.last_name,
            Field::Phone => &mut row.phone,
            Field::Company => &mut row.company,
            Field::JobTitle => &mut row.job_title,
        }
    }
}

/// Maximum length in characters that the API accepts for an email.
const EMAIL_MAX_CHARS: usize = 255;

/// Destination of the cells of one column.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Column {
    Email,
    Field(Field),
    /// A `properties` entry under this key, the trimmed header.
    Property(String),
    /// A column with an empty header, whose cells are dropped.
    Unnamed,
}

/// Recognises the column names of common ESP exports. Headers are compared
/// after [`normalize_header`], so `E-mail`, `EMAIL` and `e_mail` all match
/// `email`.
fn recognize_header(header: &str) -> Option<Column> {
    let column = match normalize_header(header).as_str() {
        "email" | "emailaddress" => Column::Email,
        "firstname" | "givenname" | "fname" => Column::Field(Field::FirstName),
        "lastname" | "surname" | "familyname" | "lname" => Column::Field(Field::LastName),
        "phone" | "phonenumber" | "mobile" | "mobilephone" | "cell" | "telephone" => {
            Column::Field(Field::Phone)
        }
        "company" | "companyname" | "organization" | "organisation" => {
            Column::Field(Field::Company)
        }
        "jobtitle" | "title" | "position" => Column::Field(Field::JobTitle),
        _ => return None,
    };
    Some(column)
}

/// Lower-cases a header and drops everything but letters and digits.
fn normalize_header(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Mapping from the file's columns to contact fields and properties.
#[derive(Debug)]
struct ColumnMap {
    columns: Vec<Column>,
    /// Positions, from 1, of the columns without a header.
    unnamed: Vec<usize>,
}

impl ColumnMap {
    /// Maps the header row. The first column recognised as a field fills it,
    /// and a later column recognised as the same field becomes a property, so
    /// no value is lost. Fails when no column is an email column.
    fn from_headers(headers: &csv::ByteRecord) -> anyhow::Result<Self> {
        if headers.is_empty() {
            bail!("the file is empty: expected a header row with an email column");
        }

        let mut names = Vec::with_capacity(headers.len());
        for (index, raw) in headers.iter().enumerate() {
            let name = std::str::from_utf8(raw).with_context(|| {
                format!(
                    "the header of column {} is not valid UTF-8. Save the file as UTF-8 and import it again",
                    index + 1
                )
            })?;
            // A byte order mark left by a short first read would otherwise
            // end up in a property key.
            names.push(name.trim_start_matches('\u{feff}').trim());
        }

        let mut columns = Vec::with_capacity(names.len());
        let mut unnamed = Vec::new();
        for (index, name) in names.iter().enumerate() {
            let column = match recognize_header(name) {
                Some(column) if !columns.contains(&column) => column,
                _ if name.is_empty() => {
                    unnamed.push(index + 1);
                    Column::Unnamed
                }
                _ => Column::Property((*name).to_owned()),
            };
            columns.push(column);
        }

        if !columns.contains(&Column::Email) {
            bail!("no email column: {}", describe_headers(&names));
        }
        Ok(Self { columns, unnamed })
    }

    /// Builds the contact of one record.
    fn parse_row(&self, record: &csv::ByteRecord) -> ParsedRow {
        match self.build_row(record) {
            Ok(Some(row)) => ParsedRow::Valid(row),
            Ok(None) => ParsedRow::Blank,
            Err(reason) => ParsedRow::Invalid(reason),
        }
    }

    /// Builds the contact of one record, or `None` when every imported cell
    /// is empty, or returns the reason the row is invalid.
    fn build_row(&self, record: &csv::ByteRecord) -> Result<Option<ImportRow>, String> {
        let mut row = ImportRow::default();
        let mut email = None;
        let mut any_value = false;

        // Cells beyond the header have no column and are dropped.
        for (index, (raw, column)) in record.iter().zip(&self.columns).enumerate() {
            if *column == Column::Unnamed {
                continue;
            }
            // NOTE: there is no encoding detection, so a Windows-1252 export
            // has every row with an accented letter counted invalid here.
            let value = std::str::from_utf8(raw)
                .map_err(|_| format!("column {} is not valid UTF-8", index + 1))?
                .trim();
            if value.is_empty() {
                continue;
            }
            any_value = true;

            match column {
                Column::Email => email = Some(value),
                Column::Field(field) => {
                    if value.chars().count() > field.max_chars() {
                        return Err(format!(
                            "{} is longer than {} characters",
                            field.label(),
                            field.max_chars()
                        ));
                    }
                    *field.slot(&mut row) = Some(value.to_owned());
                }
                Column::Property(key) => {
                    row.properties
                        .insert(key.clone(), Value::String(value.to_owned()));
                }
                Column::Unnamed => {}
            }
        }

        if !any_value {
            return Ok(None);
        }
        let Some(email) = email else {
            return Err("email is missing".to_owned());
        };
        if email.chars().count() > EMAIL_MAX_CHARS {
            return Err(format!("email is longer than {EMAIL_MAX_CHARS} characters"));
        }
        if !is_valid_email(email) {
            return Err("email is not a valid address".to_owned());
        }
        row.email = email.to_owned();
        Ok(Some(row))
    }
}

/// One data row of the file.
#[derive(Debug)]
enum ParsedRow {
    /// Every imported cell is empty, as in the trailing rows of a
    /// spreadsheet export. Such rows are skipped without being counted.
    Blank,
    Valid(ImportRow),
    /// The reason, without the row's values.
    Invalid(String),
}

/// Lists header names for an error message, quoted, at most
/// [`MAX_HEADERS_IN_ERROR`] of them.
fn describe_headers(names: &[&str]) -> String {
    let mut listed: Vec<String> = names
        .iter()
        .take(MAX_HEADERS_IN_ERROR)
        .map(|name| format!("{name:?}"))
        .collect();
    if names.len() > MAX_HEADERS_IN_ERROR {
        listed.push(format!("and {} more", names.len() - MAX_HEADERS_IN_ERROR));
    }
    format!(
        "found columns {}. Name the email column `email`, `Email Address`, `E-mail` or `email_address`",
        listed.join(", ")
    )
}

/// Rows for one store call.
#[derive(Debug)]
struct Batch {
    /// At most one row per normalised email.
    rows: Vec<ImportRow>,
    /// Rows whose email an earlier batch already sent.
    repeats: u64,
    /// Line of the last row added, for error messages.
    last_line: u64,
}

/// Whether [`RowBatcher::push`] added a new email or merged a duplicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Added {
    New,
    Duplicate,
}

/// Groups rows into batches and finds duplicate emails.
///
/// Emails already seen are kept as 64-bit hashes of the normalised address
/// rather than as strings, so the set costs an estimated 10 to 20 bytes per
/// distinct address whatever its length. Two addresses with the same hash
/// (about one chance in 370,000 for ten million addresses) only skew the
/// counts: `duplicates_in_file` is one too high and `updated` may be one too
/// low. The row is still sent, and merges within a batch compare the full
/// normalised strings.
struct RowBatcher {
    batch_rows: usize,
    seen: HashSet<u64>,
    rows: Vec<ImportRow>,
    /// Normalised email to position in `rows`, for the current batch only.
    positions: HashMap<String, usize>,
    repeats: u64,
    last_line: u64,
}

impl RowBatcher {
    fn new(batch_rows: usize) -> Self {
        Self {
            batch_rows,
            seen: HashSet::new(),
            rows: Vec::with_capacity(batch_rows),
            positions: HashMap::with_capacity(batch_rows),
            repeats: 0,
            last_line: 0,
        }
    }

    /// Adds a valid row. A row whose email is already in the batch is merged
    /// into it, later non-empty values winning, so the store never gets the
    /// same email twice in one call. Across batches the store merges.
    fn push(&mut self, row: ImportRow, line: u64) -> Added {
        self.last_line = line;
        let key = normalize_identity(&row.email);
        if let Some(&position) = self.positions.get(&key) {
            merge_row(&mut self.rows[position], row);
            return Added::Duplicate;
        }

        let first_in_file = self.seen.insert(hash_email(&key));
        if !first_in_file {
            self.repeats += 1;
        }
        self.positions.insert(key, self.rows.len());
        self.rows.push(row);
        if first_in_file {
            Added::New
        } else {
            Added::Duplicate
        }
    }

    fn is_full(&self) -> bool {
        self.rows.len() >= self.batch_rows
    }

    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Hands over the current batch and starts an empty one.
    fn take(&mut self) -> Batch {
        self.positions.clear();
        Batch {
            rows: std::mem::replace(&mut self.rows, Vec::with_capacity(self.batch_rows)),
            repeats: std::mem::take(&mut self.repeats),
            last_line: self.last_line,
        }
    }
}

fn hash_email(normalized: &str) -> u64 {
    // `DefaultHasher::new` uses fixed keys, so equal strings hash equally
    // for the whole run.
    let mut hasher = DefaultHasher::new();
    normalized.hash(&mut hasher);
    hasher.finish()
}

/// Copies the fields `later` sets over `earlier`, and adds its properties.
/// The email keeps the spelling of the first row.
fn merge_row(earlier: &mut ImportRow, later: ImportRow) {
    let ImportRow {
        email: _,
        first_name,
        last_name,
        phone,
        company,
        job_title,
        properties,
    } = later;
    let fields = [
        (&mut earlier.first_name, first_name),
        (&mut earlier.last_name, last_name),
        (&mut earlier.phone, phone),
        (&mut earlier.company, company),
        (&mut earlier.job_title, job_title),
    ];
    for (slot, value) in fields {
        if value.is_some() {
            *slot = value;
        }
    }
    earlier.properties.extend(properties);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `bytes` as a CSV file and returns the tally and the batches.
    fn read_bytes(bytes: &[u8], batch_rows: usize) -> anyhow::Result<(FileTally, Vec<Batch>)> {
        read_input(bytes, batch_rows)
    }

    fn read_input(input: impl Read, batch_rows: usize) -> anyhow::Result<(FileTally, Vec<Batch>)> {
        let mut batches = Vec::new();
        let tally = read_rows(
            input,
            Path::new("test.csv"),
            batch_rows,
            &AtomicU64::new(0),
            &ProgressBar::hidden(),
            |batch| {
                batches.push(batch);
                Ok(())
            },
        )?;
        Ok((tally, batches))
    }

    /// Returns the line numbers of the invalid rows.
    fn invalid_lines(tally: &FileTally) -> Vec<u64> {
        tally.invalid_samples.iter().map(|row| row.line).collect()
    }

    /// Hands out one byte per read, so a `\r\n` pair is split across reads.
    struct OneByteReads<'a>(&'a [u8]);

    impl Read for OneByteReads<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some((&first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            if buf.is_empty() {
                return Ok(0);
            }
            buf[0] = first;
            self.0 = rest;
            Ok(1)
        }
    }

    fn headers(names: &[&str]) -> csv::ByteRecord {
        csv::ByteRecord::from(names.to_vec())
    }

    fn row(email: &str) -> ImportRow {
        ImportRow {
            email: email.to_owned(),
            ..ImportRow::default()
        }
    }

    #[test]
    fn header_aliases_map_to_fields() {
        let cases = [
            ("email", Column::Email),
            ("Email Address", Column::Email),
            ("E-mail", Column::Email),
            ("email_address", Column::Email),
            ("EMAIL", Column::Email),
            ("First Name", Column::Field(Field::FirstName)),
            ("first_name", Column::Field(Field::FirstName)),
            ("firstname", Column::Field(Field::FirstName)),
            ("given name", Column::Field(Field::FirstName)),
            ("FNAME", Column::Field(Field::FirstName)),
            ("Last Name", Column::Field(Field::LastName)),
            ("last_name", Column::Field(Field::LastName)),
            ("surname", Column::Field(Field::LastName)),
            ("family name", Column::Field(Field::LastName)),
            ("LNAME", Column::Field(Field::LastName)),
            ("phone", Column::Field(Field::Phone)),
            ("Phone Number", Column::Field(Field::Phone)),
            ("mobile", Column::Field(Field::Phone)),
            ("mobile phone", Column::Field(Field::Phone)),
            ("cell", Column::Field(Field::Phone)),
            ("telephone", Column::Field(Field::Phone)),
            ("company", Column::Field(Field::Company)),
            ("company name", Column::Field(Field::Company)),
            ("organization", Column::Field(Field::Company)),
            ("organisation", Column::Field(Field::Company)),
            ("job title", Column::Field(Field::JobTitle)),
            ("title", Column::Field(Field::JobTitle)),
            ("position", Column::Field(Field::JobTitle)),
        ];
        for (header, expected) in cases {
            assert_eq!(
                recognize_header(header),
                Some(expected),
                "header {header:?}"
            );
        }
    }

    #[test]
    fn header_normalization_ignores_case_and_punctuation() {
        assert_eq!(normalize_header(" E-Mail_Address "), "emailaddress");
        assert_eq!(normalize_header("Prénom"), "prénom");
        assert_eq!(recognize_header("Favourite colour"), None);
    }

    #[test]
    fn header_maps_other_columns_to_properties() {
        let map =
            ColumnMap::from_headers(&headers(&["Email", " Favourite Colour ", "Plan"])).unwrap();
        assert_eq!(
            map.columns[1],
            Column::Property("Favourite Colour".to_owned())
        );
        assert_eq!(map.columns[2], Column::Property("Plan".to_owned()));
    }

    #[test]
    fn header_repeated_field_becomes_property() {
        let map =
            ColumnMap::from_headers(&headers(&["Email", "E-mail", "fname", "First Name"])).unwrap();
        assert_eq!(map.columns[0], Column::Email);
        assert_eq!(map.columns[1], Column::Property("E-mail".to_owned()));
        assert_eq!(map.columns[2], Column::Field(Field::FirstName));
        assert_eq!(map.columns[3], Column::Property("First Name".to_owned()));
    }

    #[test]
    fn header_blank_names_are_unnamed() {
        let map = ColumnMap::from_headers(&headers(&["email", "", "  "])).unwrap();
        assert_eq!(map.columns[1], Column::Unnamed);
        assert_eq!(map.unnamed, [2, 3]);
    }

    #[test]
    fn header_without_email_names_columns_found() {
        let err = ColumnMap::from_headers(&headers(&["Name", "Phone"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(r#""Name", "Phone""#), "{err}");
        assert!(err.contains("Email Address"), "{err}");
    }

    #[test]
    fn header_list_in_error_is_capped() {
        let names: Vec<String> = (1..=25).map(|n| format!("c{n}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let err = ColumnMap::from_headers(&headers(&names))
            .unwrap_err()
            .to_string();
        assert!(err.contains(r#""c20""#), "{err}");
        assert!(!err.contains(r#""c21""#), "{err}");
        assert!(err.contains("and 5 more"), "{err}");
    }

    #[test]
    fn header_in_invalid_utf8_is_rejected() {
        let record = csv::ByteRecord::from(vec![&b"email"[..], &b"Pr\xe9nom"[..]]);
        let err = ColumnMap::from_headers(&record).unwrap_err().to_string();
        assert!(err.contains("column 2"), "{err}");
    }

    #[test]
    fn empty_file_is_rejected() {
        let err = read_bytes(b"", 10).unwrap_err();
        assert!(format!("{err:#}").contains("the file is empty"), "{err:#}");
    }

    #[test]
    fn row_cells_are_trimmed_and_extra_cells_dropped() {
        let map = ColumnMap::from_headers(&headers(&["email", "first name", "plan"])).unwrap();
        let record = csv::ByteRecord::from(vec!["  ana@example.com ", " Ana\u{a0}", " ", "extra"]);
        let ParsedRow::Valid(row) = map.parse_row(&record) else {
            panic!("row should be valid");
        };
        assert_eq!(row.email, "ana@example.com");
        assert_eq!(row.first_name.as_deref(), Some("Ana"));
        assert!(row.properties.is_empty(), "{:?}", row.properties);
    }

    #[test]
    fn row_with_only_empty_cells_is_blank() {
        let map = ColumnMap::from_headers(&headers(&["email", "first name"])).unwrap();
        let record = csv::ByteRecord::from(vec!["", "  "]);
        assert!(matches!(map.parse_row(&record), ParsedRow::Blank));
    }

    #[test]
    fn row_limits_count_characters_not_bytes() {
        let map = ColumnMap::from_headers(&headers(&["email", "first name"])).unwrap();
        let name = "é".repeat(100);
        let record = csv::ByteRecord::from(vec!["a@example.com", name.as_str()]);
        assert!(matches!(map.parse_row(&record), ParsedRow::Valid(_)));
    }

    #[test]
    fn row_invalid_reasons() {
        let map = ColumnMap::from_headers(&headers(&[
            "email", "fname", "lname", "phone", "company", "title", "notes",
        ]))
        .unwrap();
        let long_email = format!("{}@example.com", "a".repeat(250));
        let cases: Vec<(Vec<&[u8]>, &str)> = vec![
            (vec![b"", b"Ana"], "email is missing"),
            (vec![b"not-an-email"], "email is not a valid address"),
            (vec![b"a@localhost"], "email is not a valid address"),
            (
                vec![long_email.as_bytes()],
                "email is longer than 255 characters",
            ),
            (
                vec![b"a@example.com", &[b'x'; 101]],
                "first name is longer than 100 characters",
            ),
            (
                vec![b"a@example.com", b"", &[b'x'; 101]],
                "last name is longer than 100 characters",
            ),
            (
                vec![b"a@example.com", b"", b"", &[b'1'; 51]],
                "phone is longer than 50 characters",
            ),
            (
                vec![b"a@example.com", b"", b"", b"", &[b'x'; 201]],
                "company is longer than 200 characters",
            ),
            (
                vec![b"a@example.com", b"", b"", b"", b"", &[b'x'; 201]],
                "job title is longer than 200 characters",
            ),
            (
                vec![b"a@example.com", b"", b"", b"", b"", b"", b"caf\xe9"],
                "column 7 is not valid UTF-8",
            ),
        ];
        for (cells, expected) in cases {
            let record = csv::ByteRecord::from(cells);
            match map.parse_row(&record) {
                ParsedRow::Invalid(reason) => assert_eq!(reason, expected),
                other => panic!("expected {expected:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn batcher_merges_same_email_in_one_batch() {
        let mut batcher = RowBatcher::new(10);
        let mut first = row("Ana@Example.com");
        first.first_name = Some("Ana".into());
        first.company = Some("Old Co".into());
        first.properties.insert("plan".into(), "free".into());
        first.properties.insert("city".into(), "Porto".into());
        let mut second = row(" ana@example.COM");
        second.company = Some("New Co".into());
        second.properties.insert("plan".into(), "pro".into());

        assert_eq!(batcher.push(first, 2), Added::New);
        assert_eq!(batcher.push(second, 3), Added::Duplicate);
        let batch = batcher.take();

        assert_eq!(batch.rows.len(), 1);
        let merged = &batch.rows[0];
        assert_eq!(merged.email, "Ana@Example.com");
        assert_eq!(merged.first_name.as_deref(), Some("Ana"));
        assert_eq!(merged.company.as_deref(), Some("New Co"));
        assert_eq!(merged.properties["plan"], "pro");
        assert_eq!(merged.properties["city"], "Porto");
        assert_eq!(batch.repeats, 0);
        assert_eq!(batch.last_line, 3);
    }

    #[test]
    fn batcher_counts_repeats_of_earlier_batches() {
        let mut batcher = RowBatcher::new(1);
        assert_eq!(batcher.push(row("a@example.com"), 2), Added::New);
        assert!(batcher.is_full());
        let first = batcher.take();
        assert_eq!(first.repeats, 0);

        assert_eq!(batcher.push(row("A@EXAMPLE.COM"), 3), Added::Duplicate);
        let second = batcher.take();
        assert_eq!(second.rows.len(), 1);
        assert_eq!(second.repeats, 1);
        assert!(batcher.is_empty());
    }

    #[test]
    fn batches_hold_batch_rows_distinct_emails() {
        let mut csv = String::from("email\n");
        for n in 0..5 {
            csv.push_str(&format!("user{n}@example.com\nUSER{n}@example.com\n"));
        }
        let (tally, batches) = read_bytes(csv.as_bytes(), 2).unwrap();

        // user0 and USER0 merge in the first batch. Each later upper-case
        // row opens the next batch as a repeat of the one before.
        let sizes: Vec<usize> = batches.iter().map(|batch| batch.rows.len()).collect();
        assert_eq!(sizes, [2, 2, 2, 2, 1]);
        let repeats: Vec<u64> = batches.iter().map(|batch| batch.repeats).collect();
        assert_eq!(repeats, [0, 1, 1, 1, 1]);
        assert_eq!(tally.rows, 10);
        assert_eq!(tally.duplicates_in_file, 5);
    }

    /// Returns a file with every kind of line break and a multi-line field,
    /// and the lines its data rows start on. Each data row has an invalid
    /// email, so its line shows up in the samples.
    fn lines_fixture(newline: &str) -> (String, Vec<u64>) {
        let lines = [
            "email,notes",  // 1
            "",             // 2
            "bad1,x",       // 3
            "bad2,\"multi", // 4
            "line\"",       // 5
            "",             // 6
            "",             // 7
            "bad3,y",       // 8
            "bad4,\"a,b\"", // 9
        ];
        (lines.join(newline), vec![3, 4, 8, 9])
    }

    #[test]
    fn line_numbers_follow_the_file() {
        for newline in ["\n", "\r\n", "\r"] {
            let (csv, expected) = lines_fixture(newline);
            let (tally, _) = read_bytes(csv.as_bytes(), 10).unwrap();
            assert_eq!(invalid_lines(&tally), expected, "newline {newline:?}");

            let with_final_newline = format!("{csv}{newline}");
            let (tally, _) = read_bytes(with_final_newline.as_bytes(), 10).unwrap();
            assert_eq!(invalid_lines(&tally), expected, "final newline {newline:?}");
        }
    }

    #[test]
    fn line_numbers_survive_split_reads() {
        for newline in ["\n", "\r\n", "\r"] {
            let (csv, expected) = lines_fixture(newline);
            let (tally, _) = read_input(OneByteReads(csv.as_bytes()), 10).unwrap();
            assert_eq!(invalid_lines(&tally), expected, "newline {newline:?}");
        }
    }

    #[test]
    fn line_numbers_skip_byte_order_mark() {
        let csv = b"\xef\xbb\xbfPlan,Email\r\nfree,bad\r\npro,ok@example.com\r\n";

        let (tally, batches) = read_bytes(csv, 10).unwrap();
        assert_eq!(invalid_lines(&tally), [2]);
        assert_eq!(batches[0].rows[0].properties["Plan"], "pro");

        // Read a byte at a time, the mark reaches the header cell.
        let (tally, batches) = read_input(OneByteReads(csv), 10).unwrap();
        assert_eq!(invalid_lines(&tally), [2]);
        assert_eq!(batches[0].rows[0].properties["Plan"], "pro");
    }

    #[test]
    fn invalid_utf8_row_is_skipped() {
        let csv =
            b"email,first name\na@example.com,Ana\nb@example.com,Jos\xe9\nc@example.com,Chi\n";
        let (tally, batches) = read_bytes(csv, 10).unwrap();
        assert_eq!(tally.rows, 3);
        assert_eq!(tally.invalid, 1);
        assert_eq!(tally.invalid_samples[0].line, 3);
        assert_eq!(
            tally.invalid_samples[0].reason,
            "column 2 is not valid UTF-8"
        );
        assert_eq!(batches[0].rows.len(), 2);
    }

    #[test]
    fn invalid_samples_stop_at_the_maximum() {
        let mut csv = String::from("email\n");
        for _ in 0..25 {
            csv.push_str("nope\n");
        }
        let (tally, _) = read_bytes(csv.as_bytes(), 10).unwrap();
        assert_eq!(tally.invalid, 25);
        assert_eq!(tally.invalid_samples.len(), MAX_INVALID_SAMPLES);
        assert_eq!(tally.invalid_samples[19].line, 21);
    }

    #[test]
    fn line_breaks_count_crlf_once() {
        assert_eq!(count_line_breaks(b"a\r\nb\nc\rd"), 3);
        assert_eq!(count_line_breaks(b"\r\r\n\n"), 3);
        assert_eq!(count_line_breaks(b"plain"), 0);
    }

    #[test]
    fn summary_display_lists_invalid_lines() {
        let summary = ImportSummary {
            rows: 30,
            created: 4,
            updated: 2,
            duplicates_in_file: 1,
            invalid: 23,
            invalid_samples: vec![
                InvalidRow {
                    line: 7,
                    reason: "email is missing".into(),
                },
                InvalidRow {
                    line: 9,
                    reason: "email is not a valid address".into(),
                },
            ],
        };
        let text = summary.to_string();
        assert!(
            text.starts_with("Rows read:                     30\n"),
            "{text}"
        );
        assert!(
            text.contains("Contacts created:               4\n"),
            "{text}"
        );
        assert!(text.contains("\n  line 7: email is missing\n"), "{text}");
        assert!(text.ends_with("\n  and 21 more invalid rows"), "{text}");
    }

    #[test]
    fn progress_bar_builds_with_its_template() {
        let bar = progress_bar(true, 1024, Arc::new(AtomicU64::new(3)));
        assert_eq!(bar.length(), Some(1024));
        bar.finish_and_clear();
    }

    /// Tests against a real store: SQLite by default, PostgreSQL when
    /// `WRAPS_TEST_DATABASE_URL` is set.
    mod with_store {
        use schemas::contacts::{ContactDetail, ContactFilter, CreateContact, SubscriptionStatus};
        use schemas::topics::CreateTopic;
        use store::test_support::fresh_store;

        use super::*;

        /// Returns a file with the mess real exports contain. Lines are
        /// numbered as an editor shows them.
        fn messy_csv() -> Vec<u8> {
            let long_name = "x".repeat(101);
            let lines: Vec<Vec<u8>> = vec![
                // 1: byte order mark, ESP column names, one unknown column.
                b"\xef\xbb\xbfEmail Address,First Name,LNAME,Company,Favourite Colour".to_vec(),
                // 2: quoted field with a comma.
                b"ana@example.com,Ana,Silva,\"Acme, Inc.\",blue".to_vec(),
                // 3: blank line.
                b"".to_vec(),
                // 4: non-ASCII name and domain.
                "zo\u{eb}@ex\u{e4}mple.de,Zo\u{eb},M\u{fc}ller,,"
                    .as_bytes()
                    .to_vec(),
                // 5: line 2 again in other case, with a cell beyond the header.
                b"ANA@Example.COM,,Souza,,green,extra".to_vec(),
                // 6: invalid address.
                b"not-an-email,Bob,,,".to_vec(),
                // 7: first name over 100 characters.
                format!("long@example.com,{long_name},,,").into_bytes(),
                // 8: invalid UTF-8 (Latin-1 e-acute).
                b"jose@example.com,Jos\xe9,,,".to_vec(),
                // 9 and 10: quoted field with a line break.
                b"multi@example.com,Mo,Line,\"Two\r\nLines Ltd\",".to_vec(),
                // 11: blank line.
                b"".to_vec(),
                // 12: short row for a contact that exists before the import.
                b"carl@example.com,Carl".to_vec(),
            ];
            let mut csv = lines.join(&b"\r\n"[..]);
            csv.extend_from_slice(b"\r\n");
            csv
        }

        async fn org_with_topic(store: &Store) -> (OrgId, TopicId) {
            let org = store.create_org("Import test", "free").await.unwrap().id;
            let topic = CreateTopic {
                name: Some("Newsletter".into()),
                slug: Some("newsletter".into()),
                description: None,
                double_opt_in: Some(false),
            };
            let topic = store.create_topic(org, &topic).await.unwrap().id;
            (org, topic)
        }

        async fn contact_by_email(store: &Store, org: OrgId, email: &str) -> ContactDetail {
            let id = store
                .resolve_contact(org, email)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("no contact for {email}"));
            store.get_contact(org, id).await.unwrap().unwrap()
        }

        async fn contact_count(store: &Store, org: OrgId) -> i64 {
            let filter = ContactFilter {
                page: 1,
                page_size: 100,
                ..ContactFilter::default()
            };
            store.list_contacts(org, &filter).await.unwrap().1
        }

        /// Options with no topic, batches of 1000 rows and no progress bar.
        fn options_for(org: OrgId, path: impl Into<PathBuf>) -> ImportOptions {
            ImportOptions {
                org,
                path: path.into(),
                topic_slug: None,
                batch_rows: 1000,
                progress: false,
            }
        }

        fn write_file(dir: &tempfile::TempDir, bytes: &[u8]) -> PathBuf {
            let path = dir.path().join("contacts.csv");
            std::fs::write(&path, bytes).unwrap();
            path
        }

        #[tokio::test]
        async fn import_messy_file() {
            let store = fresh_store().await;
            let (org, topic) = org_with_topic(&store).await;
            let existing = CreateContact {
                email: Some("Carl@Example.com".into()),
                first_name: Some("Karl".into()),
                ..CreateContact::default()
            };
            store.create_contact(org, &existing).await.unwrap();

            let dir = tempfile::tempdir().unwrap();
            let mut options = options_for(org, write_file(&dir, &messy_csv()));
            options.topic_slug = Some("newsletter".into());
            options.batch_rows = 2;
            let summary = import_contacts(&store, &options).await.unwrap();

            assert_eq!(summary.rows, 8);
            assert_eq!(summary.created, 3);
            assert_eq!(summary.updated, 1);
            assert_eq!(summary.duplicates_in_file, 1);
            assert_eq!(summary.invalid, 3);
            let invalid: Vec<(u64, &str)> = summary
                .invalid_samples
                .iter()
                .map(|row| (row.line, row.reason.as_str()))
                .collect();
            assert_eq!(
                invalid,
                [
                    (6, "email is not a valid address"),
                    (7, "first name is longer than 100 characters"),
                    (8, "column 2 is not valid UTF-8"),
                ]
            );
            assert_eq!(contact_count(&store, org).await, 4);

            // Lines 2 and 5 became one contact: line 5 set the last name and
            // the colour, and its empty first name kept line 2's.
            let ana = contact_by_email(&store, org, "ana@example.com").await;
            assert_eq!(ana.contact.email.as_deref(), Some("ana@example.com"));
            assert_eq!(ana.contact.first_name.as_deref(), Some("Ana"));
            assert_eq!(ana.contact.last_name.as_deref(), Some("Souza"));
            assert_eq!(ana.contact.company.as_deref(), Some("Acme, Inc."));
            assert_eq!(ana.contact.properties.len(), 1);
            assert_eq!(ana.contact.properties["Favourite Colour"], "green");

            let zoe = contact_by_email(&store, org, "zo\u{eb}@ex\u{e4}mple.de").await;
            assert_eq!(zoe.contact.first_name.as_deref(), Some("Zo\u{eb}"));
            assert_eq!(zoe.contact.last_name.as_deref(), Some("M\u{fc}ller"));

            let multi = contact_by_email(&store, org, "multi@example.com").await;
            assert_eq!(multi.contact.company.as_deref(), Some("Two\r\nLines Ltd"));

            // The import matches the existing contact case-insensitively and
            // keeps its stored spelling.
            let carl = contact_by_email(&store, org, "Carl@Example.com").await;
            assert_eq!(carl.contact.first_name.as_deref(), Some("Carl"));

            for detail in [&ana, &zoe, &multi, &carl] {
                assert_eq!(detail.topics.len(), 1, "{:?}", detail.contact.email);
                assert_eq!(detail.topics[0].topic_id, topic);
                assert_eq!(detail.topics[0].status, SubscriptionStatus::Subscribed);
            }
        }

        #[tokio::test]
        async fn import_twice_updates_every_contact() {
            let store = fresh_store().await;
            let (org, _) = org_with_topic(&store).await;
            let dir = tempfile::tempdir().unwrap();
            let options = options_for(org, write_file(&dir, &messy_csv()));

            let first = import_contacts(&store, &options).await.unwrap();
            let second = import_contacts(&store, &options).await.unwrap();

            assert_eq!(first.created, 4);
            assert_eq!(first.updated, 0);
            assert_eq!(second.created, 0);
            assert_eq!(second.updated, 4);
            assert_eq!(second.duplicates_in_file, 1);
            assert_eq!(contact_count(&store, org).await, 4);
        }

        #[tokio::test]
        async fn unknown_topic_fails_before_reading() {
            let store = fresh_store().await;
            let (org, _) = org_with_topic(&store).await;
            let mut options = options_for(org, "/nonexistent/contacts.csv");
            options.topic_slug = Some("newsleter".into());

            let err = import_contacts(&store, &options).await.unwrap_err();

            assert!(
                err.to_string().contains(r#"topic "newsleter" not found"#),
                "{err:#}"
            );
        }

        #[tokio::test]
        async fn header_without_email_writes_nothing() {
            let store = fresh_store().await;
            let (org, _) = org_with_topic(&store).await;
            let dir = tempfile::tempdir().unwrap();
            let path = write_file(&dir, b"Name,Phone\nAna,123\n");

            let err = import_contacts(&store, &options_for(org, path))
                .await
                .unwrap_err();

            assert!(
                format!("{err:#}").contains(r#"found columns "Name", "Phone""#),
                "{err:#}"
            );
            assert_eq!(contact_count(&store, org).await, 0);
        }

        #[tokio::test]
        async fn batch_size_zero_is_rejected() {
            let store = fresh_store().await;
            let mut options = options_for(OrgId::new(), "contacts.csv");
            options.batch_rows = 0;

            let err = import_contacts(&store, &options).await.unwrap_err();

            assert!(err.to_string().contains("invalid batch size 0"), "{err:#}");
        }
    }
}
