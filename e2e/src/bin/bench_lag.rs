//! Benchmark: how fast the ConsumerGroup controller reacts to a burst, and what collecting lag for many groups
//! costs.
//!
//! ```text
//! cargo build --release -p tributary
//! . e2e/stack/env.sh
//! cargo run --release -p tributary-e2e --bin bench_lag -- [--runs 10] [--burst 2000] [--groups 200]
//!     [--partitions 16,4] [--window 60] [--bin target/release/tributary] [--skip-reaction] [--skip-cost]
//! ```
//!
//! One operator (a release build, default `$TRIBUTARY_BIN` or `target/release/tributary`, started here with
//! `--namespace` set to a namespace of its own and the default poll interval of 5 s) runs on the stack.
//!
//! 1. Reaction: per run, a 4-partition topic, a Deployment at 1 replica whose consumers the [`ReplicaEmulator`]
//!    runs for real (100 records/s per replica), and a ConsumerGroup autoscaling it (`lagPerReplica` 100, min 1,
//!    max 4, no `pollSeconds`). Once the group is steady (ScalingActive True, lag 0, the consumer joined), after a
//!    delay that spreads the runs over the poll phase, a burst is produced; a watch on the Deployment times the
//!    `/scale` patch. Every run uses a new topic, group and Deployment.
//! 2. Lag collection cost: `--groups` ConsumerGroups (no autoscaling), each on a topic of its own with committed
//!    offsets on every partition, for each partition count of `--partitions`, one after the other with the same
//!    operator. Over a measured window: the reconcile duration (histogram mean and p95 estimated from the buckets),
//!    Kafka admin calls per cycle by operation, status writes, CPU and RSS; and the wall-clock time until every
//!    group shows a change made in Kafka.
//!
//! Everything made is deleted afterwards: the namespace, the Kafka topics and the Kafka consumer groups.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{DeleteParams, ListParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;
use serde_json::json;
use tributary::api::{ConsumerGroup, KafkaConnection};
use tributary_e2e::emulator::ReplicaEmulator;
use tributary_e2e::kafka::{Acks, commit_offsets, create_topics, delete_groups, produce};
use tributary_e2e::manifest::{self, emulated_deployment};
use tributary_e2e::scale::*;
use tributary_e2e::*;

/// The operator's default lag poll interval (no `pollSeconds`, no `--group-poll-seconds`).
const DEFAULT_POLL: Duration = Duration::from_secs(5);
/// Records committed per partition below the end in the cost phase (the lag each partition shows).
const COMMIT_BEHIND: i64 = 5;
/// Records produced per partition before the commits in the cost phase.
const PRELOAD: i64 = 10;

#[derive(Parser, Debug)]
#[command(about = "ConsumerGroup burst → /scale reaction time, and what collecting lag for many groups costs")]
struct Args {
    /// Reaction runs, each with a new topic, ConsumerGroup and Deployment.
    #[arg(long, value_name = "N", default_value_t = 10)]
    runs: usize,
    /// Records in each burst.
    #[arg(long, value_name = "RECORDS", default_value_t = 2000)]
    burst: usize,
    /// Records each emulated replica processes per second.
    #[arg(long, value_name = "PER_REPLICA_PER_S", default_value_t = 100)]
    rate: u64,
    /// ConsumerGroups in the cost phase.
    #[arg(long, value_name = "G", default_value_t = 200)]
    groups: usize,
    /// Partitions of each cost-phase topic: one phase per count, in this order.
    #[arg(long, value_delimiter = ',', default_value = "16,4", value_parser = partition_count)]
    partitions: Vec<i32>,
    /// Seconds of the cost phase's measured window.
    #[arg(long = "window", value_name = "SECONDS", default_value_t = 60)]
    window_seconds: u64,
    /// The operator binary.
    #[arg(long, value_name = "PATH", env = "TRIBUTARY_BIN", default_value_os_t = release_operator_binary())]
    bin: PathBuf,
    /// Skip the reaction runs.
    #[arg(long)]
    skip_reaction: bool,
    /// Skip the lag collection cost.
    #[arg(long)]
    skip_cost: bool,
}

/// A partition count in `--partitions 16, 4`.
fn partition_count(s: &str) -> Result<i32, String> {
    s.trim().parse().map_err(|e| format!("{s:?} is not a partition count: {e}"))
}

impl Args {
    fn window(&self) -> Duration {
        Duration::from_secs(self.window_seconds)
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Nearest-rank percentile of `samples` (sorted here).
fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

/// Retries an apiserver call a few times: the shared stack is loaded, and a dropped connection or a time-out is
/// not what is measured here.
async fn retry<T, F, Fut>(what: &str, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 0u32;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {
                return Err(anyhow::Error::from(kube::Error::Api(s)).context(what.to_string()));
            }
            Err(e) if attempt < 6 => {
                attempt += 1;
                eprintln!("  retrying {what} ({e})");
                tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
            }
            Err(e) => return Err(anyhow::Error::from(e).context(what.to_string())),
        }
    }
}

/// Server-side applies a manifest in `namespace`, retrying like [`retry`].
async fn apply<K: Namespaced>(client: &Client, namespace: &str, manifest: serde_json::Value) -> anyhow::Result<K> {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    retry(&format!("applying {}", manifest_name(&manifest)), || server_side_apply(&api, &manifest)).await
}

/// Produces `per_partition` records to every partition of every topic; waits for every acknowledgement.
async fn produce_each_partition(
    stack: &Stack,
    topics: &[String],
    partitions: i32,
    per_partition: i64,
) -> anyhow::Result<()> {
    let producer = stack.producer();
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
fn commit_all(stack: &Stack, group: &str, topic: &str, partitions: i32, offset: i64) -> anyhow::Result<()> {
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

// ---------------------------------------------------------------------------------------------------------------
// 1. Reaction time
// ---------------------------------------------------------------------------------------------------------------

struct Reaction {
    /// Burst start to the Deployment's new spec.replicas seen on the watch.
    to_scale: Duration,
    /// How long producing the burst took (until every acknowledgement).
    produce: Duration,
    /// Delay between "steady" and the burst, to spread the runs over the poll phase.
    phase: Duration,
    scaled_to: i32,
}

/// Watches one Deployment; resolves with the time its spec.replicas first goes above 1. The first receiver fires
/// once the watch's initial list is done.
fn watch_scale_up(
    api: Api<Deployment>,
    name: &str,
) -> (tokio::sync::oneshot::Receiver<()>, tokio::task::JoinHandle<Option<(Instant, i32)>>) {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let task = tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        let mut stream = watcher(api, config).default_backoff().boxed();
        while let Some(ev) = stream.next().await {
            let replicas = |d: &Deployment| d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            match ev {
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) if replicas(&d) > 1 => {
                    return Some((Instant::now(), replicas(&d)));
                }
                _ => {}
            }
        }
        None
    });
    (ready_rx, task)
}

#[allow(clippy::too_many_arguments)]
async fn reaction_run(
    stack: &Stack,
    client: &Client,
    ns: &str,
    run: &str,
    i: usize,
    runs: usize,
    burst: usize,
    rate: u64,
    made: &Made,
) -> anyhow::Result<Reaction> {
    let topic = format!("{run}-react-{i:02}");
    let group = format!("{run}-react-g{i:02}");
    let (deployment, name) = (format!("consumer-{i:02}"), format!("react-{i:02}"));
    made.topics.lock().unwrap().push(topic.clone());
    made.groups.lock().unwrap().push(group.clone());
    let admin = stack.admin();
    create_topics(&admin, std::slice::from_ref(&topic), 4, 1, 50).await?;
    apply::<Deployment>(client, ns, emulated_deployment(&deployment, 1)).await?;
    let emulator = ReplicaEmulator::start(stack, client.clone(), ns, &deployment, &group, &topic, rate);
    apply::<ConsumerGroup>(
        client,
        ns,
        manifest::consumer_group(
            &name,
            json!({"connectionRef": {"name": "main"}, "groupId": group, "topics": [topic],
                   "autoscaling": {"targetRef": {"name": deployment}, "minReplicas": 1, "maxReplicas": 4,
                                   "lagPerReplica": 100}}),
        ),
    )
    .await?;
    let groups: Api<ConsumerGroup> = Api::namespaced(client.clone(), ns);
    wait_status(&groups, &name, "steady", Duration::from_secs(120), |g| {
        let st = g.status.clone().unwrap_or_default();
        g.has_condition("ScalingActive", "True", None) && st.total_lag == Some(0) && st.members.unwrap_or(0) >= 1
    })
    .await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let (ready, scaled) = watch_scale_up(deployments.clone(), &deployment);
    tokio::time::timeout(Duration::from_secs(30), ready).await.context("the Deployment watch did not start")??;
    // Spread the runs evenly over one poll interval, so the burst does not always land at the same poll phase.
    let phase = DEFAULT_POLL.mul_f64(i as f64 / runs as f64);
    tokio::time::sleep(phase).await;

    let started = Instant::now();
    produce(&stack.producer(), &topic, &format!("burst{i}"), burst).await?;
    let produced = started.elapsed();
    let (at, scaled_to) = tokio::time::timeout(Duration::from_secs(90), scaled)
        .await
        .context("no scale-up within 90 s of the burst")??
        .context("the Deployment watch ended")?;
    let reaction = Reaction { to_scale: at - started, produce: produced, phase, scaled_to };

    // Reset: the next run gets a new topic, group and Deployment.
    drop(emulator);
    let background = DeleteParams::background();
    retry("deleting the ConsumerGroup", || groups.delete(&name, &background)).await?;
    retry("deleting the Deployment", || deployments.delete(&deployment, &background)).await?;
    Ok(reaction)
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

/// The apiserver's own metrics, through `kubectl get --raw /metrics` (`. e2e/stack/env.sh` puts kubectl on PATH).
fn apiserver_metrics() -> Option<MetricsSnapshot> {
    let out = std::process::Command::new("kubectl").args(["get", "--raw", "/metrics"]).output().ok()?;
    out.status.success().then(|| MetricsSnapshot(parse_metrics(&String::from_utf8_lossy(&out.stdout))))
}

/// Server-side applies of ConsumerGroup status between two apiserver snapshots: (count, mean seconds). Counts every
/// namespace: other tests on the stack write a few too.
fn status_applies(before: &MetricsSnapshot, after: &MetricsSnapshot) -> (f64, f64) {
    let with = [("resource", "consumergroups"), ("subresource", "status"), ("verb", "APPLY")];
    let d = |n: &str| after.sum(n, &with) - before.sum(n, &with);
    let count = d("apiserver_request_duration_seconds_count");
    let sum = d("apiserver_request_duration_seconds_sum");
    (count, if count > 0.0 { sum / count } else { 0.0 })
}

/// The 1-minute load average of the machine.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Lag collection cost
// ---------------------------------------------------------------------------------------------------------------

/// Per ConsumerGroup name: the total lag last seen in status, and since when it shows that value.
type LagSeen = Arc<Mutex<HashMap<String, (Option<i64>, Instant)>>>;

/// What a watch last saw of each ConsumerGroup's total lag, and since when.
struct LagTracker {
    seen: LagSeen,
    task: tokio::task::JoinHandle<()>,
}

impl LagTracker {
    fn start(api: Api<ConsumerGroup>) -> LagTracker {
        let seen: LagSeen = Arc::default();
        let s = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
            while let Some(ev) = stream.next().await {
                let now = Instant::now();
                let Ok(mut map) = s.lock() else { return };
                match ev {
                    Ok(watcher::Event::Apply(g) | watcher::Event::InitApply(g)) => {
                        let lag = g.status.as_ref().and_then(|s| s.total_lag);
                        let entry = map.entry(g.name_any()).or_insert((lag, now));
                        if entry.0 != lag {
                            *entry = (lag, now);
                        }
                    }
                    Ok(watcher::Event::Delete(g)) => {
                        map.remove(&g.name_any());
                    }
                    _ => {}
                }
            }
        });
        LagTracker { seen, task }
    }

    /// How many groups show `lag`, and the first and last time one of them started showing it.
    fn showing(&self, lag: i64) -> (usize, Option<Instant>, Option<Instant>) {
        let map = self.seen.lock().expect("tracker lock");
        let times: Vec<Instant> = map.values().filter(|(l, _)| *l == Some(lag)).map(|(_, t)| *t).collect();
        (times.len(), times.iter().min().copied(), times.iter().max().copied())
    }

    /// Waits until `n` groups show `lag`; returns the first and last time one started showing it.
    async fn wait_showing(&self, n: usize, lag: i64, timeout: Duration) -> anyhow::Result<(Instant, Instant)> {
        let what = format!("{n} groups showing lag {lag} (how many, since when first and last)");
        let showing = || async { Ok(self.showing(lag)) };
        let patience = Patience::new(timeout, Duration::from_millis(50));
        match wait_for(&what, patience, showing, |(count, ..)| *count >= n).await? {
            (_, Some(first), Some(last)) => Ok((first, last)),
            seen => bail!("{what}: {seen:?}"),
        }
    }
}

impl Drop for LagTracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The reconcile-duration histogram of one kind between two snapshots: count, mean and a p95 interpolated
/// linearly inside its bucket.
struct Durations {
    count: f64,
    mean: f64,
    p95: Option<f64>,
}

fn reconcile_durations(before: &MetricsSnapshot, after: &MetricsSnapshot, kind: &str) -> Durations {
    let name = "tributary_reconcile_duration_seconds";
    let with = [("kind", kind)];
    let delta = |n: &str| after.sum(n, &with) - before.sum(n, &with);
    let count = delta(&format!("{name}_count"));
    let sum = delta(&format!("{name}_sum"));
    let bucket = format!("{name}_bucket");
    let cumulative = |m: &MetricsSnapshot| -> BTreeMap<String, f64> {
        m.0.iter()
            .filter(|s| s.name == bucket && s.labels.get("kind").map(String::as_str) == Some(kind))
            .filter_map(|s| Some((s.labels.get("le")?.clone(), s.value)))
            .collect()
    };
    let (b, a) = (cumulative(before), cumulative(after));
    let mut bounds: Vec<(f64, f64)> = a
        .iter()
        .filter_map(|(le, v)| {
            let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((bound, v - b.get(le).copied().unwrap_or(0.0)))
        })
        .collect();
    bounds.sort_by(|x, y| x.0.total_cmp(&y.0));
    let rank = 0.95 * count;
    let mut p95 = None;
    let mut prev = (0.0, 0.0);
    for (bound, cum) in bounds {
        if count > 0.0 && cum >= rank {
            p95 = bound.is_finite().then(|| {
                let within = if cum > prev.1 { (rank - prev.1) / (cum - prev.1) } else { 1.0 };
                prev.0 + (bound - prev.0) * within
            });
            break;
        }
        prev = (bound, cum);
    }
    Durations { count, mean: if count > 0.0 { sum / count } else { 0.0 }, p95 }
}

struct Cost {
    groups: usize,
    partitions: i32,
    /// Creating the ConsumerGroup objects until every one shows its lag.
    first_pass: Duration,
    cycles: f64,
    durations: Durations,
    errors: f64,
    calls_per_cycle: BTreeMap<String, f64>,
    latency_ms: BTreeMap<String, f64>,
    status_writes_per_cycle: f64,
    cpu_per_cycle: f64,
    leaders: usize,
    brokers: usize,
    /// Consumer groups in the whole cluster (every ListGroups answer lists a broker's share of them).
    cluster_groups: usize,
    /// From the end of a produce to every partition until every group shows the new lag: first and last group.
    fresh_first: Duration,
    fresh_all: Duration,
    rss_kb: u64,
    hwm_kb: u64,
    /// Server-side applies of ConsumerGroup status per cycle, and their mean latency in the apiserver.
    applies_per_cycle: f64,
    apply_mean: f64,
    /// The machine's 1-minute load average at the end of the window.
    load: f64,
    /// Reconciles and status writes in the window, by kind (every controller of the operator).
    reconciles_by_kind: BTreeMap<String, f64>,
    status_writes_by_kind: BTreeMap<String, f64>,
    /// Lag series still exported for this phase's groups after they were deleted.
    stale_series: usize,
}

#[allow(clippy::too_many_arguments)]
async fn cost_phase(
    stack: &Stack,
    client: &Client,
    ns: &str,
    run: &str,
    operator: &Operator,
    args: &Args,
    partitions: i32,
    made: &Made,
) -> anyhow::Result<Cost> {
    let n = args.groups;
    let prefix = format!("{run}-cost{partitions}");
    let topics: Vec<String> = (0..n).map(|i| format!("{prefix}-t{i:03}")).collect();
    let group_ids: Vec<String> = (0..n).map(|i| format!("{prefix}-g{i:03}")).collect();
    let names: Vec<String> = (0..n).map(|i| format!("p{partitions}-g{i:03}")).collect();
    made.topics.lock().unwrap().extend(topics.iter().cloned());
    made.groups.lock().unwrap().extend(group_ids.iter().cloned());

    let setup = Instant::now();
    create_topics(&stack.admin(), &topics, partitions, 1, 50).await?;
    produce_each_partition(stack, &topics, partitions, PRELOAD).await?;
    let committed = PRELOAD - COMMIT_BEHIND;
    futures::stream::iter(topics.iter().zip(&group_ids))
        .map(|(t, g)| {
            let (stack, t, g) = (stack.clone(), t.clone(), g.clone());
            async move { tokio::task::spawn_blocking(move || commit_all(&stack, &g, &t, partitions, committed)).await? }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    let (leaders, brokers) = leaders(stack, &prefix)?;
    let leaders = leaders.len();
    eprintln!(
        "  {n} topics x {partitions} partitions made, {PRELOAD} records each, offsets committed at {committed} in {}",
        secs(setup.elapsed())
    );

    let api: Api<ConsumerGroup> = Api::namespaced(client.clone(), ns);
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
    create_all::<ConsumerGroup>(client, ns, manifests, 32).await?;
    let (_, last) = tracker.wait_showing(n, lag, Duration::from_secs(300)).await?;
    let first_pass = last - started;
    eprintln!("  first pass: {n} groups created and showing lag {lag} in {}", secs(first_pass));

    // Let the first pass's status writes pass, then measure whole poll cycles.
    tokio::time::sleep(DEFAULT_POLL * 2).await;
    let pid = operator.pid();
    let before = metrics_of(operator).await?;
    let api_before = apiserver_metrics();
    let cpu_before = proc_sample(pid).map(|s| s.cpu_seconds).unwrap_or(0.0);
    tokio::time::sleep(args.window()).await;
    let after = metrics_of(operator).await?;
    let api_after = apiserver_metrics();
    let load = load_average();
    let proc = proc_sample(pid).context("the operator exited")?;
    let kind = [("kind", "ConsumerGroup")];
    let reconciles = after.sum("tributary_reconciles_total", &kind) - before.sum("tributary_reconciles_total", &kind);
    let errors = after.sum("tributary_reconciles_total", &[("kind", "ConsumerGroup"), ("result", "Error")])
        - before.sum("tributary_reconciles_total", &[("kind", "ConsumerGroup"), ("result", "Error")]);
    let cycles = reconciles / n as f64;
    anyhow::ensure!(cycles > 0.0, "no ConsumerGroup reconcile in the window");
    let requests = kafka_requests_delta(&before, &after);
    let calls_per_cycle = requests.iter().map(|(op, d)| (op.clone(), d / cycles)).collect();
    let latency_ms = requests
        .keys()
        .filter_map(|op| {
            let with = [("operation", op.as_str())];
            let d = |m: &str| after.sum(m, &with) - before.sum(m, &with);
            let count = d("tributary_kafka_request_duration_seconds_count");
            (count > 0.0).then(|| (op.clone(), 1000.0 * d("tributary_kafka_request_duration_seconds_sum") / count))
        })
        .collect();
    let status_writes =
        after.sum("tributary_status_writes_total", &kind) - before.sum("tributary_status_writes_total", &kind);
    let durations = reconcile_durations(&before, &after, "ConsumerGroup");
    let by_kind = |name: &str| -> BTreeMap<String, f64> {
        let b = before.by_label(name, "kind");
        after
            .by_label(name, "kind")
            .into_iter()
            .map(|(k, v)| (k.clone(), v - b.get(&k).copied().unwrap_or(0.0)))
            .filter(|(_, d)| *d != 0.0)
            .collect()
    };
    let reconciles_by_kind = by_kind("tributary_reconciles_total");
    let status_writes_by_kind = by_kind("tributary_status_writes_total");
    let (applies, apply_mean) = match (&api_before, &api_after) {
        (Some(b), Some(a)) => status_applies(b, a),
        _ => (0.0, 0.0),
    };
    let cluster_groups = stack.admin().inner().fetch_group_list(None, Duration::from_secs(30))?.groups().len();

    // Freshness: one more record on every partition; every group's lag grows by its partition count.
    produce_each_partition(stack, &topics, partitions, 1).await?;
    let produced = Instant::now();
    let (first, last) = tracker.wait_showing(n, lag + i64::from(partitions), Duration::from_secs(120)).await?;
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
        .filter(|s| s.labels.get("namespace").map(String::as_str) == Some(ns))
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

// ---------------------------------------------------------------------------------------------------------------

/// Kafka topics and groups made, for the clean-up.
#[derive(Default)]
struct Made {
    topics: Mutex<Vec<String>>,
    groups: Mutex<Vec<String>>,
}

fn print_reaction(reactions: &[Reaction], args: &Args) {
    let to_scale: Vec<Duration> = reactions.iter().map(|r| r.to_scale).collect();
    let produce: Vec<Duration> = reactions.iter().map(|r| r.produce).collect();
    println!();
    println!(
        "Reaction: burst of {} records to the /scale patch, {} runs, default poll (5 s), lagPerReplica 100, 4 partitions",
        args.burst,
        reactions.len()
    );
    println!();
    println!("| run | poll phase delay | produce (acks) | burst → /scale | scaled 1 → |");
    println!("|---|---|---|---|---|");
    for (i, r) in reactions.iter().enumerate() {
        println!("| {i} | {} | {} | {} | {} |", secs(r.phase), secs(r.produce), secs(r.to_scale), r.scaled_to);
    }
    println!();
    println!("| metric | p50 | p95 | max | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| burst start → /scale patch | {} | {} | {} | p95 < 10 s |",
        secs(percentile(&to_scale, 50.0)),
        secs(percentile(&to_scale, 95.0)),
        secs(percentile(&to_scale, 100.0))
    );
    println!(
        "| producing the burst (all acks) | {} | {} | {} | |",
        secs(percentile(&produce, 50.0)),
        secs(percentile(&produce, 95.0)),
        secs(percentile(&produce, 100.0))
    );
    println!(
        "KEDA with defaults: pollingInterval 30 s (0 → 1) and the HPA's 15 s sync period (1 → N, metrics read from \
         KEDA's metrics server at that moment), so 15-30 s before the HPA acts."
    );
}

fn print_cost(costs: &[Cost], window: Duration) {
    println!();
    println!(
        "Lag collection cost: one operator, one namespace, default poll (5 s); every group on a topic of its own \
         (RF 1, 3 brokers); measured over {} s",
        window.as_secs()
    );
    println!();
    println!(
        "| groups × partitions | reconcile mean | reconcile p95 (buckets) | first pass (create → all statuses) | \
         change → first / all fresh | cycles in window | errors | status writes / cycle (apiserver apply latency) | \
         CPU / cycle | VmRSS | VmHWM | load avg |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for c in costs {
        println!(
            "| {} × {} | {:.1} ms | {} | {} | {} / {} | {:.1} | {} | {:.0} ({:.0} ms) | {:.2} s | {:.1} MB | {:.1} MB | {:.1} |",
            c.groups,
            c.partitions,
            c.durations.mean * 1000.0,
            c.durations.p95.map_or("> 32.8 s".to_string(), |p| format!("{:.1} ms", p * 1000.0)),
            secs(c.first_pass),
            secs(c.fresh_first),
            secs(c.fresh_all),
            c.cycles,
            c.errors,
            c.status_writes_per_cycle,
            c.apply_mean * 1000.0,
            c.cpu_per_cycle,
            c.rss_kb as f64 / 1024.0,
            c.hwm_kb as f64 / 1024.0,
            c.load,
        );
    }
    for c in costs {
        println!(
            "{} × {}: the apiserver served {:.0} ConsumerGroup status applies per cycle (every namespace), {:.0} ms \
             each on average",
            c.groups,
            c.partitions,
            c.applies_per_cycle,
            c.apply_mean * 1000.0
        );
        println!(
            "{} × {}: in the window, reconciles by kind {:?}, status writes by kind {:?}",
            c.groups, c.partitions, c.reconciles_by_kind, c.status_writes_by_kind
        );
    }
    let ops: BTreeSet<&String> = costs.iter().flat_map(|c| c.calls_per_cycle.keys()).collect();
    println!();
    let header: Vec<String> = costs.iter().map(|c| format!("{} × {}", c.groups, c.partitions)).collect();
    println!("| Kafka admin calls per cycle (mean latency) | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(costs.len()));
    for op in ops {
        let cells: Vec<String> = costs
            .iter()
            .map(|c| {
                let calls = c.calls_per_cycle.get(op).copied().unwrap_or(0.0);
                let lat = c.latency_ms.get(op).map_or(String::new(), |l| format!(" ({l:.0} ms)"));
                format!("{calls:.1}{lat}")
            })
            .collect();
        println!("| {op} | {} |", cells.join(" | "));
    }
    let wire: Vec<String> = costs
        .iter()
        .map(|c| {
            let calls = c.calls_per_cycle.get("list_offsets").copied().unwrap_or(0.0);
            format!("{:.1} ({} leader brokers)", calls * c.leaders as f64, c.leaders)
        })
        .collect();
    println!("| ListOffsets wire requests (one per leader broker per call) | {} |", wire.join(" | "));
    let describe: Vec<String> = costs
        .iter()
        .map(|c| {
            let calls = c.calls_per_cycle.get("describe_consumer_groups").copied().unwrap_or(0.0);
            format!(
                "{calls:.1} calls for {} groups ({} brokers, {} groups in the cluster)",
                c.groups, c.brokers, c.cluster_groups
            )
        })
        .collect();
    println!(
        "| DescribeConsumerGroups calls per cycle (batched across groups; librdkafka then asks each group's coordinator) | {} |",
        describe.join(" | ")
    );
    println!();
    for c in costs {
        if c.stale_series > 0 {
            println!(
                "after deleting the {} × {} groups, /metrics still exports tributary_consumergroup_lag_messages for {} of them",
                c.groups, c.partitions, c.stale_series
            );
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.runs > 0 && args.groups > 0 && !args.partitions.is_empty(), "nothing to measure");
    anyhow::ensure!(args.bin.exists(), "{} missing: cargo build --release -p tributary", args.bin.display());
    let (stack, client, ns) = prepare("bench-lag").await;
    let run = unique("benchlag");
    eprintln!("bench_lag: namespace {}, operator {}, Kafka names {run}-*", ns.name, args.bin.display());
    let operator = Operator::start_with(&stack, "bench-lag", &args.bin, &["--namespace", &ns.name], "info");
    operator.wait_ready().await;
    apply::<KafkaConnection>(&client, &ns.name, manifest::kafka_connection("main", &stack.bootstrap)).await?;
    let conns: Api<KafkaConnection> = Api::namespaced(client.clone(), &ns.name);
    wait_condition(&conns, "main", "Ready", "True", None, Duration::from_secs(60)).await?;

    let made = Made::default();
    let result = measure(&stack, &client, &ns.name, &run, &operator, &args, &made).await;

    // Clean up whatever happened: the operator, the namespace (on drop), the Kafka groups and topics.
    let cleanup = Instant::now();
    drop(operator);
    let admin = stack.admin();
    let groups = made.groups.lock().unwrap().clone();
    let deleted_groups = delete_groups(&admin, &groups).await.unwrap_or(0);
    let mut topics = made.topics.lock().unwrap().clone();
    topics.extend(kafka_topic_names(&stack, &run).unwrap_or_default());
    topics.sort();
    topics.dedup();
    delete_kafka_topics(&stack, &topics).await?;
    drop(ns);
    let left = kafka_topic_names(&stack, &run)?.len();
    eprintln!(
        "cleanup: namespace deleted, {} Kafka topics and {deleted_groups} groups deleted ({left} topics still listed, \
         deletion is asynchronous) in {}",
        topics.len(),
        secs(cleanup.elapsed())
    );
    let (reactions, costs) = result?;
    if !reactions.is_empty() {
        print_reaction(&reactions, &args);
    }
    if !costs.is_empty() {
        print_cost(&costs, args.window());
    }
    Ok(())
}

async fn measure(
    stack: &Stack,
    client: &Client,
    ns: &str,
    run: &str,
    operator: &Operator,
    args: &Args,
    made: &Made,
) -> anyhow::Result<(Vec<Reaction>, Vec<Cost>)> {
    let mut reactions = vec![];
    if !args.skip_reaction {
        for i in 0..args.runs {
            let r = reaction_run(stack, client, ns, run, i, args.runs, args.burst, args.rate, made).await?;
            eprintln!(
                "reaction run {i}: burst → /scale {} (produce {}, phase delay {}), scaled 1 → {}",
                secs(r.to_scale),
                secs(r.produce),
                secs(r.phase),
                r.scaled_to
            );
            reactions.push(r);
        }
    }
    let mut costs = vec![];
    if !args.skip_cost {
        for &p in &args.partitions {
            eprintln!("cost: {} groups x {p} partitions", args.groups);
            let c = cost_phase(stack, client, ns, run, operator, args, p, made).await?;
            eprintln!(
                "  reconcile mean {:.1} ms over {:.0} reconciles ({:.1} cycles); calls per cycle {:?}",
                c.durations.mean * 1000.0,
                c.durations.count,
                c.cycles,
                c.calls_per_cycle
            );
            costs.push(c);
        }
    }
    Ok((reactions, costs))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Args;

    #[test]
    fn the_flags_of_the_readme_and_their_defaults() {
        Args::command().debug_assert();
        let a = Args::try_parse_from(["bench_lag"]).unwrap();
        assert_eq!((a.runs, a.burst, a.rate, a.groups, a.window_seconds), (10, 2000, 100, 200, 60));
        assert_eq!(a.partitions, vec![16, 4]);
        assert!(!a.skip_reaction && !a.skip_cost);
        let readme = "bench_lag --runs 10 --burst 2000 --groups 200 --partitions 16,4 --window 60";
        let a = Args::try_parse_from(readme.split(' ')).unwrap();
        assert_eq!(
            (a.runs, a.burst, a.groups, a.partitions.clone(), a.window_seconds),
            (10, 2000, 200, vec![16, 4], 60)
        );
        let a = Args::try_parse_from(["bench_lag", "--partitions", "8, 2", "--skip-reaction", "--bin", "/x"]).unwrap();
        assert_eq!((a.partitions, a.skip_reaction, a.skip_cost, a.bin), (vec![8, 2], true, false, "/x".into()));
        assert!(Args::try_parse_from(["bench_lag", "--unknown"]).is_err());
    }
}
