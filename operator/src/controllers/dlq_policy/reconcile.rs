//! The `DlqPolicy` reconcile: generate the child topics, run the redrive, watch the dead-letter topic, write status
//! once; and on deletion, stop the policy's move and forget it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::mpsc;

use super::children::{sync_children, topics_spec};
use super::context::{DlqContext, Draft, Error, redrive_group};
use super::monitor::watch_dead_letters;
use super::redrive::{announce_finished, redrive};
use crate::api::conditions::{self, READY};
use crate::api::dlq_policy::{DLQ_POLICY_FINALIZER, DLQ_POLICY_LABEL, DlqPolicy};
use crate::api::full_name;
use crate::api::topic::Topic;
use crate::controllers::context::{Context, resolve_connection};
use crate::controllers::status::apply_status;
use crate::controllers::watch;
use crate::decisions::dlq::monitor;
use crate::decisions::dlq::naming::{self, Role};
use crate::decisions::problem::Problem;
use crate::runtime::metrics::{KindLabels, ReconcileLabels, ResultLabel};

/// How often the dead-letter topic is observed.
const MONITOR_INTERVAL: Duration = Duration::from_secs(10);

/// Reconcile a policy when its spec, finalizers or deletion change; status writes do not count.
fn policy_predicate(p: &DlqPolicy) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.metadata.generation.hash(&mut h);
    p.metadata.deletion_timestamp.as_ref().map(|d| d.0.as_second()).hash(&mut h);
    p.metadata.finalizers.hash(&mut h);
    Some(h.finish())
}

/// Runs the controller until `shutdown`; then interrupts running moves (they resume on the next start).
pub async fn run(ctx: Arc<Context>, shutdown: tokio::sync::watch::Receiver<bool>) {
    let client = ctx.client.clone();
    let (topic_reader, topic_writer) = reflector::store();
    let children =
        watcher(watch::watched::<Topic>(&client, &ctx.config), watcher::Config::default().labels(DLQ_POLICY_LABEL))
            .default_backoff()
            .reflect(topic_writer)
            .touched_objects();
    let (policy_reader, policy_writer) = reflector::store();
    let policies = watcher(watch::watched::<DlqPolicy>(&client, &ctx.config), watcher::Config::default())
        .default_backoff()
        .reflect(policy_writer)
        .applied_objects()
        .predicate_filter(policy_predicate, Default::default());
    let (wake, mut woken) = mpsc::unbounded_channel();
    let st = Arc::new(DlqContext {
        base: ctx,
        policies: policy_reader.clone(),
        topics: topic_reader,
        memory: Default::default(),
        wake,
    });
    let wakes = futures::stream::poll_fn(move |cx| woken.poll_recv(cx));
    Controller::for_stream(policies, policy_reader)
        .owns_stream(children)
        .reconcile_on(wakes)
        .graceful_shutdown_on(watch::stopped(shutdown))
        .run(reconcile, error_policy, st.clone())
        .for_each(|_| futures::future::ready(()))
        .await;
    let handles = st.memory.take_moves();
    for h in &handles {
        h.control.interrupt();
    }
    for h in handles {
        let _ = tokio::time::timeout(Duration::from_secs(10), h.join).await;
    }
}

#[tracing::instrument(skip_all, fields(dlqpolicy = %full_name(policy.as_ref())))]
pub async fn reconcile(policy: Arc<DlqPolicy>, st: Arc<DlqContext>) -> Result<Action, Error> {
    let started = Instant::now();
    let ns = policy.namespace().unwrap_or_default();
    let api: Api<DlqPolicy> = Api::namespaced(st.base.client.clone(), &ns);
    let result = finalizer(&api, DLQ_POLICY_FINALIZER, policy, |event| async {
        match event {
            FinalizerEvent::Apply(p) => apply(p, &st, &api).await,
            FinalizerEvent::Cleanup(p) => cleanup(p, &st).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    let m = &st.base.metrics;
    let label = if result.is_ok() { ResultLabel::Success } else { ResultLabel::Error };
    m.reconciles.get_or_create(&ReconcileLabels { kind: "DlqPolicy", result: label }).inc();
    m.reconcile_duration.get_or_create(&KindLabels { kind: "DlqPolicy" }).observe(started.elapsed().as_secs_f64());
    result
}

pub fn error_policy(policy: Arc<DlqPolicy>, err: &Error, _st: Arc<DlqContext>) -> Action {
    tracing::warn!(dlqpolicy = %full_name(policy.as_ref()), error = %err, "dlq policy reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

async fn apply(policy: Arc<DlqPolicy>, st: &Arc<DlqContext>, api: &Api<DlqPolicy>) -> Result<Action, Error> {
    st.topics.wait_until_ready().await.ok();
    let ctx = &st.base;
    let ns = policy.namespace().unwrap_or_default();
    let current = policy.status.clone().unwrap_or_default();
    let mut d = Draft::new(current.clone(), policy.metadata.generation);
    d.status.observed_generation = policy.metadata.generation;
    d.status.redrive_group = Some(redrive_group(&policy));
    let requeue = Action::requeue(MONITOR_INTERVAL);

    let plan = naming::generated_topics(&policy.name_any(), &policy.spec.source_topic, &topics_spec(&policy));
    // Under a tenancy rule the child Topics get the namespace's prefix, and the monitor and the redrive would need
    // it too: until they have it, the policy is refused before it creates anything.
    let plan = match resolve_connection(ctx, policy.spec.connection_ref.as_ref(), &ns) {
        Ok((conn, _)) if conn.spec.tenancy.is_some() => Err(Problem::new(
            "TenancyNotSupported",
            format!(
                "KafkaConnection {} has spec.tenancy, which DlqPolicy does not support yet; use a connection \
                 without it",
                conn.name_any()
            ),
        )),
        _ => plan,
    };
    let wanted = match plan {
        Ok(w) => w,
        Err(problem) => {
            if conditions::find(&current.conditions, READY).map(|c| c.reason.as_str()) != Some(problem.reason) {
                ctx.event(policy.as_ref(), true, problem.reason, "Validate", problem.message.clone()).await;
            }
            d.not_ready(problem.reason, problem.message);
            d.status.redrive = redrive(st, &policy, None, "", false, current.redrive.as_ref()).await;
            apply_status(api, policy.as_ref(), policy.status.as_ref(), &d.status, &ctx.metrics).await?;
            return Ok(requeue);
        }
    };
    let dlt = wanted.iter().find(|g| g.role == Role::DeadLetter).map(|g| g.kafka_name.clone()).unwrap_or_default();
    d.status.retry_topics =
        wanted.iter().filter(|g| matches!(g.role, Role::Retry { .. })).map(|g| g.kafka_name.clone()).collect();
    d.status.dead_letter_topic = Some(dlt.clone());

    let readiness = sync_children(st, &policy, &wanted).await?;
    let dlt_ready = readiness.iter().any(|(n, r)| *n == dlt && matches!(r, Some((true, _))));
    let not_ready: Vec<String> = readiness
        .iter()
        .filter(|(_, r)| !matches!(r, Some((true, _))))
        .map(|(n, r)| match r {
            Some((_, why)) => format!("{n} ({why})"),
            None => format!("{n} (not reconciled yet)"),
        })
        .collect();

    let connection = resolve_connection(ctx, policy.spec.connection_ref.as_ref(), &ns);
    let client = connection.as_ref().ok().map(|(_, c)| c.clone());
    // The redrive first: a new move starts without waiting for the monitoring pass.
    let prev_redrive = current.redrive.clone();
    d.status.redrive = redrive(st, &policy, client.as_ref(), &dlt, dlt_ready, prev_redrive.as_ref()).await;
    let mut observed_age = None;
    match (&connection, not_ready.is_empty()) {
        (Err(Problem { reason, message, .. }), _) => d.set(READY, false, reason, message.clone()),
        (Ok(_), false) => d.set(READY, false, "TopicsNotReady", format!("not ready: {}", not_ready.join("; "))),
        (Ok((_, client)), true) => {
            observed_age = watch_dead_letters(st, &policy, client, &dlt, &current, &mut d).await;
            if observed_age.is_some() {
                let n = wanted.len();
                d.set(READY, true, "Ready", format!("{n} topic(s) ready; dead letters in {dlt:?}"));
            }
        }
    }

    announce_finished(ctx, &policy, prev_redrive.as_ref(), d.status.redrive.as_ref()).await;

    // The age grows by itself: refresh it only with another change, or when it crosses a bucket.
    if let Some(age) = observed_age {
        let prev = current.oldest_age_seconds;
        d.status.oldest_age_seconds = prev;
        if d.status != current || monitor::age_bucket(prev) != monitor::age_bucket(age) {
            d.status.oldest_age_seconds = age;
        }
    }
    apply_status(api, policy.as_ref(), policy.status.as_ref(), &d.status, &ctx.metrics).await?;
    ctx.metrics
        .managed_resources
        .get_or_create(&KindLabels { kind: "DlqPolicy" })
        .set(st.policies.state().len() as i64);
    Ok(requeue)
}

/// The policy goes: its move is cancelled (and awaited a while), its monitor and metric series forgotten. The
/// generated Topic resources go with their owner (garbage collection); each keeps or deletes its Kafka topic as the
/// policy's deletionPolicy says.
async fn cleanup(policy: Arc<DlqPolicy>, st: &Arc<DlqContext>) -> Result<Action, Error> {
    let (ns, name) = (policy.namespace().unwrap_or_default(), policy.name_any());
    if let Some(h) = st.memory.forget(&st.base.metrics, &ns, &name) {
        h.control.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), h.join).await;
    }
    Ok(Action::await_change())
}
