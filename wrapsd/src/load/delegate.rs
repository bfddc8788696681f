//! Scenario kinds that another `wrapsd` command runs: `broadcast` through
//! `wrapsd bench-broadcast` and `rate-fidelity` through
//! `wrapsd rate-fidelity`. The command runs as a child process of this
//! executable. Its progress (stderr) passes through, and its summary
//! (stdout) is printed and kept for the results.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::scenario::Scenario;
use super::{step, track, untrack};

/// How long a child gets after SIGINT (which both commands handle by
/// stopping their own processes and cleaning up) before it is killed.
pub const INTERRUPT_GRACE: Duration = Duration::from_secs(30);

/// Outcome of a delegated command.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delegated {
    /// The command line, without the executable's path.
    pub command: String,
    /// `None` when it was stopped by a signal.
    pub exit_code: Option<i32>,
    pub seconds: f64,
    /// The JSON results the command wrote, when it writes any.
    pub results: Option<Value>,
    /// Everything it printed on stdout: its summary.
    pub stdout: String,
}

impl Delegated {
    /// Checks whether the command exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Runs `wrapsd bench-broadcast` with the scenario's recipients and content,
/// its results going to `results_file`, limited to `duration_secs`.
pub async fn broadcast(
    scenario: &Scenario,
    admin_url: &str,
    redis_url: &str,
    results_file: &Path,
) -> anyhow::Result<Delegated> {
    let recipients = scenario.contacts.context("broadcast needs contacts")?;
    let content = scenario
        .content
        .map_or("template", |content| content.as_str());
    let args = vec![
        "bench-broadcast".to_owned(),
        "--recipients".to_owned(),
        recipients.to_string(),
        "--content".to_owned(),
        content.to_owned(),
        "--database-url".to_owned(),
        admin_url.to_owned(),
        "--redis-url".to_owned(),
        redis_url.to_owned(),
        "--out".to_owned(),
        results_file.display().to_string(),
        "--timeout-secs".to_owned(),
        scenario.duration_secs.to_string(),
    ];
    // bench-broadcast keeps to its own --timeout-secs; this limit only
    // catches a child that hangs in its cleanup.
    let limit = Duration::from_secs(scenario.duration_secs) + INTERRUPT_GRACE;
    let mut delegated = run_child(&args, limit).await?;
    delegated.results = std::fs::read_to_string(results_file)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    Ok(delegated)
}

/// Fails with a clear message unless this build has `wrapsd rate-fidelity`
/// with the `--rates` and `--seconds` options; returns its help text.
pub async fn check_rate_fidelity() -> anyhow::Result<String> {
    let help = help_text(&["--help"]).await?;
    if !lists_command(&help, "rate-fidelity") {
        bail!(
            "scenario kind rate-fidelity needs the `wrapsd rate-fidelity` command, which this build of wrapsd does not have (`wrapsd --help` does not list it)"
        );
    }
    let help = help_text(&["rate-fidelity", "--help"]).await?;
    for option in ["--rates", "--seconds"] {
        if !help.contains(option) {
            bail!(
                "scenario kind rate-fidelity passes {option} to `wrapsd rate-fidelity`, which does not take it (see `wrapsd rate-fidelity --help`)"
            );
        }
    }
    Ok(help)
}

/// Runs `wrapsd rate-fidelity --rates R1,R2,... --seconds S`, with
/// `--database-url` and `--redis-url` when its `help` lists them. The limit
/// allows each rate `per_rate` on top of its seconds.
pub async fn rate_fidelity(
    scenario: &Scenario,
    help: &str,
    admin_url: &str,
    redis_url: &str,
    per_rate: Duration,
) -> anyhow::Result<Delegated> {
    let rates = scenario
        .rates
        .as_ref()
        .context("rate-fidelity needs rates")?;
    let joined = rates
        .iter()
        .map(|rate| rate.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut args = vec![
        "rate-fidelity".to_owned(),
        "--rates".to_owned(),
        joined,
        "--seconds".to_owned(),
        scenario.duration_secs.to_string(),
    ];
    for (option, value) in [("--database-url", admin_url), ("--redis-url", redis_url)] {
        if help.contains(option) {
            args.extend([option.to_owned(), value.to_owned()]);
        }
    }
    let limit = (Duration::from_secs(scenario.duration_secs) + per_rate) * rates.len() as u32;
    run_child(&args, limit).await
}

/// Checks whether the `Commands:` section of `wrapsd --help` lists `name`.
fn lists_command(help: &str, name: &str) -> bool {
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with(' '))
        .any(|line| line.split_whitespace().next() == Some(name))
}

async fn help_text(args: &[&str]) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot find the path of this executable")?;
    let output = tokio::process::Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run `wrapsd {}`", args.join(" ")))?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `wrapsd <args>` with stderr passed through and stdout printed and
/// kept. Past `limit` it gets SIGINT, and SIGKILL [`INTERRUPT_GRACE`]
/// later.
async fn run_child(args: &[String], limit: Duration) -> anyhow::Result<Delegated> {
    let exe = std::env::current_exe().context("cannot find the path of this executable")?;
    let command = format!("wrapsd {}", args.join(" "));
    step(&format!("running `{command}`"));
    let started = Instant::now();
    let mut child = tokio::process::Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start `{command}`"))?;
    let pid = child
        .id()
        .with_context(|| format!("`{command}` exited at once"))?;
    track(pid, true);

    let stdout = child.stdout.take().context("no stdout of the child")?;
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut captured = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            println!("{line}");
            captured.push_str(&line);
            captured.push('\n');
        }
        captured
    });

    let status = match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => Some(status?),
        Err(_) => {
            eprintln!(
                "    `{command}` still runs after {} s; interrupting it",
                limit.as_secs()
            );
            signal(pid, "-INT");
            match tokio::time::timeout(INTERRUPT_GRACE, child.wait()).await {
                Ok(status) => Some(status?),
                Err(_) => {
                    let _ = child.kill().await;
                    None
                }
            }
        }
    };
    untrack(pid);
    let stdout = reader.await.unwrap_or_default();
    Ok(Delegated {
        command,
        exit_code: status.and_then(|status| status.code()),
        seconds: started.elapsed().as_secs_f64(),
        results: None,
        stdout,
    })
}

/// Sends a signal to one process by id through kill(1); this crate forbids
/// the unsafe libc call.
pub fn signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .stdin(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP: &str = "Self-hosted Wraps Platform API\n\nUsage: wrapsd [OPTIONS] <COMMAND>\n\nCommands:\n  serve            Run the API\n  bench-broadcast  Benchmark one broadcast\n  help             Print this message\n\nOptions:\n      --config <FILE>\n";

    #[test]
    fn lists_command_reads_the_commands_section() {
        assert!(lists_command(HELP, "bench-broadcast"));
        assert!(lists_command(HELP, "serve"));
        assert!(!lists_command(HELP, "rate-fidelity"));
        assert!(!lists_command(HELP, "Run"));
        assert!(!lists_command(HELP, "--config"));
    }
}
