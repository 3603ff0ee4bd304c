//! Kafka helpers for tests: an independent client (rdkafka used directly, not through the operator).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message, ToBytes};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::Stack;

pub type Admin = AdminClient<DefaultClientContext>;

impl Stack {
    pub fn admin(&self) -> Admin {
        self.kafka_config().create().expect("an admin client")
    }

    pub fn producer(&self) -> FutureProducer {
        self.kafka_config().set("linger.ms", "5").create().expect("a producer")
    }

    /// A producer for many records: large batches and a deep queue.
    pub fn bulk_producer(&self) -> FutureProducer {
        self.kafka_config()
            .set("linger.ms", "20")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "1000000")
            .create()
            .expect("a producer")
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

/// Creates `names` directly in Kafka, `per_request` of them per CreateTopics request, one request after the other
/// (replication -1: the brokers' default); returns how many requests it took.
pub async fn create_topics(
    admin: &Admin,
    names: &[String],
    partitions: i32,
    replication: i32,
    per_request: usize,
) -> anyhow::Result<usize> {
    let opts = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(60)))
        .request_timeout(Some(Duration::from_secs(60)));
    let mut requests = 0;
    for chunk in names.chunks(per_request) {
        let topics: Vec<NewTopic<'_>> =
            chunk.iter().map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(replication))).collect();
        requests += 1;
        for r in admin.create_topics(topics.iter(), &opts).await? {
            r.map_err(|(n, e)| anyhow::anyhow!("creating {n}: {e}"))?;
        }
    }
    Ok(requests)
}

/// Sets topic-level overrides of `topic` behind the operator's back, replacing all of them (the legacy full-replace
/// AlterConfigs).
pub async fn set_topic_config(admin: &Admin, topic: &str, entries: &[(&str, &str)]) -> anyhow::Result<()> {
    let mut ac = AlterConfig::new(ResourceSpecifier::Topic(topic));
    for (k, v) in entries {
        ac = ac.set(k, v);
    }
    for r in admin.alter_configs([&ac], &AdminOptions::new()).await? {
        r.map_err(|(_, e)| anyhow::anyhow!("altering the config of {topic}: {e}"))?;
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

/// Commits `(topic, partition, offset)`s for `group` as a consumer that read that far and then left.
pub fn commit_offsets(stack: &Stack, group: &str, offsets: &[(&str, i32, i64)]) -> anyhow::Result<()> {
    let c: BaseConsumer = stack.kafka_config().set("group.id", group).create()?;
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, offset) in offsets {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
    }
    c.commit(&tpl, CommitMode::Sync)?;
    Ok(())
}

/// Deletes consumer groups (they must be empty); groups already gone are fine. Returns how many were deleted.
pub async fn delete_groups(admin: &Admin, groups: &[String]) -> anyhow::Result<usize> {
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    let mut deleted = 0;
    for chunk in groups.chunks(100) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for r in admin.delete_groups(&refs, &opts).await? {
            match r {
                Ok(_) => deleted += 1,
                Err((_, RDKafkaErrorCode::GroupIdNotFound)) => {}
                Err((g, code)) => eprintln!("  could not delete group {g}: {code}"),
            }
        }
    }
    Ok(deleted)
}

/// A member of `group` on `topic` that polls, so it stays in the group, but never commits: a consumer retrying a
/// poison record forever. It leaves the group when dropped.
pub struct StuckMember {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StuckMember {
    pub fn join(stack: &Stack, group: &str, topic: &str) -> anyhow::Result<StuckMember> {
        let member: BaseConsumer =
            stack.kafka_config().set("group.id", group).set("enable.auto.commit", "false").create()?;
        member.subscribe(&[topic])?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::SeqCst) {
                let _ = member.poll(Duration::from_millis(100));
            }
        });
        Ok(StuckMember { stop, thread: Some(thread) })
    }
}

impl Drop for StuckMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Members of the consumer group `group`, as Kafka lists them now.
pub fn group_members(stack: &Stack, group: &str) -> anyhow::Result<usize> {
    let listed = stack.admin().inner().fetch_group_list(Some(group), Duration::from_secs(5))?;
    Ok(listed.groups().iter().map(|g| g.members().len()).sum())
}

/// Records sent and not yet acknowledged. A send waits for the acknowledgements in flight when the producer's queue
/// is full, or once `max_pending` are in flight, so any number of records goes at the pace the brokers take them.
pub struct Acks {
    pending: Vec<DeliveryFuture>,
    /// The producer of the records in flight, to send again one that failed on a partition it did not know yet.
    producer: Option<FutureProducer>,
    max_pending: usize,
}

/// No limit on the acknowledgements in flight but the producer's queue.
impl Default for Acks {
    fn default() -> Acks {
        Acks::new(usize::MAX)
    }
}

impl Acks {
    pub fn new(max_pending: usize) -> Acks {
        Acks { pending: Vec::new(), producer: None, max_pending }
    }

    /// Sends one record; fails when the producer refuses it for another reason than a full queue (or, for up to 60 s,
    /// a partition its metadata does not know yet).
    pub async fn send<K, P>(&mut self, producer: &FutureProducer, record: FutureRecord<'_, K, P>) -> anyhow::Result<()>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let mut record = record;
        self.producer.get_or_insert_with(|| producer.clone());
        // A new topic's partitions can reach this producer's metadata after the topic shows in another broker's
        // answer: a partition it does not know yet is retried for a while.
        let unknown_until = Instant::now() + Duration::from_secs(60);
        loop {
            match producer.send_result(record) {
                Ok(f) => {
                    self.pending.push(f);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    if self.pending.is_empty() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    } else {
                        self.wait().await?;
                    }
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::UnknownPartition), back))
                    if Instant::now() < unknown_until =>
                {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        if self.pending.len() >= self.max_pending {
            self.wait().await?;
        }
        Ok(())
    }

    /// Waits for every acknowledgement in flight; fails on the first record Kafka did not take.
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        // The producer can also learn of a new topic's partition after taking the record, and fail it then: such a
        // record is sent again, for up to 60 s, as in `send`.
        let unknown_until = Instant::now() + Duration::from_secs(60);
        for f in std::mem::take(&mut self.pending) {
            let mut outcome = f.await.context("delivery future dropped")?;
            loop {
                match outcome {
                    Ok(_) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::UnknownPartition), m))
                        if Instant::now() < unknown_until && self.producer.is_some() =>
                    {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        let producer = self.producer.as_ref().expect("checked");
                        let mut again = FutureRecord::<[u8], [u8]>::to(m.topic());
                        if m.partition() >= 0 {
                            again = again.partition(m.partition());
                        }
                        if let Some(k) = m.key() {
                            again = again.key(k);
                        }
                        if let Some(v) = m.payload() {
                            again = again.payload(v);
                        }
                        if let Some(h) = m.headers() {
                            again = again.headers(h.clone());
                        }
                        outcome = match producer.send_result(again) {
                            Ok(f) => f.await.context("delivery future dropped")?,
                            Err((e, _)) => return Err(e.into()),
                        };
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }
}

/// Produces `count` records with keys `k{i}` and values `{prefix}-{i}`; waits for every acknowledgement.
pub async fn produce(producer: &FutureProducer, topic: &str, prefix: &str, count: usize) -> anyhow::Result<()> {
    let mut acks = Acks::default();
    for i in 0..count {
        let (key, value) = (format!("k{i}"), format!("{prefix}-{i}"));
        acks.send(producer, FutureRecord::to(topic).key(&key).payload(&value)).await?;
    }
    acks.wait().await
}

/// A consumed record, reduced to what tests compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The record's timestamp (0 when it has none).
    pub timestamp_ms: i64,
}

impl Record {
    pub fn of(m: &impl Message) -> Record {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let headers = m
            .headers()
            .map(|h| h.iter().map(|h| (h.key.to_string(), text(h.value.unwrap_or_default()))).collect())
            .unwrap_or_default();
        Record {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(text),
            value: m.payload().map(text),
            headers,
            timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
        }
    }

    /// The value of the header `key`.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Reads `topic` from the start of every partition to its end as it is now, with `read_committed` (an independent
/// client), and hands each record to `each`; fails after `timeout`.
pub fn read_to_end(
    stack: &Stack,
    topic: &str,
    timeout: Duration,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = stack
        .kafka_config()
        .set("group.id", crate::unique("e2e-reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    for p in md.topics().first().context("no metadata for the topic")?.partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
    }
    let partitions = tpl.count();
    consumer.assign(&tpl)?;
    let mut at_end = HashSet::new();
    let deadline = Instant::now() + timeout;
    while at_end.len() < partitions {
        if Instant::now() >= deadline {
            bail!("reading {topic} timed out after {timeout:?} ({} of {partitions} partitions read)", at_end.len());
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => each(&m),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            _ => {}
        }
    }
    Ok(())
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
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < count {
        if Instant::now() >= deadline {
            bail!("read {} of {count} records from {topic} before the time-out", out.len());
        }
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            out.push(Record::of(&m?));
        }
    }
    Ok(out)
}
