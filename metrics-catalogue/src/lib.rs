//! Every Prometheus metric wrapsd exports, defined once.
//!
//! Code records metrics through the name constants below, so a metric
//! cannot be emitted without an entry here. [`describe`] registers the help
//! text and unit of each one with the exporter and publishes zero samples
//! for bounded label values, so dashboards find every series before the
//! first event. `docs/metrics.md` is generated from [`CATALOGUE`] by
//! [`markdown`], and a test fails when the two differ.
//!
//! Labels are bounded: route templates, status classes, outcomes, shard
//! numbers and AWS account numbers (one per connected account). No label
//! contains an email address, a contact id or free text.

use metrics::Unit;

/// The type of a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Unit,
    pub labels: &'static [&'static str],
    pub help: &'static str,
    /// Label sets published as zero at start, for metrics whose label
    /// values are known in advance.
    pub zero: &'static [&'static [(&'static str, &'static str)]],
}

macro_rules! names {
    ($($constant:ident = $name:literal;)*) => {
        $(pub const $constant: &str = $name;)*
    };
}

names! {
    API_REQUESTS = "wraps_api_requests_total";
    API_REQUEST_DURATION = "wraps_api_request_duration_seconds";
    API_RATE_LIMITED = "wraps_api_rate_limited_total";
    SENDS = "wraps_sends_total";
    SES_CALL_DURATION = "wraps_ses_call_duration_seconds";
    SES_THROTTLES = "wraps_ses_throttles_total";
    SES_MAX_SEND_RATE = "wraps_ses_max_send_rate";
    SES_PACED_RATE = "wraps_ses_paced_rate";
    SES_QUOTA_HEADROOM = "wraps_ses_quota_headroom";
    SEND_TOKENS_GRANTED = "wraps_send_tokens_granted_total";
    SEND_TOKENS_WAITED = "wraps_send_tokens_waited_total";
    SEND_TOKEN_WAIT = "wraps_send_token_wait_seconds";
    STREAM_LENGTH = "wraps_stream_length";
    STREAM_PENDING = "wraps_stream_pending";
    STREAM_LAG = "wraps_stream_lag";
    STREAM_RECLAIMED = "wraps_stream_reclaimed_total";
    STREAM_DEAD_LETTERED = "wraps_stream_dead_lettered_total";
    DISPATCHER_JOBS = "wraps_dispatcher_jobs_total";
    DISPATCHER_SHARDS_OWNED = "wraps_dispatcher_shards_owned";
    SHARD_LEASES_ACQUIRED = "wraps_shard_leases_acquired_total";
    SHARD_LEASES_LOST = "wraps_shard_leases_lost_total";
    FAN_OUT_DURATION = "wraps_batch_fan_out_duration_seconds";
    FANNED_OUT_RECIPIENTS = "wraps_batch_fanned_out_recipients_total";
    BATCHES_COMPLETED = "wraps_batches_completed_total";
    BATCHES = "wraps_batches";
    BATCHES_PAUSED = "wraps_batches_paused";
    BATCH_PAUSES = "wraps_batch_pauses_total";
    SWEEPER_REQUEUED_CHUNKS = "wraps_sweeper_requeued_chunks_total";
    UNSUBSCRIBES = "wraps_unsubscribes_total";
    WEBHOOK_REQUESTS = "wraps_webhook_requests_total";
    WEBHOOK_EVENTS = "wraps_webhook_events_total";
    WEBHOOK_APPLY_DURATION = "wraps_webhook_apply_duration_seconds";
}

/// Outcomes of a recipient in `wraps_sends_total`.
pub const SEND_OUTCOMES: [&str; 4] = ["sent", "failed", "unknown", "retry"];

/// Statuses counted by `wraps_batches`.
pub const ACTIVE_BATCH_STATUSES: [&str; 3] = ["scheduled", "queued", "processing"];

const NO_ZERO: &[&[(&str, &str)]] = &[];

/// Every metric, in the order of `docs/metrics.md`.
pub const CATALOGUE: &[Metric] = &[
    Metric {
        name: API_REQUESTS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["route", "method", "status_class"],
        help: "API responses, by route template (`/v1/contacts/{id}`), method and status class (`2xx` to `5xx`).",
        zero: NO_ZERO,
    },
    Metric {
        name: API_REQUEST_DURATION,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        labels: &["route", "method"],
        help: "Time from the request's arrival to its response headers, by route template and method.",
        zero: NO_ZERO,
    },
    Metric {
        name: API_RATE_LIMITED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "API requests rejected with 429 by the per-organisation limit.",
        zero: &[&[]],
    },
    Metric {
        name: SENDS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["outcome", "account", "channel"],
        help: "Recipients whose SES call ended, by outcome (`sent`, `failed`, `unknown` when SES may or may not have accepted, `retry` when throttled or paused and put back), AWS account and channel.",
        zero: NO_ZERO,
    },
    Metric {
        name: SES_CALL_DURATION,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        labels: &["operation"],
        help: "Duration of SES calls, by operation (`SendEmail`, `SendBulkEmail`, `GetAccount`).",
        zero: NO_ZERO,
    },
    Metric {
        name: SES_THROTTLES,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["account"],
        help: "SES calls rejected with a throttle, by AWS account.",
        zero: NO_ZERO,
    },
    Metric {
        name: SES_MAX_SEND_RATE,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["account"],
        help: "The account's `MaxSendRate` from the last `GetAccount`, in messages per second (-1 for none).",
        zero: NO_ZERO,
    },
    Metric {
        name: SES_PACED_RATE,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["account"],
        help: "The rate the pacer grants on the account now, in messages per second; below `MaxSendRate` after throttles.",
        zero: NO_ZERO,
    },
    Metric {
        name: SES_QUOTA_HEADROOM,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["account"],
        help: "Messages left in the account's rolling 24-hour quota for broadcasts, after the reserve.",
        zero: NO_ZERO,
    },
    Metric {
        name: SEND_TOKENS_GRANTED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["limiter", "lane"],
        help: "Send tokens (recipients) granted, by limiter (`account`, `organization`) and lane (`priority`, `bulk`, `any`).",
        zero: NO_ZERO,
    },
    Metric {
        name: SEND_TOKENS_WAITED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["limiter", "lane"],
        help: "Send tokens granted only after waiting for the bucket.",
        zero: NO_ZERO,
    },
    Metric {
        name: SEND_TOKEN_WAIT,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        labels: &["limiter", "lane"],
        help: "Time a request waited for its send tokens.",
        zero: NO_ZERO,
    },
    Metric {
        name: STREAM_LENGTH,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["shard"],
        help: "Entries in a shard's job stream, sampled by the shard's owner.",
        zero: NO_ZERO,
    },
    Metric {
        name: STREAM_PENDING,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["shard"],
        help: "Jobs of a shard delivered to a dispatcher and not yet acknowledged.",
        zero: NO_ZERO,
    },
    Metric {
        name: STREAM_LAG,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["shard"],
        help: "Jobs of a shard not yet delivered to any dispatcher.",
        zero: NO_ZERO,
    },
    Metric {
        name: STREAM_RECLAIMED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["shard"],
        help: "Jobs taken over from a dispatcher whose delivery lease ran out.",
        zero: NO_ZERO,
    },
    Metric {
        name: STREAM_DEAD_LETTERED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "Jobs moved to the dead letters after their maximum deliveries.",
        zero: &[&[]],
    },
    Metric {
        name: DISPATCHER_JOBS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["outcome"],
        help: "Jobs a dispatcher finished, by outcome (`done`, `failed`).",
        zero: &[&[("outcome", "done")], &[("outcome", "failed")]],
    },
    Metric {
        name: DISPATCHER_SHARDS_OWNED,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &[],
        help: "Shards whose lease this dispatcher owns.",
        zero: &[&[]],
    },
    Metric {
        name: SHARD_LEASES_ACQUIRED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "Shard leases this dispatcher acquired; after a start, each one is a takeover from a stopped or lost owner.",
        zero: &[&[]],
    },
    Metric {
        name: SHARD_LEASES_LOST,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "Shard leases this dispatcher failed to renew in time and gave up.",
        zero: &[&[]],
    },
    Metric {
        name: FAN_OUT_DURATION,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        labels: &[],
        help: "Time to freeze a batch's audience into recipients and queue its chunks.",
        zero: NO_ZERO,
    },
    Metric {
        name: FANNED_OUT_RECIPIENTS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "Recipients written by batch fan-outs.",
        zero: &[&[]],
    },
    Metric {
        name: BATCHES_COMPLETED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "Batches that reached `completed`.",
        zero: &[&[]],
    },
    Metric {
        name: BATCHES,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["status"],
        help: "Unfinished batches by status (`scheduled`, `queued`, `processing`), sampled by every dispatcher's sweeper.",
        zero: &[
            &[("status", "scheduled")],
            &[("status", "queued")],
            &[("status", "processing")],
        ],
    },
    Metric {
        name: BATCHES_PAUSED,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["reason"],
        help: "Unfinished batches that are paused, by `pausedReason`.",
        zero: &[&[("reason", "daily_quota")], &[("reason", "plan_daily_limit")]],
    },
    Metric {
        name: BATCH_PAUSES,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["reason"],
        help: "Times a chunk paused its batch, by reason.",
        zero: &[&[("reason", "daily_quota")], &[("reason", "plan_daily_limit")]],
    },
    Metric {
        name: SWEEPER_REQUEUED_CHUNKS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "Chunk jobs queued again by the sweeper because a batch made no progress.",
        zero: &[&[]],
    },
    Metric {
        name: UNSUBSCRIBES,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["scope"],
        help: "Unsubscribe link submissions (one-click or the page's button), by scope (`topic`, `all`); repeats count again.",
        zero: &[&[("scope", "topic")], &[("scope", "all")]],
    },
    Metric {
        name: WEBHOOK_REQUESTS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["envelope", "result"],
        help: "Calls of the SES event webhook, by envelope (`eventbridge`, `sns`) and result (`accepted`, `ignored`, `confirmed`, `unauthorized`, `invalid`, `error`).",
        zero: &[
            &[("envelope", "eventbridge"), ("result", "accepted")],
            &[("envelope", "sns"), ("result", "accepted")],
        ],
    },
    Metric {
        name: WEBHOOK_EVENTS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["type", "result"],
        help: "SES events applied by the intake workers, by fact (`delivery`, `open`, `bounce`, ...) and result (`applied`, `already_known`, `duplicate`, `external`).",
        zero: &[&[("type", "delivery"), ("result", "applied")]],
    },
    Metric {
        name: WEBHOOK_APPLY_DURATION,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        labels: &[],
        help: "Time to apply one read of the intake stream to the store, in one transaction.",
        zero: NO_ZERO,
    },
];

/// Registers help text and units with the installed recorder and publishes
/// the zero samples. Call once after installing the exporter.
pub fn describe() {
    for metric in CATALOGUE {
        match metric.kind {
            Kind::Counter => metrics::describe_counter!(metric.name, metric.unit, metric.help),
            Kind::Gauge => metrics::describe_gauge!(metric.name, metric.unit, metric.help),
            Kind::Histogram => {
                metrics::describe_histogram!(metric.name, metric.unit, metric.help)
            }
        }
        for labels in metric.zero {
            let labels: Vec<metrics::Label> = labels
                .iter()
                .map(|&(key, value)| metrics::Label::new(key, value))
                .collect();
            match metric.kind {
                Kind::Counter => metrics::counter!(metric.name, labels).increment(0),
                Kind::Gauge => metrics::gauge!(metric.name, labels).increment(0.0),
                Kind::Histogram => {}
            }
        }
    }
}

/// Renders the catalogue as the Markdown of `docs/metrics.md`.
pub fn markdown() -> String {
    let mut text = String::from(
        "# Metrics\n\n\
         <!-- Generated from metrics-catalogue/src/lib.rs by \
         `cargo run -p wrapsd -- metrics-doc > docs/metrics.md`; a test fails when they differ. -->\n\n\
         wrapsd serves these on its metrics listener (`WRAPS_METRICS_LISTEN`, default \
         `127.0.0.1:9464`, path `/metrics`). Histograms have the buckets 1 ms to 60 s. \
         No label contains an email address, a contact id or free text.\n\n\
         | name | type | labels | meaning |\n|---|---|---|---|\n",
    );
    for metric in CATALOGUE {
        let labels = if metric.labels.is_empty() {
            "-".to_owned()
        } else {
            metric
                .labels
                .iter()
                .map(|label| format!("`{label}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        text.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            metric.name,
            metric.kind.as_str(),
            labels,
            metric.help
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_follow_the_convention() {
        let mut seen = HashSet::new();
        for metric in CATALOGUE {
            assert!(seen.insert(metric.name), "{} listed twice", metric.name);
            assert!(metric.name.starts_with("wraps_"), "{}", metric.name);
            let counter = metric.name.ends_with("_total");
            assert_eq!(counter, metric.kind == Kind::Counter, "{}", metric.name);
            if metric.kind == Kind::Histogram {
                assert!(metric.name.ends_with("_seconds"), "{}", metric.name);
            }
            for labels in metric.zero {
                for (key, _) in labels.iter() {
                    assert!(
                        metric.labels.contains(key),
                        "{}: zero label {key}",
                        metric.name
                    );
                }
            }
            for banned in ["email", "contact", "address"] {
                assert!(
                    metric.labels.iter().all(|label| !label.contains(banned)),
                    "{} has a {banned} label",
                    metric.name
                );
            }
        }
    }

    #[test]
    fn docs_match_the_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");
        let written = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            written == markdown(),
            "docs/metrics.md is out of date: run `cargo run -p wrapsd -- metrics-doc > docs/metrics.md`"
        );
    }
}
