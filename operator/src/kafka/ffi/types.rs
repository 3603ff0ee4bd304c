//! The plain Rust values the FFI calls take and return: nothing in them points into librdkafka.

use crate::kafka::error::KafkaError;

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
