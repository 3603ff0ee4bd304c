use super::*;

const SECOND: i64 = 1000;

fn lag_config(per_replica: i64) -> AutoscaleConfig {
    let mut config = AutoscaleConfig::new(1, 50, 0, ScalingTarget::LagPerReplica(per_replica));
    config.scale_up.max_step = Some(100);
    config
}

fn drain_config(seconds: f64) -> AutoscaleConfig {
    let mut config = AutoscaleConfig::new(1, 100, 0, ScalingTarget::MaxDrainSeconds(seconds));
    config.scale_up.max_step = Some(100);
    config
}

/// Rates over the 30 s before `now_s`.
fn rates(now_s: i64, produce_per_s: f64, consume_per_s: f64) -> Option<Rates> {
    Some(Rates { produce_per_s, consume_per_s, window_start_ms: (now_s - 30) * SECOND })
}

fn observe(now_s: i64, lag: i64, rates: Option<Rates>, current_replicas: i32) -> Observation {
    Observation { now_ms: now_s * SECOND, lag, rates, current_replicas, stable: true }
}

/// A state that has followed the group for an hour without a change, and learned nothing yet.
fn watched_for_an_hour() -> AutoscaleState {
    AutoscaleState { last_change_ms: Some(-3600 * SECOND), ..AutoscaleState::default() }
}

/// A state that already learned c.
fn knowing(per_replica: f64) -> AutoscaleState {
    AutoscaleState {
        per_replica_throughput: Some(per_replica),
        best_per_replica_throughput: Some(per_replica),
        ..watched_for_an_hour()
    }
}

#[test]
fn lag_per_replica_sizing_and_clamping() {
    // (lag, current, min, max, partitions, allow idle, desired, limited, why)
    type Case = (i64, i32, i32, i32, i32, bool, i32, Option<Limit>, &'static str);
    let cases: &[Case] = &[
        (12_000, 3, 1, 50, 0, false, 12, None, "ceil(12000 / 1000)"),
        (12_001, 3, 1, 50, 0, false, 13, None, "rounded up"),
        (30_000, 3, 1, 20, 24, false, 20, Some(Limit::AtMax), "capped by max"),
        (30_000, 3, 1, 50, 24, false, 24, Some(Limit::AtPartitionCount), "capped by partitions"),
        (30_000, 3, 1, 50, 24, true, 30, None, "idle consumers allowed"),
        (30_000, 3, 30, 50, 24, false, 30, None, "an explicit min wins over the partition cap"),
        (0, 2, 2, 50, 0, false, 2, Some(Limit::AtMin), "no lag, held at min"),
        (-5, 2, 2, 50, 0, false, 2, Some(Limit::AtMin), "negative lag counts as none"),
        (5000, 5, 1, 50, 0, false, 5, None, "on target"),
    ];
    for &(lag, current, min, max, partitions, allow_idle, desired, limited, why) in cases {
        let mut config = lag_config(1000);
        (config.min_replicas, config.max_replicas, config.partitions) = (min, max, partitions);
        config.allow_idle_consumers = allow_idle;
        let decision = desired_replicas(&config, &observe(0, lag, None, current), &mut AutoscaleState::default());
        assert_eq!((decision.desired, decision.limited), (desired, limited), "{why}: {}", decision.reason);
    }
    let decision = desired_replicas(&lag_config(1000), &observe(0, 12_000, None, 3), &mut AutoscaleState::default());
    assert!(decision.reason.starts_with("lag 12000 > 3 x 1000 per replica"), "{}", decision.reason);
    assert!(decision.reason.contains("scale up 3 -> 12"), "{}", decision.reason);
}

#[test]
fn activation_lag_gates_zero_and_one() {
    let mut config = lag_config(1000);
    (config.min_replicas, config.activation_lag) = (0, 100);
    // (current, lag, desired, why) from a fresh state
    let cases: &[(i32, i64, i32, &str)] = &[
        (0, 0, 0, "asleep, nothing to read"),
        (0, 100, 0, "asleep, lag at the activation lag"),
        (0, 101, 1, "lag above the activation lag wakes one replica"),
        (0, 5_000, 5, "a big lag wakes more at once"),
    ];
    for &(current, lag, desired, why) in cases {
        let decision = desired_replicas(&config, &observe(0, lag, None, current), &mut AutoscaleState::default());
        assert_eq!(decision.desired, desired, "{why}: {}", decision.reason);
    }
    // Rate-aware target: records still arrive, but lag at or under the activation lag keeps it asleep.
    let mut drain = drain_config(60.0);
    (drain.min_replicas, drain.activation_lag) = (0, 100);
    let decision = desired_replicas(&drain, &observe(30, 80, rates(30, 2.0, 0.0), 0), &mut AutoscaleState::default());
    assert_eq!(decision.desired, 0, "{}", decision.reason);

    // Awake, lag back under the activation lag: to zero only after the scale-down window.
    let mut state = AutoscaleState::default();
    assert_eq!(desired_replicas(&config, &observe(0, 500, None, 0), &mut state).desired, 1);
    for now_s in (5..=300).step_by(5) {
        let decision = desired_replicas(&config, &observe(now_s, 50, None, 1), &mut state);
        assert_eq!(decision.desired, 1, "t = {now_s} s: {}", decision.reason);
    }
    assert_eq!(desired_replicas(&config, &observe(305, 50, None, 1), &mut state).desired, 0);
    // Asleep right after a scale to zero, while the burst that came before still shows in the produce rate: new lag
    // above the activation lag wakes it at the next poll (no rebalance of zero consumers to wait for).
    let mut state = AutoscaleState::default();
    assert_eq!(desired_replicas(&config, &observe(0, 4_000, rates(0, 130.0, 0.0), 0), &mut state).desired, 4);
    for now_s in (5..=305).step_by(5) {
        desired_replicas(&config, &observe(now_s, 0, rates(now_s, 130.0, 130.0), 4), &mut state);
    }
    let asleep = desired_replicas(&config, &observe(310, 0, rates(310, 130.0, 130.0), 4), &mut state);
    assert_eq!(asleep.desired, 0, "{}", asleep.reason);
    let woken = desired_replicas(&config, &observe(315, 150, rates(315, 130.0, 0.0), 0), &mut state);
    assert_eq!(woken.desired, 1, "woken at the next poll: {}", woken.reason);
    // With min 1 it never sleeps.
    config.min_replicas = 1;
    let mut state = AutoscaleState::default();
    for now_s in (0..=400).step_by(5) {
        assert_eq!(desired_replicas(&config, &observe(now_s, 0, None, 1), &mut state).desired, 1);
    }
}

#[test]
fn scale_down_waits_for_the_stabilization_window() {
    let config = lag_config(1000);
    let mut state = AutoscaleState::default();
    // (time, lag, current, desired)
    let steps: &[(i64, i64, i32, i32)] = &[
        (0, 10_000, 10, 10),
        (5, 2000, 10, 10),
        (100, 6000, 10, 10), // a spike inside the window
        (200, 2000, 10, 10),
        (300, 2000, 10, 10), // the t = 0 recommendation (10) is still in the window
        (305, 2000, 10, 6),  // the highest over (5 s, 305 s] is the spike's 6
        (405, 2000, 6, 2),   // the spike left the window
    ];
    for &(now_s, lag, current, desired) in steps {
        let decision = desired_replicas(&config, &observe(now_s, lag, None, current), &mut state);
        assert_eq!(decision.desired, desired, "t = {now_s} s: {}", decision.reason);
    }
    // Up is at once.
    let decision = desired_replicas(&config, &observe(410, 9000, None, 2), &mut state);
    assert_eq!(decision.desired, 9, "{}", decision.reason);
}

#[test]
fn max_step_bounds_each_change() {
    // (current, lag, scale-up max step, scale-down max step, desired, why)
    type Case = (i32, i64, Option<i32>, Option<i32>, i32, &'static str);
    let cases: &[Case] = &[
        (2, 20_000, None, None, 6, "default up: +4 when doubling adds fewer"),
        (10, 40_000, None, None, 20, "default up: doubling"),
        (0, 20_000, None, None, 4, "from zero: +4"),
        (2, 20_000, Some(1), None, 3, "explicit up step"),
        (20, 0, None, None, 1, "default down: unlimited, to min"),
        (20, 0, None, Some(5), 15, "explicit down step"),
    ];
    for &(current, lag, up_step, down_step, desired, why) in cases {
        let mut config = lag_config(1000);
        config.scale_up.max_step = up_step;
        config.scale_down = ScalingRules { stabilization: Duration::ZERO, max_step: down_step };
        let decision = desired_replicas(&config, &observe(0, lag, None, current), &mut AutoscaleState::default());
        assert_eq!(decision.desired, desired, "{why}: {}", decision.reason);
    }
}

#[test]
fn max_drain_sizing() {
    // maxDrainSeconds 60, 15 s rebalance, 300 s scale-down window, c = 5000/s.
    // (current, lag, λ, desired, why)
    let cases: &[(i32, i64, f64, i32, &str)] = &[
        (1, 0, 30_000.0, 7, "keep up with 30000/s: 6, plus the rebalance's 450000 over 300 s: 7"),
        (1, 150_000, 30_000.0, 7, "5 s of arrivals is in flight, not a backlog"),
        (1, 1_200_000, 30_000.0, 10, "drain 1050000 in 60 s: +3.5, plus the rebalance: 9.8"),
        (7, 100_000, 30_000.0, 7, "100000 is in flight, 7 keep up: no change"),
        (10, 0, 30_000.0, 7, "a scale-down must also absorb its rebalance: 7, not 6"),
        (3, 0, 0.0, 1, "nothing arrives, nothing to drain"),
    ];
    for &(current, lag, produce, desired, why) in cases {
        let mut config = drain_config(60.0);
        config.scale_down.stabilization = Duration::from_secs(300);
        let mut state = knowing(5000.0);
        // Only this one recommendation in the window, so a scale-down is not held back by history.
        let consume = produce.min(5000.0 * f64::from(current));
        let decision = desired_replicas(&config, &observe(60, lag, rates(60, produce, consume), current), &mut state);
        assert_eq!(decision.desired, desired, "{why}: {}", decision.reason);
    }
    let decision = desired_replicas(
        &drain_config(60.0),
        &observe(60, 1_200_000, rates(60, 30_000.0, 5000.0), 1),
        &mut knowing(5000.0),
    );
    assert!(decision.reason.starts_with("arrivals 30000/s + lag 1200000 drained in 60 s need 10 x 5000/s"));
}

#[test]
fn max_drain_falls_back_when_throughput_is_unknown() {
    let mut config = drain_config(60.0);
    config.min_replicas = 0;
    // (current, lag, rates, desired, why)
    type Case = (i32, i64, Option<Rates>, i32, &'static str);
    let cases: &[Case] = &[
        (3, 500_000, None, 3, "no rates yet: keep the count and measure"),
        (0, 500_000, None, 1, "no rates at zero replicas: wake one"),
        (0, 500_000, rates(30, 10_000.0, 0.0), 1, "nothing consumed yet: wake one"),
        (2, 100, rates(30, 8000.0, 8000.0), 2, "consume rate per replica as a lower bound: 4000/s"),
    ];
    for &(current, lag, rates, desired, why) in cases {
        let decision = desired_replicas(&config, &observe(30, lag, rates, current), &mut AutoscaleState::default());
        assert_eq!(decision.desired, desired, "{why}: {}", decision.reason);
    }
}

#[test]
fn throughput_saturated_holds_scale_up() {
    let mut config = drain_config(30.0);
    config.max_replicas = 50;
    let mut state = watched_for_an_hour();
    // 4 replicas consume 20000/s (5000 each) and fall behind 30000/s arrivals: scale up.
    let decision = desired_replicas(&config, &observe(0, 300_000, rates(0, 30_000.0, 20_000.0), 4), &mut state);
    let scaled = decision.desired;
    assert!(scaled > 4, "{}", decision.reason);
    // The new replicas consume no more in total (the database behind them is the limit). Until a busy window
    // has been measured after the rebalance, nothing is known.
    for now_s in (5..45).step_by(5) {
        desired_replicas(&config, &observe(now_s, 300_000, rates(now_s, 30_000.0, 20_000.0), scaled), &mut state);
    }
    assert!(!state.is_throughput_saturated());
    // Measured after the rebalance: 20000/s over `scaled` replicas is far under 5000/s each. The lag asks for
    // more, but more would not help.
    let decision =
        desired_replicas(&config, &observe(45, 1_500_000, rates(45, 30_000.0, 20_000.0), scaled), &mut state);
    assert!(state.is_throughput_saturated());
    assert_eq!(decision.desired, scaled, "{}", decision.reason);
    assert_eq!(decision.limited, Some(Limit::ThroughputSaturated));
    assert!(decision.reason.contains("downstream bottleneck"), "{}", decision.reason);
    // The backlog is gone: the hold ends.
    let decision = desired_replicas(&config, &observe(50, 0, rates(50, 20_000.0, 20_000.0), scaled), &mut state);
    assert!(!state.is_throughput_saturated());
    assert_ne!(decision.limited, Some(Limit::ThroughputSaturated));
}

#[test]
fn a_slower_consumer_is_not_a_bottleneck() {
    // Each replica slowed to 2500/s before the scale-up; after it, each still does 2500/s: scale-up helped.
    let mut config = drain_config(30.0);
    config.max_replicas = 50;
    let mut state = knowing(5000.0);
    // Backlogged since t = 0; at t = 30 the whole window was busy: c = 2500/s is learned.
    desired_replicas(&config, &observe(0, 200_000, rates(0, 20_000.0, 15_000.0), 6), &mut state);
    state.last_desired = Some(6);
    state.last_change_ms = None;
    let decision = desired_replicas(&config, &observe(30, 400_000, rates(30, 20_000.0, 15_000.0), 6), &mut state);
    assert_eq!(state.per_replica_throughput(), Some(2500.0));
    let scaled = decision.desired;
    assert!(scaled > 6, "{}", decision.reason);
    let after = 2500.0 * f64::from(scaled);
    for now_s in (35..=90).step_by(5) {
        desired_replicas(&config, &observe(now_s, 400_000, rates(now_s, 20_000.0, after), scaled), &mut state);
    }
    assert!(!state.is_throughput_saturated());
}

#[test]
fn a_slowdown_is_forgotten_once_consumers_keep_up() {
    let mut config = drain_config(30.0);
    (config.min_replicas, config.max_replicas) = (4, 4);
    let mut state = knowing(5000.0);
    // Busy over the whole window at 2500/s per replica.
    desired_replicas(&config, &observe(0, 500_000, rates(0, 20_000.0, 10_000.0), 4), &mut state);
    desired_replicas(&config, &observe(30, 500_000, rates(30, 20_000.0, 10_000.0), 4), &mut state);
    assert_eq!(state.per_replica_throughput(), Some(2500.0));
    // Keeping up: 2500/s is still believed for a while ...
    let mut state_soon = state.clone();
    desired_replicas(&config, &observe(300, 0, rates(300, 8000.0, 8000.0), 4), &mut state_soon);
    assert_eq!(state_soon.per_replica_throughput(), Some(2500.0));
    // ... and after THROUGHPUT_MEMORY the best measurement is assumed again.
    desired_replicas(&config, &observe(640, 0, rates(640, 8000.0, 8000.0), 4), &mut state);
    assert_eq!(state.per_replica_throughput(), Some(5000.0));
}

#[test]
fn a_count_that_proved_too_few_is_not_returned_to() {
    let config = drain_config(60.0);
    let mut state = knowing(5000.0);
    // 7 replicas fall behind 34000/s: scale up.
    let decision = desired_replicas(&config, &observe(0, 900_000, rates(0, 34_000.0, 34_000.0), 7), &mut state);
    let scaled = decision.desired;
    assert!(scaled > 7, "{}", decision.reason);
    // Once the scale-up left the scale-down window, at 32000/s, the formula alone would go back to 7; but
    // 32000/s is not 10 % under the 34000/s that 7 could not keep up with.
    let decision = desired_replicas(&config, &observe(400, 0, rates(400, 32_000.0, 32_000.0), scaled), &mut state);
    assert_eq!(decision.desired, 8, "{}", decision.reason);
    assert!(decision.reason.contains("7 replicas could not keep up with 34000/s 400 s ago"), "{}", decision.reason);
    // At 28000/s it may.
    let decision = desired_replicas(&config, &observe(500, 0, rates(500, 28_000.0, 28_000.0), 8), &mut state);
    assert_eq!(decision.desired, 7, "{}", decision.reason);
}

#[test]
fn changes_by_someone_else_restart_the_rebalance_clock() {
    let config = lag_config(1000);
    let mut state = AutoscaleState::default();
    desired_replicas(&config, &observe(0, 3000, None, 3), &mut state);
    assert_eq!(state.last_change_ms(), None);
    desired_replicas(&config, &observe(5, 3000, None, 5), &mut state);
    assert_eq!(state.last_change_ms(), Some(5000));
}

#[test]
fn limit_words() {
    let words: Vec<&str> = [Limit::ThroughputSaturated, Limit::AtMax, Limit::AtPartitionCount, Limit::AtMin]
        .iter()
        .map(|limit| limit.as_str())
        .collect();
    assert_eq!(words, ["ThroughputSaturated", "AtMax", "AtPartitionCount", "AtMin"]);
}

/// A closed loop like the e2e saturation test's: 6 partitions, 250 records/s arriving, replicas that each manage
/// 100/s alone but share a downstream of 150/s (150/n each), consumption stopped for `rebalance_s` after every
/// change, commits every 500 ms, and the decision fed from a real [`GroupLagTracker`] every `tick_s`. Returns the
/// replica count over time and whether the hold engaged.
fn saturating_downstream(rebalance_s: f64, tick_s: f64, seconds: f64) -> (Vec<(f64, i32)>, bool) {
    use crate::decisions::lag::{GroupLagTracker, PartitionOffsets, TopicPartition};
    let mut config = AutoscaleConfig::new(1, 6, 6, ScalingTarget::MaxDrainSeconds(20.0));
    config.scale_up = ScalingRules::SCALE_UP;
    let mut state = AutoscaleState::default();
    let mut tracker = GroupLagTracker::default();
    let (step, partitions) = (0.1, 6usize);
    let mut end = vec![0.0f64; partitions];
    let mut consumed = vec![0.0f64; partitions];
    let mut committed = vec![0i64; partitions];
    let (mut replicas, mut paused_until, mut trajectory) = (1i32, rebalance_s, vec![(0.0, 1)]);
    let (mut next_tick, mut next_commit, mut t) = (tick_s, 0.5, 0.0);
    let mut saturated = false;
    while t < seconds {
        t += step;
        for e in end.iter_mut() {
            *e += 250.0 / partitions as f64 * step;
        }
        if t >= paused_until {
            let per_replica = 100f64.min(150.0 / f64::from(replicas));
            // Round-robin assignment: replica r reads partitions r, r + n, …
            for r in 0..replicas as usize {
                let mine: Vec<usize> = (r..partitions).step_by(replicas as usize).collect();
                let share = per_replica * step / mine.len() as f64;
                for p in mine {
                    consumed[p] = (consumed[p] + share).min(end[p].floor());
                }
            }
        }
        if t >= next_commit {
            next_commit += 0.5;
            for p in 0..partitions {
                committed[p] = consumed[p].floor() as i64;
            }
        }
        if t >= next_tick {
            next_tick += tick_s;
            let now_ms = (t * 1000.0).round() as i64;
            let offsets = (0..partitions).map(|p| {
                let tp = TopicPartition { topic: "t".into(), partition: p as i32 };
                (tp, PartitionOffsets { end: end[p].floor() as i64, committed: Some(committed[p]), log_start: 0 })
            });
            let lag = tracker.observe(now_ms, offsets.collect::<Vec<_>>());
            // Kafka reports the group rebalancing while consumption is stopped.
            let stable = t >= paused_until;
            let observation =
                Observation { now_ms, lag: lag.total_lag(), rates: lag.rates(), current_replicas: replicas, stable };
            let decision = desired_replicas(&config, &observation, &mut state);
            saturated |= decision.limited == Some(Limit::ThroughputSaturated);
            if decision.desired != replicas {
                replicas = decision.desired;
                paused_until = t + rebalance_s;
                trajectory.push((t, replicas));
            }
        }
    }
    (trajectory, saturated)
}

#[test]
fn a_group_kafka_reports_rebalancing_is_not_sized_on_until_its_rates_settle() {
    let config = drain_config(20.0);
    let mut state = AutoscaleState::default();
    // At first sight the consumer is still joining and seems to do 30/s against 250/s arriving: the window holds
    // its start-up.
    let joining = Observation { stable: false, ..observe(30, 5000, rates(30, 250.0, 30.0), 1) };
    let decision = desired_replicas(&config, &joining, &mut state);
    assert_eq!(decision.desired, 1, "{}", decision.reason);
    assert!(decision.reason.contains("not measured yet"), "{}", decision.reason);
    assert_eq!(state.per_replica_throughput(), None);
    // A whole window after the first look's rebalance pause: 100/s is learned and sized on.
    let decision = desired_replicas(&config, &observe(75, 9000, rates(75, 250.0, 100.0), 1), &mut state);
    assert_eq!(state.per_replica_throughput(), Some(100.0));
    assert!(decision.desired > 1, "{}", decision.reason);
}

#[test]
fn a_saturating_downstream_is_found_before_the_maximum() {
    for rebalance_s in [1.0, 3.0, 8.0, 15.0] {
        for tick_s in [1.0, 2.0, 5.0] {
            let (trajectory, saturated) = saturating_downstream(rebalance_s, tick_s, 400.0);
            let last = trajectory.last().unwrap().1;
            assert!(
                saturated && last < 6,
                "rebalance {rebalance_s} s, tick {tick_s} s: {trajectory:?} (saturated: {saturated})"
            );
        }
    }
}
