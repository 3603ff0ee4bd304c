//! Dead letters, pure: the names of the retry and dead-letter topics a policy generates (Spring Kafka's rules),
//! their delays, the monitoring numbers (depth, age, rate, limits), and the arithmetic of a redrive (where a record
//! goes, whether it may, how many records the rate allows now, and the resumable progress kept with the committed
//! offsets).
//!
//! Spring for Apache Kafka ≥ 3.2, `@RetryableTopic` defaults (`DestinationTopicPropertiesFactory`):
//! - `attempts` counts the first delivery: `attempts − 1` back-off values, one per retry;
//! - back-off: fixed 1000 ms by default; exponential `d₀ = delay`, `dᵢ₊₁ = ⌊dᵢ × multiplier⌋`, each capped at
//!   `maxDelay` (Spring Retry's `ExponentialBackOffPolicy`, whose cap defaults to 30 s);
//! - `SameIntervalTopicReuseStrategy.SINGLE_TOPIC` (the default since 3.2): the attempts that share the *last*
//!   delay share one topic; when that leaves exactly one retry topic it is named `<topic>-retry`, without a value;
//! - `TopicSuffixingStrategy.SUFFIX_WITH_DELAY_VALUE` (the default): `<topic>-retry-<delayMs>`, except that a
//!   fixed back-off with several topics is suffixed with the index (`-retry-0`, `-retry-1`, …);
//! - `MULTIPLE_TOPICS` with repeated delays appends the repetition index (`-retry-16000-0`, `-retry-16000-1`);
//! - the dead-letter topic is `<topic>-dlt`.

use std::collections::BTreeMap;

use super::problem::Problem;

/// The default retry suffix (Spring's `RetryTopicConstants.DEFAULT_RETRY_SUFFIX`).
pub const DEFAULT_RETRY_SUFFIX: &str = "-retry";
/// The default dead-letter suffix (Spring's `RetryTopicConstants.DEFAULT_DLT_SUFFIX`).
pub const DEFAULT_DLT_SUFFIX: &str = "-dlt";
/// Spring's default fixed back-off.
pub const DEFAULT_DELAY_MS: i64 = 1000;
/// Spring Retry's `ExponentialBackOffPolicy.DEFAULT_MAX_INTERVAL`: the cap of an exponential back-off without one.
pub const DEFAULT_MAX_DELAY_MS: i64 = 30_000;
/// Kafka's longest topic name.
pub const MAX_TOPIC_NAME: usize = 249;
/// Default retention of the dead-letter topic: 14 days.
pub const DEFAULT_DLT_RETENTION_SECONDS: i64 = 14 * 24 * 3600;

/// Header a redrive adds to every record it moves.
pub const REDRIVE_ID_HEADER: &str = "tributary-redrive-id";
/// Headers that name a dead letter's original topic, in the order they are trusted.
pub const ORIGINAL_TOPIC_HEADERS: [&str; 3] =
    ["kafka_dlt-original-topic", "__connect.errors.topic", "__streams.errors.topic"];

/// How retry topics are suffixed (Spring's `TopicSuffixingStrategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Suffixing {
    #[default]
    DelayValue,
    IndexValue,
}

/// Whether consecutive equal delays at the end share a topic (Spring's `SameIntervalTopicReuseStrategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reuse {
    #[default]
    SingleTopic,
    MultipleTopics,
}

/// A back-off as Spring's `@Backoff(delay, multiplier, maxDelay)`, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffMs {
    pub initial: i64,
    pub multiplier: f64,
    pub max: Option<i64>,
}

/// Why a policy's spec cannot be turned into topics: a [`Problem`] with reason `InvalidSpec`.
fn invalid(message: String) -> Problem {
    Problem::new("InvalidSpec", message)
}

/// The delay of every retry, in order: `attempts − 1` values.
///
/// - explicit `delays`: delay `i` is `delays[min(i, len − 1)]` (the last one repeats);
/// - a back-off: fixed when `multiplier ≤ 1`, else exponential, capped at `max` (default 30 s as Spring Retry);
/// - neither: fixed 1000 ms.
pub fn retry_delays(attempts: i32, backoff: Option<BackoffMs>, delays: &[i64]) -> Result<Vec<i64>, Problem> {
    if attempts < 1 {
        return Err(invalid(format!("retry.attempts must be at least 1, got {attempts}")));
    }
    let retries = (attempts - 1) as usize;
    if let Some(d) = delays.iter().find(|d| **d < 1) {
        return Err(invalid(format!("retry.delaysMs must be positive, got {d}")));
    }
    if delays.len() > retries {
        return Err(invalid(format!(
            "retry.delaysMs has {} delays but attempts {attempts} allows {retries} retries",
            delays.len()
        )));
    }
    if !delays.is_empty() {
        return Ok((0..retries).map(|i| delays[i.min(delays.len() - 1)]).collect());
    }
    let b = backoff.unwrap_or(BackoffMs { initial: DEFAULT_DELAY_MS, multiplier: 1.0, max: None });
    if b.initial < 1 {
        return Err(invalid(format!("retry.backoff.initialSeconds must be at least 0.001, got {} ms", b.initial)));
    }
    if b.multiplier <= 1.0 {
        return Ok(vec![b.initial; retries]);
    }
    // Spring Retry: the cap only applies when it is above the initial delay; otherwise the default cap.
    let max = b.max.filter(|m| *m > b.initial).unwrap_or(DEFAULT_MAX_DELAY_MS.max(b.initial));
    let mut out = Vec::with_capacity(retries);
    let mut interval = b.initial;
    for _ in 0..retries {
        if interval > max {
            out.push(max);
        } else {
            out.push(interval);
            interval = ((interval as f64) * b.multiplier).min(i64::MAX as f64 / 2.0) as i64;
        }
    }
    Ok(out)
}

/// One retry topic: its Kafka name, its delay and the retries (0-based) that go through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryTopic {
    pub name: String,
    pub delay_ms: i64,
    pub retries: Vec<usize>,
}

/// The retry topics for `source`, Spring's names, distinct and in attempt order.
pub fn retry_topics(source: &str, delays: &[i64], suffix: &str, suffixing: Suffixing, reuse: Reuse) -> Vec<RetryTopic> {
    let n = delays.len();
    let count = |d: i64| delays.iter().filter(|x| **x == d).count();
    let single = reuse == Reuse::SingleTopic;
    let reusable = if single && n > 1 { count(delays[n - 1]) - 1 } else { 0 };
    let amount = n - reusable;
    let distinct = delays.iter().collect::<std::collections::BTreeSet<_>>().len();
    let fixed = suffixing == Suffixing::IndexValue || (n > 1 && distinct == 1);
    let mut out: Vec<RetryTopic> = Vec::new();
    for (i, &d) in delays.iter().enumerate() {
        // Retries past `amount` reuse the last topic.
        let slot = i.min(amount.saturating_sub(1));
        let name = if single && amount == 1 {
            format!("{source}{suffix}")
        } else if fixed {
            format!("{source}{suffix}-{slot}")
        } else {
            let d_slot = delays[slot];
            let base = format!("{source}{suffix}-{d_slot}");
            if !single && count(d_slot) > 1 {
                let first = delays.iter().position(|x| *x == d_slot).unwrap_or(0);
                format!("{base}-{}", slot - first)
            } else {
                base
            }
        };
        match out.iter_mut().find(|t| t.name == name) {
            Some(t) => t.retries.push(i),
            None => out.push(RetryTopic { name, delay_ms: d, retries: vec![i] }),
        }
    }
    out
}

/// The dead-letter topic's Kafka name: the explicit name, else `<source><suffix>` (default `-dlt`).
pub fn dead_letter_topic(source: &str, explicit: Option<&str>, suffix: Option<&str>) -> String {
    match explicit {
        Some(name) => name.to_string(),
        None => format!("{source}{}", suffix.unwrap_or(DEFAULT_DLT_SUFFIX)),
    }
}

/// What a generated topic is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Retry { delay_ms: i64 },
    DeadLetter,
}

/// A topic a policy generates, ready to become a child `Topic` resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedTopic {
    pub role: Role,
    /// Name in Kafka.
    pub kafka_name: String,
    /// Name of the child `Topic` resource (a DNS subdomain).
    pub resource_name: String,
    pub partitions: i32,
    pub replication_factor: Option<i32>,
    pub config: BTreeMap<String, String>,
}

/// Shape of the generated topics, from the spec.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopicsSpec {
    pub attempts: Option<i32>,
    pub backoff: Option<BackoffMs>,
    pub delays_ms: Vec<i64>,
    pub retry_suffix: Option<String>,
    pub suffixing: Suffixing,
    pub reuse: Reuse,
    pub retry_partitions: Option<i32>,
    pub retry_replication_factor: Option<i32>,
    pub retry_config: BTreeMap<String, String>,
    pub dlt_name: Option<String>,
    pub dlt_suffix: Option<String>,
    pub dlt_partitions: Option<i32>,
    pub dlt_replication_factor: Option<i32>,
    pub dlt_retention_seconds: Option<i64>,
    pub dlt_config: BTreeMap<String, String>,
}

/// Every topic a policy generates: its retry topics (only when `attempts` is set, i.e. `spec.retry` is present)
/// in attempt order, then the dead-letter topic.
pub fn generated_topics(policy: &str, source: &str, spec: &TopicsSpec) -> Result<Vec<GeneratedTopic>, Problem> {
    let mut out = vec![];
    if let Some(attempts) = spec.attempts {
        let delays = retry_delays(attempts, spec.backoff, &spec.delays_ms)?;
        let suffix = spec.retry_suffix.as_deref().unwrap_or(DEFAULT_RETRY_SUFFIX);
        for t in retry_topics(source, &delays, suffix, spec.suffixing, spec.reuse) {
            out.push(GeneratedTopic {
                resource_name: String::new(),
                role: Role::Retry { delay_ms: t.delay_ms },
                kafka_name: t.name,
                partitions: spec.retry_partitions.unwrap_or(1),
                replication_factor: spec.retry_replication_factor,
                config: spec.retry_config.clone(),
            });
        }
    }
    let mut dlt_config = spec.dlt_config.clone();
    let retention = spec
        .dlt_retention_seconds
        .or_else(|| (!dlt_config.contains_key("retention.ms")).then_some(DEFAULT_DLT_RETENTION_SECONDS));
    if let Some(seconds) = retention {
        dlt_config.insert("retention.ms".into(), (seconds.saturating_mul(1000)).to_string());
    }
    out.push(GeneratedTopic {
        resource_name: String::new(),
        role: Role::DeadLetter,
        kafka_name: dead_letter_topic(source, spec.dlt_name.as_deref(), spec.dlt_suffix.as_deref()),
        partitions: spec.dlt_partitions.unwrap_or(1),
        replication_factor: spec.dlt_replication_factor,
        config: dlt_config,
    });
    let mut seen = std::collections::BTreeSet::new();
    for t in &mut out {
        if t.kafka_name.len() > MAX_TOPIC_NAME {
            return Err(invalid(format!(
                "generated topic name {:?} is {} characters, longer than Kafka's {MAX_TOPIC_NAME}",
                t.kafka_name,
                t.kafka_name.len()
            )));
        }
        if !t.kafka_name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(invalid(format!(
                "generated topic name {:?} has characters Kafka does not allow",
                t.kafka_name
            )));
        }
        if t.kafka_name == source {
            return Err(invalid(format!("generated topic {:?} is the source topic itself", t.kafka_name)));
        }
        if !seen.insert(t.kafka_name.clone()) {
            return Err(invalid(format!(
                "two generated topics are both named {:?}: use different retry and dead-letter suffixes",
                t.kafka_name
            )));
        }
        t.resource_name = child_resource_name(policy, source, &t.kafka_name);
    }
    Ok(out)
}

/// Name of the child `Topic` resource for a generated Kafka topic: `<policy><kafka suffix>`, lower-cased into a
/// DNS subdomain. When that changes the text (upper case, `_`) or it is too long, a short stable hash of the Kafka
/// name keeps different topics apart.
pub fn child_resource_name(policy: &str, source: &str, kafka_name: &str) -> String {
    let tail = kafka_name.strip_prefix(source).unwrap_or(kafka_name);
    let tail = if kafka_name.starts_with(source) { tail.to_string() } else { format!("-{tail}") };
    let raw = format!("{policy}{tail}");
    let mut clean: String = raw
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    let altered = clean != raw;
    const MAX: usize = 240;
    if altered || clean.len() > MAX {
        clean.truncate(MAX);
        clean = format!("{}-{:08x}", clean.trim_end_matches(['-', '.']), fnv32(kafka_name));
    }
    clean.trim_matches(['-', '.']).to_string()
}

/// FNV-1a, 32 bits: a stable hash (std's `DefaultHasher` may change between releases).
fn fnv32(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}

// ---- monitoring ------------------------------------------------------------------------------------------------

/// Records in the dead-letter topic not yet redriven: Σ `max(0, end − max(committed, logStart))` over partitions,
/// with the redrive group's committed offsets (see [`super::lag::partition_lag`]).
pub fn depth(partitions: &[super::lag::PartitionOffsets]) -> i64 {
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

// ---- redrive -------------------------------------------------------------------------------------------------

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
            let start = super::lag::consumer_position(f.committed, f.log_start);
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

    fn names(source: &str, delays: &[i64], suffixing: Suffixing, reuse: Reuse) -> Vec<String> {
        retry_topics(source, delays, DEFAULT_RETRY_SUFFIX, suffixing, reuse).into_iter().map(|t| t.name).collect()
    }

    /// attempts, back-off, explicit delays, expected delays.
    type DelayCase = (i32, Option<BackoffMs>, Vec<i64>, Vec<i64>);

    #[test]
    fn delays_follow_spring() {
        let exp = |i: i64, m: f64, max: Option<i64>| Some(BackoffMs { initial: i, multiplier: m, max });
        let cases: Vec<DelayCase> = vec![
            // attempts counts the first delivery; default fixed 1000 ms.
            (3, None, vec![], vec![1000, 1000]),
            (1, None, vec![], vec![]),
            (4, exp(1000, 2.0, Some(5000)), vec![], vec![1000, 2000, 4000]),
            (6, exp(1000, 2.0, Some(5000)), vec![], vec![1000, 2000, 4000, 5000, 5000]),
            // No cap given: Spring Retry's 30 s.
            (8, exp(10_000, 2.0, None), vec![], vec![10_000, 20_000, 30_000, 30_000, 30_000, 30_000, 30_000]),
            // Iterated truncation, as Spring Retry: 1000, 1500, 2250, 3375, 5062.
            (6, exp(1000, 1.5, Some(60_000)), vec![], vec![1000, 1500, 2250, 3375, 5062]),
            (3, exp(2000, 1.0, None), vec![], vec![2000, 2000]),
            // Explicit delays; the last repeats.
            (5, None, vec![100, 500], vec![100, 500, 500, 500]),
        ];
        for (attempts, backoff, explicit, want) in cases {
            assert_eq!(
                retry_delays(attempts, backoff, &explicit).unwrap(),
                want,
                "{attempts} {backoff:?} {explicit:?}"
            );
        }
        assert!(retry_delays(2, None, &[1, 2]).unwrap_err().message.contains("allows 1 retries"));
        assert!(retry_delays(0, None, &[]).is_err());
        assert!(retry_delays(3, None, &[0]).is_err());
    }

    #[test]
    fn names_follow_spring_defaults_and_options() {
        use Reuse::*;
        use Suffixing::*;
        let cases: Vec<(Vec<i64>, Suffixing, Reuse, Vec<&str>)> = vec![
            // @RetryableTopic defaults (Spring Kafka ≥ 3.2): a fixed back-off shares one topic, named without a value.
            (vec![1000, 1000], DelayValue, SingleTopic, vec!["o-retry"]),
            (vec![1000], DelayValue, SingleTopic, vec!["o-retry"]),
            // Exponential: delay values; the attempts at maxDelay share the last topic.
            (vec![1000, 2000, 4000], DelayValue, SingleTopic, vec!["o-retry-1000", "o-retry-2000", "o-retry-4000"]),
            (
                vec![1000, 2000, 4000, 4000, 4000],
                DelayValue,
                SingleTopic,
                vec!["o-retry-1000", "o-retry-2000", "o-retry-4000"],
            ),
            // MULTIPLE_TOPICS: a fixed back-off gets index suffixes, repeated delays a repetition index.
            (vec![1000, 1000], DelayValue, MultipleTopics, vec!["o-retry-0", "o-retry-1"]),
            (
                vec![1000, 2000, 2000, 2000],
                DelayValue,
                MultipleTopics,
                vec!["o-retry-1000", "o-retry-2000-0", "o-retry-2000-1", "o-retry-2000-2"],
            ),
            (vec![1000], DelayValue, MultipleTopics, vec!["o-retry-1000"]),
            // SUFFIX_WITH_INDEX_VALUE.
            (vec![1000, 2000, 4000], IndexValue, SingleTopic, vec!["o-retry-0", "o-retry-1", "o-retry-2"]),
            (vec![1000, 2000, 2000], IndexValue, SingleTopic, vec!["o-retry-0", "o-retry-1"]),
            // Equal delays in the middle (explicit delays): Spring names both alike, so they share a topic.
            (vec![1000, 1000, 2000], DelayValue, SingleTopic, vec!["o-retry-1000", "o-retry-2000"]),
            (vec![], DelayValue, SingleTopic, vec![]),
        ];
        for (delays, suffixing, reuse, want) in cases {
            assert_eq!(names("o", &delays, suffixing, reuse), want, "{delays:?} {suffixing:?} {reuse:?}");
        }
        let shared = retry_topics("o", &[1000, 2000, 4000, 4000], "-retry", DelayValue, SingleTopic);
        assert_eq!(shared[2].retries, vec![2, 3]);
        let custom = retry_topics("o", &[1000, 2000], "-myRetrySuffix", DelayValue, SingleTopic);
        assert_eq!(custom[1].name, "o-myRetrySuffix-2000");
    }

    #[test]
    fn generated_topics_carry_shape_and_child_names() {
        let spec = TopicsSpec {
            attempts: Some(4),
            backoff: Some(BackoffMs { initial: 1000, multiplier: 2.0, max: Some(2000) }),
            retry_partitions: Some(3),
            retry_config: [("retention.ms".to_string(), "3600000".to_string())].into(),
            dlt_partitions: Some(2),
            ..Default::default()
        };
        let topics = generated_topics("orders-policy", "Orders_v1", &spec).unwrap();
        let kafka: Vec<_> = topics.iter().map(|t| t.kafka_name.as_str()).collect();
        assert_eq!(kafka, ["Orders_v1-retry-1000", "Orders_v1-retry-2000", "Orders_v1-dlt"]);
        assert_eq!(topics[0].partitions, 3);
        assert_eq!(topics[0].config.get("retention.ms").map(String::as_str), Some("3600000"));
        assert_eq!(topics[2].role, Role::DeadLetter);
        assert_eq!(topics[2].partitions, 2);
        assert_eq!(topics[2].config.get("retention.ms").map(String::as_str), Some("1209600000"), "14 days");
        assert_eq!(topics[0].resource_name, "orders-policy-retry-1000");
        assert_eq!(topics[2].resource_name, "orders-policy-dlt");

        // No retry section: a dead-letter topic only; explicit retention and name win.
        let dlt_only = TopicsSpec {
            dlt_name: Some("Team.DLQ_orders".into()),
            dlt_retention_seconds: Some(3600),
            ..Default::default()
        };
        let topics = generated_topics("p", "orders", &dlt_only).unwrap();
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].kafka_name, "Team.DLQ_orders");
        assert_eq!(topics[0].config.get("retention.ms").map(String::as_str), Some("3600000"));
        let child = &topics[0].resource_name;
        assert!(child.starts_with("p-team.dlq-orders-") && child.len() == "p-team.dlq-orders-".len() + 8, "{child}");

        // Clashes and bad names.
        let clash = TopicsSpec {
            attempts: Some(2),
            retry_suffix: Some("-x".into()),
            dlt_suffix: Some("-x".into()),
            ..Default::default()
        };
        assert!(generated_topics("p", "o", &clash).unwrap_err().message.contains("both named"));
        let long = "a".repeat(246);
        assert!(generated_topics("p", &long, &TopicsSpec::default()).unwrap_err().message.contains("longer than"));
        let bad = TopicsSpec { dlt_suffix: Some("/x".into()), ..Default::default() };
        assert!(generated_topics("p", "o", &bad).is_err());
    }

    #[test]
    fn child_names_are_dns_safe_and_distinct() {
        assert_eq!(child_resource_name("pol", "orders", "orders-dlt"), "pol-dlt");
        let a = child_resource_name("pol", "orders", "orders_retry-1");
        let b = child_resource_name("pol", "orders", "orders-retry-1");
        assert_ne!(a, b);
        assert_eq!(b, "pol-retry-1");
        assert!(a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'));
        // A name not derived from the source.
        assert_eq!(child_resource_name("pol", "orders", "elsewhere"), "pol-elsewhere");
        let long = child_resource_name(&"p".repeat(250), "o", "o-dlt");
        assert!(long.len() <= 253, "{}", long.len());
    }

    #[test]
    fn depth_counts_from_committed_or_log_start() {
        use super::super::lag::PartitionOffsets as P;
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
