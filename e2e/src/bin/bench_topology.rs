//! Benchmark: drawing the map of a large topology — 500 topics (a fifth with an Avro schema), 200 consumer groups,
//! 50 applications and 20 dead-letter chains over 10 namespaces — in every format, and the same DOT laid out by Graphviz's `dot` (the
//! usual tool, when installed) as the baseline.
//!
//! ```text
//! cargo run --release -p tributary-e2e --bin bench_topology -- [--namespaces 10] [--topics 500] [--groups 200] [--runs 5]
//! ```
//!
//! No stack needed: the resources are made here, with the statuses a live cluster would give them (a tenth of the
//! groups lagging, a few stalled), and drawn by the same code the operator serves `/topology` with.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use tributary::api::{ConsumerGroup, DlqPolicy, KafkaConnection, KafkaUser, Schema, Topic};
use tributary::decisions::topology::{self as map, Resources};

#[derive(Parser, Debug)]
#[command(about = "Drawing the map of a large topology, against Graphviz")]
struct Args {
    #[arg(long, default_value_t = 10)]
    namespaces: usize,
    #[arg(long, default_value_t = 500)]
    topics: usize,
    #[arg(long, default_value_t = 200)]
    groups: usize,
    #[arg(long, default_value_t = 50)]
    apps: usize,
    #[arg(long, default_value_t = 20)]
    dlqs: usize,
    /// Timed runs of each format (the median is reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

fn obj<K: serde::de::DeserializeOwned>(kind: &str, ns: &str, name: &str, spec: Value, status: Value) -> K {
    serde_json::from_value(json!({"apiVersion": "tributary.dev/v1alpha1", "kind": kind,
        "metadata": {"name": name, "namespace": ns}, "spec": spec, "status": status}))
    .expect("a resource")
}

fn cond(type_: &str, status: &str, reason: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": "", "lastTransitionTime": "2026-12-01T00:00:00Z"})
}

struct World {
    connections: Vec<KafkaConnection>,
    topics: Vec<Topic>,
    groups: Vec<ConsumerGroup>,
    dlqs: Vec<DlqPolicy>,
    users: Vec<KafkaUser>,
    schemas: Vec<Schema>,
}

/// The synthetic topology: topics, groups, apps and policies spread evenly over the namespaces; each app produces
/// to 10 of its namespace's topics and consumes as one group, each group reads 1–3 topics.
fn world(a: &Args) -> World {
    let ready = || json!([cond("Ready", "True", "Ready")]);
    let connections = vec![obj(
        "KafkaConnection",
        "kafka",
        "main",
        json!({"bootstrapServers": ["kafka-0:9092", "kafka-1:9092"]}),
        json!({}),
    )];
    let ns = |i: usize| format!("team-{:02}", i % a.namespaces);
    let per_ns = a.topics.div_ceil(a.namespaces);
    let topic_name = |i: usize| format!("events-{:04}", i);
    let topics = (0..a.topics)
        .map(|i| {
            obj(
                "Topic",
                &ns(i),
                &topic_name(i),
                json!({"partitions": 12, "replicationFactor": 3, "config": {"retention.ms": "604800000"}}),
                json!({"topicName": topic_name(i), "partitions": 12, "replicationFactor": 3, "conditions": ready()}),
            )
        })
        .collect();
    // The k-th topic of namespace n is topic n + k × namespaces.
    let nth = |n: usize, k: usize| topic_name(n + (k % per_ns) * a.namespaces);
    let groups = (0..a.groups)
        .map(|j| {
            let n = j % a.namespaces;
            let reads: Vec<String> = (0..1 + j % 3).map(|k| nth(n, j / a.namespaces + k * 7)).collect();
            let mut conditions = vec![cond("Ready", "True", "Observed")];
            if j % 10 == 3 {
                conditions.push(cond("LagWithinSLO", "False", "LagAboveSLO"));
            }
            if j % 40 == 7 {
                conditions.push(cond("Stalled", "True", "Stalled"));
            }
            obj("ConsumerGroup", &ns(n), &format!("group-{j:03}"),
                json!({"topics": reads, "autoscaling": {"targetRef": {"name": format!("worker-{j:03}")}, "minReplicas": 1, "maxReplicas": 8, "lagPerReplica": 1000}}),
                json!({"groupId": format!("group-{j:03}"), "totalLag": j * 37, "maxLagSeconds": (j % 50) as f64, "currentReplicas": 1 + j % 8, "conditions": conditions}))
        })
        .collect();
    let dlqs = (0..a.dlqs)
        .map(|d| {
            let n = d % a.namespaces;
            let source = nth(n, d / a.namespaces + 3);
            obj("DlqPolicy", &ns(n), &format!("dlq-{d:02}"), json!({"sourceTopic": source, "deadLetter": {}}),
                json!({"retryTopics": [format!("{source}-retry-0"), format!("{source}-retry-1")], "deadLetterTopic": format!("{source}-dlt"),
                       "depth": d * 3, "conditions": ready()}))
        })
        .collect();
    let users = (0..a.apps)
        .map(|u| {
            let n = u % a.namespaces;
            let produces: Vec<String> = (0..10).map(|k| nth(n, u / a.namespaces * 10 + k)).collect();
            let consumes = vec![format!("group-{:03}", (u / a.namespaces) * a.namespaces + n)];
            obj(
                "KafkaUser",
                &ns(n),
                &format!("app-{u:02}"),
                json!({"produces": produces, "consumes": consumes}),
                json!({"username": format!("app-{u:02}"), "conditions": ready()}),
            )
        })
        .collect();
    // Every fifth topic has an Avro value schema.
    let avro =
        r#"{"type":"record","name":"Event","fields":[{"name":"id","type":"string"},{"name":"at","type":"long"}]}"#;
    let schemas = (0..a.topics)
        .step_by(5)
        .map(|i| {
            obj(
                "Schema",
                &ns(i),
                &format!("{}-value", topic_name(i)),
                json!({"topicRef": {"name": topic_name(i)}, "schemaType": "AVRO", "schema": avro}),
                json!({"subject": format!("{}-value", topic_name(i)), "version": 1, "conditions": ready()}),
            )
        })
        .collect();
    World { connections, topics, groups, dlqs, users, schemas }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = vec![];
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    (median(times), last.expect("at least one run"))
}

/// Peak resident memory of this process (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb =
        status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok());
    kb.unwrap_or(0.0) / 1024.0
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let w = world(&a);
    let r = Resources {
        connections: &w.connections,
        topics: &w.topics,
        groups: &w.groups,
        dlqs: &w.dlqs,
        users: &w.users,
        schemas: &w.schemas,
        default_connection: Some("kafka/main"),
    };
    let (build, t) = time(a.runs, || map::build(r));
    let nodes = t.node_names().len();
    println!(
        "topology: {} namespaces, {} topics, {} groups, {} apps, {} DLQ chains → {nodes} nodes (retry and dead-letter topics included)",
        a.namespaces, a.topics, a.groups, a.apps, a.dlqs
    );
    println!("| step | median of {} runs | output |", a.runs);
    println!("|---|---|---|");
    println!("| model from the resources | {:.1} ms | |", build.as_secs_f64() * 1e3);
    let (svg, svg_text) = time(a.runs, || map::svg(&t));
    println!(
        "| SVG (layout-rs, per connected part, packed by namespace) | {:.1} ms | {} kB |",
        svg.as_secs_f64() * 1e3,
        svg_text.len() / 1024
    );
    let (dot, dot_text) = time(a.runs, || map::dot(&t));
    println!("| DOT | {:.1} ms | {} kB |", dot.as_secs_f64() * 1e3, dot_text.len() / 1024);
    let (mermaid, text) = time(a.runs, || map::mermaid(&t));
    println!("| Mermaid | {:.1} ms | {} kB |", mermaid.as_secs_f64() * 1e3, text.len() / 1024);
    let (asyncapi, doc) = time(a.runs, || map::asyncapi(&t).to_string());
    println!("| AsyncAPI (JSON) | {:.1} ms | {} kB |", asyncapi.as_secs_f64() * 1e3, doc.len() / 1024);
    let missing = t.node_names().into_iter().filter(|n| !svg_text.contains(n.as_str())).count();
    println!(
        "SVG names every node: {} ({missing} missing); peak RSS of this process {:.1} MB",
        missing == 0,
        peak_rss_mb()
    );

    // Baseline: Graphviz's dot on the same DOT (clusters per namespace), when installed.
    match Command::new("dot").arg("-V").stderr(Stdio::null()).status() {
        Ok(s) if s.success() => {
            let (gv, out) = time(a.runs.min(3), || {
                let mut child =
                    Command::new("dot").arg("-Tsvg").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("dot");
                use std::io::Write;
                child.stdin.take().expect("stdin").write_all(dot_text.as_bytes()).expect("writing DOT");
                child.wait_with_output().expect("dot's output")
            });
            println!(
                "baseline: Graphviz `dot -Tsvg` on the same DOT: {:.1} ms (median of {}), {} kB → Tributary's SVG is {:.1}× {}",
                gv.as_secs_f64() * 1e3,
                a.runs.min(3),
                out.stdout.len() / 1024,
                (gv.as_secs_f64() / svg.as_secs_f64()).max(svg.as_secs_f64() / gv.as_secs_f64()),
                if svg < gv { "faster" } else { "slower" }
            );
        }
        _ => println!("baseline: Graphviz `dot` is not installed (apt-get install graphviz); no comparison"),
    }
    Ok(())
}
