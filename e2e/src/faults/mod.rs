//! The fault-injection harness of `make faults` (e2e/tests/faults.rs and soak.rs): network faults through
//! Toxiproxy, which the stack puts in front of the apiserver and every broker when started with `--fault-proxy`
//! ([`toxiproxy`]), process faults on the stack's recorded PIDs ([`process`]), and who leads ([`leader`]). Each
//! fault is a guard that lifts it when dropped.
//!
//! What a scenario checks is read with independent clients (Kafka's CLI classes, rdkafka, kubectl), never from the
//! operator's own status alone.

pub mod leader;
pub mod process;
pub mod toxiproxy;

pub use leader::*;
pub use process::*;
pub use toxiproxy::*;

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// A copy of `kubeconfig` (next to it, `-proxied` appended) whose server is the apiserver's Toxiproxy port, so what
/// runs with it reaches the apiserver only through the proxy `apiserver`.
pub fn through_apiserver_proxy(kubeconfig: &Path) -> anyhow::Result<PathBuf> {
    let port =
        |name: &str| std::env::var(name).ok().filter(|p| !p.is_empty()).with_context(|| format!("{name} is not set"));
    let (direct, proxied) = (port("APISERVER_PORT")?, port("APISERVER_PROXY_PORT")?);
    let text = std::fs::read_to_string(kubeconfig).with_context(|| format!("reading {}", kubeconfig.display()))?;
    let from = format!("127.0.0.1:{direct}");
    anyhow::ensure!(text.contains(&from), "{} does not name the apiserver at {from}", kubeconfig.display());
    let out = PathBuf::from(format!("{}-proxied", kubeconfig.display()));
    std::fs::write(&out, text.replace(&from, &format!("127.0.0.1:{proxied}")))?;
    Ok(out)
}

/// The stack's bootstrap servers behind the proxies (`KAFKA_PROXIED_BOOTSTRAP`, a `--fault-proxy` stack).
pub fn proxied_bootstrap() -> anyhow::Result<String> {
    std::env::var("KAFKA_PROXIED_BOOTSTRAP")
        .ok()
        .filter(|b| !b.is_empty())
        .context("KAFKA_PROXIED_BOOTSTRAP is not set: start the stack with `e2e/stack/up --fault-proxy`")
}

/// How many brokers the stack runs (`KAFKA_BROKER_PORTS`).
pub fn broker_count() -> usize {
    std::env::var("KAFKA_BROKER_PORTS").map(|p| p.split_whitespace().count()).unwrap_or(0)
}
