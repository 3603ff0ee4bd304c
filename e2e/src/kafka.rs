//! Kafka helpers for tests: an independent client (rdkafka used directly, not through the operator).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::Stack;

pub type Admin = AdminClient<DefaultClientContext>;

impl Stack {
    pub fn admin(&self) -> Admin {
        self.kafka_config().create().expect("an admin client")
    }

    pub fn producer(&self) -> FutureProducer {
        self.kafka_config().set("linger.ms", "5").create().expect("a producer")
    }
}

/// Creates a topic directly in Kafka.
pub async fn create_topic(
    admin: &Admin,
    name: &str,
    partitions: i32,
    rf: i32,
    config: &[(&str, &str)],
) -> anyhow::Result<()> {
    let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
    for (k, v) in config {
        t = t.set(k, v);
    }
    let res = admin.create_topics([&t], &AdminOptions::new()).await?;
    for r in res {
        r.map_err(|(n, e)| anyhow::anyhow!("creating {n}: {e}"))?;
    }
    Ok(())
}

/// What Kafka says of a topic: partition count, replication factor of partition 0, and config entries that are
/// topic-level overrides.
#[derive(Debug, Clone)]
pub struct TopicFacts {
    pub partitions: usize,
    pub replication_factor: usize,
    pub overrides: HashMap<String, String>,
}

/// Describes a topic, or `None` when it does not exist.
pub async fn describe_topic(stack: &Stack, admin: &Admin, name: &str) -> anyhow::Result<Option<TopicFacts>> {
    let consumer: BaseConsumer = stack.kafka_config().create()?;
    let md = consumer.fetch_metadata(Some(name), Duration::from_secs(10))?;
    let Some(t) = md.topics().iter().find(|t| t.name() == name) else { return Ok(None) };
    if t.error().is_some() || t.partitions().is_empty() {
        return Ok(None);
    }
    let configs = admin.describe_configs([&ResourceSpecifier::Topic(name)], &AdminOptions::new()).await?;
    let mut overrides = HashMap::new();
    for c in configs {
        let c = c.map_err(|e| anyhow::anyhow!("describe configs of {name}: {e}"))?;
        for e in c.entries {
            if e.source == rdkafka::admin::ConfigSource::DynamicTopic
                && let Some(v) = e.value
            {
                overrides.insert(e.name, v);
            }
        }
    }
    Ok(Some(TopicFacts {
        partitions: t.partitions().len(),
        replication_factor: t.partitions()[0].replicas().len(),
        overrides,
    }))
}

/// Per `(topic, partition)`: the end offset and the committed offset (none before the first commit).
pub type GroupOffsets = HashMap<(String, i32), (i64, Option<i64>)>;

/// A group's offsets as Kafka's own `ConsumerGroupCommand --describe` prints them.
pub fn group_offsets_cli(stack: &Stack, group: &str) -> anyhow::Result<GroupOffsets> {
    let out = stack.kafka_cli(
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        &["--bootstrap-server", &stack.bootstrap, "--describe", "--group", group],
    )?;
    let mut rows = HashMap::new();
    for line in out.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
        if cols.len() >= 6 && cols[0] == group {
            let (Ok(p), Ok(end)) = (cols[2].parse::<i32>(), cols[4].parse::<i64>()) else { continue };
            rows.insert((cols[1].to_string(), p), (end, cols[3].parse::<i64>().ok()));
        }
    }
    Ok(rows)
}

/// Members of the consumer group `group`, as Kafka lists them now.
pub fn group_members(stack: &Stack, group: &str) -> anyhow::Result<usize> {
    let listed = stack.admin().inner().fetch_group_list(Some(group), Duration::from_secs(5))?;
    Ok(listed.groups().iter().map(|g| g.members().len()).sum())
}

/// Produces `count` records with keys `k{i}` and values `{prefix}-{i}`; waits for every acknowledgement.
pub async fn produce(producer: &FutureProducer, topic: &str, prefix: &str, count: usize) -> anyhow::Result<()> {
    let mut futures = Vec::with_capacity(count);
    for i in 0..count {
        let key = format!("k{i}");
        let value = format!("{prefix}-{i}");
        futures.push(producer.send_result(FutureRecord::to(topic).key(&key).payload(&value)).map_err(|(e, _)| e)?);
    }
    for f in futures {
        f.await.context("delivery future dropped")?.map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// A consumed record, reduced to what tests compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: Vec<(String, String)>,
}

/// Reads every record of `topic` from the start until `count` have arrived or `timeout` passes.
pub fn consume_all(
    stack: &Stack,
    topic: &str,
    count: usize,
    timeout: Duration,
    read_committed: bool,
) -> anyhow::Result<Vec<Record>> {
    let group = crate::unique("e2e-reader");
    let consumer: BaseConsumer = stack
        .kafka_config()
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", if read_committed { "read_committed" } else { "read_uncommitted" })
        .create()?;
    consumer.subscribe(&[topic])?;
    let deadline = std::time::Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < count {
        if std::time::Instant::now() >= deadline {
            bail!("read {} of {count} records from {topic} before the time-out", out.len());
        }
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m?;
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned()))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Record {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                value: m.payload().map(|v| String::from_utf8_lossy(v).into_owned()),
                headers,
            });
        }
    }
    Ok(out)
}
