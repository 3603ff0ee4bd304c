//! Stopping and restarting a Kafka node of the stack.

use std::time::Duration;

use anyhow::Context as _;

use crate::faults::StackProcess;
use crate::{Patience, Stack, wait_for_blocking};

/// One Kafka node of the stack, as `e2e/stack/up` started it: the process (PID file, command line, working folder
/// and log) and its PLAINTEXT port.
#[derive(Clone, Debug)]
pub struct KafkaNode {
    pub node: usize,
    pub port: u16,
    pub process: StackProcess,
}

impl KafkaNode {
    /// Node `node` (1-based; node 1 is the only KRaft controller) of the running stack.
    pub fn of(_stack: &Stack, node: usize) -> anyhow::Result<KafkaNode> {
        let process = StackProcess::of(&format!("kafka-{node}"), "kafka.Kafka")?;
        let ports = std::env::var("KAFKA_BROKER_PORTS").context("KAFKA_BROKER_PORTS is not set")?;
        let port = ports
            .split_whitespace()
            .nth(node - 1)
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("no port for node {node} in KAFKA_BROKER_PORTS={ports:?}"))?;
        Ok(KafkaNode { node, port, process })
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// SIGTERM, then waits up to `timeout` for the process to exit (SIGKILL after that).
    pub fn stop(&self, timeout: Duration) -> anyhow::Result<()> {
        self.process.stop(timeout)
    }

    /// Starts the node again with the same command line, appending to its log and recording the new PID where
    /// `e2e/stack/down` looks for it.
    pub fn start(&self) -> anyhow::Result<u32> {
        self.process.start()
    }

    /// Waits until the node's PLAINTEXT listener refuses connections: the process and every socket of it are gone
    /// (a killed JVM's threads, and with them its sockets, outlive the moment /proc shows it dead).
    pub fn wait_closed(&self, timeout: Duration) -> anyhow::Result<()> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let refused = || Ok(std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err());
        let what = format!("kafka-{} to stop listening on {}", self.node, self.port);
        wait_for_blocking(&what, Patience::new(timeout, Duration::from_millis(50)), refused, |r| *r)?;
        Ok(())
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
