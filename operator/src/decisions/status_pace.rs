//! When a ConsumerGroup's status is written. Decisions run on every lag tick (about a second); the status is
//! for humans and tools that read it, and every write wakes every watcher of the object. So a status is written at
//! once when something other than the lag figures changed — a condition's status or reason, a scaling action, the
//! group's state or members, an offset reset's progress, the partitions' health — and, when only the figures moved
//! (lag in records and seconds, condition messages quoting them), at most once per status interval.

use crate::api::consumer_group::ConsumerGroupStatus;

/// Whether to write `next` over `current` (`None`: nothing written yet), the last write `since_last_write_ms` ago
/// (`None`: not known, e.g. after a restart) with the status interval `interval_ms`.
pub fn status_write_due(
    current: Option<&ConsumerGroupStatus>,
    next: &ConsumerGroupStatus,
    since_last_write_ms: Option<i64>,
    interval_ms: i64,
) -> bool {
    let Some(current) = current else { return true };
    if current == next {
        return false;
    }
    if without_figures(current) != without_figures(next) {
        return true;
    }
    since_last_write_ms.is_none_or(|ms| ms >= interval_ms)
}

/// The status with its lag figures (and the condition messages that quote them) blanked.
fn without_figures(s: &ConsumerGroupStatus) -> ConsumerGroupStatus {
    let mut s = s.clone();
    s.total_lag = None;
    s.max_lag_seconds = None;
    for t in &mut s.topics {
        t.lag = 0;
        t.lag_seconds = None;
    }
    for p in &mut s.partitions {
        p.lag = 0;
    }
    for c in &mut s.conditions {
        c.message.clear();
    }
    s
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
        // (case, written, next, ms since the last write, write now?)
        type Case<'a> = (&'a str, Option<&'a ConsumerGroupStatus>, ConsumerGroupStatus, Option<i64>, bool);
        let table: [Case<'_>; 9] = [
            ("first write", None, base.clone(), None, true),
            ("nothing changed", Some(&base), base.clone(), Some(60_000), false),
            ("lag moved, 1 s after the last write", Some(&base), status(300, true), Some(1_000), false),
            ("lag moved, 10 s after", Some(&base), status(300, true), Some(10_000), true),
            ("lag moved, last write not known", Some(&base), status(300, true), None, true),
            ("a condition flipped", Some(&base), status(300, false), Some(1_000), true),
            ("a scaling action", Some(&base), scaled, Some(1_000), true),
            ("a partition stalled", Some(&base), stalled, Some(1_000), true),
            ("the group rebalances", Some(&base), rebalancing, Some(1_000), true),
        ];
        for (case, current, next, since, want) in table {
            assert_eq!(status_write_due(current, &next, since, 10_000), want, "{case}");
        }
    }
}
