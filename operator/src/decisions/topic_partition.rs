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
}
