//! The `Topic` controller: creates topics, grows partitions, corrects config drift, reports it, and deletes topics
//! only when told to and when nothing reads them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::{self, Action};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::{mpsc, watch::Receiver};

use super::context::{Context, resolve_connection};
use super::status::apply_status;
use super::watch;
use crate::api::common::{DeletionPolicy, ManagementPolicy};
use crate::api::conditions::{self, READY};
use crate::api::full_name;
use crate::api::topic::ReassignmentStatus;
use crate::api::topic::{TOPIC_FINALIZER, Topic, TopicStatus};
use crate::api::{FORCE_DELETE_ANNOTATION, KafkaConnection, PAUSED_ANNOTATION};
use crate::decisions::problem::Problem;
use crate::decisions::reassign::{self, PartitionReplicas};
use crate::decisions::topic::{self as plan, DesiredTopic, ObservedTopic, TopicAction};
use crate::kafka::{ClusterClient, KafkaError, NewTopicRequest, wire};
use crate::runtime::metrics::{KindLabels, ReconcileLabels, ResultLabel};

pub const DRIFTED: &str = "Drifted";
pub const CONFLICT: &str = "Conflict";
pub const PAUSED: &str = "Paused";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(#[from] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("{0}")]
    Kafka(#[from] KafkaError),
    #[error("{reason}: {message}")]
    Refused { reason: &'static str, message: String },
}

fn annotated(topic: &Topic, key: &str) -> bool {
    topic.annotations().get(key).is_some_and(|v| v == "true")
}

/// Runs the controller until `shutdown`. `handovers` names topics to look at again when the Topic that owned their
/// Kafka name goes away (see `topic_index`).
pub async fn run(
    ctx: Arc<Context>,
    mut handovers: mpsc::UnboundedReceiver<ObjectRef<Topic>>,
    shutdown: Receiver<bool>,
) {
    let (reader, writer) = reflector::store();
    let index = ctx.topic_index.clone();
    let topics = watcher(watch::watched::<Topic>(&ctx.client, &ctx.config), watcher::Config::default())
        .default_backoff()
        .modify(watch::slim::<Topic>)
        .reflect(writer)
        .inspect_ok(move |ev| match ev {
            watcher::Event::Apply(t) | watcher::Event::InitApply(t) => index.upsert(t),
            watcher::Event::Delete(t) => index.remove(t),
            _ => {}
        })
        .applied_objects()
        .predicate_filter(watch::spec_or_control_changed::<Topic>, Default::default());
    let handover_stream = futures::stream::poll_fn(move |cx| handovers.poll_recv(cx));
    let cached = reader.clone();
    let connections = watch::watched::<KafkaConnection>(&ctx.client, &ctx.config);
    Controller::for_stream(topics, reader)
        .with_config(controller::Config::default().concurrency(256))
        .reconcile_on(handover_stream)
        // A connection's change (ready, policy) wakes the topics that use it, the default connection's included.
        .watches(connections, watcher::Config::default(), move |conn: KafkaConnection| {
            let key = full_name(&conn);
            cached
                .state()
                .into_iter()
                .filter(|t| match &t.spec.connection_ref {
                    Some(r) => {
                        let ns = t.namespace().unwrap_or_default();
                        format!("{}/{}", r.namespace.as_deref().unwrap_or(&ns), r.name) == key
                    }
                    None => true,
                })
                .map(|t| ObjectRef::from_obj(t.as_ref()))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(watch::stopped(shutdown))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

#[tracing::instrument(skip_all, fields(topic = %full_name(topic.as_ref())))]
pub async fn reconcile(topic: Arc<Topic>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    tracing::trace!(generation = ?topic.metadata.generation, "reconcile");
    let ns = topic.namespace().unwrap_or_default();
    let api: Api<Topic> = Api::namespaced(ctx.client.clone(), &ns);
    let result = if needs_finalizer(&topic) {
        finalizer(&api, TOPIC_FINALIZER, topic, |event| async {
            match event {
                FinalizerEvent::Apply(t) => apply(t, &ctx, &api).await,
                FinalizerEvent::Cleanup(t) => cleanup(t, &ctx, &api).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    } else {
        without_finalizer(topic, &ctx, &api).await
    };
    let label = if result.is_ok() { ResultLabel::Success } else { ResultLabel::Error };
    ctx.metrics.reconciles.get_or_create(&ReconcileLabels { kind: "Topic", result: label }).inc();
    ctx.metrics
        .reconcile_duration
        .get_or_create(&KindLabels { kind: "Topic" })
        .observe(started.elapsed().as_secs_f64());
    ctx.metrics.managed_resources.get_or_create(&KindLabels { kind: "Topic" }).set(ctx.topic_index.len() as i64);
    result
}

/// Only a topic whose deletion deletes the Kafka topic needs to hold its resource until that is done. A `Retain`
/// (default) or `Observe` topic carries no finalizer: deleting it touches nothing in Kafka, so it never waits for the
/// operator (nor traps its namespace), and creating one costs the apiserver one write less.
fn needs_finalizer(topic: &Topic) -> bool {
    topic.spec.deletion_policy == DeletionPolicy::Delete && topic.spec.management_policy != ManagementPolicy::Observe
}

async fn without_finalizer(topic: Arc<Topic>, ctx: &Context, api: &Api<Topic>) -> Result<Action, Error> {
    if topic.finalizers().iter().any(|f| f == TOPIC_FINALIZER) {
        // Left from when the policy was Delete (or from an older version): released, guarded by resourceVersion.
        let remaining: Vec<&String> = topic.finalizers().iter().filter(|f| *f != TOPIC_FINALIZER).collect();
        let patch = serde_json::json!({"metadata": {
            "finalizers": remaining, "resourceVersion": topic.resource_version()}});
        api.patch(&topic.name_any(), &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await?;
        // The change comes back through the watch and reconciles the topic.
        return Ok(Action::await_change());
    }
    if topic.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    apply(topic, ctx, api).await
}

pub fn error_policy(topic: Arc<Topic>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(topic = %full_name(topic.as_ref()), error = %err, "topic reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

fn desired_of(topic: &Topic) -> DesiredTopic {
    DesiredTopic {
        name: topic.kafka_name(),
        partitions: topic.spec.partitions,
        replication_factor: topic.spec.replication_factor,
        config: topic.spec.config.clone(),
        policy: topic.spec.management_policy,
        ignored_keys: topic.spec.ignored_config_keys.iter().cloned().collect::<BTreeSet<_>>(),
    }
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

type StatusDraft = conditions::Draft<TopicStatus>;

/// The status draft of a topic: its current status, with the Kafka name and generation filled in.
fn draft_of(topic: &Topic) -> StatusDraft {
    let mut status = topic.status.clone().unwrap_or_default();
    status.topic_name = Some(topic.kafka_name());
    status.observed_generation = topic.metadata.generation;
    StatusDraft::new(status, topic.metadata.generation)
}

async fn write(ctx: &Context, api: &Api<Topic>, topic: &Topic, draft: StatusDraft) -> Result<(), Error> {
    apply_status(api, topic, topic.status.as_ref(), &draft.status, &ctx.metrics).await?;
    Ok(())
}

async fn apply(topic: Arc<Topic>, ctx: &Context, api: &Api<Topic>) -> Result<Action, Error> {
    let resync = Action::requeue(ctx.config.resync);
    let mut draft = draft_of(&topic);
    let ns = topic.namespace().unwrap_or_default();

    if annotated(&topic, PAUSED_ANNOTATION) {
        draft.set(PAUSED, true, "Paused", format!("annotation {PAUSED_ANNOTATION}=true: no writes to Kafka"));
        write(ctx, api, &topic, draft).await?;
        return Ok(resync);
    }
    draft.drop_condition(PAUSED);

    let (conn, client) = match resolve_connection(ctx, topic.spec.connection_ref.as_ref(), &ns) {
        Ok(c) => c,
        Err(problem) => {
            let retry = problem.retry_after(Duration::from_secs(10));
            draft.not_ready(problem.reason, problem.message);
            write(ctx, api, &topic, draft).await?;
            return Ok(Action::requeue(retry));
        }
    };

    if let Some(owner) = ctx.topic_index.other_owner(&topic) {
        let msg = format!("Kafka topic {:?} is managed by Topic {owner}", topic.kafka_name());
        draft.set(CONFLICT, true, "Conflict", msg.clone());
        draft.not_ready("Conflict", msg);
        write(ctx, api, &topic, draft).await?;
        return Ok(resync);
    }
    draft.drop_condition(CONFLICT);

    let desired = desired_of(&topic);
    let policy = conn.spec.policy.as_ref();
    let pattern =
        match policy.and_then(|p| p.topic_name_pattern.as_deref()).map(|p| regex::Regex::new(&format!("^(?:{p})$"))) {
            Some(Err(e)) => {
                draft.not_ready(
                    "PolicyViolation",
                    format!("the connection's policy.topicNamePattern is not a valid regex: {e}"),
                );
                write(ctx, api, &topic, draft).await?;
                return Ok(resync);
            }
            Some(Ok(re)) => Some(re),
            None => None,
        };
    if let Err(refusal) = plan::validate(&desired, policy, pattern.as_ref()) {
        if topic.status.as_ref().and_then(|s| conditions::find(&s.conditions, READY)).map(|c| c.reason.as_str())
            != Some(refusal.reason)
        {
            ctx.event(topic.as_ref(), true, refusal.reason, "Validate", refusal.message.clone()).await;
        }
        draft.not_ready(refusal.reason, refusal.message);
        write(ctx, api, &topic, draft).await?;
        return Ok(resync);
    }

    let observed = match observe(&client, &desired.name).await {
        Ok(o) => o,
        Err(e) => {
            draft.not_ready(e.reason(), e.to_string());
            write(ctx, api, &topic, draft).await?;
            return Ok(Action::requeue(Duration::from_secs(10)));
        }
    };
    let the_plan = plan::plan(&desired, observed.as_ref().map(|(o, _)| o));
    let mut changed = false;
    for action in &the_plan.actions {
        let outcome = apply_action(ctx, &client, &topic, &desired, action).await;
        if let Err(e) = outcome {
            let reason = if matches!(e, KafkaError::Invalid(_)) { "KafkaRejected" } else { e.reason() };
            ctx.event(topic.as_ref(), true, reason, "Apply", format!("{action:?} failed: {e}")).await;
            draft.not_ready(reason, e.to_string());
            write(ctx, api, &topic, draft).await?;
            return Ok(Action::requeue(Duration::from_secs(10)));
        }
        changed = true;
    }

    // What Kafka has now (after any change), for status. A topic just created or grown can take a moment to show in
    // the metadata of the broker that answers: look again briefly, and come back soon if it still does not.
    let mut settled = true;
    let (observed, topic_id) = if changed {
        let expected_partitions = the_plan
            .actions
            .iter()
            .filter_map(|a| match a {
                TopicAction::Create { partitions, .. } => Some(*partitions),
                TopicAction::AddPartitions { total } => Some(*total),
                TopicAction::AlterConfig { .. } => None,
            })
            .max();
        let (seen, done) = observe_settled(&client, &desired.name, expected_partitions).await;
        settled = done;
        match seen {
            Some((o, id)) => (Some(o), Some(id)),
            None => (None, None),
        }
    } else {
        match observed {
            Some((o, id)) => (Some(o), Some(id)),
            None => (None, None),
        }
    };
    if let Some(o) = &observed {
        draft.status.partitions = Some(o.partitions);
        draft.status.replication_factor = Some(o.replication_factor);
    }
    if topic_id.as_deref().is_some_and(|id| !id.is_empty()) {
        draft.status.topic_id = topic_id;
    }
    draft.status.drift = the_plan.drift.clone();
    if the_plan.drift.is_empty() {
        draft.set(DRIFTED, false, "InSync", "Kafka matches the spec");
    } else {
        let keys: Vec<_> = the_plan.drift.iter().map(|d| d.key.as_str()).collect();
        let (reason, what) = match desired.policy {
            ManagementPolicy::Enforce => ("DriftCorrected", "corrected"),
            ManagementPolicy::Observe => ("DriftObserved", "left alone (managementPolicy Observe)"),
            ManagementPolicy::CreateOnly => ("DriftObserved", "left alone (managementPolicy CreateOnly)"),
        };
        draft.set(DRIFTED, true, reason, format!("config differed from the spec in {}: {what}", keys.join(", ")));
    }
    // A replication-factor change (Enforce only): started, followed, or finished here.
    let mut reassigning = None;
    if let (Some(rf), Some(o), ManagementPolicy::Enforce, None) =
        (desired.replication_factor, &observed, desired.policy, &the_plan.blocked)
    {
        match replication(ctx, &client, &topic, &desired.name, rf, o).await {
            Ok(Replication::Idle) => {}
            Ok(Replication::Moving(status)) => {
                let msg = format!(
                    "replication factor changing to {}: {}/{} partition(s) have their new replicas in sync",
                    status.target_replication_factor, status.partitions_done, status.partitions_total
                );
                draft.status.reassignment = Some(status);
                reassigning = Some(msg);
            }
            Ok(Replication::Done(status)) => draft.status.reassignment = Some(status),
            Ok(Replication::Refused(r)) => {
                draft.not_ready(r.reason, r.message);
                write(ctx, api, &topic, draft).await?;
                return Ok(resync);
            }
            Err(e) => {
                let reason = if matches!(e, KafkaError::Invalid(_)) { "KafkaRejected" } else { e.reason() };
                draft.not_ready(reason, format!("replication factor change: {e}"));
                write(ctx, api, &topic, draft).await?;
                return Ok(Action::requeue(Duration::from_secs(10)));
            }
        }
    }
    match the_plan.blocked {
        Some(b) => draft.not_ready(b.reason, b.message),
        None if reassigning.is_some() => draft.not_ready("Reassigning", reassigning.clone().unwrap_or_default()),
        // Kafka took the change but its metadata does not show it yet (typically right after an outage): Ready only
        // once the topic is seen with its id and partitions, so status never says Ready without them.
        None if !settled || observed.is_none() => draft.not_ready(
            "Pending",
            format!("Kafka accepted the change to {:?}; waiting for its metadata to show it", desired.name),
        ),
        None => {
            let msg = match desired.policy {
                ManagementPolicy::Enforce => "topic matches the spec",
                ManagementPolicy::Observe => "topic observed (read-only)",
                ManagementPolicy::CreateOnly => "topic exists (never altered)",
            };
            draft.set(READY, true, "Ready", msg);
        }
    }
    if changed || draft.status.last_sync_time.is_none() {
        draft.status.last_sync_time = Some(Time(draft.now));
    }
    write(ctx, api, &topic, draft).await?;
    Ok(match (settled, reassigning) {
        (false, _) => Action::requeue(Duration::from_secs(2)),
        (true, Some(_)) => Action::requeue(Duration::from_secs(3)),
        (true, None) => resync,
    })
}

/// Where a replication-factor change stands after this reconcile.
enum Replication {
    /// Nothing to do (the factor matches and no change was being followed).
    Idle,
    Moving(ReassignmentStatus),
    /// Just finished.
    Done(ReassignmentStatus),
    Refused(Problem),
}

/// Starts or follows the partition reassignment that gives every partition `rf` in-sync replicas. Kafka is asked
/// (ListPartitionReassignments) only while the factor differs or a change is being followed, so idle topics cost no
/// extra request.
async fn replication(
    ctx: &Context,
    client: &ClusterClient,
    topic: &Topic,
    name: &str,
    rf: i32,
    observed: &ObservedTopic,
) -> Result<Replication, KafkaError> {
    let previous = topic.status.as_ref().and_then(|s| s.reassignment.clone());
    let following = previous.as_ref().is_some_and(|p| p.state != "Done" && p.target_replication_factor == rf);
    let needs = reassign::needs_change(&observed.replicas, rf);
    if !needs && !following {
        // The status (a finished change included) carries over from the current one.
        return Ok(Replication::Idle);
    }
    let settings = client.settings();
    let partitions: Vec<i32> = observed.replicas.iter().map(|p| p.partition).collect();
    let ongoing = wire::list_partition_reassignments(settings, &[(name.to_string(), partitions)]).await?;
    let reassigning: BTreeSet<i32> = ongoing.iter().filter(|o| o.topic == name).map(|o| o.partition).collect();
    let from = observed.replication_factor;
    if needs && reassigning.is_empty() {
        let brokers = client.describe_cluster().await?.brokers;
        let moves = match reassign::target_assignment(&observed.replicas, &brokers, rf) {
            Ok(m) => m,
            Err(refusal) => return Ok(Replication::Refused(refusal)),
        };
        if !moves.is_empty() {
            wire::alter_partition_reassignments(settings, name, &moves).await?;
            let msg = format!("replication factor {from} -> {rf}: reassigning {} partition(s)", moves.len());
            ctx.event(topic, false, "ReassignmentStarted", "Reassign", msg).await;
        }
        let status = ReassignmentStatus {
            target_replication_factor: rf,
            state: "Ongoing".into(),
            partitions_done: observed.replicas.len() as i32 - moves.len() as i32,
            partitions_total: observed.replicas.len() as i32,
            message: Some(format!("from replication factor {from}")),
        };
        return Ok(Replication::Moving(status));
    }
    let progress = reassign::progress(&observed.replicas, &reassigning, rf);
    let mut status = previous.unwrap_or_default();
    status.target_replication_factor = rf;
    status.partitions_done = progress.done;
    status.partitions_total = progress.total;
    if progress.complete() {
        status.state = "Done".into();
        let msg = format!("replication factor is {rf}: every partition's replicas are in sync");
        ctx.event(topic, false, "ReassignmentCompleted", "Reassign", msg).await;
        return Ok(Replication::Done(status));
    }
    status.state = "Ongoing".into();
    Ok(Replication::Moving(status))
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
            let mut ops: Vec<_> = set.iter().map(|(k, v)| crate::kafka::ConfigOp::Set(k.clone(), v.clone())).collect();
            ops.extend(delete.iter().map(|k| crate::kafka::ConfigOp::Delete(k.clone())));
            client.alter_topic_config(&desired.name, ops).await?;
            ctx.metrics.drift_corrections.get_or_create(&KindLabels { kind: "Topic" }).inc();
            let mut parts: Vec<String> = set.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.extend(delete.iter().map(|k| format!("{k} (override removed)")));
            ctx.event(topic, false, "DriftCorrected", "Update", format!("config set: {}", parts.join(", "))).await;
        }
    }
    Ok(())
}

async fn cleanup(topic: Arc<Topic>, ctx: &Context, api: &Api<Topic>) -> Result<Action, Error> {
    let name = topic.kafka_name();
    if ctx.topic_index.other_owner(&topic).is_some() {
        // A conflicting resource never deletes anything.
        return Ok(Action::await_change());
    }
    if topic.spec.deletion_policy == DeletionPolicy::Retain || topic.spec.management_policy == ManagementPolicy::Observe
    {
        ctx.event(
            topic.as_ref(),
            false,
            "Retained",
            "Delete",
            format!("Kafka topic {name:?} retained (deletionPolicy Retain)"),
        )
        .await;
        return Ok(Action::await_change());
    }
    if annotated(&topic, PAUSED_ANNOTATION) {
        return Err(Error::Refused {
            reason: "Paused",
            message: "paused: the Kafka topic is not deleted while paused".into(),
        });
    }
    let ns = topic.namespace().unwrap_or_default();
    let (conn, client) = match resolve_connection(ctx, topic.spec.connection_ref.as_ref(), &ns) {
        Ok(c) => c,
        Err(p) if p.reason == "ConnectionNotFound" || p.reason == "NoConnection" => {
            // Nothing can be deleted without a connection; holding the finalizer would trap the namespace.
            ctx.event(
                topic.as_ref(),
                true,
                "DeletionSkipped",
                "Delete",
                format!("{}: Kafka topic {name:?} left in place", p.message),
            )
            .await;
            return Ok(Action::await_change());
        }
        Err(p) => return Err(Error::Refused { reason: p.reason, message: p.message }),
    };
    if !conn.spec.policy.as_ref().is_none_or(|p| p.allow_topic_deletion) {
        let msg = format!("the connection's policy.allowTopicDeletion is false: Kafka topic {name:?} left in place");
        ctx.event(topic.as_ref(), true, "DeletionNotAllowed", "Delete", msg).await;
        return Ok(Action::await_change());
    }
    if !annotated(&topic, FORCE_DELETE_ANNOTATION) {
        let readers = client.active_groups_reading(&name).await?;
        if !readers.is_empty() {
            let msg = format!(
                "not deleting Kafka topic {name:?}: consumer group(s) {} have members and committed offsets on it (annotate {FORCE_DELETE_ANNOTATION}=true to force)",
                readers.join(", ")
            );
            let mut draft = draft_of(&topic);
            draft.not_ready("InUse", msg.clone());
            write(ctx, api, &topic, draft).await?;
            ctx.event(topic.as_ref(), true, "InUse", "Delete", msg.clone()).await;
            return Err(Error::Refused { reason: "InUse", message: msg });
        }
    }
    match client.delete_topic(&name).await {
        Ok(()) => {}
        Err(KafkaError::UnknownTopic(_)) => {}
        Err(e) => return Err(e.into()),
    }
    ctx.event(topic.as_ref(), false, "Deleted", "Delete", format!("deleted Kafka topic {name:?}")).await;
    Ok(Action::await_change())
}
