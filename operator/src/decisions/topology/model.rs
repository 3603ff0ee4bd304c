//! The map's model: what each node is, holds and how healthy it is.

use std::collections::BTreeMap;

use serde::Serialize;

/// How healthy a node is, with the word that says so (never colour alone).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "level", content = "word", rename_all = "camelCase")]
pub enum Health {
    Ok,
    /// Works, but needs a look: `LAGGING`, `3 DEAD LETTERS`, `NOT OBSERVED`.
    Warn(String),
    /// Broken: `STALLED`, `NOT READY: Conflict`, `DLQ OVER LIMIT`.
    Bad(String),
}

impl Health {
    /// The word shown beside the node; empty when healthy.
    pub fn word(&self) -> &str {
        match self {
            Health::Ok => "",
            Health::Warn(w) | Health::Bad(w) => w,
        }
    }
}

/// A Kafka cluster the topology lives on: what a client needs to find it, nothing that lets it in.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// `namespace/name` of the KafkaConnection.
    pub key: String,
    pub bootstrap_servers: Vec<String>,
    pub tls: bool,
    /// `SCRAM-SHA-512`, ...; none without SASL.
    pub sasl_mechanism: Option<String>,
}

/// An application: a KafkaUser and what it declares.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub name: String,
    pub username: Option<String>,
    /// Kafka names of the topics it produces to.
    pub produces: Vec<String>,
    /// Names of the ConsumerGroup resources it consumes as.
    pub consumes: Vec<String>,
    pub health: Health,
}

/// A topic.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicNode {
    /// The Topic resource's name; none for a topic that only a group or policy names.
    pub resource: Option<String>,
    pub kafka_name: String,
    pub partitions: Option<i32>,
    pub replication_factor: Option<i32>,
    pub config: BTreeMap<String, String>,
    /// The role a DlqPolicy gives it: `retry 1 (5 s)`, `dead letters`.
    pub role: Option<String>,
    /// Its contracts: the Schemas of its key and value subjects.
    pub schemas: Vec<SchemaInfo>,
    pub health: Health,
}

/// A topic's contract: a `Schema` of its key or value subject.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaInfo {
    pub name: String,
    /// `value` or `key`.
    pub part: String,
    pub subject: Option<String>,
    pub version: Option<i32>,
    /// `AVRO`, `JSON` or `PROTOBUF`.
    pub schema_type: String,
    /// The schema's text when it is inline in the spec (not from a ConfigMap).
    pub text: Option<String>,
    pub health: Health,
}

/// A consumer group and the workload it scales.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupNode {
    pub name: String,
    pub group_id: String,
    /// Kafka names of the topics it reads.
    pub topics: Vec<String>,
    /// `Deployment billing-worker`.
    pub workload: Option<String>,
    pub replicas: Option<i32>,
    pub state: Option<String>,
    pub lag: Option<i64>,
    pub lag_seconds: Option<f64>,
    /// The worst Burrow status of its partitions (`Stalled`, `Stopped`, `Rewound`, `Warn`); none when all are OK.
    pub burrow: Option<String>,
    pub health: Health,
}

/// A dead-letter chain: source topic → retry topics → dead-letter topic.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqNode {
    pub name: String,
    pub source_topic: String,
    pub consumer_group: Option<String>,
    /// Kafka names, in order.
    pub retry_topics: Vec<String>,
    pub dead_letter_topic: Option<String>,
    pub depth: Option<i64>,
    pub health: Health,
}

/// One namespace's part of the map.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    pub apps: Vec<App>,
    /// By Kafka name.
    pub topics: BTreeMap<String, TopicNode>,
    pub groups: Vec<GroupNode>,
    pub dlqs: Vec<DlqNode>,
}

/// The map of some namespaces.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Topology {
    pub servers: Vec<Server>,
    pub namespaces: BTreeMap<String, Namespace>,
}

impl Topology {
    /// Every node's label, for a check that a rendering names them all.
    pub fn node_names(&self) -> Vec<String> {
        let mut names = vec![];
        for ns in self.namespaces.values() {
            names.extend(ns.apps.iter().map(|a| a.name.clone()));
            names.extend(ns.topics.keys().cloned());
            names.extend(ns.groups.iter().map(|g| g.name.clone()));
        }
        names
    }
}

/// A node id safe in DOT and Mermaid: letters, digits and `_`, one-to-one with `kind` and `key` (each other
/// character becomes `_xx_` with its hex code).
pub(crate) fn node_id(kind: &str, namespace: &str, key: &str) -> String {
    let mut id = format!("{kind}_");
    for c in namespace.chars().chain(std::iter::once('/')).chain(key.chars()) {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else {
            id.push_str(&format!("_{:x}_", c as u32));
        }
    }
    id
}

/// A figure for a label: `1.2k`, `3.4M`.
pub(crate) fn count(n: i64) -> String {
    match n.abs() {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// Seconds for a label: `42 s`, `3.5 min`, `2.0 h`.
pub(crate) fn seconds(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}
