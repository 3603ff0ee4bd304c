//! Watching a dead-letter topic, pure: its depth (records not yet redriven), the arrival rate, the limits of
//! `spec.alerting`, and the age buckets at which status is refreshed.

use crate::decisions::lag::PartitionOffsets;

/// Records in the dead-letter topic not yet redriven: Σ `max(0, end − max(committed, logStart))` over partitions,
/// with the redrive group's committed offsets (see [`crate::decisions::lag::partition_lag`]).
pub fn depth(partitions: &[PartitionOffsets]) -> i64 {
    partitions.iter().map(|p| p.lag()).sum()
}

/// One sample of the dead-letter topic's total end offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndSample {
    pub at_ms: i64,
    pub total_end: i64,
}

/// Records per minute arriving in the dead-letter topic: growth of the summed end offsets between the oldest
/// sample within `window_ms` and the newest, over that time; `None` before two samples at least 1 s apart. Rounded
/// to 0.1 so that equal growth gives an equal number. A shrinking total (a recreated topic) counts as 0.
pub fn per_minute(samples: &[EndSample], now_ms: i64, window_ms: i64) -> Option<f64> {
    let newest = samples.iter().max_by_key(|s| s.at_ms)?;
    let oldest = samples.iter().filter(|s| s.at_ms >= now_ms - window_ms).min_by_key(|s| s.at_ms)?;
    let span = newest.at_ms - oldest.at_ms;
    if span < 1000 {
        return None;
    }
    let growth = (newest.total_end - oldest.total_end).max(0) as f64;
    Some((growth * 60_000.0 / span as f64 * 10.0).round() / 10.0)
}

/// The rate to publish in status: recomputed when the end offsets moved since the previous sample, held while
/// they stand still, and 0 once a whole window passed without growth. A sliding rate would change at every poll
/// for a window after the last arrival; this one changes only with Kafka (and once more when it falls quiet).
pub fn published_per_minute(prev: Option<f64>, samples: &[EndSample], now_ms: i64, window_ms: i64) -> Option<f64> {
    let n = samples.len();
    if n < 2 {
        return per_minute(samples, now_ms, window_ms);
    }
    if samples[n - 2].total_end != samples[n - 1].total_end {
        return per_minute(samples, now_ms, window_ms);
    }
    let last_change = samples.windows(2).rev().find(|w| w[0].total_end != w[1].total_end).map(|w| w[1].at_ms);
    match last_change {
        Some(at) if now_ms - at < window_ms => prev.or_else(|| per_minute(samples, now_ms, window_ms)),
        _ => per_minute(samples, now_ms, window_ms).map(|_| 0.0),
    }
}

/// Keeps the samples a [`per_minute`] over `window_ms` needs: those within the window plus the one just before it.
pub fn trim_samples(samples: &mut Vec<EndSample>, now_ms: i64, window_ms: i64) {
    samples.sort_by_key(|s| s.at_ms);
    let keep_from = samples.iter().rposition(|s| s.at_ms < now_ms - window_ms).unwrap_or(0);
    samples.drain(..keep_from);
}

/// Limits from `spec.alerting`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_depth: Option<i64>,
    pub max_age_seconds: Option<i64>,
    pub max_per_minute: Option<i64>,
}

/// What the limits say about the current numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub within: bool,
    /// Stable condition reason: `WithinLimits`, `NoLimits`, `DepthExceeded`, `AgeExceeded`, `RateExceeded`.
    pub reason: &'static str,
    pub message: String,
}

/// Checks depth, oldest age and rate against the limits. Every exceeded limit is named in the message; the reason
/// is the first of depth, age, rate. Messages never carry the age itself (it grows every second): an unchanged
/// dead-letter topic gives an unchanged verdict, so no status write.
pub fn evaluate_limits(
    limits: &Limits,
    depth: i64,
    oldest_age_seconds: Option<i64>,
    per_minute: Option<f64>,
) -> Verdict {
    if *limits == Limits::default() {
        return Verdict { within: true, reason: "NoLimits", message: "spec.alerting sets no limits".into() };
    }
    let mut exceeded: Vec<(&'static str, String)> = vec![];
    if let Some(max) = limits.max_depth
        && depth > max
    {
        exceeded.push(("DepthExceeded", format!("depth {depth} > maxDepth {max}")));
    }
    if let (Some(max), Some(age)) = (limits.max_age_seconds, oldest_age_seconds)
        && age > max
    {
        exceeded.push(("AgeExceeded", format!("the oldest dead letter is older than maxAgeSeconds {max}")));
    }
    if let (Some(max), Some(rate)) = (limits.max_per_minute, per_minute)
        && rate > max as f64
    {
        exceeded.push(("RateExceeded", format!("{rate} dead letters/min > maxPerMinute {max}")));
    }
    match exceeded.first() {
        None => {
            let mut set = vec![];
            if let Some(m) = limits.max_depth {
                set.push(format!("maxDepth {m}"));
            }
            if let Some(m) = limits.max_age_seconds {
                set.push(format!("maxAgeSeconds {m}"));
            }
            if let Some(m) = limits.max_per_minute {
                set.push(format!("maxPerMinute {m}"));
            }
            Verdict { within: true, reason: "WithinLimits", message: format!("within {}", set.join(", ")) }
        }
        Some((reason, _)) => Verdict {
            within: false,
            reason,
            message: exceeded.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("; "),
        },
    }
}

/// Coarse age buckets (seconds) at which `status.oldestAgeSeconds` is refreshed even when Kafka did not change:
/// the age grows by itself, and writing it every poll would be a status write per poll.
const AGE_BUCKETS: [i64; 8] = [60, 300, 900, 3600, 6 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600];

/// The bucket an age falls in (0 below one minute).
pub fn age_bucket(age_seconds: Option<i64>) -> usize {
    age_seconds.map_or(usize::MAX, |a| AGE_BUCKETS.iter().take_while(|b| a >= **b).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_from_committed_or_log_start() {
        use PartitionOffsets as P;
        let parts = [
            P { end: 100, committed: Some(40), log_start: 0 },
            P { end: 50, committed: None, log_start: 10 },
            // Retention moved past the committed offset; never negative.
            P { end: 80, committed: Some(5), log_start: 70 },
            P { end: 20, committed: Some(20), log_start: 0 },
        ];
        assert_eq!(depth(&parts), 60 + 40 + 10);
        assert_eq!(depth(&[]), 0);
    }

    #[test]
    fn per_minute_from_end_offset_growth() {
        let s = |at_ms, total_end| EndSample { at_ms, total_end };
        let w = 300_000;
        assert_eq!(per_minute(&[s(0, 10)], 0, w), None);
        assert_eq!(per_minute(&[s(0, 10), s(500, 20)], 500, w), None, "under a second apart");
        assert_eq!(per_minute(&[s(0, 0), s(10_000, 50)], 10_000, w), Some(300.0));
        assert_eq!(per_minute(&[s(0, 0), s(30_000, 0), s(60_000, 0)], 60_000, w), Some(0.0));
        // Only the window counts.
        let samples = [s(0, 0), s(400_000, 1000), s(460_000, 1060)];
        assert_eq!(per_minute(&samples, 460_000, w), Some(60.0));
        assert_eq!(per_minute(&[s(0, 1000), s(60_000, 5)], 60_000, w), Some(0.0), "recreated topic");
        assert_eq!(per_minute(&[s(0, 0), s(30_000, 1)], 30_000, w), Some(2.0));
        // Published: moves with Kafka, holds while it stands still, 0 after a quiet window.
        let w1 = 60_000;
        assert_eq!(published_per_minute(None, &[s(0, 0), s(10_000, 0)], 10_000, w1), Some(0.0));
        assert_eq!(published_per_minute(Some(0.0), &[s(0, 0), s(10_000, 0), s(20_000, 10)], 20_000, w1), Some(30.0));
        let quiet = [s(0, 0), s(10_000, 0), s(20_000, 10), s(30_000, 10), s(40_000, 10)];
        assert_eq!(published_per_minute(Some(30.0), &quiet, 40_000, w1), Some(30.0), "held");
        let quiet = [s(20_000, 10), s(30_000, 10), s(90_000, 10)];
        assert_eq!(published_per_minute(Some(30.0), &quiet, 90_000, w1), Some(0.0), "quiet for a window");
        assert_eq!(published_per_minute(None, &[s(0, 5)], 0, w1), None);

        let mut v = vec![s(0, 0), s(100_000, 1), s(350_000, 2), s(400_000, 3)];
        trim_samples(&mut v, 400_000, w);
        assert_eq!(v.first().unwrap().at_ms, 0, "the sample just before the window stays");
        v.push(s(700_000, 9));
        trim_samples(&mut v, 700_000, w);
        assert_eq!(v.iter().map(|x| x.at_ms).collect::<Vec<_>>(), vec![350_000, 400_000, 700_000]);
    }

    #[test]
    fn limits_name_every_exceeded_value() {
        let l = Limits { max_depth: Some(10), max_age_seconds: Some(60), max_per_minute: Some(100) };
        let ok = evaluate_limits(&l, 10, Some(60), Some(100.0));
        assert!(ok.within && ok.reason == "WithinLimits", "{ok:?}");
        let v = evaluate_limits(&l, 11, Some(61), None);
        assert_eq!((v.within, v.reason), (false, "DepthExceeded"));
        assert!(
            v.message.contains("depth 11 > maxDepth 10") && v.message.contains("maxAgeSeconds 60"),
            "{}",
            v.message
        );
        assert_eq!(v.message, evaluate_limits(&l, 11, Some(7200), None).message, "the age is not in the message");
        assert_eq!(ok.message, "within maxDepth 10, maxAgeSeconds 60, maxPerMinute 100");
        assert_eq!(evaluate_limits(&l, 0, None, Some(100.5)).reason, "RateExceeded");
        assert_eq!(evaluate_limits(&l, 0, Some(3600), None).reason, "AgeExceeded");
        assert_eq!(evaluate_limits(&Limits::default(), 1_000_000, None, None).reason, "NoLimits");
    }

    #[test]
    fn age_buckets_change_rarely() {
        assert_eq!(age_bucket(Some(0)), age_bucket(Some(59)));
        assert_ne!(age_bucket(Some(59)), age_bucket(Some(60)));
        assert_eq!(age_bucket(Some(3600)), age_bucket(Some(6 * 3600 - 1)));
        assert_ne!(age_bucket(None), age_bucket(Some(0)));
    }
}
