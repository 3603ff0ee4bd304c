//! `DlqPolicy`: retry and dead-letter topics around a source topic, dead-letter monitoring, and redrive.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::ConnectionRef;

/// Finalizer that stops a policy's redrive before the policy goes.
pub const DLQ_POLICY_FINALIZER: &str = "tributary.dev/dlq-policy";
/// Label on the child `Topic` resources a policy generates, naming the policy.
pub const DLQ_POLICY_LABEL: &str = "tributary.dev/dlq-policy";
/// Condition: depth, age and rate of dead letters are within `spec.alerting`.
pub const DEAD_LETTERS_WITHIN_LIMIT: &str = "DeadLettersWithinLimit";

/// Retry and dead-letter topics for a source topic, named the way Spring Kafka names them by default.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "tributary.dev",
    version = "v1alpha1",
    kind = "DlqPolicy",
    namespaced,
    status = "DlqPolicyStatus",
    shortname = "dlq",
    category = "tributary",
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".spec.sourceTopic"}"#,
    printcolumn = r#"{"name":"DLT","type":"string","jsonPath":".status.deadLetterTopic"}"#,
    printcolumn = r#"{"name":"Depth","type":"integer","jsonPath":".status.depth"}"#,
    printcolumn = r#"{"name":"Redrive","type":"string","jsonPath":".status.redrive.phase"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[cfg_attr(test, kube(cel))]
#[x_kube(validation = Rule::new("has(self.connectionRef) == has(oldSelf.connectionRef) && (!has(self.connectionRef) || self.connectionRef == oldSelf.connectionRef)").message("spec.connectionRef is immutable"))]
#[x_kube(validation = Rule::new("self.sourceTopic == oldSelf.sourceTopic").message("spec.sourceTopic is immutable"))]
#[serde(rename_all = "camelCase")]
pub struct DlqPolicySpec {
    /// The KafkaConnection to use. Defaults to the operator's default connection. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_ref: Option<ConnectionRef>,
    /// The Kafka topic whose failures this policy handles.
    #[schemars(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    #[x_kube(validation = Rule::new("self != '.' && self != '..'").message("spec.sourceTopic cannot be '.' or '..'"))]
    pub source_topic: String,
    /// The consumer group that reads the source topic (for Spring's `kafka_dlt-original-consumer-group`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
    /// Retry topics. Absent: a dead-letter topic only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// The dead-letter topic.
    #[serde(default)]
    pub dead_letter: DeadLetterSpec,
    /// Limits that set `DeadLettersWithinLimit=False`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<DlqAlerting>,
    /// A move of dead letters back to their topics. A new `id` starts one move; clearing it cancels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive: Option<RedriveSpec>,
    /// Topics a redrive may write to, besides `sourceTopic`. `*` allows any topic on the connection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 249), regex(pattern = r"^(\*|[a-zA-Z0-9._-]+)$")))]
    pub allowed_redrive_topics: Vec<String>,
    /// What happens to the generated topics in Kafka when the policy is deleted.
    #[serde(default)]
    pub deletion_policy: super::common::DeletionPolicy,
}

/// Spring-style retry topics.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("!(has(self.backoff) && has(self.delaysMs))").message("set retry.backoff or retry.delaysMs, not both"))]
#[x_kube(validation = Rule::new("!has(self.delaysMs) || size(self.delaysMs) <= self.attempts - 1").message("retry.delaysMs must not have more delays than attempts - 1 retries"))]
#[serde(rename_all = "camelCase")]
pub struct RetrySpec {
    /// Deliveries including the first, as Spring's `attempts` (default 3: two retry topics).
    #[serde(default = "default_attempts")]
    #[schemars(range(min = 1, max = 100))]
    pub attempts: i32,
    /// Backoff between attempts (default: fixed 1 s, Spring's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Explicit delays in milliseconds, one per retry; the last one repeats for the remaining retries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub delays_ms: Vec<i64>,
    /// Suffix of retry topics (default `-retry`, Spring's `retryTopicSuffix`); the delay in ms (or the index)
    /// follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub suffix: Option<String>,
    /// What follows the suffix, as Spring's `topicSuffixingStrategy`: `DelayValue` (default) or `IndexValue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffixing: Option<TopicSuffixing>,
    /// Whether the last retries with the same delay share one topic, as Spring's
    /// `sameIntervalTopicReuseStrategy`: `SingleTopic` (default since Spring Kafka 3.2) or `MultipleTopics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_interval_topic_reuse: Option<SameIntervalTopicReuse>,
    /// Partitions of each retry topic (default: 1, as Spring creates them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub partitions: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub replication_factor: Option<i32>,
    /// Topic config of each retry topic. Checked as a Topic's `spec.config`: a bad key or value gives `Ready=False`
    /// reason `InvalidConfig`, and no topic of the policy is made.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 128))]
    pub config: BTreeMap<String, String>,
}

fn default_attempts() -> i32 {
    3
}

/// Spring's `TopicSuffixingStrategy`.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TopicSuffixing {
    /// `<topic>-retry-<delayMs>` (a fixed back-off with several topics uses the index).
    #[default]
    DelayValue,
    /// `<topic>-retry-<index>`.
    IndexValue,
}

/// Spring's `SameIntervalTopicReuseStrategy`.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SameIntervalTopicReuse {
    /// The last retries with the same delay share one topic.
    #[default]
    SingleTopic,
    /// One topic per retry.
    MultipleTopics,
}

/// Exponential or fixed backoff, as Spring's `@Backoff(delay, multiplier, maxDelay)`.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// First delay in seconds (may be fractional).
    #[schemars(range(min = 0.001))]
    pub initial_seconds: f64,
    /// Factor between consecutive delays (1: fixed).
    #[serde(default = "default_multiplier")]
    #[schemars(range(min = 1.0))]
    pub multiplier: f64,
    /// Largest delay in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds: Option<f64>,
}

fn default_multiplier() -> f64 {
    1.0
}

/// The dead-letter topic.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("!(has(self.topicName) && has(self.suffix))").message("set deadLetter.topicName or deadLetter.suffix, not both"))]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterSpec {
    /// Name (default `<sourceTopic><suffix>`, i.e. `<sourceTopic>-dlt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    #[x_kube(validation = Rule::new("self != '.' && self != '..'").message("deadLetter.topicName cannot be '.' or '..'"))]
    pub topic_name: Option<String>,
    /// Suffix of the dead-letter topic (default `-dlt`, Spring's `dltTopicSuffix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub suffix: Option<String>,
    /// Retention in seconds (default 14 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60))]
    pub retention_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub partitions: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub replication_factor: Option<i32>,
    /// Topic config of the dead-letter topic; `retentionSeconds` sets `retention.ms` over it. Checked as
    /// `retry.config` is.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 128))]
    pub config: BTreeMap<String, String>,
}

/// Limits on the dead-letter topic.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqAlerting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_depth: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_age_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_per_minute: Option<i64>,
}

/// A rate-limited, exactly-once move of dead letters.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveSpec {
    /// A new id starts one move.
    #[schemars(length(min = 1, max = 63))]
    pub id: String,
    /// Destination topic. Absent: each record's original topic from its headers, else `sourceTopic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    pub destination: Option<String>,
    /// Records per second at most (default 100); 0 means no limit.
    #[serde(default = "default_max_per_second")]
    #[schemars(range(min = 0, max = 10000000))]
    pub max_per_second: i32,
    /// Records to move at most. Absent: everything present when the move started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_messages: Option<i64>,
}

fn default_max_per_second() -> i32 {
    100
}

/// Where a redrive stands.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RedrivePhase {
    /// Waiting for the connection, the dead-letter topic or the destination check.
    #[default]
    Pending,
    /// Records are moving.
    Running,
    /// Everything the move took is at its destination.
    Completed,
    /// `spec.redrive` was cleared (or the policy deleted) before the move ended.
    Cancelled,
    /// The move stopped on an error or before a record it may not move.
    Failed,
    /// The policy does not allow the destination, or it does not exist; nothing was moved.
    Refused,
}

impl RedrivePhase {
    /// The spelling in status (and in the CRD's enum).
    pub fn as_str(self) -> &'static str {
        match self {
            RedrivePhase::Pending => "Pending",
            RedrivePhase::Running => "Running",
            RedrivePhase::Completed => "Completed",
            RedrivePhase::Cancelled => "Cancelled",
            RedrivePhase::Failed => "Failed",
            RedrivePhase::Refused => "Refused",
        }
    }

    /// A move that ended: it never runs again under the same id. (`Refused` is looked at again at every reconcile:
    /// the destination may appear or be allowed.)
    pub fn is_terminal(self) -> bool {
        matches!(self, RedrivePhase::Completed | RedrivePhase::Cancelled | RedrivePhase::Failed)
    }
}

impl std::fmt::Display for RedrivePhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the status spelling, as tools and tests that read status do.
impl PartialEq<&str> for RedrivePhase {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Progress of a redrive.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveStatus {
    pub id: String,
    /// `Pending`, `Running`, `Completed`, `Cancelled`, `Failed`, `Refused`.
    pub phase: RedrivePhase,
    pub moved: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Observed state of the policy.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqPolicyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `DeadLettersWithinLimit`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Generated retry topics, in attempt order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry_topics: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
    /// Records in the dead-letter topic not yet redriven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<i64>,
    /// Age of the oldest record not yet redriven, as of the last status write. It is refreshed whenever Kafka
    /// changes and when it crosses 1m, 5m, 15m, 1h, 6h, 1d, 3d, 7d; `oldestRecordTime` gives the exact age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_age_seconds: Option<i64>,
    /// Timestamp of the oldest record not yet redriven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_record_time: Option<Time>,
    /// The consumer group whose committed offsets mark what was redriven (its name, suffixed `-0` … `-3`, is also
    /// the redrive movers' transactional ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive_group: Option<String>,
    /// Records per minute arriving in the dead-letter topic: end-offset growth over the last minute, recomputed when
    /// the end offsets move, held while they stand still, 0 after a quiet minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive: Option<RedriveStatus>,
}

impl crate::api::conditions::HasConditions for DlqPolicyStatus {
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(spec: serde_json::Value) -> DlqPolicy {
        serde_json::from_value(json!({"apiVersion": "tributary.dev/v1alpha1", "kind": "DlqPolicy",
            "metadata": {"name": "orders"}, "spec": spec}))
        .unwrap()
    }

    #[test]
    fn cel_rules() {
        let ok = policy(json!({"sourceTopic": "orders", "retry": {"attempts": 3, "delaysMs": [100, 200]}}));
        assert!(ok.validate_cel().is_ok());
        let too_many = policy(json!({"sourceTopic": "orders", "retry": {"attempts": 2, "delaysMs": [100, 200]}}));
        assert!(too_many.validate_cel().unwrap_err().to_string().contains("attempts - 1"));
        let both = policy(json!({"sourceTopic": "orders", "deadLetter": {"topicName": "x", "suffix": "-y"}}));
        assert!(both.validate_cel().unwrap_err().to_string().contains("not both"));
        let old = policy(json!({"sourceTopic": "orders"}));
        let err = policy(json!({"sourceTopic": "payments"})).validate_cel_update(&old).unwrap_err();
        assert!(err.to_string().contains("sourceTopic is immutable"), "{err}");
    }

    #[test]
    fn redrive_phases_keep_their_status_spelling() {
        use RedrivePhase::*;
        for phase in [Pending, Running, Completed, Cancelled, Failed, Refused] {
            let json = serde_json::to_value(phase).unwrap();
            assert_eq!(json, json!(phase.as_str()));
            assert_eq!(serde_json::from_value::<RedrivePhase>(json).unwrap(), phase);
        }
        let terminal: Vec<_> =
            [Pending, Running, Completed, Cancelled, Failed, Refused].into_iter().filter(|p| p.is_terminal()).collect();
        assert_eq!(terminal, [Completed, Cancelled, Failed]);
        let status: RedriveStatus = serde_json::from_value(json!({"id": "r", "phase": "Running", "moved": 3})).unwrap();
        assert!(status.phase == "Running" && status.phase == Running);
        assert!(serde_json::from_value::<RedrivePhase>(json!("running")).is_err());
    }

    #[test]
    fn defaults_match_spring() {
        let p = policy(json!({"sourceTopic": "orders", "retry": {}, "redrive": {"id": "r1"}}));
        assert_eq!(p.spec.retry.as_ref().unwrap().attempts, 3);
        assert_eq!(p.spec.redrive.as_ref().unwrap().max_per_second, 100);
        assert_eq!(p.spec.deletion_policy, super::super::common::DeletionPolicy::Retain);
    }
}
