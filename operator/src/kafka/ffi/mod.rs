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
//! - `types`: the plain values the calls take and return;
//! - `configs`, `offsets`, `describe`: the admin calls themselves.

#![allow(unsafe_code)]

mod configs;
mod describe;
mod offsets;
mod owned;
mod queue;
mod results;
#[cfg(test)]
mod testing;
mod types;

pub use self::configs::incremental_alter_topic_configs;
pub use self::describe::{describe_cluster, describe_groups, describe_topics};
pub use self::offsets::{alter_group_offsets, list_group_offsets, list_offsets};
pub use self::queue::poll_main_queue;
pub use self::results::kafka_uuid;
pub use self::types::{
    ClusterDescription, ConfigOp, GroupAnswer, GroupDescription, OffsetSpec, PartitionDescription, PartitionOffset,
    TopicAnswer, TopicDescription,
};
