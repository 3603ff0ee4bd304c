//! `/healthz`, `/readyz` and `/metrics`, and the routes the app adds.

use anyhow::Context as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::metrics::Metrics;

/// Readiness shared between the controllers and the HTTP server.
#[derive(Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct AppState {
    health: Health,
    metrics: Arc<Metrics>,
}

/// The running server.
pub struct Server {
    pub local_addr: SocketAddr,
    pub join: JoinHandle<std::io::Result<()>>,
}

/// Binds `addr` and serves until `shutdown` turns true: the health and metrics endpoints, and the routes of
/// `extra` (the app's: the topology map).
pub async fn serve(
    addr: SocketAddr,
    health: Health,
    metrics: Arc<Metrics>,
    extra: Router,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Server> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AppState { health, metrics })
        .merge(extra);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let join = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
            })
            .await
    });
    Ok(Server { local_addr, join })
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.health.is_ready() { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") }
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.encode())
}

/// Writes `addr` into `path` (through a temporary file, so a reader never sees half of it).
pub fn write_addr_file(path: &std::path::Path, addr: SocketAddr) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, addr.to_string())?;
    std::fs::rename(&tmp, path)
}

/// `tributary probe`: GETs `path` on the operator's HTTP server, at `addr` or at the address in `addr_file`, and
/// succeeds on a 2xx answer. An exec probe for pods whose port is only known once bound (several host-network
/// replicas on one node).
pub fn probe(addr: Option<SocketAddr>, addr_file: Option<&std::path::Path>, path: &str) -> anyhow::Result<()> {
    use std::io::{Read as _, Write as _};
    let addr = match (addr, addr_file) {
        (Some(a), _) => a,
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            text.trim().parse().with_context(|| format!("{} holds no address: {text:?}", f.display()))?
        }
        (None, None) => anyhow::bail!("give --addr or --addr-file"),
    };
    let timeout = std::time::Duration::from_secs(2);
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.split_whitespace().nth(1).unwrap_or_default();
    anyhow::ensure!(status.starts_with('2'), "GET {path} on {addr}: {}", answer.lines().next().unwrap_or("no answer"));
    Ok(())
}
