//! The group's lag in status: per topic, the unhealthy partitions after Burrow's rules, and the `LagWithinSLO` and
//! `Stalled` conditions (with their Events and metrics).

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::observe::Observed;
use super::shared::{Draft, LAG_WITHIN_SLO, STALLED};
use crate::api::conditions;
use crate::api::consumer_group::{ConsumerGroup, PartitionHealth, PartitionStatus, TopicLag};
use crate::controllers::context::Context;
use crate::controllers::group_memory::GroupMemory;
use crate::decisions::burrow::{self, CommitSample};
use crate::decisions::lag::{GroupLag, TopicPartition};
use crate::runtime::metrics::ResourceLabels;

/// At most this many unhealthy partitions are listed in status.
const MAX_LISTED_PARTITIONS: usize = 20;

/// Burrow's commit windows take a sample at most this often (the poll interval they were tuned with), however
/// fast the lag tick: ten samples then span about 50 s, and a consumer that commits every few seconds is not
/// mistaken for a stalled one. A commit that went backwards is taken at once.
pub const BURROW_SAMPLE_MS: i64 = 5_000;

/// Lag, lag seconds and partition health at `now`, with the memory of earlier ticks.
pub fn observe_lag(
    memory: &mut GroupMemory,
    now: i64,
    observed: &Observed,
) -> (GroupLag, BTreeMap<TopicPartition, PartitionStatus>) {
    let lag = memory.lag.observe(now, observed.offsets.iter().map(|(tp, o)| (tp.clone(), *o)));
    let mut health = BTreeMap::new();
    for (tp, o) in &observed.offsets {
        let Some(c) = o.committed else { continue };
        let window = memory.commits.entry(tp.clone()).or_default();
        // OffsetFetch carries no commit time: a sample when the offset moved, and also while the group has members
        // (so a live but stuck consumer reads as Stall, a dead one as Stop) — each at most every BURROW_SAMPLE_MS.
        let newest = window.samples().last();
        let due = newest.is_none_or(|s| now - s.at_ms >= BURROW_SAMPLE_MS);
        let rewound = newest.is_some_and(|s| c < s.committed);
        let moved = newest.is_none_or(|s| s.committed != c);
        if rewound || (due && (moved || observed.members > 0)) {
            window.record(CommitSample { at_ms: now, committed: c, lag: o.lag() });
        }
        health.insert(tp.clone(), window.status(now, o.lag()));
    }
    memory.commits.retain(|tp, _| observed.offsets.contains_key(tp));
    (lag, health)
}

pub fn fill_lag_status(
    d: &mut Draft,
    o: &Observed,
    lag: &GroupLag,
    health: &BTreeMap<TopicPartition, PartitionStatus>,
) {
    d.status.state = o.state.clone();
    d.status.members = Some(o.members);
    d.status.total_lag = Some(lag.total_lag());
    // Seconds are rounded so that sub-second jitter does not rewrite status.
    d.status.max_lag_seconds = lag.max_lag_seconds().map(|s| s.round());
    let mut topics: BTreeMap<&str, TopicLag> = BTreeMap::new();
    for (tp, pl) in &lag.partitions {
        let t = topics.entry(&tp.topic).or_insert_with(|| TopicLag {
            topic: tp.topic.to_string(),
            lag: 0,
            lag_seconds: None,
            partitions: o.partitions_per_topic.get(&*tp.topic).copied().unwrap_or(0),
        });
        t.lag += pl.lag;
        if let Some(s) = pl.lag_seconds {
            t.lag_seconds = Some(t.lag_seconds.unwrap_or(0.0).max(s.round()));
        }
    }
    d.status.topics = topics.into_values().collect();
    d.status.partitions = health
        .iter()
        .filter(|(_, s)| **s != PartitionStatus::Ok)
        .take(MAX_LISTED_PARTITIONS)
        .map(|(tp, s)| PartitionHealth {
            topic: tp.topic.to_string(),
            partition: tp.partition,
            status: *s,
            lag: lag.partitions.get(tp).map_or(0, |p| p.lag),
        })
        .collect();
}

pub async fn lag_conditions(
    ctx: &Context,
    cg: &ConsumerGroup,
    d: &mut Draft,
    health: &BTreeMap<TopicPartition, PartitionStatus>,
) {
    let labels = ResourceLabels { namespace: cg.namespace().unwrap_or_default(), name: cg.name_any() };
    match cg.spec.lag.as_ref().and_then(|l| l.max_seconds) {
        Some(max) => {
            let secs = d.status.max_lag_seconds.unwrap_or(0.0);
            let within = secs <= max as f64;
            let was = cg.status.as_ref().map(|s| conditions::is_true(&s.conditions, LAG_WITHIN_SLO));
            if was == Some(true) && !within {
                ctx.event(
                    cg,
                    true,
                    "LagAboveSLO",
                    "Observe",
                    format!("lag {secs:.0} s exceeds spec.lag.maxSeconds {max}"),
                )
                .await;
            }
            let (reason, msg) = if within {
                ("WithinSLO", format!("largest lag {secs:.0} s <= {max} s"))
            } else {
                ("LagAboveSLO", format!("largest lag {secs:.0} s > {max} s"))
            };
            d.set(LAG_WITHIN_SLO, within, reason, msg);
            ctx.metrics.group_lag_within_slo.get_or_create(&labels).set(i64::from(within));
        }
        None => {
            d.drop_condition(LAG_WITHIN_SLO);
            ctx.metrics.group_lag_within_slo.remove(&labels);
        }
    }
    let worst = burrow::group_status(health.values().copied());
    if worst == PartitionStatus::Ok || worst == PartitionStatus::Warn {
        d.set(STALLED, false, "Progressing", "no stalled, stopped or rewound partition");
    } else {
        let names: Vec<String> = health
            .iter()
            .filter(|(_, s)| **s == worst)
            .take(MAX_LISTED_PARTITIONS)
            .map(|(tp, _)| format!("{}[{}]", tp.topic, tp.partition))
            .collect();
        let msg = format!("{} partition(s): {}", worst.as_str(), names.join(", "));
        let was_true = cg.status.as_ref().is_some_and(|s| conditions::is_true(&s.conditions, STALLED));
        if !was_true {
            ctx.event(cg, true, worst.as_str(), "Observe", msg.clone()).await;
        }
        d.set(STALLED, true, worst.as_str(), msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decisions::lag::PartitionOffsets;

    fn observed(committed: i64, end: i64, members: i32) -> Observed {
        let tp = TopicPartition { topic: "t".into(), partition: 0 };
        Observed {
            state: Some("Stable".into()),
            members,
            offsets: [(tp, PartitionOffsets { end, committed: Some(committed), log_start: 0 })].into(),
            partitions_per_topic: [("t".to_string(), 1)].into(),
            unanswered: Default::default(),
        }
    }

    fn samples(memory: &GroupMemory) -> Vec<(i64, i64)> {
        memory.commits.values().flat_map(|w| w.samples().map(|s| (s.at_ms, s.committed))).collect()
    }

    #[test]
    fn one_second_ticks_feed_the_commit_window_at_the_burrow_pace() {
        let mut memory = GroupMemory::default();
        // A live member commits every 2 s; ticks every second for 12 s.
        for second in 0..12i64 {
            let committed = 100 + (second / 2) * 10;
            observe_lag(&mut memory, second * 1000, &observed(committed, committed + 50, 1));
        }
        assert_eq!(samples(&memory), vec![(0, 100), (5_000, 120), (10_000, 150)]);
        // A rewind is taken at once.
        observe_lag(&mut memory, 11_500, &observed(20, 200, 1));
        assert_eq!(samples(&memory).last(), Some(&(11_500, 20)));
        let (_, health) = observe_lag(&mut memory, 12_000, &observed(20, 200, 1));
        assert_eq!(health.values().copied().collect::<Vec<_>>(), vec![PartitionStatus::Rewind]);
    }
}
