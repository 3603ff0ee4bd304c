//! kube-runtime controllers: they glue the API types, the pure decisions and the Kafka layer together.
//!
//! Every reconcile has one shape: read the object and what it references → validate (pure) → observe Kafka →
//! plan (pure) → act → write status (only when it changed) with server-side apply.

pub mod connection;
pub mod consumer_group;
pub mod dlq_policy;
pub mod status;
pub mod topic;
pub mod topic_index;

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};

use crate::api::{ConnectionRef, KafkaConnection, conditions};
use crate::kafka::{Clients, ClusterClient};
use crate::runtime::config::OperatorConfig;
use crate::runtime::metrics::Metrics;

/// Starts every controller and runs them until `shutdown` turns true.
pub async fn run_all(
    client: Client,
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    health: crate::runtime::http::Health,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    use futures::{StreamExt, TryStreamExt};
    use kube::Api;
    use kube::runtime::{Controller, WatchStreamExt, controller, reflector, watcher};

    use crate::api::Topic;

    let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let connections_api: Api<KafkaConnection> = watched(&client, &config);
    let topics_api: Api<Topic> = watched(&client, &config);

    let connection_controller = Controller::new(connections_api.clone(), watcher::Config::default());
    let connections = connection_controller.store();

    let (index, handovers) = topic_index::TopicIndex::new(config.clone());
    let (topic_reader, topic_writer) = reflector::store();
    let index_for_stream = index.clone();
    let topic_stream = watcher(topics_api, watcher::Config::default())
        .default_backoff()
        .modify(slim::<Topic>)
        .reflect(topic_writer)
        .inspect_ok(move |ev| match ev {
            watcher::Event::Apply(t) | watcher::Event::InitApply(t) => index_for_stream.upsert(t),
            watcher::Event::Delete(t) => index_for_stream.remove(t),
            _ => {}
        })
        .applied_objects()
        .predicate_filter(spec_or_control_changed::<Topic>, Default::default());

    let ctx = Arc::new(Context::new(client.clone(), config, metrics, connections, index));
    let mut handovers = handovers;
    let handover_stream = futures::stream::poll_fn(move |cx| handovers.poll_recv(cx));
    let topics_for_mapper = topic_reader.clone();
    let topic_controller = Controller::for_stream(topic_stream, topic_reader)
        .with_config(controller::Config::default().concurrency(256))
        .reconcile_on(handover_stream)
        .watches(connections_api, watcher::Config::default(), move |conn: KafkaConnection| {
            let key = full_name(&conn);
            topics_for_mapper
                .state()
                .into_iter()
                .filter(|t| {
                    let ns = t.namespace().unwrap_or_default();
                    t.spec
                        .connection_ref
                        .as_ref()
                        .map(|r| format!("{}/{}", r.namespace.as_deref().unwrap_or(&ns), r.name))
                        == Some(key.clone())
                        || t.spec.connection_ref.is_none()
                })
                .map(|t| reflector::ObjectRef::from_obj(t.as_ref()))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(stop(shutdown.clone()))
        .run(topic::reconcile, topic::error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));
    let groups_api: Api<crate::api::ConsumerGroup> = watched(&client, &ctx.config);
    let (group_reader, group_writer) = reflector::store();
    let group_stream = watcher(groups_api, watcher::Config::default())
        .default_backoff()
        .modify(slim::<crate::api::ConsumerGroup>)
        .reflect(group_writer)
        .inspect_ok({
            // Deleted groups are forgotten (memory and metric series) as the watch reports them.
            let (ctx, store) = (ctx.clone(), group_reader.clone());
            move |ev| consumer_group::on_watch_event(&ctx, &store, ev)
        })
        .applied_objects()
        .predicate_filter(spec_or_control_changed::<crate::api::ConsumerGroup>, Default::default());
    let group_controller = Controller::for_stream(group_stream, group_reader)
        .with_config(controller::Config::default().concurrency(64))
        .graceful_shutdown_on(stop(shutdown.clone()))
        .run(consumer_group::reconcile, consumer_group::error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));
    let connection_controller = connection_controller
        .graceful_shutdown_on(stop(shutdown.clone()))
        .run(connection::reconcile, connection::error_policy, ctx.clone())
        .for_each(|_| futures::future::ready(()));
    health.set_ready(true);
    let dlq_controller = dlq_policy::run(ctx.clone(), shutdown.clone());
    tokio::join!(connection_controller, topic_controller, group_controller, dlq_controller);
}

/// Drops what the controllers never read from cached objects: `managedFields` (often larger than the object) and
/// kubectl's last-applied copy of the whole manifest. At 10,000 Topics this is about a third of the operator's memory.
fn slim<K: kube::Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
    if let Some(a) = obj.meta_mut().annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// The Api a controller watches: every namespace, or the one named by `--namespace`.
pub fn watched<K>(client: &Client, config: &OperatorConfig) -> kube::Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match &config.namespace {
        Some(ns) => kube::Api::namespaced(client.clone(), ns),
        None => kube::Api::all(client.clone()),
    }
}

/// Reconcile when the spec, finalizers, control annotations or deletion change; status writes do not count.
fn spec_or_control_changed<K: kube::Resource>(t: &K) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let m = t.meta();
    m.generation.hash(&mut h);
    m.deletion_timestamp.as_ref().map(|d| d.0.as_second()).hash(&mut h);
    // The finalizer helper adds ours and then waits for that change to come back.
    m.finalizers.hash(&mut h);
    for key in [crate::api::PAUSED_ANNOTATION, crate::api::FORCE_DELETE_ANNOTATION] {
        m.annotations.as_ref().and_then(|a| a.get(key)).hash(&mut h);
    }
    Some(h.finish())
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub clients: Clients,
    pub metrics: Arc<Metrics>,
    pub events: crate::runtime::events::EventPublisher,
    pub config: OperatorConfig,
    pub connections: Store<KafkaConnection>,
    pub topic_index: topic_index::TopicIndex,
    pub groups: consumer_group::GroupMemories,
}

impl Context {
    pub fn new(
        client: Client,
        config: OperatorConfig,
        metrics: Arc<Metrics>,
        connections: Store<KafkaConnection>,
        topic_index: topic_index::TopicIndex,
    ) -> Context {
        Context {
            events: crate::runtime::events::EventPublisher::new(
                client.clone(),
                "tributary",
                std::env::var("POD_NAME").ok(),
            ),
            clients: Clients::new(metrics.clone()),
            client,
            metrics,
            config,
            connections,
            topic_index,
            groups: Default::default(),
        }
    }

    /// Publishes an Event about `obj`; failures to publish are logged, never fatal.
    pub async fn event<K>(&self, obj: &K, warning: bool, reason: &str, action: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let ev = crate::runtime::events::EventSpec { warning, reason, action, note };
        let reference: ObjectReference = obj.object_ref(&());
        if let Err(e) = self.events.publish(ev, &reference).await {
            tracing::warn!(error = %e, reason, "could not publish an Event");
        }
    }
}

/// Why a resource cannot use its connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionProblem {
    pub reason: &'static str,
    pub message: String,
    /// The connection is fine and this process is still connecting (right after a start or a leader change): worth
    /// a quick retry, not the usual wait.
    pub connecting: bool,
}

impl ConnectionProblem {
    /// When to look again.
    pub fn retry_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs(if self.connecting { 1 } else { 10 })
    }
}

/// `namespace/name` of the connection a resource in `namespace` uses.
pub fn connection_key(reference: Option<&ConnectionRef>, namespace: &str, config: &OperatorConfig) -> Option<String> {
    match reference {
        Some(r) => Some(format!("{}/{}", r.namespace.as_deref().unwrap_or(namespace), r.name)),
        None => config
            .default_connection
            .as_ref()
            .map(|d| format!("{}/{}", d.namespace.as_deref().unwrap_or(namespace), d.name)),
    }
}

/// Finds the connection a resource uses and its shared client, or says why it cannot be used.
pub fn resolve_connection(
    ctx: &Context,
    reference: Option<&ConnectionRef>,
    namespace: &str,
) -> Result<(Arc<KafkaConnection>, Arc<ClusterClient>), ConnectionProblem> {
    let Some(key) = connection_key(reference, namespace, &ctx.config) else {
        return Err(ConnectionProblem {
            reason: "NoConnection",
            message: "spec.connectionRef is not set and the operator has no default connection".into(),
            connecting: false,
        });
    };
    let (conn_ns, conn_name) = key.split_once('/').unwrap_or(("", &key));
    let obj_ref = kube::runtime::reflector::ObjectRef::new(conn_name).within(conn_ns);
    let Some(conn) = ctx.connections.get(&obj_ref) else {
        return Err(ConnectionProblem {
            reason: "ConnectionNotFound",
            message: format!("KafkaConnection {key} does not exist"),
            connecting: false,
        });
    };
    if !conn.allows_namespace(namespace) {
        return Err(ConnectionProblem {
            reason: "ConnectionNotAllowed",
            message: format!(
                "KafkaConnection {key} does not allow namespace {namespace:?}: add it to the connection's spec.allowedNamespaces"
            ),
            connecting: false,
        });
    }
    let ready = conn.status.as_ref().and_then(|s| conditions::find(&s.conditions, conditions::READY));
    match (ready, ctx.clients.get(&key)) {
        (Some(c), Some(client)) if c.status == "True" => Ok((conn, client)),
        (Some(c), _) if c.status == "False" => Err(ConnectionProblem {
            reason: "ConnectionNotReady",
            message: format!("KafkaConnection {key} is not ready ({}): {}", c.reason, c.message),
            connecting: false,
        }),
        _ => Err(ConnectionProblem {
            reason: "ConnectionNotReady",
            message: format!("waiting for KafkaConnection {key} to connect"),
            connecting: true,
        }),
    }
}

/// The name a resource is known by in logs and messages.
pub fn full_name<K: ResourceExt>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}
