//! The process: the HTTP endpoints, leader election and the controllers' lifetime, from start to SIGTERM; and the
//! map (`map`), served and printed.

pub mod map;

use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;
use tracing::info;

use crate::runtime::config::OperatorConfig;
use crate::runtime::http::{self, Health};
use crate::runtime::metrics::Metrics;

/// Runs the operator until SIGTERM or SIGINT.
pub async fn run(config: OperatorConfig) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::default());
    let health = Health::default();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);

    let (view, writers) = crate::controllers::topology::TopologyView::new(&config);
    let routes = map::routes(view);
    let http = http::serve(config.http_addr, health.clone(), metrics.clone(), routes, shutdown_rx.clone()).await?;
    info!(addr = %http.local_addr, "serving /healthz, /readyz, /metrics and /topology");
    if let Some(path) = &config.http_addr_file {
        http::write_addr_file(path, http.local_addr)
            .with_context(|| format!("writing the HTTP address to {}", path.display()))?;
    }

    let client = kube::Client::try_default().await.context("building the Kubernetes client from kubeconfig")?;
    let version = client.apiserver_version().await.context("reaching the Kubernetes API server")?;
    info!(apiserver = %version.git_version, "connected to the Kubernetes API server");
    // The map is served by every replica, leader or not.
    tokio::spawn(crate::controllers::topology::run(writers, client.clone(), config.clone(), shutdown_rx.clone()));

    // With leader election, a replica is ready (and keeps its HTTP endpoints) while it waits; only the holder of
    // the Lease runs the controllers, so only it writes to Kafka and to status.
    let mut leadership = match &config.leader_election {
        Some(le) => {
            // Every write waits for a live term of the Lease from here on (see runtime::leadership).
            crate::runtime::leadership::gate().require_lease();
            let identity =
                std::env::var("POD_NAME").unwrap_or_else(|_| format!("{}-{}", hostname(), std::process::id()));
            let signal = wait_for_signal();
            tokio::pin!(signal);
            health.set_ready(true);
            info!(identity, lease = %format!("{}/{}", le.namespace, le.lease_name), "waiting for leadership");
            // The lease manager lets a waiting replica sleep until the holder's term ends, even when the holder
            // releases the Lease on its way out. A watch on the Lease ends that sleep: once it is released, a fresh
            // manager asks for it at once, so a rolling restart hands over in about a second, not a Lease duration.
            let acquired = loop {
                let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &le.lease_name)
                    .with_namespace(&le.namespace)
                    .with_identity(&identity)
                    .with_duration(le.duration_seconds)
                    .with_grace(le.grace_seconds)
                    .with_field_manager(status_manager())
                    .build()
                    .await
                    .context("setting up the leader Lease")?;
                let (mut rx, task) = manager.watch().await;
                let became_leader = tokio::select! {
                    r = rx.wait_for(|leader| *leader) => r.map(|_| true).context("lease manager stopped")?,
                    () = lease_released(&client, &le.namespace, &le.lease_name, &identity) => false,
                    () = &mut signal => {
                        info!("stopped before becoming leader");
                        let _ = shutdown_tx.send(true);
                        http.join.await.context("HTTP server task")??;
                        return Ok(());
                    }
                };
                if became_leader {
                    break (rx, task);
                }
                task.abort();
                info!(identity, "the Lease was released; asking for it now");
            };
            info!(identity, "became leader");
            // The term just taken runs for the Lease's duration from about now; the Lease's own renewals extend it.
            let duration = std::time::Duration::from_secs(le.duration_seconds);
            let margin = std::time::Duration::from_millis(le.grace_seconds * 500);
            crate::runtime::leadership::gate().held_until(std::time::Instant::now() + duration - margin);
            tokio::spawn(follow_term(client.clone(), le.namespace.clone(), le.lease_name.clone(), identity, margin));
            Some(acquired)
        }
        None => None,
    };

    let controllers = tokio::spawn(crate::controllers::run_all(client, config, metrics, health.clone(), shutdown_rx));
    let lost = async {
        match leadership.as_mut() {
            Some((rx, _)) => {
                let _ = rx.wait_for(|leader| !*leader).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let lost_leadership = tokio::select! {
        _ = wait_for_signal() => false,
        _ = lost => true,
    };
    info!(lost_leadership, "shutting down");
    health.set_ready(false);
    let _ = shutdown_tx.send(true);
    // In-flight reconciles get a moment to finish; every reconcile is idempotent, so cutting one short loses
    // nothing but time.
    match tokio::time::timeout(std::time::Duration::from_secs(10), controllers).await {
        Ok(joined) => joined.context("controllers task")?,
        Err(_) => tracing::warn!("reconciles still running after 10 s; stopping anyway"),
    }
    // Dropping the receiver releases the Lease at once, so a standby takes over without waiting for it to expire.
    if let Some((rx, task)) = leadership {
        drop(rx);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
    http.join.await.context("HTTP server task")??;
    if lost_leadership {
        anyhow::bail!("lost the leader Lease; exiting so that this replica restarts as a standby");
    }
    info!("stopped");
    Ok(())
}

/// Keeps this replica's write gate on the Lease as the apiserver shows it: each renewal seen extends the term to
/// renewTime + leaseDurationSeconds − `margin` (by this process's clock, which wrote renewTime); another holder, or
/// none, closes it. A renewal read late (after a freeze) gives a term already past, so the gate stays closed.
async fn follow_term(
    client: kube::Client,
    namespace: String,
    name: String,
    identity: String,
    margin: std::time::Duration,
) {
    use futures::StreamExt as _;
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::runtime::{WatchStreamExt as _, watcher};
    let gate = crate::runtime::leadership::gate();
    let api: kube::Api<Lease> = kube::Api::namespaced(client, &namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut leases = std::pin::pin!(watcher(api, config).default_backoff().applied_objects());
    while let Some(event) = leases.next().await {
        let Ok(lease) = event else { continue };
        let Some(spec) = lease.spec else { continue };
        if spec.holder_identity.as_deref() != Some(identity.as_str()) {
            gate.lost();
            continue;
        }
        let (Some(renewed), Some(seconds)) = (spec.renew_time, spec.lease_duration_seconds) else { continue };
        let duration = std::time::Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
        let renewed: std::time::SystemTime = renewed.0.into();
        match crate::runtime::leadership::term_end(
            renewed,
            duration,
            margin,
            std::time::SystemTime::now(),
            std::time::Instant::now(),
        ) {
            Some(until) => gate.held_until(until),
            None => {
                tracing::warn!(
                    "the leader Lease's last renewal is older than its term: writes stop until it is renewed"
                );
                gate.lost();
            }
        }
    }
}

/// Returns once the Lease, held by another replica when first seen, has no holder: released by a leaving
/// leader. Pends forever if the watch cannot run (the lease manager's own expiry check still applies).
async fn lease_released(client: &kube::Client, namespace: &str, name: &str, identity: &str) {
    use futures::StreamExt as _;
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::runtime::{WatchStreamExt as _, watcher};
    let api: kube::Api<Lease> = kube::Api::namespaced(client.clone(), namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut leases = std::pin::pin!(watcher(api, config).default_backoff().applied_objects());
    let mut held_by_other = false;
    while let Some(event) = leases.next().await {
        let Ok(lease) = event else { continue };
        let holder = lease.spec.and_then(|s| s.holder_identity).filter(|h| !h.is_empty());
        match holder {
            Some(h) => held_by_other = h != identity,
            None if held_by_other => return,
            None => {}
        }
    }
    std::future::pending::<()>().await
}

fn status_manager() -> String {
    crate::controllers::status::MANAGER.to_string()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "tributary".into())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
