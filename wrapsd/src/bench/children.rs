//! The benchmark's child processes: `wrapsd` subcommands started from this
//! executable, each writing its output to a log file and killed when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Lines of a child's log quoted in an error about it.
const LOG_TAIL_LINES: usize = 20;

/// A running `wrapsd` subcommand. Dropping it kills the process with
/// SIGKILL, and [`ChildProcess::stop`] sends SIGTERM first.
pub struct ChildProcess {
    name: &'static str,
    child: tokio::process::Child,
    pid: u32,
    log_path: PathBuf,
}

impl ChildProcess {
    /// Starts `wrapsd <args>` with `env` set. `WRAPS_*` variables of this
    /// process are not passed on, so settings of the caller's shell cannot
    /// change the measured setup; `RUST_LOG` is `info`.
    pub fn start(
        name: &'static str,
        args: &[&str],
        env: &[(&str, String)],
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the path of this executable")?;
        let log_path = log_dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;

        let mut command = tokio::process::Command::new(exe);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("WRAPS_") {
                command.env_remove(key);
            }
        }
        command.env("RUST_LOG", "info").env("NO_COLOR", "1");
        for (key, value) in env {
            command.env(key, value);
        }

        let child = command
            .spawn()
            .with_context(|| format!("cannot start `wrapsd {}`", args.join(" ")))?;
        let pid = child
            .id()
            .with_context(|| format!("`wrapsd {name}` exited at once"))?;
        Ok(Self {
            name,
            child,
            pid,
            log_path,
        })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Returns an error with the end of the process's log when it has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(self.exited_error(status)),
        }
    }

    /// Waits for the process to exit and fails unless it exited with 0.
    pub async fn wait_success(mut self, timeout: Duration) -> anyhow::Result<()> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .with_context(|| {
                format!("`wrapsd {}` did not finish within {timeout:?}", self.name)
            })??;
        if status.success() {
            Ok(())
        } else {
            Err(self.exited_error(status))
        }
    }

    /// Sends SIGTERM, waits up to `grace` for a clean shutdown, then kills.
    pub async fn stop(mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // NOTE: std has no SIGTERM and this crate forbids the unsafe libc
        // call, so the signal goes through kill(1), by process id.
        let signalled = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if signalled && tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
            return;
        }
        eprintln!(
            "    `wrapsd {}` (pid {}) did not stop within {grace:?}; killing it",
            self.name, self.pid
        );
        let _ = self.child.kill().await;
    }

    /// Waits until `needle` occurs `count` times in the process's log.
    pub async fn wait_for_log(
        &mut self,
        needle: &str,
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            self.check_running()?;
            let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
            if log.matches(needle).count() >= count {
                return Ok(());
            }
            if started.elapsed() > timeout {
                bail!(
                    "`wrapsd {}` did not log {needle:?} {count} times within {timeout:?}; see {}",
                    self.name,
                    self.log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until a GET of `url` returns a success status.
    pub async fn wait_for_http(
        &mut self,
        http: &reqwest::Client,
        url: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            self.check_running()?;
            if let Ok(response) = http.get(url).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if started.elapsed() > timeout {
                bail!(
                    "`wrapsd {}` returned no success status for GET {url} within {timeout:?}; see {}",
                    self.name,
                    self.log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn exited_error(&self, status: ExitStatus) -> anyhow::Error {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        anyhow::anyhow!(
            "`wrapsd {}` exited unexpectedly ({status}); last lines of {}:\n{tail}",
            self.name,
            self.log_path.display()
        )
    }
}

/// Returns a TCP port on 127.0.0.1 that was free a moment ago. Another
/// program may take it before the child binds it, which makes the child
/// fail to start with a clear error.
pub fn free_port() -> anyhow::Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}
