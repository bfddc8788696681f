//! Helpers of the tests that drive the built `wrapsd` binary: child
//! processes with their logs, free ports, administration commands and an
//! API client.

#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A child process, killed when dropped. Its output goes to a log file that
/// failure messages quote.
pub struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    pub fn spawn(name: &'static str, command: &mut Command, dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("cannot create a log file");
        let err = out.try_clone().expect("cannot share the log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { name, child, log }
    }

    /// Returns the last 3000 characters of the process's output.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text
            .char_indices()
            .rev()
            .nth(3000)
            .map_or(0, |(index, _)| index);
        format!("--- last output of {} ---\n{}", self.name, &text[start..])
    }

    /// Panics with the process's output when it has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited with {status}\n{}", self.name, self.tail());
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Picks `n` distinct free ports on 127.0.0.1 by binding port 0 and
/// releasing the listeners together.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Runs an administration command against `data_dir`, with `env` on top
/// (a database or Redis URL, say), and returns its trimmed stdout.
pub fn admin(data_dir: &Path, env: &[(&str, String)], args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wrapsd"));
    command
        .args(args)
        .env("WRAPS_DATA_DIR", data_dir)
        .env_remove("WRAPS_DATABASE_URL")
        .env_remove("WRAPS_REDIS_URL")
        .env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("cannot run wrapsd");
    assert!(
        output.status.success(),
        "wrapsd {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Polls `url` until it returns a success status, and panics when the
/// process exits or `limit` passes first.
pub async fn wait_ready(http: &reqwest::Client, url: &str, process: &mut Process, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        process.assert_running();
        if let Ok(response) = http.get(url).send().await {
            if response.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} was not ready within {limit:?}\n{}",
            process.tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Api {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!(
            (200..300).contains(&status),
            "POST {path} returned {status}: {reply}"
        );
        reply
    }
}
