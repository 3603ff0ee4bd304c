//! The pure parts of the per-cluster lag tick: which broker each request goes to, which group coordinators must be
//! looked up (again), and which partitions need their log start read this tick.
//!
//! One tick sends at most one request of each kind to each broker: FindCoordinator (only for groups whose
//! coordinator is not known), OffsetFetch and DescribeGroups to each group coordinator with every group it
//! coordinates, and ListOffsets to each partition leader with every watched partition it leads. These functions
//! decide the split; the wire client sends it.

use std::collections::{BTreeMap, BTreeSet};

use crate::decisions::lag::{PartitionMap, TopicPartition};

/// Splits `items` by the broker `node_of` names for each: one batch per broker, in broker order. Items without a
/// broker are returned apart (their coordinator or leader is not known yet).
pub fn by_node<K: Clone>(
    items: impl IntoIterator<Item = K>,
    node_of: impl Fn(&K) -> Option<i32>,
) -> (BTreeMap<i32, Vec<K>>, Vec<K>) {
    let mut batches: BTreeMap<i32, Vec<K>> = BTreeMap::new();
    let mut unplaced = vec![];
    for item in items {
        match node_of(&item) {
            Some(node) => batches.entry(node).or_default().push(item),
            None => unplaced.push(item),
        }
    }
    (batches, unplaced)
}

/// What a coordinator answered about a group in OffsetFetch or DescribeGroups, as far as the cache cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordinatorAnswer {
    /// The group was answered (or refused for a reason that is not about its coordinator).
    Answered,
    /// `NOT_COORDINATOR` or `COORDINATOR_NOT_AVAILABLE`: the group moved, look it up again.
    Moved,
    /// `COORDINATOR_LOAD_IN_PROGRESS`: the right broker, not ready yet; ask it again next tick.
    Loading,
}

/// Kafka's error codes that say a group's coordinator is elsewhere (or gone).
pub fn coordinator_answer(error_code: i16) -> CoordinatorAnswer {
    match error_code {
        // COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR
        15 | 16 => CoordinatorAnswer::Moved,
        // COORDINATOR_LOAD_IN_PROGRESS
        14 => CoordinatorAnswer::Loading,
        _ => CoordinatorAnswer::Answered,
    }
}

/// The group coordinators known, by group id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoordinatorCache {
    by_group: BTreeMap<String, i32>,
}

impl CoordinatorCache {
    /// The coordinator of `group`, if known.
    pub fn get(&self, group: &str) -> Option<i32> {
        self.by_group.get(group).copied()
    }

    /// The watched groups whose coordinator must be found (FindCoordinator, all in one request).
    pub fn missing<'a>(&self, watched: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        watched.into_iter().filter(|g| !self.by_group.contains_key(*g)).cloned().collect()
    }

    pub fn set(&mut self, group: &str, node: i32) {
        self.by_group.insert(group.to_string(), node);
    }

    /// Applies a coordinator's answer about `group`: a move forgets the coordinator, so the next tick finds it.
    pub fn answered(&mut self, group: &str, answer: CoordinatorAnswer) {
        if answer == CoordinatorAnswer::Moved {
            self.by_group.remove(group);
        }
    }

    /// Forgets every coordinator on `node` (its connection failed).
    pub fn forget_node(&mut self, node: i32) {
        self.by_group.retain(|_, n| *n != node);
    }

    /// Forgets the groups no longer watched.
    pub fn retain(&mut self, watched: &BTreeSet<String>) {
        self.by_group.retain(|g, _| watched.contains(g));
    }
}

/// Ticks between two reads of every watched partition's log start: in between, only the partitions where it
/// matters are read (see [`log_start_needed`]).
pub const LOG_START_REFRESH_TICKS: u64 = 10;

/// One group as [`log_start_needed`] sees it: the topics it reads and its committed offsets.
pub type Reader<'a> = (&'a BTreeSet<String>, &'a PartitionMap<i64>);

/// The partitions whose log start this tick reads: every one on a refresh tick (each
/// [`LOG_START_REFRESH_TICKS`]th), else those where a group's lag depends on it — its log start is not known yet,
/// or a group reading its topic has no committed offset there, or one at or below the log start last read
/// (retention or DeleteRecords may have moved it further since).
pub fn log_start_needed(
    tick: u64,
    partitions: &BTreeSet<TopicPartition>,
    known: &BTreeMap<TopicPartition, i64>,
    readers: &[Reader<'_>],
) -> BTreeSet<TopicPartition> {
    if tick.is_multiple_of(LOG_START_REFRESH_TICKS) {
        return partitions.clone();
    }
    // The readers of each topic, looked up once per partition: asking every reader about every partition cost
    // 16 million set lookups a tick at 1,000 groups of 16 partitions (half the operator's CPU).
    let mut by_topic: BTreeMap<&str, Vec<&PartitionMap<i64>>> = BTreeMap::new();
    for (topics, committed) in readers {
        for t in topics.iter() {
            by_topic.entry(t.as_str()).or_default().push(committed);
        }
    }
    partitions
        .iter()
        .filter(|tp| match known.get(*tp) {
            None => true,
            Some(start) => by_topic
                .get(&*tp.topic)
                .is_some_and(|readers| readers.iter().any(|c| c.get(tp).is_none_or(|c| *c <= *start))),
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition { topic: topic.into(), partition }
    }

    #[test]
    fn groups_split_by_coordinator_one_batch_each() {
        let mut cache = CoordinatorCache::default();
        cache.set("a", 1);
        cache.set("b", 2);
        cache.set("c", 1);
        let watched: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let (batches, unplaced) = by_node(watched.iter().cloned(), |g| cache.get(g));
        let expected: BTreeMap<i32, Vec<String>> =
            [(1, vec!["a".to_string(), "c".to_string()]), (2, vec!["b".to_string()])].into();
        assert_eq!(batches, expected);
        assert_eq!(unplaced, vec!["d".to_string()]);
        // Only the group without a known coordinator is looked up.
        assert_eq!(cache.missing(&watched), vec!["d".to_string()]);
    }

    #[test]
    fn partitions_split_by_leader() {
        let leaders: BTreeMap<TopicPartition, i32> = [(tp("t", 0), 1), (tp("t", 1), 2), (tp("u", 0), 1)].into();
        let all = [tp("t", 0), tp("t", 1), tp("u", 0), tp("gone", 0)];
        let (batches, unplaced) = by_node(all, |p| leaders.get(p).copied());
        assert_eq!(batches.len(), 2, "one request per leader, however many partitions");
        assert_eq!(batches[&1], vec![tp("t", 0), tp("u", 0)]);
        assert_eq!(batches[&2], vec![tp("t", 1)]);
        assert_eq!(unplaced, vec![tp("gone", 0)]);
    }

    #[test]
    fn coordinator_answers_move_or_keep_the_cache() {
        let table = [
            (0, CoordinatorAnswer::Answered),
            (14, CoordinatorAnswer::Loading),
            (15, CoordinatorAnswer::Moved),
            (16, CoordinatorAnswer::Moved),
            (30, CoordinatorAnswer::Answered), // GROUP_AUTHORIZATION_FAILED: not about the coordinator
            (69, CoordinatorAnswer::Answered), // GROUP_ID_NOT_FOUND
        ];
        for (code, want) in table {
            assert_eq!(coordinator_answer(code), want, "error code {code}");
        }
    }

    #[test]
    fn a_coordinator_move_is_looked_up_again_and_a_vanished_group_is_forgotten() {
        let mut cache = CoordinatorCache::default();
        for (g, n) in [("a", 1), ("b", 1), ("c", 2)] {
            cache.set(g, n);
        }
        let watched: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        cache.answered("a", coordinator_answer(16));
        cache.answered("b", coordinator_answer(14));
        cache.answered("c", coordinator_answer(0));
        assert_eq!(cache.missing(&watched), vec!["a".to_string()]);
        cache.set("a", 2);
        assert_eq!(cache.missing(&watched), Vec::<String>::new());
        // Broker 2 failed: its groups are looked up again.
        cache.forget_node(2);
        assert_eq!(cache.missing(&watched), vec!["a".to_string(), "c".to_string()]);
        // A group no longer watched is dropped from the cache.
        cache.set("a", 1);
        cache.retain(&["a".to_string()].into());
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.get("a"), Some(1));
    }

    #[test]
    fn log_start_is_read_where_lag_depends_on_it() {
        let parts: BTreeSet<TopicPartition> = [tp("t", 0), tp("t", 1), tp("t", 2), tp("t", 3)].into();
        let known: BTreeMap<TopicPartition, i64> = [(tp("t", 0), 10), (tp("t", 1), 10), (tp("t", 2), 10)].into();
        // Group 1 committed past the log start on 0 and 1, at it on 2; group 2 committed on 0 alone; group 3 reads
        // another topic (its missing commits here do not count).
        let g1: PartitionMap<i64> = [(tp("t", 0), 50), (tp("t", 1), 50), (tp("t", 2), 10)].into();
        let g2: PartitionMap<i64> = [(tp("t", 0), 60)].into();
        let g3: PartitionMap<i64> = PartitionMap::default();
        let (t, u): (BTreeSet<String>, BTreeSet<String>) = (["t".to_string()].into(), ["u".to_string()].into());
        let table: [(u64, Vec<Reader<'_>>, Vec<TopicPartition>); 5] = [
            // t-1: group 2 has no commit there; t-2: group 1 sits at the log start; t-3: never read.
            (3, vec![(&t, &g1), (&t, &g2)], vec![tp("t", 1), tp("t", 2), tp("t", 3)]),
            (3, vec![(&t, &g1)], vec![tp("t", 2), tp("t", 3)]),
            (3, vec![(&t, &g1), (&u, &g3)], vec![tp("t", 2), tp("t", 3)]),
            (7, vec![], vec![tp("t", 3)]),
            // A refresh tick reads them all.
            (20, vec![(&t, &g1)], parts.iter().cloned().collect()),
        ];
        for (tick, readers, want) in table {
            let got: Vec<TopicPartition> = log_start_needed(tick, &parts, &known, &readers).into_iter().collect();
            assert_eq!(got, want, "tick {tick}, {} reader(s)", readers.len());
        }
    }
}
