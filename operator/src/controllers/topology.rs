//! The map's view of the cluster: for the operator, caches of the six kinds kept by their own watches (so the map
//! is served whether or not this replica leads, and drawing it never asks the apiserver or Kafka anything); for
//! the command line, one list of each kind.

use futures::StreamExt as _;
use kube::api::ListParams;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch::Receiver;

use super::watch;
use crate::api::{ConsumerGroup, DlqPolicy, KafkaConnection, KafkaUser, Schema, Topic};
use crate::decisions::topology::{Resources, Topology, build};
use crate::runtime::config::OperatorConfig;

/// The caches the map is drawn from.
#[derive(Clone)]
pub struct TopologyView {
    connections: Store<KafkaConnection>,
    topics: Store<Topic>,
    groups: Store<ConsumerGroup>,
    dlqs: Store<DlqPolicy>,
    users: Store<KafkaUser>,
    schemas: Store<Schema>,
    default_connection: Option<String>,
}

/// What fills the caches; [`run`] drives it.
pub struct TopologyWriters {
    connections: reflector::store::Writer<KafkaConnection>,
    topics: reflector::store::Writer<Topic>,
    groups: reflector::store::Writer<ConsumerGroup>,
    dlqs: reflector::store::Writer<DlqPolicy>,
    users: reflector::store::Writer<KafkaUser>,
    schemas: reflector::store::Writer<Schema>,
}

impl TopologyView {
    /// Empty caches (the map is empty until [`run`] has listed each kind once).
    pub fn new(config: &OperatorConfig) -> (TopologyView, TopologyWriters) {
        let (connections, w1) = reflector::store();
        let (topics, w2) = reflector::store();
        let (groups, w3) = reflector::store();
        let (dlqs, w4) = reflector::store();
        let (users, w5) = reflector::store();
        let (schemas, w6) = reflector::store();
        let default_connection = config.connection_key(None, "");
        let view = TopologyView { connections, topics, groups, dlqs, users, schemas, default_connection };
        (view, TopologyWriters { connections: w1, topics: w2, groups: w3, dlqs: w4, users: w5, schemas: w6 })
    }

    /// The map as the caches have it now.
    pub fn snapshot(&self) -> Topology {
        fn all<K: Resource + Clone>(store: &Store<K>) -> Vec<K>
        where
            K::DynamicType: std::hash::Hash + Eq + Clone,
        {
            store.state().iter().map(|o| o.as_ref().clone()).collect()
        }
        let (connections, topics, groups, dlqs, users) =
            (all(&self.connections), all(&self.topics), all(&self.groups), all(&self.dlqs), all(&self.users));
        let schemas = all(&self.schemas);
        build(Resources {
            connections: &connections,
            topics: &topics,
            groups: &groups,
            dlqs: &dlqs,
            users: &users,
            schemas: &schemas,
            default_connection: self.default_connection.as_deref(),
        })
    }
}

/// Keeps the caches filled until `shutdown`.
pub async fn run(writers: TopologyWriters, client: Client, config: OperatorConfig, shutdown: Receiver<bool>) {
    let TopologyWriters { connections, topics, groups, dlqs, users, schemas } = writers;
    tokio::select! {
        () = fill(watch::watched::<KafkaConnection>(&client, &config), connections) => {},
        () = fill(watch::watched::<Topic>(&client, &config), topics) => {},
        () = fill(watch::watched::<ConsumerGroup>(&client, &config), groups) => {},
        () = fill(watch::watched::<DlqPolicy>(&client, &config), dlqs) => {},
        () = fill(watch::watched::<KafkaUser>(&client, &config), users) => {},
        () = fill(watch::watched::<Schema>(&client, &config), schemas) => {},
        () = watch::stopped(shutdown) => {},
    }
}

async fn fill<K>(api: Api<K>, writer: reflector::store::Writer<K>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(watch::slim::<K>)
        .reflect(writer)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// The map of `namespaces` (every namespace when empty) as the apiserver lists it now: what the command line
/// draws. Connections are listed in every namespace when allowed, else in the given ones.
pub async fn list(
    client: &Client,
    namespaces: &[String],
    default_connection: Option<&str>,
) -> anyhow::Result<Topology> {
    async fn of<K>(client: &Client, namespaces: &[String]) -> anyhow::Result<Vec<K>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        if namespaces.is_empty() {
            return Ok(Api::<K>::all(client.clone()).list(&ListParams::default()).await?.items);
        }
        let mut out = vec![];
        for ns in namespaces {
            out.extend(Api::<K>::namespaced(client.clone(), ns).list(&ListParams::default()).await?.items);
        }
        Ok(out)
    }
    let connections = match of::<KafkaConnection>(client, &[]).await {
        Ok(all) => all,
        Err(_) => of::<KafkaConnection>(client, namespaces).await?,
    };
    let (topics, groups, dlqs, users) = (
        of::<Topic>(client, namespaces).await?,
        of::<ConsumerGroup>(client, namespaces).await?,
        of::<DlqPolicy>(client, namespaces).await?,
        of::<KafkaUser>(client, namespaces).await?,
    );
    let schemas = of::<Schema>(client, namespaces).await?;
    let mut topology = build(Resources {
        connections: &connections,
        topics: &topics,
        groups: &groups,
        dlqs: &dlqs,
        users: &users,
        schemas: &schemas,
        default_connection,
    });
    // Servers of the connections the drawn resources use, not every connection of the cluster.
    if !namespaces.is_empty() {
        topology.servers.retain(|s| {
            let ns = s.key.split('/').next().unwrap_or_default();
            namespaces.iter().any(|n| n == ns)
                || connections
                    .iter()
                    .any(|c| crate::api::full_name(c) == s.key && namespaces.iter().any(|n| c.allows_namespace(n)))
        });
    }
    Ok(topology)
}
