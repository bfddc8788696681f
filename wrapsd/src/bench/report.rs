//! The results of a run: the JSON written to `--out`, the budgets they are
//! judged against and the Markdown summary printed at the end.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ceiling::Ceiling;
use super::database::TableActivity;
use super::host::{Machine, Usage};
use super::ContentKind;

/// Fan-out budget for one million recipients, in seconds.
const FAN_OUT_BUDGET_SECS: f64 = 10.0;
/// Recipients the fan-out budget is stated for.
const FAN_OUT_BUDGET_RECIPIENTS: u64 = 1_000_000;
/// End-to-end budget with a published template (`SendBulkEmail`).
const TEMPLATE_BUDGET_PER_SEC: f64 = 20_000.0;
/// End-to-end budget with per-recipient HTML (`SendEmail`).
const HTML_BUDGET_PER_SEC: f64 = 5_000.0;
/// Share of the simulator's own ceiling the pipeline must reach.
const CEILING_SHARE_BUDGET: f64 = 0.7;
/// Peak resident memory budget of the dispatcher.
const DISPATCHER_RSS_BUDGET_BYTES: u64 = 150 * 1024 * 1024;

/// Everything one run measured.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    pub started_at: DateTime<Utc>,
    pub command: String,
    pub recipients: u64,
    pub content: ContentKind,
    pub machine: Machine,
    pub ceiling: Ceiling,
    pub setup: Setup,
    pub run: Run,
    pub simulator: SimulatorCounts,
    pub memory: Memory,
    /// Resources used from the batch's creation to its completion.
    pub usage: Usage,
    /// PostgreSQL's counters of the busiest tables, since the database was
    /// created.
    pub tables: Vec<TableActivity>,
    pub targets: Vec<Target>,
    /// Directory of the child processes' logs.
    pub log_dir: String,
}

/// Preparation, not part of the budgets.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Setup {
    pub create_database_secs: f64,
    pub migrate_secs: f64,
    pub insert_contacts_secs: f64,
    pub vacuum_analyze_secs: f64,
}

/// Timeline and counters of the broadcast.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub batch_id: String,
    pub status: String,
    pub total_recipients: i64,
    pub sent: i64,
    pub failed: i64,
    pub unknown: i64,
    pub skipped: i64,
    /// Response time of `POST /v1/batch`, which counts the audience.
    pub post_secs: f64,
    /// From the batch's `createdAt` until the dispatcher started freezing its
    /// audience (`fanned_out_at`, stored when the fan-out transaction starts).
    pub queue_to_fan_out_secs: f64,
    /// From `fanned_out_at` until the fan-out's commit was seen, by polling
    /// every 50 ms; an upper bound of the fan-out transaction.
    pub fan_out_secs: f64,
    /// From the fan-out's commit until the first recipient was recorded sent.
    pub fan_out_to_first_send_secs: Option<f64>,
    /// From the POST until `completedAt`.
    pub end_to_end_secs: f64,
    pub end_to_end_per_sec: f64,
    /// From the fan-out's commit until `completedAt`.
    pub send_phase_secs: f64,
    pub send_phase_per_sec: f64,
}

/// The simulator's counters after the broadcast (reset after the ceiling).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatorCounts {
    pub accepted: u64,
    pub distinct_recipients: u64,
    pub duplicates: u64,
    pub throttled: u64,
    pub calls: std::collections::BTreeMap<String, u64>,
}

/// Peak resident memory (`VmHWM`) of each child process, in bytes.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    pub dispatcher_peak_rss_bytes: u64,
    pub api_peak_rss_bytes: u64,
    pub simulator_peak_rss_bytes: u64,
}

/// One budget and whether the run met it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub name: String,
    pub budget: String,
    pub measured: String,
    /// `None` when the budget does not apply to this run's size.
    pub met: Option<bool>,
}

impl Results {
    /// Reports whether the batch's counts and the simulator's show every
    /// recipient sent exactly once: the batch completed with all N sent,
    /// and the simulator accepted N with no duplicate.
    pub fn consistent(&self) -> bool {
        let total = self.run.total_recipients;
        self.run.status == "completed"
            && total == self.recipients as i64
            && self.run.sent == total
            && self.simulator.accepted == total as u64
            && self.simulator.duplicates == 0
    }
}

/// Judges the run against the budgets. The fan-out budget is stated for one
/// million recipients only, so other sizes leave it unjudged.
pub fn targets(
    content: ContentKind,
    recipients: u64,
    run: &Run,
    ceiling: &Ceiling,
    memory: &Memory,
) -> Vec<Target> {
    let (rate_budget, ceiling_rate, call) = match content {
        ContentKind::Template => (
            TEMPLATE_BUDGET_PER_SEC,
            ceiling.bulk.recipients_per_sec,
            "SendBulkEmail",
        ),
        ContentKind::Html => (
            HTML_BUDGET_PER_SEC,
            ceiling.send_email.recipients_per_sec,
            "SendEmail",
        ),
    };
    let share = run.end_to_end_per_sec / ceiling_rate;

    vec![
        Target {
            name: "fan-out".into(),
            budget: format!(
                "< {FAN_OUT_BUDGET_SECS:.0} s for {FAN_OUT_BUDGET_RECIPIENTS} recipients"
            ),
            measured: format!("{:.2} s for {recipients} recipients", run.fan_out_secs),
            met: (recipients == FAN_OUT_BUDGET_RECIPIENTS)
                .then_some(run.fan_out_secs < FAN_OUT_BUDGET_SECS),
        },
        Target {
            name: "end-to-end throughput".into(),
            budget: format!(">= {rate_budget:.0} recipients/s"),
            measured: format!("{:.0} recipients/s", run.end_to_end_per_sec),
            met: Some(run.end_to_end_per_sec >= rate_budget),
        },
        Target {
            name: format!("share of the simulator's {call} ceiling"),
            budget: format!(">= {CEILING_SHARE_BUDGET:.2} of {ceiling_rate:.0}/s"),
            measured: format!("{share:.2}"),
            met: Some(share >= CEILING_SHARE_BUDGET),
        },
        Target {
            name: "dispatcher peak RSS".into(),
            budget: format!("< {} MiB", DISPATCHER_RSS_BUDGET_BYTES / (1024 * 1024)),
            measured: format!("{:.1} MiB", mib(memory.dispatcher_peak_rss_bytes)),
            met: Some(memory.dispatcher_peak_rss_bytes < DISPATCHER_RSS_BUDGET_BYTES),
        },
    ]
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Renders the summary as Markdown.
pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    let run = &results.run;
    let machine = &results.machine;
    let ceiling = &results.ceiling;

    let _ = writeln!(
        out,
        "## wrapsd bench-broadcast, {} recipients, {} content",
        results.recipients,
        results.content.as_str()
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "`{}`, started {}",
        results.command,
        results.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ =
        writeln!(
        out,
        "Machine: {} CPUs, {} MiB RAM, Linux {}, PostgreSQL {} ({}), Redis {}, load average at start {}",
        machine.cpus,
        machine.memory_total_mib.map_or("?".into(), |m| m.to_string()),
        machine.kernel.as_deref().unwrap_or("?"),
        machine.postgres_version,
        machine.postgres_settings,
        machine.redis_version,
        machine.load_average_at_start.as_deref().unwrap_or("?"),
    );
    let _ = writeln!(out);

    let _ = writeln!(out, "| measure | value |");
    let _ = writeln!(out, "|---|---|");
    let mut row = |name: &str, value: String| {
        let _ = writeln!(out, "| {name} | {value} |");
    };
    row(
        "simulator ceiling, SendBulkEmail",
        format!(
            "{:.0} recipients/s ({} in flight); CPU: {}",
            ceiling.bulk.recipients_per_sec,
            ceiling.concurrency,
            usage_summary(&ceiling.bulk.usage)
        ),
    );
    row(
        "simulator ceiling, SendEmail",
        format!(
            "{:.0} messages/s ({} in flight); CPU: {}",
            ceiling.send_email.recipients_per_sec,
            ceiling.concurrency,
            usage_summary(&ceiling.send_email.usage)
        ),
    );
    row(
        "setup (not budgeted)",
        format!(
            "database {:.1} s, migrate {:.1} s, insert contacts {:.1} s, vacuum analyze {:.1} s",
            results.setup.create_database_secs,
            results.setup.migrate_secs,
            results.setup.insert_contacts_secs,
            results.setup.vacuum_analyze_secs
        ),
    );
    row("POST /v1/batch", format!("{:.2} s", run.post_secs));
    row(
        "created to fan-out start",
        format!("{:.2} s", run.queue_to_fan_out_secs),
    );
    row("fan-out", format!("{:.2} s", run.fan_out_secs));
    row(
        "fan-out to first send",
        run.fan_out_to_first_send_secs
            .map_or("?".into(), |secs| format!("{secs:.2} s")),
    );
    row(
        "end to end (POST to completed)",
        format!(
            "{:.1} s, {:.0} recipients/s",
            run.end_to_end_secs, run.end_to_end_per_sec
        ),
    );
    row(
        "send phase (fan-out end to completed)",
        format!(
            "{:.1} s, {:.0} recipients/s",
            run.send_phase_secs, run.send_phase_per_sec
        ),
    );
    row(
        "batch",
        format!(
            "{}: total {}, sent {}, failed {}, unknown {}, skipped {}",
            run.status, run.total_recipients, run.sent, run.failed, run.unknown, run.skipped
        ),
    );
    row(
        "simulator",
        format!(
            "accepted {}, distinct {}, duplicates {}, throttled {}",
            results.simulator.accepted,
            results.simulator.distinct_recipients,
            results.simulator.duplicates,
            results.simulator.throttled
        ),
    );
    row(
        "peak RSS",
        format!(
            "dispatcher {:.1} MiB, api {:.1} MiB, simulator {:.1} MiB",
            mib(results.memory.dispatcher_peak_rss_bytes),
            mib(results.memory.api_peak_rss_bytes),
            mib(results.memory.simulator_peak_rss_bytes)
        ),
    );
    row(
        "CPU and disk, POST to completed",
        usage_summary(&results.usage),
    );
    let _ = writeln!(out);

    let _ = writeln!(
        out,
        "| table | updates | HOT updates | dead tuples | heap blocks read | index blocks read | size | analyzed |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for table in &results.tables {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} MiB | {} |",
            table.table,
            table.updates,
            table.hot_updates,
            table.dead_tuples,
            table.heap_blocks_read,
            table.index_blocks_read,
            table.total_size_mib,
            if table.analyzed { "yes" } else { "no" }
        );
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "| target | budget | measured | met |");
    let _ = writeln!(out, "|---|---|---|---|");
    for target in &results.targets {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            target.name,
            target.budget,
            target.measured,
            match target.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not judged",
            }
        );
    }
    out
}

fn usage_summary(usage: &Usage) -> String {
    let mut parts = vec![format!(
        "machine busy {}",
        usage
            .machine_busy_fraction
            .map_or("?".into(), |share| format!("{:.0}%", share * 100.0))
    )];
    let processes = usage
        .processes_cpu_seconds
        .iter()
        .chain(&usage.services_cpu_seconds);
    for (name, seconds) in processes {
        parts.push(format!("{name} {seconds:.1} s"));
    }
    parts.push(format!("disk writes {:.0} MiB", usage.disk_written_mib));
    parts.join(", ")
}
