//! A client of Toxiproxy's HTTP API (the stack's `--fault-proxy`): network faults per proxy (the apiserver, each
//! broker) and per direction, removed again when their guard drops.
//!
//! Blocking on purpose: a guard's `Drop` must be able to lift its fault, also while a test unwinds.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// Which way the fault acts: `Upstream` is what the client sends to the server, `Downstream` what comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Upstream,
    Downstream,
}

impl Direction {
    fn stream(self) -> &'static str {
        match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
        }
    }
}

/// One of Toxiproxy's toxics.
#[derive(Clone, Copy, Debug)]
pub enum Toxic {
    /// Adds `latency` (± `jitter`) to every chunk of data.
    Latency { latency: Duration, jitter: Duration },
    /// Caps the rate at `kb_per_second` KB/s.
    Bandwidth { kb_per_second: u64 },
    /// Closes each connection with a TCP RST `after` its first data arrives, and that data never goes through: with
    /// it, the target answers nothing (a black hole that resets). For resets with traffic flowing in between, see
    /// [`Toxiproxy::flap`].
    ResetPeer { after: Duration },
    /// Black hole: data is dropped and the connection closed after `after`; 0 keeps it open, silent, for as long as
    /// the toxic stays.
    Timeout { after: Duration },
}

impl Toxic {
    fn kind_and_attributes(self) -> (&'static str, Value) {
        match self {
            Toxic::Latency { latency, jitter } => {
                ("latency", json!({"latency": latency.as_millis() as u64, "jitter": jitter.as_millis() as u64}))
            }
            Toxic::Bandwidth { kb_per_second } => ("bandwidth", json!({"rate": kb_per_second})),
            Toxic::ResetPeer { after } => ("reset_peer", json!({"timeout": after.as_millis() as u64})),
            Toxic::Timeout { after } => ("timeout", json!({"timeout": after.as_millis() as u64})),
        }
    }
}

/// Toxiproxy's API at `127.0.0.1:port`.
#[derive(Clone, Debug)]
pub struct Toxiproxy {
    addr: String,
}

impl Toxiproxy {
    /// The stack's Toxiproxy (`TOXIPROXY_URL`, set by `e2e/stack/up --fault-proxy`).
    pub fn from_env() -> anyhow::Result<Toxiproxy> {
        let url = std::env::var("TOXIPROXY_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .context("TOXIPROXY_URL is not set: start the stack with `e2e/stack/up --fault-proxy`")?;
        let addr = url.strip_prefix("http://").unwrap_or(&url).trim_end_matches('/').to_string();
        Ok(Toxiproxy { addr })
    }

    /// One request with a JSON body or none; returns the status and the parsed body (`Null` when empty).
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<(u16, Value)> {
        let mut s =
            TcpStream::connect(&self.addr).with_context(|| format!("connecting to Toxiproxy at {}", self.addr))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        // HTTP/1.0: the answer is never chunked and the connection closes after it.
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        s.write_all(request.as_bytes())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        let code: u16 = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).context("no HTTP status")?;
        let payload = text.split_once("\r\n\r\n").map(|(_, b)| b.trim()).unwrap_or_default();
        let value = if payload.is_empty() { Value::Null } else { serde_json::from_str(payload).unwrap_or(Value::Null) };
        Ok((code, value))
    }

    fn expect(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let (code, value) = self.call(method, path, body)?;
        if !(200..300).contains(&code) {
            bail!("Toxiproxy {method} {path} answered {code}: {value}");
        }
        Ok(value)
    }

    /// The names of the proxies (`apiserver`, `kafka-1`, …).
    pub fn proxies(&self) -> anyhow::Result<Vec<String>> {
        let v = self.expect("GET", "/proxies", None)?;
        Ok(v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default())
    }

    /// Adds `toxic` to `proxy` in `direction` for every connection (toxicity 1); lifted when the guard drops.
    pub fn add(&self, proxy: &str, direction: Direction, toxic: Toxic) -> anyhow::Result<ToxicGuard> {
        let (kind, attributes) = toxic.kind_and_attributes();
        let name = format!("{kind}_{}", direction.stream());
        let body = json!({"name": name, "type": kind, "stream": direction.stream(), "toxicity": 1.0,
            "attributes": attributes});
        self.expect("POST", &format!("/proxies/{proxy}/toxics"), Some(&body))?;
        Ok(ToxicGuard { proxy: self.clone(), path: format!("/proxies/{proxy}/toxics/{name}"), lifted: false })
    }

    /// Disables `proxy`: open connections are closed and new ones refused (the target is unreachable) until the
    /// guard drops.
    pub fn cut(&self, proxy: &str) -> anyhow::Result<CutGuard> {
        self.set_enabled(proxy, false)?;
        Ok(CutGuard { proxy: self.clone(), name: proxy.to_string(), restored: false })
    }

    /// Closes every open connection of `proxy` every `every` (the proxy disabled for 20 ms, which also refuses the
    /// connections tried in that moment), with traffic flowing in between, until the guard stops or drops.
    pub fn flap(&self, proxy: &str, every: Duration) -> FlapGuard {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let resets = std::sync::Arc::new(AtomicU64::new(0));
        let (me, name, stop2, resets2) = (self.clone(), proxy.to_string(), stop.clone(), resets.clone());
        let thread = std::thread::spawn(move || {
            let step = Duration::from_millis(50);
            let mut waited = Duration::ZERO;
            while !stop2.load(Ordering::SeqCst) {
                std::thread::sleep(step);
                waited += step;
                if waited < every {
                    continue;
                }
                waited = Duration::ZERO;
                if me.set_enabled(&name, false).is_ok() {
                    std::thread::sleep(Duration::from_millis(20));
                    let _ = me.set_enabled(&name, true);
                    resets2.fetch_add(1, Ordering::SeqCst);
                }
            }
            let _ = me.set_enabled(&name, true);
        });
        FlapGuard { stop, resets, thread: Some(thread) }
    }

    fn set_enabled(&self, proxy: &str, enabled: bool) -> anyhow::Result<()> {
        self.expect("POST", &format!("/proxies/{proxy}"), Some(&json!({"enabled": enabled})))?;
        Ok(())
    }

    /// Every proxy enabled and every toxic gone.
    pub fn reset(&self) -> anyhow::Result<()> {
        self.expect("POST", "/reset", None)?;
        Ok(())
    }

    /// The toxics active on `proxy` (their names).
    pub fn toxics(&self, proxy: &str) -> anyhow::Result<Vec<String>> {
        let v = self.expect("GET", &format!("/proxies/{proxy}/toxics"), None)?;
        Ok(v.as_array()
            .map(|a| a.iter().filter_map(|t| t["name"].as_str().map(str::to_string)).collect())
            .unwrap_or_default())
    }
}

/// A toxic in place; removed when dropped (or by [`ToxicGuard::lift`]).
pub struct ToxicGuard {
    proxy: Toxiproxy,
    path: String,
    lifted: bool,
}

impl ToxicGuard {
    pub fn lift(mut self) -> anyhow::Result<()> {
        self.lifted = true;
        self.proxy.expect("DELETE", &self.path, None).map(|_| ())
    }
}

impl Drop for ToxicGuard {
    fn drop(&mut self) {
        if !self.lifted
            && let Err(e) = self.proxy.expect("DELETE", &self.path, None)
        {
            eprintln!("could not lift the toxic {}: {e:#}", self.path);
        }
    }
}

/// A disabled proxy; enabled again when dropped (or by [`CutGuard::restore`]).
pub struct CutGuard {
    proxy: Toxiproxy,
    name: String,
    restored: bool,
}

impl CutGuard {
    pub fn restore(mut self) -> anyhow::Result<()> {
        self.restored = true;
        self.proxy.set_enabled(&self.name, true)
    }
}

impl Drop for CutGuard {
    fn drop(&mut self) {
        if !self.restored
            && let Err(e) = self.proxy.set_enabled(&self.name, true)
        {
            eprintln!("could not enable the proxy {} again: {e:#}", self.name);
        }
    }
}

/// A proxy whose connections are reset periodically ([`Toxiproxy::flap`]); stops (proxy left enabled) when dropped.
pub struct FlapGuard {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    resets: std::sync::Arc<std::sync::atomic::AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FlapGuard {
    /// Stops flapping; how many times every connection was reset.
    pub fn stop(mut self) -> u64 {
        self.halt();
        self.resets.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn halt(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FlapGuard {
    fn drop(&mut self) {
        self.halt();
    }
}
