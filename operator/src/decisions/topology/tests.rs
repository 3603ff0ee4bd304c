//! The map from a small topology with every kind of node and every health: what each format names and marks.

use serde_json::{Value, json};

use super::model::{count, node_id, seconds};
use super::*;
use crate::api::{ConsumerGroup, DlqPolicy, KafkaConnection, KafkaUser, Topic};

fn obj<K: serde::de::DeserializeOwned>(kind: &str, ns: &str, name: &str, spec: Value, status: Value) -> K {
    let api = if kind == "Secret" { "v1" } else { "tributary.dev/v1alpha1" };
    serde_json::from_value(json!({"apiVersion": api, "kind": kind,
        "metadata": {"name": name, "namespace": ns}, "spec": spec, "status": status}))
    .unwrap()
}

fn cond(type_: &str, status: &str, reason: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": "", "lastTransitionTime": "2026-12-01T00:00:00Z"})
}

/// Two applications, three topics, two groups (one lagging, one stalled) and a DlqPolicy, on a SASL connection
/// whose Secret names must never show.
fn sample() -> Topology {
    let conns: Vec<KafkaConnection> = vec![obj(
        "KafkaConnection",
        "shop",
        "main",
        json!({
        "bootstrapServers": ["k1:9093", "k2:9093"],
        "sasl": {"mechanism": "SCRAM-SHA-512", "username": {"name": "very-secret-store", "key": "user"},
                 "password": {"name": "very-secret-store", "key": "hunter2-key"}}}),
        json!({}),
    )];
    let ready = json!({"conditions": [cond("Ready", "True", "Ready")]});
    let topics: Vec<Topic> = vec![
        obj(
            "Topic",
            "shop",
            "orders",
            json!({"partitions": 6, "replicationFactor": 3,
            "config": {"retention.ms": "604800000", "cleanup.policy": "delete"}}),
            json!({"topicName": "orders", "partitions": 6, "replicationFactor": 3, "conditions": [cond("Ready", "True", "Ready")]}),
        ),
        obj("Topic", "shop", "payments", json!({"partitions": 3}), ready.clone()),
        obj(
            "Topic",
            "shop",
            "audit",
            json!({"partitions": 1}),
            json!({"conditions": [cond("Ready", "False", "Conflict")]}),
        ),
    ];
    let groups: Vec<ConsumerGroup> = vec![
        obj(
            "ConsumerGroup",
            "shop",
            "billing",
            json!({"topics": ["orders"],
            "autoscaling": {"targetRef": {"name": "billing-worker"}, "minReplicas": 1, "maxReplicas": 4, "lagPerReplica": 100}}),
            json!({"groupId": "billing", "totalLag": 12500, "maxLagSeconds": 95.0, "currentReplicas": 3,
                "conditions": [cond("Ready", "True", "Observed"), cond("LagWithinSLO", "False", "LagAboveSLO")]}),
        ),
        obj(
            "ConsumerGroup",
            "shop",
            "shipping",
            json!({"topics": ["orders", "payments"]}),
            json!({"groupId": "shipping", "totalLag": 40, "partitions": [{"topic": "payments", "partition": 0, "status": "Stalled", "lag": 40}],
                "conditions": [cond("Ready", "True", "Observed"), cond("Stalled", "True", "Stalled")]}),
        ),
    ];
    let dlqs: Vec<DlqPolicy> = vec![obj(
        "DlqPolicy",
        "shop",
        "orders-dlq",
        json!({"sourceTopic": "orders", "consumerGroup": "billing", "deadLetter": {}}),
        json!({"retryTopics": ["orders-retry-0", "orders-retry-1"], "deadLetterTopic": "orders-dlt", "depth": 7,
            "conditions": [cond("Ready", "True", "Ready")]}),
    )];
    let users: Vec<KafkaUser> = vec![
        obj(
            "KafkaUser",
            "shop",
            "checkout",
            json!({"produces": ["orders", "payments"]}),
            json!({"username": "checkout", "conditions": [cond("Ready", "True", "Ready")]}),
        ),
        obj("KafkaUser", "shop", "invoicer", json!({"consumes": ["billing"], "produces": ["audit"]}), ready),
    ];
    let avro = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}"#;
    let schemas: Vec<crate::api::Schema> = vec![
        obj(
            "Schema",
            "shop",
            "orders-value",
            json!({"topicRef": {"name": "orders"}, "schemaType": "AVRO", "schema": avro}),
            json!({"subject": "orders-value", "version": 2, "conditions": [cond("Ready", "True", "Registered")]}),
        ),
        obj(
            "Schema",
            "shop",
            "payments-value",
            json!({"subject": "payments-value", "schemaType": "JSON", "schema": "{\"type\":\"object\"}"}),
            json!({"conditions": [cond("Ready", "False", "Incompatible")]}),
        ),
    ];
    build(Resources {
        connections: &conns,
        topics: &topics,
        groups: &groups,
        dlqs: &dlqs,
        users: &users,
        schemas: &schemas,
        default_connection: Some("shop/main"),
    })
}

#[test]
fn the_model_maps_names_and_health() {
    let t = sample();
    let shop = &t.namespaces["shop"];
    assert_eq!(
        shop.topics.keys().collect::<Vec<_>>(),
        ["audit", "orders", "orders-dlt", "orders-retry-0", "orders-retry-1", "payments"]
    );
    assert_eq!(shop.topics["audit"].health, Health::Bad("NOT READY: Conflict".into()));
    assert_eq!(shop.topics["orders-retry-1"].role.as_deref(), Some("retry 2 of 2 (orders-dlq)"));
    let billing = shop.groups.iter().find(|g| g.name == "billing").unwrap();
    assert_eq!(billing.health, Health::Warn("LAGGING".into()));
    assert_eq!((billing.workload.as_deref(), billing.replicas), (Some("Deployment billing-worker"), Some(3)));
    let shipping = shop.groups.iter().find(|g| g.name == "shipping").unwrap();
    assert_eq!(shipping.health, Health::Bad("STALLED".into()));
    assert_eq!(shipping.burrow.as_deref(), Some("Stalled"));
    assert_eq!(shop.dlqs[0].health, Health::Warn("7 DEAD LETTERS".into()));
    assert_eq!(t.servers[0].sasl_mechanism.as_deref(), Some("SCRAM-SHA-512"));
    // Contracts: by Topic reference, and by an explicit subject under TopicNameStrategy; a refused one shows.
    let orders = &shop.topics["orders"].schemas[0];
    assert_eq!((orders.part.as_str(), orders.version, orders.schema_type.as_str()), ("value", Some(2), "AVRO"));
    assert_eq!(shop.topics["payments"].schemas[0].subject.as_deref(), Some("payments-value"));
    assert_eq!(shop.topics["payments"].health, Health::Warn("SCHEMA VALUE: Incompatible".into()));
}

#[test]
fn tenancy_maps_names_when_status_has_none_yet() {
    let conns: Vec<KafkaConnection> = vec![obj(
        "KafkaConnection",
        "platform",
        "shared",
        json!({"bootstrapServers": ["k:9092"], "tenancy": {"prefix": "{namespace}."}, "allowedNamespaces": ["*"]}),
        json!({}),
    )];
    let conn = json!({"name": "shared", "namespace": "platform"});
    let topics: Vec<Topic> =
        vec![obj("Topic", "team-a", "orders", json!({"partitions": 1, "connectionRef": conn}), json!({}))];
    let groups: Vec<ConsumerGroup> = vec![obj(
        "ConsumerGroup",
        "team-a",
        "billing",
        json!({"topics": ["orders"], "connectionRef": conn}),
        json!({}),
    )];
    let t = build(Resources { connections: &conns, topics: &topics, groups: &groups, ..Default::default() });
    let a = &t.namespaces["team-a"];
    assert_eq!(a.topics.keys().collect::<Vec<_>>(), ["team-a.orders"]);
    assert_eq!(
        (a.groups[0].group_id.as_str(), a.groups[0].topics.as_slice()),
        ("team-a.billing", &["team-a.orders".to_string()][..])
    );
    assert_eq!(a.topics["team-a.orders"].health, Health::Warn("NOT OBSERVED".into()));
}

#[test]
fn every_picture_names_every_node_and_marks_the_unhealthy_in_words() {
    let t = sample();
    let names = t.node_names();
    assert_eq!(names.len(), 2 + 6 + 2);
    for (format, text) in [("dot", dot(&t)), ("mermaid", mermaid(&t)), ("svg", svg(&t))] {
        for name in &names {
            assert!(text.contains(name.as_str()), "{format} names {name}");
        }
        for word in [
            "LAGGING",
            "STALLED",
            "NOT READY: Conflict",
            "depth 7",
            "Deployment billing-worker: 3 replicas",
            "lag 12.5k (95 s)",
        ] {
            assert!(text.contains(word), "{format} says {word:?}");
        }
        assert!(!text.contains("very-secret-store") && !text.contains("hunter2"), "{format} shows no Secret");
    }
    let dot = dot(&t);
    assert!(dot.contains("subgraph cluster_0") && dot.contains("label=\"namespace shop\""));
    assert!(dot.contains("label=\"retry\" style=dashed") && dot.contains("label=\"dead letter\" style=dashed"));
    let mermaid = mermaid(&t);
    assert!(mermaid.starts_with("flowchart LR") && mermaid.contains(":::warn") && mermaid.contains(":::bad"));
    let svg = svg(&t);
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
}

#[test]
fn the_asyncapi_document_has_a_channel_per_topic_and_an_operation_per_use() {
    let t = sample();
    let doc = asyncapi(&t);
    assert_eq!(doc["asyncapi"], "3.0.0");
    let server = &doc["servers"]["shop_2f_main"];
    assert_eq!((server["host"].as_str(), server["protocol"].as_str()), (Some("k1:9093"), Some("kafka")));
    assert_eq!(doc["components"]["securitySchemes"]["scramSha512"]["type"], "scramSha512");
    let channels = doc["channels"].as_object().unwrap();
    assert_eq!(channels.len(), 6);
    let orders = &channels["shop--orders"];
    assert_eq!(orders["address"], "orders");
    let kafka = &orders["bindings"]["kafka"];
    assert_eq!((kafka["partitions"].as_i64(), kafka["replicas"].as_i64()), (Some(6), Some(3)));
    assert_eq!(kafka["topicConfiguration"], json!({"cleanup.policy": ["delete"], "retention.ms": 604800000}));
    assert_eq!(orders["x-tributary-dead-letter-chain"]["next"].as_array().unwrap().len(), 3);
    // The value's schema is the message payload, in its own format.
    let message = &orders["messages"]["orders-_value"];
    assert_eq!(message["payload"]["schemaFormat"], "application/vnd.apache.avro;version=1.9.0");
    assert_eq!(message["payload"]["schema"]["name"], "Order");
    assert_eq!(
        channels["shop--payments"]["messages"]["payments-_value"]["payload"]["schema"],
        json!({"type": "object"})
    );
    let ops = doc["operations"].as_object().unwrap();
    let sends = ops.values().filter(|o| o["action"] == "send").count();
    let receives: Vec<&Value> = ops.values().filter(|o| o["action"] == "receive").collect();
    assert_eq!((sends, receives.len()), (3, 3));
    assert!(receives.iter().any(|o| o["bindings"]["kafka"]["groupId"]["enum"] == json!(["billing"])));
    for op in ops.values() {
        let target = op["channel"]["$ref"].as_str().unwrap().trim_start_matches("#/channels/");
        assert!(channels.contains_key(target), "{target}");
    }
    let text = doc.to_string();
    assert!(!text.contains("very-secret-store") && !text.contains("hunter2"));
}

#[test]
fn node_ids_are_one_to_one() {
    assert_eq!(node_id("topic", "a", "b.c"), "topic_a_2f_b_2e_c");
    assert_ne!(node_id("topic", "a", "b_2e_c"), node_id("topic", "a", "b.c"));
    assert_eq!(count(999), "999");
    assert_eq!(count(12_500), "12.5k");
    assert_eq!(seconds(95.0), "95 s");
    assert_eq!(seconds(600.0), "10.0 min");
}
