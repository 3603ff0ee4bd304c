//! The operator as a process started here, and what tests read from a running operator (a process or the chart's
//! pods): its HTTP endpoints and metrics.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::{Patience, Stack, rbac, repo_root, unique, wait_for, wait_for_blocking};

/// The operator binary, built by `cargo build` before the tests (the Makefile does it).
pub fn operator_binary() -> PathBuf {
    if let Ok(p) = std::env::var("TRIBUTARY_BIN") {
        return p.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| repo_root().join("target"));
    target.join("debug").join("tributary")
}

/// The shipped build of the operator the benchmarks run by default: `target/dist/tributary` of the workspace
/// (`cargo build --profile dist -p tributary`, the binary `make image` puts in the operator's image).
pub fn shipped_operator_binary() -> PathBuf {
    repo_root().join("target").join("dist").join("tributary")
}

/// A running operator process. Stopped with SIGTERM when dropped; its log tail is printed if the test panicked.
pub struct Operator {
    child: Option<Child>,
    pub http_port: u16,
    pub log: PathBuf,
}

/// Picks a free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Operator {
    /// Starts `tributary run` with extra arguments.
    pub fn start(stack: &Stack, name: &str, extra: &[&str]) -> Operator {
        let filter = std::env::var("TRIBUTARY_TEST_LOG").unwrap_or_else(|_| "info,tributary=debug".into());
        Operator::start_with(stack, name, &operator_binary(), extra, &filter)
    }

    /// Starts `bin run` with extra arguments and `RUST_LOG=log_filter` (benchmarks run a release build quietly).
    pub fn start_with(stack: &Stack, name: &str, bin: &Path, extra: &[&str], log_filter: &str) -> Operator {
        Operator::spawn(stack, name, bin, &Operator::kubeconfig(stack), extra, log_filter)
    }

    /// The kubeconfig a test's operator runs with: the chart's ServiceAccount (see `rbac`), unless a test asks for
    /// admin (`TRIBUTARY_E2E_ADMIN=1`).
    pub fn kubeconfig(stack: &Stack) -> PathBuf {
        if std::env::var("TRIBUTARY_E2E_ADMIN").is_ok_and(|v| v == "1") {
            stack.kubeconfig.clone()
        } else {
            let dir = stack.logs.parent().expect("the stack folder").to_path_buf();
            rbac::operator_kubeconfig(&stack.kubeconfig, &dir).expect("a kubeconfig for the chart's ServiceAccount")
        }
    }

    /// Starts `bin run` with `kubeconfig` (e.g. one that reaches the apiserver through a fault proxy).
    pub fn spawn(
        stack: &Stack,
        name: &str,
        bin: &Path,
        kubeconfig: &Path,
        extra: &[&str],
        log_filter: &str,
    ) -> Operator {
        assert!(bin.exists(), "operator binary {} missing: run `cargo build -p tributary` first", bin.display());
        let http_port = free_port();
        let log = stack.logs.join(format!("operator-{}.log", unique(name)));
        let file = std::fs::File::create(&log).expect("creating the operator log");
        let child = Command::new(bin)
            .arg("run")
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{http_port}"))
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("TRIBUTARY_LOG_FORMAT", "text")
            .env("RUST_LOG", log_filter)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("starting the operator");
        Operator { child: Some(child), http_port, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The exit status, once the process has ended by itself (or was stopped); `None` while it runs.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        match self.child.as_mut() {
            Some(child) => child.try_wait().ok().flatten(),
            None => None,
        }
    }

    /// GETs a path of the operator's HTTP server; returns (status, body).
    pub async fn http_get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        http_get(self.http_port, path).await
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let readyz = || async { Ok(self.http_get("/readyz").await?.0) };
        wait_for("operator /readyz", Duration::from_secs(60), readyz, |code| *code == 200)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Sends a signal and waits for the process to exit; returns its exit status.
    pub fn stop_with(&mut self, signal: i32, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        match signal_and_wait(&mut child, signal, timeout)? {
            Some(status) => Ok(status),
            None => {
                let _ = child.kill();
                bail!("operator did not exit within {timeout:?} after signal {signal}");
            }
        }
    }

    /// The operator's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A metric's value summed over every series whose line starts with `prefix` (name plus optional labels).
    pub async fn metric_sum(&self, prefix: &str) -> anyhow::Result<f64> {
        let (_, body) = self.http_get("/metrics").await?;
        Ok(sum_series(&body, prefix))
    }
}

/// What tests read from a running operator, process or pods.
pub trait OperatorEndpoints: Sync {
    /// GETs a path of the operator's HTTP server; returns (status, body).
    fn http_get(&self, path: &str) -> impl Future<Output = anyhow::Result<(u16, String)>> + Send;

    /// A metric summed over the series whose line starts with `prefix`; an error when /metrics cannot be read.
    fn metric_sum(&self, prefix: &str) -> impl Future<Output = anyhow::Result<f64>> + Send {
        async move {
            let (code, body) = self.http_get("/metrics").await?;
            anyhow::ensure!(code == 200, "/metrics answered {code}");
            Ok(sum_series(&body, prefix))
        }
    }
}

impl OperatorEndpoints for Operator {
    fn http_get(&self, path: &str) -> impl Future<Output = anyhow::Result<(u16, String)>> + Send {
        Operator::http_get(self, path)
    }
}

/// The sum of the values of every series in an OpenMetrics text whose line starts with `prefix`.
pub fn sum_series(body: &str, prefix: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// `kill(1)`: keeps this crate free of `unsafe`.
fn unsafe_free_kill(pid: u32, signal: i32) -> anyhow::Result<()> {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status()?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed");
    }
    Ok(())
}

/// Sends `signal` to a child and waits up to `timeout` for it to exit: its exit status, or none when it did not.
fn signal_and_wait(child: &mut Child, signal: i32, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
    unsafe_free_kill(child.id(), signal)?;
    let patience = Patience::new(timeout, Duration::from_millis(50));
    let exited = wait_for_blocking("the operator to exit", patience, || Ok(child.try_wait()?), Option::is_some);
    Ok(exited.ok().flatten())
}

/// Prints the last `lines` lines of `text` (a log) to standard error, under a title.
pub(crate) fn eprint_tail(title: &str, text: &str, lines: usize) {
    let tail: Vec<&str> = text.lines().rev().take(lines).collect();
    eprintln!("---- last lines of {title} ----");
    for line in tail.into_iter().rev() {
        eprintln!("{line}");
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = signal_and_wait(&mut child, 15, Duration::from_secs(10));
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprint_tail(&self.log.display().to_string(), &self.log_text(), 60);
        }
    }
}

/// A minimal HTTP/1.1 GET over loopback, enough for the operator's own endpoints.
pub async fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).context("no HTTP status")?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((code, body))
}
