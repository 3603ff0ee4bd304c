//! The tables the bench prints at the end, in Markdown.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::cost::Cost;
use crate::reaction::Reaction;
use crate::units::secs;

/// Nearest-rank percentile of `samples` (sorted here).
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

/// The reaction table: every run, then p50, p95 and max.
pub fn print_reaction(reactions: &[Reaction], burst: usize, period: Duration) {
    let to_scale: Vec<Duration> = reactions.iter().map(|r| r.to_scale).collect();
    let produce: Vec<Duration> = reactions.iter().map(|r| r.produce).collect();
    println!();
    println!(
        "Reaction: burst of {} records to the /scale patch, {} runs spread over the operator's period ({}), \
         lagPerReplica 100, 4 partitions",
        burst,
        reactions.len(),
        secs(period)
    );
    println!();
    println!("| run | phase delay | produce (acks) | burst → /scale | scaled 1 → |");
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
    row("ListOffsets wire requests (one per leader broker per call)", costs, |c| {
        format!("{:.1} ({} leader brokers)", c.calls("list_offsets") * c.leaders as f64, c.leaders)
    });
    let describe = "DescribeConsumerGroups calls per cycle (batched across groups; librdkafka then asks each group's \
                    coordinator)";
    row(describe, costs, |c| {
        format!(
            "{:.1} calls for {} groups ({} brokers, {} groups in the cluster)",
            c.calls("describe_consumer_groups"),
            c.groups,
            c.brokers,
            c.cluster_groups
        )
    });
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
