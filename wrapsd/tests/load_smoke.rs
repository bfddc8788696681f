//! `wrapsd load` end to end: the api-mixed and webhook-burst scenarios at a
//! tiny size on the embedded backend, through the built binary, with their
//! JSON results read back.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Target rate and seconds of the smoke run: 100 requests in all.
const RATE: u64 = 50;
const SECONDS: u64 = 2;

/// Runs `wrapsd load <scenario>` on the embedded backend at [`RATE`] for
/// [`SECONDS`] with 100 contacts, and returns its JSON results.
fn smoke_run(scenario: &str) -> Value {
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../load-tests/scenarios")
        .join(format!("{scenario}.toml"));
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_wrapsd"))
        .arg("load")
        .arg(&scenario)
        .args(["--backend", "embedded"])
        .args(["--rate", &RATE.to_string()])
        .args(["--duration", &SECONDS.to_string()])
        .args(["--contacts", "100"])
        .args(["--ceiling-secs", "1"])
        .arg("--out")
        .arg(out.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        output.status.success(),
        "wrapsd load failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        elapsed < Duration::from_secs(30),
        "the smoke run took {elapsed:?}"
    );

    let json_files: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    assert_eq!(json_files.len(), 1, "{json_files:?}");
    assert!(json_files[0].with_extension("md").is_file());
    serde_json::from_str(&std::fs::read_to_string(&json_files[0]).unwrap()).unwrap()
}

#[test]
fn api_mixed_smoke_run_has_no_errors() {
    let results = smoke_run("api-mixed");
    let runs = results["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["backend"], "embedded");
    let load = &run["load"];
    let expected = RATE * SECONDS;
    assert_eq!(load["scheduled"], expected);
    let completed = load["completed"].as_u64().unwrap();
    // A request still waiting for a connection when the duration ends is
    // missed; on a busy machine a few may be.
    assert!(
        completed + expected / 20 >= expected && completed <= expected,
        "completed {completed} of {expected}"
    );
    assert_eq!(load["all"]["errors"], 0, "{}", load["all"]);
    assert_eq!(load["all"]["ok"], completed);
    for operation in load["operations"].as_array().unwrap() {
        assert!(
            operation["sent"].as_u64().unwrap() > 0,
            "no request of {}",
            operation["operation"]
        );
        assert!(operation["latency"]["p99Ms"].as_f64().unwrap() > 0.0);
    }

    let ceiling = &run["ceiling"]["saturated"];
    assert!(ceiling["achievedPerSec"].as_f64().unwrap() > 0.0);
    assert_eq!(run["simulator"]["duplicates"], 0);
    assert!(
        run["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|process| process["name"] == "serve"
                && process["peakRssBytes"].as_u64().unwrap() > 0)
    );
}

#[test]
fn webhook_burst_smoke_run_loses_no_event() {
    let results = smoke_run("webhook-burst");
    let runs = results["webhookRuns"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["setup"]["messages"], 100);
    let load = &run["load"];
    assert_eq!(load["scheduled"], RATE * SECONDS);
    assert_eq!(load["all"]["errors"], 0, "{}", load["all"]);

    let count = &run["count"];
    assert_eq!(count["accepted"], load["all"]["ok"]);
    assert_eq!(count["settled"], true);
    assert_eq!(count["lost"], 0, "{count}");
    for check in count["counters"].as_array().unwrap() {
        assert_eq!(check["lost"], 0, "{check}");
    }
    let delivered = &count["counters"][0];
    assert_eq!(delivered["counter"], "delivered");
    assert!(delivered["recorded"].as_i64().unwrap() > 0, "{delivered}");
    // Every accepted request reached the intake worker.
    let applied: u64 = count["intake"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(Some(applied), count["accepted"].as_u64());
}
