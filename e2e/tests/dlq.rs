//! DlqPolicy against the real stack: generated retry and dead-letter topics, dead-letter monitoring and alerts,
//! and exactly-once, rate-limited redrive (including a SIGKILL of the operator mid-move). Dead letters are produced
//! with real rdkafka producers carrying the Spring / Kafka Connect / Kafka Streams headers; results are checked
//! with independent read_committed consumers.

use std::collections::HashMap;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;
use tributary::api::{DlqPolicy, Topic};
use tributary_e2e::kafka::{Acks, Record, commit_offsets, create_topic, describe_topic, read_to_end, set_topic_config};
use tributary_e2e::manifest;
use tributary_e2e::node;
use tributary_e2e::*;

const T: Duration = Duration::from_secs(60);

async fn ready<O>(f: &Fixture<O>, name: &str) -> DlqPolicy {
    wait_condition(&f.api::<DlqPolicy>(), name, "Ready", "True", None, T).await.unwrap()
}

/// Waits until the policy's redrive `id` is in `phase`.
async fn redrive_phase<O>(f: &Fixture<O>, name: &str, id: &str, phase: &str, timeout: Duration) -> DlqPolicy {
    let at = |p: &DlqPolicy| {
        p.status.as_ref().and_then(|s| s.redrive.as_ref()).is_some_and(|r| r.id == id && r.phase == phase)
    };
    wait_status(&f.api(), name, &format!("redrive {id} {phase}"), timeout, at).await.unwrap()
}

async fn patch_spec<O>(f: &Fixture<O>, name: &str, spec: serde_json::Value) {
    f.api::<DlqPolicy>()
        .patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": spec})))
        .await
        .unwrap_or_else(|e| panic!("patching {name}: {e}"));
}

/// A dead letter to produce.
#[derive(Clone, Debug, Default)]
struct Letter {
    key: Option<String>,
    value: String,
    headers: Vec<(&'static str, String)>,
    timestamp_ms: Option<i64>,
}

fn spring(value: String, original: &str) -> Letter {
    Letter {
        key: Some(format!("key-{value}")),
        headers: vec![
            ("kafka_dlt-original-topic", original.to_string()),
            ("kafka_dlt-original-partition", "0".into()),
            ("kafka_dlt-exception-fqcn", "java.lang.IllegalStateException".into()),
        ],
        value,
        timestamp_ms: None,
    }
}

async fn produce(p: &FutureProducer, topic: &str, letters: &[Letter]) {
    let mut acks = Acks::default();
    for l in letters {
        let mut h = OwnedHeaders::new();
        for (k, v) in &l.headers {
            h = h.insert(Header { key: k, value: Some(v.as_bytes()) });
        }
        let mut r = FutureRecord::to(topic).payload(&l.value).headers(h);
        if let Some(k) = &l.key {
            r = r.key(k);
        }
        if let Some(ts) = l.timestamp_ms {
            r = r.timestamp(ts);
        }
        acks.send(p, r).await.expect("a dead letter sent");
    }
    acks.wait().await.expect("every dead letter delivered");
}

/// Reads every committed record of `topics` up to their current end (read_committed, an independent client).
fn read_all(stack: &Stack, topics: &[&str]) -> Vec<Record> {
    let mut out = vec![];
    for t in topics {
        read_to_end(stack, t, Duration::from_secs(90), |m| out.push(Record::of(m))).unwrap();
    }
    out
}

/// Counts of each value.
fn counts(records: &[Record]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in records {
        *m.entry(value(r).to_string()).or_default() += 1;
    }
    m
}

/// A record's value ("" without one).
fn value(r: &Record) -> &str {
    r.value.as_deref().unwrap_or_default()
}

#[tokio::test]
async fn generated_topics_follow_spring_names_and_are_managed() {
    let f = Fixture::start("dlq-topics", &["--resync-seconds", "3"]).await;
    f.connection("main").await;
    let policies = f.api::<DlqPolicy>();
    let src = unique("orders");
    f.apply::<DlqPolicy>(manifest::dlq_policy(
        "orders",
        json!({"connectionRef": {"name": "main"}, "sourceTopic": src, "deletionPolicy": "Delete",
               "retry": {"attempts": 5, "backoff": {"initialSeconds": 1, "multiplier": 2, "maxSeconds": 2},
                         "partitions": 2, "config": {"retention.ms": "3600000"}},
               "deadLetter": {"partitions": 3, "retentionSeconds": 7200}}),
    ))
    .await;
    let p = ready(&f, "orders").await;
    let st = p.status.clone().unwrap();
    // attempts 5 → 4 retries of 1000, 2000, 2000, 2000 ms: the last three share one topic (Spring's SINGLE_TOPIC).
    let (r1, r2, dlt) = (format!("{src}-retry-1000"), format!("{src}-retry-2000"), format!("{src}-dlt"));
    assert_eq!(st.retry_topics, vec![r1.clone(), r2.clone()]);
    assert_eq!(st.dead_letter_topic.as_deref(), Some(dlt.as_str()));
    let admin = f.stack.admin();
    for (t, parts, retention) in [(&r1, 2, "3600000"), (&r2, 2, "3600000"), (&dlt, 3, "7200000")] {
        let facts = describe_topic(&f.stack, &admin, t).await.unwrap().unwrap_or_else(|| panic!("{t} missing"));
        assert_eq!(facts.partitions, parts, "{t}");
        assert_eq!(facts.overrides.get("retention.ms").map(String::as_str), Some(retention), "{t}");
    }
    // Children are Topic resources owned by the policy.
    let topics = f.api::<Topic>();
    let child = topics.get("orders-dlt").await.unwrap();
    assert_eq!(child.spec.topic_name.as_deref(), Some(dlt.as_str()));
    assert_eq!(child.labels().get("tributary.dev/dlq-policy").map(String::as_str), Some("orders"));
    let owner = &child.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("DlqPolicy", Some(true)));

    // Spring's default: attempts 3, fixed 1000 ms → one shared `-retry` topic.
    let src2 = unique("payments");
    f.apply::<DlqPolicy>(manifest::dlq_policy(
        "payments",
        json!({"connectionRef": {"name": "main"}, "sourceTopic": src2, "retry": {}}),
    ))
    .await;
    let p2 = ready(&f, "payments").await;
    assert_eq!(p2.status.unwrap().retry_topics, vec![format!("{src2}-retry")]);
    assert!(f.kafka_has(&format!("{src2}-dlt")).await);

    // Drift on a generated topic is corrected like on any Topic.
    set_topic_config(&admin, &dlt, &[("retention.ms", "999999")]).await.unwrap();
    let retention = || async {
        let o = describe_topic(&f.stack, &f.stack.admin(), &dlt).await?.unwrap().overrides;
        Ok(o.get("retention.ms").cloned())
    };
    wait_for("DLT drift corrected", T, retention, |r| r.as_deref() == Some("7200000")).await.unwrap();

    // Fewer attempts: the topic no longer generated goes (deletionPolicy Delete: also from Kafka).
    patch_spec(&f, "orders", json!({"retry": {"attempts": 2}})).await;
    wait_status(&policies, "orders", "one retry topic", T, |p| {
        p.status.as_ref().is_some_and(|s| s.retry_topics == vec![format!("{src}-retry")])
    })
    .await
    .unwrap();
    let in_kafka =
        || async { Ok((f.kafka_has(&r1).await, f.kafka_has(&r2).await, f.kafka_has(&format!("{src}-retry")).await)) };
    wait_for("old retry topics deleted", T, in_kafka, |had| *had == (false, false, true)).await.unwrap();

    // Deleting the policy deletes its children, and (Delete) their Kafka topics; `payments` (Retain) keeps them.
    policies.delete("orders", &DeleteParams::default()).await.unwrap();
    policies.delete("payments", &DeleteParams::default()).await.unwrap();
    let left = || async { Ok((topics.list(&Default::default()).await?.items.len(), f.kafka_has(&dlt).await)) };
    wait_for("children gone", Duration::from_secs(90), left, |left| *left == (0, false)).await.unwrap();
    assert!(f.kafka_has(&format!("{src2}-dlt")).await, "Retain keeps the Kafka topic");
}

#[tokio::test]
async fn monitoring_depth_age_rate_alerts_and_metrics() {
    let f = Fixture::start("dlq-monitor", &[]).await;
    f.connection("main").await;
    let src = unique("orders");
    let dlt = format!("{src}-dlt");
    f.apply::<DlqPolicy>(manifest::dlq_policy(
        "orders",
        json!({"connectionRef": {"name": "main"}, "sourceTopic": src, "alerting": {"maxDepth": 5}}),
    ))
    .await;
    let policies = f.api::<DlqPolicy>();
    let p = wait_status(&policies, "orders", "depth 0 observed", T, |p| {
        p.status.as_ref().is_some_and(|s| s.depth == Some(0) && s.per_minute.is_some())
    })
    .await
    .unwrap();
    assert_eq!(p.condition("DeadLettersWithinLimit").unwrap().status, "True");
    assert_eq!(
        p.status.as_ref().unwrap().redrive_group.as_deref(),
        Some(&*format!("tributary-redrive-{}-orders", f.ns.name))
    );

    // Three dead letters, the first one two minutes old.
    let old = now_ms() - 120_000;
    let mut letters: Vec<Letter> = (0..3).map(|i| spring(format!("m-{i}"), &src)).collect();
    letters[0].timestamp_ms = Some(old);
    produce(&f.stack.bulk_producer(), &dlt, &letters).await;
    let p = wait_status(&policies, "orders", "depth 3", T, |p| p.status.as_ref().is_some_and(|s| s.depth == Some(3)))
        .await
        .unwrap();
    let st = p.status.clone().unwrap();
    assert_eq!(st.oldest_record_time.as_ref().map(|t| t.0.as_second()), Some(old / 1000));
    let age = st.oldest_age_seconds.unwrap();
    assert!((119..=200).contains(&age), "oldestAgeSeconds {age}");
    assert!(st.per_minute.unwrap() > 0.0, "perMinute {:?}", st.per_minute);
    assert_eq!(p.condition("DeadLettersWithinLimit").unwrap().status, "True");

    // Nothing changes in Kafka: no status write across several polls (10 s apart).
    let rv = p.metadata.resource_version.clone();
    tokio::time::sleep(Duration::from_secs(22)).await;
    let still = policies.get("orders").await.unwrap();
    assert_eq!(still.metadata.resource_version, rv, "status written although Kafka did not change: {:?}", still.status);

    // Over the limit: condition, Event, metrics.
    let more: Vec<Letter> = (3..8).map(|i| spring(format!("m-{i}"), &src)).collect();
    produce(&f.stack.bulk_producer(), &dlt, &more).await;
    let p =
        wait_condition(&policies, "orders", "DeadLettersWithinLimit", "False", Some("DepthExceeded"), T).await.unwrap();
    assert_eq!(p.status.as_ref().unwrap().depth, Some(8));
    assert!(p.condition("DeadLettersWithinLimit").unwrap().message.contains("depth 8 > maxDepth 5"));
    let labels = format!("{{namespace=\"{}\",name=\"orders\"}}", f.ns.name);
    assert_eq!(f.operator.metric_sum(&format!("tributary_dlq_depth{labels}")).await.unwrap(), 8.0);
    assert_eq!(f.operator.metric_sum(&format!("tributary_dlq_within_limit{labels}")).await.unwrap(), 0.0);
    assert!(f.operator.metric_sum(&format!("tributary_dlq_oldest_age_seconds{labels}")).await.unwrap() >= 119.0);
    let events = events_in(&f.client, &f.ns.name).await;
    assert!(events.iter().any(|(o, r, _)| o == "orders" && r == "DeadLettersAboveLimit"), "{events:?}");

    // The redrive group "redrove" six of them (committed offsets): depth 2, back within the limit; the oldest
    // not-yet-redriven record is now m-6.
    commit_offsets(&f.stack, &format!("tributary-redrive-{}-orders", f.ns.name), &[(&dlt, 0, 6)]).unwrap();
    let p =
        wait_condition(&policies, "orders", "DeadLettersWithinLimit", "True", Some("WithinLimits"), T).await.unwrap();
    let st = p.status.unwrap();
    assert_eq!(st.depth, Some(2));
    assert!(st.oldest_age_seconds.unwrap() < 60, "{:?}", st.oldest_age_seconds);
    let events = events_in(&f.client, &f.ns.name).await;
    assert!(events.iter().any(|(o, r, _)| o == "orders" && r == "DeadLettersWithinLimit"), "{events:?}");
}

/// A topic made directly in Kafka, as the application team's own topic would be.
async fn kafka_topic<O>(f: &Fixture<O>, name: &str, partitions: i32) {
    create_topic(&f.stack.admin(), name, partitions, 1, &[]).await.unwrap();
}

fn moved_of(p: &DlqPolicy) -> i64 {
    p.status.as_ref().and_then(|s| s.redrive.as_ref()).map_or(0, |r| r.moved)
}

#[tokio::test]
async fn redrive_moves_exactly_once_keeps_records_and_holds_the_rate() {
    let f = Fixture::start("dlq-redrive", &[]).await;
    f.connection("main").await;
    let policies = f.api::<DlqPolicy>();
    let (src, audit) = (unique("orders"), unique("audit"));
    kafka_topic(&f, &src, 3).await;
    kafka_topic(&f, &audit, 1).await;
    let dlt = format!("{src}-dlt");
    f.apply::<DlqPolicy>(manifest::dlq_policy(
        "orders",
        json!({"connectionRef": {"name": "main"}, "sourceTopic": src, "allowedRedriveTopics": [audit],
               "deadLetter": {"partitions": 2}}),
    ))
    .await;
    ready(&f, "orders").await;

    // 4000 dead letters naming their origin the Spring, Connect and Streams ways, or not at all.
    let letters: Vec<Letter> = (0..4000)
        .map(|i| {
            let value = format!("v-{i}");
            match i % 4 {
                0 => spring(value, &src),
                1 => Letter {
                    key: Some(format!("c{i}")),
                    value,
                    headers: vec![("__connect.errors.topic", audit.clone())],
                    ..Default::default()
                },
                2 => Letter {
                    key: None,
                    value,
                    headers: vec![("__streams.errors.topic", src.clone())],
                    ..Default::default()
                },
                _ => Letter { key: Some(format!("n{i}")), value, ..Default::default() },
            }
        })
        .collect();
    let p = f.stack.bulk_producer();
    produce(&p, &dlt, &letters).await;

    patch_spec(&f, "orders", json!({"redrive": {"id": "r1", "maxPerSecond": 200}})).await;
    wait_status(&policies, "orders", "redrive r1 running", T, |p| moved_of(p) > 0).await.unwrap();
    // Arrivals after the start are not part of the move.
    let late: Vec<Letter> = (0..100).map(|i| spring(format!("late-{i}"), &src)).collect();
    produce(&p, &dlt, &late).await;
    let done = redrive_phase(&f, "orders", "r1", "Completed", Duration::from_secs(60)).await;
    let r = done.status.as_ref().unwrap().redrive.clone().unwrap();
    assert_eq!((r.moved, r.total), (4000, Some(4000)), "{r:?}");
    assert!(r.started_at.is_some() && r.finished_at.is_some());

    let read = read_all(&f.stack, &[&src, &audit]);
    let c = counts(&read);
    assert_eq!(read.len(), 4000, "every record once, nothing else");
    assert!((0..4000).all(|i| c.get(&format!("v-{i}")) == Some(&1)), "a record is missing or duplicated");
    for r in &read {
        let i: usize = value(r)[2..].parse().unwrap();
        assert_eq!(r.header("tributary-redrive-id"), Some("r1"));
        let (want_topic, want_key) = match i % 4 {
            0 => (&src, Some(format!("key-v-{i}"))),
            1 => (&audit, Some(format!("c{i}"))),
            2 => (&src, None),
            _ => (&src, Some(format!("n{i}"))),
        };
        assert_eq!((&r.topic, &r.key), (want_topic, &want_key), "{r:?}");
        if i.is_multiple_of(4) {
            assert_eq!(r.header("kafka_dlt-original-topic"), Some(src.as_str()));
            assert_eq!(r.header("kafka_dlt-exception-fqcn"), Some("java.lang.IllegalStateException"));
        }
    }
    // The rate, measured from the records' produce times: 4000 records at 200/s ≈ 20 s.
    let mut ts: Vec<i64> = read.iter().map(|r| r.timestamp_ms).collect();
    ts.sort();
    let secs = (ts[ts.len() - 1] - ts[0]) as f64 / 1000.0;
    let rate = (ts.len() - 1) as f64 / secs;
    assert!((rate - 200.0).abs() <= 20.0, "measured {rate:.1}/s over {secs:.1}s with maxPerSecond 200");
    eprintln!("redrive rate: {rate:.1}/s over {secs:.1}s (limit 200/s)");

    // The late arrivals are what is left.
    wait_status(&policies, "orders", "depth 100", T, |p| p.status.as_ref().is_some_and(|s| s.depth == Some(100)))
        .await
        .unwrap();
    let reasons: Vec<String> = events_in(&f.client, &f.ns.name).await.into_iter().map(|(_, r, _)| r).collect();
    for want in ["RedriveStarted", "RedriveCompleted"] {
        assert!(reasons.iter().any(|r| r == want), "no {want} Event in {reasons:?}");
    }

    // maxMessages, unthrottled.
    patch_spec(&f, "orders", json!({"redrive": {"id": "r2", "maxPerSecond": 0, "maxMessages": 30}})).await;
    let done = redrive_phase(&f, "orders", "r2", "Completed", T).await;
    assert_eq!(moved_of(&done), 30);
    wait_status(&policies, "orders", "depth 70", T, |p| p.status.as_ref().is_some_and(|s| s.depth == Some(70)))
        .await
        .unwrap();
    let late_moved = read_all(&f.stack, &[&src]).iter().filter(|r| value(r).starts_with("late-")).count();
    assert_eq!(late_moved, 30);
}

#[tokio::test]
async fn second_id_waits_and_cancel_stops_cleanly() {
    let f = Fixture::start("dlq-cancel", &[]).await;
    f.connection("main").await;
    let policies = f.api::<DlqPolicy>();
    let src = unique("orders");
    kafka_topic(&f, &src, 1).await;
    let dlt = format!("{src}-dlt");
    f.apply::<DlqPolicy>(manifest::dlq_policy(
        "orders",
        json!({"connectionRef": {"name": "main"}, "sourceTopic": src}),
    ))
    .await;
    ready(&f, "orders").await;
    let letters: Vec<Letter> = (0..1500).map(|i| spring(format!("v-{i}"), &src)).collect();
    produce(&f.stack.bulk_producer(), &dlt, &letters).await;

    patch_spec(&f, "orders", json!({"redrive": {"id": "r1", "maxPerSecond": 100}})).await;
    wait_status(&policies, "orders", "r1 moving", T, |p| moved_of(p) > 0).await.unwrap();
    // A second id while r1 runs waits for it.
    patch_spec(&f, "orders", json!({"redrive": {"id": "r2"}})).await;
    let p = wait_status(&policies, "orders", "r2 queued", T, |p| {
        p.status.as_ref().and_then(|s| s.redrive.as_ref()).is_some_and(|r| {
            r.id == "r1" && r.phase == "Running" && r.message.as_deref().is_some_and(|m| m.contains("\"r2\" waits"))
        })
    })
    .await
    .unwrap();
    assert!(moved_of(&p) < 1500);
    // Clearing spec.redrive cancels r1.
    patch_spec(&f, "orders", json!({"redrive": null})).await;
    let p = redrive_phase(&f, "orders", "r1", "Cancelled", T).await;
    let moved = moved_of(&p);
    assert!(moved > 0 && moved < 1500, "moved {moved}");
    let read = read_all(&f.stack, &[&src]);
    assert_eq!(read.len() as i64, moved, "exactly the committed records, no partial transaction");
    assert!(counts(&read).values().all(|n| *n == 1));
    wait_status(&policies, "orders", "depth after cancel", T, |p| {
        p.status.as_ref().is_some_and(|s| s.depth == Some(1500 - moved))
    })
    .await
    .unwrap();

    // A new id moves the rest, each record once overall.
    patch_spec(&f, "orders", json!({"redrive": {"id": "r3", "maxPerSecond": 0}})).await;
    let p = redrive_phase(&f, "orders", "r3", "Completed", T).await;
    assert_eq!(moved_of(&p), 1500 - moved);
    let read = read_all(&f.stack, &[&src]);
    let c = counts(&read);
    assert_eq!(read.len(), 1500);
    assert!((0..1500).all(|i| c.get(&format!("v-{i}")) == Some(&1)));
}

#[tokio::test]
async fn bad_input_is_refused_or_stops_before_the_bad_record() {
    let f = Fixture::start("dlq-bad", &[]).await;
    f.connection("main").await;
    let (src, payments, ghost) = (unique("orders"), unique("payments"), unique("ghost"));
    kafka_topic(&f, &src, 1).await;
    kafka_topic(&f, &payments, 1).await;
    let dlt = format!("{src}-dlt");
    f.apply::<DlqPolicy>(manifest::dlq_policy(
        "orders",
        json!({"connectionRef": {"name": "main"}, "sourceTopic": src, "allowedRedriveTopics": [ghost]}),
    ))
    .await;
    ready(&f, "orders").await;
    // Five good dead letters, then one from a topic the policy does not allow, then four more.
    let mut letters: Vec<Letter> = (0..10).map(|i| spring(format!("v-{i}"), &src)).collect();
    letters[5] = spring("bad".into(), &payments);
    produce(&f.stack.bulk_producer(), &dlt, &letters).await;
    let group = format!("tributary-redrive-{}-orders", f.ns.name);

    // A destination that does not exist: refused, nothing consumed, and the topic is not created.
    patch_spec(&f, "orders", json!({"redrive": {"id": "a", "destination": ghost}})).await;
    let p = redrive_phase(&f, "orders", "a", "Refused", T).await;
    let msg = p.status.unwrap().redrive.unwrap().message.unwrap();
    assert!(msg.contains(&ghost) && msg.contains("does not exist"), "{msg}");
    // A destination the policy does not allow: refused, naming it.
    patch_spec(&f, "orders", json!({"redrive": {"id": "b", "destination": payments}})).await;
    let p = redrive_phase(&f, "orders", "b", "Refused", T).await;
    let msg = p.status.unwrap().redrive.unwrap().message.unwrap();
    assert!(msg.contains(&payments) && msg.contains("allowedRedriveTopics"), "{msg}");
    assert_eq!(p.metadata.name.as_deref(), Some("orders"));
    let offsets = committed(&f.stack, &group, &dlt);
    assert_eq!(offsets, None, "nothing consumed by refused redrives");
    assert!(!f.kafka_has(&ghost).await, "a refused destination is not created");

    // A record whose original topic is not allowed: the move stops before it; what came before is moved.
    patch_spec(&f, "orders", json!({"redrive": {"id": "c", "maxPerSecond": 0, "destination": null}})).await;
    let p = redrive_phase(&f, "orders", "c", "Failed", T).await;
    let r = p.status.unwrap().redrive.unwrap();
    let msg = r.message.clone().unwrap();
    assert!(msg.contains(&format!("{dlt}[0]@5")) && msg.contains(&payments), "{msg}");
    assert_eq!(r.moved, 5);
    assert_eq!(read_all(&f.stack, &[&src]).len(), 5);
    assert_eq!(read_all(&f.stack, &[&payments]).len(), 0, "nothing produced to the disallowed topic");
    assert_eq!(committed(&f.stack, &group, &dlt), Some(5), "committed up to the bad record, not past it");
    let events = events_in(&f.client, &f.ns.name).await;
    assert!(events.iter().any(|(_, r, n)| r == "RedriveFailed" && n.contains(&payments)), "{events:?}");

    // With every topic allowed, an original topic that does not exist fails the same way, and is not created.
    let wide_src = unique("wide");
    kafka_topic(&f, &wide_src, 1).await;
    f.apply::<DlqPolicy>(manifest::dlq_policy(
        "wide",
        json!({"connectionRef": {"name": "main"}, "sourceTopic": wide_src, "allowedRedriveTopics": ["*"]}),
    ))
    .await;
    ready(&f, "wide").await;
    let nowhere = unique("nowhere");
    produce(&f.stack.bulk_producer(), &format!("{wide_src}-dlt"), &[spring("x".into(), &nowhere)]).await;
    patch_spec(&f, "wide", json!({"redrive": {"id": "d"}})).await;
    let p = redrive_phase(&f, "wide", "d", "Failed", T).await;
    let msg = p.status.unwrap().redrive.unwrap().message.unwrap();
    assert!(msg.contains(&nowhere) && msg.contains("does not exist"), "{msg}");
    assert!(!f.kafka_has(&nowhere).await, "the missing original topic is not auto-created");
}

/// The committed offset of `group` on partition 0 of `topic`, if any.
fn committed(stack: &Stack, group: &str, topic: &str) -> Option<i64> {
    let c: BaseConsumer = stack.kafka_config().set("group.id", group).create().unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    match got.elements()[0].offset() {
        rdkafka::Offset::Offset(o) => Some(o),
        _ => None,
    }
}

#[tokio::test]
async fn sigkill_of_the_operator_pod_mid_move_still_moves_every_record_exactly_once() {
    // The operator runs as the chart's pod on the node; its container is killed with SIGKILL mid-move and kubelet
    // restarts it in the same pod.
    let f = Fixture::start_chart("dlq-kill", node::ChartOptions::default()).await;
    f.connection("main").await;
    let policies = f.api::<DlqPolicy>();
    let src = unique("orders");
    kafka_topic(&f, &src, 3).await;
    let dlt = format!("{src}-dlt");
    f.apply::<DlqPolicy>(manifest::dlq_policy(
        "orders",
        json!({"connectionRef": {"name": "main"}, "sourceTopic": src, "deadLetter": {"partitions": 3}}),
    ))
    .await;
    ready(&f, "orders").await;
    const N: usize = 100_000;
    let letters: Vec<Letter> = (0..N)
        .map(|i| Letter {
            key: Some(format!("{}", i % 97)),
            value: format!("u-{i}"),
            headers: vec![("kafka_dlt-original-topic", src.clone())],
            timestamp_ms: None,
        })
        .collect();
    produce(&f.stack.bulk_producer(), &dlt, &letters).await;

    patch_spec(&f, "orders", json!({"redrive": {"id": "big", "maxPerSecond": 5000}})).await;
    wait_status(&policies, "orders", "a quarter moved", T, |p| moved_of(p) >= 25_000).await.unwrap();
    let pod = f.operator.wait_ready(1, T).await.remove(0);
    let pid = f.operator.kill_container(&pod).unwrap();
    let before = policies.get("orders").await.unwrap();
    eprintln!("SIGKILL of the operator container (host pid {pid}) at {} moved", moved_of(&before));
    let restarted = f.operator.wait_restarted(&pod, T).await;
    eprintln!("kubelet restarted the container (restartCount {restarted})");
    let p = redrive_phase(&f, "orders", "big", "Completed", Duration::from_secs(120)).await;
    let r = p.status.unwrap().redrive.unwrap();
    assert_eq!((r.moved, r.total), (N as i64, Some(N as i64)), "{r:?}");

    let read = read_all(&f.stack, &[&src]);
    let c = counts(&read);
    assert_eq!(read.len(), N, "read_committed sees every record once");
    assert!((0..N).all(|i| c.get(&format!("u-{i}")) == Some(&1)), "a record is missing or duplicated");
}
