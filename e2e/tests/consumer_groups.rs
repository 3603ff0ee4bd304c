//! The ConsumerGroup controller against the real stack, with real producers and consumers: lag and lag seconds,
//! partition health, conflicts with an HPA and declarative offset resets (a replica emulator
//! keeps as many real consumers as the Deployment has replicas, with knobs a pod does not have). Autoscaling of
//! real consumer pods (burst, drain, scale to zero, wake) is in node.rs.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;
use tributary::api::ConsumerGroup;
use tributary_e2e::emulator::ReplicaEmulator;
use tributary_e2e::kafka::{
    GroupOffsets, StuckMember, commit_offsets, create_topic, group_members, group_offsets_cli, produce,
};
use tributary_e2e::manifest::{self, emulated_deployment};
use tributary_e2e::*;

const T: Duration = Duration::from_secs(90);

/// A ConsumerGroup `name` that watches `group` on `topic`, without autoscaling.
async fn watch_group<O>(f: &Fixture<O>, name: &str, group: &str, topic: &str) {
    let spec = json!({"connectionRef": {"name": "main"}, "groupId": group, "topics": [topic]});
    f.apply::<ConsumerGroup>(manifest::consumer_group(name, spec)).await;
}

/// Per-partition (end, committed) as Kafka's own ConsumerGroupCommand describes them.
fn describe_with_kafka_cli(stack: &Stack, group: &str) -> GroupOffsets {
    group_offsets_cli(stack, group).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_matches_kafka_counts_from_log_start_and_ignores_transaction_markers() {
    let f = Fixture::start("lag", &["--group-poll-seconds", "1"]).await;
    f.connection("main").await;
    let topic = unique("lag-topic");
    let admin = f.stack.admin();
    create_topic(&admin, &topic, 3, 1, &[]).await.unwrap();
    let producer = f.stack.producer();
    produce(&producer, &topic, "v", 300).await.unwrap();

    // Partition 2 loses its first records to retention (DeleteRecords): the group never committed there, so its lag
    // counts from the log start, not from zero.
    let group = unique("lag-group");
    commit_offsets(&f.stack, &group, &[(&topic, 0, 10), (&topic, 1, 0)]).unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 2, Offset::Offset(5)).unwrap();
    admin.delete_records(&tpl, &rdkafka::admin::AdminOptions::new()).await.unwrap();

    watch_group(&f, "billing", &group, &topic).await;
    let groups = f.api::<ConsumerGroup>();
    let g =
        wait_status(&groups, "billing", "lag observed", T, |g| g.status.as_ref().and_then(|s| s.total_lag).is_some())
            .await
            .unwrap();
    let st = g.status.clone().unwrap();

    // What Kafka's own tool says, computed the same way (partitions with no commit count from the log start).
    let rows = describe_with_kafka_cli(&f.stack, &group);
    let consumer: BaseConsumer = f.stack.kafka_config().create().unwrap();
    let mut expected = 0i64;
    for p in 0..3 {
        let (low, high) = consumer.fetch_watermarks(&topic, p, Duration::from_secs(5)).unwrap();
        let committed = rows.get(&(topic.clone(), p)).and_then(|(_, c)| *c);
        if let Some((end, _)) = rows.get(&(topic.clone(), p)) {
            assert_eq!(*end, high, "ConsumerGroupCommand and the watermarks agree on partition {p}");
        }
        expected += high - committed.unwrap_or(low).max(low);
    }
    assert_eq!(st.total_lag, Some(expected), "status {st:?}");
    assert_eq!(st.topics.len(), 1);
    assert_eq!((st.topics[0].lag, st.topics[0].partitions), (expected, 3));
    assert!(expected < 300 - 10, "the deleted records of partition 2 are not lag");
    assert_eq!(g.condition("Ready").unwrap().status, "True");

    // A transactional producer writes 100 records; a read_committed reader consumes and commits all of them:
    // the commit marker must not show as lag.
    let tx_topic = unique("tx-topic");
    create_topic(&admin, &tx_topic, 1, 1, &[]).await.unwrap();
    let tx: BaseProducer = f.stack.kafka_config().set("transactional.id", unique("tx")).create().unwrap();
    tx.init_transactions(Duration::from_secs(30)).unwrap();
    tx.begin_transaction().unwrap();
    for i in 0..100 {
        let v = format!("t{i}");
        tx.send(BaseRecord::<(), str>::to(&tx_topic).payload(&v)).map_err(|(e, _)| e).unwrap();
    }
    tx.commit_transaction(Duration::from_secs(30)).unwrap();
    let tx_group = unique("tx-group");
    let reader: BaseConsumer = f
        .stack
        .kafka_config()
        .set("group.id", &tx_group)
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    reader.subscribe(&[&tx_topic]).unwrap();
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while n < 100 && Instant::now() < deadline {
        if let Some(Ok(_)) = reader.poll(Duration::from_millis(200)) {
            n += 1;
        }
    }
    assert_eq!(n, 100);
    // Commit the consumer's position, which is past the commit marker only because the reader moved past it.
    for _ in 0..10 {
        let _ = reader.poll(Duration::from_millis(100));
    }
    reader.commit_consumer_state(CommitMode::Sync).unwrap();
    let (_, high) = consumer.fetch_watermarks(&tx_topic, 0, Duration::from_secs(5)).unwrap();
    assert_eq!(high, 101, "100 records plus one commit marker");
    drop(reader);
    watch_group(&f, "tx", &tx_group, &tx_topic).await;
    let g = wait_status(&groups, "tx", "tx lag observed", T, |g| g.status.as_ref().and_then(|s| s.total_lag).is_some())
        .await
        .unwrap();
    assert_eq!(g.status.unwrap().total_lag, Some(0), "no phantom lag from the transaction marker");

    // Group states and offsets come from the connection's lag tick (DescribeGroups and OffsetFetch per coordinator).
    for op in ["lag_describe_groups", "lag_offset_fetch"] {
        let sent = f
            .operator
            .metric_sum(&format!(r#"tributary_kafka_requests_total{{operation="{op}",result="Success"}}"#))
            .await
            .unwrap();
        assert!(sent > 0.0, "no successful {op} request");
    }

    // A deleted ConsumerGroup leaves no series behind in /metrics.
    let series = |body: &str, name: &str| {
        let label = format!(r#"name="{name}""#);
        body.lines().filter(|l| l.starts_with("tributary_consumergroup_") && l.contains(&label)).count()
    };
    let (_, body) = f.operator.http_get("/metrics").await.unwrap();
    assert!(series(&body, "billing") > 0, "billing has lag series before its deletion:\n{body}");
    groups.delete("billing", &Default::default()).await.unwrap();
    let billing_series = || async {
        let (_, body) = f.operator.http_get("/metrics").await?;
        Ok(series(&body, "billing"))
    };
    wait_for("billing's series gone from /metrics", T, billing_series, |n| *n == 0).await.unwrap();
    let (_, body) = f.operator.http_get("/metrics").await.unwrap();
    assert!(series(&body, "tx") > 0, "the other group keeps its series:\n{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_in_seconds_follows_a_known_produce_schedule() {
    let f = Fixture::start("lagsec", &["--group-poll-seconds", "1"]).await;
    f.connection("main").await;
    let topic = unique("sched");
    create_topic(&f.stack.admin(), &topic, 1, 1, &[]).await.unwrap();
    let group = unique("sched-group");
    commit_offsets(&f.stack, &group, &[(&topic, 0, 0)]).unwrap();
    f.apply::<ConsumerGroup>(manifest::consumer_group(
        "sched",
        json!({"connectionRef": {"name": "main"}, "groupId": group, "topics": [topic],
        "lag": {"maxSeconds": 8}}),
    ))
    .await;
    // One record per second for 20 s; the group stays at offset 0, so the oldest unconsumed record is the first.
    let producer = f.stack.producer();
    let first = Instant::now();
    for i in 0..20 {
        produce(&producer, &topic, &format!("s{i}"), 1).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let groups = f.api::<ConsumerGroup>();
    let g = wait_status(&groups, "sched", "lag seconds reported", T, |g| {
        g.status.as_ref().and_then(|s| s.max_lag_seconds).is_some()
    })
    .await
    .unwrap();
    assert!(g.status.as_ref().unwrap().max_lag_seconds.unwrap() > 0.0);
    // The status's figure may be up to statusIntervalSeconds old; /metrics follows every lag tick.
    let gauge = format!(r#"tributary_consumergroup_lag_seconds{{namespace="{}",name="sched"}}"#, f.ns.name);
    let reported = f.operator.metric_sum(&gauge).await.unwrap();
    let truth = first.elapsed().as_secs_f64();
    // Tolerance: one lag tick, the interpolation step (1 s between records) and the time to read /metrics.
    assert!((reported - truth).abs() <= 4.0, "reported {reported} s, true lag {truth:.1} s");
    // The SLO of 8 s is breached.
    wait_condition(&groups, "sched", "LagWithinSLO", "False", Some("LagAboveSLO"), T).await.unwrap();
    // The condition flipped (written at once) while the records still arrived; the full lag follows within the
    // status interval.
    let all_lag = |g: &ConsumerGroup| g.status.as_ref().and_then(|s| s.total_lag).is_some_and(|l| l >= 20);
    wait_status(&groups, "sched", "the lag of all 20 records in status", T, all_lag).await.unwrap();
    // Catch up: lag 0, the SLO is met again.
    commit_offsets(&f.stack, &group, &[(&topic, 0, 20)]).unwrap();
    wait_condition(&groups, "sched", "LagWithinSLO", "True", Some("WithinSLO"), T).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_health_stalled_stopped_and_rewound() {
    let f = Fixture::start("health", &["--group-poll-seconds", "1"]).await;
    f.connection("main").await;
    let topic = unique("health");
    create_topic(&f.stack.admin(), &topic, 1, 1, &[]).await.unwrap();
    let producer = f.stack.producer();
    produce(&producer, &topic, "h", 50).await.unwrap();

    // Stalled: a member that stays in the group, committed once, and never moves while records arrive.
    let group = unique("stuck");
    commit_offsets(&f.stack, &group, &[(&topic, 0, 10)]).unwrap();
    let member = StuckMember::join(&f.stack, &group, &topic).unwrap();
    watch_group(&f, "stuck", &group, &topic).await;
    let groups = f.api::<ConsumerGroup>();
    let g = wait_condition(&groups, "stuck", "Stalled", "True", Some("Stalled"), T).await.unwrap();
    let msg = g.condition("Stalled").unwrap().message;
    assert!(msg.contains(&format!("{topic}[0]")), "{msg}");
    assert_eq!(g.status.unwrap().partitions[0].status, "Stalled");
    drop(member);

    // Stopped: commits that moved, then silence (no member) while lag remains.
    let quiet = unique("quiet");
    commit_offsets(&f.stack, &quiet, &[(&topic, 0, 5)]).unwrap();
    watch_group(&f, "quiet", &quiet, &topic).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    commit_offsets(&f.stack, &quiet, &[(&topic, 0, 8)]).unwrap();
    wait_condition(&groups, "quiet", "Stalled", "True", Some("Stopped"), T).await.unwrap();

    // Rewound: the committed offset goes backwards.
    let rewind = unique("rewind");
    commit_offsets(&f.stack, &rewind, &[(&topic, 0, 40)]).unwrap();
    watch_group(&f, "rewind", &rewind, &topic).await;
    wait_status(&groups, "rewind", "first observation", T, |g| g.status.as_ref().and_then(|s| s.total_lag).is_some())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    commit_offsets(&f.stack, &rewind, &[(&topic, 0, 3)]).unwrap();
    wait_condition(&groups, "rewind", "Stalled", "True", Some("Rewound"), T).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hpa_on_the_same_target_stops_scaling() {
    let f = Fixture::start("hpa", &[]).await;
    f.connection("main").await;
    let topic = unique("hpa");
    create_topic(&f.stack.admin(), &topic, 4, 1, &[]).await.unwrap();
    f.apply::<Deployment>(emulated_deployment("consumer", 1)).await;
    f.apply::<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>(json!({"apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler", "metadata": {"name": "cpu"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "consumer"}, "minReplicas": 1, "maxReplicas": 3}})).await;
    produce(&f.stack.producer(), &topic, "x", 2000).await.unwrap();
    f.apply::<ConsumerGroup>(manifest::consumer_group(
        "hpa",
        json!({"connectionRef": {"name": "main"}, "groupId": unique("hpa-group"), "topics": [topic],
        "autoscaling": {"targetRef": {"name": "consumer"}, "maxReplicas": 4, "lagPerReplica": 10, "pollSeconds": 1}}),
    ))
    .await;
    let groups = f.api::<ConsumerGroup>();
    let g = wait_condition(&groups, "hpa", "ScalingActive", "False", Some("ConflictingAutoscaler"), T).await.unwrap();
    assert!(g.condition("ScalingActive").unwrap().message.contains("HorizontalPodAutoscaler cpu"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let d = f.api::<Deployment>().get("consumer").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(1), "no scaling while another autoscaler owns the target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_reset_to_a_timestamp_replays_exactly_the_records_since_then() {
    let f = Fixture::start("reset", &[]).await;
    f.connection("main").await;
    let topic = unique("replay");
    create_topic(&f.stack.admin(), &topic, 2, 1, &[]).await.unwrap();
    let group = unique("replay-group");
    let producer = f.stack.producer();
    produce(&producer, &topic, "before", 50).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cut = k8s_openapi::jiff::Timestamp::now().as_millisecond();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    produce(&producer, &topic, "after", 50).await.unwrap();

    f.apply::<Deployment>(emulated_deployment("consumer", 1)).await;
    let emulator = ReplicaEmulator::start(&f.stack, f.client.clone(), &f.ns.name, "consumer", &group, &topic, 1000);
    let spec = |reset: Option<serde_json::Value>| {
        let mut s = json!({"connectionRef": {"name": "main"}, "groupId": group, "topics": [topic],
            "autoscaling": {"targetRef": {"name": "consumer"}, "minReplicas": 1, "maxReplicas": 1, "lagPerReplica": 1000, "pollSeconds": 1}});
        if let Some(r) = reset {
            s["offsetReset"] = r;
        }
        s
    };
    f.apply::<ConsumerGroup>(manifest::consumer_group("replay", spec(None))).await;
    let consumed = || async { Ok(emulator.processed_values().len()) };
    wait_for("everything consumed once", T, consumed, |n| *n >= 100).await.unwrap();
    let groups = f.api::<ConsumerGroup>();
    wait_status(&groups, "replay", "lag 0", T, |g| g.status.as_ref().and_then(|s| s.total_lag) == Some(0))
        .await
        .unwrap();
    let consumed_before_reset = emulator.processed_values().len();

    f.apply::<ConsumerGroup>(manifest::consumer_group(
        "replay",
        spec(Some(json!({"id": "replay-1", "to": "Timestamp", "value": cut.to_string()}))),
    ))
    .await;
    let g = wait_status(&groups, "replay", "reset done", T, |g| {
        g.status.as_ref().and_then(|s| s.offset_reset.as_ref()).is_some_and(|r| r.id == "replay-1" && r.phase == "Done")
    })
    .await
    .unwrap();
    let r = g.status.unwrap().offset_reset.unwrap();
    assert_eq!(r.saved_replicas, Some(1));
    let seen = emulator.replicas_seen.lock().unwrap().clone();
    assert!(seen.iter().any(|(_, n)| *n == 0), "the target was scaled to zero during the reset: {seen:?}");
    wait_for("replayed", T, consumed, |n| *n >= consumed_before_reset + 50).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut replayed: Vec<String> = emulator.processed_values()[consumed_before_reset..].to_vec();
    replayed.sort();
    let mut expected: Vec<String> = (0..50).map(|i| format!("after-{i}")).collect();
    expected.sort();
    assert_eq!(replayed, expected, "exactly the records produced after the timestamp, once each");
    assert_eq!(
        f.api::<Deployment>().get("consumer").await.unwrap().spec.unwrap().replicas,
        Some(1),
        "replicas restored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_reset_with_members_the_operator_does_not_control_is_refused() {
    let f = Fixture::start("refuse", &["--group-poll-seconds", "1"]).await;
    f.connection("main").await;
    let topic = unique("refuse");
    create_topic(&f.stack.admin(), &topic, 1, 1, &[]).await.unwrap();
    produce(&f.stack.producer(), &topic, "r", 10).await.unwrap();
    let group = unique("refuse-group");
    commit_offsets(&f.stack, &group, &[(&topic, 0, 7)]).unwrap();
    let member = StuckMember::join(&f.stack, &group, &topic).unwrap();
    wait_for("member joined", T, || async { group_members(&f.stack, &group) }, |n| *n > 0).await.unwrap();
    f.apply::<ConsumerGroup>(manifest::consumer_group(
        "refuse",
        json!({"connectionRef": {"name": "main"}, "groupId": group, "topics": [topic],
        "offsetReset": {"id": "r1", "to": "Earliest"}}),
    ))
    .await;
    let g = wait_status(&f.api::<ConsumerGroup>(), "refuse", "refused", T, |g| {
        g.status.as_ref().and_then(|s| s.offset_reset.as_ref()).is_some_and(|r| r.phase == "Refused")
    })
    .await
    .unwrap();
    assert!(g.status.unwrap().offset_reset.unwrap().message.unwrap().contains("member"));
    drop(member);
    let rows = describe_with_kafka_cli(&f.stack, &group);
    assert_eq!(rows.get(&(topic.clone(), 0)).and_then(|(_, c)| *c), Some(7), "offsets unchanged");
}
