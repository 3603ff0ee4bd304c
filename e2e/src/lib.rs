//! Harness for the end-to-end tests: reaches the real stack started by `e2e/stack/up`, runs the operator binary as
//! a process, and gives the tests Kubernetes and Kafka clients.
//!
//! The stack is found through the variables `e2e/stack/env.sh` exports; a test run without them fails at once with
//! a message saying so, instead of skipping.

pub mod app;
pub mod bad_input;
pub mod conditions;
pub mod emulator;
pub mod faults;
pub mod fixture;
pub mod kafka;
pub mod manifest;
pub mod node;
pub mod objects;
pub mod operator;
pub mod rbac;
pub mod scale;
pub mod wait;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, bail};
use kube::Client;
use rdkafka::ClientConfig;

pub use conditions::{Cond, Conditions};
pub use fixture::{Fixture, TestNamespace, install_crds, prepare};
pub use objects::{Namespaced, apply_in, events_in, manifest_name, server_side_apply};
pub use operator::{
    Operator, OperatorEndpoints, free_port, http_get, operator_binary, shipped_operator_binary, sum_series,
};
pub use wait::{
    Patience, TimedOut, versions_seen_for, wait_condition, wait_for, wait_for_blocking, wait_for_some, wait_status,
};

/// Where the running stack is.
#[derive(Clone, Debug)]
pub struct Stack {
    pub kubeconfig: PathBuf,
    pub bootstrap: String,
    pub scram_bootstrap: String,
    /// Every node's TLS (SSL) listener, and the PEM of the CA that signed their certificate.
    pub tls_bootstrap: String,
    pub tls_ca: PathBuf,
    /// The clients CA the TLS listener authenticates client certificates with: its certificate and key (PEM).
    pub clients_ca: (PathBuf, PathBuf),
    pub scram_user: String,
    pub scram_password: String,
    pub kafka_lib: PathBuf,
    pub kafka_log4j: PathBuf,
    pub logs: PathBuf,
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: start the stack with `e2e/stack/up` and `. e2e/stack/env.sh` (or run `make test`)")
    })
}

impl Stack {
    /// Reads the stack's coordinates from the environment.
    pub fn from_env() -> Stack {
        let get = |n: &str| env(n).unwrap_or_else(|e| panic!("{e}"));
        Stack {
            kubeconfig: get("KUBECONFIG").into(),
            bootstrap: get("KAFKA_BOOTSTRAP"),
            scram_bootstrap: get("KAFKA_SCRAM_BOOTSTRAP"),
            tls_bootstrap: get("KAFKA_TLS_BOOTSTRAP"),
            tls_ca: get("KAFKA_TLS_CA").into(),
            clients_ca: (get("KAFKA_CLIENTS_CA_CERT").into(), get("KAFKA_CLIENTS_CA_KEY").into()),
            scram_user: get("KAFKA_SCRAM_USER"),
            scram_password: get("KAFKA_SCRAM_PASSWORD"),
            kafka_lib: get("KAFKA_LIB").into(),
            kafka_log4j: get("KAFKA_LOG4J").into(),
            logs: get("TRIBUTARY_STACK_LOGS").into(),
        }
    }

    pub async fn kube(&self) -> Client {
        Client::try_default().await.expect("a Kubernetes client from KUBECONFIG")
    }

    /// A Kafka client config for the plaintext listener.
    pub fn kafka_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap).set("log_level", "3");
        c
    }

    /// Runs one of Kafka's own command-line classes (e.g. `org.apache.kafka.tools.TopicCommand`) and returns its
    /// standard output; fails with its standard error when it exits non-zero.
    pub fn kafka_cli(&self, class: &str, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("java")
            .arg(format!("-Dlog4j2.configurationFile={}", self.kafka_log4j.display()))
            .arg("-cp")
            .arg(format!("{}/*", self.kafka_lib.display()))
            .arg(class)
            .args(args)
            .output()
            .with_context(|| format!("running {class}"))?;
        if !out.status.success() {
            bail!("{class} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The workspace root: the repository this crate is built from.
pub fn repo_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

/// The operator's Helm chart in the repository.
pub fn chart_dir() -> PathBuf {
    repo_root().join("charts/tributary")
}

/// A unique, DNS-safe suffix for names made by one test.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{:x}{:x}", nanos % 0xfffff, N.fetch_add(1, Ordering::SeqCst))
}

/// Milliseconds since the Unix epoch, as Kafka timestamps count.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as i64
}
