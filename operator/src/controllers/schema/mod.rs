//! The `Schema` controller: tests each new schema text against its subject in the connection's Schema Registry,
//! registers it when compatible (and reports the registry's reason when not), keeps the subject's compatibility
//! level as declared, and soft-deletes the subject on deletion when told to.
//!
//! - `apply`: one reconcile of a live Schema, ending in one status write, and what deleting one does;
//!
//! A Schema waiting for a referenced Schema's version looks again every few seconds.
//! - `source`: the Topic, connection, text and references a Schema reads;
//! - `shared`: the controller's context (registry clients, the Schema cache) and errors.

mod apply;
mod shared;
mod source;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{self, Action};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::watch::Receiver;

pub use self::shared::Error;
use self::shared::SchemaContext;
use super::context::Context;
use super::watch;
use crate::api::common::DeletionPolicy;
use crate::api::schema::{SCHEMA_FINALIZER, Schema};
use crate::api::topic::Topic;
use crate::api::{KafkaConnection, full_name};
use crate::runtime::metrics::{KindLabels, ReconcileLabels, ResultLabel};

/// Runs the controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, shutdown: Receiver<bool>) {
    let (reader, writer) = reflector::store();
    let schemas = watcher(watch::watched::<Schema>(&ctx.client, &ctx.config), watcher::Config::default())
        .default_backoff()
        .modify(watch::slim::<Schema>)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(watch::spec_or_control_changed::<Schema>, Default::default());
    let sctx = Arc::new(SchemaContext::new(ctx.clone(), reader.clone()));
    let (by_topic, by_map, by_conn) = (reader.clone(), reader.clone(), reader.clone());
    let config = ctx.config.clone();
    let config_maps =
        watcher(watch::watched::<PartialObjectMeta<ConfigMap>>(&ctx.client, &ctx.config), watcher::Config::default())
            .default_backoff()
            .touched_objects();
    Controller::for_stream(schemas, reader)
        .with_config(controller::Config::default().concurrency(64))
        // A Topic that becomes Ready (or changes) wakes the Schemas of its records.
        .watches(watch::watched::<Topic>(&ctx.client, &ctx.config), watcher::Config::default(), move |t: Topic| {
            matching(&by_topic, &t, |s| s.spec.topic_ref.as_ref().is_some_and(|r| r.name == t.name_any()))
        })
        // A ConfigMap holding a schema text: a changed text is tested and registered. Watched by metadata only (the
        // mapper needs names, and ConfigMaps can be large).
        .watches_stream(config_maps, move |m: PartialObjectMeta<ConfigMap>| {
            matching(&by_map, &m, |s| s.spec.schema_from.as_ref().is_some_and(|r| r.name == m.name_any()))
        })
        // A connection's change (its registry) wakes the Schemas that may use it.
        .watches(watch::watched::<KafkaConnection>(&ctx.client, &ctx.config), watcher::Config::default(), move |c| {
            let key = Some(full_name(&c));
            by_conn
                .state()
                .into_iter()
                .filter(|s| {
                    let ns = s.namespace().unwrap_or_default();
                    s.spec.connection_ref.is_none() || config.connection_key(s.spec.connection_ref.as_ref(), &ns) == key
                })
                .map(|s| ObjectRef::from_obj(s.as_ref()))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(watch::stopped(shutdown))
        .run(reconcile, error_policy, sctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// The cached Schemas in `obj`'s namespace for which `wanted` holds.
fn matching<K: ResourceExt>(
    store: &Store<Schema>,
    obj: &K,
    wanted: impl Fn(&Schema) -> bool,
) -> Vec<ObjectRef<Schema>> {
    let ns = obj.namespace();
    store
        .state()
        .into_iter()
        .filter(|s| s.namespace() == ns && wanted(s))
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

#[tracing::instrument(skip_all, fields(schema = %full_name(schema.as_ref())))]
async fn reconcile(schema: Arc<Schema>, sctx: Arc<SchemaContext>) -> Result<Action, Error> {
    let started = Instant::now();
    let ctx = &sctx.ctx;
    let api: Api<Schema> = Api::namespaced(ctx.client.clone(), &schema.namespace().unwrap_or_default());
    let result = if schema.spec.deletion_policy == DeletionPolicy::Delete {
        finalizer(&api, SCHEMA_FINALIZER, schema, |event| async {
            match event {
                FinalizerEvent::Apply(s) => apply::apply(&s, &sctx, &api).await,
                FinalizerEvent::Cleanup(s) => apply::cleanup(&s, &sctx).await,
            }
        })
        .await
        .map_err(|e| Error::Finalizer(Box::new(e)))
    } else if has_finalizer(&schema) {
        // Left from when the policy was Delete: released without touching the registry.
        release(&schema, &api).await
    } else if schema.metadata.deletion_timestamp.is_some() {
        Ok(Action::await_change())
    } else {
        apply::apply(&schema, &sctx, &api).await
    };
    let label = if result.is_ok() { ResultLabel::Success } else { ResultLabel::Error };
    ctx.metrics.reconciles.get_or_create(&ReconcileLabels { kind: "Schema", result: label }).inc();
    ctx.metrics
        .reconcile_duration
        .get_or_create(&KindLabels { kind: "Schema" })
        .observe(started.elapsed().as_secs_f64());
    ctx.metrics.managed_resources.get_or_create(&KindLabels { kind: "Schema" }).set(sctx.schemas.state().len() as i64);
    result
}

fn has_finalizer(schema: &Schema) -> bool {
    schema.finalizers().iter().any(|f| f == SCHEMA_FINALIZER)
}

/// Drops our finalizer (guarded by resourceVersion); the change comes back through the watch.
async fn release(schema: &Schema, api: &Api<Schema>) -> Result<Action, Error> {
    let remaining: Vec<&String> = schema.finalizers().iter().filter(|f| *f != SCHEMA_FINALIZER).collect();
    let patch =
        serde_json::json!({"metadata": {"finalizers": remaining, "resourceVersion": schema.resource_version()}});
    api.patch(&schema.name_any(), &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await?;
    Ok(Action::await_change())
}

fn error_policy(schema: Arc<Schema>, err: &Error, _ctx: Arc<SchemaContext>) -> Action {
    tracing::warn!(schema = %full_name(schema.as_ref()), error = %err, "schema reconcile failed");
    Action::requeue(Duration::from_secs(5))
}
