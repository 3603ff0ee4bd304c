//! Benchmark: unthrottled redrive throughput beside a plain pipe through an independent client, in the same run.
//!
//! ```text
//! cargo build --profile dist -p tributary
//! . e2e/stack/env.sh
//! TRIBUTARY_BIN=target/dist/tributary cargo run --release -p tributary-e2e --bin bench_redrive -- \
//!     [--records 1000000] [--partitions 3]
//! ```
//! (`make bench-redrive` does exactly this.)
//!
//! 1. A DlqPolicy (its own namespace, an operator watching only it) generates the dead-letter topic; it is filled
//!    with `--records` small records (a 10-byte value, a 10-byte key, and Spring's `kafka_dlt-original-topic`
//!    header naming the source topic).
//! 2. Pipe: `kcat -C -e` of the dead-letter topic into `kcat -P` of a fresh topic, timed from start to exit. It
//!    moves values only (keys and headers are dropped) and is at-least-once: the floor any mover should reach.
//! 3. Redrive: `spec.redrive {maxPerSecond: 0}` (no limit), timed from the spec change until the status says
//!    `Completed`, and from the first to the last produce time of the moved records. Every record is then read back
//!    with a `read_committed` consumer and counted by value: the move must be exactly once.
//!
//! Everything made is deleted afterwards: the namespace, the Kafka topics and the redrive consumer group.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use rdkafka::Message;
use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use serde_json::json;
use tributary::api::DlqPolicy;
use tributary_e2e::kafka::{Acks, create_topic, delete_groups, read_to_end};
use tributary_e2e::manifest;
use tributary_e2e::scale::{children_cpu_seconds, proc_sample};
use tributary_e2e::*;

#[derive(Parser, Debug)]
#[command(about = "Unthrottled redrive throughput beside a kcat pipe, in the same run")]
struct Args {
    /// Dead letters to move.
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// Partitions of the dead-letter, source and pipe topics.
    #[arg(long, default_value_t = 3)]
    partitions: i32,
}

/// Sum of the high watermarks of a topic (records, for a topic written without transactions).
fn end_offsets(stack: &Stack, topic: &str) -> anyhow::Result<i64> {
    let c: BaseConsumer = stack.kafka_config().create()?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut sum = 0;
    for p in md.topics()[0].partitions() {
        sum += c.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?.1;
    }
    Ok(sum)
}

/// Reads a topic to its end with `read_committed`: (records, distinct values, first and last timestamp in ms).
fn read_back(stack: &Stack, topic: &str) -> anyhow::Result<(usize, usize, i64, i64)> {
    let (mut n, mut distinct, mut first, mut last) = (0usize, HashSet::new(), i64::MAX, i64::MIN);
    read_to_end(stack, topic, Duration::from_secs(600), |m| {
        n += 1;
        distinct.insert(m.payload().unwrap_or_default().to_vec());
        let ts = m.timestamp().to_millis().unwrap_or(0);
        first = first.min(ts);
        last = last.max(ts);
    })?;
    Ok((n, distinct.len(), first, last))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let bin = operator_binary();
    if bin.to_string_lossy().contains("debug") {
        eprintln!("warning: benchmarking {} (set TRIBUTARY_BIN=target/dist/tributary)", bin.display());
    }
    let (stack, client, ns) = prepare("bench-redrive").await;
    let operator = Operator::start(&stack, "bench-redrive", &["--namespace", &ns.name]);
    operator.wait_ready().await;
    apply_in::<tributary::api::KafkaConnection>(
        &client,
        &ns.name,
        manifest::kafka_connection("main", &stack.bootstrap),
    )
    .await;
    let admin = stack.admin();
    let (src, out) = (unique("bench-orders"), unique("bench-pipe"));
    let dlt = format!("{src}-dlt");
    create_topic(&admin, &src, a.partitions, 1, &[]).await?;
    create_topic(&admin, &out, a.partitions, 1, &[]).await?;
    apply_in::<DlqPolicy>(
        &client,
        &ns.name,
        manifest::dlq_policy(
            "bench",
            json!({"connectionRef": {"name": "main"}, "sourceTopic": src, "deletionPolicy": "Delete",
                   "deadLetter": {"partitions": a.partitions, "replicationFactor": 1}}),
        ),
    )
    .await;
    let policies: Api<DlqPolicy> = Api::namespaced(client.clone(), &ns.name);
    wait_condition(&policies, "bench", "Ready", "True", None, Duration::from_secs(60)).await?;

    // 1. Fill the dead-letter topic.
    let producer = stack.bulk_producer();
    let started = Instant::now();
    let mut acks = Acks::new(10_000);
    for i in 0..a.records {
        let (key, value) = (format!("k{:09}", i % 1_000_000_000), format!("r{i:09}"));
        let headers =
            OwnedHeaders::new().insert(Header { key: "kafka_dlt-original-topic", value: Some(src.as_bytes()) });
        acks.send(&producer, FutureRecord::to(&dlt).key(&key).payload(&value).headers(headers)).await?;
    }
    acks.wait().await?;
    let fill = started.elapsed().as_secs_f64();
    eprintln!("filled {dlt} with {} records in {fill:.1}s", a.records);

    // 2. The pipe.
    let b = &stack.bootstrap;
    let pipe = format!(
        "kcat -C -b {b} -t {dlt} -o beginning -e -q -X isolation.level=read_committed | kcat -P -b {b} -t {out} -X queue.buffering.max.messages=1000000"
    );
    let pipe_cpu_before = children_cpu_seconds().unwrap_or(0.0);
    let started = Instant::now();
    let status = Command::new("sh").arg("-c").arg(&pipe).status().context("running kcat")?;
    let pipe_secs = started.elapsed().as_secs_f64();
    let pipe_cpu = children_cpu_seconds().unwrap_or(0.0) - pipe_cpu_before;
    if !status.success() {
        bail!("the kcat pipe failed: {status}");
    }
    let piped = end_offsets(&stack, &out)?;
    eprintln!("kcat pipe: {piped} records in {pipe_secs:.2}s");

    // 3. The redrive.
    let cpu_before = proc_sample(operator.pid()).map_or(0.0, |s| s.cpu_seconds);
    let started = Instant::now();
    let patched_ms = now_ms();
    policies
        .patch(
            "bench",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"redrive": {"id": "bench", "maxPerSecond": 0}}})),
        )
        .await?;
    let ended = |p: &DlqPolicy| {
        let phase = p.status.as_ref().and_then(|s| s.redrive.as_ref()).map(|r| r.phase.as_str());
        matches!(phase, Some("Completed" | "Failed" | "Refused" | "Cancelled"))
    };
    let patience = Patience::new(Duration::from_secs(1800), Duration::from_millis(100));
    let p = wait_status(&policies, "bench", "the redrive to end", patience, ended).await?;
    let redrive_secs = started.elapsed().as_secs_f64();
    let r = p.status.and_then(|s| s.redrive).context("a redrive status")?;
    if r.phase != "Completed" {
        bail!("redrive ended {}: {:?}", r.phase, r.message);
    }
    let moved = r.moved;
    let sample = proc_sample(operator.pid());
    let cpu = sample.map_or(0.0, |s| s.cpu_seconds) - cpu_before;
    let rss = sample.map(|s| s.hwm_kb as f64 / 1024.0);
    let (n, distinct, first, last) = read_back(&stack, &src)?;
    let span = (last - first) as f64 / 1000.0;
    // Around the move: spec change → first record produced, last record produced → `Completed` seen.
    let start_up = (first - patched_ms) as f64 / 1000.0;
    let finish = redrive_secs - start_up - span;
    let exactly_once = n == a.records && distinct == a.records && moved as usize == a.records;

    println!();
    println!("records: {}, partitions: {}, operator: {}", a.records, a.partitions, bin.display());
    println!("| mover | guarantee | seconds | records/s |");
    println!("|---|---|---|---|");
    let rate = |secs: f64| a.records as f64 / secs;
    println!("| `kcat -C -e \\| kcat -P` | values only, at-least-once | {pipe_secs:.2} | {:.0} |", rate(pipe_secs));
    println!(
        "| redrive, spec change → `Completed` | exactly once, keys + headers | {redrive_secs:.2} | {:.0} |",
        rate(redrive_secs)
    );
    println!(
        "| redrive, first → last record produced | exactly once, keys + headers | {span:.2} | {:.0} |",
        rate(span)
    );
    println!();
    println!(
        "read back (read_committed): {n} records, {distinct} distinct → exactly once: {exactly_once}; operator CPU during the move: {cpu:.1}s; peak RSS: {}",
        rss.map_or("?".into(), |r| format!("{r:.0} MiB"))
    );
    println!(
        "kcat pipe CPU: {pipe_cpu:.1}s; redrive start-up (spec change → first record produced): {start_up:.2}s, finish (last record → `Completed` seen, polled every 100 ms): {finish:.2}s"
    );

    // Clean up.
    Api::<DlqPolicy>::namespaced(client.clone(), &ns.name).delete("bench", &DeleteParams::default()).await?;
    let _ = admin.delete_topics(&[&src, &out], &AdminOptions::new()).await;
    let group = format!("tributary-redrive-{}-bench", ns.name);
    let _ = delete_groups(&admin, &[group]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(operator);
    drop(ns);
    tokio::time::sleep(Duration::from_millis(500)).await;
    if !exactly_once {
        bail!("the redrive was not exactly once: {n} records read, {distinct} distinct, {moved} moved");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Args;

    #[test]
    fn the_flags_of_the_readme_and_their_defaults() {
        Args::command().debug_assert();
        let a = Args::try_parse_from(["bench_redrive"]).unwrap();
        assert_eq!((a.records, a.partitions), (1_000_000, 3));
        let a = Args::try_parse_from("bench_redrive --records 1000 --partitions 1".split(' ')).unwrap();
        assert_eq!((a.records, a.partitions), (1000, 1));
        assert!(Args::try_parse_from(["bench_redrive", "--records", "many"]).is_err());
    }
}
