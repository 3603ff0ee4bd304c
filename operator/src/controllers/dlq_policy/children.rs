//! The child `Topic` resources of a policy: one per generated retry and dead-letter topic, applied when they
//! differ from the spec, deleted when the spec no longer generates them. The Topic controller manages them in Kafka.

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use super::context::DlqContext;
use crate::api::common::ManagementPolicy;
use crate::api::conditions::{self, READY};
use crate::api::dlq_policy::{DLQ_POLICY_LABEL, DlqPolicy, SameIntervalTopicReuse, TopicSuffixing};
use crate::api::topic::{Topic, TopicSpec};
use crate::controllers::status::MANAGER;
use crate::decisions::dlq::naming::{self, GeneratedTopic};

/// The pure topic plan's input, from the spec.
pub fn topics_spec(policy: &DlqPolicy) -> naming::TopicsSpec {
    let s = &policy.spec;
    let r = s.retry.as_ref();
    let d = &s.dead_letter;
    naming::TopicsSpec {
        attempts: r.map(|r| r.attempts),
        backoff: r.and_then(|r| r.backoff.as_ref()).map(|b| naming::BackoffMs {
            initial: (b.initial_seconds * 1000.0).round() as i64,
            multiplier: b.multiplier,
            max: b.max_seconds.map(|m| (m * 1000.0).round() as i64),
        }),
        delays_ms: r.map(|r| r.delays_ms.clone()).unwrap_or_default(),
        retry_suffix: r.and_then(|r| r.suffix.clone()),
        suffixing: match r.and_then(|r| r.suffixing) {
            Some(TopicSuffixing::IndexValue) => naming::Suffixing::IndexValue,
            _ => naming::Suffixing::DelayValue,
        },
        reuse: match r.and_then(|r| r.same_interval_topic_reuse) {
            Some(SameIntervalTopicReuse::MultipleTopics) => naming::Reuse::MultipleTopics,
            _ => naming::Reuse::SingleTopic,
        },
        retry_partitions: r.and_then(|r| r.partitions),
        retry_replication_factor: r.and_then(|r| r.replication_factor),
        retry_config: r.map(|r| r.config.clone()).unwrap_or_default(),
        dlt_name: d.topic_name.clone(),
        dlt_suffix: d.suffix.clone(),
        dlt_partitions: d.partitions,
        dlt_replication_factor: d.replication_factor,
        dlt_retention_seconds: d.retention_seconds,
        dlt_config: d.config.clone(),
    }
}

/// The child `Topic` resource of a generated topic.
fn child_of(policy: &DlqPolicy, g: &GeneratedTopic) -> Topic {
    let mut t = Topic::new(
        &g.resource_name,
        TopicSpec {
            topic_name: Some(g.kafka_name.clone()),
            connection_ref: policy.spec.connection_ref.clone(),
            partitions: g.partitions,
            replication_factor: g.replication_factor,
            config: g.config.clone(),
            management_policy: ManagementPolicy::Enforce,
            ignored_config_keys: vec![],
            deletion_policy: policy.spec.deletion_policy,
        },
    );
    t.metadata = ObjectMeta {
        name: Some(g.resource_name.clone()),
        namespace: policy.namespace(),
        labels: Some([(DLQ_POLICY_LABEL.to_string(), policy.name_any())].into()),
        owner_references: policy.controller_owner_ref(&()).map(|o| vec![o]),
        ..Default::default()
    };
    t
}

fn controlled_by(t: &Topic, policy: &DlqPolicy) -> bool {
    let uid = policy.uid();
    t.owner_references().iter().any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
}

/// Server-side applies the children that differ from the spec, deletes the ones the spec no longer generates, and
/// says which are ready. `Err` names a child resource that exists but belongs to someone else.
pub async fn sync_children(
    st: &DlqContext,
    policy: &DlqPolicy,
    wanted: &[GeneratedTopic],
) -> Result<Vec<(String, Option<(bool, String)>)>, kube::Error> {
    let ns = policy.namespace().unwrap_or_default();
    let api: Api<Topic> = Api::namespaced(st.base.client.clone(), &ns);
    let mut readiness = vec![];
    for g in wanted {
        let desired = child_of(policy, g);
        let existing = st.topics.get(&ObjectRef::new(&g.resource_name).within(&ns));
        if let Some(t) = &existing
            && !controlled_by(t, policy)
        {
            readiness.push((
                g.kafka_name.clone(),
                Some((false, format!("Topic {}/{} exists and is not owned by this policy", ns, g.resource_name))),
            ));
            continue;
        }
        let up_to_date = existing.as_ref().is_some_and(|t| {
            t.spec == desired.spec
                && t.labels().get(DLQ_POLICY_LABEL) == Some(&policy.name_any())
                && controlled_by(t, policy)
                && t.meta().deletion_timestamp.is_none()
        });
        if !up_to_date {
            crate::controllers::status::fenced_kube()?;
            api.patch(&g.resource_name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&desired)).await?;
        }
        let ready = existing.as_ref().filter(|_| up_to_date).and_then(|t| {
            let s = t.status.as_ref()?;
            (s.observed_generation == t.metadata.generation).then_some(())?;
            let c = conditions::find(&s.conditions, READY)?;
            Some((c.status == "True", format!("{}: {}", c.reason, c.message)))
        });
        readiness.push((g.kafka_name.clone(), ready));
    }
    let names: BTreeSet<&str> = wanted.iter().map(|g| g.resource_name.as_str()).collect();
    for t in st.topics.state() {
        if t.namespace().as_deref() == Some(ns.as_str())
            && t.labels().get(DLQ_POLICY_LABEL) == Some(&policy.name_any())
            && controlled_by(&t, policy)
            && !names.contains(t.name_any().as_str())
            && t.meta().deletion_timestamp.is_none()
        {
            match api.delete(&t.name_any(), &DeleteParams::default()).await {
                Ok(_) => {
                    let msg = format!("Topic {} ({}) is no longer generated", t.name_any(), t.kafka_name());
                    st.base.event(policy, false, "TopicRemoved", "Delete", msg).await;
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(readiness)
}
