//! Manifests (JSON) of the objects tests and benchmarks apply.

use serde_json::{Value, json};

/// A Tributary object of `kind` named `name` with `spec`.
pub fn tributary(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "tributary.dev/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec})
}

pub fn topic(name: &str, spec: Value) -> Value {
    tributary("Topic", name, spec)
}

pub fn consumer_group(name: &str, spec: Value) -> Value {
    tributary("ConsumerGroup", name, spec)
}

pub fn dlq_policy(name: &str, spec: Value) -> Value {
    tributary("DlqPolicy", name, spec)
}

/// A KafkaConnection to the brokers of `bootstrap` (comma-separated), without authentication.
pub fn kafka_connection(name: &str, bootstrap: &str) -> Value {
    tributary("KafkaConnection", name, json!({"bootstrapServers": bootstrap.split(',').collect::<Vec<_>>()}))
}

/// A Deployment whose replicas the in-process [`crate::emulator::ReplicaEmulator`] plays: its pods never schedule
/// (no node has the label), so the node pulls and runs nothing for it.
pub fn emulated_deployment(name: &str, replicas: i32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"nodeSelector": {"tributary.dev/emulated-replicas": "true"},
                                       "containers": [{"name": "consumer", "image": "registry.invalid/consumer:1",
                                                       "imagePullPolicy": "Never"}]}}}})
}
