//! Records of accepted recipients and the counters behind `/sim/stats`.
//!
//! Records are spread over shards, each behind a mutex held only to push one record, so
//! concurrent sends rarely wait on each other. A recipient's shard is chosen by its
//! duplicate key, so each key's count lives in exactly one shard.
//!
//! Memory: a record is about 120 bytes plus the address, its subject and its own tags.
//! Subjects, template names and the call's tags are shared (`Arc`) between the
//! recipients of one call, message ids are rebuilt from a sequence number when read,
//! and rendered bodies are kept only with `SimConfig::record_content`. A duplicate key
//! is a 128-bit hash, not the strings. The ignored test `million_recipients_memory`
//! measures the whole cost: about 390 bytes per bulk recipient with a rendered subject
//! and one tag of its own (release build, x86-64 Linux).

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::tags::TagSet;

/// The message tag whose value groups recipients for duplicate counting.
pub const BATCH_ID_TAG: &str = "batchId";

const SHARD_COUNT: usize = 16;

/// The SES operations the simulator serves, for the per-operation call counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    SendEmail,
    SendBulkEmail,
    GetAccount,
    CreateEmailTemplate,
    GetEmailTemplate,
    UpdateEmailTemplate,
    DeleteEmailTemplate,
    ListEmailTemplates,
}

impl Operation {
    const ALL: [Operation; 8] = [
        Operation::SendEmail,
        Operation::SendBulkEmail,
        Operation::GetAccount,
        Operation::CreateEmailTemplate,
        Operation::GetEmailTemplate,
        Operation::UpdateEmailTemplate,
        Operation::DeleteEmailTemplate,
        Operation::ListEmailTemplates,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::SendEmail => "SendEmail",
            Operation::SendBulkEmail => "SendBulkEmail",
            Operation::GetAccount => "GetAccount",
            Operation::CreateEmailTemplate => "CreateEmailTemplate",
            Operation::GetEmailTemplate => "GetEmailTemplate",
            Operation::UpdateEmailTemplate => "UpdateEmailTemplate",
            Operation::DeleteEmailTemplate => "DeleteEmailTemplate",
            Operation::ListEmailTemplates => "ListEmailTemplates",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters of the simulator since start or the last reset.
///
/// `accepted` counts recipients, and `accepted = distinct_recipients + duplicates`: a
/// recipient accepted three times for one `batchId` adds one to `distinct_recipients`
/// and two to `duplicates`. A recipient of a message without a `batchId` tag is always
/// distinct. The other counters count calls.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SimStats {
    pub accepted: u64,
    pub distinct_recipients: u64,
    pub duplicates: u64,
    /// Send calls rejected with `TooManyRequestsException`, for the rate or injected.
    pub throttled: u64,
    /// Send calls rejected with `LimitExceededException` for the 24-hour quota.
    pub quota_rejected: u64,
    /// Send calls recorded as accepted whose response was then lost.
    pub failed_after_accept: u64,
    /// Send calls failed with an injected HTTP 500.
    pub server_errors: u64,
    /// Calls by SES operation name, whatever their outcome.
    pub calls: BTreeMap<String, u64>,
}

/// One accepted recipient, as `/sim/messages` returns it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SimMessage {
    pub message_id: String,
    /// `SendEmail` or `SendBulkEmail`.
    pub operation: String,
    /// The recipient's address as the request gave it (To, Cc or Bcc).
    pub to: String,
    /// The subject, rendered for templates; `None` for raw messages without one.
    pub subject: Option<String>,
    pub template_name: Option<String>,
    /// The message tags: `EmailTags`, or `DefaultEmailTags` overridden by the entry's
    /// `ReplacementTags`.
    pub tags: BTreeMap<String, String>,
    /// The text body; recorded only with `SimConfig::record_content`.
    pub text: Option<String>,
    /// The HTML body; recorded only with `SimConfig::record_content`.
    pub html: Option<String>,
    pub accepted_at: DateTime<Utc>,
}

/// Everything recorded for the recipients of one message.
pub(crate) struct AcceptedMessage<'a> {
    pub(crate) operation: Operation,
    pub(crate) message_seq: u64,
    pub(crate) recipients: &'a [&'a str],
    pub(crate) subject: Option<Arc<str>>,
    pub(crate) template: Option<Arc<str>>,
    pub(crate) tags: TagSet,
    pub(crate) text: Option<String>,
    pub(crate) html: Option<String>,
}

struct Record {
    ordinal: u64,
    message_seq: u64,
    accepted_at_millis: i64,
    operation: Operation,
    to: Box<str>,
    subject: Option<Arc<str>>,
    template: Option<Arc<str>>,
    tags: TagSet,
    bodies: Option<Box<(Option<String>, Option<String>)>>,
}

impl Record {
    fn batch_id(&self) -> Option<&str> {
        self.tags.get(BATCH_ID_TAG)
    }
}

#[derive(Default)]
struct Shard {
    records: Vec<Record>,
    /// Acceptances per (batchId, lower-cased address) hash.
    seen: HashMap<u128, u32>,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    distinct_recipients: AtomicU64,
    duplicates: AtomicU64,
    throttled: AtomicU64,
    quota_rejected: AtomicU64,
    failed_after_accept: AtomicU64,
    server_errors: AtomicU64,
    calls: [AtomicU64; Operation::ALL.len()],
}

/// The recorder of accepted recipients and of the call counters.
pub(crate) struct Recorder {
    shards: Box<[Mutex<Shard>]>,
    counters: Counters,
    next_ordinal: AtomicU64,
    next_message_seq: AtomicU64,
    message_id_prefix: String,
    record_content: bool,
}

impl Recorder {
    /// `message_id_prefix` makes ids unique across simulator runs; the sequence number
    /// keeps them unique within one, across resets too.
    pub(crate) fn new(record_content: bool, message_id_prefix: String) -> Self {
        Self {
            shards: (0..SHARD_COUNT).map(|_| Mutex::default()).collect(),
            counters: Counters::default(),
            next_ordinal: AtomicU64::new(0),
            next_message_seq: AtomicU64::new(0),
            message_id_prefix,
            record_content,
        }
    }

    pub(crate) fn record_content(&self) -> bool {
        self.record_content
    }

    /// Allocates a message sequence number and returns it with its SES-style id.
    pub(crate) fn next_message(&self) -> (u64, String) {
        let seq = self.next_message_seq.fetch_add(1, Ordering::Relaxed);
        (seq, self.message_id(seq))
    }

    /// Returns the id of message `seq`, shaped like SES ids:
    /// 16-8-4-4-4-12 hex groups and a `-000000` suffix.
    fn message_id(&self, seq: u64) -> String {
        format!("{}-{seq:012x}-000000", self.message_id_prefix)
    }

    pub(crate) fn record(&self, message: AcceptedMessage<'_>) {
        let accepted_at_millis = Utc::now().timestamp_millis();
        let bodies = (self.record_content && (message.text.is_some() || message.html.is_some()))
            .then(|| Box::new((message.text, message.html)));
        let batch_id = message.tags.get(BATCH_ID_TAG);

        for &to in message.recipients {
            let ordinal = self.next_ordinal.fetch_add(1, Ordering::Relaxed);
            let key = batch_id.map(|batch_id| duplicate_key(batch_id, to));
            let shard_index = match key {
                Some(key) => (key % SHARD_COUNT as u128) as usize,
                None => (ordinal % SHARD_COUNT as u64) as usize,
            };
            let record = Record {
                ordinal,
                message_seq: message.message_seq,
                accepted_at_millis,
                operation: message.operation,
                to: to.into(),
                subject: message.subject.clone(),
                template: message.template.clone(),
                tags: message.tags.clone(),
                bodies: bodies.clone(),
            };

            // Counters change under the shard lock, and a reset takes every shard lock,
            // so a reset cannot split a record from its counts.
            let mut shard = self.shard(shard_index);
            let first_time = match key {
                Some(key) => {
                    let count = shard.seen.entry(key).or_insert(0);
                    *count += 1;
                    *count == 1
                }
                None => true,
            };
            if first_time {
                self.counters
                    .distinct_recipients
                    .fetch_add(1, Ordering::Relaxed);
            } else {
                self.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            self.counters.accepted.fetch_add(1, Ordering::Relaxed);
            shard.records.push(record);
        }
    }

    pub(crate) fn count_call(&self, operation: Operation) {
        self.counters.calls[operation.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_throttled(&self) {
        self.counters.throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_quota_rejected(&self) {
        self.counters.quota_rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_failed_after_accept(&self) {
        self.counters
            .failed_after_accept
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_server_error(&self) {
        self.counters.server_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> SimStats {
        let counters = &self.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SimStats {
            accepted: load(&counters.accepted),
            distinct_recipients: load(&counters.distinct_recipients),
            duplicates: load(&counters.duplicates),
            throttled: load(&counters.throttled),
            quota_rejected: load(&counters.quota_rejected),
            failed_after_accept: load(&counters.failed_after_accept),
            server_errors: load(&counters.server_errors),
            calls: Operation::ALL
                .iter()
                .map(|op| (op.name().to_owned(), load(&counters.calls[op.index()])))
                .collect(),
        }
    }

    /// Returns up to `limit` records in acceptance order, only those tagged with
    /// `batch_id` when it is given.
    pub(crate) fn messages(&self, batch_id: Option<&str>, limit: usize) -> Vec<SimMessage> {
        let mut selected: Vec<(u64, SimMessage)> = Vec::new();
        for index in 0..SHARD_COUNT {
            let shard = self.shard(index);
            let mut matching: Vec<&Record> = shard
                .records
                .iter()
                .filter(|record| batch_id.is_none() || record.batch_id() == batch_id)
                .collect();
            matching.sort_unstable_by_key(|record| record.ordinal);
            selected.extend(
                matching
                    .into_iter()
                    .take(limit)
                    .map(|record| (record.ordinal, self.to_message(record))),
            );
        }
        selected.sort_unstable_by_key(|(ordinal, _)| *ordinal);
        selected.truncate(limit);
        selected.into_iter().map(|(_, message)| message).collect()
    }

    /// Forgets every record and zeroes every counter. Message ids keep increasing.
    pub(crate) fn reset(&self) {
        let mut shards: Vec<MutexGuard<'_, Shard>> =
            (0..SHARD_COUNT).map(|index| self.shard(index)).collect();
        for shard in &mut shards {
            **shard = Shard::default();
        }

        let counters = &self.counters;
        let all = [
            &counters.accepted,
            &counters.distinct_recipients,
            &counters.duplicates,
            &counters.throttled,
            &counters.quota_rejected,
            &counters.failed_after_accept,
            &counters.server_errors,
        ];
        for counter in all.into_iter().chain(&counters.calls) {
            counter.store(0, Ordering::Relaxed);
        }
    }

    fn to_message(&self, record: &Record) -> SimMessage {
        let (text, html) = match &record.bodies {
            Some(bodies) => (bodies.0.clone(), bodies.1.clone()),
            None => (None, None),
        };
        SimMessage {
            message_id: self.message_id(record.message_seq),
            operation: record.operation.name().to_owned(),
            to: record.to.to_string(),
            subject: record.subject.as_deref().map(str::to_owned),
            template_name: record.template.as_deref().map(str::to_owned),
            tags: record.tags.to_map(),
            text,
            html,
            accepted_at: DateTime::from_timestamp_millis(record.accepted_at_millis)
                .unwrap_or_default(),
        }
    }

    fn shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        // A shard stays consistent if a holder panicked: each update is one push and
        // one counter change.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Hashes (batch id, lower-cased bare address) to 128 bits: two SipHash runs with
/// different prefixes. At a million keys the chance of any collision is about 1e-27.
fn duplicate_key(batch_id: &str, to: &str) -> u128 {
    let address = crate::address::bare_address(to).to_lowercase();
    let half = |prefix: u8| {
        let mut hasher = DefaultHasher::new();
        (prefix, batch_id, address.as_str()).hash(&mut hasher);
        hasher.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::tags::checked_tags;
    use crate::sim::wire::MessageTag;

    fn tags(batch: Option<&str>) -> TagSet {
        let batch_tag = batch.map(|value| MessageTag {
            name: BATCH_ID_TAG.into(),
            value: value.into(),
        });
        let shared = checked_tags(batch_tag.as_slice()).unwrap();
        TagSet::new(shared.into(), Box::default())
    }

    fn record(recorder: &Recorder, to: &[&str], batch: Option<&str>) {
        let (message_seq, _) = recorder.next_message();
        recorder.record(AcceptedMessage {
            operation: Operation::SendEmail,
            message_seq,
            recipients: to,
            subject: Some("S".into()),
            template: None,
            tags: tags(batch),
            text: None,
            html: None,
        });
    }

    #[test]
    fn duplicates_count_per_batch_ignoring_case() {
        let recorder = Recorder::new(false, "p".into());
        record(&recorder, &["a@example.com"], Some("b1"));
        record(&recorder, &["A@Example.com"], Some("b1"));
        record(&recorder, &["Ann <a@example.com>"], Some("b1"));
        record(&recorder, &["a@example.com"], Some("b2"));

        let stats = recorder.stats();
        assert_eq!(stats.accepted, 4);
        assert_eq!(stats.distinct_recipients, 2);
        assert_eq!(stats.duplicates, 2);
    }

    #[test]
    fn untagged_messages_are_never_duplicates() {
        let recorder = Recorder::new(false, "p".into());
        record(&recorder, &["a@example.com"], None);
        record(&recorder, &["a@example.com"], None);
        assert_eq!(recorder.stats().distinct_recipients, 2);
        assert_eq!(recorder.stats().duplicates, 0);
    }

    #[test]
    fn messages_keep_acceptance_order_and_filter() {
        let recorder = Recorder::new(false, "p".into());
        let addresses: Vec<String> = (0..40).map(|i| format!("r{i}@example.com")).collect();
        for (i, address) in addresses.iter().enumerate() {
            let batch = if i % 2 == 0 { "even" } else { "odd" };
            record(&recorder, &[address.as_str()], Some(batch));
        }

        let even = recorder.messages(Some("even"), 5);
        let to: Vec<&str> = even.iter().map(|m| m.to.as_str()).collect();
        assert_eq!(
            to,
            [
                "r0@example.com",
                "r2@example.com",
                "r4@example.com",
                "r6@example.com",
                "r8@example.com"
            ]
        );
        assert_eq!(recorder.messages(None, 1000).len(), 40);
    }

    #[test]
    fn reset_clears_records_and_counters() {
        let recorder = Recorder::new(false, "p".into());
        recorder.count_call(Operation::SendEmail);
        record(&recorder, &["a@example.com"], Some("b"));
        recorder.reset();

        let stats = recorder.stats();
        assert_eq!(
            stats,
            SimStats {
                calls: stats.calls.clone(),
                ..SimStats::default()
            }
        );
        assert!(stats.calls.values().all(|&count| count == 0));
        assert!(recorder.messages(None, 10).is_empty());
    }

    #[test]
    fn message_ids_have_ses_shape() {
        let recorder = Recorder::new(false, "0123456789abcdef-01234567-0123-0123-0123".into());
        let (_, id) = recorder.next_message();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [16, 8, 4, 4, 4, 12, 6]);
    }

    fn resident_bytes() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    /// Records a million bulk recipients as a dispatcher sends them (shared `batchId`
    /// and `orgId` tags, an own `contactId` tag, a rendered subject) and prints the
    /// growth of resident memory per recipient.
    #[test]
    #[ignore = "measures memory; run with --release -- --ignored --nocapture"]
    fn million_recipients_memory() {
        let recorder = Recorder::new(false, "p".into());
        let before = resident_bytes();

        for call in 0..20_000u64 {
            let shared_tags = [
                MessageTag {
                    name: "batchId".into(),
                    value: "3f2c1a9e-5b7d-4c2e-9a1f-0d8e7b6c5a4f".into(),
                },
                MessageTag {
                    name: "orgId".into(),
                    value: "org_01HZXY".into(),
                },
            ];
            let shared: Arc<[crate::sim::tags::Tag]> = checked_tags(&shared_tags).unwrap().into();
            for entry in 0..50u64 {
                let own = [MessageTag {
                    name: "contactId".into(),
                    value: format!("c{call}-{entry}"),
                }];
                let tags = TagSet::new(
                    shared.clone(),
                    checked_tags(&own).unwrap().into_boxed_slice(),
                );
                let address = format!("first.last{}@example.com", call * 50 + entry);
                let (message_seq, _) = recorder.next_message();
                recorder.record(AcceptedMessage {
                    operation: Operation::SendBulkEmail,
                    message_seq,
                    recipients: &[address.as_str()],
                    subject: Some(Arc::from(format!("Hello customer {entry}"))),
                    template: Some(Arc::from("news")),
                    tags,
                    text: None,
                    html: None,
                });
            }
        }

        let per_recipient = (resident_bytes() - before) / recorder.stats().accepted;
        println!("resident memory per recorded recipient: {per_recipient} bytes");
        assert!(per_recipient < 600, "{per_recipient} bytes per recipient");
    }
}
