//! Leadership faults (F5 and the HA tests): which replica holds the Lease, and what Kafka showed meanwhile, read
//! by the test's own client.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Api;
use serde_json::json;
use tributary::api::Topic;

use crate::{Operator, Stack, rbac};

/// The operator identity a replica started here takes (no POD_NAME): `<hostname>-<pid>`.
pub fn identity_of(op: &Operator) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), op.pid())
}

pub async fn lease_holder(client: &kube::Client) -> Option<String> {
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), rbac::OPERATOR_NAMESPACE);
    leases.get_opt("tributary-leader").await.ok().flatten().and_then(|l| l.spec.and_then(|s| s.holder_identity))
}

/// Every value of `retention.ms` seen on each topic, in order, read from Kafka by the test's own admin client every
/// 250 ms (a separate client from the operator's, bootstrapped directly).
pub struct RetentionWatch {
    seen: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RetentionWatch {
    pub fn start(stack: &Stack, topics: &[String]) -> RetentionWatch {
        use rdkafka::admin::{AdminOptions, ResourceSpecifier};
        let seen = Arc::new(Mutex::new(BTreeMap::<String, Vec<String>>::new()));
        let (admin, topics, out) = (stack.admin(), topics.to_vec(), seen.clone());
        let task = tokio::spawn(async move {
            let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(5)));
            loop {
                let specs: Vec<_> = topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
                if let Ok(results) = admin.describe_configs(specs.iter(), &opts).await {
                    let mut seen = out.lock().unwrap();
                    for (topic, r) in topics.iter().zip(results) {
                        let Ok(r) = r else { continue };
                        let Some(v) = r.get("retention.ms").and_then(|e| e.value.clone()) else { continue };
                        let values = seen.entry(topic.clone()).or_default();
                        if values.last() != Some(&v) {
                            values.push(v);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        RetentionWatch { seen, task }
    }

    /// Whether every topic's latest value is `value`.
    pub fn all_at(&self, topics: &[String], value: &str) -> bool {
        let seen = self.seen.lock().unwrap();
        topics.iter().all(|t| seen.get(t).and_then(|v| v.last()).is_some_and(|v| v == value))
    }

    /// Stops watching; each topic's values in the order seen.
    pub fn stop(self) -> BTreeMap<String, Vec<String>> {
        self.task.abort();
        self.seen.lock().unwrap().clone()
    }
}

/// How often a topic's value went back to one it had left (`order`: the values in the order the specs set them).
pub fn reverts(history: &BTreeMap<String, Vec<String>>, order: &[&str]) -> Vec<(String, Vec<String>)> {
    history
        .iter()
        .filter(|(_, values)| {
            let rank: Vec<usize> =
                values.iter().map(|v| order.iter().position(|o| o == v).unwrap_or(usize::MAX)).collect();
            rank.windows(2).any(|w| w[1] < w[0]) || rank.contains(&usize::MAX)
        })
        .map(|(t, v)| (t.clone(), v.clone()))
        .collect()
}

pub async fn set_retention(topics: &Api<Topic>, names: &[String], value: &str) {
    for n in names {
        let patch = json!({"spec": {"config": {"retention.ms": value}}});
        topics.patch(n, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    }
}

/// Waits (up to `timeout`) for `op` to exit by itself; how long that took.
pub async fn exited_within(op: &mut Operator, timeout: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if op.exited().is_some() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
