//! The key of every per-partition map of the lag tick and the group memory: a topic partition whose topic name is
//! one shared allocation, compared by pointer where two keys hold the same one.

use std::sync::Arc;

/// A topic partition. The topic's name is shared: the thousands of keys a tick makes for one topic's partitions
/// (and every copy of them kept between ticks) point to one allocation of its name.
///
/// Ordered by topic name, then partition. Two keys holding the same allocation of the name are compared by their
/// partitions alone: the lag tick hands out one allocation per topic name (see `kafka::lag_tick`), so the map
/// lookups of a tick (16,000 partitions at 1,000 groups) compare pointers, not names.
#[derive(Clone, Debug)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

impl PartialEq for TopicPartition {
    fn eq(&self, other: &Self) -> bool {
        self.partition == other.partition && (Arc::ptr_eq(&self.topic, &other.topic) || self.topic == other.topic)
    }
}

impl Eq for TopicPartition {}

impl Ord for TopicPartition {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.topic, &other.topic) {
            return self.partition.cmp(&other.partition);
        }
        self.topic.cmp(&other.topic).then(self.partition.cmp(&other.partition))
    }
}

impl PartialOrd for TopicPartition {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Hashes what `eq` compares: the name's text and the partition.
impl std::hash::Hash for TopicPartition {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.topic.hash(state);
        self.partition.hash(state);
    }
}

/// One shared allocation per topic name: the lag tick's keys of a topic's partitions all hold it, so they compare
/// by pointer. A name nothing else holds any more is dropped by [`TopicNames::forget_unused`].
#[derive(Debug, Default)]
pub struct TopicNames(std::collections::HashSet<Arc<str>>);

impl TopicNames {
    /// The shared allocation of `name`.
    pub fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(name) {
            return shared.clone();
        }
        let shared: Arc<str> = name.into();
        self.0.insert(shared.clone());
        shared
    }

    /// Drops the names only this table still holds.
    pub fn forget_unused(&mut self) {
        self.0.retain(|name| Arc::strong_count(name) > 1);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TopicPartition {
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> TopicPartition {
        TopicPartition { topic: topic.into(), partition }
    }
}

/// A small read-only map by topic partition: its entries in one sorted list, looked up by binary search. A lag
/// tick keeps one per group (its committed offsets, 16 entries at 16 partitions), and a list holds them in half
/// the memory of a `BTreeMap`'s nodes, in one allocation instead of three.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionMap<V>(Vec<(TopicPartition, V)>);

impl<V> Default for PartitionMap<V> {
    fn default() -> Self {
        PartitionMap(Vec::new())
    }
}

impl<V> PartitionMap<V> {
    pub fn get(&self, tp: &TopicPartition) -> Option<&V> {
        self.0.binary_search_by(|(k, _)| k.cmp(tp)).ok().map(|i| &self.0[i].1)
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&TopicPartition, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &TopicPartition> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl ExactSizeIterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Sorted by key; of entries with the same key the last one stays (as inserting them into a map would).
impl<V> FromIterator<(TopicPartition, V)> for PartitionMap<V> {
    fn from_iter<I: IntoIterator<Item = (TopicPartition, V)>>(iter: I) -> Self {
        let mut entries: Vec<(TopicPartition, V)> = iter.into_iter().collect();
        // Stable: equal keys keep their order, so the last of them is the one kept below.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(TopicPartition, V)> = Vec::with_capacity(entries.len());
        for e in entries {
            match out.last_mut() {
                Some(last) if last.0 == e.0 => *last = e,
                _ => out.push(e),
            }
        }
        PartitionMap(out)
    }
}

impl<V, const N: usize> From<[(TopicPartition, V); N]> for PartitionMap<V> {
    fn from(entries: [(TopicPartition, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_and_separate_names_order_the_same() {
        let mut names = TopicNames::default();
        let topics = ["a", "ab", "b", "orders", "orders-dlq"];
        let mut keys = vec![];
        for t in topics {
            for p in [2, 0, 10] {
                // The same partition twice: once with the shared name, once with a name of its own.
                keys.push(TopicPartition { topic: names.get(t), partition: p });
                keys.push(TopicPartition::new(t, p));
            }
        }
        for x in &keys {
            for y in &keys {
                let plain = (&*x.topic, x.partition).cmp(&(&*y.topic, y.partition));
                assert_eq!(x.cmp(y), plain, "{x:?} {y:?}");
                assert_eq!(x == y, plain.is_eq(), "{x:?} {y:?}");
            }
        }
        let shared = names.get("orders");
        assert!(Arc::ptr_eq(&shared, &names.get("orders")));
        // Names only the table holds are dropped; those still in a key stay.
        drop(keys);
        names.forget_unused();
        assert_eq!(names.len(), 1);
        assert!(Arc::ptr_eq(&names.get("orders"), &shared));
    }

    #[test]
    fn a_partition_map_answers_like_a_map() {
        let tp = |t: &str, p: i32| TopicPartition::new(t, p);
        let entries = [(tp("u", 0), 1), (tp("t", 2), 2), (tp("t", 0), 3), (tp("t", 2), 4), (tp("t", 10), 5)];
        let list: PartitionMap<i64> = entries.clone().into_iter().collect();
        let map: std::collections::BTreeMap<TopicPartition, i64> = entries.into_iter().collect();
        assert_eq!(list.len(), map.len());
        assert_eq!(list.iter().collect::<Vec<_>>(), map.iter().collect::<Vec<_>>(), "same order, last value kept");
        for key in [tp("t", 0), tp("t", 1), tp("t", 2), tp("t", 10), tp("u", 0), tp("a", 0), tp("z", 9)] {
            assert_eq!(list.get(&key), map.get(&key), "{key:?}");
        }
        assert!(PartitionMap::<i64>::default().is_empty() && !list.is_empty());
        assert_eq!(list.values().copied().collect::<Vec<_>>(), vec![3, 4, 5, 1]);
    }
}
