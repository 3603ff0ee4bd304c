//! Per kind: its fields with the bounds its CRD sets (what the generic mutations work on), and the objects an
//! unknown key can be put under.

use super::Kind;
use super::mutate::{Field, Ty, field};

const POLICIES: &[&str] = &["Enforce", "Observe", "CreateOnly"];
const DELETION: &[&str] = &["Retain", "Delete"];
const KAFKA_NAME: Ty = Ty::Str { min: 1, max: Some(249), restricted: true };
const DNS_NAME: Ty = Ty::Str { min: 1, max: Some(253), restricted: true };
const REF_NAME: Ty = Ty::Str { min: 1, max: Some(253), restricted: false };
const COUNT: Ty = Ty::Int { min: Some(1), max: None };
const NON_NEGATIVE: Ty = Ty::Int { min: Some(0), max: None };

pub(super) fn fields(kind: Kind) -> Vec<Field> {
    match kind {
        Kind::Topic => vec![
            field("spec.topicName", KAFKA_NAME),
            field("spec.connectionRef", Ty::Obj),
            field("spec.connectionRef.name", REF_NAME),
            field("spec.connectionRef.namespace", Ty::Str { min: 1, max: Some(63), restricted: false }),
            field("spec.partitions", Ty::Int { min: Some(1), max: Some(100_000) }),
            field("spec.replicationFactor", Ty::Int { min: Some(1), max: Some(32767) }),
            field("spec.config", Ty::StrMap { max: Some(128) }),
            field("spec.managementPolicy", Ty::Enum(POLICIES)),
            field("spec.ignoredConfigKeys", Ty::StrList { max: Some(128), restricted: false }),
            field("spec.deletionPolicy", Ty::Enum(DELETION)),
        ],
        Kind::ConsumerGroup => vec![
            field("spec.groupId", Ty::Str { min: 1, max: Some(255), restricted: false }),
            field("spec.connectionRef", Ty::Obj),
            field("spec.topics", Ty::StrList { max: Some(256), restricted: true }),
            field("spec.lag", Ty::Obj),
            field("spec.lag.warnSeconds", NON_NEGATIVE),
            field("spec.lag.maxSeconds", NON_NEGATIVE),
            field("spec.autoscaling", Ty::Obj),
            field("spec.autoscaling.targetRef", Ty::Obj),
            field("spec.autoscaling.targetRef.name", REF_NAME),
            field("spec.autoscaling.minReplicas", NON_NEGATIVE),
            field("spec.autoscaling.maxReplicas", COUNT),
            field("spec.autoscaling.allowIdleConsumers", Ty::Bool),
            field("spec.autoscaling.lagPerReplica", COUNT),
            field("spec.autoscaling.activationLag", NON_NEGATIVE),
            field("spec.autoscaling.pollSeconds", Ty::Int { min: Some(1), max: Some(300) }),
            field("spec.autoscaling.scaleUp.stabilizationSeconds", Ty::Int { min: Some(0), max: Some(3600) }),
            field("spec.autoscaling.scaleUp.maxStep", COUNT),
            field("spec.autoscaling.scaleDown.stabilizationSeconds", Ty::Int { min: Some(0), max: Some(3600) }),
            field("spec.autoscaling.scaleDown.maxStep", COUNT),
        ],
        Kind::DlqPolicy => vec![
            field("spec.connectionRef", Ty::Obj),
            field("spec.sourceTopic", KAFKA_NAME),
            field("spec.retry", Ty::Obj),
            field("spec.retry.attempts", Ty::Int { min: Some(1), max: Some(100) }),
            field("spec.retry.backoff", Ty::Obj),
            field("spec.retry.backoff.initialSeconds", Ty::Num { min: 0.001 }),
            field("spec.retry.backoff.multiplier", Ty::Num { min: 1.0 }),
            field("spec.retry.suffix", Ty::Str { min: 1, max: Some(100), restricted: true }),
            field("spec.retry.suffixing", Ty::Enum(&["DelayValue", "IndexValue"])),
            field("spec.retry.sameIntervalTopicReuse", Ty::Enum(&["SingleTopic", "MultipleTopics"])),
            field("spec.retry.partitions", COUNT),
            field("spec.retry.replicationFactor", COUNT),
            field("spec.retry.config", Ty::StrMap { max: Some(128) }),
            field("spec.deadLetter", Ty::Obj),
            field("spec.deadLetter.topicName", KAFKA_NAME),
            field("spec.deadLetter.retentionSeconds", Ty::Int { min: Some(60), max: None }),
            field("spec.deadLetter.partitions", COUNT),
            field("spec.deadLetter.replicationFactor", COUNT),
            field("spec.deadLetter.config", Ty::StrMap { max: Some(128) }),
            field("spec.alerting.maxDepth", NON_NEGATIVE),
            field("spec.alerting.maxAgeSeconds", NON_NEGATIVE),
            field("spec.alerting.maxPerMinute", NON_NEGATIVE),
            field("spec.allowedRedriveTopics", Ty::StrList { max: Some(256), restricted: true }),
            field("spec.deletionPolicy", Ty::Enum(DELETION)),
        ],
        Kind::KafkaConnection => vec![
            field("spec.bootstrapServers", Ty::StrList { max: Some(64), restricted: true }),
            field("spec.policy", Ty::Obj),
            field("spec.policy.maxPartitions", COUNT),
            field("spec.policy.minReplicationFactor", COUNT),
            field("spec.policy.protectedConfig", Ty::ObjList { max: Some(64) }),
            field("spec.policy.protectedConfig[0].key", Ty::Str { min: 1, max: None, restricted: false }),
            field("spec.policy.allowTopicDeletion", Ty::Bool),
            field("spec.allowedNamespaces", Ty::StrList { max: Some(256), restricted: true }),
            field("spec.clientProperties", Ty::StrMap { max: Some(128) }),
            field("spec.schemaRegistry", Ty::Obj),
            field("spec.schemaRegistry.url", Ty::Str { min: 1, max: Some(2048), restricted: false }),
        ],
        Kind::KafkaUser => vec![
            field("spec.connectionRef", Ty::Obj),
            field("spec.authentication.type", Ty::Enum(&["scram-sha-512", "tls"])),
            field("spec.secretName", DNS_NAME),
            field("spec.produces", Ty::StrList { max: Some(256), restricted: true }),
            field("spec.consumes", Ty::StrList { max: Some(256), restricted: true }),
            field("spec.transactionalIds", Ty::ObjList { max: Some(64) }),
            field("spec.transactionalIds[0].name", KAFKA_NAME),
            field("spec.transactionalIds[0].patternType", Ty::Enum(&["Literal", "Prefixed"])),
            field("spec.idempotent", Ty::Bool),
            field("spec.acls", Ty::ObjList { max: Some(64) }),
            field("spec.acls[0].resource.type", Ty::Enum(&["Topic", "Group", "Cluster", "TransactionalId"])),
            field("spec.acls[0].resource.patternType", Ty::Enum(&["Literal", "Prefixed"])),
            field("spec.acls[0].operations", Ty::StrList { max: Some(11), restricted: true }),
            field("spec.acls[0].host", Ty::Str { min: 1, max: Some(45), restricted: true }),
            field("spec.acls[0].type", Ty::Enum(&["Allow", "Deny"])),
            field("spec.quotas.producerByteRate", NON_NEGATIVE),
            field("spec.quotas.consumerByteRate", NON_NEGATIVE),
            field("spec.quotas.requestPercentage", Ty::Int { min: Some(0), max: Some(10_000) }),
            field("spec.quotas.controllerMutationRate", Ty::Num { min: 0.0 }),
            field("spec.deletionPolicy", Ty::Enum(DELETION)),
        ],
        Kind::Schema => vec![
            field("spec.connectionRef", Ty::Obj),
            field("spec.topicRef", Ty::Obj),
            field("spec.topicRef.name", REF_NAME),
            field("spec.topicRef.part", Ty::Enum(&["value", "key"])),
            field("spec.schemaType", Ty::Enum(&["AVRO", "JSON", "PROTOBUF"])),
            field("spec.schema", Ty::Str { min: 1, max: Some(262_144), restricted: false }),
            field("spec.references", Ty::ObjList { max: Some(64) }),
            field(
                "spec.compatibility",
                Ty::Enum(&["BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "NONE"]),
            ),
            field("spec.managementPolicy", Ty::Enum(POLICIES)),
            field("spec.deletionPolicy", Ty::Enum(DELETION)),
        ],
    }
}

/// The objects of a kind's manifest an unknown key can be put under.
pub(super) fn objects(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Topic => &["", "metadata", "spec", "spec.connectionRef"],
        Kind::ConsumerGroup => {
            &["", "spec", "spec.lag", "spec.autoscaling", "spec.autoscaling.targetRef", "spec.autoscaling.scaleUp"]
        }
        Kind::DlqPolicy => &["", "spec", "spec.retry", "spec.retry.backoff", "spec.deadLetter", "spec.alerting"],
        Kind::KafkaConnection => &["", "metadata", "spec", "spec.policy", "spec.policy.protectedConfig[0]"],
        Kind::KafkaUser => &["", "spec", "spec.authentication", "spec.acls[0]", "spec.acls[0].resource", "spec.quotas"],
        Kind::Schema => &["", "spec", "spec.topicRef", "spec.connectionRef"],
    }
}
