//! 2. Lag collection cost: many ConsumerGroups with lag under one operator, measured over whole poll cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt};
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureRecord, Producer as _};
use serde_json::json;
use tributary::api::ConsumerGroup;
use tributary_e2e::kafka::{Acks, commit_offsets, create_topics, delete_groups};
use tributary_e2e::scale::{
    Delta, Histogram, MetricsSnapshot, apiserver_metrics, create_all, delete_kafka_topics, load_average, proc_sample,
};
use tributary_e2e::{Operator, Stack, manifest, wait_for};

use crate::Bench;
use crate::lag_tracker::LagTracker;
use crate::retry::retry;
use crate::units::secs;

/// Records committed per partition below the end (the lag each partition shows).
pub const COMMIT_BEHIND: i64 = 5;
/// Records produced per partition before the commits.
pub const PRELOAD: i64 = 10;

/// One cost phase: every group on a topic of `partitions` partitions.
pub struct Cost {
    pub groups: usize,
    pub partitions: i32,
    /// Creating the ConsumerGroup objects until every one shows its lag.
    pub first_pass: Duration,
    pub cycles: f64,
    pub durations: Histogram,
    pub errors: f64,
    pub calls_per_cycle: BTreeMap<String, f64>,
    pub latency_ms: BTreeMap<String, f64>,
    pub status_writes_per_cycle: f64,
    /// Kafka requests by operation and ConsumerGroup status writes over the whole window, and its length.
    pub requests_total: BTreeMap<String, f64>,
    pub status_writes_total: f64,
    pub window: Duration,
    pub cpu_per_cycle: f64,
    pub leaders: usize,
    pub brokers: usize,
    /// Consumer groups in the whole cluster (every ListGroups answer lists a broker's share of them).
    pub cluster_groups: usize,
    /// From the end of a produce to every partition until every group shows the new lag: first and last group.
    pub fresh_first: Duration,
    pub fresh_all: Duration,
    pub rss_kb: u64,
    pub hwm_kb: u64,
    /// Server-side applies of ConsumerGroup status per cycle, and their mean latency in the apiserver.
    pub applies_per_cycle: f64,
    pub apply_mean: f64,
    /// The machine's 1-minute load average at the end of the window.
    pub load: f64,
    /// Reconciles and status writes in the window, by kind (every controller of the operator).
    pub reconciles_by_kind: BTreeMap<String, f64>,
    pub status_writes_by_kind: BTreeMap<String, f64>,
    /// Lag series still exported for this phase's groups after they were deleted.
    pub stale_series: usize,
}

impl Cost {
    /// Kafka admin calls of `operation` per poll cycle.
    pub fn calls(&self, operation: &str) -> f64 {
        self.calls_per_cycle.get(operation).copied().unwrap_or(0.0)
    }
}

/// The cost of collecting lag for `--groups` groups of `partitions` partitions each, over `--window`.
pub async fn cost_phase(b: &Bench<'_>, partitions: i32) -> anyhow::Result<Cost> {
    let (stack, run, operator) = (b.stack, b.run, b.operator);
    let n = b.args.groups;
    let prefix = format!("{run}-cost{partitions}");
    let topics: Vec<String> = (0..n).map(|i| format!("{prefix}-t{i:03}")).collect();
    let group_ids: Vec<String> = (0..n).map(|i| format!("{prefix}-g{i:03}")).collect();
    let names: Vec<String> = (0..n).map(|i| format!("p{partitions}-g{i:03}")).collect();
    let setup = Instant::now();
    let committed = make_lagging_groups(b, &topics, &group_ids, partitions).await?;
    let (leaders, brokers) = leaders(stack, &prefix)?;
    let leaders = leaders.len();
    eprintln!(
        "  {n} topics x {partitions} partitions made, {PRELOAD} records each, offsets committed at {committed} in {}",
        secs(setup.elapsed())
    );

    let api: Api<ConsumerGroup> = b.api();
    let tracker = LagTracker::start(api.clone());
    let lag = COMMIT_BEHIND * i64::from(partitions);
    let manifests = names
        .iter()
        .zip(topics.iter().zip(&group_ids))
        .map(|(name, (topic, group))| {
            let spec = json!({"connectionRef": {"name": "main"}, "groupId": group, "topics": [topic]});
            manifest::consumer_group(name, spec)
        })
        .collect();
    let started = Instant::now();
    create_all::<ConsumerGroup>(b.client, b.ns, manifests, 32).await?;
    let (_, last) = tracker.wait_showing(n, lag, Duration::from_secs(300)).await?;
    let first_pass = last - started;
    eprintln!("  first pass: {n} groups created and showing lag {lag} in {}", secs(first_pass));

    // Let the first pass's status writes pass, then measure whole cycles (ticks or polls).
    tokio::time::sleep(b.args.period() * 2).await;
    let pid = operator.pid();
    let before = metrics_of(operator).await?;
    let api_before = apiserver_metrics();
    let cpu_before = proc_sample(pid).map(|s| s.cpu_seconds).unwrap_or(0.0);
    tokio::time::sleep(b.args.window()).await;
    let after = metrics_of(operator).await?;
    let api_after = apiserver_metrics();
    let load = load_average();
    let proc = proc_sample(pid).context("the operator exited")?;
    let delta = Delta::new(&before, &after);
    let kind = [("kind", "ConsumerGroup")];
    let reconciles = delta.sum("tributary_reconciles_total", &kind);
    let errors = delta.sum("tributary_reconciles_total", &[("kind", "ConsumerGroup"), ("result", "Error")]);
    let cycles = reconciles / n as f64;
    anyhow::ensure!(cycles > 0.0, "no ConsumerGroup reconcile in the window");
    let requests = delta.kafka_requests();
    let calls_per_cycle = requests.iter().map(|(op, d)| (op.clone(), d / cycles)).collect();
    let requests_total = requests.clone();
    let latency_ms = requests
        .keys()
        .filter_map(|op| {
            let mean = delta.mean("tributary_kafka_request_duration_seconds", &[("operation", op)])?;
            Some((op.clone(), 1000.0 * mean))
        })
        .collect();
    let status_writes = delta.sum("tributary_status_writes_total", &kind);
    let durations = delta.histogram("tributary_reconcile_duration_seconds", &kind);
    let reconciles_by_kind = delta.by_label("tributary_reconciles_total", "kind");
    let status_writes_by_kind = delta.by_label("tributary_status_writes_total", "kind");
    let (applies, apply_mean) = match (&api_before, &api_after) {
        (Some(b), Some(a)) => status_applies(Delta::new(b, a)),
        _ => (0.0, 0.0),
    };
    let cluster_groups = stack.admin().inner().fetch_group_list(None, Duration::from_secs(30))?.groups().len();

    // The window's figures now, so that a later step's failure does not lose them.
    eprintln!(
        "  window: {cycles:.1} cycles, operator CPU {:.3} s a cycle, VmRSS {:.1} MB, VmHWM {:.1} MB, {:.0} status \
         writes a minute, {:.1} Kafka requests a second, load {load:.1}",
        (proc.cpu_seconds - cpu_before) / cycles,
        proc.rss_kb as f64 / 1000.0,
        proc.hwm_kb as f64 / 1000.0,
        status_writes * 60.0 / b.args.window().as_secs_f64(),
        requests.values().sum::<f64>() / b.args.window().as_secs_f64(),
    );

    // Freshness: one more record on every partition; every group's lag grows by its partition count.
    produce_each_partition(stack, &topics, partitions, 1).await?;
    let produced = Instant::now();
    let (first, last) = tracker.wait_showing(n, lag + i64::from(partitions), Duration::from_secs(300)).await?;
    let fresh_first = first.saturating_duration_since(produced);
    let fresh_all = last.saturating_duration_since(produced);

    // Clean up this phase: the ConsumerGroup objects, then the Kafka groups and topics.
    let (background, all) = (DeleteParams::background(), ListParams::default());
    retry("deleting the ConsumerGroups", || api.delete_collection(&background, &all)).await?;
    let left = || async { Ok(api.list_metadata(&ListParams::default()).await?.items.len()) };
    wait_for("ConsumerGroups deleted", Duration::from_secs(120), left, |n| *n == 0).await?;
    drop(tracker);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let metrics = metrics_of(operator).await?;
    let stale_series = metrics
        .0
        .iter()
        .filter(|s| s.name == "tributary_consumergroup_lag_messages")
        .filter(|s| s.labels.get("namespace").map(String::as_str) == Some(b.ns))
        .filter(|s| s.labels.get("name").is_some_and(|l| names.contains(l)))
        .count();
    delete_groups(&stack.admin(), &group_ids).await?;
    delete_kafka_topics(stack, &topics).await?;

    Ok(Cost {
        groups: n,
        partitions,
        first_pass,
        cycles,
        durations,
        errors,
        calls_per_cycle,
        latency_ms,
        status_writes_per_cycle: status_writes / cycles,
        requests_total,
        status_writes_total: status_writes,
        window: b.args.window(),
        cpu_per_cycle: (proc.cpu_seconds - cpu_before) / cycles,
        leaders,
        brokers,
        cluster_groups,
        fresh_first,
        fresh_all,
        rss_kb: proc.rss_kb,
        hwm_kb: proc.hwm_kb,
        stale_series,
        reconciles_by_kind,
        status_writes_by_kind,
        applies_per_cycle: applies / cycles,
        apply_mean,
        load,
    })
}

/// Produces `per_partition` records to every partition of every topic; waits for every acknowledgement.
/// Makes `topics` (one per group, recorded for deletion with `group_ids`), fills every partition with [`PRELOAD`]
/// records and commits each group [`COMMIT_BEHIND`] below the end; the offset committed.
pub async fn make_lagging_groups(
    b: &Bench<'_>,
    topics: &[String],
    group_ids: &[String],
    partitions: i32,
) -> anyhow::Result<i64> {
    let stack = b.stack;
    b.made.topics.lock().unwrap().extend(topics.iter().cloned());
    b.made.groups.lock().unwrap().extend(group_ids.iter().cloned());
    create_topics(&stack.admin(), topics, partitions, 1, 50).await?;
    produce_each_partition(stack, topics, partitions, PRELOAD).await?;
    let committed = PRELOAD - COMMIT_BEHIND;
    futures::stream::iter(topics.iter().zip(group_ids))
        .map(|(t, g)| {
            let (stack, t, g) = (stack.clone(), t.clone(), g.clone());
            async move { tokio::task::spawn_blocking(move || commit_all(&stack, &g, &t, partitions, committed)).await? }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(committed)
}

pub async fn produce_each_partition(
    stack: &Stack,
    topics: &[String],
    partitions: i32,
    per_partition: i64,
) -> anyhow::Result<()> {
    let producer = stack.producer();
    // A producer refuses a partition its metadata does not know yet (UnknownPartition): on a loaded cluster new
    // topics take a while to show everywhere.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let md = producer.client().fetch_metadata(None, Duration::from_secs(30))?;
        let ready: BTreeSet<&str> = md
            .topics()
            .iter()
            .filter(|t| t.partitions().len() == partitions as usize && t.partitions().iter().all(|p| p.leader() >= 0))
            .map(|t| t.name())
            .collect();
        let missing = topics.iter().filter(|t| !ready.contains(t.as_str())).count();
        if missing == 0 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "{missing} new topic(s) still without all partition leaders");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut acks = Acks::default();
    for t in topics {
        for p in 0..partitions {
            for i in 0..per_partition {
                let v = format!("v{i}");
                acks.send(&producer, FutureRecord::<(), str>::to(t).partition(p).payload(&v)).await?;
            }
        }
    }
    acks.wait().await
}

/// Commits `offset` on every partition of `topic` for `group` (a consumer that commits and leaves, no member).
pub fn commit_all(stack: &Stack, group: &str, topic: &str, partitions: i32, offset: i64) -> anyhow::Result<()> {
    let offsets: Vec<(&str, i32, i64)> = (0..partitions).map(|p| (topic, p, offset)).collect();
    commit_offsets(stack, group, &offsets)
}

/// Distinct leader brokers of the partitions of the topics starting with `prefix`, and the brokers in the cluster.
fn leaders(stack: &Stack, prefix: &str) -> anyhow::Result<(BTreeSet<i32>, usize)> {
    let consumer: BaseConsumer = stack.kafka_config().create()?;
    let md = consumer.fetch_metadata(None, Duration::from_secs(30))?;
    let leaders = md
        .topics()
        .iter()
        .filter(|t| t.name().starts_with(prefix))
        .flat_map(|t| t.partitions().iter().map(|p| p.leader()))
        .collect();
    Ok((leaders, md.brokers().len()))
}

/// The operator's metrics; when they cannot be read, says whether the operator process is still there.
async fn metrics_of(operator: &Operator) -> anyhow::Result<MetricsSnapshot> {
    MetricsSnapshot::take(operator).await.with_context(|| {
        let pid = operator.pid();
        let state = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("State:")).map(str::to_string))
            .unwrap_or_else(|| "gone".into());
        format!("reading the operator's /metrics (PID {pid}, {state}; log {})", operator.log.display())
    })
}

/// Server-side applies of ConsumerGroup status between two apiserver snapshots: (count, mean seconds). Counts every
/// namespace: other tests on the stack write a few too.
fn status_applies(apiserver: Delta<'_>) -> (f64, f64) {
    let with = [("resource", "consumergroups"), ("subresource", "status"), ("verb", "APPLY")];
    let count = apiserver.sum("apiserver_request_duration_seconds_count", &with);
    (count, apiserver.mean("apiserver_request_duration_seconds", &with).unwrap_or(0.0))
}
