//! What `/proc` says about a process: memory, CPU, threads and file descriptors, once or sampled.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Memory and CPU of a process, from `/proc`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcSample {
    pub rss_kb: u64,
    /// Peak resident set size (`VmHWM`).
    pub hwm_kb: u64,
    pub cpu_seconds: f64,
    pub threads: u64,
    /// Open file descriptors (sockets included).
    pub fds: u64,
}

/// Reads `/proc/PID/status` and `/proc/PID/stat`; `None` once the process is gone.
pub fn proc_sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let cpu_seconds = cpu_seconds(&pid.to_string(), Cpu::Own)?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count() as u64).unwrap_or(0);
    Some(ProcSample { rss_kb: kb("VmRSS:"), hwm_kb: kb("VmHWM:"), cpu_seconds, threads: kb("Threads:"), fds })
}

/// Whose CPU time: the process's own, or that of its children it waited for.
#[derive(Clone, Copy)]
enum Cpu {
    Own,
    Children,
}

/// User + system CPU seconds from `/proc/<pid>/stat` (`pid` may be `self`).
fn cpu_seconds(pid: &str, whose: Cpu) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15,
    // cutime and cstime 16 and 17.
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let at = match whose {
        Cpu::Own => 11,
        Cpu::Children => 13,
    };
    let ticks = f.get(at)?.parse::<u64>().ok()? + f.get(at + 1)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks() as f64)
}

/// CPU seconds of the children this process waited for (e.g. a pipeline it ran).
pub fn children_cpu_seconds() -> Option<f64> {
    cpu_seconds("self", Cpu::Children)
}

/// The machine's 1-minute load average (0 when it cannot be read).
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Samples a process every `every` and keeps the peaks.
pub struct ProcSampler {
    peak: Arc<Mutex<ProcSample>>,
    task: tokio::task::JoinHandle<()>,
}

impl ProcSampler {
    pub fn start(pid: u32, every: Duration) -> ProcSampler {
        let peak = Arc::new(Mutex::new(ProcSample::default()));
        let p = peak.clone();
        let task = tokio::spawn(async move {
            while let Some(s) = proc_sample(pid) {
                if let Ok(mut peak) = p.lock() {
                    peak.rss_kb = peak.rss_kb.max(s.rss_kb);
                    peak.hwm_kb = peak.hwm_kb.max(s.hwm_kb);
                    peak.cpu_seconds = s.cpu_seconds;
                    peak.threads = peak.threads.max(s.threads);
                    peak.fds = peak.fds.max(s.fds);
                }
                tokio::time::sleep(every).await;
            }
        });
        ProcSampler { peak, task }
    }

    /// Peaks seen (RSS, the kernel's VmHWM, threads, file descriptors) and CPU seconds so far.
    pub fn peak(&self) -> ProcSample {
        *self.peak.lock().expect("sampler lock")
    }
}

impl Drop for ProcSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}
