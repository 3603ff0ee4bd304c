//! The tables the bench prints at the end, in Markdown.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::cost::Cost;
use crate::keda::KedaCost;
use crate::reaction::{MAX_REPLICAS, MIN_REPLICAS, PARTITIONS, Reaction, Scaler};
use crate::units::secs;

/// Nearest-rank percentile of `samples` (sorted here).
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

/// The reaction table of one scaler: every run, then p50, p95 and max.
pub fn print_reaction(scaler: Scaler, reactions: &[Reaction], missed: usize, burst: usize, period: Duration) {
    if reactions.is_empty() {
        println!();
        println!(
            "Reaction, {}: none of {missed} runs scaled up within 90 s of the burst (stderr has why)",
            scaler.label()
        );
        return;
    }
    let to_scale: Vec<Duration> = reactions.iter().map(|r| r.to_scale).collect();
    let produce: Vec<Duration> = reactions.iter().map(|r| r.produce).collect();
    let spread = match scaler {
        Scaler::Tributary => "the operator's lag tick",
        Scaler::Keda { .. } => "the HPA's sync period",
    };
    println!();
    println!(
        "Reaction, {}: burst of {burst} records to the /scale patch, {} runs spread over {spread} ({}), \
         lagPerReplica 100, {PARTITIONS} partitions, replicas {MIN_REPLICAS}..{MAX_REPLICAS}",
        scaler.label(),
        reactions.len() + missed,
        secs(period)
    );
    if missed > 0 {
        println!();
        println!(
            "{missed} of {} runs did not scale up within 90 s of the burst (stderr has why); the figures below are the other runs'",
            reactions.len() + missed
        );
    }
    println!();
    println!("| run | phase delay | produce (acks) | burst → /scale | scaled 1 → |");
    println!("|---|---|---|---|---|");
    for (i, r) in reactions.iter().enumerate() {
        println!("| {i} | {} | {} | {} | {} |", secs(r.phase), secs(r.produce), secs(r.to_scale), r.scaled_to);
    }
    println!();
    println!("| metric | p50 | p95 | max | target |");
    println!("|---|---|---|---|---|");
    let target = if scaler == Scaler::Tributary { "p95 ≤ 1.5 s at the 1 s tick" } else { "" };
    println!(
        "| burst start → /scale patch | {} | {} | {} | {target} |",
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
}

/// One run's replicas after the burst: `1 → 4 @0.9 s → 1 @12.3 s`.
pub fn trajectory(r: &Reaction) -> String {
    let mut steps = r.trajectory.iter();
    let mut out = steps.next().map_or(String::from("?"), |(_, n)| n.to_string());
    for (t, n) in steps {
        out.push_str(&format!(" → {n} @{}", secs(*t)));
    }
    out
}

/// The trajectories of every scaler side by side, run by run, then the scale-up steps and reversals per scaler.
pub fn print_trajectories(all: &[(Scaler, Vec<Reaction>, usize)], follow: Duration) {
    println!();
    println!(
        "Replica trajectories: spec.replicas from the burst start until {} after it (time since the burst start)",
        secs(follow)
    );
    println!();
    let labels: Vec<String> = all.iter().map(|(s, ..)| s.label()).collect();
    println!("| run | {} |", labels.join(" | "));
    println!("|---|{}", "---|".repeat(all.len()));
    let runs = all.iter().map(|(_, r, _)| r.len()).max().unwrap_or(0);
    for i in 0..runs {
        let cells: Vec<String> = all.iter().map(|(_, rs, _)| rs.get(i).map_or(String::new(), trajectory)).collect();
        println!("| {i} | {} |", cells.join(" | "));
    }
    println!();
    println!(
        "| scaler | runs reaching {MAX_REPLICAS} | mean steps up to the peak | runs with a reversal (flapping) | reversals |"
    );
    println!("|---|---|---|---|---|");
    for (scaler, rs, missed) in all {
        let at_max = rs.iter().filter(|r| r.trajectory.iter().any(|(_, n)| *n == MAX_REPLICAS)).count();
        let steps_up: usize = rs.iter().map(steps_to_peak).sum();
        let flapping = rs.iter().filter(|r| r.reversals() > 0).count();
        let reversals: usize = rs.iter().map(Reaction::reversals).sum();
        println!(
            "| {} | {at_max} / {} | {:.1} | {flapping} | {reversals} |",
            scaler.label(),
            rs.len() + missed,
            steps_up as f64 / rs.len().max(1) as f64
        );
    }
}

/// Increases of spec.replicas before the trajectory's first peak.
fn steps_to_peak(r: &Reaction) -> usize {
    let peak = r.trajectory.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let mut steps = 0;
    for w in r.trajectory.windows(2) {
        if w[1].1 > w[0].1 {
            steps += 1;
        }
        if w[1].1 == peak {
            break;
        }
    }
    steps
}

/// KEDA's cost: its operator and metrics API server together.
pub fn print_keda_cost(costs: &[KedaCost], polling_interval: u32) {
    println!();
    println!(
        "KEDA's cost: one ScaledObject (Kafka trigger, pollingInterval {polling_interval} s) and one Deployment at 1 \
         replica per group, every group on a topic of its own with lag on every partition; the HPA controller reads \
         each metric every 15 s"
    );
    println!();
    println!(
        "| ScaledObjects × partitions | first pass (create → every HPA read its metric) | CPU s per second of the \
         window (operator + metrics server) | VmRSS operator / metrics server | VmHWM operator / metrics server | \
         load avg |"
    );
    println!("|---|---|---|---|---|---|");
    for c in costs {
        println!(
            "| {} × {} | {} | {:.3} (over {} s) | {:.1} MB / {:.1} MB | {:.1} MB / {:.1} MB | {:.1} |",
            c.groups,
            c.partitions,
            secs(c.first_pass),
            c.cpu_seconds / c.window.as_secs_f64(),
            c.window.as_secs(),
            c.operator_rss_kb as f64 / 1024.0,
            c.adapter_rss_kb as f64 / 1024.0,
            c.operator_hwm_kb as f64 / 1024.0,
            c.adapter_hwm_kb as f64 / 1024.0,
            c.load
        );
    }
}

/// The cost tables: per phase, then Kafka admin calls per cycle by operation.
pub fn print_cost(costs: &[Cost], window: Duration, period: Duration) {
    println!();
    println!(
        "Lag collection cost: one operator, one namespace, period {}; every group on a topic of its own (RF 1); \
         measured over {} s",
        secs(period),
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
    println!();
    row("per second of the window (= per tick at 1 s)", costs, |c| format!("{} × {}", c.groups, c.partitions));
    println!("|---|{}", "---|".repeat(costs.len()));
    row("Kafka requests per second, all operations", costs, |c| {
        format!("{:.1}", c.requests_total.values().sum::<f64>() / c.window.as_secs_f64())
    });
    let ops: BTreeSet<&String> = costs.iter().flat_map(|c| c.requests_total.keys()).collect();
    for op in &ops {
        row(&format!("`{op}` per second"), costs, |c| {
            format!("{:.2}", c.requests_total.get(*op).copied().unwrap_or(0.0) / c.window.as_secs_f64())
        });
    }
    row("ConsumerGroup status writes per minute", costs, |c| {
        format!("{:.0}", c.status_writes_total * 60.0 / c.window.as_secs_f64())
    });
    println!();
    row("Kafka admin calls per cycle (mean latency)", costs, |c| format!("{} × {}", c.groups, c.partitions));
    println!("|---|{}", "---|".repeat(costs.len()));
    for op in ops {
        row(op, costs, |c| {
            let lat = c.latency_ms.get(op).map_or(String::new(), |l| format!(" ({l:.0} ms)"));
            format!("{:.1}{lat}", c.calls(op))
        });
    }
    // The librdkafka calls of builds before the lag tick (`--bin <older build> --period 5`); a tick makes none.
    if costs.iter().any(|c| c.calls("list_offsets") > 0.0 || c.calls("describe_consumer_groups") > 0.0) {
        row("ListOffsets wire requests (one per leader broker per call)", costs, |c| {
            format!("{:.1} ({} leader brokers)", c.calls("list_offsets") * c.leaders as f64, c.leaders)
        });
        let describe = "DescribeConsumerGroups calls per cycle (batched across groups; librdkafka then asks each \
                        group's coordinator)";
        row(describe, costs, |c| {
            format!(
                "{:.1} calls for {} groups ({} brokers, {} groups in the cluster)",
                c.calls("describe_consumer_groups"),
                c.groups,
                c.brokers,
                c.cluster_groups
            )
        });
    }
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

/// A table row: `title`, then one cell per cost phase.
fn row(title: &str, costs: &[Cost], cell: impl Fn(&Cost) -> String) {
    let cells: Vec<String> = costs.iter().map(cell).collect();
    println!("| {title} | {} |", cells.join(" | "));
}
