//! What the ConsumerGroup controller remembers of each group between polls (lag history, commit windows, the
//! autoscaler's state), and how a deleted group is forgotten with its metric series.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use crate::decisions::autoscale::AutoscaleState;
use crate::decisions::burrow::CommitWindow;
use crate::decisions::lag::{GroupLagTracker, TopicPartition};
use crate::runtime::metrics::{Metrics, ResourceLabels};
use crate::runtime::sync::lock;

/// What a group's controller remembers between lag ticks.
#[derive(Default)]
pub struct GroupMemory {
    pub lag: GroupLagTracker,
    pub commits: BTreeMap<TopicPartition, CommitWindow>,
    pub autoscale: AutoscaleState,
    /// When the last lag tick this group worked from began (ms): a tick is worked from once.
    pub last_tick_ms: Option<i64>,
    /// When its status was last written (ms), for the status interval.
    pub last_status_write_ms: Option<i64>,
    /// Another autoscaler of the same workload, and when that was last checked (ms).
    pub conflict: Option<(i64, Option<String>)>,
    /// The workload's replica count as last read from its `/scale` (`None`: no such workload) or set by the
    /// autoscaler, and when (ms).
    pub replicas: Option<(i64, Option<i32>)>,
}

/// Memory of every group, by `namespace/name`.
#[derive(Default)]
pub struct GroupMemories(Mutex<HashMap<String, GroupMemory>>);

impl GroupMemories {
    /// Drops what is kept about the group `namespace/name`: its memory and its metric series.
    pub fn forget(&self, metrics: &Metrics, namespace: &str, name: &str) {
        lock(&self.0).remove(&format!("{namespace}/{name}"));
        let labels = ResourceLabels { namespace: namespace.to_string(), name: name.to_string() };
        metrics.group_lag_messages.remove(&labels);
        metrics.group_lag_seconds.remove(&labels);
        metrics.group_lag_within_slo.remove(&labels);
        metrics.group_replicas_desired.remove(&labels);
        metrics.group_replicas_current.remove(&labels);
    }

    /// Forgets every remembered group for which `exists(namespace, name)` is false. Metric series are only ever
    /// written after the group's memory, so the memory's keys cover them.
    pub fn retain(&self, metrics: &Metrics, exists: impl Fn(&str, &str) -> bool) {
        let keys: Vec<String> = lock(&self.0).keys().cloned().collect();
        for key in keys {
            let (ns, name) = key.split_once('/').unwrap_or(("", &key));
            if !exists(ns, name) {
                self.forget(metrics, ns, name);
            }
        }
    }

    /// Every group's memory, locked.
    pub fn lock(&self) -> MutexGuard<'_, HashMap<String, GroupMemory>> {
        lock(&self.0)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.0).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remembered(memories: &GroupMemories, metrics: &Metrics, ns: &str, name: &str) {
        memories.lock().entry(format!("{ns}/{name}")).or_default();
        let labels = ResourceLabels { namespace: ns.into(), name: name.into() };
        metrics.group_lag_messages.get_or_create(&labels).set(5);
        metrics.group_lag_seconds.get_or_create(&labels).set(1.5);
        metrics.group_lag_within_slo.get_or_create(&labels).set(1);
        metrics.group_replicas_desired.get_or_create(&labels).set(2);
        metrics.group_replicas_current.get_or_create(&labels).set(2);
    }

    #[test]
    fn forgetting_a_group_drops_its_memory_and_every_series() {
        let (memories, metrics) = (GroupMemories::default(), Metrics::default());
        remembered(&memories, &metrics, "ns", "gone");
        remembered(&memories, &metrics, "ns", "kept");
        memories.forget(&metrics, "ns", "gone");
        assert_eq!(memories.len(), 1);
        let text = metrics.encode();
        assert!(!text.contains(r#"name="gone""#), "{text}");
        assert_eq!(text.matches(r#"name="kept""#).count(), 5, "{text}");
        // Forgetting twice (the delayed second pass) is harmless.
        memories.forget(&metrics, "ns", "gone");
        assert_eq!(memories.len(), 1);
    }

    #[test]
    fn a_relist_forgets_groups_deleted_while_the_watch_was_down() {
        let (memories, metrics) = (GroupMemories::default(), Metrics::default());
        for name in ["a", "b", "c"] {
            remembered(&memories, &metrics, "ns", name);
        }
        remembered(&memories, &metrics, "other", "a");
        memories.retain(&metrics, |ns, name| ns == "ns" && name != "b");
        assert_eq!(memories.len(), 2);
        let text = metrics.encode();
        assert!(!text.contains(r#"name="b""#) && !text.contains(r#"namespace="other""#), "{text}");
        assert_eq!(text.matches(r#"name="a""#).count(), 5, "{text}");
    }
}
