//! `ConsumerGroup`: a Kafka consumer group, its lag objective, its autoscaling and its declarative replay.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema, ResourceExt};
use serde::{Deserialize, Serialize};

use super::common::ConnectionRef;

/// A Kafka consumer group, declared beside the topics it reads.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "tributary.dev",
    version = "v1alpha1",
    kind = "ConsumerGroup",
    namespaced,
    status = "ConsumerGroupStatus",
    shortname = "kcg",
    category = "tributary",
    validation = Rule::new("(has(self.spec.groupId) ? self.spec.groupId : self.metadata.name) == (has(oldSelf.spec.groupId) ? oldSelf.spec.groupId : oldSelf.metadata.name)").message("spec.groupId is immutable: the Kafka group id cannot change (it defaults to metadata.name)"),
    printcolumn = r#"{"name":"Group","type":"string","jsonPath":".status.groupId"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Lag","type":"integer","jsonPath":".status.totalLag"}"#,
    printcolumn = r#"{"name":"Lag-s","type":"number","jsonPath":".status.maxLagSeconds"}"#,
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".status.currentReplicas"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".status.desiredReplicas"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[cfg_attr(test, kube(cel))]
#[x_kube(validation = Rule::new("has(self.connectionRef) == has(oldSelf.connectionRef) && (!has(self.connectionRef) || self.connectionRef == oldSelf.connectionRef)").message("spec.connectionRef is immutable"))]
#[serde(rename_all = "camelCase")]
pub struct ConsumerGroupSpec {
    /// The Kafka group id. Defaults to `metadata.name`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub group_id: Option<String>,
    /// The KafkaConnection to use. Defaults to the operator's default connection. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_ref: Option<ConnectionRef>,
    /// Kafka topic names the group reads. Empty: every topic the group has committed offsets for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$")))]
    #[x_kube(validation = Rule::new("self.all(t, t != '.' && t != '..')").message("spec.topics cannot hold '.' or '..': Kafka refuses those topic names"))]
    pub topics: Vec<String>,
    /// The lag objective.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<LagObjective>,
    /// Lag-driven scaling of the consumer workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// Declarative replay: a new `id` resets the group's offsets once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_reset: Option<OffsetReset>,
}

/// Lag objective in seconds behind the newest record. Drives the `LagWithinSLO` condition.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("!has(self.warnSeconds) || !has(self.maxSeconds) || self.warnSeconds <= self.maxSeconds").message("lag.warnSeconds must not exceed lag.maxSeconds"))]
#[serde(rename_all = "camelCase")]
pub struct LagObjective {
    /// Lag in seconds above which an Event warns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub warn_seconds: Option<i64>,
    /// Lag in seconds above which `LagWithinSLO` is False.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_seconds: Option<i64>,
}

/// The workload to scale: anything with a `/scale` subresource.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    /// e.g. `apps/v1`.
    #[serde(default = "default_apps_v1")]
    pub api_version: String,
    /// e.g. `Deployment`, `StatefulSet`.
    #[serde(default = "default_deployment")]
    pub kind: String,
    /// Name of the workload, in the ConsumerGroup's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

fn default_apps_v1() -> String {
    "apps/v1".into()
}
fn default_deployment() -> String {
    "Deployment".into()
}

/// How fast replicas may change in one direction.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingRules {
    /// The highest (scale down) or lowest (scale up) recommendation over this window is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub stabilization_seconds: Option<i32>,
    /// Most replicas added or removed in one step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_step: Option<i32>,
}

/// Lag-driven autoscaling.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("autoscaling.minReplicas must not exceed autoscaling.maxReplicas"))]
#[x_kube(validation = Rule::new("has(self.lagPerReplica) != has(self.maxDrainSeconds)").message("set exactly one autoscaling target: lagPerReplica or maxDrainSeconds"))]
#[serde(rename_all = "camelCase")]
pub struct Autoscaling {
    /// The workload whose replicas are the group's consumers.
    pub target_ref: ScaleTargetRef,
    /// Fewest replicas; 0 allows scale to zero.
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 0))]
    pub min_replicas: i32,
    /// Most replicas; also capped by the partition count unless `allowIdleConsumers`.
    #[schemars(range(min = 1))]
    pub max_replicas: i32,
    /// Allow more replicas than partitions (they sit idle).
    #[serde(default)]
    pub allow_idle_consumers: bool,
    /// Target lag in messages per replica (KEDA's `lagThreshold`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub lag_per_replica: Option<i64>,
    /// Target time to drain the lag, using measured produce and consume rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_drain_seconds: Option<i64>,
    /// Lag at or below which the group stays at zero replicas (and above which it wakes to one).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub activation_lag: i64,
    /// Ignored since lag follows the connection's lag tick (the operator's `lagTickMillis`, default 1 s): kept so
    /// that existing manifests stay valid.
    #[serde(default = "default_poll_seconds")]
    #[schemars(range(min = 1, max = 300))]
    pub poll_seconds: i32,
    /// Scale-up behaviour (default: at once, at most doubling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<ScalingRules>,
    /// Scale-down behaviour (default: 300 s stabilization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<ScalingRules>,
}

fn default_min_replicas() -> i32 {
    1
}
fn default_poll_seconds() -> i32 {
    5
}

/// Where an offset reset moves the group.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OffsetResetTarget {
    /// The log start of each partition.
    #[default]
    Earliest,
    /// The log end of each partition (skip everything).
    Latest,
    /// The first offset at or after a time (`value`: RFC 3339 or epoch milliseconds).
    Timestamp,
    /// A fixed offset (`value`), clamped to the log.
    Offset,
    /// The committed offset moved by `value` (negative: back), clamped to the log.
    ShiftBy,
}

/// A one-off reset of the group's committed offsets.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[x_kube(validation = Rule::new("self.to == 'Earliest' || self.to == 'Latest' || has(self.value)").message("offsetReset.value is required for Timestamp, Offset and ShiftBy"))]
#[x_kube(validation = Rule::new("self.to != 'Offset' || !has(self.value) || self.value.matches('^[0-9]+$')").message("offsetReset.value must be a non-negative integer for Offset"))]
#[x_kube(validation = Rule::new("self.to != 'ShiftBy' || !has(self.value) || self.value.matches('^-?[0-9]+$')").message("offsetReset.value must be an integer for ShiftBy"))]
#[x_kube(validation = Rule::new("self.to != 'Timestamp' || !has(self.value) || self.value.matches('^[0-9]+$') || self.value.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}T')").message("offsetReset.value must be an RFC 3339 time or epoch milliseconds for Timestamp"))]
#[serde(rename_all = "camelCase")]
pub struct OffsetReset {
    /// A new id runs the reset once.
    #[schemars(length(min = 1, max = 63))]
    pub id: String,
    /// Where to move the offsets.
    pub to: OffsetResetTarget,
    /// The time, offset or shift, per `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Topics to reset; empty: every topic of the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$")))]
    #[x_kube(validation = Rule::new("self.all(t, t != '.' && t != '..')").message("offsetReset.topics cannot hold '.' or '..': Kafka refuses those topic names"))]
    pub topics: Vec<String>,
}

/// Lag of the group on one topic.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicLag {
    pub topic: String,
    /// Messages behind.
    pub lag: i64,
    /// Seconds behind (the largest over the topic's partitions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<f64>,
    pub partitions: i32,
}

/// A partition's status after Burrow's rules.
// Declared in increasing severity, so that the worst is the greatest (see `decisions::burrow`).
#[derive(
    schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum PartitionStatus {
    /// Healthy. Never listed in status (only unhealthy partitions are).
    #[default]
    #[serde(rename = "OK")]
    #[schemars(skip)]
    Ok,
    /// The consumer moves but falls behind.
    Warn,
    /// The consumer commits the same offset while lag stands (a poison record retried forever).
    #[serde(rename = "Stalled")]
    Stall,
    /// The consumer stopped committing.
    #[serde(rename = "Stopped")]
    Stop,
    /// A committed offset went backwards.
    #[serde(rename = "Rewound")]
    Rewind,
}

impl PartitionStatus {
    /// The word used in status and Events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warn => "Warn",
            Self::Stall => "Stalled",
            Self::Stop => "Stopped",
            Self::Rewind => "Rewound",
        }
    }
}

impl std::fmt::Display for PartitionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the status spelling, as tools and tests that read status do.
impl PartialEq<&str> for PartitionStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A partition that is not healthy, after Burrow's rules.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionHealth {
    pub topic: String,
    pub partition: i32,
    /// `Warn`, `Stalled`, `Stopped` or `Rewound`.
    pub status: PartitionStatus,
    pub lag: i64,
}

/// The last change of replicas.
#[derive(KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleEvent {
    pub time: Time,
    pub from: i32,
    pub to: i32,
    pub reason: String,
}

/// Where an offset reset stands. Only `WaitingForEmptyGroup` and the three final phases stay in status between
/// reconciles; `Pending` and `Resetting` are passed through within one.
#[derive(schemars::JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OffsetResetPhase {
    /// Accepted; the workload is about to be scaled to zero (or the group checked for members).
    #[default]
    Pending,
    /// The workload is scaled to zero; the group still has members.
    WaitingForEmptyGroup,
    /// The committed offsets are being written (then the workload is scaled back to its saved replicas).
    Resetting,
    /// The offsets were reset (and the replicas restored).
    Done,
    /// The group has members the operator does not control; nothing was changed.
    Refused,
    /// The offsets could not be written (the replicas were restored).
    Failed,
}

impl OffsetResetPhase {
    /// The spelling in status (and in the CRD's enum).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::WaitingForEmptyGroup => "WaitingForEmptyGroup",
            Self::Resetting => "Resetting",
            Self::Done => "Done",
            Self::Refused => "Refused",
            Self::Failed => "Failed",
        }
    }

    /// The reset is over: a reset with the same id never runs again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Done | Self::Refused | Self::Failed)
    }
}

impl std::fmt::Display for OffsetResetPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the status spelling, as tools and tests that read status do.
impl PartialEq<&str> for OffsetResetPhase {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Progress of an offset reset.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OffsetResetStatus {
    pub id: String,
    /// `Pending`, `WaitingForEmptyGroup`, `Resetting`, `Done`, `Refused`, `Failed`.
    pub phase: OffsetResetPhase,
    /// Replicas to restore once the reset is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
}

/// Observed state of the group.
#[derive(KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerGroupStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `LagWithinSLO`, `Stalled`, `ScalingActive`, `ScalingLimited`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The Kafka group id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Kafka's group state (`Stable`, `Empty`, `PreparingRebalance`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_lag: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lag_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<TopicLag>,
    /// Unhealthy partitions (at most 20 listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<PartitionHealth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale: Option<ScaleEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_reset: Option<OffsetResetStatus>,
}

impl ConsumerGroup {
    /// The Kafka group id: `spec.groupId`, else `metadata.name`.
    pub fn group_id(&self) -> String {
        self.spec.group_id.clone().unwrap_or_else(|| self.name_any())
    }
}

impl crate::api::conditions::HasConditions for ConsumerGroupStatus {
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_enums_keep_their_spelling() {
        use OffsetResetPhase as R;
        use PartitionStatus as P;
        let resets = [R::Pending, R::WaitingForEmptyGroup, R::Resetting, R::Done, R::Refused, R::Failed];
        for phase in resets {
            let json = serde_json::to_value(phase).unwrap();
            assert_eq!(json, json!(phase.as_str()));
            assert_eq!(serde_json::from_value::<R>(json).unwrap(), phase);
        }
        let terminal: Vec<_> = resets.into_iter().filter(|p| p.is_terminal()).collect();
        assert_eq!(terminal, [R::Done, R::Refused, R::Failed]);
        let words: Vec<_> = [P::Ok, P::Warn, P::Stall, P::Stop, P::Rewind]
            .into_iter()
            .map(|s| serde_json::to_value(s).unwrap())
            .collect();
        assert_eq!(words, [json!("OK"), json!("Warn"), json!("Stalled"), json!("Stopped"), json!("Rewound")]);
        let h: PartitionHealth =
            serde_json::from_value(json!({"topic": "t", "partition": 0, "status": "Stalled", "lag": 3})).unwrap();
        assert_eq!(h.status, P::Stall);
        assert_eq!(h.status, "Stalled");
    }
}
