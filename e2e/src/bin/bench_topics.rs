//! Benchmark: how fast the operator turns N new Topic resources into Ready Kafka topics, against the floors.
//!
//! ```text
//! cargo build --profile dist -p tributary
//! . e2e/stack/env.sh
//! cargo run --release -p tributary-e2e --bin bench_topics -- --topics 1000 [--bin target/dist/tributary]
//!     [--concurrency 64] [--partitions 1]
//! ```
//!
//! In one run, on the running stack: (1) the Kafka floor: a plain rdkafka admin client creates N topics directly,
//! 100 per CreateTopics request; (2) the apiserver floor: N Topic objects created with no operator running; (3) the
//! operator (a release build, started here) given N new Topic resources, created as fast as the apiserver takes
//! them: the time until every one is Ready, the Kafka requests it sent by operation, its apiserver writes, its peak
//! RSS and CPU seconds. Everything made is deleted afterwards.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;
use tributary::api::{KafkaConnection, Topic};
use tributary_e2e::kafka::create_topics;
use tributary_e2e::manifest;
use tributary_e2e::scale::*;
use tributary_e2e::*;

#[derive(Parser, Debug)]
#[command(about = "N new Topic resources → Ready, against the Kafka and apiserver floors")]
struct Args {
    /// New Topic resources (and topics of each floor).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    topics: usize,
    /// The operator binary.
    #[arg(long, value_name = "PATH", env = "TRIBUTARY_BIN", default_value_os_t = shipped_operator_binary())]
    bin: PathBuf,
    /// Topic resources created at once against the apiserver.
    #[arg(long, value_name = "C", default_value_t = 64)]
    concurrency: usize,
    /// Partitions of each topic.
    #[arg(long, value_name = "P", default_value_t = 1)]
    partitions: i32,
    /// Skip the two floors (to compare operator builds quickly).
    #[arg(long)]
    no_floors: bool,
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Creates `names` with one admin client, 100 topics per request, one request after the other.
async fn kafka_floor(stack: &Stack, names: &[String], partitions: i32) -> anyhow::Result<(Duration, usize)> {
    let admin = stack.admin();
    let started = Instant::now();
    let requests = create_topics(&admin, names, partitions, -1, 100).await?;
    Ok((started.elapsed(), requests))
}

/// The apiserver alone, with no operator running: the time to create N Topic objects, and the time for the whole
/// write pattern the operator adds per topic (one Event, one server-side apply of a status; a Retain topic carries
/// no finalizer), each object's writes in sequence and objects side by side. Everything is deleted after.
async fn apiserver_floor(client: &kube::Client, n: usize, concurrency: usize) -> anyhow::Result<(Duration, Duration)> {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::events::v1::Event;
    use kube::api::{Patch, PatchParams, PostParams};
    let ns = TestNamespace::create(client, "bench-api").await;
    let names: Vec<String> = (0..n).map(|i| format!("api-{i:05}")).collect();
    let manifests =
        names.iter().map(|n| manifest::topic(n, json!({"connectionRef": {"name": "none"}, "partitions": 1}))).collect();
    let started = Instant::now();
    create_all::<Topic>(client, &ns.name, manifests, concurrency).await?;
    let create_only = started.elapsed();
    let topics: Api<Topic> = Api::namespaced(client.clone(), &ns.name);
    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    futures::stream::iter(names.iter().cloned())
        .map(|name| {
            let (topics, events, ns) = (topics.clone(), events.clone(), ns.name.clone());
            async move {
                // A read for the uid the Event refers to (the operator has it from its watch).
                let t = topics.get(&name).await?;
                let event: Event = serde_json::from_value(json!({
                    "metadata": {"name": format!("{name}.{}", unique("e"))},
                    "eventTime": k8s_openapi::jiff::Timestamp::now().to_string(),
                    "reportingController": "tributary", "reportingInstance": "bench",
                    "action": "Create", "reason": "Created", "type": "Normal",
                    "note": format!("created Kafka topic {name:?} with 1 partition(s)"),
                    "regarding": {"apiVersion": "tributary.dev/v1alpha1", "kind": "Topic", "namespace": ns,
                                  "name": name, "uid": t.metadata.uid}
                }))?;
                events.create(&PostParams::default(), &event).await?;
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                let status = json!({"apiVersion": "tributary.dev/v1alpha1", "kind": "Topic", "status": {
                    "observedGeneration": 1, "topicName": name, "topicId": "AAAAAAAAAAAAAAAAAAAAAA",
                    "partitions": 1, "replicationFactor": 1, "lastSyncTime": now,
                    "conditions": [
                        {"type": "Drifted", "status": "False", "reason": "InSync", "message": "Kafka matches the spec",
                         "observedGeneration": 1, "lastTransitionTime": now},
                        {"type": "Ready", "status": "True", "reason": "Ready", "message": "topic matches the spec",
                         "observedGeneration": 1, "lastTransitionTime": now}]}});
                topics.patch_status(&name, &PatchParams::apply("tributary").force(), &Patch::Apply(&status)).await?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    let all_writes = started.elapsed();
    // No operator ran, so no finalizers: this goes at once.
    delete_all_topics(client, &ns.name, Duration::from_secs(600)).await?;
    Ok((create_only, all_writes))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let n = args.topics;
    anyhow::ensure!(args.bin.exists(), "{} missing: cargo build --profile dist -p tributary", args.bin.display());
    let stack = Stack::from_env();
    let client = stack.kube().await;
    install_crds(&client).await?;
    let run = unique("bench");
    eprintln!("bench_topics: {n} topics, {} partition(s) each, operator {}", args.partitions, args.bin.display());

    // 1. Kafka floor; 2. apiserver floor (zero when skipped).
    let (mut floor, mut floor_requests) = (Duration::ZERO, 0);
    let (mut api_floor, mut api_writes_floor) = (Duration::ZERO, Duration::ZERO);
    if !args.no_floors {
        let floor_prefix = format!("{run}-floor");
        let floor_names: Vec<String> = (0..n).map(|i| format!("{floor_prefix}-{i:05}")).collect();
        (floor, floor_requests) = kafka_floor(&stack, &floor_names, args.partitions).await?;
        eprintln!("kafka floor: {n} topics in {} ({floor_requests} CreateTopics requests)", secs(floor));
        purge_kafka_topics(&stack, &floor_prefix, &floor_names, Duration::from_secs(600)).await?;
        (api_floor, api_writes_floor) = apiserver_floor(&client, n, args.concurrency).await?;
        eprintln!(
            "apiserver floor: {n} Topic objects created in {}; with the operator's writes per topic (Event, status) {}",
            secs(api_floor),
            secs(api_writes_floor)
        );
    }

    // 3. The operator.
    let ns = TestNamespace::create(&client, "bench").await;
    // Watching only its namespace, like the e2e tests: other sessions' resources on the shared stack stay out.
    let operator = Operator::start_with(&stack, "bench", &args.bin, &["--namespace", ns.name.as_str()], "info");
    operator.wait_ready().await;
    apply_in::<KafkaConnection>(&client, &ns.name, manifest::kafka_connection("main", &stack.bootstrap)).await;
    let conns: Api<KafkaConnection> = Api::namespaced(client.clone(), &ns.name);
    wait_condition(&conns, "main", "Ready", "True", None, Duration::from_secs(60)).await?;
    let api: Api<Topic> = Api::namespaced(client.clone(), &ns.name);
    let tracker = ReadyTracker::start(api.clone());
    let sampler = ProcSampler::start(operator.pid(), Duration::from_millis(100));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu_before = proc_sample(operator.pid()).map(|s| s.cpu_seconds).unwrap_or(0.0);
    let before = MetricsSnapshot::take(&operator).await?;

    let prefix = format!("{run}-op");
    let op_names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:05}")).collect();
    let manifests: Vec<_> = op_names
        .iter()
        .map(|name| manifest::topic(name, json!({"connectionRef": {"name": "main"}, "partitions": args.partitions})))
        .collect();
    let started = Instant::now();
    let creating = tokio::spawn({
        let (client, ns_name) = (client.clone(), ns.name.clone());
        let concurrency = args.concurrency;
        async move { create_all::<Topic>(&client, &ns_name, manifests, concurrency).await }
    });
    let mut last_print = Instant::now();
    let mut created_in = None;
    // Each look also notes when the creations are done, and prints the progress every 5 s.
    let counts = || {
        let c = tracker.counts();
        if created_in.is_none() && creating.is_finished() {
            created_in = Some(started.elapsed());
        }
        if c.ready < n && last_print.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "  t={:>6.1}s resources={:>5} ready={:>5} not ready {:?}",
                started.elapsed().as_secs_f64(),
                c.total,
                c.ready,
                c.not_ready
            );
            last_print = Instant::now();
        }
        async move { Ok(c) }
    };
    let patience = Patience::new(Duration::from_secs(1800), Duration::from_millis(20));
    wait_for("every topic Ready", patience, counts, |c| c.ready >= n).await?;
    let e2e = started.elapsed();
    creating.await??;
    let created_in = created_in.unwrap_or(e2e);
    let after = MetricsSnapshot::take(&operator).await?;
    let peak = sampler.peak();
    let cpu = proc_sample(operator.pid()).map(|s| s.cpu_seconds).unwrap_or(0.0) - cpu_before;
    drop(sampler);

    let delta = Delta::new(&before, &after);
    let requests = delta.kafka_requests();
    let status_writes = delta.sum("tributary_status_writes_total", &[("kind", "Topic")]);
    let reconciles = delta.sum("tributary_reconciles_total", &[("kind", "Topic")]);
    let latencies: BTreeMap<String, String> = requests
        .keys()
        .filter_map(|op| {
            let mean = delta.mean("tributary_kafka_request_duration_seconds", &[("operation", op)])?;
            Some((op.clone(), format!("{:.0} ms", mean * 1000.0)))
        })
        .collect();
    // Every topic is in Kafka (metadata may trail the last creations by a moment).
    let in_kafka = || async { Ok(kafka_topic_names(&stack, &prefix)?.len()) };
    let patience = Patience::new(Duration::from_secs(30), Duration::from_secs(1));
    wait_for(&format!("{n} topics in Kafka"), patience, in_kafka, |k| *k == n).await?;

    println!();
    println!(
        "| topics | Kafka floor (rdkafka, 100/request) | apiserver floor: creates / + operator's writes | operator: all created / all Ready | Ready ÷ Kafka floor | Ready ÷ apiserver floor (all writes) | peak RSS | CPU |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {} | {} / {} | {} / {} | {:.1}× | {:.1}× | {:.1} MB | {:.1} s |",
        secs(floor),
        secs(api_floor),
        secs(api_writes_floor),
        secs(created_in),
        secs(e2e),
        e2e.as_secs_f64() / floor.as_secs_f64(),
        e2e.as_secs_f64() / api_writes_floor.as_secs_f64(),
        peak.hwm_kb.max(peak.rss_kb) as f64 / 1024.0,
        cpu
    );
    println!();
    println!("Kafka requests by operation: {requests:?} (floor: {floor_requests} CreateTopics)");
    println!("mean Kafka request latency: {latencies:?}");
    println!("Topic reconciles: {reconciles}; Topic status writes: {status_writes}");
    println!("operator peaks: {} threads, {} open file descriptors", peak.threads, peak.fds);

    // Clean up: the operator releases the finalizers (Retain), then the Kafka topics go.
    let cleanup = Instant::now();
    delete_all_topics(&client, &ns.name, Duration::from_secs(1200)).await?;
    drop(operator);
    purge_kafka_topics(&stack, &prefix, &op_names, Duration::from_secs(600)).await?;
    let leftover = Api::<Topic>::namespaced(client.clone(), &ns.name).list_metadata(&ListParams::default()).await?;
    anyhow::ensure!(leftover.items.is_empty(), "Topic resources left behind");
    eprintln!("cleanup took {}", secs(cleanup.elapsed()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Args;

    #[test]
    fn the_flags_of_the_makefile_and_readme_and_their_defaults() {
        Args::command().debug_assert();
        let a = Args::try_parse_from(["bench_topics"]).unwrap();
        assert_eq!((a.topics, a.concurrency, a.partitions, a.no_floors), (1000, 64, 1, false));
        let a = Args::try_parse_from(["bench_topics", "--topics", "10000"]).unwrap();
        assert_eq!(a.topics, 10000);
        let readme = "bench_topics --topics 1000 --concurrency 32 --no-floors --partitions 2 --bin /x";
        let a = Args::try_parse_from(readme.split(' ')).unwrap();
        assert_eq!((a.topics, a.concurrency, a.no_floors, a.partitions, a.bin), (1000, 32, true, 2, "/x".into()));
        assert!(Args::try_parse_from(["bench_topics", "--topics"]).is_err());
    }
}
