//! The Topic controller at scale and under faults, against the real stack: an idle operator with 1,000 Ready topics
//! stays quiet; a Kafka outage in the middle of a 500-topic reconcile is reported and recovered from; a leader
//! operator pod (of two, installed with the chart) killed with SIGKILL in the middle of a 500-topic batch converges
//! with nothing lost or duplicated. Kafka is
//! checked with Kafka's own CLI and rdkafka used directly, the operator through its /metrics.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::Api;
use kube::api::ListParams;
use serde_json::json;
use tributary::api::{KafkaConnection, Topic};
use tributary_e2e::scale::*;
use tributary_e2e::*;
use tributary_e2e::{manifest, node};

const T: Duration = Duration::from_secs(60);
/// Topic resources created at once against the apiserver.
const CONCURRENCY: usize = 32;

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:04}")).collect()
}

fn manifests(names: &[String], spec: serde_json::Value) -> Vec<serde_json::Value> {
    names.iter().map(|n| manifest::topic(n, spec.clone())).collect()
}

async fn connected<O>(f: &Fixture<O>) {
    f.connection("main").await;
    wait_condition(&f.api::<KafkaConnection>(), "main", "Ready", "True", None, T).await.unwrap();
}

/// Removes the test's Topic resources (the running operator releases the finalizers) and then its Kafka topics.
async fn cleanup<O>(f: &Fixture<O>, prefix: &str) {
    let started = Instant::now();
    delete_all_topics(&f.client, &f.ns.name, Duration::from_secs(240)).await.expect("deleting the Topic resources");
    purge_kafka_topics(&f.stack, prefix, &[], Duration::from_secs(120)).await.expect("deleting the Kafka topics");
    eprintln!("cleanup took {:.1}s", started.elapsed().as_secs_f64());
}

/// `metadata.resourceVersion` of every Topic in the namespace.
async fn resource_versions(api: &Api<Topic>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lp = ListParams::default().limit(500);
    loop {
        let page = api.list_metadata(&lp).await.expect("listing Topics");
        for t in page.items {
            out.insert(t.metadata.name.unwrap_or_default(), t.metadata.resource_version.unwrap_or_default());
        }
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => return out,
        }
    }
}

#[tokio::test]
async fn idle_operator_with_1000_ready_topics_writes_nothing_and_reconciles_at_resync() {
    const N: usize = 1000;
    const RESYNC: u64 = 30;
    const WINDOW: u64 = 60;
    let f = Fixture::start("scale-idle", &["--resync-seconds", &RESYNC.to_string()]).await;
    let prefix = unique("idle");
    let _leftovers = Leftovers { stack: f.stack.clone(), namespace: f.ns.name.clone(), kafka_prefix: prefix.clone() };
    connected(&f).await;
    let names = names(&prefix, N);
    let tracker = ReadyTracker::start(f.api());
    let spec = json!({"connectionRef": {"name": "main"}, "partitions": 1, "config": {"retention.ms": "3600000"}});
    let created = create_all::<Topic>(&f.client, &f.ns.name, manifests(&names, spec), CONCURRENCY).await.unwrap();
    let ready = tracker.wait_ready(N, Duration::from_secs(240)).await.unwrap();
    eprintln!(
        "{N} Topic resources created in {:.1}s; all Ready {:.1}s later",
        created.as_secs_f64(),
        ready.as_secs_f64()
    );
    // Whatever was in flight when the last status landed (Events) drains; then a quiet minute is measured.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let conns = f.api::<KafkaConnection>();
    let connection_before = conns.get("main").await.unwrap();
    let versions_before = resource_versions(&f.api()).await;
    let before = MetricsSnapshot::take(&f.operator).await.unwrap();
    tokio::time::sleep(Duration::from_secs(WINDOW)).await;
    let after = MetricsSnapshot::take(&f.operator).await.unwrap();
    let versions_after = resource_versions(&f.api()).await;
    let connection_after = conns.get("main").await.unwrap();

    let delta = Delta::new(&before, &after);
    let by_kind = |name: &str| delta.by_label(name, "kind");
    let requests = delta.kafka_requests();
    let reconciles = delta.sum("tributary_reconciles_total", &[("kind", "Topic")]);
    let status_writes = delta.sum("tributary_status_writes_total", &[]);
    eprintln!(
        "idle {WINDOW}s: reconciles {:?}, status writes {:?}, Kafka requests {requests:?}",
        by_kind("tributary_reconciles_total"),
        by_kind("tributary_status_writes_total")
    );

    // The connection is part of the picture: its status changing (e.g. a broker of the shared stack going away)
    // would be news, and it re-triggers every topic on it.
    assert_eq!(
        connection_after.metadata.resource_version, connection_before.metadata.resource_version,
        "the KafkaConnection changed while idle: {:?} -> {:?}",
        connection_before.status, connection_after.status
    );
    assert_eq!(
        status_writes,
        0.0,
        "status writes while nothing changed: {:?}",
        by_kind("tributary_status_writes_total")
    );
    let writes: Vec<_> =
        requests.iter().filter(|(op, _)| ["create", "alter", "delete"].iter().any(|w| op.contains(w))).collect();
    assert!(writes.is_empty(), "Kafka writes while nothing changed: {writes:?}");
    let max = (N as u64 * (WINDOW / RESYNC + 1)) as f64;
    assert!(reconciles <= max, "{reconciles} reconciles in {WINDOW}s, at most {max} at a {RESYNC}s resync");
    assert!(reconciles >= N as f64, "{reconciles} reconciles in {WINDOW}s: the {RESYNC}s resync did not run");
    assert_eq!(versions_before.len(), N);
    let changed: Vec<_> = versions_before.iter().filter(|(n, v)| versions_after.get(*n) != Some(*v)).take(5).collect();
    assert!(changed.is_empty(), "Topic objects changed in the apiserver while idle: {changed:?}");
    assert_eq!(tracker.counts().ready, N);

    cleanup(&f, &prefix).await;
}

#[tokio::test]
async fn kafka_controller_outage_during_a_500_topic_reconcile_is_reported_and_recovered() {
    const N: usize = 500;
    let f = Fixture::start("scale-outage", &["--resync-seconds", "10"]).await;
    let prefix = unique("outage");
    // Declared before the restart guard, so Kafka is whole again before this cleans up after a failure.
    let _leftovers = Leftovers { stack: f.stack.clone(), namespace: f.ns.name.clone(), kafka_prefix: prefix.clone() };
    // Node 1 is the only KRaft controller: without it no broker can create a topic, the whole cluster is out for
    // writes (stopping a broker-only node would only take away the partitions it leads).
    let controller = KafkaNode::of(&f.stack, 1).unwrap();
    let guard = RestartGuard(controller.clone());
    connected(&f).await;
    let names = names(&prefix, N);
    let tracker = ReadyTracker::start(f.api());
    let config = [("retention.ms", "3600000"), ("cleanup.policy", "compact")];
    let spec = json!({"connectionRef": {"name": "main"}, "partitions": 3,
        "config": {"retention.ms": "3600000", "cleanup.policy": "compact"}});
    let creating = tokio::spawn({
        let (client, ns, m) = (f.client.clone(), f.ns.name.clone(), manifests(&names, spec));
        async move { create_all::<Topic>(&client, &ns, m, CONCURRENCY).await }
    });
    // A fifth of the topics are done: the rest of the batch is on its way when the controller goes.
    tracker.wait_ready(N / 5, T).await.unwrap();
    let stop_started = Instant::now();
    controller.stop(Duration::from_secs(60)).unwrap();
    eprintln!(
        "stopped kafka-1 (the controller) in {:.1}s with {:?}",
        stop_started.elapsed().as_secs_f64(),
        tracker.counts()
    );
    creating.await.unwrap().unwrap();

    let conns = f.api::<KafkaConnection>();
    let outage = || async {
        let reasons = tracker.not_ready_reasons();
        let topic_says = ["KafkaUnreachable", "ConnectionNotReady"].iter().find(|r| reasons.contains_key(**r));
        let conn_says = conns.get("main").await?.condition("Ready").filter(|c| c.status == "False");
        Ok(match (topic_says, conn_says) {
            (Some(r), _) => Some(format!("Topic Ready=False {r}")),
            (None, Some(c)) => Some(format!("KafkaConnection Ready=False {}: {}", c.reason, c.message)),
            _ => None,
        })
    };
    let reported = wait_for_some("the outage in conditions", Duration::from_secs(120), outage).await.unwrap();
    let during = tracker.counts();
    eprintln!("reported: {reported}; topics now {during:?}; reasons seen {:?}", tracker.not_ready_reasons());
    assert!(during.ready < N, "every topic was done before the outage: the test proved nothing");
    let (code, _) = f.operator.http_get("/healthz").await.expect("the operator keeps running during the outage");
    assert_eq!(code, 200);

    let down_for = stop_started.elapsed();
    controller.start().unwrap();
    controller.wait_listening(Duration::from_secs(120)).unwrap();
    let back = Instant::now();
    tracker.wait_ready(N, Duration::from_secs(240)).await.unwrap();
    eprintln!(
        "Kafka controller down {:.1}s; all {N} Ready {:.1}s after it listened again",
        down_for.as_secs_f64(),
        back.elapsed().as_secs_f64()
    );
    drop(guard);

    let described = check_in_kafka(&f.stack, &prefix, &names, 3, &config);
    for (name, seen) in tracker.topics() {
        assert_eq!(seen.partitions, Some(3), "status.partitions of {name}");
        assert_eq!(seen.topic_id.as_deref(), Some(described[&name].id.as_str()), "status.topicId of {name}");
    }
    cleanup(&f, &prefix).await;
}

#[tokio::test]
async fn leader_pod_lost_mid_batch_converges_with_nothing_lost_or_duplicated() {
    const N: usize = 500;
    // Two operator pods from the chart; the leader's container is killed with SIGKILL mid-batch. The standby takes
    // the Lease once it expires, while kubelet restarts the killed container.
    let opts = node::ChartOptions { replicas: 2, ..Default::default() };
    let f = Fixture::start_chart("scale-crash", opts).await;
    let prefix = unique("crash");
    let _leftovers = Leftovers { stack: f.stack.clone(), namespace: f.ns.name.clone(), kafka_prefix: prefix.clone() };
    connected(&f).await;
    let names = names(&prefix, N);
    let tracker = ReadyTracker::start(f.api());
    let config = [("retention.ms", "7200000")];
    let spec = json!({"connectionRef": {"name": "main"}, "partitions": 2, "config": {"retention.ms": "7200000"}});
    let creating = tokio::spawn({
        let (client, ns, m) = (f.client.clone(), f.ns.name.clone(), manifests(&names, spec));
        async move { create_all::<Topic>(&client, &ns, m, CONCURRENCY).await }
    });
    // SIGKILL once Kafka has a tenth of the topics: the rest of the batch is in flight.
    let in_kafka = || async { Ok(kafka_topic_names(&f.stack, &prefix)?.len()) };
    let first = wait_for("a tenth of the topics in Kafka", T, in_kafka, |n| *n >= N / 10).await.unwrap();
    let leader = f.operator.leader().await.expect("a leader holds the Lease");
    let pid = f.operator.kill_container(&f.operator.pod(&leader).await.unwrap()).unwrap();
    let at_kill = tracker.counts();
    // kubelet restarts the container within a second or two: count what Kafka has right now, at the kill.
    let in_kafka = kafka_topic_names(&f.stack, &prefix).unwrap().len();
    eprintln!("leader pod {leader} killed (host pid {pid}) with {in_kafka} topics in Kafka; resources {at_kill:?}");
    assert!(at_kill.ready < N, "the batch was over before the kill");
    assert!(in_kafka < N, "Kafka had every topic at the kill: nothing left to converge");
    creating.await.unwrap().unwrap();
    // The topics Kafka has by now keep their ids to the end: none is deleted and recreated.
    let before = describe_topics_cli(&f.stack, &format!("{prefix}-.*")).unwrap();
    eprintln!("{} of {N} topics in Kafka a moment later ({first} when the kill was decided)", before.len());

    let took = tracker.wait_ready(N, Duration::from_secs(240)).await.unwrap();
    let new_leader = f.operator.leader().await;
    eprintln!(
        "after the leader's loss: all {N} Ready in {:.1}s (Lease now held by {new_leader:?})",
        took.as_secs_f64()
    );

    let after = check_in_kafka(&f.stack, &prefix, &names, 2, &config);
    for (name, t) in &before {
        assert_eq!(after[name].id, t.id, "{name} was recreated (topic id changed)");
    }
    let seen = tracker.topics();
    assert_eq!(seen.len(), N);
    for (name, s) in &seen {
        // Retain (the default): Ready, and no finalizer pinning the resource.
        assert!(s.is_ready() && !s.finalized, "{name} stuck or pinned: {s:?}");
        assert_eq!(s.topic_id.as_deref(), Some(after[name].id.as_str()), "status.topicId of {name}");
    }
    let created = event_counts(&f.client, &f.ns.name, "Created").await;
    let dup: Vec<_> = created.iter().filter(|(_, c)| **c > 1).collect();
    assert!(dup.is_empty(), "\"Created\" more than once: {dup:?}");
    let total: i32 = created.values().sum();
    assert!(total as usize >= N - in_kafka, "{total} Created Events, {} topics made after the kill", N - in_kafka);
    cleanup(&f, &prefix).await;
}
