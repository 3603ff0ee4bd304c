//! The lag tick of the Kafka layer against the real stack, without an operator: a [`ClusterClient`] on the SCRAM
//! listener (the wire client's SASL path) watches many groups; one snapshot holds every group's committed offsets
//! and every partition's end and log start as Kafka's own `ConsumerGroupCommand` and the watermarks show them —
//! including a group that never committed, records removed by DeleteRecords and a transaction's commit marker —
//! and each tick sends one request of each kind per broker, however many groups.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tributary::kafka::lag_tick::LagSnapshot;
use tributary::kafka::{ClientSettings, ClusterClient};
use tributary::runtime::metrics::Metrics;
use tributary_e2e::kafka::{commit_offsets, create_topic, group_offsets_cli, produce};
use tributary_e2e::{Stack, unique, wait_for};

const T: Duration = Duration::from_secs(60);
const GROUPS: usize = 12;

fn scram_client(stack: &Stack, metrics: Arc<Metrics>) -> ClusterClient {
    let servers: Vec<String> = stack.scram_bootstrap.split(',').map(str::to_string).collect();
    let mut settings = ClientSettings::new(&servers);
    settings.set("security.protocol", "SASL_PLAINTEXT");
    settings.set("sasl.mechanism", "SCRAM-SHA-512");
    settings.set("sasl.username", &stack.scram_user);
    settings.set("sasl.password", &stack.scram_password);
    ClusterClient::new("e2e/lag-tick".into(), &settings, metrics).expect("a cluster client")
}

/// `tributary_kafka_requests_total` of each `lag_*` operation (successes and errors).
fn lag_requests(metrics: &Metrics) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in metrics.encode().lines().filter(|l| l.starts_with("tributary_kafka_requests_total{")) {
        let Some(op) = line.split("operation=\"").nth(1).and_then(|s| s.split('"').next()) else { continue };
        if !op.starts_with("lag_") {
            continue;
        }
        let n: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        *out.entry(op.to_string()).or_default() += n;
    }
    out
}

async fn snapshot_where(client: &ClusterClient, what: &str, ok: impl Fn(&LagSnapshot) -> bool) -> Arc<LagSnapshot> {
    wait_for(what, T, || async { Ok(client.lag_snapshot()) }, |s| ok(s)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_snapshot_matches_kafka_for_every_group_with_one_request_per_broker_and_kind() {
    let stack = Stack::from_env();
    let admin = stack.admin();
    let topic = unique("tick-topic");
    create_topic(&admin, &topic, 3, 1, &[]).await.unwrap();
    produce(&stack.producer(), &topic, "v", 300).await.unwrap();
    // Partition 2 loses its first records (DeleteRecords): a group without a commit there counts from 5.
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 2, Offset::Offset(5)).unwrap();
    admin.delete_records(&tpl, &rdkafka::admin::AdminOptions::new()).await.unwrap();
    // Group 0 never commits; group i commits i on partition 0 and 2i on partition 1.
    let groups: Vec<String> = (0..GROUPS).map(|i| unique(&format!("tick-g{i}"))).collect();
    for (i, g) in groups.iter().enumerate().skip(1) {
        commit_offsets(&stack, g, &[(&topic, 0, i as i64), (&topic, 1, 2 * i as i64)]).unwrap();
    }
    // A transaction of 10 records and its commit marker; its group committed past the marker.
    let tx_topic = unique("tick-tx");
    create_topic(&admin, &tx_topic, 1, 1, &[]).await.unwrap();
    let tx: BaseProducer = stack.kafka_config().set("transactional.id", unique("tick-tx")).create().unwrap();
    tx.init_transactions(Duration::from_secs(30)).unwrap();
    tx.begin_transaction().unwrap();
    for i in 0..10 {
        let v = format!("t{i}");
        tx.send(BaseRecord::<(), str>::to(&tx_topic).payload(&v)).map_err(|(e, _)| e).unwrap();
    }
    tx.commit_transaction(Duration::from_secs(30)).unwrap();
    let tx_group = unique("tick-txg");
    commit_offsets(&stack, &tx_group, &[(&tx_topic, 0, 11)]).unwrap();

    let metrics = Arc::new(Metrics::default());
    let client = scram_client(&stack, metrics.clone());
    for g in &groups {
        client.watch_lag(&format!("e2e/{g}"), g, vec![topic.clone()]);
    }
    // No topics named: the topics it committed on.
    client.watch_lag("e2e/tx", &tx_group, vec![]);
    let all_there = |s: &LagSnapshot| {
        s.groups.len() == GROUPS + 1
            && s.topics.get(tx_topic.as_str()).is_some_and(|t| t.is_some())
            && s.topics
                .get(topic.as_str())
                .is_some_and(|t| t.as_ref().is_some_and(|ps| ps.iter().all(|(_, p)| p.end.is_some())))
    };
    let snap = snapshot_where(&client, "a tick with every group and partition", all_there).await;
    assert!(snap.error.is_none(), "{:?}", snap.error);

    // Every partition as the watermarks and Kafka's ConsumerGroupCommand show it.
    let consumer: BaseConsumer = stack.kafka_config().create().unwrap();
    let partitions = snap.topics[topic.as_str()].as_ref().unwrap();
    assert_eq!(partitions.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![0, 1, 2], "in order");
    let partitions: std::collections::BTreeMap<i32, _> = partitions.iter().copied().collect();
    for p in 0..3 {
        let (low, high) = consumer.fetch_watermarks(&topic, p, Duration::from_secs(5)).unwrap();
        assert_eq!(partitions[&p].end, Some(high), "end of partition {p}");
        assert_eq!(partitions[&p].log_start, low, "log start of partition {p}");
    }
    assert_eq!(partitions[&2].log_start, 5);
    for g in [&groups[0], &groups[1], &groups[GROUPS - 1]] {
        let rows = group_offsets_cli(&stack, g).unwrap();
        let committed = snap.groups[g].committed.as_ref().unwrap();
        for p in 0..3 {
            let tp = tributary::decisions::lag::TopicPartition::new(topic.as_str(), p);
            let cli = rows.get(&(topic.clone(), p)).and_then(|(_, c)| *c);
            assert_eq!(committed.get(&tp).copied(), cli, "group {g}, partition {p}");
            if let Some((end, _)) = rows.get(&(topic.clone(), p)) {
                assert_eq!(partitions[&p].end, Some(*end), "group {g}, partition {p}: end");
            }
        }
        assert!(matches!(snap.groups[g].state, Ok(None) | Ok(Some(_))), "{:?}", snap.groups[g].state);
    }
    assert!(snap.groups[&groups[0]].committed.as_ref().unwrap().is_empty(), "group 0 never committed");
    let tx_parts = snap.topics[tx_topic.as_str()].as_ref().unwrap();
    assert_eq!(tx_parts[0].0, 0);
    assert_eq!(tx_parts[0].1.end, Some(11), "10 records and the commit marker");
    let tx_committed = snap.groups[&tx_group].committed.as_ref().unwrap();
    assert_eq!(tx_committed.values().copied().collect::<Vec<_>>(), vec![11], "lag 0: the marker is not lag");

    // Requests per tick: one of each kind per broker at most, for 13 groups and 4 partitions.
    let brokers = stack.bootstrap.split(',').count().max(1) as f64;
    let (t1, r1) = (client.lag_snapshot().tick, lag_requests(&metrics));
    let later = snapshot_where(&client, "five more ticks", |s| s.tick >= t1 + 5).await;
    let r2 = lag_requests(&metrics);
    let ticks = (later.tick - t1) as f64;
    for op in ["lag_offset_fetch", "lag_describe_groups", "lag_list_offsets_end"] {
        let sent = r2.get(op).copied().unwrap_or(0.0) - r1.get(op).copied().unwrap_or(0.0);
        assert!(sent >= ticks - 1.0, "{op}: {sent} requests over {ticks} ticks: {r2:?}");
        assert!(
            sent <= (ticks + 1.0) * brokers,
            "{op}: {sent} requests over {ticks} ticks ({brokers} brokers): {r2:?}"
        );
    }
    // Coordinators are cached: FindCoordinator went out once for all the groups, not per tick.
    assert!(r2.get("lag_find_coordinator").copied().unwrap_or(0.0) <= 2.0, "{r2:?}");

    // A group no longer watched leaves the next snapshot.
    client.unwatch_lag(&format!("e2e/{}", groups[0]));
    let gone = snapshot_where(&client, "group 0 gone", |s| s.tick > later.tick && !s.groups.contains_key(&groups[0]));
    assert_eq!(gone.await.groups.len(), GROUPS);
}
