//! The `ConsumerGroup` controller: measures the group's lag (in records and seconds), judges its partitions after
//! Burrow's rules, scales the consumer workload through `/scale`, and runs declarative offset resets.
//!
//! A group does not poll Kafka itself: it is watched in its connection's lag tick
//! ([`crate::kafka::lag_tick`]), and every tick of that connection reconciles each of its groups from the tick's
//! snapshot ([`tick_triggers`]), so the autoscaler and /metrics follow Kafka within about one tick. The status is
//! written at once on a condition change or a scaling action and at most every `statusIntervalSeconds` for lag
//! figures alone ([`status_write_due`], each group in its own slot of the interval), less often when the groups
//! would exceed `statusFigureWritesPerSecond` together ([`figure_interval_ms`]). What must be remembered between
//! ticks (offset timelines, commit windows, the autoscaler's state) lives in
//! [`GroupMemory`](crate::controllers::group_memory::GroupMemory), in memory. A deleted group's memory, metric
//! series and watch are dropped as the watch reports the deletion ([`on_watch_event`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt, TryStreamExt};
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::runtime::{Controller, WatchStreamExt, reflector};
use kube::{Api, ResourceExt};
use tokio::sync::broadcast;
use tokio::sync::watch::Receiver;

use super::lag_status::{fill_lag_status, lag_conditions, observe_lag};
use super::observe::{View, view};
use super::offset_reset::offset_reset_step;
use super::scale::autoscale_step;
use super::shared::{Draft, Error, KafkaNames, SCALING_ACTIVE, SCALING_LIMITED, now_ms};
use crate::api::PAUSED_ANNOTATION;
use crate::api::conditions::READY;
use crate::api::consumer_group::ConsumerGroup;
use crate::api::full_name;
use crate::controllers::context::{Context, resolve_connection};
use crate::controllers::status::apply_status;
use crate::controllers::watch;
use crate::decisions::burrow;
use crate::decisions::lag::TopicPartition;
use crate::decisions::status_pace::{FigurePace, figure_interval_ms, status_write_due};
use crate::runtime::metrics::{KindLabels, ReconcileLabels, ResourceLabels, ResultLabel};

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
            if let Some(client) =
                ctx.config.connection_key(cg.spec.connection_ref.as_ref(), &ns).and_then(|k| ctx.clients.get(&k))
            {
                client.unwatch_lag(&full_name(cg));
            }
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
    let ticks = tick_triggers(ctx.clone(), reader.clone());
    Controller::for_stream(groups, reader)
        .reconcile_on(ticks)
        .with_config(controller::Config::default().concurrency(64))
        .graceful_shutdown_on(watch::stopped(shutdown))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// Every ConsumerGroup of a connection, each time that connection's lag tick took a snapshot.
fn tick_triggers(ctx: Arc<Context>, store: Store<ConsumerGroup>) -> impl Stream<Item = ObjectRef<ConsumerGroup>> {
    let ticks = futures::stream::unfold(ctx.clients.ticks(), |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(key) => return Some((key, rx)),
                // Fell behind: the skipped ticks' groups are reconciled by the next one.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    ticks.flat_map(move |key| {
        let groups: Vec<ObjectRef<ConsumerGroup>> = store
            .state()
            .iter()
            .filter(|cg| {
                let ns = cg.namespace().unwrap_or_default();
                ctx.config.connection_key(cg.spec.connection_ref.as_ref(), &ns).as_deref() == Some(key.as_str())
            })
            .map(|cg| ObjectRef::from_obj(cg.as_ref()))
            .collect();
        futures::stream::iter(groups)
    })
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
    // Ticks drive the reconciles; this requeue only renews the watch if no tick comes (a rebuilt client).
    let fallback = ctx.config.group_poll;
    let mut d = Draft::new(cg.status.clone().unwrap_or_default(), cg.metadata.generation);
    d.status.observed_generation = cg.metadata.generation;
    d.status.group_id = Some(cg.group_id());

    let (names, client) = match resolve_connection(ctx, cg.spec.connection_ref.as_ref(), &ns) {
        Ok((conn, c)) => (KafkaNames::of(cg, &conn), c),
        Err(problem) => {
            let retry = problem.retry_after(Duration::from_secs(10));
            d.set(READY, false, problem.reason, problem.message);
            write_status(&api, cg, &d, ctx).await?;
            return Ok(Action::requeue(retry));
        }
    };
    let group_id = names.group_id.clone();
    d.status.group_id = Some(group_id.clone());
    let topics = names.topics(&cg.spec.topics);
    client.watch_lag(&key, &group_id, topics.clone());
    let snap = client.lag_snapshot();
    {
        // A tick is worked from once: its samples go into the group's memory once.
        let mut memories = ctx.groups.lock();
        let memory = memories.entry(key.clone()).or_default();
        if snap.tick == 0 || memory.last_tick_ms.is_some_and(|t| t >= snap.at_ms) {
            return Ok(Action::requeue(fallback));
        }
        memory.last_tick_ms = Some(snap.at_ms);
    }
    let observed = match view(&snap, &group_id, &topics) {
        View::Observed(o) => o,
        View::NotYet => return Ok(Action::requeue(fallback)),
        View::TopicNotFound(msg) => {
            d.set(READY, false, "TopicNotFound", msg);
            write_status(&api, cg, &d, ctx).await?;
            return Ok(Action::requeue(fallback));
        }
        View::Failed(e) => {
            d.set(READY, false, e.reason(), e.to_string());
            if cg.spec.autoscaling.is_some() {
                d.set(SCALING_ACTIVE, false, "LagUnknown", format!("no lag this tick ({e}): scaling holds"));
            }
            write_status(&api, cg, &d, ctx).await?;
            return Ok(Action::requeue(fallback));
        }
    };
    let now = snap.at_ms;
    let partitions_total: i32 = observed.partitions_per_topic.values().sum();

    // Lag, lag seconds and partition health, with the memory of earlier ticks.
    let (lag, health) = observe_lag(ctx.groups.lock().entry(key.clone()).or_default(), now, &observed);
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
    let resetting = offset_reset_step(ctx, cg, &names, &client, &observed, &mut d).await?;
    if let Some(a) = &cg.spec.autoscaling {
        if paused {
            d.set(SCALING_ACTIVE, false, "Paused", format!("annotation {PAUSED_ANNOTATION}=true"));
        } else if resetting {
            d.set(SCALING_ACTIVE, false, "OffsetResetInProgress", "scaling waits for the offset reset");
        } else if let Some(why) = observed.lag_unknown_because() {
            // Unknown is not zero: a partial total would read as less lag and scale down on missing data.
            d.set(SCALING_ACTIVE, false, "LagUnknown", why);
        } else {
            let stalled: BTreeSet<TopicPartition> = burrow::held_from_scaling(&health, observed.members);
            let stable = observed.state.as_deref() == Some("Stable");
            autoscale_step(ctx, cg, a, &ns, &lag, stable, &stalled, partitions_total, now, &mut d, &labels).await?;
        }
    } else {
        d.drop_condition(SCALING_ACTIVE);
        d.drop_condition(SCALING_LIMITED);
        ctx.metrics.group_replicas_desired.remove(&labels);
        ctx.metrics.group_replicas_current.remove(&labels);
    }
    write_status(&api, cg, &d, ctx).await?;
    Ok(Action::requeue(fallback))
}

/// Writes the status when [`status_write_due`]: at once for anything but the lag figures, which wait for the
/// status interval. A ConsumerGroup deleted meanwhile is [`Error::Gone`], not a failure.
async fn write_status(api: &Api<ConsumerGroup>, cg: &ConsumerGroup, d: &Draft, ctx: &Context) -> Result<(), Error> {
    let key = full_name(cg);
    let now = now_ms();
    let (last, groups) = {
        let memories = ctx.groups.lock();
        (memories.get(&key).and_then(|m| m.last_status_write_ms), memories.len())
    };
    let interval = figure_interval_ms(
        ctx.config.status_interval.as_millis() as i64,
        groups,
        ctx.config.status_figure_writes_per_second,
    );
    if !status_write_due(cg.status.as_ref(), &d.status, last, now, FigurePace::new(interval, &key)) {
        return Ok(());
    }
    match apply_status(api, cg, cg.status.as_ref(), &d.status, &ctx.metrics).await {
        Ok(written) => {
            if written {
                ctx.groups.lock().entry(key).or_default().last_status_write_ms = Some(now);
            }
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Err(Error::Gone),
        Err(e) => Err(e.into()),
    }
}
