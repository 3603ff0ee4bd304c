//! What the DlqPolicy controller keeps in memory per policy: the move it runs in the background and the monitor's
//! state between polls. Each policy's monitor has its own lock, held across that policy's (blocking) peek only, so
//! policies are observed in parallel.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::decisions::dlq::monitor::EndSample;
use crate::decisions::dlq::moves::MoveProgress;
use crate::decisions::dlq::redrive::LiveMove;
use crate::kafka::redrive::control::MoveControl;
use crate::kafka::redrive::peeker::Peeker;
use crate::runtime::metrics::{Metrics, ResourceLabels};
use crate::runtime::sync::lock;

/// A move running in the background.
pub struct MoveHandle {
    pub id: String,
    pub control: Arc<MoveControl>,
    pub progress: Arc<Mutex<MoveProgress>>,
    pub join: tokio::task::JoinHandle<()>,
}

impl MoveHandle {
    /// The move as the redrive decision sees it now.
    pub fn snapshot(&self) -> LiveMove {
        LiveMove { id: self.id.clone(), progress: lock(&self.progress).clone(), finished: self.join.is_finished() }
    }
}

/// What the monitor remembers of one policy between polls.
#[derive(Default)]
pub struct Monitor {
    pub samples: Vec<EndSample>,
    /// Per partition: the head offset last peeked and the first record found there (offset, timestamp).
    pub heads: BTreeMap<i32, (i64, Option<(i64, i64)>)>,
    pub peeker: Option<Arc<Mutex<Peeker>>>,
}

/// The moves and monitors of every policy, by `namespace/name`.
#[derive(Default)]
pub struct PolicyMemories {
    moves: Mutex<HashMap<String, MoveHandle>>,
    /// The map's lock is only held to find a policy's monitor; the monitor's own lock is held while it polls.
    monitors: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Monitor>>>>,
}

impl PolicyMemories {
    /// The monitor of policy `key`, created on first use.
    pub fn monitor(&self, key: &str) -> Arc<tokio::sync::Mutex<Monitor>> {
        lock(&self.monitors).entry(key.to_string()).or_default().clone()
    }

    /// The move of policy `key`, as seen now.
    pub fn live_move(&self, key: &str) -> Option<LiveMove> {
        lock(&self.moves).get(key).map(MoveHandle::snapshot)
    }

    /// Runs `f` on the move of policy `key`, if any.
    pub fn with_move(&self, key: &str, f: impl FnOnce(&MoveHandle)) {
        if let Some(h) = lock(&self.moves).get(key) {
            f(h);
        }
    }

    pub fn insert_move(&self, key: &str, handle: MoveHandle) {
        lock(&self.moves).insert(key.to_string(), handle);
    }

    pub fn remove_move(&self, key: &str) -> Option<MoveHandle> {
        lock(&self.moves).remove(key)
    }

    /// Every move, taken out (the operator stops).
    pub fn take_moves(&self) -> Vec<MoveHandle> {
        lock(&self.moves).drain().map(|(_, h)| h).collect()
    }

    /// Forgets the policy `namespace/name` as it goes: its monitor and its metric series. Its move, if any, is
    /// handed back for the caller to stop.
    pub fn forget(&self, metrics: &Metrics, namespace: &str, name: &str) -> Option<MoveHandle> {
        let key = format!("{namespace}/{name}");
        lock(&self.monitors).remove(&key);
        let labels = ResourceLabels { namespace: namespace.to_string(), name: name.to_string() };
        metrics.dlq_depth.remove(&labels);
        metrics.dlq_oldest_age_seconds.remove(&labels);
        metrics.dlq_within_limit.remove(&labels);
        self.remove_move(&key)
    }

    #[cfg(test)]
    fn monitored(&self) -> Vec<String> {
        let mut keys: Vec<String> = lock(&self.monitors).keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[cfg(test)]
mod tests;
