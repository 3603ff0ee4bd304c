//! Which Topic resource owns which Kafka topic on which cluster.
//!
//! Two resources that name the same Kafka topic on the same connection conflict: the oldest (by creation time,
//! then namespace/name) owns it; the others never write nor delete. The index is kept current from the Topic
//! watch stream itself, so it always agrees with the controller's cache, and it asks for a reconcile of the
//! new owner when an owner goes away (a clean handover).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;

use crate::api::Topic;
use crate::api::full_name;
use crate::runtime::config::OperatorConfig;
use crate::runtime::sync::lock;

/// Ordering key: creation time (seconds), then `namespace/name`.
type Claim = (i64, String);

#[derive(Default)]
struct Inner {
    claims: HashMap<(String, String), BTreeMap<Claim, ObjectRef<Topic>>>,
    by_object: HashMap<String, ((String, String), Claim)>,
}

/// The shared index.
#[derive(Clone)]
pub struct TopicIndex {
    inner: Arc<Mutex<Inner>>,
    config: OperatorConfig,
    handover: mpsc::UnboundedSender<ObjectRef<Topic>>,
}

impl TopicIndex {
    /// The index and the stream of topics to reconcile after a handover.
    pub fn new(config: OperatorConfig) -> (TopicIndex, mpsc::UnboundedReceiver<ObjectRef<Topic>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (TopicIndex { inner: Arc::default(), config, handover: tx }, rx)
    }

    fn key_of(&self, topic: &Topic) -> Option<(String, String)> {
        let ns = topic.namespace()?;
        let conn = self.config.connection_key(topic.spec.connection_ref.as_ref(), &ns)?;
        Some((conn, topic.kafka_name()))
    }

    /// Records a topic seen on the watch stream.
    pub fn upsert(&self, topic: &Topic) {
        let Some(key) = self.key_of(topic) else { return };
        let name = full_name(topic);
        let created = topic.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()).unwrap_or(i64::MAX);
        let claim = (created, name.clone());
        let mut inner = lock(&self.inner);
        if let Some((old_key, old_claim)) = inner.by_object.get(&name).cloned() {
            if old_key == key && old_claim == claim {
                return;
            }
            if let Some(m) = inner.claims.get_mut(&old_key) {
                m.remove(&old_claim);
            }
        }
        inner.claims.entry(key.clone()).or_default().insert(claim.clone(), ObjectRef::from_obj(topic));
        inner.by_object.insert(name, (key, claim));
    }

    /// Forgets a deleted topic; if it owned its Kafka topic, the next claimant is reconciled.
    pub fn remove(&self, topic: &Topic) {
        let name = full_name(topic);
        let mut inner = lock(&self.inner);
        let Some((key, claim)) = inner.by_object.remove(&name) else { return };
        let Some(m) = inner.claims.get_mut(&key) else { return };
        m.remove(&claim);
        // The next claimant takes over; which one depends on the connection's tenancy rule (the first of all, or
        // the first of the namespace), which the index does not know: every remaining claimant looks again (they
        // are one or two).
        for next in m.values() {
            let _ = self.handover.send(next.clone());
        }
        if m.is_empty() {
            inner.claims.remove(&key);
        }
    }

    /// The owner (`namespace/name`) of the Kafka topic `topic` names, when it is not `topic` itself. Under a
    /// connection's tenancy rule (`tenancy`) each namespace's names get its own prefix, so only the topics of the
    /// same namespace claim the same Kafka topic.
    pub fn other_owner(&self, topic: &Topic, tenancy: bool) -> Option<String> {
        let key = self.key_of(topic)?;
        let name = full_name(topic);
        let ns = format!("{}/", topic.namespace().unwrap_or_default());
        let inner = lock(&self.inner);
        let (_, owner) = inner.claims.get(&key)?.keys().find(|(_, claimant)| !tenancy || claimant.starts_with(&ns))?;
        (owner != &name).then(|| owner.clone())
    }

    /// Number of topic resources indexed.
    pub fn len(&self) -> usize {
        lock(&self.inner).by_object.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn topic(ns: &str, name: &str, kafka: &str, created: &str) -> Topic {
        serde_json::from_value(json!({"apiVersion": "tributary.dev/v1alpha1", "kind": "Topic",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": created},
            "spec": {"topicName": kafka, "connectionRef": {"name": "main", "namespace": "kafka"}}}))
        .unwrap()
    }

    #[test]
    fn oldest_wins_and_ownership_hands_over() {
        let cfg = OperatorConfig::defaults();
        let (index, mut rx) = TopicIndex::new(cfg);
        let old = topic("a", "orders", "orders", "2026-01-01T00:00:00Z");
        let new = topic("b", "orders-copy", "orders", "2026-02-01T00:00:00Z");
        let other = topic("b", "payments", "payments", "2026-02-01T00:00:00Z");
        index.upsert(&new);
        index.upsert(&old);
        index.upsert(&other);
        assert_eq!(index.other_owner(&old, false), None);
        assert_eq!(index.other_owner(&new, false).as_deref(), Some("a/orders"));
        assert_eq!(index.other_owner(&other, false), None);
        // Under tenancy, a/orders and b/orders-copy are two Kafka topics (a.orders, b.orders).
        assert_eq!(index.other_owner(&new, true), None);
        let same_ns = topic("a", "orders-copy", "orders", "2026-03-01T00:00:00Z");
        index.upsert(&same_ns);
        assert_eq!(index.other_owner(&same_ns, true).as_deref(), Some("a/orders"));
        index.remove(&same_ns);
        while rx.try_recv().is_ok() {}
        index.remove(&old);
        assert_eq!(index.other_owner(&new, false), None);
        assert_eq!(rx.try_recv().unwrap().name, "orders-copy");
    }
}
