//! The map as an AsyncAPI 3.0 document: servers from the KafkaConnections (addresses and the kind of
//! authentication, never credentials), a channel per topic (address = Kafka name; partitions, replicas, retention
//! and cleanup policy as Kafka bindings), a `send` operation per application and topic it produces to, a `receive`
//! operation per consumer group and topic (with the group id as Kafka binding), and each dead-letter chain told on
//! the channels it links.

use serde_json::{Map, Value, json};

use super::model::Topology;

/// Kafka bindings' version (asyncapi/bindings kafka 0.5.0).
const BINDING_VERSION: &str = "0.5.0";

/// A component key: `[A-Za-z0-9_-]`, one-to-one (each other character becomes `_xx_`).
fn key(parts: &[&str]) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str("--");
        }
        for c in part.chars() {
            if c.is_ascii_alphanumeric() || c == '_' {
                out.push(c);
            } else if c == '-' {
                out.push_str("-_");
            } else {
                out.push_str(&format!("_{:x}_", c as u32));
            }
        }
    }
    out
}

fn channel_ref(ns: &str, topic: &str) -> Value {
    json!({"$ref": format!("#/channels/{}", key(&[ns, topic]))})
}

/// The topic settings the Kafka channel binding has words for.
fn topic_configuration(config: &std::collections::BTreeMap<String, String>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(policy) = config.get("cleanup.policy") {
        let policies: Vec<&str> = policy.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
        out.insert("cleanup.policy".into(), json!(policies));
    }
    for k in ["retention.ms", "retention.bytes", "delete.retention.ms", "max.message.bytes"] {
        if let Some(v) = config.get(k).and_then(|v| v.parse::<i64>().ok()) {
            out.insert(k.into(), json!(v));
        }
    }
    out
}

/// The channel's messages from its Schemas: the value's (and the key's, as the message's Kafka binding) payload
/// in its own format — Avro and JSON Schema inline; Protobuf named only, AsyncAPI having no format for it.
fn messages(schemas: &[super::model::SchemaInfo]) -> Map<String, Value> {
    let mut out = Map::new();
    let value = schemas.iter().find(|s| s.part == "value");
    let key = schemas.iter().find(|s| s.part == "key");
    let Some(value) = value.or(key) else { return out };
    let mut message = json!({"name": value.name, "title": value.subject.clone().unwrap_or_else(|| value.name.clone()),
        "description": format!("{} schema {}{}", value.schema_type, value.subject.clone().unwrap_or_default(),
            value.version.map(|v| format!(" version {v}")).unwrap_or_default())});
    if let Some(payload) = payload(value) {
        message["payload"] = payload;
    }
    if let Some(key) = key.filter(|k| k.part == "key" && value.part == "value") {
        let mut binding = json!({"bindingVersion": BINDING_VERSION});
        if let Some(schema) = payload(key).and_then(|p| (key.schema_type == "JSON").then_some(p["schema"].clone())) {
            binding["key"] = schema;
        }
        message["bindings"] = json!({"kafka": binding});
    }
    out.insert(key_of(&value.name), message);
    out
}

fn key_of(name: &str) -> String {
    key(&[name])
}

/// A multi-format schema object for an Avro or JSON Schema text that parses as JSON.
fn payload(schema: &super::model::SchemaInfo) -> Option<Value> {
    let text: Value = serde_json::from_str(schema.text.as_deref()?).ok()?;
    let format = match schema.schema_type.as_str() {
        "AVRO" => "application/vnd.apache.avro;version=1.9.0",
        "JSON" => "application/schema+json;version=draft-07",
        _ => return None,
    };
    Some(json!({"schemaFormat": format, "schema": text}))
}

/// The AsyncAPI document (as JSON; the CLI writes it as YAML or JSON).
pub fn asyncapi(t: &Topology) -> Value {
    let mut servers = Map::new();
    let mut schemes = Map::new();
    for s in &t.servers {
        let mut server = json!({
            "host": s.bootstrap_servers.first().cloned().unwrap_or_default(),
            "protocol": if s.tls { "kafka-secure" } else { "kafka" },
            "description": format!("KafkaConnection {}; bootstrap servers {}", s.key, s.bootstrap_servers.join(", ")),
        });
        // The kind of authentication, as AsyncAPI names it (OAUTHBEARER has no scheme without its token URL).
        let scheme = match s.sasl_mechanism.as_deref() {
            Some("SCRAM-SHA-512") => Some("scramSha512"),
            Some("SCRAM-SHA-256") => Some("scramSha256"),
            Some("PLAIN") => Some("plain"),
            _ => None,
        };
        if let Some(kind) = scheme {
            schemes.insert(kind.into(), json!({"type": kind}));
            server["security"] = json!([{"$ref": format!("#/components/securitySchemes/{kind}")}]);
        }
        servers.insert(key(&[&s.key]), server);
    }
    let mut channels = Map::new();
    let mut operations = Map::new();
    for (ns, space) in &t.namespaces {
        for (name, topic) in &space.topics {
            let mut kafka = Map::new();
            kafka.insert("topic".into(), json!(name));
            if let Some(p) = topic.partitions {
                kafka.insert("partitions".into(), json!(p));
            }
            if let Some(rf) = topic.replication_factor {
                kafka.insert("replicas".into(), json!(rf));
            }
            let configuration = topic_configuration(&topic.config);
            if !configuration.is_empty() {
                kafka.insert("topicConfiguration".into(), Value::Object(configuration));
            }
            kafka.insert("bindingVersion".into(), json!(BINDING_VERSION));
            let mut description = match &topic.resource {
                Some(r) => format!("Topic {ns}/{r}"),
                None => format!("Kafka topic named in namespace {ns} (no Topic resource)"),
            };
            if let Some(role) = &topic.role {
                description.push_str(&format!("; {role}"));
            }
            let mut channel = json!({"address": name, "title": name, "description": description,
                "bindings": {"kafka": Value::Object(kafka)}});
            let messages = messages(&topic.schemas);
            if !messages.is_empty() {
                channel["messages"] = Value::Object(messages);
            }
            if let Some(p) = space.dlqs.iter().find(|p| p.source_topic == *name) {
                let mut chain: Vec<&String> = p.retry_topics.iter().collect();
                chain.extend(p.dead_letter_topic.iter());
                channel["x-tributary-dead-letter-chain"] = json!({"dlqPolicy": p.name,
                    "next": chain.iter().map(|t| channel_ref(ns, t)).collect::<Vec<_>>()});
            }
            channels.insert(key(&[ns, name]), channel);
        }
        for app in &space.apps {
            for topic in &app.produces {
                let op = json!({"action": "send", "channel": channel_ref(ns, topic),
                    "title": format!("{} produces to {topic}", app.name),
                    "description": format!("KafkaUser {ns}/{}", app.name)});
                operations.insert(key(&[ns, &app.name, "send", topic]), op);
            }
        }
        for g in &space.groups {
            for topic in &g.topics {
                let op = json!({"action": "receive", "channel": channel_ref(ns, topic),
                    "title": format!("group {} reads {topic}", g.name),
                    "description": format!("ConsumerGroup {ns}/{}{}", g.name,
                        g.workload.as_ref().map(|w| format!(", scaling {w}")).unwrap_or_default()),
                    "bindings": {"kafka": {"groupId": {"type": "string", "enum": [g.group_id]},
                        "bindingVersion": BINDING_VERSION}}});
                operations.insert(key(&[ns, &g.name, "receive", topic]), op);
            }
        }
    }
    let namespaces: Vec<&String> = t.namespaces.keys().collect();
    let mut doc = json!({
        "asyncapi": "3.0.0",
        "info": {"title": "Tributary topology", "version": "1.0.0",
            "description": format!("Drawn by tributary from namespace(s) {}", namespaces.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", "))},
        "servers": Value::Object(servers),
        "channels": Value::Object(channels),
        "operations": Value::Object(operations),
    });
    if !schemes.is_empty() {
        doc["components"] = json!({"securitySchemes": Value::Object(schemes)});
    }
    doc
}
