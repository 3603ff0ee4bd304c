//! Benchmark: how fast the ConsumerGroup controller reacts to a burst, and what collecting lag for many groups
//! costs — with KEDA beside it, for real, when `e2e/stack/keda up` started it.
//!
//! ```text
//! cargo build --profile dist -p tributary
//! . e2e/stack/env.sh && e2e/stack/keda up
//! cargo run --release -p tributary-e2e --bin bench_lag -- [--runs 10] [--burst 2000] [--groups 200]
//!     [--partitions 16,4] [--window 60] [--period 1] [--follow 30] [--bin target/dist/tributary]
//!     [--skip-reaction] [--skip-cost] [--skip-keda] [--keda-tuned] [--keda-partitions 16]
//! ```
//!
//! One operator (the dist build, default `$TRIBUTARY_BIN` or `target/dist/tributary`, started here with
//! `--namespace` set to a namespace of its own and its defaults: a lag tick of 1 s, or the 5 s poll of builds
//! before the tick, given as `--period 5` so the runs spread over it) runs on the stack.
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
//! 3. KEDA (v2.21, built from the Go module proxy by `e2e/stack/install-keda.sh`, running as host processes behind
//!    the apiserver's aggregation layer; see `e2e/stack/keda`): the same reaction runs, one after Tributary's in the
//!    same run, with a ScaledObject (Kafka trigger, `lagThreshold` = `lagPerReplica` = 100, min 1, max 4) at KEDA's
//!    defaults (pollingInterval 30 s; kube-controller-manager's HPA sync 15 s), the runs spread over the HPA's sync
//!    period; with `--keda-tuned`, once more with pollingInterval 1 s. Every run follows the replicas for `--follow`
//!    seconds after the burst, for both scalers. Then KEDA's cost: `--groups` ScaledObjects on topics of
//!    `--keda-partitions` partitions, CPU and RSS of its operator and metrics server over `--window`. Without KEDA
//!    running (or with `--skip-keda`), these are skipped and the report says so.
//!
//! Everything made is deleted afterwards: the namespace, the Kafka topics and the Kafka consumer groups.
//!
//! [`ReplicaEmulator`]: tributary_e2e::emulator::ReplicaEmulator

mod cost;
mod keda;
mod lag_tracker;
mod reaction;
mod report;
mod retry;
mod units;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Parser;
use kube::{Api, Client};
use tributary::api::KafkaConnection;
use tributary_e2e::kafka::delete_groups;
use tributary_e2e::scale::{delete_kafka_topics, kafka_topic_names};
use tributary_e2e::{
    Namespaced, Operator, Stack, manifest, manifest_name, prepare, server_side_apply, shipped_operator_binary, unique,
    wait_condition,
};

use crate::cost::{Cost, cost_phase};
use crate::keda::{KedaCost, KedaProcesses, keda_cost_phase};
use crate::reaction::{Outcome, Reaction, Scaler, reaction_run};
use crate::report::{print_cost, print_keda_cost, print_reaction, print_trajectories};
use crate::retry::retry;
use crate::units::secs;

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
    #[arg(long, value_name = "PATH", env = "TRIBUTARY_BIN", default_value_os_t = shipped_operator_binary())]
    bin: PathBuf,
    /// The operator's lag period in seconds: its lag tick (1 s by default), or the poll interval (5 s) of builds
    /// before the tick. The reaction runs spread over one period; the cost window starts two periods after the first
    /// pass.
    #[arg(long = "period", value_name = "SECONDS", default_value_t = 1.0)]
    period_seconds: f64,
    /// Skip the reaction runs.
    #[arg(long)]
    skip_reaction: bool,
    /// Skip the lag collection cost.
    #[arg(long)]
    skip_cost: bool,
    /// Seconds each reaction run follows the Deployment's replicas after the burst (the trajectory).
    #[arg(long = "follow", value_name = "SECONDS", default_value_t = 30)]
    follow_seconds: u64,
    /// Skip KEDA even when `e2e/stack/keda up` started it.
    #[arg(long)]
    skip_keda: bool,
    /// KEDA's pollingInterval (seconds) for its reaction runs and cost phase: its default, 30.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    keda_polling_interval: u32,
    /// After KEDA's runs at its defaults, run them again with pollingInterval 1 s (labelled tuned).
    #[arg(long)]
    keda_tuned: bool,
    /// kube-controller-manager's HPA sync period (the stack's `--horizontal-pod-autoscaler-sync-period`): KEDA's
    /// reaction runs spread over it.
    #[arg(long = "hpa-sync", value_name = "SECONDS", default_value_t = 15.0)]
    hpa_sync_seconds: f64,
    /// Partitions of each KEDA cost-phase topic: one phase per count.
    #[arg(long, value_delimiter = ',', default_value = "16", value_parser = partition_count)]
    keda_partitions: Vec<i32>,
}

/// A partition count in `--partitions 16, 4`.
fn partition_count(s: &str) -> Result<i32, String> {
    s.trim().parse().map_err(|e| format!("{s:?} is not a partition count: {e}"))
}

impl Args {
    fn window(&self) -> Duration {
        Duration::from_secs(self.window_seconds)
    }

    fn period(&self) -> Duration {
        Duration::from_secs_f64(self.period_seconds.max(0.001))
    }

    fn follow(&self) -> Duration {
        Duration::from_secs(self.follow_seconds)
    }

    fn hpa_sync(&self) -> Duration {
        Duration::from_secs_f64(self.hpa_sync_seconds.max(0.001))
    }
}

/// What every phase works with.
struct Bench<'a> {
    stack: &'a Stack,
    client: &'a Client,
    ns: &'a str,
    /// The prefix of every Kafka name made.
    run: &'a str,
    operator: &'a Operator,
    args: &'a Args,
    made: &'a Made,
    /// KEDA's processes, when it runs and is not skipped.
    keda: Option<KedaProcesses>,
}

impl Bench<'_> {
    fn api<K: Namespaced>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), self.ns)
    }

    /// Server-side applies a manifest in the bench's namespace, retrying like [`retry()`].
    async fn apply<K: Namespaced>(&self, manifest: serde_json::Value) -> anyhow::Result<K> {
        let api = self.api::<K>();
        retry(&format!("applying {}", manifest_name(&manifest)), || server_side_apply(&api, &manifest)).await
    }
}

/// Kafka topics and groups made, for the clean-up.
#[derive(Default)]
struct Made {
    topics: Mutex<Vec<String>>,
    groups: Mutex<Vec<String>>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.runs > 0 && args.groups > 0 && !args.partitions.is_empty(), "nothing to measure");
    anyhow::ensure!(args.bin.exists(), "{} missing: cargo build --profile dist -p tributary", args.bin.display());
    let (stack, client, ns) = prepare("bench-lag").await;
    let run = unique("benchlag");
    eprintln!("bench_lag: namespace {}, operator {}, Kafka names {run}-*", ns.name, args.bin.display());
    let operator = Operator::start_with(&stack, "bench-lag", &args.bin, &["--namespace", &ns.name], "info");
    operator.wait_ready().await;
    let made = Made::default();
    let keda = if args.skip_keda {
        eprintln!("bench_lag: KEDA skipped (--skip-keda)");
        None
    } else {
        match KedaProcesses::of_stack(&keda::stack_dir(&stack)) {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("bench_lag: KEDA skipped: {e:#}");
                None
            }
        }
    };
    let bench = Bench {
        stack: &stack,
        client: &client,
        ns: &ns.name,
        run: &run,
        operator: &operator,
        args: &args,
        made: &made,
        keda,
    };
    let result = measure(&bench).await;

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
    let results = result?;
    for (scaler, reactions, missed) in &results.reactions {
        let period = if *scaler == Scaler::Tributary { args.period() } else { args.hpa_sync() };
        print_reaction(*scaler, reactions, *missed, args.burst, period);
    }
    if !results.reactions.is_empty() {
        print_trajectories(&results.reactions, args.follow());
        if keda.is_none() {
            println!(
                "KEDA did not run here (not started with e2e/stack/keda up, or --skip-keda); its documented defaults: \
                 pollingInterval 30 s and the HPA's 15 s sync period, so up to 15 s before the HPA acts."
            );
        }
    }
    if !results.costs.is_empty() {
        print_cost(&results.costs, args.window(), args.period());
    }
    if !results.keda_costs.is_empty() {
        print_keda_cost(&results.keda_costs, args.keda_polling_interval);
    }
    Ok(())
}

/// What the phases measured.
#[derive(Default)]
struct Results {
    /// Per scaler, in the order run: Tributary, KEDA at its defaults, KEDA tuned.
    reactions: Vec<(Scaler, Vec<Reaction>, usize)>,
    costs: Vec<Cost>,
    keda_costs: Vec<KedaCost>,
}

/// Connects the operator to Kafka, then runs the phases.
async fn measure(b: &Bench<'_>) -> anyhow::Result<Results> {
    let args = b.args;
    b.apply::<KafkaConnection>(manifest::kafka_connection("main", &b.stack.bootstrap)).await?;
    wait_condition(&b.api::<KafkaConnection>(), "main", "Ready", "True", None, Duration::from_secs(60)).await?;
    let mut results = Results::default();
    if !args.skip_reaction {
        let mut scalers = vec![(Scaler::Tributary, args.period())];
        if b.keda.is_some() {
            scalers.push((Scaler::Keda { polling_interval: args.keda_polling_interval }, args.hpa_sync()));
            if args.keda_tuned {
                scalers.push((Scaler::Keda { polling_interval: 1 }, args.hpa_sync()));
            }
        }
        for (scaler, period) in scalers {
            let (mut reactions, mut missed) = (vec![], 0);
            for i in 0..args.runs {
                // A run that does not scale within 90 s is counted and reported, and the other runs go on.
                let r = match reaction_run(b, scaler, (i, args.runs), period).await? {
                    Outcome::Scaled(r) => r,
                    Outcome::NoScaleUp(why) => {
                        eprintln!("{} run {i}: {why}", scaler.label());
                        missed += 1;
                        continue;
                    }
                };
                eprintln!(
                    "{} run {i}: burst → /scale {} (produce {}, phase delay {}), scaled 1 → {}, trajectory {}",
                    scaler.label(),
                    secs(r.to_scale),
                    secs(r.produce),
                    secs(r.phase),
                    r.scaled_to,
                    report::trajectory(&r)
                );
                reactions.push(r);
            }
            results.reactions.push((scaler, reactions, missed));
        }
    }
    let costs = &mut results.costs;
    if !args.skip_cost {
        for &p in &args.partitions {
            eprintln!("cost: {} groups x {p} partitions", args.groups);
            let c = cost_phase(b, p).await?;
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
    if let (false, Some(keda)) = (args.skip_cost, b.keda) {
        for &p in &args.keda_partitions {
            eprintln!("KEDA cost: {} ScaledObjects x {p} partitions", args.groups);
            let c = keda_cost_phase(b, p, keda).await?;
            eprintln!(
                "  KEDA: {:.2} CPU s over {} s, RSS operator {:.1} MB + adapter {:.1} MB",
                c.cpu_seconds,
                c.window.as_secs(),
                c.operator_rss_kb as f64 / 1024.0,
                c.adapter_rss_kb as f64 / 1024.0
            );
            results.keda_costs.push(c);
        }
    }
    Ok(results)
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
        assert!(!a.skip_reaction && !a.skip_cost && !a.skip_keda && !a.keda_tuned);
        assert_eq!((a.follow_seconds, a.keda_polling_interval, a.keda_partitions.clone()), (30, 30, vec![16]));
        assert_eq!(a.hpa_sync(), std::time::Duration::from_secs(15));
        assert_eq!(a.period(), std::time::Duration::from_secs(1));
        let before = Args::try_parse_from(["bench_lag", "--period", "5", "--bin", "/tmp/before"]).unwrap();
        assert_eq!(before.period(), std::time::Duration::from_secs(5));
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
