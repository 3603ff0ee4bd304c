//! The shared client of one Kafka cluster: one admin client (one set of broker connections) and request batchers
//! that group many resources' calls into few Kafka requests, every call going through [`Call`] (breaker, metrics).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::admin::{AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::Client;
use rdkafka::config::RDKafkaLogLevel;
use tokio::sync::broadcast;

use super::batch::{BatchShape, Batcher};
use super::call::{Breaker, Call};
use super::client_context::{Admin, TributaryContext};
use super::error::KafkaError;
use super::ffi::{self, ClusterDescription, ConfigOp, GroupDescription, OffsetSpec, PartitionOffset, TopicDescription};
use super::lag_tick::{LagSnapshot, LagTicker, TickSetup};
use super::settings::ClientSettings;
use super::wire;
use crate::runtime::metrics::Metrics;
use crate::runtime::sync::lock;

/// A new topic to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTopicRequest {
    pub name: String,
    pub partitions: i32,
    /// `None`: the broker's default.
    pub replication_factor: Option<i32>,
    pub config: BTreeMap<String, String>,
}

/// One config entry of a topic as Kafka reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigValue {
    pub value: Option<String>,
    /// Set on the topic itself (not a broker or static default).
    pub is_override: bool,
    pub read_only: bool,
    pub sensitive: bool,
}

/// All config entries of a topic.
pub type TopicConfig = BTreeMap<String, ConfigValue>;

/// The shared client of one Kafka cluster.
pub struct ClusterClient {
    pub key: String,
    pub fingerprint: u64,
    /// The connection's settings, for the producers and consumers a redrive builds (secrets stay inside).
    settings: ClientSettings,
    admin: Arc<Admin>,
    breaker: Arc<Mutex<Breaker>>,
    metrics: Arc<Metrics>,
    timeout: Duration,
    /// The controller id last reported (see [`ClusterClient::describe_cluster`]).
    reported_controller: Mutex<Option<i32>>,
    describe_topics: Batcher<String, Option<TopicDescription>>,
    describe_configs: Batcher<String, TopicConfig>,
    create_topics: Batcher<NewTopicRequest, ()>,
    create_partitions: Batcher<(String, usize), ()>,
    alter_configs: Batcher<(String, Vec<ConfigOp>), ()>,
    delete_topics: Batcher<String, ()>,
    list_offsets: Batcher<OffsetsRequest, Vec<PartitionOffset>>,
    describe_groups: Batcher<String, Option<GroupDescription>>,
    lag: LagTicker,
}

/// One caller's ListOffsets request; concurrent requests of the same kind share one call per cluster.
pub struct OffsetsRequest {
    partitions: Vec<(String, i32)>,
    spec: OffsetSpec,
    read_committed: bool,
}

const BATCH: BatchShape = BatchShape { max_batch: 100, linger: Duration::from_millis(20), queue: 1024, in_flight: 4 };

impl ClusterClient {
    /// Builds the client and its batchers, with a lag tick of 1 s whose ticks nobody hears. Does not contact the
    /// cluster.
    pub fn new(key: String, settings: &ClientSettings, metrics: Arc<Metrics>) -> Result<ClusterClient, KafkaError> {
        ClusterClient::with_lag_tick(key, settings, metrics, Duration::from_secs(1), broadcast::channel(1).0)
    }

    /// Builds the client and its batchers; its lag tick (started by the first watched group) runs every `period`
    /// and announces each snapshot on `ticks` with the client's key. Does not contact the cluster.
    pub fn with_lag_tick(
        key: String,
        settings: &ClientSettings,
        metrics: Arc<Metrics>,
        period: Duration,
        ticks: broadcast::Sender<String>,
    ) -> Result<ClusterClient, KafkaError> {
        let admin: Admin = settings
            .client_config()
            .set_log_level(RDKafkaLogLevel::Info)
            .create_with_context(TributaryContext::default())?;
        let admin = Arc::new(admin);
        spawn_notice_poller(&admin);
        let breaker = Arc::new(Mutex::new(Breaker::default()));
        let timeout = Duration::from_secs(15);
        let call =
            |op: &'static str| Call { op, admin: admin.clone(), breaker: breaker.clone(), metrics: metrics.clone() };

        let c = call("describe_topics");
        let describe_topics = Batcher::spawn(BatchShape { max_batch: 500, ..BATCH }, move |names: Vec<String>| {
            let c = c.clone();
            async move {
                // librdkafka refuses a name twice in one request; two callers may ask for the same topic.
                let distinct = distinct_ids(&names);
                let (admin, asked) = (c.admin.clone(), distinct.clone());
                let answers = c.run(blocking(move || ffi::describe_topics(&admin, &asked, timeout))).await?;
                Ok(fan_out(&names, distinct, answers))
            }
        });

        let c = call("describe_configs");
        let describe_configs = Batcher::spawn(BATCH, move |names: Vec<String>| {
            let c = c.clone();
            async move {
                let distinct = distinct_ids(&names);
                let specs: Vec<ResourceSpecifier<'_>> = distinct.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
                let opts = AdminOptions::new().request_timeout(Some(timeout));
                let results = c.run(async { Ok(c.admin.describe_configs(specs.iter(), &opts).await?) }).await?;
                let answers = results
                    .into_iter()
                    .map(|r| {
                        r.map_err(|code| KafkaError::from_rdkafka_code(code, String::new())).map(|res| {
                            res.entries
                                .into_iter()
                                .map(|e| {
                                    let is_override = e.source == rdkafka::admin::ConfigSource::DynamicTopic;
                                    (
                                        e.name,
                                        ConfigValue {
                                            value: e.value,
                                            is_override,
                                            read_only: e.is_read_only,
                                            sensitive: e.is_sensitive,
                                        },
                                    )
                                })
                                .collect()
                        })
                    })
                    .collect();
                Ok(fan_out(&names, distinct, answers))
            }
        });

        let c = call("create_topics");
        let create_topics = Batcher::spawn(BATCH, move |reqs: Vec<NewTopicRequest>| {
            let c = c.clone();
            async move {
                let topics: Vec<NewTopic<'_>> = reqs
                    .iter()
                    .map(|r| {
                        let rf = TopicReplication::Fixed(r.replication_factor.unwrap_or(-1));
                        r.config.iter().fold(NewTopic::new(&r.name, r.partitions, rf), |t, (k, v)| t.set(k, v))
                    })
                    .collect();
                let opts = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
                let results = c.run(async { Ok(c.admin.create_topics(topics.iter(), &opts).await?) }).await?;
                Ok(per_topic(&reqs.iter().map(|r| r.name.clone()).collect::<Vec<_>>(), results))
            }
        });

        let c = call("create_partitions");
        let create_partitions = Batcher::spawn(BATCH, move |reqs: Vec<(String, usize)>| {
            let c = c.clone();
            async move {
                let parts: Vec<NewPartitions<'_>> =
                    reqs.iter().map(|(n, total)| NewPartitions::new(n, *total)).collect();
                let opts = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
                let results = c.run(async { Ok(c.admin.create_partitions(parts.iter(), &opts).await?) }).await?;
                Ok(per_topic(&reqs.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(), results))
            }
        });

        let c = call("incremental_alter_configs");
        let alter_configs = Batcher::spawn(BATCH, move |reqs: Vec<(String, Vec<ConfigOp>)>| {
            let c = c.clone();
            async move {
                let admin = c.admin.clone();
                let out = c.run(blocking(move || ffi::incremental_alter_topic_configs(&admin, &reqs, timeout))).await?;
                Ok(out.into_iter().map(|r| r.map_err(KafkaError::Invalid)).collect())
            }
        });

        let c = call("delete_topics");
        let delete_topics = Batcher::spawn(BATCH, move |names: Vec<String>| {
            let c = c.clone();
            async move {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let opts = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
                let results = c.run(async { Ok(c.admin.delete_topics(&refs, &opts).await?) }).await?;
                Ok(per_topic(&names, results))
            }
        });

        let c = call("list_offsets");
        let shape = BatchShape { max_batch: 500, linger: Duration::from_millis(25), ..BATCH };
        let list_offsets = Batcher::spawn(shape, move |reqs: Vec<OffsetsRequest>| {
            let c = c.clone();
            async move {
                // One librdkafka call per (offset spec, isolation) over every caller's partitions: librdkafka then
                // sends one ListOffsets request per partition leader, however many groups asked.
                let mut kinds: Vec<(OffsetSpec, bool)> = vec![];
                for r in &reqs {
                    if !kinds.contains(&(r.spec, r.read_committed)) {
                        kinds.push((r.spec, r.read_committed));
                    }
                }
                let mut answers: HashMap<(OffsetSpec, bool, String, i32), PartitionOffset> = HashMap::new();
                for (spec, rc) in kinds {
                    let mut parts: Vec<(String, i32)> = reqs
                        .iter()
                        .filter(|r| r.spec == spec && r.read_committed == rc)
                        .flat_map(|r| r.partitions.iter().cloned())
                        .collect();
                    parts.sort();
                    parts.dedup();
                    let admin = c.admin.clone();
                    let out = c.run(blocking(move || ffi::list_offsets(&admin, &parts, spec, rc, timeout))).await?;
                    for o in out {
                        answers.insert((spec, rc, o.topic.clone(), o.partition), o);
                    }
                }
                Ok(reqs
                    .into_iter()
                    .map(|r| {
                        Ok(r.partitions
                            .into_iter()
                            .filter_map(|(t, p)| answers.get(&(r.spec, r.read_committed, t, p)).cloned())
                            .collect())
                    })
                    .collect())
            }
        });

        let c = call("describe_consumer_groups");
        let describe_groups = Batcher::spawn(BATCH, move |ids: Vec<String>| {
            let c = c.clone();
            async move {
                // One DescribeConsumerGroups for every group asked within the linger (librdkafka refuses duplicate
                // ids: ask each once and hand the answer to every caller).
                let distinct = distinct_ids(&ids);
                let admin = c.admin.clone();
                let asked = distinct.clone();
                let answers = c
                    .run(async move {
                        let answers = blocking(move || ffi::describe_groups(&admin, &asked, timeout)).await?;
                        // librdkafka reports a time-out or a dead cluster per group: when every group failed so,
                        // the call failed, for the metrics and the circuit breaker as with any other call.
                        match whole_batch_fault(&answers) {
                            Some(e) => Err(e),
                            None => Ok(answers),
                        }
                    })
                    .await?;
                Ok(fan_out(&ids, distinct, answers))
            }
        });

        let lag = LagTicker::new(TickSetup {
            key: key.clone(),
            settings: settings.clone(),
            call: {
                let (admin, breaker, metrics) = (admin.clone(), breaker.clone(), metrics.clone());
                Arc::new(move |op: &'static str| Call {
                    op,
                    admin: admin.clone(),
                    breaker: breaker.clone(),
                    metrics: metrics.clone(),
                })
            },
            period,
            ticks,
        });
        Ok(ClusterClient {
            key,
            lag,
            list_offsets,
            describe_groups,
            fingerprint: settings.fingerprint(),
            settings: settings.clone(),
            admin,
            breaker,
            metrics,
            timeout,
            reported_controller: Mutex::new(None),
            describe_topics,
            describe_configs,
            create_topics,
            create_partitions,
            alter_configs,
            delete_topics,
        })
    }

    /// One request wrapped in the circuit breaker and metrics (also for the calls in the sibling files, e.g. access).
    pub(super) fn call(&self, op: &'static str) -> Call {
        Call { op, admin: self.admin.clone(), breaker: self.breaker.clone(), metrics: self.metrics.clone() }
    }

    /// DescribeCluster (not batched: one per connection check).
    ///
    /// Under KRaft a broker answers with a random live broker as the "controller" (clients cannot reach the
    /// quorum), so the raw answer changes from one call to the next. The previous answer is kept while that broker
    /// is still alive: a status built from this does not flap (and re-trigger everything that watches it) while
    /// nothing changed.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, KafkaError> {
        let admin = self.admin.clone();
        let timeout = self.timeout;
        let mut desc =
            self.call("describe_cluster").run(blocking(move || ffi::describe_cluster(&admin, timeout))).await?;
        let mut last = lock(&self.reported_controller);
        desc.controller = sticky_controller(*last, &desc);
        *last = desc.controller;
        drop(last);
        Ok(desc)
    }

    pub async fn describe_topic(&self, name: &str) -> Result<Option<TopicDescription>, KafkaError> {
        self.describe_topics.submit(name.to_string()).await
    }

    pub async fn topic_config(&self, name: &str) -> Result<TopicConfig, KafkaError> {
        self.describe_configs.submit(name.to_string()).await
    }

    pub async fn create_topic(&self, req: NewTopicRequest) -> Result<(), KafkaError> {
        self.create_topics.submit(req).await
    }

    pub async fn create_partitions(&self, name: &str, total: usize) -> Result<(), KafkaError> {
        self.create_partitions.submit((name.to_string(), total)).await
    }

    pub async fn alter_topic_config(&self, name: &str, ops: Vec<ConfigOp>) -> Result<(), KafkaError> {
        self.alter_configs.submit((name.to_string(), ops)).await
    }

    pub async fn delete_topic(&self, name: &str) -> Result<(), KafkaError> {
        self.delete_topics.submit(name.to_string()).await
    }

    /// Watches `group` for `owner` in the cluster's lag tick, reading `topics` (Kafka names; empty: every topic it
    /// committed on). Renew it at least every minute; the first watch starts the tick.
    pub fn watch_lag(&self, owner: &str, group: &str, topics: Vec<String>) {
        self.lag.watch(owner, group, topics);
    }

    pub fn unwatch_lag(&self, owner: &str) {
        self.lag.unwatch(owner);
    }

    /// The latest lag tick's snapshot (empty, tick 0, before the first).
    pub fn lag_snapshot(&self) -> Arc<LagSnapshot> {
        self.lag.latest()
    }

    /// Committed offsets of one group (one request per group: librdkafka's limit).
    pub async fn group_offsets(&self, group: &str) -> Result<Vec<PartitionOffset>, KafkaError> {
        let admin = self.admin.clone();
        let (group, timeout) = (group.to_string(), self.timeout);
        self.call("list_group_offsets").run(blocking(move || ffi::list_group_offsets(&admin, &group, timeout))).await
    }

    /// Offsets for many partitions, batched with every other caller's on this cluster.
    pub async fn list_offsets(
        &self,
        partitions: Vec<(String, i32)>,
        spec: OffsetSpec,
        read_committed: bool,
    ) -> Result<Vec<PartitionOffset>, KafkaError> {
        if partitions.is_empty() {
            return Ok(vec![]);
        }
        self.list_offsets.submit(OffsetsRequest { partitions, spec, read_committed }).await
    }

    /// Sets the committed offsets of an (empty) group. Fails per partition when the group is not empty.
    pub async fn alter_group_offsets(&self, group: &str, offsets: Vec<(String, i32, i64)>) -> Result<(), KafkaError> {
        let admin = self.admin.clone();
        let (group, timeout) = (group.to_string(), self.timeout);
        let results = self
            .call("alter_group_offsets")
            .run(blocking(move || ffi::alter_group_offsets(&admin, &group, &offsets, timeout)))
            .await?;
        match results.into_iter().find(|r| r.error.is_some()) {
            Some(r) => Err(KafkaError::Broker {
                code: "AlterOffsets".into(),
                message: format!("{}[{}]: {}", r.topic, r.partition, r.error.unwrap_or_default()),
            }),
            None => Ok(()),
        }
    }

    /// State and member count of one group; `None` when Kafka does not know it. Batched with every other
    /// caller's on this cluster into one DescribeConsumerGroups call.
    pub async fn group_state(&self, group: &str) -> Result<Option<(String, i32)>, KafkaError> {
        Ok(self.describe_groups.submit(group.to_string()).await?.map(|g| (g.state, g.members)))
    }

    /// Groups with members that have committed offsets on `topic`: deleting the topic would break them.
    pub async fn active_groups_reading(&self, topic: &str) -> Result<Vec<String>, KafkaError> {
        let admin = self.admin.clone();
        let timeout = self.timeout;
        let groups = self
            .call("list_groups")
            .run(blocking(move || {
                let list = admin.inner().fetch_group_list(None, timeout)?;
                Ok(list
                    .groups()
                    .iter()
                    .filter(|g| !g.members().is_empty())
                    .map(|g| g.name().to_string())
                    .collect::<Vec<_>>())
            }))
            .await?;
        let mut readers = vec![];
        for g in groups {
            let offsets = self.group_offsets(&g).await?;
            if offsets.iter().any(|o| o.topic == topic && o.offset >= 0) {
                readers.push(g);
            }
        }
        Ok(readers)
    }

    /// The ongoing partition reassignments of these topics' partitions (over the wire client: librdkafka has no
    /// such call).
    pub async fn list_partition_reassignments(
        &self,
        topics: &[(String, Vec<i32>)],
    ) -> Result<Vec<wire::OngoingReassignment>, KafkaError> {
        self.call("list_partition_reassignments").run(wire::list_partition_reassignments(&self.settings, topics)).await
    }

    /// Moves `topic`'s partitions to the given replica lists (first replica = preferred leader).
    pub async fn alter_partition_reassignments(
        &self,
        topic: &str,
        assignment: &[(i32, Vec<i32>)],
    ) -> Result<(), KafkaError> {
        self.call("alter_partition_reassignments")
            .run(wire::alter_partition_reassignments(&self.settings, topic, assignment))
            .await
    }

    /// The connection's client settings (for the producer and consumers of a redrive).
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// The underlying rdkafka client (for read-only metadata helpers).
    pub fn client(&self) -> &Client<TributaryContext> {
        self.admin.inner()
    }
}

/// The controller to report: the previous one while it is still among the live brokers, else the new answer.
fn sticky_controller(previous: Option<i32>, now: &ClusterDescription) -> Option<i32> {
    match previous {
        Some(p) if now.brokers.contains(&p) && now.controller.is_some() => Some(p),
        _ => now.controller,
    }
}

/// Polls the client's main queue on a thread of its own until the client is dropped.
fn spawn_notice_poller(admin: &Arc<Admin>) {
    let weak = Arc::downgrade(admin);
    let spawned = std::thread::Builder::new().name("kafka-notices".into()).spawn(move || {
        while let Some(admin) = weak.upgrade() {
            if let Some(notice) = ffi::poll_main_queue(&admin, Duration::from_millis(500)) {
                admin.inner().context().notice(notice);
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the Kafka notice thread");
    }
}

/// The ids of a batch, each once, in first-seen order.
fn distinct_ids(ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().filter(|id| seen.insert(id.as_str())).cloned().collect()
}

/// Hands the answers to the `distinct` names (in order) to every caller in `asked`, duplicates included.
fn fan_out<T: Clone>(
    asked: &[String],
    distinct: Vec<String>,
    answers: Vec<Result<T, KafkaError>>,
) -> Vec<Result<T, KafkaError>> {
    let by_name: HashMap<String, Result<T, KafkaError>> = distinct.into_iter().zip(answers).collect();
    asked
        .iter()
        .map(|n| by_name.get(n).cloned().unwrap_or_else(|| Err(KafkaError::Protocol(format!("no result for {n}")))))
        .collect()
}

/// The cluster fault every answer of a batch failed with, if all did: then the call as a whole failed.
fn whole_batch_fault<T>(answers: &[Result<T, KafkaError>]) -> Option<KafkaError> {
    let mut faults = answers.iter().map(|a| a.as_ref().err().filter(|e| e.is_cluster_fault()));
    let first = faults.next()??.clone();
    faults.all(|f| f.is_some()).then_some(first)
}

/// Maps rdkafka's per-topic results to answers in request order.
fn per_topic(names: &[String], results: Vec<rdkafka::admin::TopicResult>) -> Vec<Result<(), KafkaError>> {
    let mut by_name: HashMap<String, Result<(), KafkaError>> = results
        .into_iter()
        .map(|r| match r {
            Ok(name) => (name, Ok(())),
            Err((name, code)) => (name, Err(KafkaError::from_rdkafka_code(code, String::new()))),
        })
        .collect();
    names
        .iter()
        .map(|n| by_name.remove(n).unwrap_or_else(|| Err(KafkaError::Protocol(format!("no result for {n}")))))
        .collect()
}

/// Runs blocking librdkafka work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| KafkaError::Protocol(format!("blocking task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_asks_each_group_once() {
        let ids: Vec<String> = ["a", "b", "a", "c", "b"].iter().map(|s| s.to_string()).collect();
        assert_eq!(distinct_ids(&ids), vec!["a", "b", "c"]);
        assert!(distinct_ids(&[]).is_empty());
        // Each caller gets the answer to its name, however often it was asked.
        let answers: Vec<Result<i32, KafkaError>> = vec![Ok(1), Err(KafkaError::Invalid("b".into())), Ok(3)];
        let out = fan_out(&ids, distinct_ids(&ids), answers);
        let shown: Vec<String> = out.iter().map(|a| format!("{:?}", a.as_ref().ok())).collect();
        assert_eq!(shown, vec!["Some(1)", "None", "Some(1)", "Some(3)", "None"]);
        assert!(matches!(&out[4], Err(KafkaError::Invalid(m)) if m == "b"));
    }

    #[test]
    fn a_batch_fails_as_a_whole_only_when_every_group_hit_a_cluster_fault() {
        let ok: Result<(), KafkaError> = Ok(());
        let denied = || Err(KafkaError::Authorization("denied".into()));
        assert!(whole_batch_fault::<()>(&[]).is_none());
        assert!(matches!(
            whole_batch_fault::<()>(&[Err(KafkaError::Timeout), Err(KafkaError::Timeout)]),
            Some(KafkaError::Timeout)
        ));
        assert!(whole_batch_fault(&[Err(KafkaError::Timeout), ok.clone()]).is_none());
        assert!(whole_batch_fault(&[denied(), Err(KafkaError::Timeout)]).is_none());
        assert!(whole_batch_fault::<()>(&[denied()]).is_none());
    }

    #[test]
    fn the_reported_controller_stays_while_its_broker_lives() {
        let answer = |controller, brokers: &[i32]| ClusterDescription {
            cluster_id: "c".into(),
            controller: Some(controller),
            brokers: brokers.to_vec(),
        };
        // KRaft answers with a random live broker each time: keep the first answer.
        assert_eq!(sticky_controller(None, &answer(2, &[1, 2, 3])), Some(2));
        assert_eq!(sticky_controller(Some(2), &answer(3, &[1, 2, 3])), Some(2));
        // That broker is gone: take the new answer.
        assert_eq!(sticky_controller(Some(2), &answer(3, &[1, 3])), Some(3));
        assert_eq!(sticky_controller(Some(2), &ClusterDescription { controller: None, ..answer(1, &[2]) }), None);
    }
}
