//! The KafkaConnection and Topic controllers against the real stack. Kafka is checked with an independent client
//! (rdkafka used directly by the test), Kubernetes with the real apiserver.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use tributary::api::topic::ReassignmentState;
use tributary::api::{KafkaConnection, Topic};
use tributary_e2e::kafka::{consume_all, create_topic, describe_topic, group_members, set_topic_config};
use tributary_e2e::manifest;
use tributary_e2e::*;

const T: Duration = Duration::from_secs(60);

async fn ready_topic<O>(f: &Fixture<O>, name: &str) -> Topic {
    wait_condition(&f.api::<Topic>(), name, "Ready", "True", None, T).await.unwrap()
}

async fn not_ready_topic<O>(f: &Fixture<O>, name: &str, reason: &str) -> (Topic, String) {
    let t = wait_condition(&f.api::<Topic>(), name, "Ready", "False", Some(reason), T).await.unwrap();
    let msg = t.condition("Ready").unwrap().message;
    (t, msg)
}

async fn overrides<O>(f: &Fixture<O>, topic: &str) -> HashMap<String, String> {
    describe_topic(&f.stack, &f.stack.admin(), topic).await.unwrap().expect("topic exists").overrides
}

/// A KafkaConnection `name` to every node's SCRAM listener, with the stack's user and `password` from the Secret
/// `kafka-{name}`.
async fn scram_connection<O>(f: &Fixture<O>, name: &str, mechanism: &str, password: &str) {
    f.apply::<Secret>(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("kafka-{name}")},
        "stringData": {"username": f.stack.scram_user, "password": password}}))
        .await;
    let secret = format!("kafka-{name}");
    let spec = json!({"bootstrapServers": f.stack.scram_bootstrap.split(',').collect::<Vec<_>>(),
        "sasl": {"mechanism": mechanism, "username": {"name": secret, "key": "username"},
                 "password": {"name": secret, "key": "password"}}});
    f.apply::<KafkaConnection>(manifest::tributary("KafkaConnection", name, spec)).await;
}

async fn set_replication_factor<O>(f: &Fixture<O>, name: &str, rf: i32) {
    f.api::<Topic>()
        .patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicationFactor": rf}})))
        .await
        .unwrap();
}

#[tokio::test]
async fn connection_ready_unreachable_and_namespace_refusal() {
    let f = Fixture::start_cluster_wide("conn", &[]).await;
    f.connection("main").await;
    let conns = f.api::<KafkaConnection>();
    let c = wait_condition(&conns, "main", "Ready", "True", Some("Connected"), T).await.unwrap();
    let st = c.status.unwrap();
    assert!(!st.cluster_id.unwrap_or_default().is_empty());
    let brokers = f.stack.bootstrap.split(',').count() as i32;
    assert_eq!(st.brokers, Some(brokers));

    // Nothing listens on port 1 of loopback.
    f.apply::<KafkaConnection>(manifest::kafka_connection("dead", "127.0.0.1:1")).await;
    let c = wait_condition(&conns, "dead", "Ready", "False", Some("KafkaUnreachable"), T).await.unwrap();
    assert!(c.condition("Ready").unwrap().message.len() > 5);
    let dead_topic = unique("on-dead");
    f.apply::<Topic>(manifest::topic(&dead_topic, json!({"connectionRef": {"name": "dead"}}))).await;
    let (_, msg) = not_ready_topic(&f, &dead_topic, "ConnectionNotReady").await;
    assert!(msg.contains("dead"), "{msg}");

    // A Topic in another namespace may not borrow `main` until the connection allows that namespace.
    let other = TestNamespace::create(&f.client, "conn-other").await;
    let borrower = unique("borrower");
    apply_in::<Topic>(
        &f.client,
        &other.name,
        manifest::topic(&borrower, json!({"connectionRef": {"name": "main", "namespace": f.ns.name}})),
    )
    .await;
    let other_topics: Api<Topic> = Api::namespaced(f.client.clone(), &other.name);
    let t = wait_condition(&other_topics, &borrower, "Ready", "False", Some("ConnectionNotAllowed"), T).await.unwrap();
    assert!(t.condition("Ready").unwrap().message.contains("allowedNamespaces"));
    assert!(!f.kafka_has(&borrower).await, "a refused topic must not be created");
    conns
        .patch("main", &PatchParams::default(), &Patch::Merge(json!({"spec": {"allowedNamespaces": [other.name]}})))
        .await
        .unwrap();
    wait_condition(&other_topics, &borrower, "Ready", "True", None, T).await.unwrap();
    assert!(f.kafka_has(&borrower).await);
}

#[tokio::test]
async fn scram_connection_works_and_wrong_credentials_say_so_without_leaking() {
    let f = Fixture::start("scram", &[]).await;
    let wrong = "not-the-password-4711";
    for (name, password) in [("good", f.stack.scram_password.as_str()), ("bad", wrong)] {
        scram_connection(&f, name, "SCRAM-SHA-512", password).await;
    }
    let conns = f.api::<KafkaConnection>();
    wait_condition(&conns, "good", "Ready", "True", Some("Connected"), T).await.unwrap();
    let topic = unique("scram-topic");
    f.apply::<Topic>(manifest::topic(&topic, json!({"connectionRef": {"name": "good"}, "partitions": 2}))).await;
    ready_topic(&f, &topic).await;
    assert_eq!(describe_topic(&f.stack, &f.stack.admin(), &topic).await.unwrap().unwrap().partitions, 2);

    let bad = wait_condition(&conns, "bad", "Ready", "False", Some("AuthenticationFailed"), T).await.unwrap();
    let status_text = serde_json::to_string(&bad.status).unwrap();
    let events = format!("{:?}", events_in(&f.client, &f.ns.name).await);
    let log = f.operator.log_text();
    for secret in [wrong, f.stack.scram_password.as_str()] {
        assert!(!status_text.contains(secret), "secret in status: {status_text}");
        assert!(!events.contains(secret), "secret in events");
        assert!(!log.contains(secret), "secret in the operator log");
    }
}

#[tokio::test]
async fn create_update_and_kafka_names_with_underscore_and_dot() {
    let f = Fixture::start("create", &[]).await;
    f.connection("main").await;
    let kafka_name = format!("orders_v1.{}", unique("events"));
    let rf = f.stack.bootstrap.split(',').count().min(3) as i32;
    f.apply::<Topic>(manifest::topic(
        "orders",
        json!({"connectionRef": {"name": "main"}, "topicName": kafka_name,
        "partitions": 3, "replicationFactor": rf, "config": {"retention.ms": "3600000", "cleanup.policy": "compact"}}),
    ))
    .await;
    let t = ready_topic(&f, "orders").await;
    let st = t.status.unwrap();
    assert!(!st.topic_id.unwrap_or_default().is_empty(), "status.topicId");
    assert_eq!(
        (st.partitions, st.replication_factor, st.topic_name.as_deref()),
        (Some(3), Some(rf), Some(kafka_name.as_str()))
    );
    let facts = describe_topic(&f.stack, &f.stack.admin(), &kafka_name).await.unwrap().unwrap();
    assert_eq!((facts.partitions, facts.replication_factor as i32), (3, rf));
    assert_eq!(facts.overrides.get("retention.ms").map(String::as_str), Some("3600000"));
    assert_eq!(facts.overrides.get("cleanup.policy").map(String::as_str), Some("compact"));

    // A config change and a partition increase.
    f.apply::<Topic>(manifest::topic("orders", json!({"connectionRef": {"name": "main"}, "topicName": kafka_name,
        "partitions": 5, "replicationFactor": rf, "config": {"retention.ms": "7200000", "cleanup.policy": "compact", "segment.ms": "600000"}})))
    .await;
    let facts = || async { Ok(describe_topic(&f.stack, &f.stack.admin(), &kafka_name).await?.unwrap()) };
    wait_for("config and partitions applied", T, facts, |facts| {
        facts.partitions == 5
            && facts.overrides.get("retention.ms").map(String::as_str) == Some("7200000")
            && facts.overrides.get("segment.ms").map(String::as_str) == Some("600000")
    })
    .await
    .unwrap();
    let t = wait_status(&f.api::<Topic>(), "orders", "status shows 5 partitions", T, |t| {
        t.status.as_ref().and_then(|s| s.partitions) == Some(5)
            && t.status.as_ref().and_then(|s| s.observed_generation) == t.metadata.generation
    })
    .await
    .unwrap();
    assert_eq!(t.condition("Ready").unwrap().status, "True");
    let reasons: Vec<String> = events_in(&f.client, &f.ns.name).await.into_iter().map(|(_, r, _)| r).collect();
    for want in ["Created", "PartitionsIncreased", "DriftCorrected"] {
        assert!(reasons.iter().any(|r| r == want), "no {want} Event in {reasons:?}");
    }
}

#[tokio::test]
async fn drift_is_corrected_observed_or_left_alone_per_policy() {
    let f = Fixture::start("drift", &["--resync-seconds", "2"]).await;
    f.connection("main").await;
    let enforce = unique("enforce");
    let observe = unique("observe");
    let create_only = unique("createonly");
    create_topic(&f.stack.admin(), &observe, 1, 1, &[("retention.ms", "5000000")]).await.unwrap();
    f.apply::<Topic>(manifest::topic(
        &enforce,
        json!({"connectionRef": {"name": "main"},
        "config": {"retention.ms": "3600000"}, "ignoredConfigKeys": ["segment.ms"]}),
    ))
    .await;
    f.apply::<Topic>(manifest::topic(
        &observe,
        json!({"connectionRef": {"name": "main"},
        "config": {"retention.ms": "3600000"}, "managementPolicy": "Observe"}),
    ))
    .await;
    f.apply::<Topic>(manifest::topic(
        &create_only,
        json!({"connectionRef": {"name": "main"},
        "config": {"retention.ms": "3600000"}, "managementPolicy": "CreateOnly"}),
    ))
    .await;
    for t in [&enforce, &observe, &create_only] {
        ready_topic(&f, t).await;
    }

    // Another writer changes every topic.
    let outside = [
        ("retention.ms", "999999"),
        ("max.message.bytes", "2000000"),
        ("segment.ms", "1234567"),
        ("leader.replication.throttled.replicas", "0:1"),
    ];
    for t in [&enforce, &create_only] {
        set_topic_config(&f.stack.admin(), t, &outside).await.unwrap();
    }

    // Enforce: spec keys set back, foreign overrides removed, ignored and throttled keys untouched.
    wait_for(
        "drift corrected",
        T,
        || async { Ok(overrides(&f, &enforce).await) },
        |o| o.get("retention.ms").map(String::as_str) == Some("3600000") && !o.contains_key("max.message.bytes"),
    )
    .await
    .unwrap();
    let o = overrides(&f, &enforce).await;
    assert_eq!(o.get("segment.ms").map(String::as_str), Some("1234567"), "ignoredConfigKeys must not be touched");
    assert_eq!(
        o.get("leader.replication.throttled.replicas").map(String::as_str),
        Some("0:1"),
        "throttled keys must not be touched"
    );
    let events = events_in(&f.client, &f.ns.name).await;
    let corrected =
        events.iter().find(|(obj, r, _)| obj == &enforce && r == "DriftCorrected").expect("a DriftCorrected Event");
    assert!(
        corrected.2.contains("retention.ms=3600000 (found 999999)")
            && corrected.2.contains("max.message.bytes (override 2000000 removed)"),
        "the Event names the value found and the value set: {}",
        corrected.2
    );
    // The status keeps the correction for audit: each key with the value found and the value set, and when.
    let t = wait_condition(&f.api::<Topic>(), &enforce, "Drifted", "False", Some("DriftCorrected"), T).await.unwrap();
    let st = t.status.clone().unwrap();
    let listed: Vec<(&str, Option<&str>, Option<&str>)> =
        st.drift.iter().map(|d| (d.key.as_str(), d.desired.as_deref(), d.actual.as_deref())).collect();
    assert_eq!(
        listed,
        vec![("max.message.bytes", None, Some("2000000")), ("retention.ms", Some("3600000"), Some("999999"))],
        "{st:?}"
    );
    let corrected_at = st.drift_corrected_time.clone().expect("status.driftCorrectedTime");
    let drifted = t.condition("Drifted").unwrap();
    assert!(drifted.message.contains("retention.ms=999999"), "{drifted:?}");
    // ...and keeps it over the resyncs that follow (every 2 s here), which find Kafka in sync: watched, not sampled.
    let versions = versions_seen_for(&f.api::<Topic>(), &enforce, Duration::from_secs(7)).await;
    assert!(!versions.is_empty());
    for v in &versions {
        let s = v.status.as_ref().unwrap();
        assert_eq!((s.drift.len(), s.drift_corrected_time.as_ref()), (2, Some(&corrected_at)), "{s:?}");
    }
    assert!(f.operator.metric_sum("tributary_drift_corrections_total").await.unwrap() >= 1.0);

    // Observe: drift reported in status, Kafka untouched.
    let t = wait_condition(&f.api::<Topic>(), &observe, "Drifted", "True", Some("DriftObserved"), T).await.unwrap();
    let drift = t.status.unwrap().drift;
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(
        (drift[0].key.as_str(), drift[0].desired.as_deref(), drift[0].actual.as_deref()),
        ("retention.ms", Some("3600000"), Some("5000000"))
    );

    // CreateOnly: drift reported, never altered, even after several resyncs.
    wait_condition(&f.api::<Topic>(), &create_only, "Drifted", "True", Some("DriftObserved"), T).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(overrides(&f, &create_only).await.get("retention.ms").map(String::as_str), Some("999999"));
    assert_eq!(overrides(&f, &observe).await.get("retention.ms").map(String::as_str), Some("5000000"));
}

#[tokio::test]
async fn bad_input_and_policy_violations_touch_nothing() {
    let f = Fixture::start("badinput", &[]).await;
    f.connection("main").await;
    let spec = json!({"bootstrapServers": f.stack.bootstrap.split(',').collect::<Vec<_>>(),
        "policy": {"maxPartitions": 4, "minReplicationFactor": 1, "topicNamePattern": "team-a\\..*",
                   "protectedConfig": [{"key": "retention.ms", "min": 3600000}]}});
    f.apply::<KafkaConnection>(manifest::tributary("KafkaConnection", "guarded", spec)).await;

    // Config the operator refuses itself: an unknown key, a bad value.
    let (unknown, badvalue) = (unique("unknown-key"), unique("bad-value"));
    for (name, key, value) in [(&unknown, "retention.hours", "1"), (&badvalue, "retention.ms", "a week")] {
        let spec = json!({"connectionRef": {"name": "main"}, "config": {key: value}});
        f.apply::<Topic>(manifest::topic(name, spec)).await;
        let (_, msg) = not_ready_topic(&f, name, "InvalidConfig").await;
        assert!(msg.contains(key), "{msg}");
    }

    let cases = [
        (format!("team-a.{}", unique("wide")), json!({"partitions": 8}), "maxPartitions"),
        (unique("other-team"), json!({"partitions": 1}), "topicNamePattern"),
        (format!("team-a.{}", unique("short")), json!({"config": {"retention.ms": "60000"}}), "protectedConfig"),
    ];
    for (name, extra, rule) in &cases {
        let mut spec = extra.clone();
        spec["connectionRef"] = json!({"name": "guarded"});
        f.apply::<Topic>(manifest::topic(name, spec)).await;
        let (_, msg) = not_ready_topic(&f, name, "PolicyViolation").await;
        assert!(msg.contains(rule), "{msg}");
    }
    for name in [&unknown, &badvalue].into_iter().chain(cases.iter().map(|(n, _, _)| n)) {
        assert!(!f.kafka_has(name).await, "{name} must not be created");
    }

    // An existing topic with more partitions than the spec: a clear condition, nothing altered.
    let wider = unique("wider");
    create_topic(&f.stack.admin(), &wider, 4, 1, &[("retention.ms", "5000000")]).await.unwrap();
    f.apply::<Topic>(manifest::topic(
        &wider,
        json!({"connectionRef": {"name": "main"}, "partitions": 2, "config": {"retention.ms": "3600000"}}),
    ))
    .await;
    let (_, msg) = not_ready_topic(&f, &wider, "PartitionDecrease").await;
    assert!(msg.contains('4') && msg.contains('2'), "{msg}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let facts = describe_topic(&f.stack, &f.stack.admin(), &wider).await.unwrap().unwrap();
    assert_eq!(facts.partitions, 4);
    assert_eq!(facts.overrides.get("retention.ms").map(String::as_str), Some("5000000"));
}

#[tokio::test]
async fn conflicting_topics_never_write_and_ownership_hands_over() {
    let f = Fixture::start("conflict", &["--resync-seconds", "2"]).await;
    f.connection("main").await;
    let kafka_name = unique("shared");
    f.apply::<Topic>(manifest::topic(
        "first",
        json!({"connectionRef": {"name": "main"}, "topicName": kafka_name, "config": {"retention.ms": "3600000"}}),
    ))
    .await;
    ready_topic(&f, "first").await;
    f.apply::<Topic>(manifest::topic(
        "second",
        json!({"connectionRef": {"name": "main"}, "topicName": kafka_name, "config": {"retention.ms": "7200000"}}),
    ))
    .await;
    let (t, msg) = not_ready_topic(&f, "second", "Conflict").await;
    assert!(msg.contains(&format!("{}/first", f.ns.name)), "{msg}");
    assert_eq!(t.condition("Conflict").unwrap().status, "True");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(overrides(&f, &kafka_name).await.get("retention.ms").map(String::as_str), Some("3600000"));

    // The owner goes (Retain): the topic stays and the other resource takes over.
    f.api::<Topic>().delete("first", &DeleteParams::default()).await.unwrap();
    ready_topic(&f, "second").await;
    let retention = || async { Ok(overrides(&f, &kafka_name).await.get("retention.ms").cloned()) };
    wait_for("new owner's config applied", T, retention, |r| r.as_deref() == Some("7200000")).await.unwrap();
}

#[tokio::test]
async fn adoption_and_pause() {
    let f = Fixture::start("adopt", &["--resync-seconds", "2"]).await;
    f.connection("main").await;
    let name = unique("existing");
    create_topic(&f.stack.admin(), &name, 2, 1, &[("retention.ms", "5000000"), ("segment.ms", "700000")])
        .await
        .unwrap();
    f.apply::<Topic>(manifest::topic(
        &name,
        json!({"connectionRef": {"name": "main"}, "partitions": 2, "config": {"retention.ms": "3600000"}}),
    ))
    .await;
    ready_topic(&f, &name).await;
    let o = overrides(&f, &name).await;
    assert_eq!(o.get("retention.ms").map(String::as_str), Some("3600000"));
    assert!(!o.contains_key("segment.ms"));

    let topics = f.api::<Topic>();
    topics
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"tributary.dev/paused": "true"}}})),
        )
        .await
        .unwrap();
    wait_condition(&topics, &name, "Paused", "True", Some("Paused"), T).await.unwrap();
    set_topic_config(&f.stack.admin(), &name, &[("retention.ms", "999999")]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(overrides(&f, &name).await.get("retention.ms").map(String::as_str), Some("999999"), "paused: no writes");

    topics
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"tributary.dev/paused": null}}})),
        )
        .await
        .unwrap();
    let retention = || async { Ok(overrides(&f, &name).await.get("retention.ms").cloned()) };
    wait_for("unpaused topic corrected", T, retention, |r| r.as_deref() == Some("3600000")).await.unwrap();
    let t = topics.get(&name).await.unwrap();
    assert!(t.condition("Paused").is_none());
}

#[tokio::test]
async fn deletion_retains_deletes_refuses_in_use_and_never_traps_a_namespace() {
    let f = Fixture::start_cluster_wide("delete", &[]).await;
    f.connection("main").await;
    let topics = f.api::<Topic>();
    let kept = unique("kept");
    let gone = unique("gone");
    let used = unique("used");
    f.apply::<Topic>(manifest::topic(&kept, json!({"connectionRef": {"name": "main"}}))).await;
    f.apply::<Topic>(manifest::topic(&gone, json!({"connectionRef": {"name": "main"}, "deletionPolicy": "Delete"})))
        .await;
    f.apply::<Topic>(manifest::topic(&used, json!({"connectionRef": {"name": "main"}, "deletionPolicy": "Delete"})))
        .await;
    for t in [&kept, &gone, &used] {
        ready_topic(&f, t).await;
    }
    // Only a topic whose deletion deletes the Kafka topic holds a finalizer; a Retain one is never pinned.
    let finalizers = |t: Topic| t.metadata.finalizers.unwrap_or_default();
    assert!(finalizers(topics.get(&kept).await.unwrap()).is_empty());
    assert_eq!(finalizers(topics.get(&gone).await.unwrap()), vec!["tributary.dev/topic".to_string()]);

    // A live consumer group with committed offsets on `used`.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let consumer_thread = {
        let stack = f.stack.clone();
        let used = used.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
            let consumer: BaseConsumer = stack
                .kafka_config()
                .set("group.id", format!("{used}-readers"))
                .set("auto.offset.reset", "earliest")
                .create()
                .unwrap();
            consumer.subscribe(&[&used]).unwrap();
            let mut committed = false;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = consumer.poll(Duration::from_millis(100));
                if !committed && !consumer.assignment().unwrap().elements().is_empty() {
                    let mut tpl = rdkafka::TopicPartitionList::new();
                    tpl.add_partition_offset(&used, 0, rdkafka::Offset::Offset(0)).unwrap();
                    committed = consumer.commit(&tpl, CommitMode::Sync).is_ok();
                }
            }
            consumer.unsubscribe();
        })
    };
    let members = || async { group_members(&f.stack, &format!("{used}-readers")) };
    wait_for("group has committed", T, members, |n| *n > 0).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    for t in [&kept, &gone, &used] {
        topics.delete(t, &DeleteParams::default()).await.unwrap();
    }
    let resources = || async { Ok((topics.get_opt(&kept).await?.is_some(), topics.get_opt(&gone).await?.is_some())) };
    wait_for("kept and gone resources removed", T, resources, |left| *left == (false, false)).await.unwrap();
    assert!(f.kafka_has(&kept).await, "Retain keeps the Kafka topic");
    wait_for("Delete removes the Kafka topic", T, || async { Ok(f.kafka_has(&gone).await) }, |has| !has).await.unwrap();

    let (_, msg) = not_ready_topic(&f, &used, "InUse").await;
    assert!(msg.contains(&format!("{used}-readers")), "{msg}");
    assert!(f.kafka_has(&used).await, "a topic in use is not deleted");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    consumer_thread.join().unwrap();
    let left = || async { Ok((topics.get_opt(&used).await?.is_some(), f.kafka_has(&used).await)) };
    let what = "in-use topic deleted once the group is empty";
    wait_for(what, Duration::from_secs(90), left, |left| *left == (false, false)).await.unwrap();

    // A namespace whose connection is gone still terminates.
    let doomed = TestNamespace::create(&f.client, "doomed").await;
    let orphan = unique("orphan");
    apply_in::<KafkaConnection>(&f.client, &doomed.name, manifest::kafka_connection("main", &f.stack.bootstrap)).await;
    apply_in::<Topic>(&f.client, &doomed.name, manifest::topic(&orphan, json!({"connectionRef": {"name": "main"}})))
        .await;
    let doomed_topics: Api<Topic> = Api::namespaced(f.client.clone(), &doomed.name);
    wait_condition(&doomed_topics, &orphan, "Ready", "True", None, T).await.unwrap();
    Api::<KafkaConnection>::namespaced(f.client.clone(), &doomed.name)
        .delete("main", &DeleteParams::default())
        .await
        .unwrap();
    Api::<Namespace>::all(f.client.clone()).delete(&doomed.name, &DeleteParams::default()).await.unwrap();
    let namespace = || async { Ok(Api::<Namespace>::all(f.client.clone()).get_opt(&doomed.name).await?.is_some()) };
    wait_for("namespace terminated", Duration::from_secs(120), namespace, |there| !there).await.unwrap();
    assert!(f.kafka_has(&orphan).await, "Retain keeps the topic when its namespace goes");
}

/// Replicas and in-sync replicas of each partition, as an independent client (rdkafka metadata) sees them.
fn replica_sets<O>(f: &Fixture<O>, topic: &str) -> Vec<(Vec<i32>, Vec<i32>)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = f.stack.kafka_config().create().unwrap();
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let t = md.topics().iter().find(|t| t.name() == topic).expect("topic in metadata");
    let mut parts: Vec<_> = t.partitions().iter().map(|p| (p.id(), p.replicas().to_vec(), p.isr().to_vec())).collect();
    parts.sort();
    parts.into_iter().map(|(_, r, i)| (r, i)).collect()
}

async fn reassignment_done<O>(f: &Fixture<O>, name: &str, rf: i32) -> Topic {
    wait_status(&f.api(), name, &format!("moved to replication factor {rf}"), Duration::from_secs(120), |t: &Topic| {
        let ready = t.has_condition("Ready", "True", None);
        let done = t.status.as_ref().and_then(|s| s.reassignment.as_ref()).is_some_and(|r| {
            r.state == ReassignmentState::Done
                && r.target_replication_factor == rf
                && r.partitions_done == r.partitions_total
        });
        ready && done
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn replication_factor_change_is_carried_out_by_partition_reassignment_over_scram() {
    let f = Fixture::start("rf", &[]).await;
    let brokers = f.stack.bootstrap.split(',').count();
    assert!(brokers >= 3, "this test needs the 3-broker stack (e2e/stack/up --brokers 3)");
    // A SCRAM connection: the reassignment requests go over the operator's own wire client, authenticated as the
    // librdkafka client is.
    scram_connection(&f, "scram", "SCRAM-SHA-256", &f.stack.scram_password).await;
    wait_condition(&f.api::<KafkaConnection>(), "scram", "Ready", "True", Some("Connected"), T).await.unwrap();

    let name = unique("rf");
    f.apply::<Topic>(manifest::topic(
        &name,
        json!({"connectionRef": {"name": "scram"}, "partitions": 3, "replicationFactor": 1}),
    ))
    .await;
    ready_topic(&f, &name).await;
    let before = replica_sets(&f, &name);
    assert!(before.iter().all(|(r, _)| r.len() == 1), "{before:?}");
    tributary_e2e::kafka::produce(&f.stack.producer(), &name, "rf", 300).await.unwrap();

    // Up to 3: every partition gets three replicas, all in sync, and keeps its leader.
    set_replication_factor(&f, &name, 3).await;
    let t = reassignment_done(&f, &name, 3).await;
    let st = t.status.unwrap();
    assert_eq!(st.replication_factor, Some(3));
    let r = st.reassignment.unwrap();
    assert_eq!((r.partitions_done, r.partitions_total), (3, 3), "{r:?}");
    let up = replica_sets(&f, &name);
    for ((replicas, isr), (old, _)) in up.iter().zip(&before) {
        assert_eq!(replicas.len(), 3, "{up:?}");
        assert_eq!(replicas.iter().collect::<BTreeSet<_>>(), isr.iter().collect::<BTreeSet<_>>(), "{up:?}");
        assert_eq!(replicas[0], old[0], "the preferred leader moved: {before:?} -> {up:?}");
    }
    let records = consume_all(&f.stack, &name, 300, Duration::from_secs(60), false).unwrap();
    let values: BTreeSet<_> = records.iter().filter_map(|r| r.value.clone()).collect();
    assert_eq!(values.len(), 300, "records lost or changed by the reassignment");
    let events = events_in(&f.client, &f.ns.name).await;
    for reason in ["ReassignmentStarted", "ReassignmentCompleted"] {
        assert!(events.iter().any(|(n, r, _)| n == &name && r == reason), "no {reason} Event: {events:?}");
    }

    // Down to 2: the surplus replica leaves, the leader stays.
    set_replication_factor(&f, &name, 2).await;
    reassignment_done(&f, &name, 2).await;
    let down = replica_sets(&f, &name);
    for ((replicas, isr), (old, _)) in down.iter().zip(&before) {
        assert_eq!(replicas.len(), 2, "{down:?}");
        assert_eq!(replicas.iter().collect::<BTreeSet<_>>(), isr.iter().collect::<BTreeSet<_>>(), "{down:?}");
        assert_eq!(replicas[0], old[0], "the preferred leader moved: {before:?} -> {down:?}");
    }

    // More replicas than brokers: refused with a condition naming the field, and Kafka is left as it is.
    set_replication_factor(&f, &name, brokers as i32 + 1).await;
    let (_, msg) = not_ready_topic(&f, &name, "NotEnoughBrokers").await;
    assert!(msg.contains("spec.replicationFactor"), "{msg}");
    assert_eq!(replica_sets(&f, &name), down);
}

#[tokio::test]
async fn tls_connection_with_a_ca_from_a_secret_creates_topics_and_reassigns_over_tls() {
    let f = Fixture::start("tls", &[]).await;
    let ca = std::fs::read_to_string(&f.stack.tls_ca).expect("the stack's CA");
    // A CA that did not sign the brokers' certificate: the stack's serving certificate is not its own CA.
    let stranger = std::fs::read_to_string(f.stack.tls_ca.with_file_name("serving.crt")).expect("another certificate");
    let bootstrap: Vec<&str> = f.stack.tls_bootstrap.split(',').collect();
    for (name, pem) in [("tls", ca.as_str()), ("wrong-ca", stranger.as_str())] {
        f.apply::<Secret>(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("{name}-ca")},
            "stringData": {"ca.crt": pem}}))
            .await;
        let spec =
            json!({"bootstrapServers": bootstrap, "tls": {"ca": {"name": format!("{name}-ca"), "key": "ca.crt"}}});
        f.apply::<KafkaConnection>(manifest::tributary("KafkaConnection", name, spec)).await;
    }
    let conns = f.api::<KafkaConnection>();
    let good = wait_condition(&conns, "tls", "Ready", "True", Some("Connected"), T).await.unwrap();
    assert_eq!(good.status.unwrap().brokers, Some(bootstrap.len() as i32));
    let ready = || async { Ok(conns.get("wrong-ca").await?.condition("Ready")) };
    let bad = wait_for("the wrong CA reported", T, ready, |c| c.as_ref().is_some_and(|c| c.status == "False"))
        .await
        .unwrap()
        .expect("a Ready condition");
    eprintln!("wrong CA: {bad:?}");
    assert_eq!(bad.reason, "AuthenticationFailed", "{bad:?}");
    assert!(bad.message.contains("certificate verify failed"), "{bad:?}");

    // A topic over TLS, then a replication-factor change, whose reassignment requests go over the operator's own
    // TLS client (rustls with the CA from the Secret).
    let name = unique("tls");
    f.apply::<Topic>(manifest::topic(
        &name,
        json!({"connectionRef": {"name": "tls"}, "partitions": 2, "replicationFactor": 1}),
    ))
    .await;
    ready_topic(&f, &name).await;
    set_replication_factor(&f, &name, 2).await;
    reassignment_done(&f, &name, 2).await;
    let sets = replica_sets(&f, &name);
    assert!(sets.iter().all(|(r, isr)| r.len() == 2 && isr.len() == 2), "{sets:?}");
}
