//! Where a declarative offset reset moves each partition. Pure: the offsets Kafka reported are parameters.

use crate::api::consumer_group::OffsetResetTarget;

/// What is known of one partition when the reset runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionBounds {
    pub log_start: i64,
    pub end: i64,
    pub committed: Option<i64>,
    /// The first offset at or after the requested time (ListOffsets by timestamp), -1 when none.
    pub at_timestamp: Option<i64>,
}

/// Parses `value` for `to`: epoch milliseconds or RFC 3339 for Timestamp; integers for Offset and ShiftBy.
pub fn parse_value(to: OffsetResetTarget, value: Option<&str>) -> Result<i64, String> {
    let need = || value.ok_or_else(|| "spec.offsetReset.value is required".to_string());
    match to {
        OffsetResetTarget::Earliest | OffsetResetTarget::Latest => Ok(0),
        OffsetResetTarget::Timestamp => {
            let v = need()?.trim();
            if let Ok(ms) = v.parse::<i64>() {
                return Ok(ms);
            }
            v.parse::<k8s_openapi::jiff::Timestamp>()
                .map(|t| t.as_millisecond())
                .map_err(|e| format!("spec.offsetReset.value {v:?} is not epoch milliseconds nor RFC 3339: {e}"))
        }
        OffsetResetTarget::Offset | OffsetResetTarget::ShiftBy => {
            let v = need()?.trim();
            v.parse::<i64>().map_err(|_| format!("spec.offsetReset.value {v:?} is not an integer"))
        }
    }
}

/// The new committed offset of one partition, always inside `[log_start, end]`.
pub fn target_offset(to: OffsetResetTarget, value: i64, p: PartitionBounds) -> i64 {
    let clamp = |o: i64| o.clamp(p.log_start, p.end.max(p.log_start));
    match to {
        OffsetResetTarget::Earliest => p.log_start,
        OffsetResetTarget::Latest => p.end,
        OffsetResetTarget::Timestamp => match p.at_timestamp {
            Some(o) if o >= 0 => clamp(o),
            // No record at or after the time: nothing to replay.
            _ => p.end,
        },
        OffsetResetTarget::Offset => clamp(value),
        OffsetResetTarget::ShiftBy => clamp(p.committed.unwrap_or(p.log_start).max(p.log_start).saturating_add(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OffsetResetTarget::*;

    #[test]
    fn targets_stay_inside_the_log() {
        let p = PartitionBounds { log_start: 10, end: 100, committed: Some(50), at_timestamp: Some(42) };
        let cases = [
            (Earliest, 0, 10),
            (Latest, 0, 100),
            (Timestamp, 0, 42),
            (Offset, 5, 10),
            (Offset, 70, 70),
            (Offset, 500, 100),
            (ShiftBy, -20, 30),
            (ShiftBy, -500, 10),
            (ShiftBy, 500, 100),
        ];
        for (to, v, want) in cases {
            assert_eq!(target_offset(to, v, p), want, "{to:?} {v}");
        }
        let none = PartitionBounds { at_timestamp: Some(-1), ..p };
        assert_eq!(target_offset(Timestamp, 0, none), 100);
        let no_commit = PartitionBounds { committed: None, ..p };
        assert_eq!(target_offset(ShiftBy, 5, no_commit), 15);
    }

    #[test]
    fn values_parse_per_target() {
        assert_eq!(parse_value(Timestamp, Some("1700000000000")), Ok(1_700_000_000_000));
        assert_eq!(parse_value(Timestamp, Some("2023-11-14T22:13:20Z")), Ok(1_700_000_000_000));
        assert!(parse_value(Timestamp, Some("yesterday")).is_err());
        assert_eq!(parse_value(ShiftBy, Some("-5")), Ok(-5));
        assert!(parse_value(Offset, None).is_err());
    }
}
