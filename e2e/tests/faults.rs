//! The fault scenarios of `make faults` (ignored by `make test`; run with `--ignored`; F6, the soak, is in
//! soak.rs), each printing its figure on a line starting with `FIGURE`. The stack must be up with `--fault-proxy`
//! (`make faults` starts it). Kafka is checked with Kafka's own CLI classes, never through the operator.
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
