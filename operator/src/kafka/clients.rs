//! The shared clients, one per `KafkaConnection`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;

use super::client::ClusterClient;
use super::error::KafkaError;
use super::settings::ClientSettings;
use crate::runtime::metrics::Metrics;
use crate::runtime::sync::lock;

/// The shared clients, one per connection, rebuilt only when a connection's settings change.
#[derive(Clone)]
pub struct Clients {
    inner: Arc<Mutex<HashMap<String, Arc<ClusterClient>>>>,
    metrics: Arc<Metrics>,
    lag_tick: Duration,
    ticks: broadcast::Sender<String>,
}

impl Clients {
    /// The clients; each runs its lag tick every `lag_tick` once a group is watched on it.
    pub fn new(metrics: Arc<Metrics>, lag_tick: Duration) -> Clients {
        Clients { inner: Arc::default(), metrics, lag_tick, ticks: broadcast::channel(256).0 }
    }

    /// The key of each connection as its lag tick takes a snapshot (a lagging receiver skips the oldest).
    pub fn ticks(&self) -> broadcast::Receiver<String> {
        self.ticks.subscribe()
    }

    /// The client for `key` (namespace/name of the connection) with these settings.
    pub fn get_or_create(&self, key: &str, settings: &ClientSettings) -> Result<Arc<ClusterClient>, KafkaError> {
        let mut map = lock(&self.inner);
        if let Some(c) = map.get(key)
            && c.fingerprint == settings.fingerprint()
        {
            return Ok(c.clone());
        }
        let client = Arc::new(ClusterClient::with_lag_tick(
            key.to_string(),
            settings,
            self.metrics.clone(),
            self.lag_tick,
            self.ticks.clone(),
        )?);
        map.insert(key.to_string(), client.clone());
        Ok(client)
    }

    /// The current client for `key`, if one was built.
    pub fn get(&self, key: &str) -> Option<Arc<ClusterClient>> {
        lock(&self.inner).get(key).cloned()
    }

    pub fn remove(&self, key: &str) {
        lock(&self.inner).remove(key);
    }
}
