//! Replication-factor changes: the replica lists a partition reassignment moves to, and how far one has got. Pure.
//!
//! The target keeps every replica it can, the first (the preferred leader) above all, so leadership does not move
//! and the least data is copied; new replicas go to the brokers holding the fewest replicas of the topic, and
//! surplus ones leave the most loaded brokers. A partition is done when Kafka no longer lists it as reassigning and
//! all its replicas are in sync.

use std::collections::{BTreeMap, BTreeSet};

use super::problem::Problem;

/// One partition as Kafka describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionReplicas {
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// The new replica lists, for the partitions whose list changes (empty: nothing to move).
pub fn target_assignment(
    current: &[PartitionReplicas],
    brokers: &[i32],
    rf: i32,
) -> Result<Vec<(i32, Vec<i32>)>, Problem> {
    let brokers: BTreeSet<i32> = brokers.iter().copied().collect();
    if rf < 1 || rf as usize > brokers.len() {
        return Err(Problem::new(
            "NotEnoughBrokers",
            format!(
                "spec.replicationFactor {rf} needs {rf} brokers; the cluster has {} ({})",
                brokers.len(),
                brokers.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let order: Vec<i32> = brokers.iter().copied().collect();
    let mut load: BTreeMap<i32, usize> = order.iter().map(|b| (*b, 0)).collect();
    for p in current {
        for r in &p.replicas {
            if let Some(n) = load.get_mut(r) {
                *n += 1;
            }
        }
    }
    let mut partitions: Vec<&PartitionReplicas> = current.iter().collect();
    partitions.sort_by_key(|p| p.partition);
    let mut moves = vec![];
    for p in partitions {
        // Replicas on brokers that are gone are dropped first: they cannot catch up.
        let mut target: Vec<i32> = p.replicas.iter().copied().filter(|r| brokers.contains(r)).collect();
        while target.len() > rf as usize {
            // Never the first replica; among the rest the most loaded broker, the later one on a tie.
            let (idx, _) = target
                .iter()
                .enumerate()
                .skip(1)
                .max_by_key(|(i, b)| (load[b], *i))
                .expect("more than one replica here");
            let gone = target.remove(idx);
            *load.get_mut(&gone).expect("known broker") -= 1;
        }
        while target.len() < rf as usize {
            // The least loaded broker not yet in the list; ties rotate with the partition so they spread.
            let n = order.len();
            let pick = order
                .iter()
                .enumerate()
                .filter(|(_, b)| !target.contains(b))
                .min_by_key(|(i, b)| (load[b], (i + n - (p.partition.max(0) as usize % n)) % n))
                .map(|(_, b)| *b)
                .expect("rf <= brokers, so a broker is free");
            *load.get_mut(&pick).expect("known broker") += 1;
            target.push(pick);
        }
        if target != p.replicas {
            moves.push((p.partition, target));
        }
    }
    Ok(moves)
}

/// How far a replication-factor change has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub done: i32,
    pub total: i32,
}

impl Progress {
    pub fn complete(&self) -> bool {
        self.done == self.total
    }
}

/// Counts the partitions that have `rf` replicas, all in sync, and are not listed by Kafka as reassigning.
pub fn progress(current: &[PartitionReplicas], reassigning: &BTreeSet<i32>, rf: i32) -> Progress {
    let done = current
        .iter()
        .filter(|p| {
            !reassigning.contains(&p.partition)
                && p.replicas.len() == rf as usize
                && p.replicas.iter().all(|r| p.isr.contains(r))
        })
        .count();
    Progress { done: done as i32, total: current.len() as i32 }
}

/// True when some partition's replica count differs from `rf`.
pub fn needs_change(current: &[PartitionReplicas], rf: i32) -> bool {
    current.iter().any(|p| p.replicas.len() != rf as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(lists: &[&[i32]]) -> Vec<PartitionReplicas> {
        lists
            .iter()
            .enumerate()
            .map(|(i, r)| PartitionReplicas { partition: i as i32, replicas: r.to_vec(), isr: r.to_vec() })
            .collect()
    }

    fn replica_counts(current: &[PartitionReplicas], moves: &[(i32, Vec<i32>)]) -> BTreeMap<i32, usize> {
        let mut counts = BTreeMap::new();
        for p in current {
            let list = moves.iter().find(|(q, _)| *q == p.partition).map(|(_, l)| l).unwrap_or(&p.replicas);
            for b in list {
                *counts.entry(*b).or_default() += 1;
            }
        }
        counts
    }

    #[test]
    fn an_increase_keeps_the_leader_first_and_spreads_new_replicas_evenly() {
        let current = parts(&[&[1], &[2], &[3], &[1], &[2], &[3]]);
        let moves = target_assignment(&current, &[1, 2, 3], 2).unwrap();
        assert_eq!(moves.len(), 6);
        for (p, list) in &moves {
            assert_eq!(list[0], current[*p as usize].replicas[0], "leader of {p} moved: {list:?}");
            assert_eq!(list.len(), 2);
            let distinct: BTreeSet<_> = list.iter().collect();
            assert_eq!(distinct.len(), 2, "duplicate broker in {list:?}");
        }
        // 12 replicas over 3 brokers: 4 each.
        assert_eq!(replica_counts(&current, &moves).values().copied().collect::<Vec<_>>(), vec![4, 4, 4]);
    }

    #[test]
    fn an_increase_to_every_broker_and_a_decrease_drop_from_the_most_loaded_never_the_leader() {
        let current = parts(&[&[1], &[1], &[2]]);
        let up = target_assignment(&current, &[1, 2, 3], 3).unwrap();
        assert!(up.iter().all(|(p, l)| l.len() == 3 && l[0] == current[*p as usize].replicas[0]), "{up:?}");

        let current = parts(&[&[1, 2, 3], &[2, 3, 1], &[3, 1, 2], &[1, 2, 3]]);
        let down = target_assignment(&current, &[1, 2, 3], 2).unwrap();
        assert_eq!(down.len(), 4);
        for (p, list) in &down {
            assert_eq!(list.len(), 2);
            assert_eq!(list[0], current[*p as usize].replicas[0], "leader of {p} dropped");
        }
        let counts = replica_counts(&current, &down);
        let (min, max) = (counts.values().min().unwrap(), counts.values().max().unwrap());
        assert!(max - min <= 1, "uneven after the decrease: {counts:?}");
    }

    #[test]
    fn nothing_moves_when_the_factor_already_matches_and_too_few_brokers_is_refused() {
        let current = parts(&[&[1, 2], &[2, 3]]);
        assert_eq!(target_assignment(&current, &[1, 2, 3], 2).unwrap(), vec![]);
        let refused = target_assignment(&current, &[1, 2, 3], 4).unwrap_err();
        assert_eq!(refused.reason, "NotEnoughBrokers");
        assert!(refused.message.contains("spec.replicationFactor 4") && refused.message.contains("has 3"));
        assert!(needs_change(&current, 3) && !needs_change(&current, 2));
    }

    #[test]
    fn replicas_on_departed_brokers_are_replaced() {
        let current = parts(&[&[1, 9]]);
        let moves = target_assignment(&current, &[1, 2, 3], 2).unwrap();
        assert_eq!(moves.len(), 1);
        assert_eq!(moves[0].1[0], 1);
        assert!(!moves[0].1.contains(&9) && moves[0].1.len() == 2, "{moves:?}");
    }

    #[test]
    fn progress_counts_partitions_in_sync_and_not_reassigning() {
        let mut current = parts(&[&[1, 2, 3], &[2, 3, 1], &[3, 1, 2]]);
        current[1].isr = vec![2, 3];
        let reassigning: BTreeSet<i32> = [2].into();
        let p = progress(&current, &reassigning, 3);
        assert_eq!(p, Progress { done: 1, total: 3 });
        assert!(!p.complete());
        current[1].isr = vec![2, 3, 1];
        let p = progress(&current, &BTreeSet::new(), 3);
        assert!(p.complete(), "{p:?}");
        // A partition with one replica too many (the old one not yet removed) is not done.
        current[0].replicas = vec![1, 2, 3, 4];
        assert_eq!(progress(&current, &BTreeSet::new(), 3).done, 2);
    }
}
