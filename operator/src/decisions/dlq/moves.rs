//! Moving dead letters, pure: where a record goes and whether it may, how many records the rate allows now, and
//! the plan of a move with its resumable progress (the marks kept with the committed offsets).

use std::collections::BTreeMap;

use crate::api::dlq_policy::RedrivePhase;
use crate::decisions::lag::consumer_position;

/// Header a redrive adds to every record it moves.
pub const REDRIVE_ID_HEADER: &str = "tributary-redrive-id";
/// Headers that name a dead letter's original topic, in the order they are trusted.
pub const ORIGINAL_TOPIC_HEADERS: [&str; 3] =
    ["kafka_dlt-original-topic", "__connect.errors.topic", "__streams.errors.topic"];

/// The original topic a dead letter names in its headers (Spring, then Kafka Connect, then Kafka Streams).
/// Borrows from the headers: this runs once per moved record.
pub fn original_topic<'a>(headers: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>) -> Option<&'a str> {
    let mut found: [Option<&'a str>; 3] = [None; 3];
    for (key, value) in headers {
        if let Some(i) = ORIGINAL_TOPIC_HEADERS.iter().position(|h| *h == key)
            && let Some(v) = value
            && let Ok(s) = std::str::from_utf8(v)
            && !s.is_empty()
        {
            found[i].get_or_insert(s);
        }
    }
    found.into_iter().flatten().next()
}

/// Where a redriven record goes: the redrive's destination, else its original topic, else the source topic.
pub fn destination<'a>(explicit: Option<&'a str>, original: Option<&'a str>, source: &'a str) -> &'a str {
    explicit.or(original).unwrap_or(source)
}

/// Which topics a redrive may write to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowed {
    pub source: String,
    pub extra: Vec<String>,
    pub dead_letter: String,
}

impl Allowed {
    /// `Ok` when the policy allows writing `topic`; else why not.
    pub fn check(&self, topic: &str) -> Result<(), String> {
        if topic == self.dead_letter {
            return Err(format!("topic {topic:?} is the dead-letter topic itself: redriving into it would loop"));
        }
        if topic == self.source || self.extra.iter().any(|t| t == topic || t == "*") {
            return Ok(());
        }
        let mut allowed = vec![self.source.as_str()];
        allowed.extend(self.extra.iter().map(String::as_str));
        Err(format!(
            "topic {topic:?} is not allowed by the policy (allowed: {}; add it to spec.allowedRedriveTopics)",
            allowed.join(", ")
        ))
    }
}

/// How many records may be produced now: a pacing budget of `rate` per second since `started_ms`, with `burst`
/// records of slack, minus what was already `sent`. `rate == 0` means no limit.
pub fn allowance(rate: u32, burst: u64, started_ms: i64, now_ms: i64, sent: u64) -> u64 {
    if rate == 0 {
        return u64::MAX;
    }
    let elapsed = (now_ms - started_ms).max(0) as u128;
    let budget = (elapsed * rate as u128 / 1000) as u64 + burst;
    budget.saturating_sub(sent)
}

/// Milliseconds until one more record is allowed (0 when one is allowed now).
pub fn wait_ms(rate: u32, burst: u64, started_ms: i64, now_ms: i64, sent: u64) -> u64 {
    if rate == 0 || allowance(rate, burst, started_ms, now_ms, sent) > 0 {
        return 0;
    }
    // The budget reaches sent + 1 when elapsed·rate/1000 ≥ sent + 1 − burst.
    let need = (sent + 1).saturating_sub(burst) as u128;
    let at = (need * 1000).div_ceil(rate as u128) as i64;
    (started_ms + at - now_ms).max(1) as u64
}

/// Slack of the pacer: a tenth of a second's worth, at least one record. Small so the rate over any few seconds
/// stays within a few percent of the limit.
pub fn burst_for(rate: u32) -> u64 {
    if rate == 0 { u64::MAX / 2 } else { (rate as u64 / 10).max(1) }
}

/// Phase of a running move, as the mover reports it (a move is never `Pending` nor `Refused`: those are decided
/// before it starts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovePhase {
    Running,
    Completed,
    Cancelled,
    Failed,
}

impl From<MovePhase> for RedrivePhase {
    fn from(phase: MovePhase) -> RedrivePhase {
        match phase {
            MovePhase::Running => RedrivePhase::Running,
            MovePhase::Completed => RedrivePhase::Completed,
            MovePhase::Cancelled => RedrivePhase::Cancelled,
            MovePhase::Failed => RedrivePhase::Failed,
        }
    }
}

/// Progress of a move: committed numbers only (records in an open transaction do not count).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveProgress {
    pub phase: MovePhase,
    pub moved: i64,
    pub total: Option<i64>,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub message: Option<String>,
}

/// Progress of one move, kept in the metadata of each offset the move commits (atomically with the records it
/// produced), so a restarted operator resumes exactly where the last committed transaction left off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveMark {
    pub id: String,
    /// Offset this partition is moved up to (exclusive): its end when the move started.
    pub stop: i64,
    /// Records moved from this partition so far (the move's progress is the sum over its partitions).
    pub moved: i64,
    /// Records the whole move will move.
    pub total: i64,
    pub started_ms: i64,
}

/// v2: `moved` counts this partition's records (v1 counted the whole move, written by one producer).
const MARK_PREFIX: &str = "tributary-redrive/v2";

impl MoveMark {
    pub fn encode(&self) -> String {
        format!(
            "{MARK_PREFIX};stop={};moved={};total={};started={};id={}",
            self.stop, self.moved, self.total, self.started_ms, self.id
        )
    }

    /// Reads a mark written by [`MoveMark::encode`]; anything else (another tool's metadata) is `None`.
    pub fn decode(s: &str) -> Option<MoveMark> {
        let rest = s.strip_prefix(MARK_PREFIX)?.strip_prefix(';')?;
        let (nums, id) = rest.split_once(";id=")?;
        let mut fields = BTreeMap::new();
        for kv in nums.split(';') {
            let (k, v) = kv.split_once('=')?;
            fields.insert(k, v.parse::<i64>().ok()?);
        }
        Some(MoveMark {
            id: id.to_string(),
            stop: *fields.get("stop")?,
            moved: *fields.get("moved")?,
            total: *fields.get("total")?,
            started_ms: *fields.get("started")?,
        })
    }
}

/// What is known of one dead-letter partition when a move starts or resumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionFacts {
    pub partition: i32,
    /// The redrive group's committed offset.
    pub committed: Option<i64>,
    pub log_start: i64,
    /// The read-committed end (last stable offset).
    pub end: i64,
    /// The mark committed with the offset, when it belongs to this move's id.
    pub mark: Option<MoveMark>,
}

/// One partition's share of a move: records in `[start, stop)`, `moved` of them already moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionPlan {
    pub partition: i32,
    pub start: i64,
    pub stop: i64,
    pub moved: i64,
}

impl PartitionPlan {
    pub fn has_work(&self) -> bool {
        self.start < self.stop
    }
}

/// A move, new or resumed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovePlan {
    pub parts: Vec<PartitionPlan>,
    /// Some partition carries a mark of this id: the move was under way (its marks are the word on stops and
    /// progress), else it starts now and its marks must be written before any record moves.
    pub resumed: bool,
    pub moved: i64,
    pub total: i64,
    pub started_ms: i64,
}

/// Plans a move from the partitions' facts. A new move takes everything between the group's position and the
/// read-committed end, at most `max_messages` records. A resumed move keeps each partition's stop from its mark;
/// a partition without a mark was added after the move started, so its records are not part of it.
pub fn plan_move(facts: &[PartitionFacts], max_messages: Option<i64>, now_ms: i64) -> MovePlan {
    let first_mark = facts.iter().find_map(|f| f.mark.as_ref());
    let parts: Vec<PartitionPlan> = facts
        .iter()
        .map(|f| {
            let start = consumer_position(f.committed, f.log_start);
            let (stop, moved) = match (first_mark, &f.mark) {
                (Some(_), Some(m)) => (m.stop, m.moved),
                (Some(_), None) => (start, 0),
                (None, _) => (f.end, 0),
            };
            PartitionPlan { partition: f.partition, start, stop: stop.max(start), moved }
        })
        .collect();
    let moved = parts.iter().map(|p| p.moved).sum();
    match first_mark {
        Some(m) => MovePlan { parts, resumed: true, moved, total: m.total, started_ms: m.started_ms },
        None => {
            let spans: Vec<(i64, i64)> = parts.iter().map(|p| (p.start, p.stop)).collect();
            let total = move_total(&spans, max_messages);
            MovePlan { parts, resumed: false, moved, total, started_ms: now_ms }
        }
    }
}

/// Splits the partitions that have work among at most `max_workers` movers, each with its own consumer and
/// transactional producer, so one mover's commit overlaps the others' records. A move capped by `max_messages`
/// takes one mover: the cap counts records across partitions, and offsets are no measure of records (transaction
/// markers take offsets too).
pub fn split_among_workers(parts: &[PartitionPlan], max_messages: Option<i64>, max_workers: usize) -> Vec<Vec<i32>> {
    let busy: Vec<i32> = parts.iter().filter(|p| p.has_work()).map(|p| p.partition).collect();
    let workers = if max_messages.is_some() { 1 } else { busy.len().min(max_workers.max(1)) };
    let mut out = vec![Vec::new(); workers.min(busy.len())];
    for (i, p) in busy.iter().enumerate() {
        let n = out.len();
        out[i % n].push(*p);
    }
    out
}

/// Records a move will take: what lies between each partition's start and stop, capped by `max_messages`.
pub fn move_total(spans: &[(i64, i64)], max_messages: Option<i64>) -> i64 {
    let present: i64 = spans.iter().map(|(start, stop)| (stop - start).max(0)).sum();
    max_messages.map_or(present, |m| present.min(m.max(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_topic_prefers_spring_then_connect_then_streams() {
        let h = |pairs: &'static [(&'static str, &'static str)]| {
            original_topic(pairs.iter().map(|(k, v)| (*k, Some(v.as_bytes()))))
        };
        assert_eq!(h(&[("kafka_dlt-original-topic", "orders")]), Some("orders"));
        assert_eq!(
            h(&[("__streams.errors.topic", "s"), ("__connect.errors.topic", "c"), ("kafka_dlt-original-topic", "o")]),
            Some("o")
        );
        assert_eq!(h(&[("__streams.errors.topic", "s"), ("__connect.errors.topic", "c")]), Some("c"));
        assert_eq!(h(&[("__streams.errors.topic", "s")]), Some("s"));
        assert_eq!(h(&[("kafka_dlt-original-topic", ""), ("other", "x")]), None);
        assert_eq!(original_topic([("kafka_dlt-original-topic", None)]), None);
        assert_eq!(destination(Some("d"), Some("o"), "s"), "d");
        assert_eq!(destination(None, Some("o"), "s"), "o");
        assert_eq!(destination(None, None, "s"), "s");
    }

    #[test]
    fn only_allowed_topics_may_be_written() {
        let a = Allowed { source: "orders".into(), extra: vec!["audit".into()], dead_letter: "orders-dlt".into() };
        assert!(a.check("orders").is_ok() && a.check("audit").is_ok());
        let e = a.check("payments").unwrap_err();
        assert!(e.contains("\"payments\"") && e.contains("orders, audit"), "{e}");
        assert!(a.check("orders-dlt").unwrap_err().contains("loop"));
        let any = Allowed { extra: vec!["*".into()], ..a };
        assert!(any.check("payments").is_ok());
        assert!(any.check("orders-dlt").is_err());
    }

    #[test]
    fn pacing_holds_the_rate() {
        let burst = burst_for(500);
        assert_eq!(burst, 50);
        assert_eq!(allowance(500, burst, 0, 0, 0), 50);
        assert_eq!(allowance(500, burst, 0, 1000, 0), 550);
        assert_eq!(allowance(500, burst, 0, 1000, 550), 0);
        assert_eq!(wait_ms(500, burst, 0, 1000, 550), 2, "one more record every 2 ms");
        assert_eq!(wait_ms(500, burst, 0, 1000, 10), 0);
        assert_eq!(allowance(0, 0, 0, 0, u64::MAX - 1), u64::MAX, "0 = no limit");
        // Simulate a mover that sends whatever it may every 7 ms for 20 s: the rate stays within 1%.
        let (rate, mut sent, mut now) = (1234u32, 0u64, 0i64);
        let b = burst_for(rate);
        while now < 20_000 {
            sent += allowance(rate, b, 0, now, sent).min(10_000);
            now += 7;
        }
        let measured = sent as f64 / 20.0;
        assert!((measured - rate as f64).abs() / (rate as f64) < 0.01, "{measured}");
    }

    #[test]
    fn move_marks_round_trip_and_totals_cap() {
        let m = MoveMark { id: "r-1;x=2".into(), stop: 100, moved: 42, total: 250, started_ms: 1_700_000_000_000 };
        assert_eq!(MoveMark::decode(&m.encode()), Some(m));
        assert_eq!(MoveMark::decode(""), None);
        assert_eq!(MoveMark::decode("something else"), None);
        assert_eq!(move_total(&[(0, 100), (50, 60), (10, 5)], None), 110);
        assert_eq!(move_total(&[(0, 100), (50, 60)], Some(30)), 30);
        assert_eq!(move_total(&[(0, 10)], Some(30)), 10);
    }

    fn facts(
        partition: i32,
        committed: Option<i64>,
        log_start: i64,
        end: i64,
        mark: Option<(i64, i64)>,
    ) -> PartitionFacts {
        let mark = mark.map(|(stop, moved)| MoveMark { id: "r".into(), stop, moved, total: 900, started_ms: 7 });
        PartitionFacts { partition, committed, log_start, end, mark }
    }

    #[test]
    fn a_new_move_takes_what_lies_between_position_and_end() {
        let plan = plan_move(
            &[facts(0, None, 0, 100, None), facts(1, Some(40), 0, 90, None), facts(2, Some(5), 20, 20, None)],
            None,
            1234,
        );
        assert!(!plan.resumed);
        assert_eq!((plan.moved, plan.total, plan.started_ms), (0, 150, 1234));
        let spans: Vec<(i64, i64)> = plan.parts.iter().map(|p| (p.start, p.stop)).collect();
        assert_eq!(spans, vec![(0, 100), (40, 90), (20, 20)], "the log start wins over an older commit");
        assert_eq!(plan_move(&[facts(0, None, 0, 100, None)], Some(30), 0).total, 30);
    }

    #[test]
    fn a_resumed_move_keeps_its_stops_and_sums_what_each_partition_moved() {
        // Partition 0 moved 60 of [0, 100); partition 1 is done; partition 2 appeared after the start.
        let plan = plan_move(
            &[
                facts(0, Some(60), 0, 500, Some((100, 60))),
                facts(1, Some(90), 0, 700, Some((90, 50))),
                facts(2, None, 0, 300, None),
            ],
            None,
            99,
        );
        assert!(plan.resumed);
        assert_eq!((plan.moved, plan.total, plan.started_ms), (110, 900, 7), "total and start from the marks");
        let spans: Vec<(i64, i64, i64)> = plan.parts.iter().map(|p| (p.start, p.stop, p.moved)).collect();
        assert_eq!(spans, vec![(60, 100, 60), (90, 90, 50), (0, 0, 0)], "later arrivals are not moved");
    }

    #[test]
    fn partitions_with_work_are_split_among_movers() {
        let part = |partition, start, stop| PartitionPlan { partition, start, stop, moved: 0 };
        let parts: Vec<PartitionPlan> = (0..6).map(|p| part(p, 0, if p == 2 { 0 } else { 10 })).collect();
        assert_eq!(split_among_workers(&parts, None, 4), vec![vec![0, 5], vec![1], vec![3], vec![4]]);
        assert_eq!(split_among_workers(&parts[..2], None, 4), vec![vec![0], vec![1]]);
        assert_eq!(split_among_workers(&parts, Some(30), 4), vec![vec![0, 1, 3, 4, 5]], "a capped move is one mover");
        assert!(split_among_workers(&[part(0, 5, 5)], None, 4).is_empty(), "nothing to move, no mover");
    }
}
