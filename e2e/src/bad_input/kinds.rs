//! Per kind: a valid manifest, and the kind's own ways to be wrong (names Kafka refuses, contradictions, references
//! to objects that do not exist); its fields and their bounds are in `fields`.

use serde_json::{Value, json};

use super::fields::{fields, objects};
use super::mutate::{Field, generic, get, illegal_name, long_string, set, unicode, unknown_key};
use super::{Case, Env, Mutation, Rng, short};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Topic,
    ConsumerGroup,
    DlqPolicy,
    KafkaConnection,
    KafkaUser,
    Schema,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Topic, Kind::ConsumerGroup, Kind::DlqPolicy, Kind::KafkaConnection, Kind::KafkaUser, Kind::Schema];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Topic => "Topic",
            Kind::ConsumerGroup => "ConsumerGroup",
            Kind::DlqPolicy => "DlqPolicy",
            Kind::KafkaConnection => "KafkaConnection",
            Kind::KafkaUser => "KafkaUser",
            Kind::Schema => "Schema",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Kind::Topic => "kt",
            Kind::ConsumerGroup => "kcg",
            Kind::DlqPolicy => "dlq",
            Kind::KafkaConnection => "kconn",
            Kind::KafkaUser => "ku",
            Kind::Schema => "sch",
        }
    }
}

fn avro(name: &str) -> String {
    json!({"type": "record", "name": name, "namespace": "dev.tributary.badinput",
           "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "long"}]})
    .to_string()
}

/// A valid manifest of `kind` named `name`.
pub fn base(kind: Kind, name: &str, env: &Env) -> Value {
    let conn = json!({"name": env.connection});
    let spec = match kind {
        Kind::Topic => json!({"connectionRef": conn, "partitions": 3, "replicationFactor": 1,
            "config": {"retention.ms": "86400000", "cleanup.policy": "delete"},
            "managementPolicy": "Enforce", "deletionPolicy": "Retain"}),
        Kind::ConsumerGroup => json!({"connectionRef": conn, "topics": [env.kafka_topic],
            "lag": {"warnSeconds": 30, "maxSeconds": 60},
            "autoscaling": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "consumer"},
                "minReplicas": 0, "maxReplicas": 3, "lagPerReplica": 100, "activationLag": 0, "pollSeconds": 5,
                "scaleUp": {"stabilizationSeconds": 0, "maxStep": 2},
                "scaleDown": {"stabilizationSeconds": 60, "maxStep": 1}}}),
        Kind::DlqPolicy => json!({"connectionRef": conn, "sourceTopic": format!("{name}-src"),
            "retry": {"attempts": 3, "backoff": {"initialSeconds": 1, "multiplier": 2, "maxSeconds": 4},
                      "partitions": 1, "config": {"retention.ms": "86400000"}},
            "deadLetter": {"partitions": 1, "retentionSeconds": 86400, "config": {"cleanup.policy": "delete"}},
            "alerting": {"maxDepth": 100, "maxAgeSeconds": 3600, "maxPerMinute": 10},
            "deletionPolicy": "Retain"}),
        Kind::KafkaConnection => json!({"bootstrapServers": env.bootstrap,
            "clientProperties": {"client.id": "bad-input"},
            "policy": {"maxPartitions": 100, "minReplicationFactor": 1, "topicNamePattern": "^[a-z0-9.-]+$",
                       "protectedConfig": [{"key": "retention.ms", "min": 60000}], "allowTopicDeletion": true},
            "schemaRegistry": {"url": env.registry_url}}),
        Kind::KafkaUser => json!({"connectionRef": conn, "authentication": {"type": "scram-sha-512"},
            "secretName": format!("{name}-cred"), "produces": [env.topic], "consumes": [env.group],
            "transactionalIds": [{"name": format!("{name}-tx-"), "patternType": "Prefixed"}], "idempotent": true,
            "acls": [{"resource": {"type": "Topic", "name": format!("{name}-audit"), "patternType": "Literal"},
                      "operations": ["Describe"], "host": "*", "type": "Allow"}],
            "quotas": {"producerByteRate": 1_048_576, "consumerByteRate": 2_097_152, "requestPercentage": 50},
            "deletionPolicy": "Delete"}),
        Kind::Schema => json!({"connectionRef": conn, "topicRef": {"name": env.topic, "part": "value"},
            "schemaType": "AVRO", "schema": avro("Order"), "compatibility": "BACKWARD",
            "managementPolicy": "Enforce", "deletionPolicy": "Retain"}),
    };
    json!({"apiVersion": "tributary.dev/v1alpha1", "kind": kind.as_str(), "metadata": {"name": name}, "spec": spec})
}

/// One kind-specific change: the field at fault and what was done.
type Special = (String, String);

/// A metadata.name Kubernetes accepts (a DNS subdomain of `len` characters) but Kafka refuses as a topic name.
fn long_dns_name(rng: &mut Rng, len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        if !s.is_empty() {
            s.push('.');
        }
        let room = (len - s.len()).min(63);
        s.push_str(&rng.word(room.max(1)));
    }
    s.truncate(len);
    s.trim_end_matches('.').to_string() + &"a".repeat(len - s.trim_end_matches('.').len())
}

/// The kind's own ways to be wrong for `mutation`; each applies its change to `m` when chosen.
fn special(kind: Kind, mutation: Mutation, rng: &mut Rng, env: &Env, m: &mut Value) -> Option<Special> {
    let name = m["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let missing = format!("missing-{}", rng.word(6));
    let mut put = |path: &str, v: Value| set(m, path, v);
    let choice = rng.below(8);
    let out = match (kind, mutation) {
        // ---------------------------------------------------------------- Topic
        (Kind::Topic, Mutation::IllegalName) => match choice % 4 {
            0 => {
                let n = *rng.pick(&[".", ".."]);
                put("spec.topicName", json!(n));
                ("spec.topicName".into(), format!("topicName {n:?}"))
            }
            1 => {
                put("spec.topicName", json!(long_string(250 + rng.below(5))));
                ("spec.topicName".into(), "topicName of 250+ characters".into())
            }
            2 => {
                // Kubernetes takes it (a DNS subdomain), Kafka does not (over 249 characters).
                let len = 250 + rng.below(4);
                let n = long_dns_name(rng, len);
                put("metadata.name", json!(n));
                ("metadata.name".into(), format!("metadata.name of {} characters as the Kafka name", n.len()))
            }
            _ => {
                let n = illegal_name(rng);
                put("spec.topicName", json!(n));
                ("spec.topicName".into(), format!("topicName {n:?}"))
            }
        },
        (Kind::Topic, Mutation::Conflict) => match choice % 4 {
            0 => {
                let min = rng.between(100_000, 1_000_000);
                put("spec.config.min\\.compaction\\.lag\\.ms", json!(min.to_string()));
                put("spec.config.max\\.compaction\\.lag\\.ms", json!((min - rng.between(1, 99_999)).to_string()));
                ("spec.config[min.compaction.lag.ms]".into(), "min.compaction.lag.ms > max.compaction.lag.ms".into())
            }
            1 => {
                put("spec.config.retention\\.ms", json!("-2"));
                ("spec.config[retention.ms]".into(), "retention.ms -2".into())
            }
            2 => {
                put("spec.config.cleanup\\.policy", json!("compact"));
                put("spec.config.remote\\.storage\\.enable", json!("true"));
                ("spec.config[remote.storage.enable]".into(), "remote storage on a compacted topic".into())
            }
            _ => {
                let p = format!("compact,{}", rng.word(5));
                put("spec.config.cleanup\\.policy", json!(p));
                ("spec.config[cleanup.policy]".into(), format!("cleanup.policy {p:?}"))
            }
        },
        (Kind::Topic, Mutation::MissingReference) => {
            if choice.is_multiple_of(2) {
                put("spec.connectionRef", json!({"name": missing}));
            } else {
                put("spec.connectionRef", json!({"name": env.connection, "namespace": missing}));
            }
            ("spec.connectionRef".into(), "connectionRef to a missing KafkaConnection".into())
        }
        (Kind::Topic, Mutation::Huge) => {
            put("spec.config.retention\\.ms", json!(long_string(1 << 20)));
            ("spec.config[retention.ms]".into(), "retention.ms of 1 MiB".into())
        }
        (Kind::Topic, Mutation::Unicode) => {
            if choice.is_multiple_of(2) {
                let k = unicode(rng);
                put(&format!("spec.config.{}", k.replace('.', "\\.")), json!("1"));
                (format!("spec.config[{k}]"), format!("config key {k:?}"))
            } else {
                let v = unicode(rng);
                put("spec.config.compression\\.type", json!(v));
                ("spec.config[compression.type]".into(), format!("compression.type {v:?}"))
            }
        }
        (Kind::Topic, Mutation::OutOfRange) => {
            let (k, v) = *rng.pick(&[
                ("segment.bytes", "1000"),
                ("min.insync.replicas", "0"),
                ("min.cleanable.dirty.ratio", "1.5"),
                ("max.message.bytes", "-1"),
                ("segment.ms", "0"),
                ("retention.bytes", "-7"),
                ("compression.zstd.level", "-131073"),
                ("max.message.bytes", "2147483648"),
            ]);
            put(&format!("spec.config.{}", k.replace('.', "\\.")), json!(v));
            (format!("spec.config[{k}]"), format!("{k} = {v}"))
        }
        (Kind::Topic, Mutation::WrongType) => {
            let (k, v) = *rng.pick(&[
                ("retention.ms", "a week"),
                ("preallocate", "yes"),
                ("cleanup.policy", "42"),
                ("min.insync.replicas", "2.5"),
            ]);
            put(&format!("spec.config.{}", k.replace('.', "\\.")), json!(v));
            (format!("spec.config[{k}]"), format!("{k} = {v:?}"))
        }
        // ---------------------------------------------------------------- ConsumerGroup
        (Kind::ConsumerGroup, Mutation::Conflict) => match choice % 6 {
            0 => {
                let max = rng.between(1, 10);
                put("spec.autoscaling.minReplicas", json!(max + rng.between(1, 10)));
                put("spec.autoscaling.maxReplicas", json!(max));
                ("spec.autoscaling".into(), "minReplicas > maxReplicas".into())
            }
            1 => {
                put("spec.autoscaling.maxDrainSeconds", json!(rng.between(1, 600)));
                ("spec.autoscaling".into(), "lagPerReplica and maxDrainSeconds".into())
            }
            2 => {
                let max = rng.between(0, 100);
                put("spec.lag", json!({"warnSeconds": max + rng.between(1, 100), "maxSeconds": max}));
                ("spec.lag".into(), "warnSeconds > maxSeconds".into())
            }
            3 => {
                put("spec.offsetReset", json!({"id": "r1", "to": *rng.pick(&["Offset", "Timestamp", "ShiftBy"])}));
                ("spec.offsetReset".into(), "offsetReset without value".into())
            }
            4 => {
                put(
                    "spec.offsetReset",
                    json!({"id": "r1", "to": "Offset", "value": format!("-{}", rng.between(1, 9))}),
                );
                ("spec.offsetReset".into(), "offsetReset Offset with a negative value".into())
            }
            _ => {
                put("spec.offsetReset", json!({"id": "r1", "to": "Timestamp", "value": "yesterday"}));
                ("spec.offsetReset".into(), "offsetReset Timestamp \"yesterday\"".into())
            }
        },
        (Kind::ConsumerGroup, Mutation::MissingReference) => {
            if choice.is_multiple_of(2) {
                put("spec.topics", json!([missing]));
                ("spec.topics".into(), "topics naming a topic that does not exist".into())
            } else {
                put("spec.connectionRef", json!({"name": missing}));
                ("spec.connectionRef".into(), "connectionRef to a missing KafkaConnection".into())
            }
        }
        (Kind::ConsumerGroup, Mutation::IllegalName) => {
            // `.` and `..` match the item pattern: the list's own rule refuses them, naming the list.
            let (n, field) = match choice % 3 {
                0 => (rng.pick(&[".", ".."]).to_string(), "spec.topics"),
                1 => (long_string(250 + rng.below(5)), "spec.topics[0]"),
                _ => (illegal_name(rng), "spec.topics[0]"),
            };
            let what = format!("topics [{}]", short(&json!(n), 30));
            put("spec.topics", json!([n]));
            (field.into(), what)
        }
        (Kind::ConsumerGroup, Mutation::Unicode) => {
            let n = unicode(rng);
            put("spec.offsetReset", json!({"id": "r1", "to": "Earliest", "topics": [n]}));
            ("spec.offsetReset.topics[0]".into(), format!("offsetReset.topics [{n:?}]"))
        }
        // ---------------------------------------------------------------- DlqPolicy
        (Kind::DlqPolicy, Mutation::Conflict) => match choice % 6 {
            0 => {
                put("spec.retry.delaysMs", json!([1000, 2000]));
                ("spec.retry".into(), "retry.backoff and retry.delaysMs".into())
            }
            1 => {
                put("spec.retry", json!({"attempts": 2, "delaysMs": [100, 200, 300]}));
                ("spec.retry".into(), "more delaysMs than attempts - 1".into())
            }
            2 => {
                put("spec.deadLetter.topicName", json!(format!("{name}-dead")));
                put("spec.deadLetter.suffix", json!("-dead"));
                ("spec.deadLetter".into(), "deadLetter.topicName and deadLetter.suffix".into())
            }
            3 => {
                put("spec.deadLetter.topicName", json!(format!("{name}-src")));
                ("spec.deadLetter.topicName".into(), "deadLetter.topicName = sourceTopic".into())
            }
            4 => {
                put("spec.retry", json!({"attempts": 2, "suffix": "-dlt"}));
                ("spec.retry.suffix".into(), "retry suffix -dlt: the retry topic is the dead-letter topic".into())
            }
            _ => {
                put("spec.retry.config.min\\.compaction\\.lag\\.ms", json!("900000"));
                put("spec.retry.config.max\\.compaction\\.lag\\.ms", json!("1000"));
                ("spec.retry.config[min.compaction.lag.ms]".into(), "min.compaction.lag.ms > max".into())
            }
        },
        (Kind::DlqPolicy, Mutation::MissingReference) => {
            put("spec.connectionRef", json!({"name": missing}));
            ("spec.connectionRef".into(), "connectionRef to a missing KafkaConnection".into())
        }
        (Kind::DlqPolicy, Mutation::IllegalName) => match choice % 3 {
            0 => {
                put("spec.sourceTopic", json!(rng.pick(&[".", ".."]).to_string()));
                ("spec.sourceTopic".into(), "sourceTopic . or ..".into())
            }
            1 => {
                // Legal alone, but its retry topic (`<source>-retry-1000`) is over Kafka's 249 characters.
                put("spec.sourceTopic", json!(long_string(240 + rng.below(9))));
                ("spec.sourceTopic".into(), "sourceTopic whose generated names exceed 249 characters".into())
            }
            _ => {
                let n = rng.pick(&[".", ".."]).to_string();
                put("spec.deadLetter.topicName", json!(n));
                ("spec.deadLetter.topicName".into(), format!("deadLetter.topicName {n:?}"))
            }
        },
        (Kind::DlqPolicy, Mutation::Huge) => {
            put("spec.deadLetter.config.cleanup\\.policy", json!(long_string(1 << 20)));
            ("spec.deadLetter.config[cleanup.policy]".into(), "a 1 MiB cleanup.policy".into())
        }
        (Kind::DlqPolicy, Mutation::Unicode) => {
            let k = unicode(rng);
            put(&format!("spec.retry.config.{}", k.replace('.', "\\.")), json!("1"));
            (format!("spec.retry.config[{k}]"), format!("retry.config key {k:?}"))
        }
        (Kind::DlqPolicy, Mutation::OutOfRange) => {
            put("spec.deadLetter.config.retention\\.ms", json!("-2"));
            put("spec.deadLetter.retentionSeconds", Value::Null);
            ("spec.deadLetter.config[retention.ms]".into(), "deadLetter retention.ms -2".into())
        }
        // ---------------------------------------------------------------- KafkaConnection
        (Kind::KafkaConnection, Mutation::Conflict) => match choice {
            0 => {
                let k = format!("sasl.{}", rng.pick(&["password", "username", "mechanism"]));
                put(&format!("spec.clientProperties.{}", k.replace('.', "\\.")), json!("x"));
                ("spec.clientProperties".into(), format!("clientProperties {k}"))
            }
            1 => {
                put("spec.tls", json!({"certificate": {"name": "client", "key": "tls.crt"}}));
                ("spec.tls".into(), "tls.certificate without tls.key".into())
            }
            2 => {
                put("spec.sasl", json!({"mechanism": rng.pick(&["PLAIN", "SCRAM-SHA-512"]).to_string()}));
                ("spec.sasl".into(), "sasl without username and password".into())
            }
            3 => {
                let v = rng.between(1, 100);
                put(
                    "spec.clientCa",
                    json!({"certificate": {"name": "ca", "key": "tls.crt"},
                    "key": {"name": "ca", "key": "tls.key"}, "validityDays": v, "renewBeforeDays": v + rng.between(0, 9)}),
                );
                ("spec.clientCa".into(), "clientCa.renewBeforeDays >= validityDays".into())
            }
            4 => {
                put("spec.policy.protectedConfig", json!([{"key": "retention.ms"}]));
                ("spec.policy.protectedConfig[0]".into(), "a protectedConfig bound without min or max".into())
            }
            5 => {
                let min = rng.between(1000, 100_000);
                put("spec.policy.protectedConfig", json!([{"key": "retention.ms", "min": min, "max": min - 1}]));
                ("spec.policy.protectedConfig[0]".into(), "protectedConfig min > max".into())
            }
            6 => {
                put(
                    "spec.policy.topicNamePattern",
                    json!(rng.pick(&["([a-z", "*orders", "a{2,1}", "[z-a]"]).to_string()),
                );
                ("spec.policy.topicNamePattern".into(), "a topicNamePattern that is no regular expression".into())
            }
            _ => {
                put("spec.schemaRegistry.url", json!("https://user:secret@127.0.0.1:1/apis"));
                ("spec.schemaRegistry.url".into(), "credentials in the registry URL".into())
            }
        },
        (Kind::KafkaConnection, Mutation::MissingReference) => {
            let secret = json!({"name": missing, "key": "value"});
            if choice.is_multiple_of(2) {
                put("spec.sasl", json!({"mechanism": "SCRAM-SHA-512", "username": secret, "password": secret}));
                ("spec.sasl.username".into(), "sasl from a Secret that does not exist".into())
            } else {
                put("spec.tls", json!({"ca": secret}));
                ("spec.tls.ca".into(), "tls.ca from a Secret that does not exist".into())
            }
        }
        (Kind::KafkaConnection, Mutation::IllegalName) => match choice % 4 {
            0 => {
                let s = format!("127.0.0.1:{}", rng.between(65536, 99999));
                put("spec.bootstrapServers", json!([s]));
                ("spec.bootstrapServers[0]".into(), format!("bootstrap {s}"))
            }
            1 => {
                put("spec.bootstrapServers", json!(["127.0.0.1:0"]));
                ("spec.bootstrapServers[0]".into(), "bootstrap port 0".into())
            }
            2 => {
                let p = format!("{}-{{namespace}}-", rng.word(4));
                put("spec.tenancy", json!({"prefix": p}));
                ("spec.tenancy.prefix".into(), format!("tenancy prefix {p:?}"))
            }
            _ => {
                let n = format!("Team_{}", rng.word(3).to_uppercase());
                put("spec.allowedNamespaces", json!([n]));
                ("spec.allowedNamespaces[0]".into(), format!("allowedNamespaces [{n:?}]"))
            }
        },
        (Kind::KafkaConnection, Mutation::Unicode) => {
            let k = unicode(rng);
            put(&format!("spec.clientProperties.{}", k.replace('.', "\\.")), json!("1"));
            ("spec.clientProperties".into(), format!("clientProperties key {k:?}"))
        }
        (Kind::KafkaConnection, Mutation::OutOfRange) => {
            if choice.is_multiple_of(2) {
                let (k, v) = *rng.pick(&[("socket.timeout.ms", "-5"), ("message.max.bytes", "10"), ("retries", "-3")]);
                put(&format!("spec.clientProperties.{}", k.replace('.', "\\.")), json!(v));
                ("spec.clientProperties".into(), format!("clientProperties {k}={v}"))
            } else {
                let v = if rng.chance(2) { 0 } else { 3651 };
                put(
                    "spec.clientCa",
                    json!({"certificate": {"name": "ca", "key": "tls.crt"},
                    "key": {"name": "ca", "key": "tls.key"}, "validityDays": v, "renewBeforeDays": 0}),
                );
                ("spec.clientCa.validityDays".into(), format!("clientCa.validityDays {v}"))
            }
        }
        // ---------------------------------------------------------------- KafkaUser
        (Kind::KafkaUser, Mutation::Conflict) => match choice % 4 {
            0 => {
                put("spec.acls[0]", json!({"resource": {"type": "Group", "name": "g"}, "operations": ["Write"]}));
                ("spec.acls[0]".into(), "Write on a Group".into())
            }
            1 => {
                put("spec.acls[0]", json!({"resource": {"type": "Cluster", "name": "c"}, "operations": ["Describe"]}));
                ("spec.acls[0].resource".into(), "a Cluster resource with a name".into())
            }
            2 => {
                put("spec.acls[0].resource", json!({"type": "Topic", "name": "*", "patternType": "Prefixed"}));
                ("spec.acls[0].resource".into(), "a Prefixed wildcard".into())
            }
            _ => {
                put("spec.authentication.type", json!("tls"));
                ("spec.authentication.type".into(), "tls on a connection without clientCa".into())
            }
        },
        (Kind::KafkaUser, Mutation::MissingReference) => match choice % 3 {
            0 => {
                put("spec.produces[1]", json!(missing));
                ("spec.produces[1]".into(), "produces a Topic that does not exist".into())
            }
            1 => {
                put("spec.consumes[1]", json!(missing));
                ("spec.consumes[1]".into(), "consumes as a ConsumerGroup that does not exist".into())
            }
            _ => {
                put("spec.connectionRef", json!({"name": missing}));
                ("spec.connectionRef".into(), "connectionRef to a missing KafkaConnection".into())
            }
        },
        (Kind::KafkaUser, Mutation::IllegalName) => {
            let n = illegal_name(rng);
            put("spec.acls[0].resource", json!({"type": "Topic", "name": n}));
            ("spec.acls[0].resource".into(), format!("ACL topic name {n:?}"))
        }
        (Kind::KafkaUser, Mutation::Unicode) => {
            let n = unicode(rng);
            put("spec.transactionalIds[0].name", json!(n));
            ("spec.transactionalIds[0].name".into(), format!("transactional id {n:?}"))
        }
        // ---------------------------------------------------------------- Schema
        (Kind::Schema, Mutation::Conflict) => match choice % 4 {
            0 => {
                put("spec.subject", json!(format!("{name}-value")));
                ("spec.topicRef".into(), "topicRef and subject".into())
            }
            1 => {
                put("spec.schemaFrom", json!({"name": "schemas", "key": "order.avsc"}));
                ("spec.schemaFrom".into(), "schema and schemaFrom".into())
            }
            2 => {
                put("spec.schemaType", json!(rng.pick(&["PROTOBUF", "JSON"]).to_string()));
                put("spec.schema", json!("syntax = \"proto3\"; message { broken"));
                ("spec.schema".into(), "a schema text that is not of its schemaType".into())
            }
            _ => {
                put(
                    "spec.schema",
                    json!("{\"type\": \"record\", \"name\": \"Order\", \"fields\": [{\"name\": \"id\"}]}"),
                );
                ("spec.schema".into(), "an Avro field without a type".into())
            }
        },
        (Kind::Schema, Mutation::MissingReference) => match choice % 4 {
            0 => {
                put("spec.topicRef.name", json!(missing));
                ("spec.topicRef".into(), "topicRef to a missing Topic".into())
            }
            1 => {
                put("spec.schema", Value::Null);
                put("spec.schemaFrom", json!({"name": missing, "key": "order.avsc"}));
                ("spec.schemaFrom".into(), "schemaFrom a missing ConfigMap".into())
            }
            2 => {
                put("spec.references", json!([{"name": "dev.tributary.Address", "schemaRef": missing}]));
                ("spec.references[0]".into(), "a reference to a missing Schema".into())
            }
            _ => {
                put("spec.connectionRef", json!({"name": missing}));
                ("spec.connectionRef".into(), "connectionRef to a missing KafkaConnection".into())
            }
        },
        (Kind::Schema, Mutation::IllegalName) => {
            let n = format!("{}-{}", rng.word(4), rng.word(3));
            put("spec.schema", json!(avro(&n)));
            ("spec.schema".into(), format!("Avro record name {n:?}"))
        }
        (Kind::Schema, Mutation::Unicode) => {
            let n = unicode(rng);
            put("spec.schema", json!(avro(&n)));
            ("spec.schema".into(), format!("Avro record name {n:?}"))
        }
        (Kind::Schema, Mutation::Huge) => {
            // Under the schema's 256 KiB limit, so the apiserver takes it; not a schema.
            let n = 200_000 + rng.below(50_000);
            put("spec.schema", json!(format!("{{\"type\": \"record\", \"name\": \"{}\"", long_string(n))));
            ("spec.schema".into(), format!("a broken schema text of {n} bytes"))
        }
        _ => return None,
    };
    Some(out)
}

/// Case `i` of `kind`: its mutation sort is `i` modulo the sorts, so every sort gets its share.
pub fn case(kind: Kind, i: usize, rng: &mut Rng, env: &Env) -> Case {
    let mutation = Mutation::ALL[i % Mutation::ALL.len()];
    let name = format!("{}-{}-{i:03}", env.tag, kind.short());
    let mut manifest = base(kind, &name, env);
    // Half the time (or always, when no field takes the sort) the kind's own change; else a field's generic one.
    let candidates: Vec<Field> = fields(kind)
        .into_iter()
        .filter(|f| generic(f.ty, mutation, &mut rng.clone()).is_some())
        .filter(|f| get(&manifest, parent(f.path)).is_some())
        .collect();
    let use_special = candidates.is_empty() || mutation == Mutation::UnknownKey || rng.chance(2);
    if use_special {
        if mutation == Mutation::UnknownKey {
            let (path, value, what) = unknown_key(objects(kind), rng);
            set(&mut manifest, &path, value);
            return Case { kind, name, manifest, field: path, mutation, what };
        }
        if let Some((field, what)) = special(kind, mutation, rng, env, &mut manifest) {
            // A case may rename the object (a name Kafka refuses): it is applied under its new name.
            let name = manifest["metadata"]["name"].as_str().map(String::from).unwrap_or(name);
            return Case { kind, name, manifest, field, mutation, what };
        }
    }
    let f = if candidates.is_empty() {
        panic!("no mutation {mutation:?} for {kind:?}")
    } else {
        candidates[rng.below(candidates.len())]
    };
    let (value, what) = generic(f.ty, mutation, rng).expect("the candidate takes the sort");
    set(&mut manifest, f.path, value);
    Case { kind, name, manifest, field: f.path.to_string(), mutation, what: format!("{} {what}", f.path) }
}

/// The object holding `path`'s last segment.
fn parent(path: &str) -> &str {
    match path.rfind('.') {
        Some(i) => &path[..i],
        None => "",
    }
}
