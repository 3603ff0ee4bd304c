//! Stopping and restarting a Kafka node of the stack.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::{Patience, Stack, wait_for_blocking};

/// One Kafka node of the stack, as `e2e/stack/up` started it: its PID file, command line, working folder and log.
#[derive(Clone, Debug)]
pub struct KafkaNode {
    pub node: usize,
    pub port: u16,
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

fn alive(pid: u32) -> bool {
    // A zombie has no command line left: count it as gone.
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

impl KafkaNode {
    /// Node `node` (1-based; node 1 is the only KRaft controller) of the running stack.
    pub fn of(stack: &Stack, node: usize) -> anyhow::Result<KafkaNode> {
        let dir = stack_dir()?;
        let pid_file = dir.join("pids").join(format!("kafka-{node}"));
        let pid = read_pid(&pid_file).with_context(|| format!("no PID in {}", pid_file.display()))?;
        let raw = std::fs::read(format!("/proc/{pid}/cmdline"))
            .with_context(|| format!("kafka-{node} ({pid}) is not running"))?;
        let cmdline: Vec<String> =
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if !cmdline.iter().any(|a| a == "kafka.Kafka") {
            bail!("PID {pid} of kafka-{node} is not a Kafka node: {cmdline:?}");
        }
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_else(|_| dir.clone());
        let ports = std::env::var("KAFKA_BROKER_PORTS").context("KAFKA_BROKER_PORTS is not set")?;
        let port = ports
            .split_whitespace()
            .nth(node - 1)
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("no port for node {node} in KAFKA_BROKER_PORTS={ports:?}"))?;
        Ok(KafkaNode { node, port, pid_file, cmdline, cwd, log: stack.logs.join(format!("kafka-{node}.log")) })
    }

    pub fn pid(&self) -> Option<u32> {
        read_pid(&self.pid_file)
    }

    pub fn is_running(&self) -> bool {
        self.pid().is_some_and(alive)
    }

    /// SIGTERM, then waits up to `timeout` for the process to exit (SIGKILL after that).
    pub fn stop(&self, timeout: Duration) -> anyhow::Result<()> {
        let Some(pid) = self.pid().filter(|p| alive(*p)) else { return Ok(()) };
        let status = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status()?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        let what = format!("kafka-{} ({pid}) to exit", self.node);
        let patience = Patience::new(timeout, Duration::from_millis(100));
        if wait_for_blocking(&what, patience, || Ok(alive(pid)), |alive| !alive).is_err() {
            let _ = std::process::Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            std::thread::sleep(Duration::from_secs(1));
        }
        Ok(())
    }

    /// Starts the node again with the same command line, appending to its log and recording the new PID where
    /// `e2e/stack/down` looks for it.
    pub fn start(&self) -> anyhow::Result<u32> {
        use std::os::unix::process::CommandExt as _;
        if self.is_running() {
            return Ok(self.pid().unwrap_or_default());
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
            .with_context(|| format!("restarting kafka-{}", self.node))?;
        let pid = child.id();
        std::fs::write(&self.pid_file, format!("{pid}\n"))?;
        Ok(pid)
    }

    /// Waits until the node's PLAINTEXT listener accepts connections.
    pub fn wait_listening(&self, timeout: Duration) -> anyhow::Result<()> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let connect = || Ok(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))?);
        let what = format!("kafka-{} listening on {}", self.node, self.port);
        wait_for_blocking(&what, Patience::new(timeout, Duration::from_millis(200)), connect, |_| true)?;
        Ok(())
    }
}

/// Restarts a stopped Kafka node when dropped, so the stack is whole again even when a test fails.
pub struct RestartGuard(pub KafkaNode);

impl Drop for RestartGuard {
    fn drop(&mut self) {
        if self.0.is_running() {
            return;
        }
        match self.0.start().and_then(|_| self.0.wait_listening(Duration::from_secs(120))) {
            Ok(()) => eprintln!("kafka-{} restarted by the guard", self.0.node),
            Err(e) => eprintln!("could not restart kafka-{}: {e:#}; run e2e/stack/up", self.0.node),
        }
    }
}
