//! The `Topic` controller: creates topics, grows partitions, corrects config drift and records the correction,
//! changes the replication factor by partition reassignment, and deletes topics only when told to and when nothing
//! reads them.
//!
//! - `apply`: one reconcile of a live topic, validate → observe → plan → act, ending in one outcome written once;
//! - `replication`: starting and following a replication-factor change;
//! - `cleanup`: what deleting the resource does in Kafka;
//! - `state`: the status draft, its single write, and the errors.

mod apply;
mod cleanup;
mod replication;
mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::runtime::controller::{self, Action};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::{mpsc, watch::Receiver};

pub use self::state::Error;
use super::context::Context;
use super::finalizers::release_leftover;
use super::watch;
use crate::api::KafkaConnection;
use crate::api::common::{DeletionPolicy, ManagementPolicy};
use crate::api::full_name;
use crate::api::topic::{TOPIC_FINALIZER, Topic};
use crate::runtime::metrics::{KindLabels, ReconcileLabels, ResultLabel};

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
    let config = ctx.config.clone();
    let connections = watch::watched::<KafkaConnection>(&ctx.client, &ctx.config);
    Controller::for_stream(topics, reader)
        .with_config(controller::Config::default().concurrency(256))
        .reconcile_on(handover_stream)
        // A connection's change (ready, policy) wakes the topics that use it, the default connection's included.
        .watches(connections, watcher::Config::default(), move |conn: KafkaConnection| {
            let key = Some(full_name(&conn));
            cached
                .state()
                .into_iter()
                .filter(|t| {
                    config.connection_key(t.spec.connection_ref.as_ref(), &t.namespace().unwrap_or_default()) == key
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
                FinalizerEvent::Apply(t) => apply::apply(t, &ctx, &api).await,
                FinalizerEvent::Cleanup(t) => cleanup::cleanup(t, &ctx, &api).await,
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
    if release_leftover(api, topic.as_ref(), TOPIC_FINALIZER).await? {
        return Ok(Action::await_change());
    }
    if topic.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    apply::apply(topic, ctx, api).await
}

pub fn error_policy(topic: Arc<Topic>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(topic = %full_name(topic.as_ref()), error = %err, "topic reconcile failed");
    Action::requeue(Duration::from_secs(5))
}
