//! The model from the resources: every name mapped to Kafka's (under a connection's tenancy rule), every node's
//! health from its conditions, and the edges from what each resource names.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::model::{App, DlqNode, GroupNode, Health, SchemaInfo, Server, TopicNode, Topology};
use crate::api::conditions::{self, READY};
use crate::api::connection::Tenancy;
use crate::api::consumer_group::PartitionStatus;
use crate::api::dlq_policy::DEAD_LETTERS_WITHIN_LIMIT;
use crate::api::{ConnectionRef, ConsumerGroup, DlqPolicy, KafkaConnection, KafkaUser, Schema, Topic};
use crate::decisions::tenancy;

/// What the map is drawn from: the resources of the namespaces to draw, the connections they use, and the
/// operator's default connection (`namespace/name`) for resources without `connectionRef`.
#[derive(Clone, Copy, Default)]
pub struct Resources<'a> {
    pub connections: &'a [KafkaConnection],
    pub topics: &'a [Topic],
    pub groups: &'a [ConsumerGroup],
    pub dlqs: &'a [DlqPolicy],
    pub users: &'a [KafkaUser],
    pub schemas: &'a [Schema],
    pub default_connection: Option<&'a str>,
}

impl<'a> Resources<'a> {
    /// The tenancy rule of the connection a resource in `namespace` uses.
    fn tenancy(&self, reference: Option<&ConnectionRef>, namespace: &str) -> Option<&'a Tenancy> {
        let key = match reference {
            Some(r) => format!("{}/{}", r.namespace.as_deref().unwrap_or(namespace), r.name),
            None => self.default_connection?.to_string(),
        };
        let conn = self.connections.iter().find(|c| crate::api::full_name(*c) == key)?;
        conn.spec.tenancy.as_ref()
    }
}

fn ready(conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> Health {
    match conditions::find(conds, READY) {
        Some(c) if c.status == "True" => Health::Ok,
        Some(c) => Health::Bad(format!("NOT READY: {}", c.reason)),
        None => Health::Warn("NOT OBSERVED".into()),
    }
}

/// Builds the map.
pub fn build(r: Resources<'_>) -> Topology {
    let mut t = Topology::default();
    for conn in r.connections {
        t.servers.push(Server {
            key: crate::api::full_name(conn),
            bootstrap_servers: conn.spec.bootstrap_servers.clone(),
            tls: conn.spec.tls.is_some(),
            sasl_mechanism: conn.spec.sasl.as_ref().map(|s| s.mechanism.as_str().to_string()),
        });
    }
    for topic in r.topics {
        let ns = topic.namespace().unwrap_or_default();
        let status = topic.status.as_ref();
        let kafka_name = status.and_then(|s| s.topic_name.clone()).unwrap_or_else(|| {
            tenancy::kafka_name(r.tenancy(topic.spec.connection_ref.as_ref(), &ns), &ns, &topic.kafka_name())
        });
        let node = TopicNode {
            resource: Some(topic.name_any()),
            kafka_name: kafka_name.clone(),
            partitions: status.and_then(|s| s.partitions).or(Some(topic.spec.partitions)),
            replication_factor: status.and_then(|s| s.replication_factor).or(topic.spec.replication_factor),
            config: topic.spec.config.clone(),
            role: None,
            schemas: vec![],
            health: ready(status.map(|s| s.conditions.as_slice()).unwrap_or_default()),
        };
        t.namespaces.entry(ns).or_default().topics.insert(kafka_name, node);
    }
    for g in r.groups {
        let ns = g.namespace().unwrap_or_default();
        let rule = r.tenancy(g.spec.connection_ref.as_ref(), &ns);
        let status = g.status.as_ref();
        let conds = status.map(|s| s.conditions.as_slice()).unwrap_or_default();
        let burrow = status.and_then(|s| s.partitions.iter().map(|p| p.status).max_by_key(|p| severity(*p)));
        let health = if conditions::is_true(conds, "Stalled") {
            Health::Bad("STALLED".into())
        } else if conditions::find(conds, "LagWithinSLO").is_some_and(|c| c.status == "False") {
            Health::Warn("LAGGING".into())
        } else {
            ready(conds)
        };
        let node = GroupNode {
            name: g.name_any(),
            group_id: status
                .and_then(|s| s.group_id.clone())
                .unwrap_or_else(|| tenancy::kafka_name(rule, &ns, &g.group_id())),
            topics: g.spec.topics.iter().map(|t| tenancy::kafka_name(rule, &ns, t)).collect(),
            workload: g.spec.autoscaling.as_ref().map(|a| format!("{} {}", a.target_ref.kind, a.target_ref.name)),
            replicas: status.and_then(|s| s.current_replicas),
            state: status.and_then(|s| s.state.clone()),
            lag: status.and_then(|s| s.total_lag),
            lag_seconds: status.and_then(|s| s.max_lag_seconds),
            burrow: burrow.filter(|p| *p != PartitionStatus::Ok).map(|p| p.as_str().to_string()),
            health,
        };
        t.namespaces.entry(ns).or_default().groups.push(node);
    }
    for p in r.dlqs {
        let ns = p.namespace().unwrap_or_default();
        let status = p.status.as_ref();
        let conds = status.map(|s| s.conditions.as_slice()).unwrap_or_default();
        let depth = status.and_then(|s| s.depth);
        let health = match (conditions::find(conds, DEAD_LETTERS_WITHIN_LIMIT), depth) {
            (Some(c), _) if c.status == "False" => Health::Bad(format!("DLQ OVER LIMIT: {}", c.reason)),
            (_, Some(d)) if d > 0 => Health::Warn(format!("{d} DEAD LETTERS")),
            _ => ready(conds),
        };
        let node = DlqNode {
            name: p.name_any(),
            source_topic: p.spec.source_topic.clone(),
            consumer_group: p.spec.consumer_group.clone(),
            retry_topics: status.map(|s| s.retry_topics.clone()).unwrap_or_default(),
            dead_letter_topic: status.and_then(|s| s.dead_letter_topic.clone()),
            depth,
            health,
        };
        let space = t.namespaces.entry(ns).or_default();
        let total = node.retry_topics.len();
        for (i, retry) in node.retry_topics.iter().enumerate() {
            let role = format!("retry {} of {total} ({})", i + 1, node.name);
            space.topics.entry(retry.clone()).or_insert_with(|| unknown_topic(retry)).role = Some(role);
        }
        if let Some(dlt) = &node.dead_letter_topic {
            let topic = space.topics.entry(dlt.clone()).or_insert_with(|| unknown_topic(dlt));
            topic.role = Some(format!("dead letters ({})", node.name));
        }
        space.topics.entry(node.source_topic.clone()).or_insert_with(|| unknown_topic(&node.source_topic));
        space.dlqs.push(node);
    }
    for u in r.users {
        let ns = u.namespace().unwrap_or_default();
        let space = t.namespaces.entry(ns).or_default();
        let produces = u
            .spec
            .produces
            .iter()
            .map(|name| {
                let found = space.topics.values().find(|t| t.resource.as_deref() == Some(name.as_str()));
                found.map(|t| t.kafka_name.clone()).unwrap_or_else(|| name.clone())
            })
            .collect::<Vec<_>>();
        for name in &produces {
            space.topics.entry(name.clone()).or_insert_with(|| unknown_topic(name));
        }
        let status = u.status.as_ref();
        space.apps.push(App {
            name: u.name_any(),
            username: status.and_then(|s| s.username.clone()),
            produces,
            consumes: u.spec.consumes.clone(),
            health: ready(status.map(|s| s.conditions.as_slice()).unwrap_or_default()),
        });
    }
    for schema in r.schemas {
        attach_schema(&mut t, schema);
    }
    // Topics only a group reads: drawn, marked as not declared here.
    for space in t.namespaces.values_mut() {
        let read: Vec<String> = space.groups.iter().flat_map(|g| g.topics.clone()).collect();
        for name in read {
            space.topics.entry(name.clone()).or_insert_with(|| unknown_topic(&name));
        }
    }
    t
}

/// A topic named by a group, policy or application but not declared by a Topic resource of the namespace.
fn unknown_topic(name: &str) -> TopicNode {
    TopicNode {
        resource: None,
        kafka_name: name.to_string(),
        partitions: None,
        replication_factor: None,
        config: BTreeMap::new(),
        role: None,
        schemas: vec![],
        health: Health::Warn("NO TOPIC RESOURCE".into()),
    }
}

/// How bad a partition status is, for the worst of a group.
fn severity(s: PartitionStatus) -> u8 {
    match s {
        PartitionStatus::Ok => 0,
        PartitionStatus::Warn => 1,
        PartitionStatus::Rewind => 2,
        PartitionStatus::Stop => 3,
        PartitionStatus::Stall => 4,
    }
}

/// Puts a Schema on its topic: the Topic it references, or the topic its explicit subject names by Confluent's
/// TopicNameStrategy (`<topic>-value`, `<topic>-key`). A schema that is not Ready makes its topic need a look.
fn attach_schema(t: &mut Topology, schema: &Schema) {
    let ns = schema.namespace().unwrap_or_default();
    let Some(space) = t.namespaces.get_mut(&ns) else { return };
    let status = schema.status.as_ref();
    let (topic, part) = match (&schema.spec.topic_ref, &schema.spec.subject) {
        (Some(r), _) => {
            let found = space.topics.values().find(|t| t.resource.as_deref() == Some(r.name.as_str()));
            (found.map(|t| t.kafka_name.clone()), r.part.as_str().to_string())
        }
        (None, Some(subject)) => {
            let split = ["-value", "-key"].iter().find_map(|s| Some((subject.strip_suffix(s)?, &s[1..])));
            match split {
                Some((topic, part)) if space.topics.contains_key(topic) => (Some(topic.to_string()), part.to_string()),
                _ => (None, String::new()),
            }
        }
        (None, None) => (None, String::new()),
    };
    let Some(topic) = topic.and_then(|name| space.topics.get_mut(&name)) else { return };
    let health = ready(status.map(|s| s.conditions.as_slice()).unwrap_or_default());
    if let Health::Bad(word) | Health::Warn(word) = &health {
        let word = format!("SCHEMA {}: {}", part.to_uppercase(), word.trim_start_matches("NOT READY: "));
        topic.health = topic.health.clone().max(Health::Warn(word));
    }
    topic.schemas.push(SchemaInfo {
        name: schema.name_any(),
        part,
        subject: status.and_then(|s| s.subject.clone()).or_else(|| schema.spec.subject.clone()),
        version: status.and_then(|s| s.version),
        schema_type: schema.spec.schema_type.as_str().to_string(),
        text: schema.spec.schema.clone(),
        health,
    });
}
