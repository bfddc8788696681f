//! Readings of Linux's `/proc` that show where a run spent its time: the
//! machine, the peak memory of the child processes, CPU time and disk
//! writes. Every reading is best effort, and empty off Linux.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// Clock ticks per second of the CPU times in `/proc` (`USER_HZ`), which
/// Linux fixes at 100 for user space on x86 and ARM.
const TICKS_PER_SEC: f64 = 100.0;

/// Other processes whose CPU time is summed by command name: the database
/// and the queue the pipeline writes to. They also serve other clients of
/// this machine, so their share is an estimate.
const SERVICES: [&str; 2] = ["postgres", "redis-server"];

/// The machine a run measured.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub cpus: usize,
    pub memory_total_mib: Option<u64>,
    pub kernel: Option<String>,
    /// The 1, 5 and 15 minute load averages when the run started.
    pub load_average_at_start: Option<String>,
    pub postgres_version: String,
    /// Write-related settings of the PostgreSQL server, `name=value`.
    pub postgres_settings: String,
    pub redis_version: String,
}

impl Machine {
    pub fn read(
        postgres_version: String,
        postgres_settings: String,
        redis_version: String,
    ) -> Self {
        let memory_total_mib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| status_kib(&text, "MemTotal:"))
            .map(|kib| kib / 1024);
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_total_mib,
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            load_average_at_start: load_average(),
            postgres_version,
            postgres_settings,
            redis_version,
        }
    }
}

/// Returns the 1, 5 and 15 minute load averages from `/proc/loadavg`.
pub fn load_average() -> Option<String> {
    let text = read_trimmed("/proc/loadavg")?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_owned())
}

/// Parses a `kB` value of `/proc/<pid>/status` or `/proc/meminfo`, such as
/// `VmHWM:`.
fn status_kib(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// Memory of a process: peak resident set (`VmHWM`) and current (`VmRSS`),
/// in bytes.
fn memory_of(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let peak = status_kib(&text, "VmHWM:")?;
    let current = status_kib(&text, "VmRSS:")?;
    Some((peak * 1024, current * 1024))
}

/// User plus system CPU ticks of a process, all its threads included.
fn cpu_ticks_of(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may contain spaces. The fields after
    // it start at field 3 (state), so utime (14) and stime (15) are at 11
    // and 12.
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

/// Peak and current memory of the watched processes, updated every second
/// by [`MemorySampler::spawn`].
pub struct MemorySampler {
    pids: Vec<(&'static str, u32)>,
    peaks: Vec<AtomicU64>,
    current: Vec<AtomicU64>,
}

impl MemorySampler {
    /// Starts sampling `/proc/<pid>/status` of each named process every
    /// second until the returned handle is aborted.
    pub fn spawn(pids: Vec<(&'static str, u32)>) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let sampler = Arc::new(Self {
            peaks: pids.iter().map(|_| AtomicU64::new(0)).collect(),
            current: pids.iter().map(|_| AtomicU64::new(0)).collect(),
            pids,
        });
        let task = tokio::spawn({
            let sampler = sampler.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    sampler.sample();
                }
            }
        });
        (sampler, task)
    }

    /// Reads every process once; the peak only grows.
    pub fn sample(&self) {
        for (index, (_, pid)) in self.pids.iter().enumerate() {
            if let Some((peak, current)) = memory_of(*pid) {
                self.peaks[index].fetch_max(peak, Ordering::Relaxed);
                self.current[index].store(current, Ordering::Relaxed);
            }
        }
    }

    /// Peak resident memory of `name` in bytes; 0 when never read.
    pub fn peak(&self, name: &str) -> u64 {
        self.index(name)
            .map_or(0, |index| self.peaks[index].load(Ordering::Relaxed))
    }

    /// Resident memory of `name` at the last sample, in bytes.
    pub fn current(&self, name: &str) -> u64 {
        self.index(name)
            .map_or(0, |index| self.current[index].load(Ordering::Relaxed))
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.pids.iter().position(|(n, _)| *n == name)
    }
}

/// CPU time consumed so far by the whole machine, the watched processes and
/// the services in [`SERVICES`], and the bytes written to disk.
pub struct UsageSnapshot {
    machine_busy: u64,
    machine_total: u64,
    disk_written_bytes: u64,
    processes: BTreeMap<&'static str, u64>,
    services: BTreeMap<&'static str, u64>,
}

impl UsageSnapshot {
    pub fn take(pids: &[(&'static str, u32)]) -> Self {
        let (machine_busy, machine_total) = machine_ticks().unwrap_or((0, 0));
        let processes = pids
            .iter()
            .map(|(name, pid)| (*name, cpu_ticks_of(*pid).unwrap_or(0)))
            .collect();
        Self {
            machine_busy,
            machine_total,
            disk_written_bytes: disk_written_bytes().unwrap_or(0),
            processes,
            services: service_ticks(),
        }
    }

    /// Resource use between `self` and the later snapshot `end`.
    pub fn until(&self, end: &UsageSnapshot) -> Usage {
        let seconds = |ticks: u64| ticks as f64 / TICKS_PER_SEC;
        let delta = |before: &BTreeMap<&'static str, u64>, after: &BTreeMap<&'static str, u64>| {
            after
                .iter()
                .map(|(name, ticks)| {
                    let start = before.get(name).copied().unwrap_or(0);
                    (name.to_string(), seconds(ticks.saturating_sub(start)))
                })
                .collect()
        };
        let total = end.machine_total.saturating_sub(self.machine_total);
        let busy = end.machine_busy.saturating_sub(self.machine_busy);
        Usage {
            machine_busy_fraction: (total > 0).then(|| busy as f64 / total as f64),
            machine_busy_cpu_seconds: seconds(busy),
            disk_written_mib: end
                .disk_written_bytes
                .saturating_sub(self.disk_written_bytes) as f64
                / (1024.0 * 1024.0),
            processes_cpu_seconds: delta(&self.processes, &end.processes),
            services_cpu_seconds: delta(&self.services, &end.services),
        }
    }
}

/// Resources used during one phase of a run. CPU time is in CPU seconds, so
/// two busy cores for one second are two CPU seconds.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Busy share of all cores of the machine, 0 to 1, by any process.
    pub machine_busy_fraction: Option<f64>,
    pub machine_busy_cpu_seconds: f64,
    /// Written to the machine's disks by anyone, in MiB.
    pub disk_written_mib: f64,
    /// The benchmark's child processes, by name.
    pub processes_cpu_seconds: BTreeMap<String, f64>,
    /// Every process named `postgres` or `redis-server` that lived through
    /// the phase, including work for other clients of this machine. Backends
    /// that exited during the phase are missing.
    pub services_cpu_seconds: BTreeMap<String, f64>,
}

/// Busy and total ticks of all CPUs, from the first line of `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    // user nice system idle iowait irq softirq steal; guest time is already
    // part of user time.
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    if ticks.len() < 8 {
        return None;
    }
    let total: u64 = ticks.iter().sum();
    let idle = ticks[3] + ticks[4];
    Some((total - idle, total))
}

/// Bytes written to the machine's whole disks (those in `/sys/block`,
/// without loop and RAM devices), from `/proc/diskstats`.
fn disk_written_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/diskstats").ok()?;
    let mut sectors = 0;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(name) = fields.get(2) else {
            continue;
        };
        let whole_disk = std::path::Path::new("/sys/block").join(name).exists();
        if !whole_disk
            || name.starts_with("loop")
            || name.starts_with("ram")
            || name.starts_with("zram")
        {
            continue;
        }
        // Field 10 counts sectors written; a sector here is always 512 bytes.
        sectors += fields
            .get(9)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(sectors * 512)
}

/// CPU ticks of the [`SERVICES`], summed over their processes.
fn service_ticks() -> BTreeMap<&'static str, u64> {
    let mut totals: BTreeMap<&'static str, u64> = SERVICES.iter().map(|name| (*name, 0)).collect();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return totals;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        if let Some(total) = totals.get_mut(comm.trim()) {
            *total += cpu_ticks_of(pid).unwrap_or(0);
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_kib_reads_named_field() {
        let text = "Name:\twrapsd\nVmHWM:\t   81234 kB\nVmRSS:\t   70000 kB\n";
        assert_eq!(status_kib(text, "VmHWM:"), Some(81_234));
        assert_eq!(status_kib(text, "VmRSS:"), Some(70_000));
        assert_eq!(status_kib(text, "VmSwap:"), None);
    }

    #[test]
    fn own_process_has_cpu_and_memory() {
        let pid = std::process::id();
        assert!(cpu_ticks_of(pid).is_some());
        let (peak, current) = memory_of(pid).expect("no /proc/self/status");
        assert!(peak >= current, "peak {peak} below current {current}");
    }
}
