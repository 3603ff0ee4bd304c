//! The `ConsumerGroup` controller: measures the group's lag (in records and seconds), judges its partitions after
//! Burrow's rules, scales the consumer workload through `/scale`, and runs declarative offset resets.
//!
//! Each group is polled every `pollSeconds`; what must be remembered between polls (offset timelines, commit
//! windows, the autoscaler's state) lives in [`GroupMemory`](super::group_memory::GroupMemory), in memory. A deleted group's memory and metric series
//! are dropped as the watch reports the deletion ([`on_watch_event`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::runtime::{Controller, WatchStreamExt, reflector};
use kube::{Api, ResourceExt};
use serde_json::json;
use tokio::sync::watch::Receiver;

use super::context::{Context, resolve_connection};
use super::status::apply_status;
use super::watch;
use crate::api::PAUSED_ANNOTATION;
use crate::api::conditions::{self, READY};
use crate::api::consumer_group::{
    Autoscaling, ConsumerGroup, ConsumerGroupStatus, OffsetResetStatus, PartitionHealth, ScaleEvent, TopicLag,
};
use crate::api::full_name;
use crate::decisions::autoscale::{self, AutoscaleConfig, Observation, ScalingRules, ScalingTarget};
use crate::decisions::burrow::{self, CommitSample, PartitionStatus};
use crate::decisions::lag::{GroupLag, PartitionOffsets, TopicPartition};
use crate::decisions::offset_reset::{self, PartitionBounds};
use crate::kafka::{ClusterClient, KafkaError, OffsetSpec};
use crate::runtime::metrics::{KindLabels, ReconcileLabels, ResourceLabels, ResultLabel};

pub const LAG_WITHIN_SLO: &str = "LagWithinSLO";
pub const STALLED: &str = "Stalled";
pub const SCALING_ACTIVE: &str = "ScalingActive";
pub const SCALING_LIMITED: &str = "ScalingLimited";
/// At most this many unhealthy partitions are listed in status.
const MAX_LISTED_PARTITIONS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Kafka(#[from] KafkaError),
    /// The ConsumerGroup was deleted while it was reconciled (its status write found nothing): nothing to do.
    #[error("the ConsumerGroup no longer exists")]
    Gone,
}

/// How long after a deletion a reconcile that was already running may still write memory or metrics: the group is
/// forgotten once more then.
const FORGET_AGAIN_AFTER: Duration = Duration::from_secs(60);

/// Sees every event of the ConsumerGroup watcher (after `store` applied it) and forgets deleted groups, so memory
/// and /metrics do not grow with churn. A deletion missed while the watch was down shows at the next relist.
pub fn on_watch_event(ctx: &Arc<Context>, store: &Store<ConsumerGroup>, event: &watcher::Event<ConsumerGroup>) {
    match event {
        watcher::Event::Delete(cg) => {
            let (ns, name) = (cg.namespace().unwrap_or_default(), cg.name_any());
            tracing::debug!(group = %full_name(cg), "consumer group deleted: forgetting it");
            ctx.groups.forget(&ctx.metrics, &ns, &name);
            // A reconcile that was running may still write after this: forget again once it surely ended, unless
            // a group of the same name was created meanwhile.
            let (ctx, store) = (ctx.clone(), store.clone());
            tokio::spawn(async move {
                tokio::time::sleep(FORGET_AGAIN_AFTER).await;
                if store.get(&ObjectRef::new(&name).within(&ns)).is_none() {
                    ctx.groups.forget(&ctx.metrics, &ns, &name);
                }
            });
        }
        watcher::Event::InitDone => {
            let exists = |ns: &str, name: &str| store.get(&ObjectRef::new(name).within(ns)).is_some();
            ctx.groups.retain(&ctx.metrics, exists);
        }
        _ => {}
    }
}

fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// One poll's view of the group in Kafka.
struct Observed {
    state: Option<String>,
    members: i32,
    /// Per partition: log start, end (read-committed), committed.
    offsets: BTreeMap<TopicPartition, PartitionOffsets>,
    partitions_per_topic: BTreeMap<String, i32>,
}

async fn observe(
    client: &ClusterClient,
    group: &str,
    topics: &[String],
) -> Result<Result<Observed, String>, KafkaError> {
    let (committed, state) = tokio::try_join!(client.group_offsets(group), client.group_state(group))?;
    let committed: BTreeMap<TopicPartition, i64> = committed
        .into_iter()
        .filter(|o| o.offset >= 0)
        .map(|o| (TopicPartition { topic: o.topic, partition: o.partition }, o.offset))
        .collect();
    let topics: Vec<String> = if topics.is_empty() {
        committed.keys().map(|tp| tp.topic.clone()).collect::<BTreeSet<_>>().into_iter().collect()
    } else {
        topics.to_vec()
    };
    let mut partitions_per_topic = BTreeMap::new();
    let descriptions = futures::future::join_all(topics.iter().map(|t| client.describe_topic(t))).await;
    for (topic, desc) in topics.iter().zip(descriptions) {
        match desc? {
            Some(d) => {
                partitions_per_topic.insert(topic.clone(), d.partitions.len() as i32);
            }
            None => return Ok(Err(format!("topic {topic:?} in spec.topics does not exist"))),
        }
    }
    let all: Vec<(String, i32)> =
        partitions_per_topic.iter().flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p))).collect();
    let (ends, starts) = tokio::try_join!(
        client.list_offsets(all.clone(), OffsetSpec::Latest, true),
        client.list_offsets(all, OffsetSpec::Earliest, false)
    )?;
    let starts: HashMap<(String, i32), i64> = starts.into_iter().map(|o| ((o.topic, o.partition), o.offset)).collect();
    let mut offsets = BTreeMap::new();
    for e in ends {
        if e.error.is_some() {
            continue;
        }
        let log_start = starts.get(&(e.topic.clone(), e.partition)).copied().unwrap_or(0).max(0);
        let tp = TopicPartition { topic: e.topic, partition: e.partition };
        let c = committed.get(&tp).copied();
        offsets.insert(tp, PartitionOffsets { end: e.offset.max(0), committed: c, log_start });
    }
    let (state, members) = match state {
        Some((s, m)) => (Some(s), m),
        None => (None, 0),
    };
    Ok(Ok(Observed { state, members, offsets, partitions_per_topic }))
}

/// The scale subresource of a target.
struct ScaleTarget {
    api: Api<DynamicObject>,
    name: String,
    kind: String,
}

impl ScaleTarget {
    fn new(ctx: &Context, ns: &str, a: &Autoscaling) -> ScaleTarget {
        let (group, version) = match a.target_ref.api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), a.target_ref.api_version.clone()),
        };
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(&group, &version, &a.target_ref.kind));
        ScaleTarget {
            api: Api::namespaced_with(ctx.client.clone(), ns, &ar),
            name: a.target_ref.name.clone(),
            kind: a.target_ref.kind.clone(),
        }
    }

    async fn replicas(&self) -> Result<Option<i32>, kube::Error> {
        match self.api.get_scale(&self.name).await {
            Ok(s) => Ok(Some(s.spec.and_then(|s| s.replicas).unwrap_or(0))),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn set(&self, replicas: i32) -> Result<(), kube::Error> {
        let patch = json!({"spec": {"replicas": replicas}});
        self.api.patch_scale(&self.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        Ok(())
    }
}

/// Another autoscaler (an HPA or a KEDA ScaledObject) that targets the same workload.
async fn conflicting_autoscaler(ctx: &Context, ns: &str, target: &ScaleTarget) -> Result<Option<String>, kube::Error> {
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), ns);
    for h in hpas.list(&Default::default()).await? {
        if let Some(spec) = &h.spec
            && spec.scale_target_ref.name == target.name
            && spec.scale_target_ref.kind == target.kind
        {
            return Ok(Some(format!("HorizontalPodAutoscaler {}", h.name_any())));
        }
    }
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject"));
    let scaled: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ar);
    match scaled.list(&Default::default()).await {
        Ok(list) => {
            for so in list {
                let r = &so.data["spec"]["scaleTargetRef"];
                let kind = r["kind"].as_str().unwrap_or("Deployment");
                if r["name"].as_str() == Some(target.name.as_str()) && kind == target.kind {
                    return Ok(Some(format!("KEDA ScaledObject {}", so.name_any())));
                }
            }
        }
        // No KEDA in this cluster (or no right to read it): nothing conflicts from there.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 403 => {}
        Err(e) => return Err(e),
    }
    Ok(None)
}

fn autoscale_config(a: &Autoscaling, partitions: i32) -> AutoscaleConfig {
    let target = match (a.lag_per_replica, a.max_drain_seconds) {
        (Some(l), _) => ScalingTarget::LagPerReplica(l),
        (None, Some(s)) => ScalingTarget::MaxDrainSeconds(s as f64),
        (None, None) => ScalingTarget::LagPerReplica(1000),
    };
    let partitions = if a.allow_idle_consumers { 0 } else { partitions };
    let mut c = AutoscaleConfig::new(a.min_replicas, a.max_replicas, partitions, target);
    c.allow_idle_consumers = a.allow_idle_consumers;
    c.activation_lag = a.activation_lag;
    let rules = |r: &Option<crate::api::consumer_group::ScalingRules>, default: ScalingRules| match r {
        Some(r) => ScalingRules {
            stabilization: r
                .stabilization_seconds
                .map_or(default.stabilization, |s| Duration::from_secs(s.max(0) as u64)),
            max_step: r.max_step.or(default.max_step),
        },
        None => default,
    };
    c.scale_up = rules(&a.scale_up, ScalingRules::SCALE_UP);
    c.scale_down = rules(&a.scale_down, ScalingRules::SCALE_DOWN);
    c
}

type Draft = conditions::Draft<ConsumerGroupStatus>;

/// Runs the controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: Receiver<bool>) {
    let (reader, writer) = reflector::store();
    let groups = watcher(watch::watched::<ConsumerGroup>(&ctx.client, &ctx.config), watcher::Config::default())
        .default_backoff()
        .modify(watch::slim::<ConsumerGroup>)
        .reflect(writer)
        .inspect_ok({
            // Deleted groups are forgotten (memory and metric series) as the watch reports them.
            let (ctx, store) = (ctx.clone(), reader.clone());
            move |ev| on_watch_event(&ctx, &store, ev)
        })
        .applied_objects()
        .predicate_filter(watch::spec_or_control_changed::<ConsumerGroup>, Default::default());
    Controller::for_stream(groups, reader)
        .with_config(controller::Config::default().concurrency(64))
        .graceful_shutdown_on(watch::stopped(shutdown))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

#[tracing::instrument(skip_all, fields(group = %full_name(cg.as_ref())))]
pub async fn reconcile(cg: Arc<ConsumerGroup>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = match reconcile_inner(&cg, &ctx).await {
        Err(Error::Gone) => {
            tracing::debug!("consumer group deleted while it was reconciled");
            ctx.groups.forget(&ctx.metrics, &cg.namespace().unwrap_or_default(), &cg.name_any());
            Ok(Action::await_change())
        }
        other => other,
    };
    let label = if result.is_ok() { ResultLabel::Success } else { ResultLabel::Error };
    ctx.metrics.reconciles.get_or_create(&ReconcileLabels { kind: "ConsumerGroup", result: label }).inc();
    ctx.metrics
        .reconcile_duration
        .get_or_create(&KindLabels { kind: "ConsumerGroup" })
        .observe(started.elapsed().as_secs_f64());
    result
}

pub fn error_policy(cg: Arc<ConsumerGroup>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(group = %full_name(cg.as_ref()), error = %err, "consumer group reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile_inner(cg: &ConsumerGroup, ctx: &Context) -> Result<Action, Error> {
    let ns = cg.namespace().unwrap_or_default();
    let key = full_name(cg);
    let api: Api<ConsumerGroup> = Api::namespaced(ctx.client.clone(), &ns);
    let group_id = cg.group_id();
    let poll = cg
        .spec
        .autoscaling
        .as_ref()
        .map_or(ctx.config.group_poll, |a| Duration::from_secs(a.poll_seconds.max(1) as u64));
    let mut d = Draft::new(cg.status.clone().unwrap_or_default(), cg.metadata.generation);
    d.status.observed_generation = cg.metadata.generation;
    d.status.group_id = Some(group_id.clone());

    let client = match resolve_connection(ctx, cg.spec.connection_ref.as_ref(), &ns) {
        Ok((_, c)) => c,
        Err(problem) => {
            let retry = problem.retry_after(Duration::from_secs(10));
            d.set(READY, false, problem.reason, problem.message);
            write_status(&api, cg, &d, ctx).await?;
            return Ok(Action::requeue(retry));
        }
    };
    let observed = match observe(&client, &group_id, &cg.spec.topics).await {
        Ok(Ok(o)) => o,
        Ok(Err(msg)) => {
            d.set(READY, false, "TopicNotFound", msg);
            write_status(&api, cg, &d, ctx).await?;
            return Ok(Action::requeue(poll));
        }
        Err(e) => {
            d.set(READY, false, e.reason(), e.to_string());
            write_status(&api, cg, &d, ctx).await?;
            return Ok(Action::requeue(Duration::from_secs(10)));
        }
    };
    let now = now_ms();
    let partitions_total: i32 = observed.partitions_per_topic.values().sum();

    // Lag, lag seconds and partition health, with the memory of earlier polls.
    let (lag, health) = {
        let mut memories = ctx.groups.lock();
        let memory = memories.entry(key.clone()).or_default();
        let lag = memory.lag.observe(now, observed.offsets.iter().map(|(tp, o)| (tp.clone(), *o)));
        let mut health = BTreeMap::new();
        for (tp, o) in &observed.offsets {
            let Some(c) = o.committed else { continue };
            let changed = memory.last_committed.get(tp) != Some(&c);
            let window = memory.commits.entry(tp.clone()).or_default();
            // OffsetFetch carries no commit time: a sample when the offset moves, and on every poll while the
            // group has members (so a live but stuck consumer reads as Stall, a dead one as Stop).
            if changed || observed.members > 0 {
                window.record(CommitSample { at_ms: now, committed: c, lag: o.lag() });
            }
            memory.last_committed.insert(tp.clone(), c);
            health.insert(tp.clone(), window.status(now, o.lag()));
        }
        memory.commits.retain(|tp, _| observed.offsets.contains_key(tp));
        (lag, health)
    };
    fill_lag_status(&mut d, &observed, &lag, &health);
    d.set(
        READY,
        true,
        "Observed",
        format!("group {group_id:?} is {}", d.status.state.clone().unwrap_or_else(|| "unknown to Kafka".into())),
    );
    lag_conditions(ctx, cg, &mut d, &health).await;
    let labels = ResourceLabels { namespace: ns.clone(), name: cg.name_any() };
    ctx.metrics.group_lag_messages.get_or_create(&labels).set(lag.total_lag());
    ctx.metrics.group_lag_seconds.get_or_create(&labels).set(lag.max_lag_seconds().unwrap_or(0.0));

    let paused = cg.annotations().get(PAUSED_ANNOTATION).is_some_and(|v| v == "true");
    let resetting = offset_reset_step(ctx, cg, &client, &observed, &mut d).await?;
    if let Some(a) = &cg.spec.autoscaling {
        if paused {
            d.set(SCALING_ACTIVE, false, "Paused", format!("annotation {PAUSED_ANNOTATION}=true"));
        } else if resetting {
            d.set(SCALING_ACTIVE, false, "OffsetResetInProgress", "scaling waits for the offset reset");
        } else {
            let stalled: BTreeSet<TopicPartition> = burrow::held_from_scaling(&health, observed.members);
            autoscale_step(ctx, cg, a, &ns, &lag, &stalled, partitions_total, now, &mut d, &labels).await?;
        }
    } else {
        d.drop_condition(SCALING_ACTIVE);
        d.drop_condition(SCALING_LIMITED);
        ctx.metrics.group_replicas_desired.remove(&labels);
        ctx.metrics.group_replicas_current.remove(&labels);
    }
    write_status(&api, cg, &d, ctx).await?;
    Ok(Action::requeue(poll))
}

/// Writes the status; a ConsumerGroup deleted meanwhile is [`Error::Gone`], not a failure.
async fn write_status(api: &Api<ConsumerGroup>, cg: &ConsumerGroup, d: &Draft, ctx: &Context) -> Result<(), Error> {
    match apply_status(api, cg, cg.status.as_ref(), &d.status, &ctx.metrics).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Err(Error::Gone),
        Err(e) => Err(e.into()),
    }
}

fn fill_lag_status(d: &mut Draft, o: &Observed, lag: &GroupLag, health: &BTreeMap<TopicPartition, PartitionStatus>) {
    d.status.state = o.state.clone();
    d.status.members = Some(o.members);
    d.status.total_lag = Some(lag.total_lag());
    // Seconds are rounded so that sub-second jitter does not rewrite status.
    d.status.max_lag_seconds = lag.max_lag_seconds().map(|s| s.round());
    let mut topics: BTreeMap<String, TopicLag> = BTreeMap::new();
    for (tp, pl) in &lag.partitions {
        let t = topics.entry(tp.topic.clone()).or_insert_with(|| TopicLag {
            topic: tp.topic.clone(),
            lag: 0,
            lag_seconds: None,
            partitions: o.partitions_per_topic.get(&tp.topic).copied().unwrap_or(0),
        });
        t.lag += pl.lag;
        if let Some(s) = pl.lag_seconds {
            t.lag_seconds = Some(t.lag_seconds.unwrap_or(0.0).max(s.round()));
        }
    }
    d.status.topics = topics.into_values().collect();
    d.status.partitions = health
        .iter()
        .filter(|(_, s)| **s != PartitionStatus::Ok)
        .take(MAX_LISTED_PARTITIONS)
        .map(|(tp, s)| PartitionHealth {
            topic: tp.topic.clone(),
            partition: tp.partition,
            status: s.as_str().to_string(),
            lag: lag.partitions.get(tp).map_or(0, |p| p.lag),
        })
        .collect();
}

async fn lag_conditions(
    ctx: &Context,
    cg: &ConsumerGroup,
    d: &mut Draft,
    health: &BTreeMap<TopicPartition, PartitionStatus>,
) {
    let labels = ResourceLabels { namespace: cg.namespace().unwrap_or_default(), name: cg.name_any() };
    match cg.spec.lag.as_ref().and_then(|l| l.max_seconds) {
        Some(max) => {
            let secs = d.status.max_lag_seconds.unwrap_or(0.0);
            let within = secs <= max as f64;
            let was = cg.status.as_ref().map(|s| conditions::is_true(&s.conditions, LAG_WITHIN_SLO));
            if was == Some(true) && !within {
                ctx.event(
                    cg,
                    true,
                    "LagAboveSLO",
                    "Observe",
                    format!("lag {secs:.0} s exceeds spec.lag.maxSeconds {max}"),
                )
                .await;
            }
            let (reason, msg) = if within {
                ("WithinSLO", format!("largest lag {secs:.0} s <= {max} s"))
            } else {
                ("LagAboveSLO", format!("largest lag {secs:.0} s > {max} s"))
            };
            d.set(LAG_WITHIN_SLO, within, reason, msg);
            ctx.metrics.group_lag_within_slo.get_or_create(&labels).set(i64::from(within));
        }
        None => {
            d.drop_condition(LAG_WITHIN_SLO);
            ctx.metrics.group_lag_within_slo.remove(&labels);
        }
    }
    let worst = crate::decisions::burrow::group_status(health.values().copied());
    if worst == PartitionStatus::Ok || worst == PartitionStatus::Warn {
        d.set(STALLED, false, "Progressing", "no stalled, stopped or rewound partition");
    } else {
        let names: Vec<String> = health
            .iter()
            .filter(|(_, s)| **s == worst)
            .take(MAX_LISTED_PARTITIONS)
            .map(|(tp, _)| format!("{}[{}]", tp.topic, tp.partition))
            .collect();
        let msg = format!("{} partition(s): {}", worst.as_str(), names.join(", "));
        let was_true = cg.status.as_ref().is_some_and(|s| conditions::is_true(&s.conditions, STALLED));
        if !was_true {
            ctx.event(cg, true, worst.as_str(), "Observe", msg.clone()).await;
        }
        d.set(STALLED, true, worst.as_str(), msg);
    }
}

#[allow(clippy::too_many_arguments)]
async fn autoscale_step(
    ctx: &Context,
    cg: &ConsumerGroup,
    a: &Autoscaling,
    ns: &str,
    lag: &GroupLag,
    stalled: &BTreeSet<TopicPartition>,
    partitions: i32,
    now: i64,
    d: &mut Draft,
    labels: &ResourceLabels,
) -> Result<(), Error> {
    let target = ScaleTarget::new(ctx, ns, a);
    if let Some(other) = conflicting_autoscaler(ctx, ns, &target).await? {
        d.set(
            SCALING_ACTIVE,
            false,
            "ConflictingAutoscaler",
            format!("{other} also scales {} {}: not scaling", target.kind, target.name),
        );
        return Ok(());
    }
    let Some(current) = target.replicas().await? else {
        d.set(SCALING_ACTIVE, false, "TargetNotFound", format!("{} {} has no /scale here", target.kind, target.name));
        return Ok(());
    };
    let config = autoscale_config(a, partitions);
    let observation = Observation {
        now_ms: now,
        lag: lag.total_lag_excluding(stalled),
        rates: lag.rates(),
        current_replicas: current,
    };
    let decision = {
        let mut memories = ctx.groups.lock();
        let memory = memories.entry(full_name(cg)).or_default();
        autoscale::desired_replicas(&config, &observation, &mut memory.autoscale)
    };
    let mut replicas = current;
    if decision.desired != current {
        target.set(decision.desired).await?;
        replicas = decision.desired;
        ctx.metrics.group_scale_events.get_or_create(&KindLabels { kind: "ConsumerGroup" }).inc();
        let msg = format!(
            "scaled {} {} from {current} to {}: {}",
            target.kind, target.name, decision.desired, decision.reason
        );
        // Events with the same reason and action fold into one series; the transition in the action keeps each
        // distinct change its own Event with its own numbers.
        let (reason, action) =
            if decision.desired > current { ("ScaledUp", "ScaleUp") } else { ("ScaledDown", "ScaleDown") };
        ctx.event(cg, false, reason, &format!("{action}{current}To{}", decision.desired), msg).await;
        d.status.last_scale = Some(ScaleEvent {
            time: Time(d.now),
            from: current,
            to: decision.desired,
            reason: decision.reason.clone(),
        });
    }
    d.status.desired_replicas = Some(decision.desired);
    d.status.current_replicas = Some(replicas);
    ctx.metrics.group_replicas_desired.get_or_create(labels).set(i64::from(decision.desired));
    ctx.metrics.group_replicas_current.get_or_create(labels).set(i64::from(replicas));
    d.set(SCALING_ACTIVE, true, "Active", format!("scaling {} {} on lag", target.kind, target.name));
    match decision.limited {
        Some(limit) => d.set(SCALING_LIMITED, true, limit.as_str(), decision.reason),
        None => d.set(SCALING_LIMITED, false, "WithinLimits", "the desired count is what the lag asks for"),
    }
    Ok(())
}

fn terminal(phase: &str) -> bool {
    matches!(phase, "Done" | "Refused" | "Failed")
}

/// Advances a declarative offset reset by one step. Returns true while a reset is in progress.
async fn offset_reset_step(
    ctx: &Context,
    cg: &ConsumerGroup,
    client: &ClusterClient,
    observed: &Observed,
    d: &mut Draft,
) -> Result<bool, Error> {
    let Some(spec) = &cg.spec.offset_reset else { return Ok(false) };
    let ns = cg.namespace().unwrap_or_default();
    let target = cg.spec.autoscaling.as_ref().map(|a| ScaleTarget::new(ctx, &ns, a));
    let mut st = match d.status.offset_reset.clone() {
        Some(s) if s.id == spec.id => s,
        _ => OffsetResetStatus {
            id: spec.id.clone(),
            phase: "Pending".into(),
            started_at: Some(Time(d.now)),
            ..Default::default()
        },
    };
    if terminal(&st.phase) {
        return Ok(false);
    }
    let group = cg.group_id();
    let finish = |st: &mut OffsetResetStatus, phase: &str, msg: String, now: Timestamp| {
        st.phase = phase.into();
        st.message = Some(msg);
        st.finished_at = Some(Time(now));
    };
    if st.phase == "Pending" {
        match &target {
            Some(t) => {
                let current = t.replicas().await?.unwrap_or(0);
                st.saved_replicas = Some(current);
                if current > 0 {
                    t.set(0).await?;
                    ctx.event(
                        cg,
                        false,
                        "OffsetReset",
                        "Scale",
                        format!("offset reset {}: scaled {} {} from {current} to 0", spec.id, t.kind, t.name),
                    )
                    .await;
                }
                st.phase = "WaitingForEmptyGroup".into();
                st.message = Some(format!("scaled {} {} to 0; waiting for the group to be empty", t.kind, t.name));
            }
            None if observed.members > 0 => {
                let msg = format!(
                    "group {group:?} has {} member(s) the operator does not control (no spec.autoscaling.targetRef): stop them first; nothing was changed",
                    observed.members
                );
                ctx.event(cg, true, "OffsetResetRefused", "Reset", msg.clone()).await;
                finish(&mut st, "Refused", msg, d.now);
            }
            None => st.phase = "Resetting".into(),
        }
    }
    if st.phase == "WaitingForEmptyGroup" && observed.members == 0 {
        st.phase = "Resetting".into();
    }
    if st.phase == "Resetting" {
        if observed.members > 0 {
            st.phase = "WaitingForEmptyGroup".into();
        } else {
            match reset_offsets(client, &group, spec, observed).await {
                Ok(n) => {
                    ctx.event(
                        cg,
                        false,
                        "OffsetReset",
                        "Reset",
                        format!("offset reset {}: {n} partition(s) moved ({:?})", spec.id, spec.to),
                    )
                    .await;
                    st.phase = if target.is_some() { "Restoring".into() } else { "Done".into() };
                    st.message = Some(format!("{n} partition(s) reset to {:?}", spec.to));
                    if st.phase == "Done" {
                        st.finished_at = Some(Time(d.now));
                    }
                }
                Err(msg) => {
                    ctx.event(cg, true, "OffsetResetFailed", "Reset", msg.clone()).await;
                    st.phase = if target.is_some() { "Restoring".into() } else { "Failed".into() };
                    st.message = Some(format!("failed: {msg}"));
                }
            }
        }
    }
    if st.phase == "Restoring"
        && let Some(t) = &target
    {
        let saved = st.saved_replicas.unwrap_or(0);
        t.set(saved).await?;
        let failed = st.message.as_deref().is_some_and(|m| m.starts_with("failed"));
        let msg = format!("{}; replicas restored to {saved}", st.message.clone().unwrap_or_default());
        finish(&mut st, if failed { "Failed" } else { "Done" }, msg, d.now);
    }
    let in_progress = !terminal(&st.phase);
    d.status.offset_reset = Some(st);
    Ok(in_progress)
}

async fn reset_offsets(
    client: &ClusterClient,
    group: &str,
    spec: &crate::api::consumer_group::OffsetReset,
    observed: &Observed,
) -> Result<usize, String> {
    let value = offset_reset::parse_value(spec.to, spec.value.as_deref())?;
    let chosen: Vec<&TopicPartition> =
        observed.offsets.keys().filter(|tp| spec.topics.is_empty() || spec.topics.contains(&tp.topic)).collect();
    if chosen.is_empty() {
        return Err("no partition to reset (check spec.offsetReset.topics and spec.topics)".into());
    }
    let at_ts: HashMap<(String, i32), i64> = if spec.to == crate::api::consumer_group::OffsetResetTarget::Timestamp {
        let parts = chosen.iter().map(|tp| (tp.topic.clone(), tp.partition)).collect();
        client
            .list_offsets(parts, OffsetSpec::Timestamp(value), false)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|o| ((o.topic, o.partition), o.offset))
            .collect()
    } else {
        HashMap::new()
    };
    let offsets: Vec<(String, i32, i64)> = chosen
        .iter()
        .map(|tp| {
            let o = observed.offsets[*tp];
            let bounds = PartitionBounds {
                log_start: o.log_start,
                end: o.end,
                committed: o.committed,
                at_timestamp: at_ts.get(&(tp.topic.clone(), tp.partition)).copied(),
            };
            (tp.topic.clone(), tp.partition, offset_reset::target_offset(spec.to, value, bounds))
        })
        .collect();
    let n = offsets.len();
    client.alter_group_offsets(group, offsets).await.map_err(|e| e.to_string())?;
    Ok(n)
}
