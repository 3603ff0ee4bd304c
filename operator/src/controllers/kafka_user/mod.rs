//! The `KafkaUser` controller: an application's SCRAM credential in Kafka and in a Secret, the least-privilege ACLs
//! derived from the Topics it produces to and the ConsumerGroups it consumes as, and its quotas — kept exactly as
//! declared, with ACL drift corrected and recorded like a topic's config drift.
//!
//! - `apply`: one reconcile, resolve → derive (pure) → credential → ACLs → quotas, status written once;
//! - `secret`: the Secret the application mounts, read and written only when it must change;
//! - `cleanup`: what deleting the resource removes from Kafka under `deletionPolicy: Delete`.

mod apply;
mod certificate;
mod cleanup;
mod credentials;
mod secret;
mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::controller::{self, Action};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::watch::Receiver;

use super::context::Context;
pub use super::finalizers::Error;
use super::finalizers::release_leftover;
use super::watch;
use crate::api::common::DeletionPolicy;
use crate::api::kafka_user::{KAFKA_USER_FINALIZER, KafkaUser};
use crate::api::{ConsumerGroup, KafkaConnection, Topic, full_name};
use crate::runtime::metrics::{KindLabels, ReconcileLabels, ResultLabel};

/// Runs the controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: Receiver<bool>) {
    let (store, writer) = reflector::store();
    let users = watcher(watch::watched::<KafkaUser>(&ctx.client, &ctx.config), watcher::Config::default())
        .default_backoff()
        .modify(watch::slim::<KafkaUser>)
        .reflect(writer)
        .applied_objects()
        // Status writes do not wake a reconcile; the spec, deletion and the rotate-password annotation do.
        .predicate_filter(watch::spec_or_control_changed::<KafkaUser>, Default::default());
    let config = ctx.config.clone();
    let (by_topic, by_group, by_connection) = (store.clone(), store.clone(), store.clone());
    Controller::for_stream(users, store)
        .with_config(controller::Config::default().concurrency(64))
        // A Topic or ConsumerGroup that appears, goes or changes wakes the users in its namespace that name it.
        .watches(watch::watched::<Topic>(&ctx.client, &ctx.config), watcher::Config::default(), move |t: Topic| {
            referencing(&by_topic, &t, |u| &u.spec.produces)
        })
        .watches(
            watch::watched::<ConsumerGroup>(&ctx.client, &ctx.config),
            watcher::Config::default(),
            move |g: ConsumerGroup| referencing(&by_group, &g, |u| &u.spec.consumes),
        )
        // A connection's change (ready, tenancy) wakes the users on it.
        .watches(
            watch::watched::<KafkaConnection>(&ctx.client, &ctx.config),
            watcher::Config::default(),
            move |conn: KafkaConnection| {
                let key = Some(full_name(&conn));
                by_connection
                    .state()
                    .into_iter()
                    .filter(|u| {
                        config.connection_key(u.spec.connection_ref.as_ref(), &u.namespace().unwrap_or_default()) == key
                    })
                    .map(|u| ObjectRef::from_obj(u.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(watch::stopped(shutdown))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// The users in `obj`'s namespace whose list (`produces` or `consumes`) names it.
fn referencing<K: ResourceExt>(
    users: &Store<KafkaUser>,
    obj: &K,
    list: impl Fn(&KafkaUser) -> &Vec<String>,
) -> Vec<ObjectRef<KafkaUser>> {
    let (ns, name) = (obj.namespace(), obj.name_any());
    users
        .state()
        .into_iter()
        .filter(|u| u.namespace() == ns && list(u).contains(&name))
        .map(|u| ObjectRef::from_obj(u.as_ref()))
        .collect()
}

#[tracing::instrument(skip_all, fields(user = %full_name(user.as_ref())))]
pub async fn reconcile(user: Arc<KafkaUser>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let ns = user.namespace().unwrap_or_default();
    let api: Api<KafkaUser> = Api::namespaced(ctx.client.clone(), &ns);
    let result = if user.spec.deletion_policy == DeletionPolicy::Delete {
        finalizer(&api, KAFKA_USER_FINALIZER, user, |event| async {
            match event {
                FinalizerEvent::Apply(u) => apply::apply(u, &ctx, &api).await,
                FinalizerEvent::Cleanup(u) => cleanup::cleanup(u, &ctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    } else {
        without_finalizer(user, &ctx, &api).await
    };
    let label = if result.is_ok() { ResultLabel::Success } else { ResultLabel::Error };
    ctx.metrics.reconciles.get_or_create(&ReconcileLabels { kind: "KafkaUser", result: label }).inc();
    ctx.metrics
        .reconcile_duration
        .get_or_create(&KindLabels { kind: "KafkaUser" })
        .observe(started.elapsed().as_secs_f64());
    result
}

/// A `Retain` user holds no finalizer: deleting it leaves its credential, ACLs, quotas and Secret as they are.
async fn without_finalizer(user: Arc<KafkaUser>, ctx: &Context, api: &Api<KafkaUser>) -> Result<Action, Error> {
    // Left from when the policy was Delete: released; the change comes back through the watch.
    if release_leftover(api, user.as_ref(), KAFKA_USER_FINALIZER).await? {
        return Ok(Action::await_change());
    }
    if user.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    apply::apply(user, ctx, api).await
}

pub fn error_policy(user: Arc<KafkaUser>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(user = %full_name(user.as_ref()), error = %err, "kafka user reconcile failed");
    Action::requeue(Duration::from_secs(5))
}
