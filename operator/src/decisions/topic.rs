//! The reconcile plan of a topic: validate the spec against Kafka's rules and the connection's guardrails, compare
//! it with what Kafka has, and list the actions that make Kafka match. Pure: no I/O, no clock.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::common::ManagementPolicy;
use crate::api::connection::ConnectionPolicy;
use crate::api::topic::ConfigDrift;

use super::problem::Problem;
use super::reassign::PartitionReplicas;
use super::topic_config::{self, THROTTLED_REPLICA_KEYS};

/// What the spec asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: Option<i32>,
    pub config: BTreeMap<String, String>,
    pub policy: ManagementPolicy,
    pub ignored_keys: BTreeSet<String>,
}

/// What Kafka has.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ObservedTopic {
    pub partitions: i32,
    pub replication_factor: i32,
    /// Every config entry: value and whether it is a topic-level override.
    pub config: BTreeMap<String, (Option<String>, bool)>,
    /// Replicas and in-sync replicas of every partition.
    pub replicas: Vec<PartitionReplicas>,
}

/// One change to make in Kafka.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicAction {
    Create { partitions: i32, replication_factor: Option<i32>, config: BTreeMap<String, String> },
    AddPartitions { total: i32 },
    AlterConfig { set: BTreeMap<String, String>, delete: Vec<String> },
}

/// The outcome of planning.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TopicPlan {
    pub actions: Vec<TopicAction>,
    /// Keys that differ, as observed before any correction.
    pub drift: Vec<ConfigDrift>,
    /// A state that blocks readiness without being an input error (e.g. more partitions in Kafka than in spec).
    pub blocked: Option<Problem>,
}

/// Checks the spec alone: Kafka's naming and config rules, then the connection's guardrails.
pub fn validate(
    desired: &DesiredTopic,
    policy: Option<&ConnectionPolicy>,
    name_pattern: Option<&regex::Regex>,
) -> Result<(), Problem> {
    let name = &desired.name;
    let legal = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !legal {
        return Err(Problem::new(
            "InvalidTopicName",
            format!("topic name {name:?} is not a legal Kafka topic name ([a-zA-Z0-9._-], 1-249 characters)"),
        ));
    }
    for (k, v) in &desired.config {
        topic_config::validate(k, v).map_err(|message| Problem::new("InvalidConfig", message))?;
    }
    topic_config::validate_together("spec.config", &desired.config)
        .map_err(|message| Problem::new("InvalidConfig", message))?;
    let Some(policy) = policy else { return Ok(()) };
    let violation = |message: String| Problem::new("PolicyViolation", message);
    if let Some(max) = policy.max_partitions
        && desired.partitions > max
    {
        return Err(violation(format!(
            "spec.partitions {} exceeds the connection's policy.maxPartitions {max}",
            desired.partitions
        )));
    }
    if let (Some(min), Some(rf)) = (policy.min_replication_factor, desired.replication_factor)
        && rf < min
    {
        return Err(violation(format!(
            "spec.replicationFactor {rf} is below the connection's policy.minReplicationFactor {min}"
        )));
    }
    if let (Some(pattern), Some(re)) = (&policy.topic_name_pattern, name_pattern)
        && !re.is_match(name)
    {
        return Err(violation(format!(
            "topic name {name:?} does not match the connection's policy.topicNamePattern {pattern:?}"
        )));
    }
    for bound in &policy.protected_config {
        let Some(value) = desired.config.get(&bound.key) else { continue };
        let Some(n) = topic_config::numeric(value) else { continue };
        // -1 means unlimited, which satisfies any minimum.
        if let Some(min) = bound.min
            && n != -1
            && n < min
        {
            return Err(violation(format!(
                "spec.config.{} {n} is below the connection's policy.protectedConfig minimum {min}",
                bound.key
            )));
        }
        if let Some(max) = bound.max
            && (n == -1 || n > max)
        {
            return Err(violation(format!(
                "spec.config.{} {n} is above the connection's policy.protectedConfig maximum {max}",
                bound.key
            )));
        }
    }
    Ok(())
}

fn ignored(desired: &DesiredTopic, key: &str) -> bool {
    THROTTLED_REPLICA_KEYS.contains(&key) || desired.ignored_keys.contains(key)
}

/// The keys whose value in Kafka differs from the spec; overrides not in the spec count too.
pub fn config_drift(desired: &DesiredTopic, observed: &ObservedTopic) -> Vec<ConfigDrift> {
    let mut drift = vec![];
    for (key, want) in &desired.config {
        if ignored(desired, key) {
            continue;
        }
        let actual = observed.config.get(key).and_then(|(v, _)| v.clone());
        let same =
            actual.as_deref().is_some_and(|a| topic_config::normalize(key, a) == topic_config::normalize(key, want));
        if !same {
            drift.push(ConfigDrift { key: key.clone(), desired: Some(want.clone()), actual });
        }
    }
    for (key, (value, is_override)) in &observed.config {
        if *is_override && !desired.config.contains_key(key) && !ignored(desired, key) {
            drift.push(ConfigDrift { key: key.clone(), desired: None, actual: value.clone() });
        }
    }
    drift.sort_by(|a, b| a.key.cmp(&b.key));
    drift
}

/// Plans the actions for a valid spec against what Kafka has (`None`: the topic does not exist).
pub fn plan(desired: &DesiredTopic, observed: Option<&ObservedTopic>) -> TopicPlan {
    let Some(observed) = observed else {
        if desired.policy == ManagementPolicy::Observe {
            return TopicPlan {
                blocked: Some(Problem::new(
                    "TopicNotFound",
                    format!("topic {:?} does not exist and managementPolicy is Observe", desired.name),
                )),
                ..TopicPlan::default()
            };
        }
        let config =
            desired.config.iter().filter(|(k, _)| !ignored(desired, k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        return TopicPlan {
            actions: vec![TopicAction::Create {
                partitions: desired.partitions,
                replication_factor: desired.replication_factor,
                config,
            }],
            ..TopicPlan::default()
        };
    };
    let drift = config_drift(desired, observed);
    if observed.partitions > desired.partitions {
        // Kafka cannot remove partitions; touching nothing is the only safe answer.
        return TopicPlan {
            drift,
            blocked: Some(Problem::new(
                "PartitionDecrease",
                format!(
                    "topic {:?} has {} partitions in Kafka but spec.partitions is {}: Kafka cannot remove partitions; raise spec.partitions to {} to manage it",
                    desired.name, observed.partitions, desired.partitions, observed.partitions
                ),
            )),
            ..TopicPlan::default()
        };
    }
    let mut plan = TopicPlan { drift, ..TopicPlan::default() };
    // In Enforce a replication-factor difference is carried out by a partition reassignment (see `reassign`), which
    // the controller drives; the other policies report it and leave Kafka alone.
    if let Some(rf) = desired.replication_factor
        && rf != observed.replication_factor
        && desired.policy != ManagementPolicy::Enforce
    {
        plan.blocked = Some(Problem::new(
            "ReplicationFactorChange",
            format!(
                "topic {:?} has replication factor {} in Kafka, spec asks {rf}: managementPolicy {:?} leaves it as it is",
                desired.name, observed.replication_factor, desired.policy
            ),
        ));
    }
    if desired.policy != ManagementPolicy::Enforce {
        return plan;
    }
    if observed.partitions < desired.partitions {
        plan.actions.push(TopicAction::AddPartitions { total: desired.partitions });
    }
    if !plan.drift.is_empty() {
        let mut set = BTreeMap::new();
        let mut delete = vec![];
        for d in &plan.drift {
            match &d.desired {
                Some(v) => {
                    set.insert(d.key.clone(), v.clone());
                }
                None => delete.push(d.key.clone()),
            }
        }
        plan.actions.push(TopicAction::AlterConfig { set, delete });
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::connection::ConfigBound;

    fn desired(partitions: i32, config: &[(&str, &str)]) -> DesiredTopic {
        DesiredTopic {
            name: "orders".into(),
            partitions,
            replication_factor: Some(1),
            config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            policy: ManagementPolicy::Enforce,
            ignored_keys: BTreeSet::new(),
        }
    }

    fn observed(partitions: i32, config: &[(&str, &str, bool)]) -> ObservedTopic {
        ObservedTopic {
            partitions,
            replication_factor: 1,
            config: config.iter().map(|(k, v, o)| (k.to_string(), (Some(v.to_string()), *o))).collect(),
            ..ObservedTopic::default()
        }
    }

    #[test]
    fn a_replication_factor_difference_is_left_to_the_reassignment_in_enforce_and_reported_otherwise() {
        let mut d = desired(1, &[]);
        d.replication_factor = Some(3);
        let o = observed(1, &[]);
        let p = plan(&d, Some(&o));
        assert!(p.blocked.is_none() && p.actions.is_empty(), "{p:?}");
        for policy in [ManagementPolicy::Observe, ManagementPolicy::CreateOnly] {
            let p = plan(&DesiredTopic { policy, ..d.clone() }, Some(&o));
            let b = p.blocked.expect("reported");
            assert_eq!(b.reason, "ReplicationFactorChange");
            assert!(b.message.contains("leaves it"), "{}", b.message);
        }
    }

    #[test]
    fn missing_topic_is_created_except_in_observe() {
        let d = desired(3, &[("retention.ms", "1000")]);
        let p = plan(&d, None);
        assert!(matches!(&p.actions[..], [TopicAction::Create { partitions: 3, .. }]));
        let p = plan(&DesiredTopic { policy: ManagementPolicy::Observe, ..d }, None);
        assert!(p.actions.is_empty());
        assert_eq!(p.blocked.unwrap().reason, "TopicNotFound");
    }

    #[test]
    fn drift_is_corrected_in_enforce_only() {
        let d = desired(3, &[("retention.ms", "1000")]);
        let o = observed(3, &[("retention.ms", "2000", true), ("segment.ms", "60000", true), ("flush.ms", "9", false)]);
        let p = plan(&d, Some(&o));
        assert_eq!(p.drift.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(), ["retention.ms", "segment.ms"]);
        assert_eq!(
            p.actions,
            vec![TopicAction::AlterConfig {
                set: [("retention.ms".to_string(), "1000".to_string())].into(),
                delete: vec!["segment.ms".into()]
            }]
        );
        for policy in [ManagementPolicy::Observe, ManagementPolicy::CreateOnly] {
            let p = plan(&DesiredTopic { policy, ..d.clone() }, Some(&o));
            assert!(p.actions.is_empty(), "{policy:?} must not alter");
            assert_eq!(p.drift.len(), 2);
        }
    }

    #[test]
    fn ignored_and_throttled_keys_are_never_touched() {
        let mut d = desired(1, &[("retention.ms", "1000")]);
        d.ignored_keys.insert("retention.ms".into());
        let o = observed(1, &[("retention.ms", "5", true), ("leader.replication.throttled.replicas", "0:1", true)]);
        let p = plan(&d, Some(&o));
        assert!(p.drift.is_empty(), "{:?}", p.drift);
        assert!(p.actions.is_empty());
    }

    #[test]
    fn equal_values_in_another_spelling_are_not_drift() {
        let d = desired(1, &[("cleanup.policy", "delete,compact"), ("preallocate", "TRUE")]);
        let o = observed(1, &[("cleanup.policy", "compact,delete", true), ("preallocate", "true", true)]);
        assert!(plan(&d, Some(&o)).actions.is_empty());
    }

    #[test]
    fn more_partitions_in_kafka_blocks_everything() {
        let d = desired(2, &[("retention.ms", "1000")]);
        let p = plan(&d, Some(&observed(4, &[("retention.ms", "5", true)])));
        assert!(p.actions.is_empty());
        assert_eq!(p.blocked.unwrap().reason, "PartitionDecrease");
    }

    #[test]
    fn partitions_grow() {
        let p = plan(&desired(6, &[]), Some(&observed(3, &[])));
        assert_eq!(p.actions, vec![TopicAction::AddPartitions { total: 6 }]);
    }

    #[test]
    fn validation_names_the_key_and_the_rule() {
        let err = validate(&desired(1, &[("retention.hours", "1")]), None, None).unwrap_err();
        assert_eq!(err.reason, "InvalidConfig");
        assert!(err.message.contains("retention.hours"));
        let policy = ConnectionPolicy {
            max_partitions: Some(8),
            min_replication_factor: Some(2),
            topic_name_pattern: Some("^team-a\\.".into()),
            protected_config: vec![ConfigBound { key: "retention.ms".into(), min: Some(3_600_000), max: None }],
            allow_topic_deletion: true,
        };
        let re = regex::Regex::new("^team-a\\.").unwrap();
        let mut ok = desired(4, &[("retention.ms", "7200000")]);
        ok.name = "team-a.orders".into();
        ok.replication_factor = Some(2);
        assert!(validate(&ok, Some(&policy), Some(&re)).is_ok());
        let cases: [(DesiredTopic, &str); 4] = [
            (DesiredTopic { partitions: 9, ..ok.clone() }, "maxPartitions"),
            (DesiredTopic { replication_factor: Some(1), ..ok.clone() }, "minReplicationFactor"),
            (DesiredTopic { name: "orders".into(), ..ok.clone() }, "topicNamePattern"),
            (DesiredTopic { config: [("retention.ms".into(), "1000".into())].into(), ..ok.clone() }, "protectedConfig"),
        ];
        for (d, rule) in cases {
            let err = validate(&d, Some(&policy), Some(&re)).unwrap_err();
            assert_eq!(err.reason, "PolicyViolation");
            assert!(err.message.contains(rule), "{}", err.message);
        }
    }
}
