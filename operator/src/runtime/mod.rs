//! Wiring: configuration, logs, the HTTP endpoints, metrics, and the controllers' lifetime.

pub mod config;
pub mod http;
pub mod metrics;
pub mod telemetry;

use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;
use tracing::info;

use self::config::OperatorConfig;
use self::http::Health;
use self::metrics::Metrics;

/// Runs the operator until SIGTERM or SIGINT.
pub async fn run(config: OperatorConfig) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::default());
    let health = Health::default();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let http = http::serve(config.http_addr, health.clone(), metrics.clone(), shutdown_rx.clone()).await?;
    info!(addr = %http.local_addr, "serving /healthz, /readyz and /metrics");

    let client = kube::Client::try_default().await.context("building the Kubernetes client from kubeconfig")?;
    let version = client.apiserver_version().await.context("reaching the Kubernetes API server")?;
    info!(apiserver = %version.git_version, "connected to the Kubernetes API server");

    let controllers = tokio::spawn(crate::controllers::run_all(client, config, metrics, health.clone(), shutdown_rx));
    wait_for_signal().await;
    info!("shutting down");
    health.set_ready(false);
    let _ = shutdown_tx.send(true);
    controllers.await.context("controllers task")?;
    http.join.await.context("HTTP server task")??;
    info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
