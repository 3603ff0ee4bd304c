//! One lag tick's view of the group: its state and members, and every partition's offsets, taken from its
//! connection's [`LagSnapshot`] (no request of its own).

use std::collections::{BTreeMap, BTreeSet};

use crate::decisions::lag::{PartitionOffsets, TopicPartition};
use crate::kafka::KafkaError;
use crate::kafka::lag_tick::LagSnapshot;

/// One tick's view of the group in Kafka.
#[derive(Debug, PartialEq)]
pub struct Observed {
    pub state: Option<String>,
    pub members: i32,
    /// Per partition: log start, end (read-committed), committed.
    pub offsets: BTreeMap<TopicPartition, PartitionOffsets>,
    pub partitions_per_topic: BTreeMap<String, i32>,
    /// Partitions whose end offset this tick did not bring (their leader did not answer): their lag is unknown,
    /// not zero, and they are missing from `offsets`.
    pub unanswered: BTreeSet<TopicPartition>,
}

impl Observed {
    /// Why the group's total lag is unknown this tick, if it is: a decision on it (a scale-down above all) would
    /// take the unanswered partitions for caught up.
    pub fn lag_unknown_because(&self) -> Option<String> {
        let first = self.unanswered.first()?;
        Some(format!(
            "no end offset for {} partition(s) this tick (e.g. {}-{}: its leader did not answer): the lag is unknown, \
             scaling holds",
            self.unanswered.len(),
            first.topic,
            first.partition
        ))
    }
}

/// What a snapshot says of a group.
#[derive(Debug)]
pub enum View {
    Observed(Observed),
    /// The group (or a topic it reads) was watched after this tick began: the next tick has it.
    NotYet,
    /// A topic of `spec.topics` does not exist.
    TopicNotFound(String),
    Failed(KafkaError),
}

/// The group `group` reading `topics` (Kafka names; empty: every topic it committed on) in `snap`.
pub fn view(snap: &LagSnapshot, group: &str, topics: &[String]) -> View {
    if let Some(e) = &snap.error {
        return View::Failed(e.clone());
    }
    let Some(g) = snap.groups.get(group) else { return View::NotYet };
    let committed = match (&g.committed, &g.state) {
        (Err(e), _) | (_, Err(e)) => return View::Failed(e.clone()),
        (Ok(c), Ok(_)) => c,
    };
    let topics: Vec<String> = if topics.is_empty() {
        committed.keys().map(|tp| tp.topic.to_string()).collect::<BTreeSet<_>>().into_iter().collect()
    } else {
        topics.to_vec()
    };
    let mut offsets = BTreeMap::new();
    let mut partitions_per_topic = BTreeMap::new();
    let mut unanswered = BTreeSet::new();
    for t in &topics {
        // The snapshot's name is the tick's shared one: the keys made from it compare by pointer.
        let (topic, partitions) = match snap.topics.get_key_value(t.as_str()) {
            None => return View::NotYet,
            Some((_, None)) => return View::TopicNotFound(format!("topic {t:?} in spec.topics does not exist")),
            Some((topic, Some(ps))) => (topic.clone(), ps),
        };
        partitions_per_topic.insert(t.clone(), partitions.len() as i32);
        for &(p, ends) in partitions {
            let tp = TopicPartition::new(topic.clone(), p);
            // A partition whose leader did not answer this tick is left out of the offsets, and named.
            let Some(end) = ends.end else {
                unanswered.insert(tp);
                continue;
            };
            let c = committed.get(&tp).copied();
            offsets.insert(tp, PartitionOffsets { end, committed: c, log_start: ends.log_start });
        }
    }
    let (state, members) = match &g.state {
        Ok(Some((s, m))) => (Some(s.clone()), *m),
        _ => (None, 0),
    };
    View::Observed(Observed { state, members, offsets, partitions_per_topic, unanswered })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::lag_tick::{GroupSnapshot, PartitionEnds};

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition { topic: topic.into(), partition }
    }

    fn snapshot() -> LagSnapshot {
        let ends = |end: Option<i64>, log_start| PartitionEnds { end, log_start };
        let mut s = LagSnapshot { tick: 3, at_ms: 1_000, ..Default::default() };
        s.topics.insert("t".into(), Some(vec![(0, ends(Some(10), 0)), (1, ends(Some(20), 5)), (2, ends(None, 0))]));
        s.topics.insert("u".into(), Some(vec![(0, ends(Some(7), 0))]));
        s.topics.insert("gone".into(), None);
        s.groups.insert(
            "g".into(),
            GroupSnapshot {
                committed: Ok([(tp("t", 0), 4), (tp("u", 0), 7)].into()),
                state: Ok(Some(("Stable".into(), 2))),
            },
        );
        s.groups.insert("new".into(), GroupSnapshot { committed: Ok(Default::default()), state: Ok(None) });
        s.groups.insert("moved".into(), GroupSnapshot { committed: Err(KafkaError::Timeout), state: Ok(None) });
        s
    }

    #[test]
    fn a_group_is_read_from_the_snapshot() {
        let s = snapshot();
        let View::Observed(o) = view(&s, "g", &["t".to_string()]) else { panic!("observed") };
        assert_eq!((o.state.as_deref(), o.members), (Some("Stable"), 2));
        assert_eq!(o.partitions_per_topic, [("t".to_string(), 3)].into());
        // t-2's leader did not answer: left out. t-1 has no commit: counted from its log start.
        let want: BTreeMap<TopicPartition, PartitionOffsets> = [
            (tp("t", 0), PartitionOffsets { end: 10, committed: Some(4), log_start: 0 }),
            (tp("t", 1), PartitionOffsets { end: 20, committed: None, log_start: 5 }),
        ]
        .into();
        assert_eq!(o.offsets, want);
        assert_eq!(o.offsets[&tp("t", 1)].lag(), 15);
        // …and its lag is unknown, not zero: the group's total is not to be decided on.
        assert_eq!(o.unanswered, [tp("t", 2)].into());
        let why = o.lag_unknown_because().expect("the lag is unknown");
        assert!(why.contains("1 partition(s)") && why.contains("t-2"), "{why}");
        // No topics named: those it committed on.
        let View::Observed(all) = view(&s, "g", &[]) else { panic!("observed") };
        assert_eq!(all.partitions_per_topic.keys().collect::<Vec<_>>(), vec!["t", "u"]);
        // Every partition of u answered: its lag is known.
        let View::Observed(u) = view(&s, "g", &["u".to_string()]) else { panic!("observed") };
        assert_eq!(u.lag_unknown_because(), None);
        // A group Kafka does not know, reading nothing yet.
        let View::Observed(new) = view(&s, "new", &[]) else { panic!("observed") };
        assert_eq!((new.state, new.members, new.offsets.len()), (None, 0, 0));
    }

    #[test]
    fn missing_groups_topics_and_failures_are_told_apart() {
        let s = snapshot();
        assert!(matches!(view(&s, "unwatched", &[]), View::NotYet));
        assert!(matches!(view(&s, "g", &["later".to_string()]), View::NotYet));
        assert!(matches!(view(&s, "g", &["gone".to_string()]), View::TopicNotFound(m) if m.contains("gone")));
        assert!(matches!(view(&s, "moved", &[]), View::Failed(KafkaError::Timeout)));
        let failed = LagSnapshot { error: Some(KafkaError::Unreachable("down".into())), ..snapshot() };
        assert!(matches!(view(&failed, "g", &[]), View::Failed(KafkaError::Unreachable(_))));
    }
}
