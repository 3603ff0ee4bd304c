//! The retry and dead-letter topics a policy generates: their names (Spring Kafka's rules), delays and shape.
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

use crate::decisions::hash::fnv32;
use crate::decisions::problem::Problem;
use crate::decisions::topic_config;

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
        return Err(invalid(format!("spec.retry.attempts must be at least 1, got {attempts}")));
    }
    let retries = (attempts - 1) as usize;
    if let Some(d) = delays.iter().find(|d| **d < 1) {
        return Err(invalid(format!("spec.retry.delaysMs must be positive, got {d}")));
    }
    if delays.len() > retries {
        return Err(invalid(format!(
            "spec.retry.delaysMs has {} delays but attempts {attempts} allows {retries} retries",
            delays.len()
        )));
    }
    if !delays.is_empty() {
        return Ok((0..retries).map(|i| delays[i.min(delays.len() - 1)]).collect());
    }
    let b = backoff.unwrap_or(BackoffMs { initial: DEFAULT_DELAY_MS, multiplier: 1.0, max: None });
    if b.initial < 1 {
        return Err(invalid(format!("spec.retry.backoff.initialSeconds must be at least 0.001, got {} ms", b.initial)));
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
    // The configs first: one bad value refuses the whole policy, so no child topic is made for it.
    for (field, config) in [("spec.retry.config", &spec.retry_config), ("spec.deadLetter.config", &spec.dlt_config)] {
        let bad = |message: String| Problem::new("InvalidConfig", message);
        for (k, v) in config {
            topic_config::validate_at(field, k, v).map_err(bad)?;
        }
        topic_config::validate_together(field, config).map_err(bad)?;
    }
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
                "spec.sourceTopic: the generated topic name {} is {} characters, longer than Kafka's {MAX_TOPIC_NAME} \
                 (a shorter source topic, spec.retry.suffix or spec.deadLetter.suffix)",
                topic_config::quoted(&t.kafka_name),
                t.kafka_name.len()
            )));
        }
        if !t.kafka_name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(invalid(format!(
                "spec.sourceTopic: the generated topic name {} has characters Kafka does not allow",
                topic_config::quoted(&t.kafka_name)
            )));
        }
        if t.kafka_name == source {
            let field = if t.role == Role::DeadLetter { "spec.deadLetter.topicName" } else { "spec.retry.suffix" };
            return Err(invalid(format!("{field}: the generated topic {:?} is the source topic itself", t.kafka_name)));
        }
        if !seen.insert(t.kafka_name.clone()) {
            return Err(invalid(format!(
                "spec.retry.suffix: two generated topics are both named {:?}: use different retry and dead-letter \
                 suffixes (spec.retry.suffix, spec.deadLetter.suffix or spec.deadLetter.topicName)",
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
    fn bad_input_names_the_field_and_refuses_every_topic() {
        let config = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        // A bad retry config refuses the policy as a whole: not even the dead-letter topic is generated.
        let spec = TopicsSpec { attempts: Some(2), retry_config: config("ünï", "1"), ..Default::default() };
        let p = generated_topics("p", "o", &spec).unwrap_err();
        assert_eq!(p.reason, "InvalidConfig");
        assert!(p.message.starts_with("spec.retry.config.ünï: unknown topic config key"), "{}", p.message);
        let spec = TopicsSpec { dlt_config: config("retention.ms", "-2"), ..Default::default() };
        let p = generated_topics("p", "o", &spec).unwrap_err();
        assert!(p.message.starts_with("spec.deadLetter.config.retention.ms: \"-2\" is not"), "{}", p.message);
        let mut lag = config("min.compaction.lag.ms", "900000");
        lag.insert("max.compaction.lag.ms".into(), "1000".into());
        let spec = TopicsSpec { attempts: Some(2), retry_config: lag, ..Default::default() };
        let p = generated_topics("p", "o", &spec).unwrap_err();
        assert!(p.message.starts_with("spec.retry.config.min.compaction.lag.ms 900000 is greater"), "{}", p.message);

        let itself = TopicsSpec { dlt_name: Some("o".into()), ..Default::default() };
        let p = generated_topics("p", "o", &itself).unwrap_err();
        assert!(p.message.starts_with("spec.deadLetter.topicName: "), "{}", p.message);
        let clash = TopicsSpec { attempts: Some(2), retry_suffix: Some("-dlt".into()), ..Default::default() };
        assert!(generated_topics("p", "o", &clash).unwrap_err().message.starts_with("spec.retry.suffix: "));
        let long = "a".repeat(245);
        let spec = TopicsSpec { attempts: Some(2), ..Default::default() };
        assert!(generated_topics("p", &long, &spec).unwrap_err().message.starts_with("spec.sourceTopic: "));
        assert!(retry_delays(0, None, &[]).unwrap_err().message.starts_with("spec.retry.attempts"));
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
        // Cut to 240 characters, then a hash of the Kafka name: 249, within a DNS subdomain's 253.
        assert_eq!(long.len(), 249, "{long}");
        assert!(long.starts_with(&"p".repeat(240)) && long.as_bytes()[240] == b'-', "{long}");
        assert_ne!(long, child_resource_name(&"p".repeat(250), "o", "o-retry"), "the hash keeps them apart");
    }
}
