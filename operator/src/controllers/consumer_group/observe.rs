//! One poll's view of the group in Kafka: its state and members, and every partition's offsets.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::decisions::lag::{PartitionOffsets, TopicPartition};
use crate::kafka::ffi::OffsetSpec;
use crate::kafka::{ClusterClient, KafkaError};

/// One poll's view of the group in Kafka.
pub struct Observed {
    pub state: Option<String>,
    pub members: i32,
    /// Per partition: log start, end (read-committed), committed.
    pub offsets: BTreeMap<TopicPartition, PartitionOffsets>,
    pub partitions_per_topic: BTreeMap<String, i32>,
}

pub async fn observe(
    client: &ClusterClient,
    group: &str,
    topics: &[String],
) -> Result<Result<Observed, String>, KafkaError> {
    let (committed, state) = tokio::try_join!(client.group_offsets(group), client.group_state(group))?;
    let committed: BTreeMap<TopicPartition, i64> = committed
        .into_iter()
        .filter(|o| o.offset >= 0)
        .map(|o| (TopicPartition { topic: o.topic, partition: o.partition }, o.offset))
        .collect();
    let topics: Vec<String> = if topics.is_empty() {
        committed.keys().map(|tp| tp.topic.clone()).collect::<BTreeSet<_>>().into_iter().collect()
    } else {
        topics.to_vec()
    };
    let mut partitions_per_topic = BTreeMap::new();
    let descriptions = futures::future::join_all(topics.iter().map(|t| client.describe_topic(t))).await;
    for (topic, desc) in topics.iter().zip(descriptions) {
        match desc? {
            Some(d) => {
                partitions_per_topic.insert(topic.clone(), d.partitions.len() as i32);
            }
            None => return Ok(Err(format!("topic {topic:?} in spec.topics does not exist"))),
        }
    }
    let all: Vec<(String, i32)> =
        partitions_per_topic.iter().flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p))).collect();
    let (ends, starts) = tokio::try_join!(
        client.list_offsets(all.clone(), OffsetSpec::Latest, true),
        client.list_offsets(all, OffsetSpec::Earliest, false)
    )?;
    let starts: HashMap<(String, i32), i64> = starts.into_iter().map(|o| ((o.topic, o.partition), o.offset)).collect();
    let mut offsets = BTreeMap::new();
    for e in ends {
        if e.error.is_some() {
            continue;
        }
        let log_start = starts.get(&(e.topic.clone(), e.partition)).copied().unwrap_or(0).max(0);
        let tp = TopicPartition { topic: e.topic, partition: e.partition };
        let c = committed.get(&tp).copied();
        offsets.insert(tp, PartitionOffsets { end: e.offset.max(0), committed: c, log_start });
    }
    let (state, members) = match state {
        Some((s, m)) => (Some(s), m),
        None => (None, 0),
    };
    Ok(Ok(Observed { state, members, offsets, partitions_per_topic }))
}
