//! Safe wrappers over librdkafka admin calls that rdkafka's `AdminClient` does not expose:
//! IncrementalAlterConfigs, DescribeTopics, DescribeCluster, ListOffsets, ListConsumerGroupOffsets,
//! DescribeConsumerGroups, AlterConsumerGroupOffsets, and the client's main queue (logs and client-level errors).
//!
//! Each call runs on a blocking thread: it creates its own result queue, issues the request, waits for the one
//! result event and copies everything out into owned Rust values before freeing the native objects.
//!
//! This is the only module of the crate with `unsafe` (the crate denies `unsafe_code` everywhere else), and every
//! block says why it is sound. Its parts, one job each:
//! - `owned`: the one owner of each native object the module allocates, and the ownership rules;
//! - `queue`: one request's round trip on a private queue, and the client's main queue;
//! - `results`: copying answers out of librdkafka's structs;
//! - `configs`, `offsets`, `describe`: the admin calls themselves.

#![allow(unsafe_code)]

mod configs;
mod describe;
mod offsets;
mod owned;
mod queue;
mod results;

use super::{Admin, KafkaError};

pub use self::configs::incremental_alter_topic_configs;
pub use self::describe::{describe_cluster, describe_groups, describe_topics};
pub use self::offsets::{alter_group_offsets, list_group_offsets, list_offsets};
pub use self::queue::poll_main_queue;
pub use self::results::kafka_uuid;

/// One incremental config operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigOp {
    Set(String, String),
    Delete(String),
}

/// Which offset ListOffsets should return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    /// The first offset whose timestamp is at or after this time (ms since the epoch).
    Timestamp(i64),
}

/// A per-partition offset answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    /// -1 when the partition has none (e.g. no committed offset, or no record at/after a timestamp).
    pub offset: i64,
    pub error: Option<String>,
}

/// What DescribeCluster reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterDescription {
    pub cluster_id: String,
    pub controller: Option<i32>,
    pub brokers: Vec<i32>,
}

/// One partition of a described topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionDescription {
    pub partition: i32,
    pub leader: Option<i32>,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// A described topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub topic_id: String,
    pub partitions: Vec<PartitionDescription>,
}

/// One topic's answer to DescribeTopics: `Ok(None)` when it does not exist.
pub type TopicAnswer = Result<Option<TopicDescription>, KafkaError>;

/// A described consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// librdkafka's state name: "Stable", "Empty", "PreparingRebalance", "CompletingRebalance" or "Unknown".
    pub state: String,
    pub members: i32,
}

/// One group's answer to DescribeConsumerGroups: `Ok(None)` when Kafka does not know the group.
pub type GroupAnswer = Result<Option<GroupDescription>, KafkaError>;

/// A client-level notice from librdkafka's main queue.
#[derive(Clone, Debug)]
pub enum ClientNotice {
    /// A log line (syslog level: 3 is error, 4 warning, ...).
    Log { level: i32, facility: String, message: String },
    /// A client-level error, e.g. all brokers down or an authentication failure.
    Error { error: KafkaError },
}

/// An admin client for tests, pointed at a port nobody listens on: no broker is needed for requests that fail
/// before reaching one.
#[cfg(test)]
fn offline_admin() -> Admin {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:9")
        .create_with_context(super::TributaryContext::default())
        .expect("an admin client needs no broker to be created")
}
