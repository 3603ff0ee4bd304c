//! When a ConsumerGroup's status is written. Decisions run on every lag tick (about a second); the status is
//! for humans and tools that read it, and every write wakes every watcher of the object. So a status is written at
//! once when something other than the lag figures changed — a condition's status or reason, a scaling action, the
//! group's state or members, an offset reset's progress, the partitions' health — and, when only the figures moved
//! (lag in records and seconds, condition messages quoting them), at most once per status interval, in the group's
//! own slot of it ([`FigurePace`]), so that groups created together do not write their figures together ever after.

use crate::api::consumer_group::ConsumerGroupStatus;
use crate::decisions::hash::fnv32;

/// The least time between two writes of one group's lag figures alone, in ms: the status interval, or longer when
/// `groups` groups writing that often would exceed `per_second` writes a second over all of them. At the defaults
/// (10 s, 20 a second) 200 groups keep the 10 s; 1,000 lagging groups are written every 50 s each, 20 writes a
/// second in all instead of 100. The autoscaler and /metrics do not wait for it.
pub fn figure_interval_ms(interval_ms: i64, groups: usize, per_second: u32) -> i64 {
    let spread = (groups as i64).saturating_mul(1000) / i64::from(per_second.max(1));
    interval_ms.max(spread)
}

/// When one group's lag figures alone are written: once per interval, when the group's own slot of the interval
/// comes round. The slots are shifted per group by a phase taken from its name, so the figure writes of many
/// groups spread evenly over the interval. Without it, 1,000 groups created together (or written together after a
/// restart) write their figures in the same tick every interval: a thousand applies at once, then none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FigurePace {
    interval_ms: i64,
    phase_ms: i64,
}

impl FigurePace {
    /// The pace of the group named `key` (`namespace/name`) at `interval_ms` (see [`figure_interval_ms`]).
    pub fn new(interval_ms: i64, key: &str) -> FigurePace {
        let interval_ms = interval_ms.max(1);
        // Stable across builds and restarts, so a group keeps its slot.
        FigurePace { interval_ms, phase_ms: i64::from(fnv32(key)) % interval_ms }
    }

    fn slot(&self, at_ms: i64) -> i64 {
        (at_ms + self.phase_ms).div_euclid(self.interval_ms)
    }

    /// Whether figures last written at `last_write_ms` (`None`: not known, e.g. after a restart) are due at
    /// `now_ms`: the group's next slot has begun. Steadily, that is once per interval, each group at its own time.
    pub fn due(&self, last_write_ms: Option<i64>, now_ms: i64) -> bool {
        last_write_ms.is_none_or(|last| self.slot(now_ms) > self.slot(last))
    }
}

/// Whether to write `next` over `current` (`None`: nothing written yet) at `now_ms`, the last write at
/// `last_write_ms`, the lag figures alone at `pace`.
pub fn status_write_due(
    current: Option<&ConsumerGroupStatus>,
    next: &ConsumerGroupStatus,
    last_write_ms: Option<i64>,
    now_ms: i64,
    pace: FigurePace,
) -> bool {
    let Some(current) = current else { return true };
    if current == next {
        return false;
    }
    if !same_but_figures(current, next) {
        return true;
    }
    pace.due(last_write_ms, now_ms)
}

/// Whether two statuses differ at most in their lag figures (and the condition messages that quote them). Compared
/// field by field, without copies: this runs for every group on every tick.
fn same_but_figures(a: &ConsumerGroupStatus, b: &ConsumerGroupStatus) -> bool {
    let conditions = a.conditions.len() == b.conditions.len()
        && a.conditions.iter().zip(&b.conditions).all(|(x, y)| {
            (&x.type_, &x.status, &x.reason, &x.last_transition_time, x.observed_generation)
                == (&y.type_, &y.status, &y.reason, &y.last_transition_time, y.observed_generation)
        });
    let topics = a.topics.len() == b.topics.len()
        && a.topics.iter().zip(&b.topics).all(|(x, y)| (&x.topic, x.partitions) == (&y.topic, y.partitions));
    let partitions = a.partitions.len() == b.partitions.len()
        && a.partitions
            .iter()
            .zip(&b.partitions)
            .all(|(x, y)| (&x.topic, x.partition, x.status) == (&y.topic, y.partition, y.status));
    // Destructured so that a field added to the status must be placed here: compared, or named a figure.
    let ConsumerGroupStatus {
        observed_generation,
        conditions: _,
        group_id,
        state,
        members,
        total_lag: _,
        max_lag_seconds: _,
        topics: _,
        partitions: _,
        desired_replicas,
        current_replicas,
        last_scale,
        offset_reset,
    } = a;
    conditions
        && topics
        && partitions
        && *observed_generation == b.observed_generation
        && *group_id == b.group_id
        && *state == b.state
        && *members == b.members
        && *desired_replicas == b.desired_replicas
        && *current_replicas == b.current_replicas
        && *last_scale == b.last_scale
        && *offset_reset == b.offset_reset
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;
    use crate::api::conditions::condition;
    use crate::api::consumer_group::{PartitionHealth, PartitionStatus, ScaleEvent, TopicLag};

    fn status(lag: i64, within_slo: bool) -> ConsumerGroupStatus {
        let mut s = ConsumerGroupStatus {
            total_lag: Some(lag),
            max_lag_seconds: Some(lag as f64 / 10.0),
            topics: vec![TopicLag { topic: "t".into(), lag, lag_seconds: Some(lag as f64 / 10.0), partitions: 4 }],
            state: Some("Stable".into()),
            members: Some(2),
            ..Default::default()
        };
        let reason = if within_slo { "WithinSLO" } else { "LagAboveSLO" };
        let mut c = condition("LagWithinSLO", within_slo, reason, format!("largest lag {} s", lag / 10), Some(1));
        c.last_transition_time = Time(Timestamp::from_second(1_000).unwrap());
        s.conditions = vec![c];
        s
    }

    #[test]
    fn the_figure_interval_stretches_with_the_groups_to_the_budget() {
        // (status interval ms, groups, writes a second over all groups, least ms between one group's writes)
        for (interval, groups, per_second, want) in [
            (10_000, 0, 20, 10_000),
            (10_000, 200, 20, 10_000),
            (10_000, 201, 20, 10_050),
            (10_000, 1_000, 20, 50_000),
            (10_000, 1_000, 0, 1_000_000),
            (60_000, 1_000, 20, 60_000),
        ] {
            let got = figure_interval_ms(interval, groups, per_second);
            assert_eq!(got, want, "{interval} ms, {groups} groups, {per_second}/s");
            // Every group writing once per interval stays within the budget, or within the status interval.
            assert!(groups as f64 * 1000.0 / got as f64 <= f64::from(per_second.max(1)) + 1e-9 || got == interval);
        }
    }

    #[test]
    fn lag_figures_alone_wait_for_the_interval_everything_else_is_written_at_once() {
        let base = status(100, true);
        let scaled = ConsumerGroupStatus {
            last_scale: Some(ScaleEvent {
                time: Time(Timestamp::from_second(2_000).unwrap()),
                from: 1,
                to: 2,
                reason: "lag".into(),
            }),
            desired_replicas: Some(2),
            ..status(500, true)
        };
        let stalled = ConsumerGroupStatus {
            partitions: vec![PartitionHealth {
                topic: "t".into(),
                partition: 0,
                status: PartitionStatus::Stall,
                lag: 5,
            }],
            ..status(100, true)
        };
        let rebalancing = ConsumerGroupStatus { state: Some("PreparingRebalance".into()), ..status(100, true) };
        let stalled_deeper = ConsumerGroupStatus {
            partitions: vec![PartitionHealth { lag: 50, ..stalled.partitions[0].clone() }],
            ..stalled.clone()
        };
        let mut another_topic = status(100, true);
        another_topic.topics.push(TopicLag { topic: "u".into(), lag: 0, lag_seconds: None, partitions: 2 });
        let mut message_only = base.clone();
        message_only.conditions[0].message = "largest lag 99 s".into();
        // A 10 s pace whose slots begin at 10 s, 20 s, …: the last write at 12 s.
        let pace = FigurePace { interval_ms: 10_000, phase_ms: 0 };
        // (case, written, next, ms since the last write, write now?)
        type Case<'a> = (&'a str, Option<&'a ConsumerGroupStatus>, ConsumerGroupStatus, Option<i64>, bool);
        let table: [Case<'_>; 13] = [
            ("first write", None, base.clone(), None, true),
            ("nothing changed", Some(&base), base.clone(), Some(60_000), false),
            ("lag moved, 1 s after the last write", Some(&base), status(300, true), Some(1_000), false),
            ("lag moved, 7.9 s after, the slot not over", Some(&base), status(300, true), Some(7_900), false),
            ("lag moved, 8 s after, the next slot begun", Some(&base), status(300, true), Some(8_000), true),
            ("lag moved, last write not known", Some(&base), status(300, true), None, true),
            ("a condition flipped", Some(&base), status(300, false), Some(1_000), true),
            ("a scaling action", Some(&base), scaled, Some(1_000), true),
            ("a partition stalled", Some(&base), stalled.clone(), Some(1_000), true),
            ("the group rebalances", Some(&base), rebalancing, Some(1_000), true),
            ("a stalled partition's lag grew", Some(&stalled), stalled_deeper, Some(1_000), false),
            ("a topic more is read", Some(&base), another_topic, Some(1_000), true),
            ("a condition's message alone", Some(&base), message_only, Some(1_000), false),
        ];
        for (case, current, next, since, want) in table {
            let last = since.map(|_| 12_000);
            let now = 12_000 + since.unwrap_or(0);
            assert_eq!(status_write_due(current, &next, last, now, pace), want, "{case}");
        }
    }

    #[test]
    fn groups_written_together_write_their_figures_spread_over_the_interval() {
        // 1,000 groups, all last written at the same moment, ticked every second for one 50 s interval.
        let interval = 50_000;
        let paces: Vec<FigurePace> =
            (0..1_000).map(|i| FigurePace::new(interval, &format!("ns/group-{i:04}"))).collect();
        let mut last = vec![Some(1_000_000_i64); paces.len()];
        let mut per_tick = vec![];
        for tick in 1..=50 {
            let now = 1_000_000 + tick * 1_000;
            let mut writes = 0;
            for (pace, last) in paces.iter().zip(&mut last) {
                if pace.due(*last, now) {
                    *last = Some(now);
                    writes += 1;
                }
            }
            per_tick.push(writes);
        }
        // Each group once in the interval, and no tick with more than a few times the even share (20).
        assert_eq!(per_tick.iter().sum::<i32>(), 1_000);
        assert!(per_tick.iter().all(|w| *w <= 45), "{per_tick:?}");
        // A group keeps its slot: due again exactly one interval after.
        let (pace, at) = (paces[7], last[7].unwrap());
        assert!(!pace.due(Some(at), at + interval - 1_000) && pace.due(Some(at), at + interval));
        // The same name, the same phase (stable across restarts); and a degenerate interval does not divide by 0.
        assert_eq!(FigurePace::new(interval, "ns/group-0007"), pace);
        assert!(FigurePace::new(0, "ns/g").due(Some(5), 6));
    }
}
