//! Reading the timestamps of the oldest dead letters not yet redriven, for the monitor.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::clients::{consumer_config, rd};
use crate::kafka::KafkaError;
use crate::kafka::settings::ClientSettings;

/// Reads the timestamps of the first records at given offsets of a topic (the oldest dead letters not yet
/// redriven). One consumer per policy, reused; no group, nothing committed.
pub struct Peeker {
    consumer: BaseConsumer,
    pub fingerprint: u64,
}

impl Peeker {
    pub fn new(settings: &ClientSettings) -> Result<Peeker, KafkaError> {
        let mut c = consumer_config(settings);
        // librdkafka wants a group id to assign partitions; this one never joins nor commits.
        c.set("client.id", "tributary-dlq-monitor")
            .set("group.id", "tributary-dlq-monitor")
            .set("max.partition.fetch.bytes", "65536");
        Ok(Peeker { consumer: c.create().map_err(rd)?, fingerprint: settings.fingerprint() })
    }

    /// For each `(partition, offset)`: the offset and timestamp (ms) of the first record at or after `offset`, or
    /// `None` when none arrives within `timeout` (only transaction markers left, or the broker is slow).
    pub fn first_records(
        &self,
        topic: &str,
        heads: &[(i32, i64)],
        timeout: Duration,
    ) -> Result<BTreeMap<i32, Option<(i64, i64)>>, KafkaError> {
        let mut out: BTreeMap<i32, Option<(i64, i64)>> = heads.iter().map(|(p, _)| (*p, None)).collect();
        if heads.is_empty() {
            return Ok(out);
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in heads {
            tpl.add_partition_offset(topic, *p, Offset::Offset(*o)).map_err(rd)?;
        }
        self.consumer.assign(&tpl).map_err(rd)?;
        let wanted: HashMap<i32, i64> = heads.iter().copied().collect();
        let mut pending: BTreeSet<i32> = wanted.keys().copied().collect();
        let deadline = Instant::now() + timeout;
        while !pending.is_empty() && Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let p = m.partition();
                    if pending.contains(&p) && m.offset() >= wanted[&p] {
                        let ts = m.timestamp().to_millis().unwrap_or(0);
                        out.insert(p, Some((m.offset(), ts)));
                        pending.remove(&p);
                    }
                }
                Some(Err(RdError::PartitionEOF(p))) => {
                    pending.remove(&p);
                }
                _ => {}
            }
        }
        self.consumer.assign(&TopicPartitionList::new()).map_err(rd)?;
        Ok(out)
    }
}
