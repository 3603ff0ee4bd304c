//! One reconcile of a live topic: validate (pure) → observe Kafka → plan (pure) → act. Each step either goes on or
//! stops with a [`Halt`] (a [`Problem`], when to look again, and whether an Event tells it); the outcome lands in
//! the status draft, which is written once, at the end.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::replication::{Replication, replication};
use super::state::{CONFLICT, DRIFTED, Error, PAUSED, StatusDraft, annotated, draft_of, kafka_name, write};
use crate::api::KafkaConnection;
use crate::api::PAUSED_ANNOTATION;
use crate::api::common::ManagementPolicy;
use crate::api::conditions::{self, READY};
use crate::api::topic::{ConfigDrift, Topic};
use crate::controllers::context::{Context, confirm_spec, resolve_connection};
use crate::decisions::drift::{self, DriftSeen};
use crate::decisions::problem::Problem;
use crate::decisions::reassign::PartitionReplicas;
use crate::decisions::topic::{self as plan, DesiredTopic, ObservedTopic, TopicAction};
use crate::kafka::{ClusterClient, ConfigOp, KafkaError, NewTopicRequest};
use crate::runtime::metrics::KindLabels;

/// When to look again after Kafka failed or refused.
const KAFKA_RETRY: Duration = Duration::from_secs(10);
/// When to look again while Kafka's metadata catches up with a change it accepted.
const PENDING_RETRY: Duration = Duration::from_secs(2);
/// When to look again while partitions move to a new replication factor.
const REASSIGNING_RETRY: Duration = Duration::from_secs(3);

/// Reconciles a live topic and writes its status once.
pub async fn apply(topic: Arc<Topic>, ctx: &Context, api: &Api<Topic>) -> Result<Action, Error> {
    let mut draft = draft_of(&topic);
    let next = if annotated(&topic, PAUSED_ANNOTATION) {
        draft.set(PAUSED, true, "Paused", format!("annotation {PAUSED_ANNOTATION}=true: no writes to Kafka"));
        Action::requeue(ctx.config.resync)
    } else {
        draft.drop_condition(PAUSED);
        match converge(&topic, ctx, &mut draft).await {
            Ok(next) => next,
            Err(halt) => {
                halt.announce(ctx, &topic).await;
                draft.not_ready(halt.problem.reason, halt.problem.message);
                Action::requeue(halt.retry)
            }
        }
    };
    write(ctx, api, &topic, draft).await?;
    Ok(next)
}

/// Why a reconcile stopped short of Ready.
struct Halt {
    problem: Problem,
    retry: Duration,
    event: Announce,
}

/// Whether an Event tells of a halt.
enum Announce {
    Never,
    /// A Warning with the problem's reason, unless the topic already reported this reason.
    WhenNew(&'static str),
    /// A Warning with its own note, every time.
    Always(&'static str, String),
}

impl Halt {
    fn quiet(problem: Problem, retry: Duration) -> Halt {
        Halt { problem, retry, event: Announce::Never }
    }

    async fn announce(&self, ctx: &Context, topic: &Topic) {
        let reason = self.problem.reason;
        match &self.event {
            Announce::Never => {}
            Announce::WhenNew(action) => {
                let reported = topic.status.as_ref().and_then(|s| conditions::find(&s.conditions, READY));
                if reported.map(|c| c.reason.as_str()) != Some(reason) {
                    ctx.event(topic, true, reason, action, self.problem.message.clone()).await;
                }
            }
            Announce::Always(action, note) => ctx.event(topic, true, reason, action, note.clone()).await,
        }
    }
}

/// A failed Kafka call as a problem: a request Kafka refused is `KafkaRejected`.
fn kafka_problem(e: &KafkaError) -> Problem {
    match e {
        KafkaError::Invalid(_) => Problem::new("KafkaRejected", e.to_string()),
        _ => e.problem(),
    }
}

async fn converge(topic: &Topic, ctx: &Context, draft: &mut StatusDraft) -> Result<Action, Halt> {
    let resync = ctx.config.resync;
    let ns = topic.namespace().unwrap_or_default();

    // What the topic references: its connection, and no other Topic owning the same Kafka topic.
    let (conn, client) = resolve_connection(ctx, topic.spec.connection_ref.as_ref(), &ns).map_err(|p| {
        let retry = p.retry_after(KAFKA_RETRY);
        Halt::quiet(p, retry)
    })?;
    let name = kafka_name(topic, &conn);
    draft.status.topic_name = Some(name.clone());
    if let Some(owner) = ctx.topic_index.other_owner(topic, conn.spec.tenancy.is_some()) {
        let msg = format!("Kafka topic {name:?} is managed by Topic {owner}");
        draft.set(CONFLICT, true, "Conflict", msg.clone());
        return Err(Halt::quiet(Problem::new("Conflict", msg), resync));
    }
    draft.drop_condition(CONFLICT);

    // Validate: the spec alone, against Kafka's rules and the connection's guardrails.
    let desired = validate(topic, name, &conn)
        .map_err(|p| Halt { event: Announce::WhenNew("Validate"), ..Halt::quiet(p, resync) })?;

    // Observe, plan, act.
    let observed = observe(&client, &desired.name).await.map_err(|e| Halt::quiet(e.problem(), KAFKA_RETRY))?;
    let the_plan = plan::plan(&desired, observed.as_ref().map(|(o, _)| o));
    if !the_plan.actions.is_empty() {
        confirm_spec(&ctx.client, topic).await.map_err(|p| {
            let retry = p.retry_after(KAFKA_RETRY);
            Halt::quiet(p, retry)
        })?;
    }
    for action in &the_plan.actions {
        apply_action(ctx, &client, topic, &desired, &the_plan.drift, action).await.map_err(|e| Halt {
            event: Announce::Always("Apply", format!("{action:?} failed: {e}")),
            ..Halt::quiet(kafka_problem(&e), KAFKA_RETRY)
        })?;
    }
    let changed = !the_plan.actions.is_empty();

    // What Kafka has now, for status. A topic just created or grown can take a moment to show in the metadata of
    // the broker that answers: look again briefly, and come back soon if it still does not.
    let (observed, settled) = match changed {
        true => observe_settled(&client, &desired.name, expected_partitions(&the_plan.actions)).await,
        false => (observed, true),
    };
    if let Some((o, id)) = &observed {
        draft.status.partitions = Some(o.partitions);
        draft.status.replication_factor = Some(o.replication_factor);
        if !id.is_empty() {
            draft.status.topic_id = Some(id.clone());
        }
    }
    if changed || draft.status.last_sync_time.is_none() {
        draft.status.last_sync_time = Some(Time(draft.now));
    }
    record_drift(topic, draft, &desired, &the_plan);

    // A replication-factor change (Enforce only): started, followed, or finished here.
    let mut reassigning = None;
    if let (Some(rf), Some((o, _)), ManagementPolicy::Enforce, None) =
        (desired.replication_factor, &observed, desired.policy, &the_plan.blocked)
    {
        match replication(ctx, &client, topic, &desired.name, rf, o).await {
            Ok(Replication::Idle) => {}
            Ok(Replication::Moving(status)) => {
                reassigning = Some(format!(
                    "replication factor changing to {}: {}/{} partition(s) have their new replicas in sync",
                    status.target_replication_factor, status.partitions_done, status.partitions_total
                ));
                draft.status.reassignment = Some(status);
            }
            Ok(Replication::Done(status)) => draft.status.reassignment = Some(status),
            Ok(Replication::Refused(problem)) => return Err(Halt::quiet(problem, resync)),
            Err(e) => return Err(Halt::quiet(kafka_problem(&e).context("replication factor change"), KAFKA_RETRY)),
        }
    }

    // The verdict.
    if let Some(blocked) = the_plan.blocked {
        return Err(Halt::quiet(blocked, if settled { resync } else { PENDING_RETRY }));
    }
    if let Some(msg) = reassigning {
        return Err(Halt::quiet(
            Problem::new("Reassigning", msg),
            if settled { REASSIGNING_RETRY } else { PENDING_RETRY },
        ));
    }
    // Kafka took the change but its metadata does not show it yet (typically right after an outage): Ready only
    // once the topic is seen with its id and partitions, so status never says Ready without them.
    if !settled || observed.is_none() {
        let msg = format!("Kafka accepted the change to {:?}; waiting for its metadata to show it", desired.name);
        return Err(Halt::quiet(Problem::new("Pending", msg), if settled { resync } else { PENDING_RETRY }));
    }
    let msg = match desired.policy {
        ManagementPolicy::Enforce => "topic matches the spec",
        ManagementPolicy::Observe => "topic observed (read-only)",
        ManagementPolicy::CreateOnly => "topic exists (never altered)",
    };
    draft.set(READY, true, "Ready", msg);
    Ok(Action::requeue(resync))
}

/// The spec as Kafka terms, checked against Kafka's rules and the connection's guardrails.
fn validate(topic: &Topic, name: String, conn: &KafkaConnection) -> Result<DesiredTopic, Problem> {
    let desired = DesiredTopic {
        name,
        partitions: topic.spec.partitions,
        replication_factor: topic.spec.replication_factor,
        config: topic.spec.config.clone(),
        policy: topic.spec.management_policy,
        ignored_keys: topic.spec.ignored_config_keys.iter().cloned().collect::<BTreeSet<_>>(),
    };
    let policy = conn.spec.policy.as_ref();
    let pattern = match policy.and_then(|p| p.topic_name_pattern.as_deref()) {
        Some(p) => Some(regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| {
            Problem::new(
                "PolicyViolation",
                format!("the connection's policy.topicNamePattern is not a valid regex: {e}"),
            )
        })?),
        None => None,
    };
    plan::validate(&desired, policy, pattern.as_ref()).map_err(|p| match p.reason {
        // Say which field the Kafka name comes from.
        "InvalidTopicName" if topic.spec.topic_name.is_some() => p.context("spec.topicName"),
        "InvalidTopicName" => p.context("metadata.name (the Kafka topic name while spec.topicName is unset)"),
        _ => p,
    })?;
    Ok(desired)
}

/// `status.drift`, `status.driftCorrectedTime` and the `Drifted` condition after this reconcile.
fn record_drift(topic: &Topic, draft: &mut StatusDraft, desired: &DesiredTopic, the_plan: &plan::TopicPlan) {
    let current = topic.status.as_ref();
    let previous =
        current.and_then(|s| Some((s.drift.as_slice(), s.drift_corrected_time.as_ref()?.0.as_millisecond())));
    let report = drift::report(DriftSeen {
        policy: desired.policy,
        found: &the_plan.drift,
        corrected: the_plan.actions.iter().any(|a| matches!(a, TopicAction::AlterConfig { .. })),
        previous,
        spec_changed: current.and_then(|s| s.observed_generation) != topic.metadata.generation,
        now_ms: draft.now.as_millisecond(),
    });
    draft.status.drift = report.drift;
    draft.status.drift_corrected_time =
        report.corrected_at_ms.map(|ms| Time(Timestamp::from_millisecond(ms).unwrap_or(draft.now)));
    draft.set(DRIFTED, report.drifted, report.reason, report.message);
}

/// The partition count a change must show before the topic counts as settled.
fn expected_partitions(actions: &[TopicAction]) -> Option<i32> {
    actions
        .iter()
        .filter_map(|a| match a {
            TopicAction::Create { partitions, .. } => Some(*partitions),
            TopicAction::AddPartitions { total } => Some(*total),
            TopicAction::AlterConfig { .. } => None,
        })
        .max()
}

async fn observe(client: &ClusterClient, name: &str) -> Result<Option<(ObservedTopic, String)>, KafkaError> {
    let Some(desc) = client.describe_topic(name).await? else { return Ok(None) };
    let config = client.topic_config(name).await?;
    let replication_factor = desc.partitions.iter().map(|p| p.replicas.len() as i32).min().unwrap_or(0);
    let observed = ObservedTopic {
        partitions: desc.partitions.len() as i32,
        replication_factor,
        config: config.into_iter().map(|(k, v)| (k, (v.value, v.is_override))).collect(),
        replicas: desc
            .partitions
            .iter()
            .map(|p| PartitionReplicas { partition: p.partition, replicas: p.replicas.clone(), isr: p.isr.clone() })
            .collect(),
    };
    Ok(Some((observed, desc.topic_id)))
}

/// Observes a topic after a change until Kafka shows it with an id and at least `partitions` partitions (a few
/// tries over about 1.5 s); returns the last observation and whether it got there.
async fn observe_settled(
    client: &ClusterClient,
    name: &str,
    partitions: Option<i32>,
) -> (Option<(ObservedTopic, String)>, bool) {
    let mut seen = None;
    for attempt in 1..=5u64 {
        if let Ok(Some((o, id))) = observe(client, name).await {
            let done = !id.is_empty() && partitions.is_none_or(|p| o.partitions >= p);
            seen = Some((o, id));
            if done {
                return (seen, true);
            }
        }
        tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
    }
    (seen, false)
}

async fn apply_action(
    ctx: &Context,
    client: &ClusterClient,
    topic: &Topic,
    desired: &DesiredTopic,
    drift: &[ConfigDrift],
    action: &TopicAction,
) -> Result<(), KafkaError> {
    match action {
        TopicAction::Create { partitions, replication_factor, config } => {
            let req = NewTopicRequest {
                name: desired.name.clone(),
                partitions: *partitions,
                replication_factor: *replication_factor,
                config: config.clone(),
            };
            match client.create_topic(req).await {
                // Created by someone else between our look and our create (or by this operator before a restart):
                // adopted, and not announced as created.
                Err(KafkaError::TopicExists(_)) => {}
                other => {
                    other?;
                    let msg = format!("created Kafka topic {:?} with {partitions} partition(s)", desired.name);
                    ctx.event(topic, false, "Created", "Create", msg).await;
                }
            }
        }
        TopicAction::AddPartitions { total } => {
            client.create_partitions(&desired.name, *total as usize).await?;
            ctx.event(topic, false, "PartitionsIncreased", "Update", format!("partitions increased to {total}")).await;
        }
        TopicAction::AlterConfig { set, delete } => {
            let mut ops: Vec<_> = set.iter().map(|(k, v)| ConfigOp::Set(k.clone(), v.clone())).collect();
            ops.extend(delete.iter().map(|k| ConfigOp::Delete(k.clone())));
            client.alter_topic_config(&desired.name, ops).await?;
            ctx.metrics.drift_corrections.get_or_create(&KindLabels { kind: "Topic" }).inc();
            ctx.event(topic, false, "DriftCorrected", "Update", drift::correction_note(drift)).await;
        }
    }
    Ok(())
}
