//! `Topic`: one Kafka topic, its partitions, replication factor and config.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema, ResourceExt};
use serde::{Deserialize, Serialize};

use super::common::{ConnectionRef, DeletionPolicy, ManagementPolicy};

/// Finalizer that guards the Kafka side effects of a Topic.
pub const TOPIC_FINALIZER: &str = "tributary.dev/topic";

/// A Kafka topic, declared.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "tributary.dev",
    version = "v1alpha1",
    kind = "Topic",
    namespaced,
    status = "TopicStatus",
    shortname = "kt",
    shortname = "ktopic",
    category = "tributary",
    validation = Rule::new("(has(self.spec.topicName) ? self.spec.topicName : self.metadata.name) == (has(oldSelf.spec.topicName) ? oldSelf.spec.topicName : oldSelf.metadata.name)").message("spec.topicName is immutable: the Kafka topic name cannot change (it defaults to metadata.name)"),
    printcolumn = r#"{"name":"Topic","type":"string","jsonPath":".status.topicName"}"#,
    printcolumn = r#"{"name":"Partitions","type":"integer","jsonPath":".spec.partitions"}"#,
    printcolumn = r#"{"name":"RF","type":"integer","jsonPath":".spec.replicationFactor"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Policy","type":"string","priority":1,"jsonPath":".spec.managementPolicy"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[cfg_attr(test, kube(cel))]
#[x_kube(validation = Rule::new("has(self.connectionRef) == has(oldSelf.connectionRef) && (!has(self.connectionRef) || self.connectionRef == oldSelf.connectionRef)").message("spec.connectionRef is immutable"))]
#[serde(rename_all = "camelCase")]
pub struct TopicSpec {
    /// Name of the topic in Kafka. Defaults to `metadata.name`; set it for names with `_` or upper case, which
    /// Kubernetes names cannot hold. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    #[x_kube(validation = Rule::new("self != '.' && self != '..'").message("spec.topicName cannot be '.' or '..'"))]
    pub topic_name: Option<String>,
    /// The KafkaConnection to use. Defaults to the operator's default connection. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_ref: Option<ConnectionRef>,
    /// Number of partitions. Can grow, never shrink.
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1, max = 100000))]
    #[x_kube(validation = Rule::new("self >= oldSelf").message("spec.partitions cannot be decreased: Kafka cannot remove partitions"))]
    pub partitions: i32,
    /// Replication factor. Absent: the broker's `default.replication.factor`. A change is carried out by
    /// partition reassignment, tracked in `status.reassignment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32767))]
    pub replication_factor: Option<i32>,
    /// Topic-level config overrides (`retention.ms`, `cleanup.policy`, ...), values as strings. Checked against
    /// Kafka's topic config keys and their types; an unknown key or bad value gives `Ready=False` reason
    /// `InvalidConfig`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(length(max = 128))]
    pub config: BTreeMap<String, String>,
    /// `Enforce` (create, correct drift), `Observe` (adopt read-only), `CreateOnly` (create, never alter).
    #[serde(default)]
    pub management_policy: ManagementPolicy,
    /// Config keys Tributary never sets nor removes (another writer owns them). The throttled-replica keys are
    /// always ignored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    pub ignored_config_keys: Vec<String>,
    /// `Retain` (default) keeps the Kafka topic when this resource is deleted; `Delete` deletes it, refusing while
    /// a non-empty consumer group reads it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

fn default_partitions() -> i32 {
    1
}

/// A config key whose value in Kafka differs from the spec.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigDrift {
    /// The config key.
    pub key: String,
    /// Value in the spec; absent when the key is an override not in the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<String>,
    /// Value found in Kafka; absent when Kafka had no override for the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
}

/// Where a replication-factor change stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ReassignmentState {
    /// Partitions are being moved; Ready is False with reason `Reassigning`.
    #[default]
    Ongoing,
    /// Every partition has its new replicas, all in sync.
    Done,
}

/// Progress of a replication-factor change.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReassignmentStatus {
    /// The replication factor being moved to.
    pub target_replication_factor: i32,
    /// `Ongoing` (Ready is False with reason `Reassigning`) or `Done`.
    pub state: ReassignmentState,
    /// Partitions whose new replica set is complete and in sync.
    pub partitions_done: i32,
    /// Partitions to move.
    pub partitions_total: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Observed state of the topic.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatus {
    /// The generation last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Drifted`, `Conflict`, `Paused`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The Kafka topic name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    /// Kafka's topic id, spelled as Kafka's own tools print it (URL-safe base64, no padding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    /// Partitions in Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    /// Replication factor in Kafka (of the smallest replica set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i32>,
    /// Config drift. Under `Enforce`: the last correction (each key with the value found in Kafka and the value
    /// set), kept until a new drift or a new spec generation. Under `Observe` and `CreateOnly`: the drift now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<ConfigDrift>,
    /// When the drift listed in `drift` was corrected; absent when it is the drift now (or there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_corrected_time: Option<Time>,
    /// A replication-factor change in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassignment: Option<ReassignmentStatus>,
    /// When Kafka was last found to match the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
}

impl Topic {
    /// The Kafka topic name: `spec.topicName`, else `metadata.name`.
    pub fn kafka_name(&self) -> String {
        self.spec.topic_name.clone().unwrap_or_else(|| self.name_any())
    }
}

impl crate::api::conditions::HasConditions for TopicStatus {
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
}
