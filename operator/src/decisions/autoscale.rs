//! How many consumer replicas a group needs: the desired-replicas decision, made once per poll from the group's
//! lag and rates, with the state it carries from one poll to the next.
//!
//! The recommendation:
//! - `lagPerReplica` (KEDA's `lagThreshold`): `ceil(lag / lagPerReplica)`.
//! - `maxDrainSeconds` D: `ceil((λ + lag / D) / c)` for produce rate λ and per-replica throughput c: enough
//!   replicas to keep up with arrivals and drain the backlog within D. A change itself stops consumption for a
//!   rebalance pause p, during which λ·p more records queue up, so the count a change moves to is
//!   `ceil((λ·(1 + p/D) + lag / D) / c)`; the count in place is kept while it still satisfies the first formula.
//!   Without that, every change creates the lag that calls for the next one.
//! - c is learned from the consume rate μ while the consumers are busy (a backlog of at least
//!   [`BACKLOG_SECONDS`] of arrivals over the whole rate window, measured after the last change's rebalance), and
//!   raised, never lowered, by μ per consumer when they are not busy (they could do at least that much). When
//!   nothing was ever measured, it falls back to μ per consumer now (a lower bound, so it over-provisions); when
//!   even that is unknown (first poll, or zero replicas), it falls back to lag alone: keep the current count, or
//!   wake to one replica when the lag is above `activationLag`. It measures before it extrapolates.
//!
//! Then:
//! - Clamp to `[min, max]`, and to the partition count unless `allowIdleConsumers` (an explicit `min` wins).
//! - `activationLag` gates 0↔1: at zero replicas stay there while lag ≤ `activationLag`; above it wake up; with
//!   `min` 0 the recommendation is 0 whenever lag ≤ `activationLag`.
//! - Scale up at once to the lowest recommendation of the scale-up stabilization window (default 0 s: the current
//!   one), at most `maxStep` replicas at a time (default: double, or +4 if that is more, as the HPA's default).
//! - Scale down only to the highest recommendation of the scale-down stabilization window (default 300 s, as the
//!   HPA's), at most `maxStep` at a time (default: unlimited).
//! - If per-replica throughput fell by more than [`SATURATION_DROP`] after a scale-up while the backlog persists,
//!   more replicas do not help (a downstream bottleneck): hold, reported as [`Limit::ThroughputSaturated`], until
//!   the backlog is gone or the throughput recovers.
//!
//! Pure: time is the observation's `now_ms`; the state is a plain struct the caller keeps between polls.

use std::collections::VecDeque;
use std::time::Duration;

use super::lag::Rates;

/// Consumers are busy when the lag holds at least this many seconds of arrivals: a consumer that keeps up is
/// behind by what arrived since its last fetch, well under a poll interval.
pub const BACKLOG_SECONDS: f64 = 5.0;

/// A fall in per-replica throughput after a scale-up larger than this fraction means a downstream bottleneck.
/// Rate noise over a 30 s window stays well under it.
pub const SATURATION_DROP: f64 = 0.2;

/// What the replica count is sized for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScalingTarget {
    /// Lag in records per replica (KEDA's `lagThreshold`).
    LagPerReplica(i64),
    /// Seconds to drain the lag while keeping up with arrivals.
    MaxDrainSeconds(f64),
}

/// How fast replicas may change in one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalingRules {
    /// Up: the lowest recommendation over this window is used; down: the highest.
    pub stabilization: Duration,
    /// Most replicas added or removed at once; `None` means the direction's default (up: double or +4, whichever
    /// is more; down: unlimited).
    pub max_step: Option<i32>,
}

impl ScalingRules {
    /// Scale up at once, at most doubling (or +4).
    pub const SCALE_UP: Self = Self { stabilization: Duration::ZERO, max_step: None };
    /// Scale down after 300 s, any number at once.
    pub const SCALE_DOWN: Self = Self { stabilization: Duration::from_secs(300), max_step: None };
}

/// The autoscaling settings of one group.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoscaleConfig {
    /// Fewest replicas; 0 allows scale to zero.
    pub min_replicas: i32,
    pub max_replicas: i32,
    /// Partitions the group reads; consumers beyond this count sit idle. 0 when unknown (no cap).
    pub partitions: i32,
    pub allow_idle_consumers: bool,
    pub target: ScalingTarget,
    pub activation_lag: i64,
    pub scale_up: ScalingRules,
    pub scale_down: ScalingRules,
    /// How long a replica change stops consumption while the group rebalances: rates measured over a window that
    /// includes it are not learned from, and a change is sized to absorb it.
    pub rebalance_pause: Duration,
}

impl AutoscaleConfig {
    /// An eager rebalance of a small group: the session and the partitions' reassignment, a few seconds each.
    pub const DEFAULT_REBALANCE_PAUSE: Duration = Duration::from_secs(15);

    /// Settings with the defaults: activation lag 0, no idle consumers, default scale-up and scale-down rules.
    pub fn new(min_replicas: i32, max_replicas: i32, partitions: i32, target: ScalingTarget) -> Self {
        Self {
            min_replicas,
            max_replicas,
            partitions,
            allow_idle_consumers: false,
            target,
            activation_lag: 0,
            scale_up: ScalingRules::SCALE_UP,
            scale_down: ScalingRules::SCALE_DOWN,
            rebalance_pause: Self::DEFAULT_REBALANCE_PAUSE,
        }
    }

    /// The highest count allowed: `max`, capped by the partitions unless idle consumers are allowed; `min` wins.
    fn upper_bound(&self) -> i32 {
        let upper = if self.allow_idle_consumers || self.partitions <= 0 {
            self.max_replicas
        } else {
            self.max_replicas.min(self.partitions)
        };
        upper.max(self.min_replicas).max(0)
    }

    /// Replicas that have partitions to read.
    fn active_consumers(&self, replicas: i32) -> i32 {
        if self.partitions > 0 { replicas.min(self.partitions) } else { replicas }
    }

    /// `count` within the bounds, and the bound that cut it if any.
    fn clamp(&self, count: i32) -> (i32, Option<Limit>) {
        let (lower, upper) = (self.min_replicas.max(0), self.upper_bound());
        if count > upper {
            let by_partitions = !self.allow_idle_consumers && self.partitions > 0 && upper < self.max_replicas;
            (upper, Some(if by_partitions && upper == self.partitions { Limit::AtPartitionCount } else { Limit::AtMax }))
        } else if count < lower {
            (lower, Some(Limit::AtMin))
        } else {
            (count, None)
        }
    }
}

/// What one poll saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    pub now_ms: i64,
    /// Total lag in records, without stalled partitions (more replicas do not unblock them).
    pub lag: i64,
    /// λ and μ over the rate window; `None` until measured.
    pub rates: Option<Rates>,
    /// Replicas of the target now.
    pub current_replicas: i32,
}

/// Why the desired count is not what the lag alone asks for (the `ScalingLimited` condition's reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    ThroughputSaturated,
    AtMax,
    AtPartitionCount,
    AtMin,
}

impl Limit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ThroughputSaturated => "ThroughputSaturated",
            Self::AtMax => "AtMax",
            Self::AtPartitionCount => "AtPartitionCount",
            Self::AtMin => "AtMin",
        }
    }
}

/// The outcome of one poll.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub desired: i32,
    /// The rule and its numbers, for the Event and `status.lastScale.reason`.
    pub reason: String,
    pub limited: Option<Limit>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Recommendation {
    at_ms: i64,
    replicas: i32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Saturation {
    per_replica_before: f64,
    per_replica_after: f64,
}

/// What the decision remembers between polls. Start with `AutoscaleState::default()`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AutoscaleState {
    /// Clamped recommendations over the longer stabilization window.
    recommendations: VecDeque<Recommendation>,
    /// c, in records per second per consuming replica.
    per_replica_throughput: Option<f64>,
    /// Since when the lag has held a backlog (see [`BACKLOG_SECONDS`]).
    backlogged_since_ms: Option<i64>,
    /// When the replica count last changed (by this decision or by anyone else).
    last_change_ms: Option<i64>,
    /// The count the last decision asked for: a different current count means someone else changed it.
    last_desired: Option<i32>,
    /// Per-replica consume rate just before the last scale-up, until a busy window after it is measured.
    per_replica_at_scale_up: Option<f64>,
    saturation: Option<Saturation>,
}

impl AutoscaleState {
    /// The learned per-replica throughput c, in records per second.
    pub fn per_replica_throughput(&self) -> Option<f64> {
        self.per_replica_throughput
    }

    /// When the replica count last changed.
    pub fn last_change_ms(&self) -> Option<i64> {
        self.last_change_ms
    }

    /// Whether scale-up is held because per-replica throughput fell after the last one.
    pub fn is_throughput_saturated(&self) -> bool {
        self.saturation.is_some()
    }

    /// Updates the backlog, the learned throughput and the saturation verdict from one observation.
    fn learn(&mut self, config: &AutoscaleConfig, observation: &Observation) {
        let now_ms = observation.now_ms;
        let lag = observation.lag.max(0);
        let produce = observation.rates.map_or(0.0, |rates| rates.produce_per_s.max(0.0));
        let backlogged = lag > 0 && lag > config.activation_lag && lag as f64 >= produce * BACKLOG_SECONDS;
        self.backlogged_since_ms = if backlogged { Some(self.backlogged_since_ms.unwrap_or(now_ms)) } else { None };

        let Some(rates) = observation.rates else { return };
        let pause_ms = millis(config.rebalance_pause);
        let settled = self.last_change_ms.is_none_or(|changed| rates.window_start_ms >= changed + pause_ms);
        let active = config.active_consumers(observation.current_replicas.max(0));
        if !settled || active == 0 {
            return;
        }
        let per_replica = rates.consume_per_s.max(0.0) / f64::from(active);
        let busy = self.backlogged_since_ms.is_some_and(|since| since <= rates.window_start_ms);
        if !busy {
            // They kept up, so they can do at least this much; and a finished backlog ends any bottleneck.
            if per_replica > self.per_replica_throughput.unwrap_or(0.0) {
                self.per_replica_throughput = Some(per_replica);
            }
            self.per_replica_at_scale_up = None;
            self.saturation = None;
            return;
        }
        if per_replica > 0.0 {
            self.per_replica_throughput = Some(per_replica);
        }
        if let Some(before) = self.per_replica_at_scale_up.take()
            && per_replica < before * (1.0 - SATURATION_DROP)
        {
            self.saturation = Some(Saturation { per_replica_before: before, per_replica_after: per_replica });
        }
        if self.saturation.is_some_and(|saturation| per_replica >= saturation.per_replica_before * (1.0 - SATURATION_DROP))
        {
            self.saturation = None;
        }
    }
}

/// Decides the replica count for one poll and updates `state`.
pub fn desired_replicas(config: &AutoscaleConfig, observation: &Observation, state: &mut AutoscaleState) -> Decision {
    let now_ms = observation.now_ms;
    let current = observation.current_replicas.max(0);
    if state.last_desired.is_some_and(|desired| desired != current) {
        // Someone else changed the count (a person, a rollout): the group rebalances now too.
        state.last_change_ms = Some(now_ms);
    }
    state.learn(config, observation);

    let sizing = size(config, observation, state);
    let (needed, _) = config.clamp(sizing.needed);
    let (recommended, clamp_limit) = config.clamp(sizing.recommended);

    let longest_window = millis(config.scale_up.stabilization.max(config.scale_down.stabilization));
    let oldest_kept = now_ms.saturating_sub(longest_window);
    state.recommendations.retain(|old| old.at_ms >= oldest_kept && old.at_ms < now_ms);
    state.recommendations.push_back(Recommendation { at_ms: now_ms, replicas: recommended });
    let within = |window: Duration| {
        let since = now_ms.saturating_sub(millis(window));
        state.recommendations.iter().filter(move |old| old.at_ms >= since).map(|old| old.replicas)
    };
    let up_to = within(config.scale_up.stabilization).min().unwrap_or(recommended);
    let down_to = within(config.scale_down.stabilization).max().unwrap_or(recommended);

    let (desired, action) = if needed > current && up_to > current {
        if let Some(saturation) = state.saturation {
            let action = format!(
                "hold at {current}: per-replica throughput fell from {:.0}/s to {:.0}/s after the last scale-up while \
                 the backlog persists (downstream bottleneck)",
                saturation.per_replica_before, saturation.per_replica_after
            );
            (current, action)
        } else {
            let step = config.scale_up.max_step.unwrap_or(current.max(4)).max(1);
            let desired = up_to.min(current.saturating_add(step));
            let bounded = if desired < up_to { format!(" (at most +{step} at once)") } else { String::new() };
            (desired, format!("scale up {current} -> {desired}{bounded}"))
        }
    } else if down_to < current {
        let step = config.scale_down.max_step.unwrap_or(current).max(1);
        let desired = down_to.max(current - step);
        let window = config.scale_down.stabilization.as_secs();
        (desired, format!("scale down {current} -> {desired} (highest recommendation over {window} s: {down_to})"))
    } else {
        (current, format!("hold at {current}"))
    };

    let limited = if state.saturation.is_some() && sizing.recommended > current {
        Some(Limit::ThroughputSaturated)
    } else {
        clamp_limit.filter(|_| desired == recommended)
    };
    let bound = match limited {
        Some(Limit::AtMax) => format!(", limited by max {}", config.max_replicas),
        Some(Limit::AtPartitionCount) => format!(", limited by {} partitions", config.partitions),
        Some(Limit::AtMin) => format!(", limited by min {}", config.min_replicas),
        Some(Limit::ThroughputSaturated) | None => String::new(),
    };

    if desired != current {
        state.last_change_ms = Some(now_ms);
        // What one replica consumed before the scale-up, to compare with once the new replicas settle.
        let active = config.active_consumers(current);
        state.per_replica_at_scale_up = observation
            .rates
            .filter(|_| desired > current && active > 0)
            .map(|rates| rates.consume_per_s.max(0.0) / f64::from(active));
    }
    state.last_desired = Some(desired);
    Decision { desired, reason: format!("{}; {action}{bound}", sizing.why), limited }
}

/// The unclamped counts: what keeps the lag on target now (`needed`), and what a change should move to
/// (`recommended`, which absorbs the change's own rebalance).
struct Sizing {
    needed: i32,
    recommended: i32,
    why: String,
}

fn size(config: &AutoscaleConfig, observation: &Observation, state: &AutoscaleState) -> Sizing {
    let lag = observation.lag.max(0);
    let current = observation.current_replicas.max(0);
    let activation = config.activation_lag;
    if current == 0 && lag <= activation && config.min_replicas <= 0 {
        return Sizing { needed: 0, recommended: 0, why: format!("lag {lag} <= activation lag {activation}") };
    }
    if lag <= activation && config.min_replicas <= 0 {
        return Sizing {
            needed: 0,
            recommended: 0,
            why: format!("lag {lag} <= activation lag {activation}, may scale to zero"),
        };
    }
    let woken = |count: i32| if lag > activation { count.max(1) } else { count };
    match config.target {
        ScalingTarget::LagPerReplica(per_replica) => {
            let per_replica = per_replica.max(1);
            let count = woken(i32::try_from(lag / per_replica + i64::from(lag % per_replica != 0)).unwrap_or(i32::MAX));
            let relation = if lag > i64::from(current) * per_replica { ">" } else { "<=" };
            Sizing {
                needed: count,
                recommended: count,
                why: format!("lag {lag} {relation} {current} x {per_replica} per replica, needs {count}"),
            }
        }
        ScalingTarget::MaxDrainSeconds(drain_seconds) => {
            let drain_seconds = drain_seconds.max(1.0);
            let active = config.active_consumers(current);
            let measured_now = observation
                .rates
                .filter(|rates| rates.consume_per_s > 0.0 && active > 0)
                .map(|rates| rates.consume_per_s / f64::from(active));
            let (Some(produce), Some(per_replica)) = (
                observation.rates.map(|rates| rates.produce_per_s.max(0.0)),
                state.per_replica_throughput.filter(|throughput| *throughput > 0.0).or(measured_now),
            ) else {
                let count = woken(current);
                return Sizing {
                    needed: count,
                    recommended: count,
                    why: format!("lag {lag}, per-replica throughput not measured yet, needs {count}"),
                };
            };
            let pause = config.rebalance_pause.as_secs_f64();
            let drain = lag as f64 / drain_seconds;
            let needed = woken(replicas_for((produce + drain) / per_replica));
            let recommended = woken(replicas_for((produce * (1.0 + pause / drain_seconds) + drain) / per_replica));
            Sizing {
                needed,
                recommended,
                why: format!(
                    "arrivals {produce:.0}/s + lag {lag} drained in {drain_seconds:.0} s need {needed} x \
                     {per_replica:.0}/s per replica ({recommended} counting a {pause:.0} s rebalance)"
                ),
            }
        }
    }
}

/// `ceil(count)`, a hair under so that float noise on an exact fit does not add a replica.
fn replicas_for(count: f64) -> i32 {
    if count.is_nan() { 0 } else { (count - 1e-9).ceil().clamp(0.0, f64::from(i32::MAX)) as i32 }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
