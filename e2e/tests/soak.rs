//! F6 of `make faults` (ignored by `make test`; run with `--ignored`), printing its figure on a line starting with
//! `FIGURE`. The stack must be up with `--fault-proxy`.
//!
//! A soak: the samples (config/samples) with steady traffic and bursts, consumers scaled by Tributary, for
//! `SOAK_MINUTES` (30) under random faults from F0–F5's list plus etcd and apiserver kills and operator kills
//! (seeded, `SOAK_SEED`): every acknowledged record processed, every resource Ready and Kafka as the samples say,
//! nothing created twice, no Kafka write and few status writes at rest, and the operator's memory flat.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use serde_json::json;
use tributary::api::{ConsumerGroup, DlqPolicy, KafkaConnection, Topic};
use tributary_e2e::faults::*;
use tributary_e2e::scale::*;
use tributary_e2e::*;

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
        let kind = f.split(" restarted").next().unwrap_or(f).trim_end_matches(',');
        let kind = kind.replace(|c: char| c.is_ascii_digit(), "N");
        *kinds.entry(kind).or_default() += 1;
    }
    println!(
        "FIGURE F6 soak {minutes} min (seed {seed}), samples topology, 20 records/s + 3,000 every 3 min: {} faults \
         ({kinds:?}); {} records acknowledged, {missing} not processed, {duplicates} processed again after a \
         rebalance; operator RSS peak {} in the middle third, {} in the last third; at rest {writes_per_min:.1} status \
         writes/min, {} Kafka writes in 2 min; {} Created Events, {} objects created twice",
        faults.len(),
        acked.len(),
        mb(middle),
        mb(last),
        kafka_writes as i64, // (an empty float sum is -0.0)
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
