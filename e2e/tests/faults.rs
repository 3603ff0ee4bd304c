//! The fault scenarios of `make faults` (ignored by `make test`; run with `--ignored`), each printing its figure on a
//! line starting with `FIGURE`. The stack must be up with `--fault-proxy` (`make faults` starts it). Kafka is
//! checked with Kafka's own CLI classes, never through the operator.
//!
//! F0. The KRaft controller (kafka-1) stopped with SIGTERM and then killed with SIGKILL, each time started again
//!     with the same command line: the stack's SCRAM user still logs in to every broker, with both mechanisms.
//! F1. Toxiproxy in front of the brokers: latency and a black hole act on a client that bootstraps through the
//!     proxies, and are gone when lifted (the harness itself, checked with Kafka's CLI).
//! F2. 500 Topics created by an operator whose apiserver and Kafka traffic go through the proxies, while every
//!     broker answers 500 ms late, a broker is killed (SIGKILL) and restarted, and the apiserver is paused (SIGSTOP)
//!     for 20 s: every Topic converges, each exists once in Kafka with its partitions and config and the topic id the
//!     resource reports; the figure is the time to converge after the faults clear.
//! F3. Autoscaling while the lag source is partly unreachable (the proxy of the broker leading a third of the
//!     partitions cut off for 30 s): the Deployment keeps its replicas (no scale-down on missing data), the
//!     ConsumerGroup's ScalingActive condition says LagUnknown, and scaling is Active again within a tick or two of
//!     the proxy coming back.
//! F4. A redrive of 200,000 dead letters while every connection to kafka-2 is reset every 3 s and the
//!     operator is killed (SIGKILL) twice mid-move: read_committed by an independent client, 0 lost, 0 duplicated,
//!     and the move resumed to Completed.
//! F5. Two replicas with a Lease. The leader cut off from the apiserver for 60 s (it keeps Kafka), a standby takes
//!     over and a new spec lands; then the new leader frozen (SIGSTOP) past three terms while the other takes over
//!     and a newer spec lands, and resumed. Kafka, watched every 250 ms by the test's own client, never shows a value
//!     go back to an older spec; both stale leaders step down.
//! F6. A soak: the samples (config/samples) with steady traffic and bursts, consumers scaled by Tributary, for
//!     `SOAK_MINUTES` (30) under random faults from F0–F5's list plus etcd and apiserver kills and operator kills
//!     (seeded, `SOAK_SEED`): every acknowledged record processed, every resource Ready and Kafka as the samples say,
//!     nothing created twice, no Kafka write and few status writes at rest, and the operator's memory flat.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use serde_json::json;
use tributary::api::{ConsumerGroup, DlqPolicy, KafkaConnection, Topic};
use tributary_e2e::faults::*;
use tributary_e2e::scale::*;
use tributary_e2e::*;

/// A client properties file for the stack's SCRAM user with `mechanism` (and `password`), for Kafka's CLI classes.
fn scram_properties(stack: &Stack, mechanism: &str, password: &str) -> std::path::PathBuf {
    let path = stack.logs.join(format!("faults-{mechanism}-{}.properties", unique("p")));
    let body = format!(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism={mechanism}\n\
         sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
         username=\"{}\" password=\"{password}\";\n",
        stack.scram_user
    );
    std::fs::write(&path, body).expect("writing the client properties");
    path
}

/// The broker ids a SCRAM client logged in to, with Kafka's BrokerApiVersionsCommand: it bootstraps from every SCRAM
/// listener and asks each broker of the metadata for its API versions over its own authenticated connection.
fn scram_logins(stack: &Stack, mechanism: &str, password: &str) -> anyhow::Result<Vec<u32>> {
    let props = scram_properties(stack, mechanism, password);
    let out = stack.kafka_cli(
        "org.apache.kafka.tools.BrokerApiVersionsCommand",
        &["--bootstrap-server", &stack.scram_bootstrap, "--command-config", props.to_str().unwrap()],
    );
    let _ = std::fs::remove_file(&props);
    let out = out?;
    // Each broker that answered: `127.0.0.1:PORT (id: N rack: … ) -> (` followed by its API versions.
    let mut ids: Vec<u32> = out
        .lines()
        .filter(|l| l.trim_end().ends_with("-> ("))
        .filter_map(|l| l.split("(id: ").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

fn broker_count() -> usize {
    std::env::var("KAFKA_BROKER_PORTS").map(|p| p.split_whitespace().count()).unwrap_or(0)
}

/// Waits until both mechanisms log in to every broker; returns how long that took.
fn wait_scram_everywhere(stack: &Stack, timeout: Duration) -> anyhow::Result<Duration> {
    let all: Vec<u32> = (1..=broker_count() as u32).collect();
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < timeout {
        let seen: Vec<_> =
            ["SCRAM-SHA-256", "SCRAM-SHA-512"].iter().map(|m| scram_logins(stack, m, &stack.scram_password)).collect();
        match (&seen[0], &seen[1]) {
            (Ok(a), Ok(b)) if *a == all && *b == all => return Ok(started.elapsed()),
            _ => last = format!("{seen:?}"),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    anyhow::bail!("SCRAM logins to brokers {all:?} not all working after {timeout:?}: {last}")
}

#[test]
#[ignore = "fault scenario: make faults"]
fn f0_kafka_controller_restart_keeps_scram_logins() {
    let stack = Stack::from_env();
    assert!(broker_count() >= 3, "F0 needs three brokers (make faults starts them)");
    // The oracle tells a good password from a bad one before it is trusted.
    wait_scram_everywhere(&stack, Duration::from_secs(60)).expect("SCRAM logins before the fault");
    let wrong = scram_logins(&stack, "SCRAM-SHA-512", "not-the-password");
    assert!(wrong.as_ref().map_or(true, |ids| ids.is_empty()), "a wrong password logged in: {wrong:?}");

    let controller = KafkaNode::of(&stack, 1).unwrap();
    let _guard = RestartOnDrop(controller.process.clone());
    for how in ["SIGTERM", "SIGKILL"] {
        let down = Instant::now();
        match how {
            "SIGTERM" => controller.stop(Duration::from_secs(60)).unwrap(),
            _ => controller.process.kill().unwrap(),
        }
        controller.wait_closed(Duration::from_secs(60)).unwrap();
        let stopped = down.elapsed();
        controller.start().unwrap();
        controller.wait_listening(Duration::from_secs(120)).unwrap();
        let listening = down.elapsed();
        let back = wait_scram_everywhere(&stack, Duration::from_secs(120)).expect("SCRAM logins after the restart");
        println!(
            "FIGURE F0 controller {how}+restart: stopped in {:.1}s, listening {:.1}s after the signal, SCRAM-SHA-256/512 \
             logins to all {} brokers {:.1}s after that",
            stopped.as_secs_f64(),
            listening.as_secs_f64(),
            broker_count(),
            back.as_secs_f64()
        );
    }
}

/// `TopicCommand --list` through the proxies (a client that bootstraps from `KAFKA_PROXIED_BOOTSTRAP` and is
/// redirected to the advertised proxy ports); the time it took, or its error.
fn list_through_proxies(stack: &Stack) -> (Duration, anyhow::Result<String>) {
    let bootstrap = std::env::var("KAFKA_PROXIED_BOOTSTRAP").expect("KAFKA_PROXIED_BOOTSTRAP (stack --fault-proxy)");
    let started = Instant::now();
    let out = stack.kafka_cli("org.apache.kafka.tools.TopicCommand", &["--bootstrap-server", &bootstrap, "--list"]);
    (started.elapsed(), out)
}

#[test]
#[ignore = "fault scenario: make faults"]
fn f1_toxiproxy_faults_act_on_clients_behind_the_proxies_and_lift() {
    let stack = Stack::from_env();
    let proxy = Toxiproxy::from_env().unwrap();
    proxy.reset().unwrap();
    let names = proxy.proxies().unwrap();
    assert!(names.contains(&"apiserver".to_string()), "proxies: {names:?}");
    for i in 1..=broker_count() {
        assert!(names.contains(&format!("kafka-{i}")), "no proxy for kafka-{i}: {names:?}");
    }
    let (clean, out) = list_through_proxies(&stack);
    assert!(out.unwrap().contains("__consumer_offsets"), "listing through the proxies");

    // 500 ms each way on every broker: a listing (several round trips) takes at least a second longer.
    let slow: Vec<_> = (1..=broker_count())
        .flat_map(|i| {
            let p = format!("kafka-{i}");
            let l = Toxic::Latency { latency: Duration::from_millis(500), jitter: Duration::ZERO };
            [proxy.add(&p, Direction::Upstream, l).unwrap(), proxy.add(&p, Direction::Downstream, l).unwrap()]
        })
        .collect();
    let (slowed, out) = list_through_proxies(&stack);
    out.expect("listing with 500 ms latency");
    assert!(slowed >= clean + Duration::from_secs(1), "latency did not act: {clean:?} clean, {slowed:?} slowed");
    drop(slow);

    // Every broker black-holed: the listing fails (the CLI gives up after its timeout).
    let holes: Vec<_> = (1..=broker_count())
        .map(|i| {
            proxy.add(&format!("kafka-{i}"), Direction::Upstream, Toxic::Timeout { after: Duration::ZERO }).unwrap()
        })
        .collect();
    let props = stack.logs.join(format!("faults-{}.properties", unique("short")));
    std::fs::write(&props, "default.api.timeout.ms=5000\nrequest.timeout.ms=3000\n").unwrap();
    let bootstrap = std::env::var("KAFKA_PROXIED_BOOTSTRAP").unwrap();
    let started = Instant::now();
    let blocked = stack.kafka_cli(
        "org.apache.kafka.tools.TopicCommand",
        &["--bootstrap-server", &bootstrap, "--list", "--command-config", props.to_str().unwrap()],
    );
    let blocked_for = started.elapsed();
    assert!(blocked.is_err(), "a listing through black holes succeeded: {blocked:?}");
    for h in holes {
        h.lift().unwrap();
    }
    let (after, out) = list_through_proxies(&stack);
    out.expect("listing after the black holes were lifted");
    for i in 1..=broker_count() {
        assert!(proxy.toxics(&format!("kafka-{i}")).unwrap().is_empty(), "kafka-{i} keeps a toxic");
    }
    println!(
        "FIGURE F1 harness: TopicCommand --list through the proxies {:.1}s clean, {:.1}s with 500 ms latency each way, \
         failed after {:.1}s behind black holes, {:.1}s once lifted",
        clean.as_secs_f64(),
        slowed.as_secs_f64(),
        blocked_for.as_secs_f64(),
        after.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault scenario: make faults"]
async fn f2_topics_converge_through_kafka_latency_a_broker_kill_and_an_apiserver_pause() {
    const N: usize = 500;
    let (stack, client, ns) = prepare("faults-topics").await;
    let proxy = Toxiproxy::from_env().unwrap();
    proxy.reset().unwrap();
    let kubeconfig = through_apiserver_proxy(&Operator::kubeconfig(&stack)).unwrap();
    let filter = std::env::var("TRIBUTARY_TEST_LOG").unwrap_or_else(|_| "info".into());
    let operator = Operator::spawn(
        &stack,
        "faults-topics",
        &operator_binary(),
        &kubeconfig,
        &["--namespace", ns.name.as_str()],
        &filter,
    );
    operator.wait_ready().await;
    let prefix = unique("ftopic");
    let _leftovers = Leftovers { stack: stack.clone(), namespace: ns.name.clone(), kafka_prefix: prefix.clone() };
    let bootstrap = proxied_bootstrap().unwrap();
    let _: KafkaConnection = apply_in(&client, &ns.name, manifest::kafka_connection("main", &bootstrap)).await;
    let conns: Api<KafkaConnection> = Api::namespaced(client.clone(), &ns.name);
    wait_condition(&conns, "main", "Ready", "True", None, Duration::from_secs(60)).await.unwrap();

    // Every broker answers 500 ms late for the whole batch, until the faults clear.
    let late = Toxic::Latency { latency: Duration::from_millis(500), jitter: Duration::ZERO };
    let latency: Vec<_> =
        (1..=broker_count()).map(|i| proxy.add(&format!("kafka-{i}"), Direction::Downstream, late).unwrap()).collect();
    let names: Vec<String> = (0..N).map(|i| format!("{prefix}-{i:04}")).collect();
    let config = [("retention.ms", "3600000"), ("cleanup.policy", "compact")];
    let spec = json!({"connectionRef": {"name": "main"}, "partitions": 3,
        "config": {"retention.ms": "3600000", "cleanup.policy": "compact"}});
    let topics: Api<Topic> = Api::namespaced(client.clone(), &ns.name);
    let tracker = ReadyTracker::start(topics.clone());
    let started = Instant::now();
    let creating = tokio::spawn({
        let (client, ns, m) =
            (client.clone(), ns.name.clone(), names.iter().map(|n| manifest::topic(n, spec.clone())).collect());
        async move { create_all::<Topic>(&client, &ns, m, 32).await }
    });
    tracker.wait_ready(N / 5, Duration::from_secs(300)).await.unwrap();
    let at_kill = tracker.counts();

    // A broker that leads a third of the partitions: SIGKILL, back after 5 s.
    let broker = KafkaNode::of(&stack, 2).unwrap();
    let _restart_broker = RestartOnDrop(broker.process.clone());
    broker.process.kill().unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    broker.start().unwrap();
    // The apiserver hung for 20 s (its connections stay open, nothing answers).
    let apiserver = StackProcess::of("kube-apiserver", "kube-apiserver").unwrap();
    let paused = apiserver.pause().unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    paused.resume().unwrap();
    broker.wait_listening(Duration::from_secs(120)).unwrap();
    for l in latency {
        l.lift().unwrap();
    }
    let cleared = Instant::now();
    let at_clear = tracker.counts();
    creating.await.unwrap().unwrap();
    tracker.wait_ready(N, Duration::from_secs(600)).await.unwrap();
    let converged = cleared.elapsed();

    let described = check_in_kafka(&stack, &prefix, &names, 3, &config);
    for (name, seen) in tracker.topics() {
        assert_eq!(seen.partitions, Some(3), "status.partitions of {name}");
        assert_eq!(seen.topic_id.as_deref(), Some(described[&name].id.as_str()), "status.topicId of {name}");
    }
    let created = event_counts(&client, &ns.name, "Created").await;
    let twice: Vec<_> = created.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "\"Created\" more than once: {twice:?}");
    println!(
        "FIGURE F2 {N} Topics, 500 ms Kafka latency + kafka-2 SIGKILL/restart + apiserver SIGSTOP 20 s: all Ready \
         {:.1}s after the faults cleared ({:.1}s in all; {} Ready at the kill, {} when the faults cleared); in Kafka \
         {} topics, each once, 3 partitions and its config, ids = status.topicId; {} Created Events, none twice",
        converged.as_secs_f64(),
        started.elapsed().as_secs_f64(),
        at_kill.ready,
        at_clear.ready,
        described.len(),
        created.values().sum::<i32>()
    );
    delete_all_topics(&client, &ns.name, Duration::from_secs(240)).await.expect("deleting the Topic resources");
    purge_kafka_topics(&stack, &prefix, &[], Duration::from_secs(120)).await.expect("deleting the Kafka topics");
    drop(operator);
}

/// `(status, reason)` of a condition of the ConsumerGroup `name`, read from the apiserver.
async fn group_condition(api: &Api<ConsumerGroup>, name: &str, condition: &str) -> Option<(String, String)> {
    let g = api.get(name).await.ok()?;
    let c = g.status?.conditions.into_iter().find(|c| c.type_ == condition)?;
    Some((c.status, c.reason))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault scenario: make faults"]
async fn f3_no_scale_down_while_the_lag_source_is_unreachable() {
    const PARTITIONS: i32 = 6;
    const PER_PARTITION: usize = 100;
    let (stack, client, ns) = prepare("faults-scale").await;
    let proxy = Toxiproxy::from_env().unwrap();
    proxy.reset().unwrap();
    let filter = std::env::var("TRIBUTARY_TEST_LOG").unwrap_or_else(|_| "info".into());
    let kubeconfig = Operator::kubeconfig(&stack);
    let args = ["--namespace", ns.name.as_str(), "--lag-tick-millis", "1000"];
    let operator = Operator::spawn(&stack, "faults-scale", &operator_binary(), &kubeconfig, &args, &filter);
    operator.wait_ready().await;
    let _: KafkaConnection =
        apply_in(&client, &ns.name, manifest::kafka_connection("main", &proxied_bootstrap().unwrap())).await;
    let topic = unique("fscale");
    kafka::create_topic(&stack.admin(), &topic, PARTITIONS, 1, &[]).await.unwrap();
    // No consumer reads: the lag is what was produced, the same on every partition, and stays.
    let producer = stack.producer();
    for p in 0..PARTITIONS {
        for i in 0..PER_PARTITION {
            let key = format!("k{i}");
            let record = rdkafka::producer::FutureRecord::to(&topic).partition(p).key(&key).payload("x");
            producer.send(record, Duration::from_secs(30)).await.map_err(|(e, _)| e).unwrap();
        }
    }
    let total = PARTITIONS as usize * PER_PARTITION;
    let lag_per_replica = 100;
    let want = (total / lag_per_replica) as i32;
    let _: Deployment = apply_in(&client, &ns.name, manifest::emulated_deployment("consumer", want)).await;
    let group = unique("fscale-group");
    let _: ConsumerGroup = apply_in(
        &client,
        &ns.name,
        manifest::consumer_group(
            "scaled",
            json!({
        "connectionRef": {"name": "main"}, "groupId": group, "topics": [topic],
        "autoscaling": {"targetRef": {"name": "consumer"}, "minReplicas": 1, "maxReplicas": 12,
            "lagPerReplica": lag_per_replica, "pollSeconds": 1,
            "scaleDown": {"stabilizationSeconds": 0}}}),
        ),
    )
    .await;
    let groups: Api<ConsumerGroup> = Api::namespaced(client.clone(), &ns.name);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    wait_condition(&groups, "scaled", "ScalingActive", "True", Some("Active"), Duration::from_secs(90)).await.unwrap();
    let replicas = || async { deployments.get("consumer").await.ok().and_then(|d| d.spec?.replicas) };
    assert_eq!(replicas().await, Some(want), "{total} records of lag at {lag_per_replica} per replica");

    // The broker leading the partitions of node 2 cut off: their end offsets are unknown for 30 s.
    let cut = proxy.cut("kafka-2").unwrap();
    let cut_at = Instant::now();
    let mut lowest = want;
    let mut said = None;
    while cut_at.elapsed() < Duration::from_secs(30) {
        if let Some(r) = replicas().await {
            lowest = lowest.min(r);
        }
        if said.is_none() {
            said = group_condition(&groups, "scaled", "ScalingActive")
                .await
                .filter(|(s, r)| s == "False" && r == "LagUnknown")
                .map(|_| cut_at.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    cut.restore().unwrap();
    let restored = Instant::now();
    wait_condition(&groups, "scaled", "ScalingActive", "True", Some("Active"), Duration::from_secs(60)).await.unwrap();
    let recovered = restored.elapsed();
    let after = replicas().await;
    assert_eq!(lowest, want, "the Deployment was scaled down to {lowest} while the lag was unknown");
    let said = said.expect("ScalingActive never said LagUnknown while kafka-2 was cut off");
    assert_eq!(after, Some(want), "replicas after the fault cleared");
    println!(
        "FIGURE F3 autoscaling, kafka-2's proxy cut 30 s ({PARTITIONS} partitions, {total} records of lag, {want} \
         replicas): lowest replica count during the fault {lowest} (no scale-down), ScalingActive=False LagUnknown \
         {:.1}s after the cut, Active again {:.1}s after the proxy came back (lag tick 1 s)",
        said.as_secs_f64(),
        recovered.as_secs_f64()
    );
    drop(operator);
    let _ = stack.admin().delete_topics(&[topic.as_str()], &rdkafka::admin::AdminOptions::new()).await;
}

fn moved_of(p: &DlqPolicy) -> i64 {
    p.status.as_ref().and_then(|s| s.redrive.as_ref()).map_or(0, |r| r.moved)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault scenario: make faults"]
async fn f4_redrive_under_connection_resets_and_two_operator_kills_moves_every_record_once() {
    const N: usize = 200_000;
    let (stack, client, ns) = prepare("faults-redrive").await;
    let proxy = Toxiproxy::from_env().unwrap();
    proxy.reset().unwrap();
    let filter = std::env::var("TRIBUTARY_TEST_LOG").unwrap_or_else(|_| "info".into());
    let kubeconfig = Operator::kubeconfig(&stack);
    let args = ["--namespace", ns.name.as_str()];
    let start = || Operator::spawn(&stack, "faults-redrive", &operator_binary(), &kubeconfig, &args, &filter);
    let mut operator = start();
    operator.wait_ready().await;
    let _: KafkaConnection =
        apply_in(&client, &ns.name, manifest::kafka_connection("main", &proxied_bootstrap().unwrap())).await;
    let src = unique("fredrive");
    kafka::create_topic(&stack.admin(), &src, 3, 1, &[]).await.unwrap();
    let dlt = format!("{src}-dlt");
    let policies: Api<DlqPolicy> = Api::namespaced(client.clone(), &ns.name);
    let _: DlqPolicy = apply_in(
        &client,
        &ns.name,
        manifest::dlq_policy(
            "orders",
            json!({
        "connectionRef": {"name": "main"}, "sourceTopic": src, "deadLetter": {"partitions": 3}}),
        ),
    )
    .await;
    wait_condition(&policies, "orders", "Ready", "True", None, Duration::from_secs(60)).await.unwrap();
    let producer = stack.bulk_producer();
    let mut acks = kafka::Acks::default();
    let keys: Vec<String> = (0..97).map(|k| k.to_string()).collect();
    for i in 0..N {
        let value = format!("u-{i}");
        let headers = rdkafka::message::OwnedHeaders::new()
            .insert(rdkafka::message::Header { key: "kafka_dlt-original-topic", value: Some(src.as_bytes()) });
        let record = rdkafka::producer::FutureRecord::to(&dlt).key(&keys[i % 97]).payload(&value).headers(headers);
        acks.send(&producer, record).await.expect("a dead letter sent");
    }
    acks.wait().await.expect("every dead letter delivered");

    // Every connection to kafka-2 (a third of the partitions' leader, maybe the transaction coordinator) closed
    // every 3 s, with records flowing in between.
    let flapping = proxy.flap("kafka-2", Duration::from_secs(3));
    let started = Instant::now();
    // At 4,000 records/s the move spans about 50 s: the resets and both kills land in the middle of it (unthrottled,
    // a debug build moves the 200,000 in about 3 s, before any fault).
    let patch = json!({"spec": {"redrive": {"id": "big", "maxPerSecond": 4000}}});
    policies.patch("orders", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    let mut kills = vec![];
    for share in [4, 2] {
        let at = N as i64 / share;
        wait_status(&policies, "orders", &format!("{at} moved"), Duration::from_secs(600), |p| moved_of(p) >= at)
            .await
            .unwrap();
        operator.stop_with(9, Duration::from_secs(10)).unwrap();
        kills.push(moved_of(&policies.get("orders").await.unwrap()));
        operator = start();
        operator.wait_ready().await;
    }
    let done =
        |p: &DlqPolicy| p.status.as_ref().and_then(|s| s.redrive.as_ref()).is_some_and(|r| r.phase == "Completed");
    let p = wait_status(&policies, "orders", "redrive big Completed", Duration::from_secs(900), done).await.unwrap();
    let took = started.elapsed();
    let resets = flapping.stop();
    let r = p.status.unwrap().redrive.unwrap();
    assert_eq!((r.moved, r.total), (N as i64, Some(N as i64)), "{r:?}");

    let mut counts = std::collections::HashMap::<String, usize>::new();
    kafka::read_to_end(&stack, &src, Duration::from_secs(300), |m| {
        use rdkafka::Message as _;
        let v = m.payload().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
        *counts.entry(v).or_default() += 1;
    })
    .unwrap();
    let lost = (0..N).filter(|i| !counts.contains_key(&format!("u-{i}"))).count();
    let duplicated: usize = counts.values().map(|c| c.saturating_sub(1)).sum();
    let foreign = counts.keys().filter(|v| !v.starts_with("u-")).count();
    println!(
        "FIGURE F4 redrive of {N} at 4,000/s, every kafka-2 connection reset every 3 s ({resets} times), operator SIGKILLed at \
         {:?} moved: Completed in {:.1}s; read_committed: {lost} lost, {duplicated} duplicated, {foreign} foreign",
        kills,
        took.as_secs_f64()
    );
    assert_eq!((lost, duplicated, foreign), (0, 0, 0), "lost, duplicated, foreign records");
    drop(operator);
    let _ = stack.admin().delete_topics(&[src.as_str(), dlt.as_str()], &rdkafka::admin::AdminOptions::new()).await;
}

/// The operator identity a replica started here takes (no POD_NAME): `<hostname>-<pid>`.
fn identity_of(op: &Operator) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), op.pid())
}

async fn lease_holder(client: &kube::Client) -> Option<String> {
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), rbac::OPERATOR_NAMESPACE);
    leases.get_opt("tributary-leader").await.ok().flatten().and_then(|l| l.spec.and_then(|s| s.holder_identity))
}

/// Every value of `retention.ms` seen on each topic, in order, read from Kafka by the test's own admin client every
/// 250 ms (a separate client from the operator's, bootstrapped directly).
struct RetentionWatch {
    seen: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, Vec<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RetentionWatch {
    fn start(stack: &Stack, topics: &[String]) -> RetentionWatch {
        use rdkafka::admin::{AdminOptions, ResourceSpecifier};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<String, Vec<String>>::new()));
        let (admin, topics, out) = (stack.admin(), topics.to_vec(), seen.clone());
        let task = tokio::spawn(async move {
            let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(5)));
            loop {
                let specs: Vec<_> = topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
                if let Ok(results) = admin.describe_configs(specs.iter(), &opts).await {
                    let mut seen = out.lock().unwrap();
                    for (topic, r) in topics.iter().zip(results) {
                        let Ok(r) = r else { continue };
                        let Some(v) = r.get("retention.ms").and_then(|e| e.value.clone()) else { continue };
                        let values = seen.entry(topic.clone()).or_default();
                        if values.last() != Some(&v) {
                            values.push(v);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        RetentionWatch { seen, task }
    }

    /// Whether every topic's latest value is `value`.
    fn all_at(&self, topics: &[String], value: &str) -> bool {
        let seen = self.seen.lock().unwrap();
        topics.iter().all(|t| seen.get(t).and_then(|v| v.last()).is_some_and(|v| v == value))
    }

    /// Stops watching; each topic's values in the order seen.
    fn stop(self) -> std::collections::BTreeMap<String, Vec<String>> {
        self.task.abort();
        self.seen.lock().unwrap().clone()
    }
}

/// How often a topic's value went back to one it had left (`order`: the values in the order the specs set them).
fn reverts(history: &std::collections::BTreeMap<String, Vec<String>>, order: &[&str]) -> Vec<(String, Vec<String>)> {
    history
        .iter()
        .filter(|(_, values)| {
            let rank: Vec<usize> =
                values.iter().map(|v| order.iter().position(|o| o == v).unwrap_or(usize::MAX)).collect();
            rank.windows(2).any(|w| w[1] < w[0]) || rank.contains(&usize::MAX)
        })
        .map(|(t, v)| (t.clone(), v.clone()))
        .collect()
}

async fn set_retention(topics: &Api<Topic>, names: &[String], value: &str) {
    for n in names {
        let patch = json!({"spec": {"config": {"retention.ms": value}}});
        topics.patch(n, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await.unwrap();
    }
}

/// Waits (up to `timeout`) for `op` to exit by itself; how long that took.
async fn exited_within(op: &mut Operator, timeout: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if op.exited().is_some() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault scenario: make faults"]
async fn f5_a_leader_cut_off_from_the_apiserver_or_frozen_writes_nothing_a_later_spec_contradicts() {
    const N: usize = 20;
    const LEASE: u64 = 6;
    const CUT: Duration = Duration::from_secs(60);
    let (r1, r2, r3) = ("3600000", "7200000", "10800000");
    let (stack, client, ns) = prepare("faults-lease").await;
    let proxy = Toxiproxy::from_env().unwrap();
    proxy.reset().unwrap();
    let filter = std::env::var("TRIBUTARY_TEST_LOG").unwrap_or_else(|_| "info".into());
    let direct = Operator::kubeconfig(&stack);
    let proxied = through_apiserver_proxy(&direct).unwrap();
    // Two replicas with a 6 s Lease, each looking at every Topic again every 2 s (a stale view acts soon).
    let lease = LEASE.to_string();
    let args = [
        "--namespace",
        ns.name.as_str(),
        "--leader-election",
        "--lease-namespace",
        rbac::OPERATOR_NAMESPACE,
        "--lease-duration-seconds",
        lease.as_str(),
        "--resync-seconds",
        "2",
    ];
    let bin = operator_binary();
    let holder_is = |id: String| {
        let client = client.clone();
        async move {
            wait_for(
                "the Lease holder",
                Duration::from_secs(90),
                || async { Ok(lease_holder(&client).await) },
                |h| h.as_deref() == Some(id.as_str()),
            )
            .await
        }
    };
    // Replica A reaches the apiserver through its proxy; B directly. Both reach Kafka directly.
    let mut a = Operator::spawn(&stack, "faults-lease-a", &bin, &proxied, &args, &filter);
    holder_is(identity_of(&a)).await.unwrap();
    let mut b = Operator::spawn(&stack, "faults-lease-b", &bin, &direct, &args, &filter);
    b.wait_ready().await;

    let _: KafkaConnection = apply_in(&client, &ns.name, manifest::kafka_connection("main", &stack.bootstrap)).await;
    let prefix = unique("flease");
    let _leftovers = Leftovers { stack: stack.clone(), namespace: ns.name.clone(), kafka_prefix: prefix.clone() };
    let names: Vec<String> = (0..N).map(|i| format!("{prefix}-{i:02}")).collect();
    let topics: Api<Topic> = Api::namespaced(client.clone(), &ns.name);
    for n in &names {
        let spec = json!({"connectionRef": {"name": "main"}, "partitions": 1, "config": {"retention.ms": r1}});
        let _: Topic = apply_in(&client, &ns.name, manifest::topic(n, spec)).await;
    }
    for n in &names {
        wait_condition(&topics, n, "Ready", "True", None, Duration::from_secs(120)).await.unwrap();
    }
    let watch = RetentionWatch::start(&stack, &names);
    let all_at = |value: &'static str| {
        let watch = &watch;
        let names = &names;
        async move {
            let done = || async { Ok(watch.all_at(names, value)) };
            wait_for(&format!("retention.ms={value} on every topic"), Duration::from_secs(90), done, |d| *d).await
        }
    };
    all_at(r1).await.unwrap();

    // 1. A, the leader, cut off from the apiserver for 60 s; it keeps Kafka. B takes the Lease; the spec changes
    //    and B applies it. A's cache still holds the old spec, and its resyncs come every 2 s.
    let cut = proxy.cut("apiserver").unwrap();
    let cut_at = Instant::now();
    holder_is(identity_of(&b)).await.unwrap();
    let takeover_cut = cut_at.elapsed();
    set_retention(&topics, &names, r2).await;
    all_at(r2).await.unwrap();
    let applied_cut = cut_at.elapsed();
    tokio::time::sleep(CUT.saturating_sub(cut_at.elapsed())).await;
    cut.restore().unwrap();
    let a_exit = exited_within(&mut a, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    // 2. B, now the leader, frozen (SIGSTOP) past three Lease terms while A (started again) takes over and applies
    //    a newer spec; then B runs again with its timers all due and its cache two specs old.
    let a = Operator::spawn(&stack, "faults-lease-a2", &bin, &proxied, &args, &filter);
    a.wait_ready().await;
    signal(b.pid(), "STOP").unwrap();
    let frozen_at = Instant::now();
    holder_is(identity_of(&a)).await.unwrap();
    let takeover_frozen = frozen_at.elapsed();
    set_retention(&topics, &names, r3).await;
    all_at(r3).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3 * LEASE).saturating_sub(frozen_at.elapsed())).await;
    let frozen_for = frozen_at.elapsed();
    signal(b.pid(), "CONT").unwrap();
    let b_exit = exited_within(&mut b, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let history = watch.stop();

    // Kafka's own CLI has the latest spec on every topic; the 250 ms watch never saw a value go back.
    let described = describe_topics_cli(&stack, &format!("{prefix}-.*")).unwrap();
    let wrong: Vec<_> = names
        .iter()
        .filter(|n| described.get(*n).and_then(|t| t.configs.get("retention.ms")).map(String::as_str) != Some(r3))
        .collect();
    let back = reverts(&history, &[r1, r2, r3]);
    let changes: usize = history.values().map(|v| v.len().saturating_sub(1)).sum();
    println!(
        "FIGURE F5 {N} Topics, two replicas (Lease {LEASE} s, resync 2 s): leader cut off from the apiserver {}s — B \
         leader after {:.1}s, new spec in Kafka {:.1}s after the cut, A exited {} after the cut ended; then the leader \
         frozen {:.1}s — A leader after {:.1}s, B exited {} after SIGCONT; retention.ms changes seen in Kafka {changes} \
         (want {}), values that went back {}, topics not at the latest spec (TopicCommand) {}",
        CUT.as_secs(),
        takeover_cut.as_secs_f64(),
        applied_cut.as_secs_f64(),
        a_exit.map_or("never".into(), |d| format!("{:.1}s", d.as_secs_f64())),
        frozen_for.as_secs_f64(),
        takeover_frozen.as_secs_f64(),
        b_exit.map_or("never".into(), |d| format!("{:.1}s", d.as_secs_f64())),
        2 * N,
        back.len(),
        wrong.len()
    );
    assert!(back.is_empty(), "a replica wrote a spec a later one contradicts: {back:?}");
    assert!(wrong.is_empty(), "not at retention.ms={r3} in Kafka: {wrong:?}");
    assert!(a_exit.is_some(), "the replica cut off from the apiserver did not step down once it could see the Lease");
    assert!(b_exit.is_some(), "the frozen replica did not step down after SIGCONT");
    delete_all_topics(&client, &ns.name, Duration::from_secs(120)).await.expect("deleting the Topic resources");
    purge_kafka_topics(&stack, &prefix, &[], Duration::from_secs(120)).await.expect("deleting the Kafka topics");
    drop((a, b));
}

/// A small deterministic generator (xorshift64*) for the soak's fault schedule: a seed repeats a run.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The samples (`config/samples`), pointed at `bootstrap`, applied in `ns`.
async fn apply_samples(client: &kube::Client, ns: &str, bootstrap: &str) {
    use tributary::api::{ConsumerGroup as Cg, DlqPolicy as Dlq};
    let dir = repo_root().join("config/samples");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let servers: Vec<&str> = bootstrap.split(',').collect();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let mut v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
            if v.is_null() {
                continue;
            }
            match v["kind"].as_str().unwrap() {
                "KafkaConnection" => {
                    v["spec"]["bootstrapServers"] = json!(servers);
                    let _: KafkaConnection = apply_in(client, ns, v).await;
                }
                "Topic" => {
                    let _: Topic = apply_in(client, ns, v).await;
                }
                "ConsumerGroup" => {
                    let _: Cg = apply_in(client, ns, v).await;
                }
                "DlqPolicy" => {
                    let _: Dlq = apply_in(client, ns, v).await;
                }
                other => panic!("a sample of kind {other}"),
            }
        }
    }
}

/// One fault of the soak, applied, held and lifted; what it was.
async fn soak_fault(
    which: u64,
    node: Option<usize>,
    dice: &mut Dice,
    (stack, proxy, client): (&Stack, &Toxiproxy, &kube::Client),
    operator: &mut Operator,
    restart_operator: &dyn Fn() -> Operator,
) -> String {
    let node = node.unwrap_or_else(|| 1 + dice.below(broker_count() as u64) as usize);
    let apiserver_back = || async {
        wait_for(
            "the apiserver",
            Duration::from_secs(120),
            || async { Ok(client.apiserver_version().await.is_ok()) },
            |ok| *ok,
        )
        .await
        .unwrap();
    };
    match which {
        0 => {
            let broker = KafkaNode::of(stack, node).unwrap();
            broker.process.kill().unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            broker.start().unwrap();
            broker.wait_listening(Duration::from_secs(180)).unwrap();
            format!("kafka-{node} SIGKILL, restarted after 5 s")
        }
        1 => {
            let paused = KafkaNode::of(stack, node).unwrap().process.pause().unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
            paused.resume().unwrap();
            format!("kafka-{node} SIGSTOP 10 s")
        }
        2 => {
            let late = Toxic::Latency { latency: Duration::from_millis(500), jitter: Duration::from_millis(100) };
            let guards: Vec<_> = (1..=broker_count())
                .map(|i| proxy.add(&format!("kafka-{i}"), Direction::Downstream, late).unwrap())
                .collect();
            tokio::time::sleep(Duration::from_secs(30)).await;
            for g in guards {
                g.lift().unwrap();
            }
            "500 ms latency on every broker 30 s".into()
        }
        3 => {
            let flapping = proxy.flap(&format!("kafka-{node}"), Duration::from_secs(3));
            tokio::time::sleep(Duration::from_secs(30)).await;
            flapping.stop();
            format!("kafka-{node} connections reset every 3 s for 30 s")
        }
        4 => {
            let paused = StackProcess::of("kube-apiserver", "kube-apiserver").unwrap().pause().unwrap();
            tokio::time::sleep(Duration::from_secs(15)).await;
            paused.resume().unwrap();
            "kube-apiserver SIGSTOP 15 s".into()
        }
        5 => {
            let cut = proxy.cut("apiserver").unwrap();
            tokio::time::sleep(Duration::from_secs(20)).await;
            cut.restore().unwrap();
            "the operator's apiserver connection cut 20 s".into()
        }
        6 => {
            let etcd = StackProcess::of("etcd", "etcd").unwrap();
            etcd.kill().unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
            etcd.start().unwrap();
            apiserver_back().await;
            "etcd SIGKILL, restarted after 3 s".into()
        }
        7 => {
            let apiserver = StackProcess::of("kube-apiserver", "kube-apiserver").unwrap();
            apiserver.kill().unwrap();
            apiserver.start().unwrap();
            apiserver_back().await;
            "kube-apiserver SIGKILL, restarted".into()
        }
        _ => {
            operator.stop_with(9, Duration::from_secs(10)).unwrap();
            *operator = restart_operator();
            operator.wait_ready().await;
            "operator SIGKILL, restarted".into()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "fault scenario: make faults"]
async fn f6_soak_the_demo_topology_under_random_faults() {
    const KINDS: u64 = 9;
    let minutes: u64 = std::env::var("SOAK_MINUTES").ok().and_then(|m| m.parse().ok()).unwrap_or(30);
    let seed: u64 = std::env::var("SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| now_ms() as u64);
    eprintln!("soak: {minutes} min, seed {seed} (SOAK_SEED={seed} repeats the schedule)");
    let mut dice = Dice(seed | 1);
    let (stack, client, ns) = prepare("faults-soak").await;
    let proxy = Toxiproxy::from_env().unwrap();
    proxy.reset().unwrap();
    // The samples' Kafka names are fixed: what an earlier run left goes first.
    purge_kafka_topics(&stack, "orders", &[], Duration::from_secs(120)).await.unwrap();
    purge_kafka_topics(&stack, "payments_v1", &[], Duration::from_secs(120)).await.unwrap();
    let filter = std::env::var("TRIBUTARY_TEST_LOG").unwrap_or_else(|_| "info".into());
    let kubeconfig = through_apiserver_proxy(&Operator::kubeconfig(&stack)).unwrap();
    let args = ["--namespace", ns.name.as_str()];
    let start_operator = || Operator::spawn(&stack, "faults-soak", &operator_binary(), &kubeconfig, &args, &filter);
    let mut operator = start_operator();
    operator.wait_ready().await;
    let _: Deployment = apply_in(&client, &ns.name, manifest::emulated_deployment("orders-billing", 0)).await;
    apply_samples(&client, &ns.name, &proxied_bootstrap().unwrap()).await;
    let topics: Api<Topic> = Api::namespaced(client.clone(), &ns.name);
    let policies: Api<DlqPolicy> = Api::namespaced(client.clone(), &ns.name);
    let groups: Api<ConsumerGroup> = Api::namespaced(client.clone(), &ns.name);
    for t in ["orders", "payments-v1"] {
        wait_condition(&topics, t, "Ready", "True", None, Duration::from_secs(120)).await.unwrap();
    }
    wait_condition(&policies, "orders", "Ready", "True", None, Duration::from_secs(120)).await.unwrap();
    // The consumers Tributary scales: real rdkafka consumers in group orders-billing, 100 records/s each.
    let emulator = tributary_e2e::emulator::ReplicaEmulator::start(
        &stack,
        client.clone(),
        &ns.name,
        "orders-billing",
        "orders-billing",
        "orders",
        100,
    );

    // Steady traffic, 20 records/s, and a burst of 3,000 every 3 minutes; each record's value is unique.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let producing = tokio::spawn({
        let (producer, stop, acked) = (stack.producer(), stop.clone(), acked.clone());
        async move {
            let started = Instant::now();
            let mut i = 0u64;
            let mut bursts = 0;
            let mut pending = futures::stream::FuturesUnordered::new();
            use futures::StreamExt as _;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let burst = started.elapsed().as_secs() / 180 + 1 > bursts;
                let n = if burst {
                    bursts += 1;
                    3000
                } else {
                    20
                };
                for _ in 0..n {
                    let value = format!("s-{i}");
                    i += 1;
                    let key = format!("k{}", i % 31);
                    let record = rdkafka::producer::FutureRecord::to("orders").key(&key).payload(&value);
                    let delivery = producer.send_result(record).expect("queued");
                    pending.push(async move { delivery.await.ok().and_then(|r| r.ok()).map(|_| value) });
                }
                let tick = tokio::time::sleep(Duration::from_secs(1));
                tokio::pin!(tick);
                loop {
                    tokio::select! {
                        () = &mut tick => break,
                        Some(done) = pending.next() => {
                            if let Some(v) = done { acked.lock().unwrap().push(v); }
                        }
                    }
                }
            }
            while let Some(done) = pending.next().await {
                if let Some(v) = done {
                    acked.lock().unwrap().push(v);
                }
            }
        }
    });

    // RSS of the operator every 10 s.
    let rss = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(f64, u32, u64)>::new()));
    let soak_started = Instant::now();
    let mut faults: Vec<(f64, String)> = vec![];
    let mut last_restart = 0.0;
    // Popped from the end: a seeded shuffle of the other kinds, after the operator kill.
    let mut first_round: Vec<u64> = (0..KINDS - 1).collect();
    for i in (1..first_round.len()).rev() {
        first_round.swap(i, dice.below(i as u64 + 1) as usize);
    }
    let first = first_round.pop().unwrap();
    first_round.push(KINDS - 1);
    first_round.push(first);
    let end = Duration::from_secs(minutes * 60);
    while soak_started.elapsed() < end {
        // 30–90 s of quiet, sampling memory, then one fault.
        let quiet = Duration::from_secs(30 + dice.below(61));
        let until = Instant::now() + quiet;
        while Instant::now() < until && soak_started.elapsed() < end {
            if let Some(s) = proc_sample(operator.pid()) {
                rss.lock().unwrap().push((soak_started.elapsed().as_secs_f64(), operator.pid(), s.rss_kb));
            }
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        if soak_started.elapsed() >= end {
            break;
        }
        // Every kind comes once first (the operator kill second, the first broker kill on kafka-1, the KRaft
        // controller), then kinds at random; the operator is restarted only in the first third, so the rest shows
        // one process's memory over time.
        let (which, node) = match first_round.pop() {
            Some(k) => (k, (k == 0).then_some(1)),
            None => {
                let mut k = dice.below(KINDS);
                if k == KINDS - 1 && soak_started.elapsed() > end / 3 {
                    k = dice.below(KINDS - 1);
                }
                (k, None)
            }
        };
        let at = soak_started.elapsed().as_secs_f64();
        let what = soak_fault(which, node, &mut dice, (&stack, &proxy, &client), &mut operator, &start_operator).await;
        if which == KINDS - 1 {
            last_restart = soak_started.elapsed().as_secs_f64();
        }
        eprintln!("soak {:>6.0}s: {what}", at);
        faults.push((at, what));
    }
    proxy.reset().unwrap();

    // At rest: a minute to settle, then two minutes counted (traffic goes on).
    tokio::time::sleep(Duration::from_secs(60)).await;
    let before = MetricsSnapshot::take(&operator).await.unwrap();
    let rest = Instant::now();
    while rest.elapsed() < Duration::from_secs(120) {
        if let Some(s) = proc_sample(operator.pid()) {
            rss.lock().unwrap().push((soak_started.elapsed().as_secs_f64(), operator.pid(), s.rss_kb));
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    let after = MetricsSnapshot::take(&operator).await.unwrap();
    let delta = Delta::new(&before, &after);
    let writes_per_min = delta.sum("tributary_status_writes_total", &[]) / 2.0;
    let kafka_writes: f64 = delta
        .kafka_requests()
        .iter()
        .filter(|(op, _)| tributary::kafka::WRITE_OPERATIONS.contains(&op.as_str()))
        .map(|(_, n)| n)
        .sum();

    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    producing.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    let want: std::collections::HashSet<&String> = acked.iter().collect();
    // Every acknowledged record is processed by the group's consumers (at least once).
    let caught_up = || async {
        let processed: std::collections::HashSet<String> = emulator.processed_values().into_iter().collect();
        Ok(want.iter().filter(|v| !processed.contains(**v)).count())
    };
    let missing = wait_for("every acknowledged record processed", Duration::from_secs(300), caught_up, |m| *m == 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let processed = emulator.processed_values();
    let duplicates = processed.len() - processed.iter().collect::<std::collections::HashSet<_>>().len();

    // Every resource Ready; Kafka (TopicCommand) as the samples say; no object created twice.
    for t in ["orders", "payments-v1"] {
        wait_condition(&topics, t, "Ready", "True", None, Duration::from_secs(120)).await.unwrap();
    }
    wait_condition(&policies, "orders", "Ready", "True", None, Duration::from_secs(120)).await.unwrap();
    wait_condition(&groups, "orders-billing", "Ready", "True", None, Duration::from_secs(120)).await.unwrap();
    let described = describe_topics_cli(&stack, "orders.*|payments_v1.*").unwrap();
    let orders = &described["orders"];
    assert_eq!(orders.partitions, 3, "orders partitions");
    assert_eq!(orders.configs.get("retention.ms").map(String::as_str), Some("604800000"));
    assert_eq!(described["payments_v1.events"].partitions, 6, "payments_v1.events partitions");
    assert!(described.contains_key("orders-dlt"), "the dead-letter topic: {:?}", described.keys());
    let created = event_counts(&client, &ns.name, "Created").await;
    let twice: Vec<_> = created.iter().filter(|(_, n)| **n > 1).collect();

    // Memory of the last operator process: the middle third of the soak against the last third.
    let samples: Vec<(f64, u64)> = rss
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, pid, _)| *pid == operator.pid() && *t > last_restart + 60.0)
        .map(|(t, _, kb)| (*t, *kb))
        .collect();
    let span = end.as_secs_f64();
    let peak_in = |from: f64, to: f64| samples.iter().filter(|(t, _)| *t >= from && *t < to).map(|(_, kb)| *kb).max();
    let (middle, last) = (peak_in(span / 3.0, 2.0 * span / 3.0), peak_in(2.0 * span / 3.0, f64::INFINITY));
    let mb = |kb: Option<u64>| kb.map_or("-".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0));
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for (_, f) in &faults {
        let kind = f.split(" restarted").next().unwrap_or(f).replace(|c: char| c.is_ascii_digit(), "N");
        *kinds.entry(kind).or_default() += 1;
    }
    println!(
        "FIGURE F6 soak {minutes} min (seed {seed}), samples topology, 20 records/s + 3,000 every 3 min: {} faults \
         ({kinds:?}); {} records acknowledged, {missing} not processed, {duplicates} processed again after a \
         rebalance; operator RSS peak {} in the middle third, {} in the last third; at rest {writes_per_min:.1} status \
         writes/min, {kafka_writes} Kafka writes in 2 min; {} Created Events, {} objects created twice",
        faults.len(),
        acked.len(),
        mb(middle),
        mb(last),
        created.values().sum::<i32>(),
        twice.len()
    );
    assert!(twice.is_empty(), "created more than once: {twice:?}");
    assert_eq!(kafka_writes, 0.0, "Kafka writes at rest");
    if let (Some(m), Some(l)) = (middle, last) {
        assert!(l as f64 <= m as f64 * 1.25, "operator memory grew from {} to {}", mb(middle), mb(last));
    }
    assert!(operator.exited().is_none(), "the operator exited by itself");
    drop(emulator);
    drop(operator);
    delete_all_topics(&client, &ns.name, Duration::from_secs(120)).await.ok();
    purge_kafka_topics(&stack, "orders", &[], Duration::from_secs(120)).await.ok();
    purge_kafka_topics(&stack, "payments_v1", &[], Duration::from_secs(120)).await.ok();
}
