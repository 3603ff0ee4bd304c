//! Burrow-style partition status: judge a consumer by the shape of its last few commits rather than by a lag
//! threshold.
//!
//! Each partition keeps a [`CommitWindow`] of its last N (default 10) commits, each a (time, committed offset, lag)
//! sample. The rules, first match wins:
//! 1. **Rewind**: a committed offset went backwards (an offset reset, or a consumer restarted from old state).
//! 2. **Ok** when the consumer is caught up now (current lag 0): nothing else is a problem then.
//! 3. **Stop**: the newest commit is older than the window's span (`now − newest > newest − oldest`): the consumer
//!    stopped committing.
//! 4. **Stall**: the window is full, lag was never 0 in it and every committed offset is the same: the consumer
//!    is alive but not moving (a poison record retried forever).
//! 5. **Warn**: the window is full, lag was never 0 in it and never decreased, and rose at least once: the consumer
//!    moves but falls behind.
//! 6. **Ok** otherwise.
//!
//! Stall and Warn need a full window so that two noisy samples do not raise an alarm; Stop needs two samples so
//! that the window has a span. A group's status is its worst partition's.
//!
//! Feeding the window: Kafka's OffsetFetch has no commit time, so a poller records a sample when it sees the
//! committed offset change, and also on each poll while a live group member owns the partition. A live but stuck
//! consumer then reads as Stall, and a dead one (no member, no new offsets) reads as Stop once its silence is
//! longer than the window's span.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::api::consumer_group::PartitionStatus;

/// The partitions whose lag must not drive scaling: more replicas do not move a stalled partition (its consumer
/// commits but stays on one record: a poison record) or a stopped one (its consumer stopped committing). A group
/// without members is different: nobody commits because nobody runs (scaled to zero), so its partitions read as
/// stopped, and their lag is exactly what must wake it.
pub fn held_from_scaling<K: Ord + Clone>(health: &BTreeMap<K, PartitionStatus>, members: i32) -> BTreeSet<K> {
    health
        .iter()
        .filter(|(_, status)| match status {
            PartitionStatus::Stall => true,
            PartitionStatus::Stop => members > 0,
            _ => false,
        })
        .map(|(partition, _)| partition.clone())
        .collect()
}

/// One commit of one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitSample {
    pub at_ms: i64,
    pub committed: i64,
    /// The partition's lag when the commit was seen.
    pub lag: i64,
}

/// The last N commits of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitWindow {
    samples: VecDeque<CommitSample>,
    capacity: usize,
}

impl Default for CommitWindow {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl CommitWindow {
    /// Burrow's default window.
    pub const DEFAULT_CAPACITY: usize = 10;

    /// An empty window of at most `capacity` commits (at least 2).
    pub fn with_capacity(capacity: usize) -> Self {
        // The window grows as commits come: a partition nobody commits on keeps one sample, not room for N.
        Self { samples: VecDeque::new(), capacity: capacity.max(2) }
    }

    /// Adds a commit. A sample older than the newest is ignored; one at the same time replaces it.
    pub fn record(&mut self, sample: CommitSample) {
        if let Some(newest) = self.samples.back() {
            if sample.at_ms < newest.at_ms {
                return;
            }
            if sample.at_ms == newest.at_ms {
                self.samples.pop_back();
            }
        }
        self.samples.push_back(sample);
        while self.samples.len() > self.capacity {
            self.samples.pop_front();
        }
    }

    /// The stored commits, oldest first.
    pub fn samples(&self) -> impl ExactSizeIterator<Item = CommitSample> + '_ {
        self.samples.iter().copied()
    }

    /// Whether the window holds its full N commits.
    pub fn is_full(&self) -> bool {
        self.samples.len() >= self.capacity
    }

    /// The partition's status at `now_ms`, given its lag now (which may have moved since the newest commit).
    pub fn status(&self, now_ms: i64, current_lag: i64) -> PartitionStatus {
        match self.samples.as_slices() {
            (samples, []) => partition_status(samples, self.is_full(), now_ms, current_lag),
            _ => {
                let samples: Vec<CommitSample> = self.samples().collect();
                partition_status(&samples, self.is_full(), now_ms, current_lag)
            }
        }
    }
}

/// Burrow's rules (see the module docs) over `samples`, oldest first; `full` says whether they fill the window.
pub fn partition_status(samples: &[CommitSample], full: bool, now_ms: i64, current_lag: i64) -> PartitionStatus {
    if samples.windows(2).any(|pair| pair[1].committed < pair[0].committed) {
        return PartitionStatus::Rewind;
    }
    let (Some(oldest), Some(newest)) = (samples.first(), samples.last()) else {
        return PartitionStatus::Ok;
    };
    if current_lag <= 0 {
        return PartitionStatus::Ok;
    }
    if samples.len() >= 2 && now_ms - newest.at_ms > newest.at_ms - oldest.at_ms {
        return PartitionStatus::Stop;
    }
    if !full || samples.iter().any(|sample| sample.lag <= 0) {
        return PartitionStatus::Ok;
    }
    if samples.iter().all(|sample| sample.committed == oldest.committed) {
        return PartitionStatus::Stall;
    }
    let never_decreasing = samples.windows(2).all(|pair| pair[1].lag >= pair[0].lag);
    let rose = samples.windows(2).any(|pair| pair[1].lag > pair[0].lag);
    if never_decreasing && rose {
        return PartitionStatus::Warn;
    }
    PartitionStatus::Ok
}

/// A group's status: its worst partition's (`Ok` for a group with no partitions).
pub fn group_status(partitions: impl IntoIterator<Item = PartitionStatus>) -> PartitionStatus {
    partitions.into_iter().max().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopped_partitions_of_a_group_without_members_still_drive_scaling() {
        use PartitionStatus::*;
        let health: BTreeMap<i32, PartitionStatus> = [(0, Ok), (1, Stall), (2, Stop), (3, Warn), (4, Rewind)].into();
        let cases = [
            (2, vec![1, 2], "members: stalled and stopped partitions are held out"),
            (0, vec![1], "asleep at zero: stopped means nobody runs, its lag wakes the group"),
        ];
        for (members, held, why) in cases {
            assert_eq!(held_from_scaling(&health, members).into_iter().collect::<Vec<_>>(), held, "{why}");
        }
    }

    /// Ten commits 10 s apart (t = 0..90 s) with the given offsets and lags.
    fn window(offsets: [i64; 10], lags: [i64; 10]) -> CommitWindow {
        let mut window = CommitWindow::default();
        for (at_ms, (committed, lag)) in (0..).step_by(10_000).zip(offsets.into_iter().zip(lags)) {
            window.record(CommitSample { at_ms, committed, lag });
        }
        window
    }

    const MOVING: [i64; 10] = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000];
    const STUCK: [i64; 10] = [500; 10];
    const RISING: [i64; 10] = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    const FALLING: [i64; 10] = [100, 90, 80, 70, 60, 50, 40, 30, 20, 10];
    const NOISY: [i64; 10] = [10, 30, 20, 40, 30, 50, 40, 60, 50, 70];
    const FLAT: [i64; 10] = [50; 10];
    const TOUCHES_ZERO: [i64; 10] = [10, 20, 0, 40, 50, 60, 70, 80, 90, 100];

    #[test]
    fn burrow_rules_table() {
        let rewound = [100, 200, 300, 400, 50, 60, 70, 80, 90, 100];
        // (offsets, lags, now_ms, current lag, expected, why)
        type Case = ([i64; 10], [i64; 10], i64, i64, PartitionStatus, &'static str);
        let cases: &[Case] = &[
            (MOVING, FALLING, 95_000, 5, PartitionStatus::Ok, "moving and catching up"),
            (MOVING, RISING, 95_000, 110, PartitionStatus::Warn, "moving but falling behind"),
            (MOVING, NOISY, 95_000, 75, PartitionStatus::Ok, "lag went down at times"),
            (MOVING, FLAT, 95_000, 50, PartitionStatus::Ok, "keeping pace, lag not rising"),
            (MOVING, TOUCHES_ZERO, 95_000, 110, PartitionStatus::Ok, "lag was 0 in the window"),
            (STUCK, RISING, 95_000, 110, PartitionStatus::Stall, "offsets identical with lag"),
            (STUCK, FLAT, 95_000, 50, PartitionStatus::Stall, "offsets identical with steady lag"),
            (STUCK, TOUCHES_ZERO, 95_000, 110, PartitionStatus::Ok, "identical offsets but caught up once"),
            (STUCK, FLAT, 95_000, 0, PartitionStatus::Ok, "caught up now: idle topic, nothing to read"),
            (MOVING, RISING, 180_000, 110, PartitionStatus::Warn, "silent for exactly the span (90 s) is not a stop"),
            (MOVING, RISING, 180_001, 110, PartitionStatus::Stop, "silent for longer than the span"),
            (STUCK, FLAT, 200_000, 50, PartitionStatus::Stop, "stop wins over stall"),
            (MOVING, FALLING, 200_000, 0, PartitionStatus::Ok, "silent but caught up: nothing to commit"),
            (rewound, RISING, 95_000, 110, PartitionStatus::Rewind, "offset went back"),
            (rewound, FALLING, 200_000, 0, PartitionStatus::Rewind, "rewind wins over everything"),
        ];
        for &(offsets, lags, now_ms, current_lag, expected, why) in cases {
            assert_eq!(window(offsets, lags).status(now_ms, current_lag), expected, "{why}");
        }
    }

    #[test]
    fn partial_windows() {
        let sample = |at_ms, committed, lag| CommitSample { at_ms, committed, lag };
        // (samples, full, now, current lag, expected, why)
        type Case = (&'static [CommitSample], bool, i64, i64, PartitionStatus, &'static str);
        let stuck =
            &[CommitSample { at_ms: 0, committed: 5, lag: 9 }, CommitSample { at_ms: 5000, committed: 5, lag: 9 }];
        let cases: &[Case] = &[
            (&[], false, 0, 10, PartitionStatus::Ok, "no commits yet"),
            (stuck, false, 5000, 9, PartitionStatus::Ok, "two identical commits are not yet a stall"),
            (stuck, true, 5000, 9, PartitionStatus::Stall, "the same commits filling a window are"),
            (stuck, false, 10_001, 9, PartitionStatus::Stop, "two commits are enough to tell a stop"),
        ];
        for &(samples, full, now_ms, current_lag, expected, why) in cases {
            assert_eq!(partition_status(samples, full, now_ms, current_lag), expected, "{why}");
        }
        let mut single = CommitWindow::default();
        single.record(sample(0, 5, 9));
        assert_eq!(single.status(1_000_000, 9), PartitionStatus::Ok, "one commit has no span");
    }

    #[test]
    fn window_keeps_the_last_commits_in_order() {
        let mut window = CommitWindow::with_capacity(3);
        for at_ms in [0, 10, 20, 30, 25, 30] {
            window.record(CommitSample { at_ms, committed: at_ms, lag: 1 });
        }
        let times: Vec<i64> = window.samples().map(|sample| sample.at_ms).collect();
        assert_eq!(times, [10, 20, 30]);
        assert!(window.is_full());
    }

    #[test]
    fn group_takes_the_worst_partition() {
        use PartitionStatus as S;
        let cases: &[(&[S], S)] = &[
            (&[], S::Ok),
            (&[S::Ok, S::Ok], S::Ok),
            (&[S::Ok, S::Warn, S::Ok], S::Warn),
            (&[S::Warn, S::Stall], S::Stall),
            (&[S::Stall, S::Stop, S::Warn], S::Stop),
            (&[S::Stop, S::Rewind, S::Ok], S::Rewind),
        ];
        for &(partitions, expected) in cases {
            assert_eq!(group_status(partitions.iter().copied()), expected, "{partitions:?}");
        }
        let words: Vec<&str> =
            [S::Ok, S::Warn, S::Stall, S::Stop, S::Rewind].iter().map(|status| status.as_str()).collect();
        assert_eq!(words, ["OK", "Warn", "Stalled", "Stopped", "Rewound"]);
    }
}
