//! Lag maths: how far a consumer group is behind, in records and in seconds, and how fast records arrive and are
//! consumed.
//!
//! - Lag in records per partition is `max(0, E − max(C, S))` for end offset `E`, committed offset `C` and log start
//!   `S`. End offsets must be read-committed ones, so transaction markers never show up as lag; a partition with no
//!   committed offset counts from the log start, not from zero; lag is never negative.
//! - Lag in seconds follows kafka-lag-exporter: a bounded [`OffsetTimeline`] of (end offset, time) samples per
//!   partition tells when the end offset passed the consumer's position.
//! - Rates follow a sliding [`RateWindow`]: produce rate λ = ΔE/Δt and consume rate μ = ΔC/Δt per partition, summed
//!   over the group by [`GroupLag::rates`].
//!
//! Pure: offsets and times (`*_ms`, milliseconds since the Unix epoch) come in as parameters.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

pub use super::topic_partition::{PartitionMap, TopicNames, TopicPartition};

/// Where a consumer resumes reading: its committed offset, or the log start when it has none or when retention
/// already deleted the records it points at.
pub fn consumer_position(committed: Option<i64>, log_start: i64) -> i64 {
    committed.map_or(log_start, |committed| committed.max(log_start))
}

/// Records a consumer still has to read: `max(0, end − max(committed, log_start))`.
///
/// `end` must be the read-committed end offset (the last stable offset): after a consumer read everything, its
/// committed offset equals that end even when the last record of the log is a transaction marker, so the lag is 0.
pub fn partition_lag(committed: Option<i64>, end: i64, log_start: i64) -> i64 {
    end.saturating_sub(consumer_position(committed, log_start)).max(0)
}

/// One partition's offsets, as read in one poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// Read-committed end offset (last stable offset).
    pub end: i64,
    /// The group's committed offset; `None` when the group never committed on this partition.
    pub committed: Option<i64>,
    /// First offset still in the log (retention moves it forward).
    pub log_start: i64,
}

impl PartitionOffsets {
    /// See [`consumer_position`].
    pub fn position(&self) -> i64 {
        consumer_position(self.committed, self.log_start)
    }

    /// See [`partition_lag`].
    pub fn lag(&self) -> i64 {
        partition_lag(self.committed, self.end, self.log_start)
    }
}

/// One sample of a partition's end offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetPoint {
    pub offset: i64,
    pub at_ms: i64,
}

/// When a partition's end offset reached which value: a bounded table of (end offset, time) samples, from which
/// the age of the record at a consumer's position is interpolated (kafka-lag-exporter's lookup table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetTimeline {
    points: VecDeque<OffsetPoint>,
    capacity: usize,
}

impl Default for OffsetTimeline {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl OffsetTimeline {
    /// kafka-lag-exporter keeps 60 points; at a 5 s poll that is 5 minutes of exact history, and older positions are
    /// extrapolated.
    pub const DEFAULT_CAPACITY: usize = 60;

    /// An empty timeline keeping at most `capacity` points (at least 2, the fewest that interpolate).
    pub fn with_capacity(capacity: usize) -> Self {
        // The table grows as points come: an idle partition keeps two points, not room for sixty.
        Self { points: VecDeque::new(), capacity: capacity.max(2) }
    }

    /// Adds the end offset seen at `at_ms`.
    ///
    /// A run of equal offsets keeps only its first and last point: the first says when the offset was reached
    /// (what interpolation needs), the last how long it stayed (what extrapolation needs), and an idle topic does
    /// not flush the useful history out of the table. Samples older than the newest are ignored; an end offset
    /// that went backwards (topic recreated, log truncated) starts the table afresh.
    pub fn record(&mut self, end: i64, at_ms: i64) {
        let Some(&newest) = self.points.back() else {
            self.points.push_back(OffsetPoint { offset: end, at_ms });
            return;
        };
        if at_ms < newest.at_ms {
            return;
        }
        if end < newest.offset {
            self.points.clear();
        } else if at_ms == newest.at_ms {
            self.points.pop_back();
        } else if end == newest.offset {
            let len = self.points.len();
            if len >= 2 && self.points[len - 2].offset == end {
                self.points.pop_back();
            }
        }
        self.points.push_back(OffsetPoint { offset: end, at_ms });
        while self.points.len() > self.capacity {
            self.points.pop_front();
        }
    }

    /// The stored points, oldest first (to persist them across restarts, and to restore them with [`record`]).
    ///
    /// [`record`]: OffsetTimeline::record
    pub fn points(&self) -> impl ExactSizeIterator<Item = OffsetPoint> + '_ {
        self.points.iter().copied()
    }

    /// Seconds since the end offset passed `position` (the consumer's position, see [`consumer_position`]): the
    /// age of the oldest record the consumer has not read.
    ///
    /// 0 when the consumer is at or past the newest end offset. Between two points the time is interpolated
    /// linearly; before the oldest point it is extrapolated with the table's average rate, and when the table saw
    /// no records at all it is at least the table's age. `None` with fewer than two points: the rate is unknown.
    pub fn lag_seconds(&self, position: i64, now_ms: i64) -> Option<f64> {
        let newest = *self.points.back()?;
        if position >= newest.offset {
            return Some(0.0);
        }
        let oldest = *self.points.front()?;
        if self.points.len() < 2 {
            return None;
        }
        // The first point at or past `position`: the end offset reached `position` between it and the one before.
        let after = self.points.partition_point(|point| point.offset < position);
        let reached_ms = if after == 0 {
            let offsets = (newest.offset - oldest.offset) as f64;
            let span_ms = (newest.at_ms - oldest.at_ms) as f64;
            if offsets > 0.0 && span_ms > 0.0 {
                oldest.at_ms as f64 - (oldest.offset - position) as f64 * span_ms / offsets
            } else {
                oldest.at_ms as f64
            }
        } else {
            let (before, after) = (self.points[after - 1], self.points[after]);
            let fraction = (position - before.offset) as f64 / (after.offset - before.offset) as f64;
            before.at_ms as f64 + fraction * (after.at_ms - before.at_ms) as f64
        };
        Some(((now_ms as f64 - reached_ms) / 1000.0).max(0.0))
    }
}

/// Produce and consume rates over a window, in records per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    /// λ: records appended per second (ΔE/Δt).
    pub produce_per_s: f64,
    /// μ: records consumed per second (Δ position/Δt).
    pub consume_per_s: f64,
    /// Start of the window the rates were measured over (the earliest one when summed over partitions): rates
    /// from a window that started before a replica change include the rebalance pause.
    pub window_start_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RateSample {
    at_ms: i64,
    end: i64,
    position: i64,
}

/// A sliding window of one partition's offsets, from which λ and μ are computed.
///
/// Rates need only the window's oldest and newest samples, so the samples between are kept at most every sixth of
/// the span ([`RateWindow::spacing_ms`]): a sample that comes sooner after the one before the newest replaces the
/// newest. At a 1 s lag tick and a 30 s span a partition keeps at most 10 samples, not 31, and its rates are the same.
/// Room for those 10 is taken at the first sample, exactly: grown by doubling it would be 16 (at 1,000 groups × 16
/// partitions, 2.3 MB of the operator's memory held empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateWindow {
    span_ms: i64,
    samples: VecDeque<RateSample>,
}

impl RateWindow {
    /// Six polls at the default 5 s poll: long enough to smooth commit batching, short enough to follow a burst.
    pub const DEFAULT_SPAN: Duration = Duration::from_secs(30);
    /// The most samples the thinning keeps at a steady tick (see the type's doc); a faster tick may need more.
    const ROOM: usize = 10;

    /// An empty window covering at least `span` once it has seen that much history.
    pub fn new(span: Duration) -> Self {
        let span_ms = i64::try_from(span.as_millis()).unwrap_or(i64::MAX);
        Self { span_ms, samples: VecDeque::new() }
    }

    /// The least time between two kept samples other than the newest.
    fn spacing_ms(&self) -> i64 {
        self.span_ms / 6
    }

    /// Adds the end offset and consumer position seen at `at_ms`.
    ///
    /// Either going backwards (topic recreated, offsets reset) breaks the series: the window starts afresh rather
    /// than report a negative rate. Samples older than the newest are ignored.
    pub fn record(&mut self, at_ms: i64, end: i64, position: i64) {
        if let Some(newest) = self.samples.back() {
            if at_ms <= newest.at_ms {
                return;
            }
            if end < newest.end || position < newest.position {
                self.samples.clear();
            }
        }
        if self.samples.capacity() == 0 {
            self.samples.reserve_exact(Self::ROOM);
        }
        let len = self.samples.len();
        if len >= 2 && at_ms - self.samples[len - 2].at_ms < self.spacing_ms() {
            self.samples.pop_back();
        }
        self.samples.push_back(RateSample { at_ms, end, position });
        // Keep the newest sample at or before `now − span` so the window always covers the whole span.
        while self.samples.len() > 2 && self.samples[1].at_ms <= at_ms - self.span_ms {
            self.samples.pop_front();
        }
    }

    /// λ and μ over the window; `None` until two samples were seen.
    pub fn rates(&self) -> Option<Rates> {
        let (oldest, newest) = (self.samples.front()?, self.samples.back()?);
        let seconds = (newest.at_ms - oldest.at_ms) as f64 / 1000.0;
        if seconds <= 0.0 {
            return None;
        }
        Some(Rates {
            produce_per_s: (newest.end - oldest.end) as f64 / seconds,
            consume_per_s: (newest.position - oldest.position) as f64 / seconds,
            window_start_ms: oldest.at_ms,
        })
    }
}

/// What one poll says about one partition.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartitionLag {
    pub lag: i64,
    /// `None` until the partition's timeline has two points.
    pub lag_seconds: Option<f64>,
    /// `None` until the partition's rate window has two samples.
    pub rates: Option<Rates>,
}

/// What one poll says about a whole group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupLag {
    pub partitions: BTreeMap<TopicPartition, PartitionLag>,
}

impl GroupLag {
    /// Total lag in records.
    pub fn total_lag(&self) -> i64 {
        self.partitions.values().map(|partition| partition.lag).sum()
    }

    /// Total lag in records, leaving out some partitions: stalled ones must not drive scaling, since more replicas
    /// do not unblock a poison record.
    pub fn total_lag_excluding(&self, excluded: &BTreeSet<TopicPartition>) -> i64 {
        self.partitions.iter().filter(|(partition, _)| !excluded.contains(*partition)).map(|(_, lag)| lag.lag).sum()
    }

    /// The oldest unread record's age over all partitions, in seconds.
    pub fn max_lag_seconds(&self) -> Option<f64> {
        self.partitions.values().filter_map(|partition| partition.lag_seconds).reduce(f64::max)
    }

    /// λ and μ summed over partitions; `None` until some partition has rates.
    pub fn rates(&self) -> Option<Rates> {
        self.partitions.values().filter_map(|partition| partition.rates).reduce(|sum, rates| Rates {
            produce_per_s: sum.produce_per_s + rates.produce_per_s,
            consume_per_s: sum.consume_per_s + rates.consume_per_s,
            window_start_ms: sum.window_start_ms.min(rates.window_start_ms),
        })
    }
}

#[derive(Clone, Debug)]
struct PartitionHistory {
    timeline: OffsetTimeline,
    rates: RateWindow,
    /// The poll that last brought this partition (see `GroupLagTracker::polls`).
    seen: u64,
}

/// The per-partition history of one consumer group, carried between polls.
#[derive(Clone, Debug)]
pub struct GroupLagTracker {
    timeline_capacity: usize,
    rate_span: Duration,
    partitions: BTreeMap<TopicPartition, PartitionHistory>,
    /// Polls observed so far.
    polls: u64,
}

impl Default for GroupLagTracker {
    fn default() -> Self {
        Self::new(OffsetTimeline::DEFAULT_CAPACITY, RateWindow::DEFAULT_SPAN)
    }
}

impl GroupLagTracker {
    pub fn new(timeline_capacity: usize, rate_span: Duration) -> Self {
        Self { timeline_capacity, rate_span, partitions: BTreeMap::new(), polls: 0 }
    }

    /// Records one poll's offsets and returns the group's lag. Partitions absent from `offsets` are forgotten (the
    /// group stopped reading them, or the topic is gone).
    pub fn observe(
        &mut self,
        now_ms: i64,
        offsets: impl IntoIterator<Item = (TopicPartition, PartitionOffsets)>,
    ) -> GroupLag {
        self.polls += 1;
        // Histories are updated where they are (a tick of a thousand groups reallocates no map); those the poll
        // did not bring are dropped after.
        let mut lag = GroupLag::default();
        for (partition, offsets) in offsets {
            let (timeline_capacity, rate_span, poll) = (self.timeline_capacity, self.rate_span, self.polls);
            let history = self.partitions.entry(partition.clone()).or_insert_with(|| PartitionHistory {
                timeline: OffsetTimeline::with_capacity(timeline_capacity),
                rates: RateWindow::new(rate_span),
                seen: poll,
            });
            history.seen = poll;
            history.timeline.record(offsets.end, now_ms);
            history.rates.record(now_ms, offsets.end, offsets.position());
            let partition_lag = PartitionLag {
                lag: offsets.lag(),
                lag_seconds: history.timeline.lag_seconds(offsets.position(), now_ms),
                rates: history.rates.rates(),
            };
            lag.partitions.insert(partition, partition_lag);
        }
        self.partitions.retain(|_, history| history.seen == self.polls);
        lag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_lag_table() {
        // (committed, end, log_start, expected lag, why)
        let cases: &[(Option<i64>, i64, i64, i64, &str)] = &[
            (Some(90), 100, 0, 10, "plain lag"),
            (Some(100), 100, 0, 0, "caught up"),
            (Some(120), 100, 0, 0, "committed past the end (stale end offset) is never negative"),
            (None, 100, 40, 60, "no committed offset counts from the log start"),
            (None, 100, 0, 100, "no committed offset and nothing deleted counts everything"),
            (Some(10), 100, 40, 60, "records deleted by retention are not lag"),
            (Some(-1), 100, 40, 60, "Kafka's -1 (no offset) counts from the log start"),
            (Some(57), 57, 0, 0, "transaction marker: committed == read-committed end after consuming everything"),
            (None, 30, 50, 0, "end before log start (empty, compacted) is never negative"),
            (Some(i64::MIN), i64::MAX, 0, i64::MAX, "extreme offsets do not overflow"),
        ];
        for &(committed, end, log_start, expected, why) in cases {
            assert_eq!(partition_lag(committed, end, log_start), expected, "{why}");
        }
    }

    #[test]
    fn lag_counts_the_offsets_left_to_read_over_a_grid() {
        // Counted one offset at a time, independently of the formula: the offsets at or after where the consumer
        // resumes (its commit, unless retention deleted it, else the log start) and before the end.
        for committed in [None, Some(-5), Some(0), Some(5), Some(50), Some(500)] {
            for end in [-1, 0, 10, 100] {
                for log_start in [0, 5, 100, 200] {
                    let resumes_at = match committed {
                        Some(c) if c > log_start => c,
                        _ => log_start,
                    };
                    let left = (-10..600).filter(|o| *o >= resumes_at && *o < end).count() as i64;
                    assert_eq!(partition_lag(committed, end, log_start), left, "{committed:?} {end} {log_start}");
                }
            }
        }
    }

    /// A producer writing 100 records/s for 60 s, then 1000 records/s for 60 s, sampled every 5 s.
    fn known_schedule() -> (OffsetTimeline, impl Fn(f64) -> i64) {
        let end_at = |seconds: f64| -> i64 {
            if seconds <= 60.0 { (seconds * 100.0) as i64 } else { 6000 + ((seconds - 60.0) * 1000.0) as i64 }
        };
        let mut timeline = OffsetTimeline::default();
        for step in 0..=24 {
            let seconds = f64::from(step) * 5.0;
            timeline.record(end_at(seconds), (seconds * 1000.0) as i64);
        }
        (timeline, end_at)
    }

    #[test]
    fn lag_seconds_interpolates_a_known_schedule() {
        let (timeline, _) = known_schedule();
        let now_ms = 120_000;
        // (consumer position, true age in seconds of the record at that position)
        let cases: &[(i64, f64)] = &[
            (66_000, 0.0),                 // caught up with the newest sample
            (6000, 60.0),                  // produced at t = 60 s
            (3000, 90.0),                  // t = 30 s
            (3050, 89.5),                  // between samples (t = 30.5 s)
            (6000 + 30_000, 30.0),         // t = 90 s, in the fast phase
            (6000 + 30_000 + 2_500, 27.5), // between samples in the fast phase
            (0, 120.0),                    // the very first record
        ];
        for &(position, age) in cases {
            let got = timeline.lag_seconds(position, now_ms).unwrap_or(f64::NAN);
            assert!((got - age).abs() < 0.01, "position {position}: got {got}, want {age}");
        }
    }

    #[test]
    fn lag_seconds_extrapolates_before_the_oldest_point() {
        // Only the last 10 points (t = 75..120 s, 1000 records/s) are kept.
        let mut timeline = OffsetTimeline::with_capacity(10);
        let (_, end_at) = known_schedule();
        for step in 0..=24 {
            let seconds = f64::from(step) * 5.0;
            timeline.record(end_at(seconds), (seconds * 1000.0) as i64);
        }
        assert_eq!(timeline.points().len(), 10);
        // Position 6000 was reached at 60 s; the table only knows 1000/s since 75 s, so it extrapolates to 60 s.
        let got = timeline.lag_seconds(6000, 120_000).unwrap_or(f64::NAN);
        assert!((got - 60.0).abs() < 0.01, "got {got}");
        // Position 3000 was really reached at 30 s (90 s ago); extrapolating at 1000/s says 57 s (63 s ago): the
        // same underestimate kafka-lag-exporter makes for positions older than its table.
        let got = timeline.lag_seconds(3000, 120_000).unwrap_or(f64::NAN);
        assert!((got - 63.0).abs() < 0.01, "got {got}");
    }

    #[test]
    fn lag_seconds_edge_cases() {
        let mut timeline = OffsetTimeline::default();
        assert_eq!(timeline.lag_seconds(0, 0), None, "empty");
        timeline.record(100, 0);
        assert_eq!(timeline.lag_seconds(50, 10_000), None, "one point: rate unknown");
        assert_eq!(timeline.lag_seconds(100, 10_000), Some(0.0), "caught up needs no rate");
        // An idle topic: the end offset stays at 100 for a minute; the consumer is behind, so the record is at
        // least as old as the table.
        for step in 1..=12 {
            timeline.record(100, step * 5000);
        }
        assert_eq!(timeline.points().len(), 2, "a flat run keeps its first and last point");
        assert_eq!(timeline.lag_seconds(50, 60_000), Some(60.0));
        // Records arrive again: position 100 was reached at t = 0 (start of the flat run), not at t = 60 s.
        timeline.record(200, 70_000);
        assert_eq!(timeline.lag_seconds(100, 70_000), Some(70.0));
        assert_eq!(timeline.lag_seconds(150, 70_000), Some(5.0));
        // The topic was recreated: history is useless.
        timeline.record(10, 75_000);
        assert_eq!(timeline.points().len(), 1);
        // Out-of-order samples are ignored.
        timeline.record(20, 74_000);
        assert_eq!(timeline.points().len(), 1);
    }

    #[test]
    fn rate_window_table() {
        // (samples (at_ms, end, position), expected (λ, μ, window start) or None, why)
        type Case = (&'static [(i64, i64, i64)], Option<(f64, f64, i64)>, &'static str);
        let cases: &[Case] = &[
            (&[], None, "empty"),
            (&[(0, 0, 0)], None, "one sample"),
            (&[(0, 0, 0), (5000, 5000, 2500)], Some((1000.0, 500.0, 0)), "one interval"),
            (
                &[(0, 0, 0), (10_000, 10_000, 0), (20_000, 20_000, 0), (30_000, 30_000, 0), (40_000, 70_000, 0)],
                Some((2000.0, 0.0, 10_000)),
                "only the last 30 s count",
            ),
            (&[(0, 1000, 900), (5000, 2000, 100), (10_000, 3000, 600)], Some((200.0, 100.0, 5000)), "offset reset"),
            (&[(0, 1000, 0), (5000, 10, 0), (10_000, 60, 10)], Some((10.0, 2.0, 5000)), "topic recreated"),
            (&[(0, 0, 0), (5000, 100, 100), (4000, 9999, 9999)], Some((20.0, 20.0, 0)), "out of order ignored"),
        ];
        for &(samples, expected, why) in cases {
            let mut window = RateWindow::new(Duration::from_secs(30));
            for &(at_ms, end, position) in samples {
                window.record(at_ms, end, position);
            }
            let got = window.rates().map(|rates| (rates.produce_per_s, rates.consume_per_s, rates.window_start_ms));
            assert_eq!(got, expected, "{why}");
        }
    }

    #[test]
    fn a_fast_tick_keeps_few_rate_samples_and_the_same_rates() {
        // One sample a second for two minutes, at varying rates: the thinned window answers like one keeping every
        // sample (a window of the same span over the dense series, computed here by hand).
        let series: Vec<(i64, i64, i64)> =
            (0..=120).map(|s| (s * 1000, s * s * 10, s * 7 + if s > 60 { (s - 60) * 20 } else { 0 })).collect();
        let mut window = RateWindow::new(Duration::from_secs(30));
        for (i, &(at_ms, end, position)) in series.iter().enumerate() {
            window.record(at_ms, end, position);
            assert!(window.samples.len() <= 10, "at {at_ms} ms: {} samples", window.samples.len());
            // The room taken at the first sample was enough: it never grew.
            assert_eq!(window.samples.capacity(), RateWindow::ROOM, "at {at_ms} ms");
            let rates = window.rates();
            if i == 0 {
                assert_eq!(rates, None);
                continue;
            }
            let rates = rates.expect("two samples");
            // The window starts at the newest kept sample at or before now − 30 s (or the first one).
            let start = series[..=i].iter().rev().find(|s| s.0 <= at_ms - 30_000).unwrap_or(&series[0]);
            assert!(rates.window_start_ms <= start.0, "the window covers the span at {at_ms} ms");
            assert!(start.0 - rates.window_start_ms <= 5_000, "at most one spacing more at {at_ms} ms");
            let from = series.iter().find(|s| s.0 == rates.window_start_ms).expect("a sample of the series");
            let seconds = (at_ms - from.0) as f64 / 1000.0;
            assert_eq!(rates.produce_per_s, (end - from.1) as f64 / seconds, "λ at {at_ms} ms");
            assert_eq!(rates.consume_per_s, (position - from.2) as f64 / seconds, "μ at {at_ms} ms");
        }
    }

    #[test]
    fn group_tracker_sums_partitions_and_forgets_removed_ones() {
        let partition = |number| TopicPartition::new("orders", number);
        let mut tracker = GroupLagTracker::default();
        let poll = |at_s: i64, committed: Option<i64>| {
            [
                (partition(0), PartitionOffsets { end: at_s * 100, committed, log_start: 0 }),
                (partition(1), PartitionOffsets { end: at_s * 300, committed: None, log_start: at_s * 10 }),
            ]
        };
        tracker.observe(0, poll(0, None));
        let lag = tracker.observe(10_000, poll(10, Some(500)));
        assert_eq!(lag.total_lag(), 500 + (3000 - 100));
        let rates = lag.rates().expect("two polls give rates");
        assert_eq!(rates.produce_per_s, 400.0);
        // Partition 0: 0 -> 500 in 10 s; partition 1 follows its log start: 0 -> 100.
        assert_eq!(rates.consume_per_s, 60.0);
        assert_eq!(rates.window_start_ms, 0);
        // Position 500 on partition 0 was reached at 5 s.
        assert_eq!(lag.partitions[&partition(0)].lag_seconds, Some(5.0));
        assert_eq!(lag.total_lag_excluding(&BTreeSet::from([partition(1)])), 500);
        let lag =
            tracker.observe(20_000, [(partition(0), PartitionOffsets { end: 2000, committed: None, log_start: 0 })]);
        assert_eq!(lag.partitions.len(), 1);
        assert_eq!(tracker.partitions.len(), 1);
        // A partition that left and came back starts afresh; the one that stayed keeps its history.
        let back = tracker.observe(30_000, poll(30, Some(2500)));
        assert_eq!(back.partitions[&partition(1)].rates, None);
        assert!(back.partitions[&partition(0)].rates.is_some());
        assert_eq!(tracker.partitions.len(), 2);
    }
}
