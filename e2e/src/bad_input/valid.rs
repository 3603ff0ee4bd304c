//! Random valid specs of every kind, for the idempotence check: applied, Ready, applied again, and nothing more is
//! written. Every value is inside the CRD's bounds and acceptable to Kafka and the registry (one broker, so
//! replication factor 1).

use serde_json::{Map, Value, json};

use super::{Env, Kind, Rng};

/// A valid manifest of `kind` named `name`, drawn from `rng`.
pub fn manifest(kind: Kind, name: &str, rng: &mut Rng, env: &Env) -> Value {
    let conn = json!({"name": env.connection});
    let spec = match kind {
        Kind::Topic => json!({"connectionRef": conn, "partitions": rng.between(1, 6), "replicationFactor": 1,
            "config": topic_config(rng), "managementPolicy": "Enforce",
            "deletionPolicy": *rng.pick(&["Retain", "Delete"])}),
        Kind::ConsumerGroup => {
            let max = rng.between(30, 600);
            json!({"connectionRef": conn, "topics": [env.kafka_topic],
                "lag": {"warnSeconds": rng.between(0, max), "maxSeconds": max}})
        }
        Kind::DlqPolicy => {
            let attempts = rng.between(1, 4);
            let mut retry = json!({"attempts": attempts, "partitions": rng.between(1, 3),
                "config": {"retention.ms": (rng.between(1, 7) * 86_400_000).to_string()}});
            if rng.chance(2) {
                retry["backoff"] = json!({"initialSeconds": rng.between(1, 3), "multiplier": rng.between(1, 3),
                    "maxSeconds": rng.between(3, 10)});
            }
            json!({"connectionRef": conn, "sourceTopic": format!("{name}-src"), "retry": retry,
                "deadLetter": {"partitions": rng.between(1, 3), "retentionSeconds": rng.between(1, 30) * 86_400},
                "alerting": {"maxDepth": rng.between(0, 10_000), "maxAgeSeconds": rng.between(60, 86_400)},
                "deletionPolicy": "Delete"})
        }
        Kind::KafkaConnection => json!({"bootstrapServers": env.bootstrap,
            "clientProperties": {"client.id": format!("{name}-{}", rng.word(4)),
                                 "socket.timeout.ms": rng.between(10_000, 60_000).to_string()},
            "policy": {"maxPartitions": rng.between(10, 1000), "minReplicationFactor": 1,
                       "protectedConfig": [{"key": "retention.ms", "min": rng.between(1, 60) * 60_000}]},
            "allowedNamespaces": [format!("team-{}", rng.word(4))],
            "schemaRegistry": {"url": env.registry_url}}),
        // Every defaulted field written out: a re-apply of `acls` items that leave `host`, `type` or `patternType`
        // to the schema's defaults moves the applier's managedFields (a resourceVersion) on every apply.
        Kind::KafkaUser => json!({"connectionRef": conn, "authentication": {"type": "scram-sha-512"},
            "produces": [env.topic], "consumes": [env.group],
            "transactionalIds": [{"name": format!("{name}-tx-"), "patternType": "Prefixed"}],
            "idempotent": rng.chance(2),
            "acls": [{"resource": {"type": "Topic", "name": format!("{name}-audit-{}", rng.word(3)),
                                   "patternType": "Literal"},
                      "operations": [*rng.pick(&["Describe", "Read", "DescribeConfigs"])],
                      "host": "*", "type": "Allow"}],
            "quotas": {"producerByteRate": rng.between(1, 100) * 1024 * 1024,
                       "requestPercentage": rng.between(1, 200)},
            "deletionPolicy": "Delete"}),
        Kind::Schema => {
            let fields: Vec<Value> = (0..rng.between(1, 5))
                .map(|i| {
                    json!({"name": format!("f{i}_{}", rng.word(3)),
                                "type": *rng.pick(&["string", "long", "int", "boolean", "double"])})
                })
                .collect();
            let record = json!({"type": "record", "name": format!("R{}", rng.word(5)),
                                "namespace": "dev.tributary.idem", "fields": fields});
            json!({"connectionRef": conn, "subject": format!("{name}-value"), "schemaType": "AVRO",
                "schema": record.to_string(),
                "compatibility": *rng.pick(&["BACKWARD", "FORWARD", "FULL", "NONE"]), "deletionPolicy": "Delete"})
        }
    };
    json!({"apiVersion": "tributary.dev/v1alpha1", "kind": kind.as_str(), "metadata": {"name": name}, "spec": spec})
}

/// A few topic config overrides with values Kafka takes (and that a one-broker stack can hold).
fn topic_config(rng: &mut Rng) -> Value {
    let mut config = Map::new();
    let choices: Vec<(&str, String)> = vec![
        ("retention.ms", (rng.between(1, 30) * 3_600_000).to_string()),
        ("cleanup.policy", rng.pick(&["delete", "compact", "compact,delete"]).to_string()),
        ("compression.type", rng.pick(&["producer", "zstd", "lz4", "snappy", "gzip"]).to_string()),
        ("max.message.bytes", rng.between(100_000, 2_000_000).to_string()),
        ("segment.bytes", (rng.between(1, 64) * 1_048_576).to_string()),
        ("min.insync.replicas", "1".to_string()),
        ("message.timestamp.type", rng.pick(&["CreateTime", "LogAppendTime"]).to_string()),
        ("retention.bytes", (rng.between(1, 1000) * 1_048_576).to_string()),
    ];
    for (k, v) in choices {
        if rng.chance(2) {
            config.insert(k.to_string(), json!(v));
        }
    }
    Value::Object(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_specs_are_reproducible_and_vary() {
        let env = super::super::tests::env();
        let a = manifest(Kind::Topic, "t", &mut Rng::new(1), &env);
        let b = manifest(Kind::Topic, "t", &mut Rng::new(1), &env);
        assert_eq!(a, b);
        let specs: std::collections::BTreeSet<String> =
            (0..20).map(|s| manifest(Kind::Topic, "t", &mut Rng::new(s), &env)["spec"].to_string()).collect();
        assert!(specs.len() > 10, "{} distinct of 20", specs.len());
    }
}
