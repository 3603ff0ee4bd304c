//! The Schema kind against the real stack's schema registry (Apicurio Registry, its Confluent-compatible API), read
//! and used through Confluent's own Python client (`e2e/clients/schema_client.py`): registration, evolution under
//! each compatibility rule, refusals with the registry's reason, the level kept as declared, bad input that never
//! reaches the registry, and no registry credential anywhere it could leak.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::{Value, json};
use tributary::api::{KafkaConnection, Schema, Topic};
use tributary_e2e::{
    Conditions, Fixture, events_in, manifest, repo_root, unique, wait_condition, wait_for, wait_status,
};

const PATIENCE: Duration = Duration::from_secs(60);

fn registry_url() -> String {
    std::env::var("SCHEMA_REGISTRY_URL").expect("SCHEMA_REGISTRY_URL: start the registry with e2e/stack/registry up")
}

/// Runs Confluent's client; returns its JSON answer and whether it exited 0.
fn client(args: &[&str]) -> (Value, bool) {
    let python = std::env::var("SCHEMA_CLIENT_PYTHON").expect("SCHEMA_CLIENT_PYTHON (. e2e/stack/env.sh)");
    let script = repo_root().join("e2e/clients/schema_client.py");
    let url = registry_url();
    let out = Command::new(python).arg(script).args(args).args(["--url", &url]).output().expect("running the client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!("client {args:?}: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    });
    (value, out.status.success())
}

fn latest(subject: &str) -> Value {
    let (v, ok) = client(&["latest", "--subject", subject]);
    assert!(ok, "{v}");
    v
}

fn subjects() -> Vec<String> {
    serde_json::from_value(client(&["subjects"]).0["subjects"].clone()).unwrap()
}

/// Produces `record` to `topic` with the Avro serializer, automatic registration off.
fn produce(f: &Fixture, topic: &str, schema: &str, record: Value) -> Value {
    let file: PathBuf = std::env::temp_dir().join(format!("{}.avsc", unique("schema")));
    std::fs::write(&file, schema).unwrap();
    let (v, _) = client(&[
        "produce",
        "--bootstrap",
        &f.stack.bootstrap,
        "--topic",
        topic,
        "--schema-file",
        file.to_str().unwrap(),
        "--record",
        &record.to_string(),
    ]);
    let _ = std::fs::remove_file(file);
    v
}

/// An Avro record `acme.Order` with `fields` as (name, JSON): a type (`"string"`), or the rest of the field
/// (`{"type": "int", "default": 0}`).
fn record(fields: &[(&str, &str)]) -> String {
    let field = |(name, spec): &(&str, &str)| match serde_json::from_str::<Value>(spec).unwrap() {
        Value::Object(mut rest) => {
            rest.insert("name".into(), json!(name));
            Value::Object(rest)
        }
        type_ => json!({"name": name, "type": type_}),
    };
    let fields: Vec<Value> = fields.iter().map(field).collect();
    json!({"type": "record", "name": "Order", "namespace": "acme", "fields": fields}).to_string()
}

async fn schema_in(f: &Fixture, name: &str, spec: Value) -> Schema {
    f.apply(manifest::tributary("Schema", name, spec)).await
}

/// A connection with the registry behind basic auth: Apicurio (no auth configured) ignores the header, so the
/// credentials travel for real and can be looked for everywhere they must not be.
async fn connection_with_registry(f: &Fixture, name: &str, password: &str) {
    f.apply::<Secret>(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "registry-auth"},
        "stringData": {"username": "tributary-registry", "password": password}}))
        .await;
    let mut conn = manifest::kafka_connection(name, &f.stack.bootstrap);
    conn["spec"]["schemaRegistry"] = json!({"url": registry_url(), "basicAuth": {
        "username": {"name": "registry-auth", "key": "username"},
        "password": {"name": "registry-auth", "key": "password"}}});
    f.apply::<KafkaConnection>(conn).await;
}

/// Waits until the Schema's Ready condition has `status` and `reason` for its current generation.
async fn settled(api: &Api<Schema>, name: &str, status: &str, reason: &str) -> Schema {
    let what = format!("Ready={status} ({reason}) for its generation");
    wait_status(api, name, &what, PATIENCE, |s| {
        let conditions = s.status.iter().flat_map(|st| &st.conditions);
        conditions.into_iter().any(|c| {
            c.type_ == "Ready"
                && c.status == status
                && c.reason == reason
                && c.observed_generation == s.metadata.generation
        })
    })
    .await
    .unwrap()
}

fn ready_message(s: &Schema) -> String {
    s.conditions().into_iter().find(|c| c.type_ == "Ready").map(|c| c.message).unwrap_or_default()
}

#[tokio::test]
async fn schemas_register_evolve_refuse_and_keep_their_level() {
    let f = Fixture::start_process("schemas", &["--resync-seconds", "2"]).await;
    let password = unique("registry-pw");
    connection_with_registry(&f, "main", &password).await;
    let topic = unique("orders");
    f.apply::<Topic>(manifest::topic(&topic, json!({"connectionRef": {"name": "main"}}))).await;
    let subject = format!("{topic}-value");
    let schemas: Api<Schema> = f.api();

    // Version 1, from the Topic reference: Confluent's client reads it back with the declared level.
    let v1 = record(&[("id", "\"string\"")]);
    schema_in(&f, "orders-value", json!({"topicRef": {"name": topic}, "schema": v1, "compatibility": "BACKWARD"}))
        .await;
    let s = settled(&schemas, "orders-value", "True", "Registered").await;
    let status = s.status.clone().unwrap();
    assert_eq!((status.subject.as_deref(), status.version), (Some(subject.as_str()), Some(1)));
    let got = latest(&subject);
    assert_eq!((got["version"].as_i64(), got["compatibility"].as_str()), (Some(1), Some("BACKWARD")), "{got}");
    assert_eq!(got["id"].as_i64(), status.id);
    // The level it set on the new subject is no drift, and says so in the same status (not a resync later).
    let drifted =
        status.conditions.iter().find(|c| c.type_ == "Drifted").map(|c| (c.status.as_str(), c.reason.as_str()));
    assert_eq!(drifted, Some(("False", "InSync")), "{:?}", status.conditions);

    // A producer with automatic registration off: the declared schema goes, an undeclared one is refused.
    let sent = produce(&f, &topic, &v1, json!({"id": "o-1"}));
    assert_eq!(sent["produced"], json!(true), "{sent}");
    assert_eq!(sent["schema_id"].as_i64(), status.id);
    let undeclared = record(&[("id", "\"string\""), ("note", "\"string\"")]);
    let refused = produce(&f, &topic, &undeclared, json!({"id": "o-2", "note": "x"}));
    assert_eq!(refused["produced"], json!(false), "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("not match")
            || refused["error"].as_str().unwrap().contains("40403"),
        "{refused}"
    );

    // A compatible change (a field with a default) becomes version 2.
    let v2 = record(&[("id", "\"string\""), ("qty", "{\"type\": \"int\", \"default\": 0}")]);
    schema_in(&f, "orders-value", json!({"topicRef": {"name": topic}, "schema": v2})).await;
    wait_status(&schemas, "orders-value", "version 2", PATIENCE, |s| {
        s.status.as_ref().and_then(|st| st.version) == Some(2) && s.has_condition("Ready", "True", None)
    })
    .await
    .unwrap();
    assert_eq!(latest(&subject)["version"].as_i64(), Some(2));
    assert_eq!(produce(&f, &topic, &v2, json!({"id": "o-3", "qty": 2}))["produced"], json!(true));

    // Incompatible under BACKWARD: a field added without a default, then a type change. Refused with the field
    // named, nothing registered, version 2 still the latest.
    let incompatible = [
        (
            "note",
            record(&[("id", "\"string\""), ("qty", "{\"type\": \"int\", \"default\": 0}"), ("note", "\"string\"")]),
        ),
        ("qty", record(&[("id", "\"string\""), ("qty", "{\"type\": \"string\", \"default\": \"0\"}")])),
    ];
    for (field, text) in incompatible {
        schema_in(&f, "orders-value", json!({"topicRef": {"name": topic}, "schema": text})).await;
        let s = settled(&schemas, "orders-value", "False", "Incompatible").await;
        let msg = ready_message(&s);
        assert!(msg.contains(field) && msg.contains("BACKWARD"), "{field}: {msg}");
        assert_eq!(s.status.unwrap().version, Some(2));
        let got = latest(&subject);
        assert_eq!((got["version"].as_i64(), got["versions"].clone()), (Some(2), json!([1, 2])), "{got}");
    }
    let refused = f.operator.metric_sum("tributary_schema_changes_refused_total").await.unwrap();
    assert!(refused >= 2.0, "refused changes counted: {refused}");

    // Back to version 2's text: Ready again, nothing new registered.
    schema_in(&f, "orders-value", json!({"topicRef": {"name": topic}, "schema": v2})).await;
    settled(&schemas, "orders-value", "True", "Registered").await;
    assert_eq!(latest(&subject)["versions"], json!([1, 2]));

    // The level changed behind Tributary's back with Confluent's client: restored, and the correction recorded.
    let (set, ok) = client(&["set-compatibility", "--subject", &subject, "--level", "NONE"]);
    assert!(ok, "{set}");
    wait_for("the level restored", PATIENCE, || async { Ok(latest(&subject)) }, |v| v["compatibility"] == "BACKWARD")
        .await
        .unwrap();
    let s =
        wait_condition(&schemas, "orders-value", "Drifted", "False", Some("DriftCorrected"), PATIENCE).await.unwrap();
    assert_eq!(s.status.unwrap().compatibility.as_deref(), Some("BACKWARD"));

    // FORWARD: a field removed is refused, naming it.
    let fwd = unique("payments-fwd");
    let with_note = record(&[("id", "\"string\""), ("note", "\"string\"")]);
    schema_in(
        &f,
        "payments",
        json!({"subject": fwd, "connectionRef": {"name": "main"}, "schema": with_note, "compatibility": "FORWARD"}),
    )
    .await;
    settled(&schemas, "payments", "True", "Registered").await;
    assert_eq!(latest(&fwd)["compatibility"], "FORWARD");
    let without_note = record(&[("id", "\"string\"")]);
    schema_in(
        &f,
        "payments",
        json!({"subject": fwd, "connectionRef": {"name": "main"}, "schema": without_note, "compatibility": "FORWARD"}),
    )
    .await;
    let s = settled(&schemas, "payments", "False", "Incompatible").await;
    assert!(ready_message(&s).contains("note"), "{}", ready_message(&s));
    assert_eq!(latest(&fwd)["versions"], json!([1]));

    // managementPolicy Observe: the subject's other level is reported, never written.
    let observer = json!({"subject": fwd, "connectionRef": {"name": "main"}, "schema": with_note,
        "compatibility": "BACKWARD", "managementPolicy": "Observe"});
    schema_in(&f, "payments-observer", observer).await;
    let s = settled(&schemas, "payments-observer", "True", "Registered").await;
    assert_eq!(s.status.as_ref().unwrap().version, Some(1));
    let s = wait_condition(&schemas, "payments-observer", "Drifted", "True", Some("DriftObserved"), PATIENCE)
        .await
        .unwrap();
    let drifted = s.conditions().into_iter().find(|c| c.type_ == "Drifted").unwrap().message;
    assert!(drifted.contains("FORWARD") && drifted.contains("Observe"), "{drifted}");
    assert_eq!(latest(&fwd)["compatibility"], "FORWARD");

    let registered = f.operator.metric_sum("tributary_schema_versions_registered_total").await.unwrap();
    assert!(registered >= 3.0, "versions registered: {registered}");

    // No registry credential in the operator's log, the Events or any status.
    let log = f.operator.log_text();
    assert!(log.contains("connected to the Kubernetes API server"), "the operator log was not read: {log}");
    assert!(!log.contains(&password), "the registry password is in the operator log");
    let events = events_in(&f.client, &f.ns.name).await;
    assert!(events.iter().any(|(_, reason, _)| reason == "Incompatible"), "{events:?}");
    assert!(!format!("{events:?}").contains(&password), "the registry password is in an Event");
    let all: Vec<Schema> = schemas.list(&Default::default()).await.unwrap().items;
    let conns: Vec<KafkaConnection> = f.api::<KafkaConnection>().list(&Default::default()).await.unwrap().items;
    let statuses = format!(
        "{:?} {:?}",
        all.iter().map(|s| &s.status).collect::<Vec<_>>(),
        conns.iter().map(|c| &c.status).collect::<Vec<_>>()
    );
    assert!(!statuses.contains(&password), "the registry password is in a status");
}

#[tokio::test]
async fn bad_schemas_are_named_and_never_sent() {
    let f = Fixture::start_process("schemas-bad", &["--resync-seconds", "2"]).await;
    connection_with_registry(&f, "main", &unique("registry-pw")).await;
    let schemas: Api<Schema> = f.api();
    let conn = json!({"name": "main"});

    // A schema that does not parse: named, nothing sent.
    let broken = unique("broken");
    let text = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"strng"}]}"#;
    schema_in(&f, "broken", json!({"subject": broken, "connectionRef": conn, "schema": text})).await;
    let s = settled(&schemas, "broken", "False", "InvalidSchema").await;
    assert!(ready_message(&s).contains("spec.schema is not a valid AVRO schema"), "{}", ready_message(&s));
    let proto = unique("proto");
    let text = "syntax = \"proto3\";\nmessage Order { string id = ; }";
    schema_in(&f, "proto", json!({"subject": proto, "connectionRef": conn, "schemaType": "PROTOBUF", "schema": text}))
        .await;
    let s = settled(&schemas, "proto", "False", "InvalidSchema").await;
    assert!(ready_message(&s).contains("not a valid PROTOBUF schema"), "{}", ready_message(&s));

    // An unknown type: refused by the apiserver.
    let bad: Schema = serde_json::from_value(json!({"apiVersion": "tributary.dev/v1alpha1", "kind": "Schema",
        "metadata": {"name": "xml"}, "spec": {"subject": "x", "schema": "<a/>"}}))
    .unwrap();
    let mut bad = serde_json::to_value(bad).unwrap();
    bad["spec"]["schemaType"] = json!("XML");
    let err = kube::Api::<kube::api::DynamicObject>::namespaced_with(
        f.client.clone(),
        &f.ns.name,
        &kube::api::ApiResource::erase::<Schema>(&()),
    )
    .create(&PostParams::default(), &serde_json::from_value(bad).unwrap())
    .await
    .unwrap_err();
    assert!(err.to_string().contains("spec.schemaType") && err.to_string().contains("XML"), "{err}");
    // Both a topic and a subject: the CEL rule.
    let both =
        manifest::tributary("Schema", "both", json!({"subject": "x", "topicRef": {"name": "t"}, "schema": "\"int\""}));
    let err = tributary_e2e::server_side_apply(&schemas, &both).await.unwrap_err();
    assert!(err.to_string().contains("exactly one of spec.topicRef and spec.subject"), "{err}");

    // A reference loop: both Schemas say so, naming the loop.
    let (a, b) = (unique("loop-a"), unique("loop-b"));
    let rec = |n: &str| json!({"type": "record", "name": n, "fields": [{"name": "id", "type": "string"}]}).to_string();
    schema_in(
        &f,
        "loop-a",
        json!({"subject": a, "connectionRef": conn, "schema": rec("A"),
        "references": [{"name": "B", "schemaRef": "loop-b"}]}),
    )
    .await;
    schema_in(
        &f,
        "loop-b",
        json!({"subject": b, "connectionRef": conn, "schema": rec("B"),
        "references": [{"name": "A", "schemaRef": "loop-a"}]}),
    )
    .await;
    for (name, path) in [("loop-a", "loop-a → loop-b → loop-a"), ("loop-b", "loop-b → loop-a → loop-b")] {
        let s = settled(&schemas, name, "False", "ReferenceLoop").await;
        assert!(ready_message(&s).contains(path), "{}", ready_message(&s));
    }

    // A Topic that does not exist: named.
    schema_in(&f, "orphan", json!({"topicRef": {"name": "no-such-topic"}, "schema": "\"string\""})).await;
    let s = settled(&schemas, "orphan", "False", "TopicNotFound").await;
    assert!(ready_message(&s).contains("no-such-topic"), "{}", ready_message(&s));

    // Nothing of the above reached the registry.
    let listed = subjects();
    for subject in [&broken, &proto, &a, &b] {
        assert!(!listed.contains(subject), "{subject} reached the registry: {listed:?}");
    }

    // The text from a ConfigMap, with a reference resolved to another Schema's version; deletionPolicy Delete
    // soft-deletes the subject with the resource.
    let (addr, order) = (unique("address"), unique("order"));
    let address = r#"{"type":"record","name":"Address","namespace":"acme","fields":[{"name":"city","type":"string"}]}"#;
    f.apply::<ConfigMap>(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "texts"},
        "data": {"address.avsc": address}}))
        .await;
    let from_map = json!({"name": "texts", "key": "address.avsc"});
    schema_in(&f, "address", json!({"subject": addr, "connectionRef": conn, "schemaFrom": from_map})).await;
    let text = r#"{"type":"record","name":"Order","namespace":"acme","fields":[{"name":"to","type":"acme.Address"}]}"#;
    let refs = json!([{"name": "acme.Address", "schemaRef": "address"}]);
    let spec = json!({"subject": order, "connectionRef": conn, "schema": text, "references": refs, "deletionPolicy": "Delete"});
    schema_in(&f, "order", spec).await;
    settled(&schemas, "order", "True", "Registered").await;
    assert_eq!(latest(&addr)["version"].as_i64(), Some(1));
    assert_eq!(latest(&order)["version"].as_i64(), Some(1));
    // A changed text in the ConfigMap (a field added with a default) is tested and registered as version 2.
    let address_v2 = r#"{"type":"record","name":"Address","namespace":"acme","fields":[{"name":"city","type":"string"},{"name":"zip","type":"string","default":""}]}"#;
    f.apply::<ConfigMap>(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "texts"},
        "data": {"address.avsc": address_v2}}))
        .await;
    wait_status(&schemas, "address", "version 2 from the ConfigMap", PATIENCE, |s| {
        s.status.as_ref().and_then(|st| st.version) == Some(2)
    })
    .await
    .unwrap();
    assert_eq!(latest(&addr)["version"].as_i64(), Some(2));
    // Delete: the subject is soft-deleted with the resource (the referencing one: a registry keeps a referenced
    // subject).
    schemas.delete("order", &DeleteParams::default()).await.unwrap();
    wait_for("the subject soft-deleted", PATIENCE, || async { Ok(subjects()) }, |l| !l.contains(&order)).await.unwrap();
    // Retain (the default): deleting the resource leaves the subject.
    schemas.delete("address", &DeleteParams::default()).await.unwrap();
    let gone = || async { Ok(schemas.get_opt("address").await?) };
    wait_for("the Schema gone", PATIENCE, gone, Option::is_none).await.unwrap();
    assert!(subjects().contains(&addr));
}
