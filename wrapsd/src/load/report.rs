//! The Markdown summary of a load run, written next to its JSON results and
//! printed at the end.

use std::fmt::Write as _;

use super::api_mixed::{BackendRun, Ceiling, Measured, TargetResult};
use super::generator::{OperationStats, Phase};
use super::scenario::Kind;
use super::webhook_burst::WebhookRun;
use super::LoadResults;

/// Renders the summary of `results`.
pub fn markdown(results: &LoadResults) -> String {
    let mut out = String::new();
    let scenario = &results.scenario;
    let machine = &results.machine;
    let _ = writeln!(out, "# Load scenario `{}`\n", scenario.name);
    let _ = writeln!(out, "{}\n", scenario.description.trim());
    let _ = writeln!(
        out,
        "- started {} UTC on {} CPUs, {} MiB of memory, load average {}",
        results.started_at.format("%Y-%m-%d %H:%M:%S"),
        machine.cpus,
        machine
            .memory_total_mib
            .map_or_else(|| "?".to_owned(), |mib| mib.to_string()),
        machine.load_average_at_start.as_deref().unwrap_or("?"),
    );
    let _ = writeln!(out, "- command: `{}`", results.command);
    let _ = write!(
        out,
        "- scenario file: `{}`, kind `{}`",
        results.scenario_file,
        scenario.kind.as_str()
    );
    // Only the generated data and load of api-mixed and webhook-burst use
    // the seed.
    if matches!(scenario.kind, Kind::ApiMixed | Kind::WebhookBurst) {
        let _ = write!(out, ", seed {}", scenario.seed);
    }
    out.push('\n');
    if let (Kind::WebhookBurst, Some(rate)) = (scenario.kind, scenario.rate) {
        let _ = writeln!(
            out,
            "- {} SES events/s for {} s over {} connections, for the messages of a broadcast to {} contacts",
            number(rate),
            scenario.duration_secs,
            scenario.connections(),
            thousands(scenario.contacts().unwrap_or(0)),
        );
    }
    if let (Kind::ApiMixed, Some(rate)) = (scenario.kind, scenario.rate) {
        let mix = scenario.mix();
        let total = f64::from(mix.total());
        let share = |weight: u32| 100.0 * f64::from(weight) / total;
        let _ = writeln!(
            out,
            "- {} requests/s for {} s over {} connections, {} contacts; mix {:.0}% create-contact, {:.0}% get-contact, {:.0}% get-batch",
            number(rate),
            scenario.duration_secs,
            scenario.connections(),
            thousands(scenario.contacts.unwrap_or(0)),
            share(mix.create_contact),
            share(mix.get_contact),
            share(mix.get_batch),
        );
    }
    out.push('\n');

    for run in &results.runs {
        backend_section(&mut out, run);
    }
    for run in &results.webhook_runs {
        webhook_section(&mut out, run);
    }
    if let Some(delegated) = &results.delegated {
        let _ = writeln!(out, "## `{}`\n", delegated.command);
        let _ = writeln!(
            out,
            "Exit status {}, {:.1} s. Its own summary follows.\n",
            delegated
                .exit_code
                .map_or_else(|| "none (stopped)".to_owned(), |code| code.to_string()),
            delegated.seconds
        );
        out.push_str(delegated.stdout.trim_end());
        out.push('\n');
    }
    out
}

fn backend_section(out: &mut String, run: &BackendRun) {
    measured_head(out, &run.measured);
    resources_lines(out, &run.measured);
    let setup = &run.setup;
    let _ = writeln!(
        out,
        "Setup (not part of the load): migrations {:.1} s, {} contacts imported in {:.1} s, processes started in {:.1} s, a batch to {} contacts completed in {:.1} s.",
        setup.migrate_secs,
        thousands(setup.contacts),
        setup.import_contacts_secs,
        setup.start_processes_secs,
        setup.batch_recipients,
        setup.batch_secs
    );
    let _ = writeln!(out, "Logs: `{}`.\n", run.measured.log_dir);
}

/// Writes the heading, the load's table, the ceiling and the targets.
fn measured_head(out: &mut String, run: &Measured) {
    let _ = writeln!(
        out,
        "## Backend `{}`: {}\n",
        run.backend.as_str(),
        run.processes
    );
    load_lines(out, &run.load);
    ceiling_line(out, &run.ceiling, run.share_of_ceiling);
    targets_table(out, &run.targets);
}

fn webhook_section(out: &mut String, run: &WebhookRun) {
    measured_head(out, &run.measured);

    let count = &run.count;
    let _ = writeln!(
        out,
        "\nEvents posted {}, accepted (2xx) {}, of which {} repeated an earlier envelope id. The counters {} after {:.1} s.\n",
        thousands(count.posted),
        thousands(count.accepted),
        thousands(count.accepted_repeats),
        if count.settled { "settled" } else { "were still changing at the wait's limit" },
        count.settle_secs,
    );
    let _ = writeln!(
        out,
        "| counter | expected | recorded | lost |\n|---|---|---|---|"
    );
    for check in &count.counters {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            check.counter,
            thousands(check.expected),
            signed(check.recorded),
            check.lost
        );
    }
    let _ = writeln!(
        out,
        "\n**Lost: {}.** Messages whose bounce and delivery overlapped in time (expected delivery uncertain): {}.",
        count.lost, count.unordered_messages
    );
    match &count.intake {
        Some(by_result) => {
            let results: Vec<String> = by_result
                .iter()
                .map(|(result, n)| format!("{result} {}", thousands(*n)))
                .collect();
            let _ = writeln!(
                out,
                "Intake worker, events applied by result (wrapsd metrics): {} ({} in all).",
                results.join(", "),
                thousands(by_result.values().sum())
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Intake worker counts: not readable from wrapsd's metrics."
            );
        }
    }

    resources_lines(out, &run.measured);
    let setup = &run.setup;
    let _ = writeln!(
        out,
        "Setup (not part of the load): migrations {:.1} s, {} contacts imported in {:.1} s, processes started in {:.1} s, a broadcast of {} messages completed in {:.1} s; {} events planned.",
        setup.migrate_secs,
        thousands(setup.contacts),
        setup.import_contacts_secs,
        setup.start_processes_secs,
        thousands(setup.messages as u64),
        setup.broadcast_secs,
        thousands(setup.planned_events as u64),
    );
    let _ = writeln!(out, "Logs: `{}`.\n", run.measured.log_dir);
}

fn load_lines(out: &mut String, load: &Phase) {
    operations_table(out, load);
    let _ = writeln!(
        out,
        "\nAchieved {} completed requests/s of {} targeted ({:.1}%) over {:.1} s; {} requests missed (no free connection before the end), latest send {:.1} ms after its due time.",
        number(load.achieved_per_sec),
        number(load.target_per_sec),
        100.0 * load.achieved_per_sec / load.target_per_sec,
        load.seconds,
        thousands(load.missed),
        load.max_start_lag_ms,
    );
    let _ = writeln!(out, "Errors by status: {}.", errors_text(&load.all));
}

fn ceiling_line(out: &mut String, ceiling: &Ceiling, share_of_ceiling: f64) {
    let saturated = &ceiling.saturated;
    let at_target = &ceiling.at_target;
    let _ = writeln!(
        out,
        "\nGenerator ceiling, with the same generator, mix and connections against {}: {} completed requests/s saturated, with {} errors. At {}/s the generator and the loopback alone add p50 {}, p99 {}. The load reached **{:.3}** of the saturated ceiling.",
        ceiling.server,
        number(saturated.achieved_per_sec),
        thousands(saturated.all.errors),
        number(at_target.target_per_sec),
        latency_text(&at_target.all, |l| l.p50_ms),
        latency_text(&at_target.all, |l| l.p99_ms),
        share_of_ceiling,
    );
}

fn targets_table(out: &mut String, targets: &[TargetResult]) {
    if targets.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n| target | at rate | p99 | budget | met |\n|---|---|---|---|---|"
    );
    for target in targets {
        let _ = writeln!(
            out,
            "| {} ({}) | {}/s | {} | < {} ms | {} |",
            target.operation,
            target.route,
            number(target.target_rate),
            target
                .p99_ms
                .map_or_else(|| "-".to_owned(), |p99| format!("{p99:.2} ms")),
            number(target.p99_budget_ms),
            if target.met { "yes" } else { "no" }
        );
    }
}

/// Writes the processes' resources, the machine's load and the
/// simulator's counters.
fn resources_lines(out: &mut String, run: &Measured) {
    let (resources, usage, simulator) = (&run.resources, &run.usage, &run.simulator);
    let _ = writeln!(
        out,
        "\n| process | pid | CPU s during the load | peak RSS |\n|---|---|---|---|"
    );
    for process in resources {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} MiB |",
            process.name,
            process.pid,
            process.cpu_secs,
            process.peak_rss_bytes as f64 / (1024.0 * 1024.0)
        );
    }
    let services: Vec<String> = usage
        .services_cpu_seconds
        .iter()
        .filter(|(_, secs)| **secs > 0.0)
        .map(|(name, secs)| format!("{name} {secs:.1} CPU s"))
        .collect();
    let _ = writeln!(
        out,
        "\nMachine busy during the load: {}{}.",
        usage
            .machine_busy_fraction
            .map_or_else(|| "?".to_owned(), |f| format!("{:.0}%", f * 100.0)),
        if services.is_empty() {
            String::new()
        } else {
            format!(
                "; services (all their clients on this machine): {}",
                services.join(", ")
            )
        }
    );
    let _ = writeln!(
        out,
        "Simulator: {} accepted, {} duplicates, {} throttled.",
        thousands(simulator.accepted),
        thousands(simulator.duplicates),
        thousands(simulator.throttled)
    );
}

fn operations_table(out: &mut String, phase: &Phase) {
    let _ = writeln!(
        out,
        "| operation | route | sent | ok | errors | completed/s | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for stats in phase.operations.iter().chain(std::iter::once(&phase.all)) {
        let cell = |pick: fn(&super::generator::Latency) -> f64| {
            stats
                .latency
                .as_ref()
                .map_or_else(|| "-".to_owned(), |l| format!("{:.2}", pick(l)))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            stats.operation,
            stats.route,
            thousands(stats.sent),
            thousands(stats.ok),
            thousands(stats.errors),
            number(stats.per_sec),
            cell(|l| l.p50_ms),
            cell(|l| l.p95_ms),
            cell(|l| l.p99_ms),
            cell(|l| l.max_ms),
        );
    }
}

fn errors_text(stats: &OperationStats) -> String {
    if stats.errors_by_status.is_empty() {
        return "none".to_owned();
    }
    stats
        .errors_by_status
        .iter()
        .map(|(status, count)| format!("{status}: {}", thousands(*count)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn latency_text(stats: &OperationStats, pick: fn(&super::generator::Latency) -> f64) -> String {
    stats
        .latency
        .as_ref()
        .map_or_else(|| "-".to_owned(), |l| format!("{:.2} ms", pick(l)))
}

/// `1234567` as `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Formats a count that may be negative with thousands separators.
fn signed(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    format!("{sign}{}", thousands(value.unsigned_abs()))
}

/// Formats a rate or budget: whole numbers with separators, small values
/// with one decimal.
fn number(value: f64) -> String {
    if value >= 100.0 || value.fract() == 0.0 {
        thousands(value.round() as u64)
    } else {
        format!("{value:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn number_keeps_small_fractions() {
        assert_eq!(number(1000.0), "1,000");
        assert_eq!(number(998.7), "999");
        assert_eq!(number(12.5), "12.5");
        assert_eq!(number(5.0), "5");
    }
}
