//! Process faults on the parts of the stack, found by the PIDs `e2e/stack/up` recorded: SIGSTOP/SIGCONT (a hung
//! process), SIGTERM or SIGKILL and a restart with the same command line and working folder (the new PID recorded
//! where `e2e/stack/down` looks for it).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::{Patience, wait_for_blocking};

/// One process of the stack as `e2e/stack/up` started it (`etcd`, `kube-apiserver`, `kafka-N`, `toxiproxy`, …).
#[derive(Clone, Debug)]
pub struct StackProcess {
    pub name: String,
    pid_file: PathBuf,
    cmdline: Vec<String>,
    cwd: PathBuf,
    log: PathBuf,
}

fn stack_dir() -> anyhow::Result<PathBuf> {
    Ok(std::env::var("TRIBUTARY_STACK_DIR")
        .context("TRIBUTARY_STACK_DIR is not set: `. e2e/stack/env.sh` first")?
        .into())
}

fn read_pid(file: &PathBuf) -> Option<u32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Whether `pid` runs. A process whose every thread is a zombie (state `Z`, nobody reaped it yet) counts as gone:
/// its files and sockets were released when its last thread exited. The leader's state alone is not enough: a
/// killed multi-threaded process (a Go server) shows its leader as `Z` while its other threads are still exiting
/// and its listening socket still bound — a restart then fails with "address already in use". (An empty command
/// line is not enough either: the memory, and with it the command line, goes before the sockets.)
pub fn alive(pid: u32) -> bool {
    let state =
        |stat: &str| stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string));
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.flatten().any(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // The state is the first field after the command name, which is in parentheses and may hold spaces.
        !matches!(state(&stat).as_deref(), Some("Z" | "X") | None)
    })
}

/// Sends `signal` (a name kill(1) knows: STOP, CONT, TERM, KILL) to `pid`.
pub fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status()?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed");
    }
    Ok(())
}

impl StackProcess {
    /// The running process recorded as `name` in the stack's PID folder; `marker` must be one of its arguments
    /// (so a recycled PID is never signalled).
    pub fn of(name: &str, marker: &str) -> anyhow::Result<StackProcess> {
        let dir = stack_dir()?;
        let pid_file = dir.join("pids").join(name);
        let pid = read_pid(&pid_file).with_context(|| format!("no PID in {}", pid_file.display()))?;
        let raw =
            std::fs::read(format!("/proc/{pid}/cmdline")).with_context(|| format!("{name} ({pid}) is not running"))?;
        let cmdline: Vec<String> =
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if !cmdline.iter().any(|a| a.contains(marker)) {
            bail!("PID {pid} of {name} is not {marker}: {cmdline:?}");
        }
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_else(|_| dir.clone());
        Ok(StackProcess {
            name: name.to_string(),
            pid_file,
            cmdline,
            cwd,
            log: dir.join("logs").join(format!("{name}.log")),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        read_pid(&self.pid_file)
    }

    pub fn is_running(&self) -> bool {
        self.pid().is_some_and(alive)
    }

    fn running_pid(&self) -> anyhow::Result<u32> {
        self.pid().filter(|p| alive(*p)).with_context(|| format!("{} is not running", self.name))
    }

    /// SIGSTOP: the process hangs, its sockets stay open; resumed by [`Paused::resume`] or when the guard drops.
    pub fn pause(&self) -> anyhow::Result<Paused> {
        let pid = self.running_pid()?;
        signal(pid, "STOP")?;
        Ok(Paused { name: self.name.clone(), pid, resumed: false })
    }

    /// SIGKILL and waits (up to 10 s) until it is gone.
    pub fn kill(&self) -> anyhow::Result<()> {
        let Some(pid) = self.pid().filter(|p| alive(*p)) else { return Ok(()) };
        signal(pid, "KILL")?;
        let what = format!("{} ({pid}) to die", self.name);
        wait_for_blocking(
            &what,
            Patience::new(Duration::from_secs(10), Duration::from_millis(50)),
            || Ok(alive(pid)),
            |a| !a,
        )?;
        Ok(())
    }

    /// SIGTERM, then waits up to `timeout` for the process to exit (SIGKILL after that).
    pub fn stop(&self, timeout: Duration) -> anyhow::Result<()> {
        let Some(pid) = self.pid().filter(|p| alive(*p)) else { return Ok(()) };
        signal(pid, "TERM")?;
        let what = format!("{} ({pid}) to exit", self.name);
        let patience = Patience::new(timeout, Duration::from_millis(100));
        if wait_for_blocking(&what, patience, || Ok(alive(pid)), |alive| !alive).is_err() {
            self.kill()?;
        }
        Ok(())
    }

    /// Starts the process again with the same command line and working folder, appending to its log and recording
    /// the new PID. Inherits this process's environment, which the stack's parts do not read.
    pub fn start(&self) -> anyhow::Result<u32> {
        use std::os::unix::process::CommandExt as _;
        if self.is_running() {
            return self.running_pid();
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = std::process::Command::new(&self.cmdline[0])
            .args(&self.cmdline[1..])
            .current_dir(&self.cwd)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, like `setsid` in the stack scripts: a test's end or Ctrl-C does not reach it.
            .process_group(0)
            .spawn()
            .with_context(|| format!("restarting {}", self.name))?;
        let pid = child.id();
        std::fs::write(&self.pid_file, format!("{pid}\n"))?;
        Ok(pid)
    }
}

/// A process stopped with SIGSTOP; SIGCONT when dropped.
pub struct Paused {
    name: String,
    pid: u32,
    resumed: bool,
}

impl Paused {
    pub fn resume(mut self) -> anyhow::Result<()> {
        self.resumed = true;
        signal(self.pid, "CONT")
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if !self.resumed
            && alive(self.pid)
            && let Err(e) = signal(self.pid, "CONT")
        {
            eprintln!("could not resume {} ({}): {e:#}", self.name, self.pid);
        }
    }
}

/// Starts a stopped or killed stack process again when dropped, so the stack is whole even when a test fails.
pub struct RestartOnDrop(pub StackProcess);

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        if !self.0.is_running() {
            match self.0.start() {
                Ok(pid) => eprintln!("{} restarted by the guard as {pid}", self.0.name),
                Err(e) => eprintln!("could not restart {}: {e:#}; run e2e/stack/up", self.0.name),
            }
        }
    }
}
