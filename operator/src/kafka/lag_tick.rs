//! One lag tick per cluster: every `lagTickMillis` (default 1 s) one [`LagSnapshot`] of every watched group —
//! committed offsets, state and members — and of every partition those groups read — end (read-committed) and log
//! start offsets.
//!
//! A tick sends, over the wire client's per-broker connections: FindCoordinator only for groups whose coordinator is
//! not cached (one request for all of them); per coordinator one DescribeGroups and one OffsetFetch (KIP-709) with
//! every group it coordinates; Metadata only when the watched topics change, a leader moved or every 30 ticks; per
//! partition leader one ListOffsets for the ends and, where lag depends on it, one for the log starts
//! ([`log_start_needed`]). So the requests of a tick grow with the brokers, not with the groups or partitions.
//!
//! Groups are watched by their owner (a ConsumerGroup's `namespace/name`) with [`LagTicker::watch`]; a watch not
//! renewed for a minute is dropped, so a group that moved to another connection stops costing here. The loop starts
//! with the first watch and ends when its [`ClusterClient`](super::ClusterClient) is dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use super::call::Call;
use super::error::KafkaError;
use super::wire::check;
use super::wire::lag::{self as wire, BrokerPool, EARLIEST, LATEST};
use crate::decisions::lag::{PartitionMap, TopicNames, TopicPartition};
use crate::decisions::lag_tick::{CoordinatorAnswer, CoordinatorCache, by_node, coordinator_answer, log_start_needed};
use crate::runtime::sync::lock;

/// A watch not renewed for this long is dropped.
const WATCH_TTL: Duration = Duration::from_secs(60);
/// Ticks between two Metadata requests while nothing asks for one sooner.
const METADATA_REFRESH_TICKS: u64 = 30;

/// One tick's view of the watched groups and the partitions they read.
#[derive(Clone, Debug, Default)]
pub struct LagSnapshot {
    /// Counts from 1; 0 is the empty snapshot before the first tick.
    pub tick: u64,
    /// When the tick started (ms since the Unix epoch).
    pub at_ms: i64,
    /// Why the tick as a whole failed (e.g. no broker answered Metadata).
    pub error: Option<KafkaError>,
    pub groups: BTreeMap<String, GroupSnapshot>,
    /// Per topic read: its partitions in order, or `None` when Kafka has no such topic. A list, not a map: every
    /// reader walks all of a topic's partitions, and 16,000 partitions in maps were a megabyte more per snapshot.
    /// The names are the tick's shared allocations (see [`TopicNames`]): keys made from them compare by pointer.
    pub topics: BTreeMap<Arc<str>, Option<Vec<(i32, PartitionEnds)>>>,
}

/// A group in one tick.
#[derive(Clone, Debug)]
pub struct GroupSnapshot {
    /// Committed offsets (only partitions with one), or why they could not be read this tick.
    pub committed: Result<PartitionMap<i64>, KafkaError>,
    /// State and member count (`None`: Kafka does not know the group), or why not.
    pub state: Result<Option<(String, i32)>, KafkaError>,
}

/// A partition's offsets in one tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionEnds {
    /// Read-committed end offset; `None` when its leader did not answer this tick.
    pub end: Option<i64>,
    /// Log start as last read (see [`log_start_needed`]).
    pub log_start: i64,
}

struct Watch {
    group: String,
    /// Kafka topic names; empty: every topic the group committed on.
    topics: Vec<String>,
    renewed: Instant,
}

struct Shared {
    watches: Mutex<HashMap<String, Watch>>,
    latest: watch::Sender<Arc<LagSnapshot>>,
}

/// What builds the tick loop: the cluster's key and settings, its calls (breaker and metrics), the period, and
/// the channel on which each tick announces the key.
pub(super) struct TickSetup {
    pub key: String,
    pub settings: super::settings::ClientSettings,
    pub call: Arc<dyn Fn(&'static str) -> Call + Send + Sync>,
    pub period: Duration,
    pub ticks: broadcast::Sender<String>,
}

/// A cluster's lag tick: the watches and the latest snapshot.
pub struct LagTicker {
    shared: Arc<Shared>,
    setup: Mutex<Option<TickSetup>>,
}

impl LagTicker {
    pub(super) fn new(setup: TickSetup) -> LagTicker {
        let (latest, _) = watch::channel(Arc::new(LagSnapshot::default()));
        LagTicker { shared: Arc::new(Shared { watches: Mutex::default(), latest }), setup: Mutex::new(Some(setup)) }
    }

    /// Watches (or keeps watching) `group` for `owner`, reading `topics` (empty: the topics it committed on).
    /// Starts the tick loop on the first call.
    pub fn watch(&self, owner: &str, group: &str, topics: Vec<String>) {
        let w = Watch { group: group.to_string(), topics, renewed: Instant::now() };
        lock(&self.shared.watches).insert(owner.to_string(), w);
        if let Some(setup) = lock(&self.setup).take() {
            tokio::spawn(run(Arc::downgrade(&self.shared), setup));
        }
    }

    pub fn unwatch(&self, owner: &str) {
        lock(&self.shared.watches).remove(owner);
    }

    /// The latest snapshot (the empty one before the first tick).
    pub fn latest(&self) -> Arc<LagSnapshot> {
        self.shared.latest.borrow().clone()
    }
}

/// The group → topics to read, after dropping watches not renewed in time.
fn current_watches(shared: &Shared) -> BTreeMap<String, BTreeSet<String>> {
    let mut watches = lock(&shared.watches);
    watches.retain(|_, w| w.renewed.elapsed() < WATCH_TTL);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for w in watches.values() {
        out.entry(w.group.clone()).or_default().extend(w.topics.iter().cloned());
    }
    out
}

async fn run(shared: Weak<Shared>, setup: TickSetup) {
    let mut state = TickState::new(BrokerPool::new(setup.settings.clone()));
    let mut interval = tokio::time::interval(setup.period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(strong) = shared.upgrade() else { break };
        let watches = current_watches(&strong);
        if watches.is_empty() {
            continue;
        }
        let snapshot = state.tick(&watches, setup.call.as_ref()).await;
        strong.latest.send_replace(Arc::new(snapshot));
        drop(strong);
        let _ = setup.ticks.send(setup.key.clone());
    }
    tracing::debug!(connection = %setup.key, "lag tick stopped: its client was dropped");
}

/// What a tick remembers for the next: the pool, coordinators, leaders and log starts.
struct TickState {
    pool: BrokerPool,
    tick: u64,
    coordinators: CoordinatorCache,
    /// Topics of the last Metadata, their partitions' leaders (`None`: no such topic), and when it was read.
    metadata_topics: BTreeSet<String>,
    leaders: BTreeMap<String, Option<BTreeMap<i32, i32>>>,
    metadata_tick: Option<u64>,
    metadata_stale: bool,
    log_starts: BTreeMap<TopicPartition, i64>,
    /// One allocation per topic name for every key the tick makes, and for the snapshot's.
    names: TopicNames,
}

/// Kafka's error codes of ListOffsets that mean the leader moved: read Metadata again.
fn leader_moved(code: i16) -> bool {
    // UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER, FENCED/UNKNOWN_LEADER_EPOCH
    matches!(code, 3 | 5 | 6 | 74 | 75)
}

impl TickState {
    fn new(pool: BrokerPool) -> TickState {
        TickState {
            pool,
            tick: 0,
            coordinators: CoordinatorCache::default(),
            metadata_topics: BTreeSet::new(),
            leaders: BTreeMap::new(),
            metadata_tick: None,
            metadata_stale: false,
            log_starts: BTreeMap::new(),
            names: TopicNames::default(),
        }
    }

    async fn tick(
        &mut self,
        watches: &BTreeMap<String, BTreeSet<String>>,
        call: &(dyn Fn(&'static str) -> Call + Send + Sync),
    ) -> LagSnapshot {
        self.tick += 1;
        self.names.forget_unused();
        let mut snap = LagSnapshot {
            tick: self.tick,
            at_ms: k8s_openapi::jiff::Timestamp::now().as_millisecond(),
            ..Default::default()
        };
        let groups: BTreeSet<String> = watches.keys().cloned().collect();
        let (committed, states) = self.groups(&groups, call).await;
        for g in &groups {
            let c = committed.get(g).cloned().unwrap_or_else(|| Err(unknown_coordinator(g)));
            let s = states.get(g).cloned().unwrap_or_else(|| Err(unknown_coordinator(g)));
            snap.groups.insert(g.clone(), GroupSnapshot { committed: c, state: s });
        }

        // The topics read: those named, else those committed on.
        let mut reads: BTreeMap<&String, BTreeSet<String>> = BTreeMap::new();
        for (g, topics) in watches {
            let read = match (topics.is_empty(), &snap.groups[g].committed) {
                (false, _) => topics.clone(),
                (true, Ok(c)) => c.keys().map(|tp| tp.topic.to_string()).collect(),
                (true, Err(_)) => BTreeSet::new(),
            };
            reads.insert(g, read);
        }
        let topics: BTreeSet<String> = reads.values().flatten().cloned().collect();
        if let Err(e) = self.refresh_metadata(&topics, call).await {
            snap.error = Some(e);
            return snap;
        }
        let partitions: BTreeSet<TopicPartition> = topics
            .iter()
            .filter_map(|t| Some((t, self.leaders.get(t)?.as_ref()?)))
            .map(|(t, ps)| (self.names.get(t), ps))
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|(topic, ps)| ps.keys().map(move |p| TopicPartition::new(topic.clone(), *p)))
            .collect();
        let ends = self.offsets(&partitions, LATEST, true, call).await;
        let readers: Vec<_> =
            reads.iter().filter_map(|(g, read)| Some((read, snap.groups[*g].committed.as_ref().ok()?))).collect();
        let needed = log_start_needed(self.tick, &partitions, &self.log_starts, &readers);
        let starts = self.offsets(&needed, EARLIEST, false, call).await;
        self.log_starts.retain(|tp, _| partitions.contains(tp));
        self.log_starts.extend(starts);
        for t in &topics {
            let topic = self.names.get(t);
            let entry = self.leaders.get(t).and_then(|l| l.as_ref()).map(|ps| {
                ps.keys()
                    .map(|p| {
                        let tp = TopicPartition::new(topic.clone(), *p);
                        let log_start = self.log_starts.get(&tp).copied().unwrap_or(0);
                        (*p, PartitionEnds { end: ends.get(&tp).copied(), log_start })
                    })
                    .collect()
            });
            snap.topics.insert(topic, entry);
        }
        snap
    }

    /// Coordinators (looked up where unknown), then DescribeGroups and OffsetFetch, one request per coordinator.
    #[allow(clippy::type_complexity)]
    async fn groups(
        &mut self,
        groups: &BTreeSet<String>,
        call: &(dyn Fn(&'static str) -> Call + Send + Sync),
    ) -> (
        BTreeMap<String, Result<PartitionMap<i64>, KafkaError>>,
        BTreeMap<String, Result<Option<(String, i32)>, KafkaError>>,
    ) {
        let (mut committed, mut states) = (BTreeMap::new(), BTreeMap::new());
        self.coordinators.retain(groups);
        let missing = self.coordinators.missing(groups);
        if !missing.is_empty() {
            let c = call("lag_find_coordinator");
            let found = match c.check_open() {
                Ok(()) => c.finish(Instant::now(), wire::find_coordinators(&mut self.pool, &missing).await),
                Err(e) => Err(e),
            };
            match found {
                Ok(found) => {
                    for (g, answer) in found {
                        match answer {
                            Ok(node) => self.coordinators.set(&g, node),
                            Err(code) => {
                                let e = check(code, None).err().unwrap_or_else(|| unknown_coordinator(&g));
                                committed.insert(g.clone(), Err(e.clone()));
                                states.insert(g, Err(e));
                            }
                        }
                    }
                }
                Err(e) => {
                    for g in missing {
                        committed.insert(g.clone(), Err(e.clone()));
                        states.insert(g, Err(e.clone()));
                    }
                }
            }
        }
        let (batches, _unplaced) = by_node(groups.iter().cloned(), |g| self.coordinators.get(g));
        if batches.is_empty() {
            return (committed, states);
        }
        // States before offsets, offsets before ends: an end is never older than the commit it is compared with.
        for (node, answer) in timed(call("lag_describe_groups"), wire::describe_groups(&mut self.pool, &batches)).await
        {
            match answer {
                Ok(answers) => {
                    for (g, a) in answers {
                        let e = a.as_ref().err().copied().unwrap_or(0);
                        self.coordinators.answered(&g, coordinator_answer(e));
                        states.insert(g, a.map_err(coordinator_error));
                    }
                }
                Err(e) => node_failed(&mut self.coordinators, node, &batches, &mut states, e),
            }
        }
        for (node, answer) in timed(call("lag_offset_fetch"), wire::offset_fetch(&mut self.pool, &batches)).await {
            match answer {
                Ok(answers) => {
                    for (g, a) in answers {
                        self.coordinators.answered(&g, coordinator_answer(a.error_code));
                        let r = if a.error_code == 0 {
                            Ok(shared_keys(&mut self.names, a.committed))
                        } else {
                            Err(coordinator_error(a.error_code))
                        };
                        committed.insert(g, r);
                    }
                }
                Err(e) => node_failed(&mut self.coordinators, node, &batches, &mut committed, e),
            }
        }
        (committed, states)
    }

    /// Metadata for `topics` when they changed, a leader moved, or it is old.
    async fn refresh_metadata(
        &mut self,
        topics: &BTreeSet<String>,
        call: &(dyn Fn(&'static str) -> Call + Send + Sync),
    ) -> Result<(), KafkaError> {
        let due = self.metadata_stale
            || *topics != self.metadata_topics
            || self.metadata_tick.is_none_or(|t| self.tick - t >= METADATA_REFRESH_TICKS);
        if !due || topics.is_empty() {
            return Ok(());
        }
        let c = call("lag_metadata");
        c.check_open()?;
        let asked: Vec<String> = topics.iter().cloned().collect();
        let leaders = c.finish(Instant::now(), wire::metadata(&mut self.pool, &asked).await)?;
        self.leaders = topics
            .iter()
            .map(|t| {
                let l = match leaders.topics.get(t) {
                    Some(Ok(ps)) => Some(ps.clone()),
                    // A topic being created may answer LEADER_NOT_AVAILABLE: it exists, without leaders yet.
                    Some(Err(5)) => Some(BTreeMap::new()),
                    Some(Err(_)) | None => None,
                };
                (t.clone(), l)
            })
            .collect();
        self.metadata_topics = topics.clone();
        self.metadata_tick = Some(self.tick);
        self.metadata_stale = false;
        Ok(())
    }

    /// ListOffsets at `timestamp` for `partitions`, one request per leader; the offsets answered.
    async fn offsets(
        &mut self,
        partitions: &BTreeSet<TopicPartition>,
        timestamp: i64,
        read_committed: bool,
        call: &(dyn Fn(&'static str) -> Call + Send + Sync),
    ) -> BTreeMap<TopicPartition, i64> {
        let leader = |tp: &TopicPartition| {
            self.leaders.get(&*tp.topic)?.as_ref()?.get(&tp.partition).copied().filter(|l| *l >= 0)
        };
        let (batches, unplaced) = by_node(partitions.iter().cloned(), leader);
        if !unplaced.is_empty() {
            self.metadata_stale = true;
        }
        let mut out = vec![];
        if batches.is_empty() {
            return BTreeMap::new();
        }
        let op = if timestamp == EARLIEST { "lag_list_offsets_start" } else { "lag_list_offsets_end" };
        let answers = timed(call(op), wire::list_offsets(&mut self.pool, &batches, timestamp, read_committed)).await;
        for (_, answer) in answers {
            match answer {
                Ok(answers) => {
                    for (tp, a) in answers {
                        match a {
                            Ok(o) => out.push((tp, o.max(0))),
                            Err(code) => self.metadata_stale |= leader_moved(code),
                        }
                    }
                }
                Err(_) => self.metadata_stale = true,
            }
        }
        shared_keys(&mut self.names, out)
    }
}

/// `entries` keyed with the shared allocations of their topics' names. Entries of one topic come one after another
/// from the wire client, holding one allocation of their own: it is looked up once per run.
fn shared_keys<V, C: FromIterator<(TopicPartition, V)>>(
    names: &mut TopicNames,
    entries: impl IntoIterator<Item = (TopicPartition, V)>,
) -> C {
    let mut last: Option<(Arc<str>, Arc<str>)> = None;
    entries
        .into_iter()
        .map(|(tp, v)| {
            let topic = match &last {
                Some((theirs, ours)) if Arc::ptr_eq(theirs, &tp.topic) => ours.clone(),
                _ => {
                    let ours = names.get(&tp.topic);
                    last = Some((tp.topic.clone(), ours.clone()));
                    ours
                }
            };
            (TopicPartition { topic, partition: tp.partition }, v)
        })
        // Collecting sorts the entries (mostly in order already: runs per broker and topic) and builds the map in
        // bulk, instead of one search per insert.
        .collect()
}

/// Runs per-node requests under one call's breaker and metrics (one request counted per node).
async fn timed<K, T>(c: Call, fut: impl std::future::Future<Output = wire::PerNode<K, T>>) -> wire::PerNode<K, T> {
    if let Err(e) = c.check_open() {
        return vec![(-1, Err(e))];
    }
    let started = Instant::now();
    fut.await.into_iter().map(|(node, r)| (node, c.finish(started, r))).collect()
}

/// A node's request failed: its groups fail this tick, and their coordinators are looked up again.
fn node_failed<T>(
    cache: &mut CoordinatorCache,
    node: i32,
    batches: &BTreeMap<i32, Vec<String>>,
    out: &mut BTreeMap<String, Result<T, KafkaError>>,
    e: KafkaError,
) {
    let groups: Vec<&String> = match batches.get(&node) {
        Some(gs) => gs.iter().collect(),
        // The breaker was open: nothing was sent.
        None => batches.values().flatten().collect(),
    };
    for g in groups {
        out.insert(g.clone(), Err(e.clone()));
    }
    cache.forget_node(node);
}

fn coordinator_error(code: i16) -> KafkaError {
    match coordinator_answer(code) {
        CoordinatorAnswer::Answered => check(code, None).err().unwrap_or(KafkaError::Timeout),
        // Transient: the group's coordinator moved or is loading; the next tick asks again.
        _ => KafkaError::Unreachable(format!("group coordinator moved or loading (Kafka error {code})")),
    }
}

fn unknown_coordinator(group: &str) -> KafkaError {
    KafkaError::Unreachable(format!("no coordinator known for group {group:?} yet"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_merge_per_group_and_expire() {
        let (latest, _) = watch::channel(Arc::new(LagSnapshot::default()));
        let shared = Shared { watches: Mutex::default(), latest };
        let w = |group: &str, topics: &[&str], age: Duration| Watch {
            group: group.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            renewed: Instant::now().checked_sub(age).unwrap(),
        };
        {
            let mut ws = lock(&shared.watches);
            ws.insert("ns/a".into(), w("g", &["t"], Duration::ZERO));
            ws.insert("other/a".into(), w("g", &["u"], Duration::ZERO));
            ws.insert("ns/b".into(), w("h", &[], Duration::from_secs(5)));
            ws.insert("ns/old".into(), w("old", &["t"], WATCH_TTL + Duration::from_secs(1)));
        }
        let got = current_watches(&shared);
        let want: BTreeMap<String, BTreeSet<String>> =
            [("g".to_string(), ["t".to_string(), "u".to_string()].into()), ("h".to_string(), BTreeSet::new())].into();
        assert_eq!(got, want);
        assert_eq!(lock(&shared.watches).len(), 3, "the expired watch is dropped");
    }

    #[test]
    fn leader_errors_ask_for_metadata_again() {
        for (code, moved) in [(0, false), (6, true), (3, true), (74, true), (75, true), (5, true), (7, false)] {
            assert_eq!(leader_moved(code), moved, "error code {code}");
        }
    }
}
