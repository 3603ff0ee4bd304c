//! What every reconcile shares: the Kubernetes and Kafka clients, metrics, Events, configuration, the caches of
//! connections and topics, and how a resource finds its connection.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::reflector::Store;
use kube::{Client, Resource};

use super::group_memory::GroupMemories;
use super::topic_index::TopicIndex;
use crate::api::{ConnectionRef, KafkaConnection, conditions};
use crate::decisions::problem::Problem;
use crate::kafka::{Clients, ClusterClient};
use crate::runtime::config::OperatorConfig;
use crate::runtime::events::{EventPublisher, EventSpec};
use crate::runtime::metrics::Metrics;

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub clients: Clients,
    pub metrics: Arc<Metrics>,
    pub events: EventPublisher,
    pub config: OperatorConfig,
    pub connections: Store<KafkaConnection>,
    pub topic_index: TopicIndex,
    pub groups: GroupMemories,
}

impl Context {
    pub fn new(
        client: Client,
        config: OperatorConfig,
        metrics: Arc<Metrics>,
        connections: Store<KafkaConnection>,
        topic_index: TopicIndex,
    ) -> Context {
        Context {
            events: EventPublisher::new(client.clone(), "tributary", std::env::var("POD_NAME").ok()),
            clients: Clients::new(metrics.clone(), config.lag_tick),
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
        let ev = EventSpec { warning, reason, action, note };
        let reference: ObjectReference = obj.object_ref(&());
        if let Err(e) = self.events.publish(ev, &reference).await {
            tracing::warn!(error = %e, reason, "could not publish an Event");
        }
    }
}

/// Confirms, with a read from the apiserver just before a write to Kafka, that the spec this reconcile acts on is
/// still the object's spec (same uid and generation, not being deleted). A reconcile runs on the watch's cached copy,
/// which goes stale while the apiserver is unreachable (or this replica is cut off from it): Kafka is written only
/// from a spec the apiserver confirms, never from a view a later spec contradicts.
pub async fn confirm_spec<K>(client: &Client, obj: &K) -> Result<(), Problem>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    use kube::ResourceExt as _;
    let api: kube::Api<K> = kube::Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default());
    let current = api.get(&obj.name_any()).await.map_err(|e| {
        Problem::new(
            "ApiServerUnreachable",
            format!("not writing to Kafka: the spec could not be confirmed with the Kubernetes API server ({e})"),
        )
    })?;
    let (seen, now) = (obj.meta(), current.meta());
    if seen.uid != now.uid || seen.generation != now.generation || now.deletion_timestamp.is_some() {
        return Err(Problem::transient(
            "SpecChanged",
            format!(
                "not writing to Kafka: the spec changed since this reconcile began (generation {:?} → {:?}); acting on the new one",
                seen.generation, now.generation
            ),
        ));
    }
    Ok(())
}

/// A resource's connection (`spec.connectionRef`, or the operator's default) that does not exist.
pub fn connection_not_found(key: &str) -> Problem {
    Problem::new("ConnectionNotFound", format!("spec.connectionRef: KafkaConnection {key} does not exist"))
}

/// A resource's connection that does not let the resource's namespace use it.
pub fn connection_not_allowed(key: &str, namespace: &str) -> Problem {
    Problem::new(
        "ConnectionNotAllowed",
        format!(
            "spec.connectionRef: KafkaConnection {key} does not allow namespace {namespace:?}: add it to the connection's spec.allowedNamespaces"
        ),
    )
}

/// Finds the connection a resource uses and its shared client, or says why it cannot be used.
pub fn resolve_connection(
    ctx: &Context,
    reference: Option<&ConnectionRef>,
    namespace: &str,
) -> Result<(Arc<KafkaConnection>, Arc<ClusterClient>), Problem> {
    let Some(key) = ctx.config.connection_key(reference, namespace) else {
        return Err(Problem::new(
            "NoConnection",
            "spec.connectionRef is not set and the operator has no default connection",
        ));
    };
    let (conn_ns, conn_name) = key.split_once('/').unwrap_or(("", &key));
    let obj_ref = kube::runtime::reflector::ObjectRef::new(conn_name).within(conn_ns);
    let Some(conn) = ctx.connections.get(&obj_ref) else {
        return Err(connection_not_found(&key));
    };
    if !conn.allows_namespace(namespace) {
        return Err(connection_not_allowed(&key, namespace));
    }
    let ready = conn.status.as_ref().and_then(|s| conditions::find(&s.conditions, conditions::READY));
    match (ready, ctx.clients.get(&key)) {
        (Some(c), Some(client)) if c.status == "True" => Ok((conn, client)),
        (Some(c), _) if c.status == "False" => Err(Problem::new(
            "ConnectionNotReady",
            format!("KafkaConnection {key} is not ready ({}): {}", c.reason, c.message),
        )),
        _ => Err(Problem::transient("ConnectionNotReady", format!("waiting for KafkaConnection {key} to connect"))),
    }
}
