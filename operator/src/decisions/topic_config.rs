//! Kafka's topic-level config keys and the types of their values (Kafka 4.x), so that a bad key or value is
//! refused before anything is sent to Kafka, and values are compared the way Kafka means them.

/// The type of a topic config value.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Long {
        min: i64,
    },
    Int {
        min: i64,
    },
    Ratio,
    Bool,
    Choice(&'static [&'static str]),
    /// Comma-separated subset of the choices.
    ListOf(&'static [&'static str]),
    /// Free-form list (the throttled-replicas keys).
    AnyList,
}

const COMPRESSION: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Every topic-level key Kafka 4.x accepts, with its type.
const KEYS: &[(&str, Kind)] = &[
    ("cleanup.policy", Kind::ListOf(&["delete", "compact"])),
    ("compression.type", Kind::Choice(COMPRESSION)),
    ("compression.gzip.level", Kind::Int { min: -1 }),
    ("compression.lz4.level", Kind::Int { min: 1 }),
    ("compression.zstd.level", Kind::Int { min: -131072 }),
    ("delete.retention.ms", Kind::Long { min: 0 }),
    ("file.delete.delay.ms", Kind::Long { min: 0 }),
    ("flush.messages", Kind::Long { min: 1 }),
    ("flush.ms", Kind::Long { min: 0 }),
    ("follower.replication.throttled.replicas", Kind::AnyList),
    ("index.interval.bytes", Kind::Int { min: 0 }),
    ("leader.replication.throttled.replicas", Kind::AnyList),
    ("local.retention.bytes", Kind::Long { min: -2 }),
    ("local.retention.ms", Kind::Long { min: -2 }),
    ("max.compaction.lag.ms", Kind::Long { min: 1 }),
    ("max.message.bytes", Kind::Int { min: 0 }),
    ("message.timestamp.after.max.ms", Kind::Long { min: 0 }),
    ("message.timestamp.before.max.ms", Kind::Long { min: 0 }),
    ("message.timestamp.type", Kind::Choice(&["CreateTime", "LogAppendTime"])),
    ("min.cleanable.dirty.ratio", Kind::Ratio),
    ("min.compaction.lag.ms", Kind::Long { min: 0 }),
    ("min.insync.replicas", Kind::Int { min: 1 }),
    ("preallocate", Kind::Bool),
    ("remote.storage.enable", Kind::Bool),
    ("remote.log.copy.disable", Kind::Bool),
    ("remote.log.delete.on.disable", Kind::Bool),
    ("retention.bytes", Kind::Long { min: -1 }),
    ("retention.ms", Kind::Long { min: -1 }),
    ("segment.bytes", Kind::Int { min: 1048576 }),
    ("segment.index.bytes", Kind::Int { min: 4 }),
    ("segment.jitter.ms", Kind::Long { min: 0 }),
    ("segment.ms", Kind::Long { min: 1 }),
    ("unclean.leader.election.enable", Kind::Bool),
];

/// Keys that reassignment tools set and that the operator never touches (strimzi#9972).
pub const THROTTLED_REPLICA_KEYS: &[&str] =
    &["leader.replication.throttled.replicas", "follower.replication.throttled.replicas"];

fn kind(key: &str) -> Option<Kind> {
    KEYS.iter().find(|(k, _)| *k == key).map(|(_, kind)| *kind)
}

/// Checks one key and value of a Topic's `spec.config`; the error names the key and says what is wrong.
pub fn validate(key: &str, value: &str) -> Result<(), String> {
    validate_at("spec.config", key, value)
}

/// A value as a message quotes it: in full when short, else its start and its length (a message carries no
/// megabyte-long value into a condition or an Event).
pub fn quoted(value: &str) -> String {
    const SHOWN: usize = 64;
    match value.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}… ({} bytes)", &value[..cut], value.len()),
        None => format!("{value:?}"),
    }
}

/// Checks one key and value of the config map at `field` (`spec.config`, `spec.retry.config`, ...).
pub fn validate_at(field: &str, key: &str, value: &str) -> Result<(), String> {
    let Some(kind) = kind(key) else {
        return Err(format!("{field}.{key}: unknown topic config key {}", quoted(key)));
    };
    let v = value.trim();
    let bad = |what: &str| Err(format!("{field}.{key}: {} is not {what}", quoted(value)));
    match kind {
        Kind::Long { min } | Kind::Int { min } => {
            let max = if matches!(kind, Kind::Int { .. }) { i32::MAX as i64 } else { i64::MAX };
            match v.parse::<i64>() {
                Ok(n) if n >= min && n <= max => Ok(()),
                Ok(_) => bad(&format!("an integer in [{min}, {max}]")),
                Err(_) => bad("an integer"),
            }
        }
        Kind::Ratio => match v.parse::<f64>() {
            Ok(x) if (0.0..=1.0).contains(&x) => Ok(()),
            _ => bad("a number between 0 and 1"),
        },
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => bad("true or false"),
        },
        Kind::Choice(choices) => {
            if choices.iter().any(|c| c.eq_ignore_ascii_case(v)) {
                Ok(())
            } else {
                bad(&format!("one of {}", choices.join(", ")))
            }
        }
        Kind::ListOf(choices) => {
            let items: Vec<&str> = v.split(',').map(str::trim).collect();
            if !items.is_empty() && items.iter().all(|i| choices.iter().any(|c| c.eq_ignore_ascii_case(i))) {
                Ok(())
            } else {
                bad(&format!("a comma-separated list of {}", choices.join(", ")))
            }
        }
        Kind::AnyList => Ok(()),
    }
}

/// Checks the keys of the config map at `field` against each other, as Kafka's `LogConfig.validateValues` does
/// when it creates or alters a topic: values valid one by one that Kafka refuses together.
pub fn validate_together(field: &str, config: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    let long = |k: &str| config.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    if let (Some(min), Some(max)) = (long("min.compaction.lag.ms"), long("max.compaction.lag.ms"))
        && min > max
    {
        return Err(format!(
            "{field}.min.compaction.lag.ms {min} is greater than {field}.max.compaction.lag.ms {max}: Kafka refuses the pair"
        ));
    }
    let remote = config.get("remote.storage.enable").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let compacted =
        config.get("cleanup.policy").is_some_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("compact")));
    if remote && compacted {
        return Err(format!(
            "{field}.remote.storage.enable: Kafka has no tiered storage for compacted topics ({field}.cleanup.policy contains compact)"
        ));
    }
    Ok(())
}

/// The form in which two values of `key` compare equal when Kafka treats them as equal.
pub fn normalize(key: &str, value: &str) -> String {
    let v = value.trim();
    match kind(key) {
        Some(Kind::Bool) => v.to_ascii_lowercase(),
        Some(Kind::ListOf(_) | Kind::AnyList) => {
            let mut items: Vec<String> =
                v.split(',').map(|i| i.trim().to_ascii_lowercase()).filter(|i| !i.is_empty()).collect();
            items.sort();
            items.join(",")
        }
        Some(Kind::Ratio) => v.parse::<f64>().map(|x| x.to_string()).unwrap_or_else(|_| v.to_string()),
        Some(Kind::Choice(_)) if key == "compression.type" => v.to_ascii_lowercase(),
        _ => v.to_string(),
    }
}

/// A numeric value of a key, for guardrail bounds.
pub fn numeric(value: &str) -> Option<i64> {
    value.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_keys_and_types() {
        let cases = [
            ("retention.ms", "604800000", true),
            ("retention.ms", "-1", true),
            ("retention.ms", "-2", false),
            ("retention.ms", "a week", false),
            ("cleanup.policy", "compact,delete", true),
            ("cleanup.policy", "forever", false),
            ("min.insync.replicas", "0", false),
            ("min.cleanable.dirty.ratio", "0.5", true),
            ("min.cleanable.dirty.ratio", "1.5", false),
            ("unclean.leader.election.enable", "TRUE", true),
            ("unclean.leader.election.enable", "yes", false),
            ("compression.type", "zstd", true),
            ("compression.type", "brotli", false),
            ("max.message.bytes", "3000000000", false),
            ("retention.hours", "1", false),
        ];
        for (k, v, ok) in cases {
            assert_eq!(validate(k, v).is_ok(), ok, "{k}={v}: {:?}", validate(k, v));
        }
        let err = validate("retention.hours", "1").unwrap_err();
        assert!(err.contains("retention.hours"), "{err}");
        let err = validate("retention.ms", "a week").unwrap_err();
        assert!(err.contains("spec.config.retention.ms"), "{err}");
    }

    #[test]
    fn refuses_what_kafka_refuses_together_and_quotes_huge_values_short() {
        let config = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let lag = config(&[("min.compaction.lag.ms", "900000"), ("max.compaction.lag.ms", "1000")]);
        let err = validate_together("spec.retry.config", &lag).unwrap_err();
        assert!(err.starts_with("spec.retry.config.min.compaction.lag.ms 900000 is greater than"), "{err}");
        let ok = config(&[("min.compaction.lag.ms", "1000"), ("max.compaction.lag.ms", "1000")]);
        assert!(validate_together("spec.config", &ok).is_ok());
        let tiered = config(&[("remote.storage.enable", "true"), ("cleanup.policy", "delete,compact")]);
        assert!(
            validate_together("spec.config", &tiered).unwrap_err().starts_with("spec.config.remote.storage.enable")
        );
        let tiered_delete = config(&[("remote.storage.enable", "true"), ("cleanup.policy", "delete")]);
        assert!(validate_together("spec.config", &tiered_delete).is_ok());

        let huge = "9".repeat(1 << 20);
        let err = validate("retention.ms", &huge).unwrap_err();
        assert!(err.len() < 200 && err.contains("1048576 bytes"), "{}", &err[..err.len().min(300)]);
        let err = validate_at("spec.deadLetter.config", "ünï", "1").unwrap_err();
        assert!(err.starts_with("spec.deadLetter.config.ünï: unknown topic config key"), "{err}");
    }

    #[test]
    fn normalizes_lists_and_booleans() {
        assert_eq!(normalize("cleanup.policy", "delete, compact"), normalize("cleanup.policy", "compact,delete"));
        assert_eq!(normalize("preallocate", "TRUE"), "true");
        assert_ne!(normalize("retention.ms", "1000"), normalize("retention.ms", "1001"));
    }
}
