//! How many consumer replicas a group needs: the desired-replicas decision, made once per poll from the group's
//! lag and rates, with the state it carries from one poll to the next.
//!
//! Sizing, for lag L, produce rate λ and per-replica throughput c:
//! - `lagPerReplica` (KEDA's `lagThreshold`): `ceil(L / lagPerReplica)`.
//! - `maxDrainSeconds` D: `needed = ceil((λ + B / D) / c)`, enough to keep up with arrivals and drain the backlog B
//!   within D. B is L less [`BACKLOG_SECONDS`] of arrivals: consumers commit every few seconds, so that much lag is
//!   in flight, not behind. Below `needed` the group scales up.
//! - Every change stops consumption for a rebalance pause p, queueing λ·p more records, so a change is sized to
//!   also work those off within the scale-down window W (default 300 s): a scale-up moves to
//!   `ceil((λ + B / D + λ·p / W) / c)`, a scale-down no lower than `ceil((λ + (B + λ·p) / W) / c)`. While the lag is
//!   only the last change's own rebalance backlog and shrinking, it neither triggers another change nor counts in
//!   the scale-down window: reacting to it is how every change calls for the next one.
//! - c is learned from the consume rate μ per consuming replica while the consumers are busy (a backlog of
//!   [`BACKLOG_SECONDS`] of arrivals over the whole rate window, which started after the last rebalance). When they
//!   keep up, μ per replica only raises c (they can do at least that); a c lowered by a slowdown is forgotten after
//!   [`THROUGHPUT_MEMORY`] without a backlog, since idle consumers cannot show that it is over.
//! - Rates are learned from and sized on only when fair: over at least [`MIN_MEASUREMENT`], and begun after the
//!   last change's rebalance pause. A group Kafka reports as not `Stable` (rebalancing, or its consumers not joined
//!   yet) restarts that clock like a change: a window holding the consumers' start understates them, and a
//!   scale-up sized on it hides the drop that would show a bottleneck.
//! - Fallbacks while c is unknown: μ per consumer now (a lower bound, so it over-provisions); with no rates either
//!   (first polls, or zero replicas), the lag alone: keep the current count, or wake to one replica when the lag is
//!   above `activationLag`. It measures before it extrapolates.
//!
//! Then:
//! - Clamp to `[min, max]`, and to the partition count unless `allowIdleConsumers` (an explicit `min` wins).
//! - `activationLag` gates 0↔1: at zero replicas stay there while L ≤ `activationLag`, wake above it; with `min` 0
//!   the recommendation is 0 whenever L ≤ `activationLag` (after the scale-down window, the group sleeps).
//! - Scale up at once to the lowest recommendation of the scale-up stabilization window (default 0 s: the current
//!   one), at most `maxStep` at a time (default: double, or +4 if that is more, like the HPA's default policy).
//! - Scale down only to the highest recommendation of the scale-down stabilization window (default 300 s, like the
//!   HPA's), at most `maxStep` at a time (default: unlimited). A scale-up counts as a recommendation of its new
//!   count, and a count that just had to be scaled up from is not returned to within [`THROUGHPUT_MEMORY`] unless
//!   arrivals fell by [`RETRY_RATE_DROP`] since (the flapping of keda#1556).
//! - If per-replica throughput fell by more than [`SATURATION_DROP`] after a scale-up (against a fair measurement
//!   before it: long enough, after the previous rebalance; else the c learned last) while the backlog persists,
//!   more replicas do not help (a downstream bottleneck, keda#7092): hold, reported as
//!   [`Limit::ThroughputSaturated`], until the backlog is gone or the throughput recovers. The verdict needs a busy
//!   rate window after the scale-up's rebalance, so a group that scales up several times within one window reaches
//!   its higher count before the hold can engage.
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

/// How long a lowered per-replica throughput is believed once the consumers are no longer busy.
pub const THROUGHPUT_MEMORY: Duration = Duration::from_secs(600);

/// A count that had to be scaled up from is not returned to unless arrivals fell by more than this fraction since.
pub const RETRY_RATE_DROP: f64 = 0.1;

/// Rates over a shorter window (the first seconds after the operator started watching the group) mostly show
/// the consumers starting up: they are neither learned from nor sized on.
pub const MIN_MEASUREMENT: Duration = Duration::from_secs(10);

/// Longest hold after a scale-up while its consumers are measured; past it, scaling up resumes.
pub const EVALUATION_LIMIT: Duration = Duration::from_secs(60);

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
            (
                upper,
                Some(if by_partitions && upper == self.partitions { Limit::AtPartitionCount } else { Limit::AtMax }),
            )
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
    /// Kafka reports the group `Stable`: not rebalancing, its consumers joined. Rates measured over a window in
    /// which it was not show consumers starting or moving, not what they can do.
    pub stable: bool,
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
    /// What a scale-up would move to.
    up: i32,
    /// What a scale-down may move to.
    down: i32,
}

/// A count that could not keep up: the scale-up away from it, and the arrivals then.
#[derive(Clone, Copy, Debug, PartialEq)]
struct TooFew {
    replicas: i32,
    produce_per_s: f64,
    at_ms: i64,
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
    /// The highest c ever measured, and when c was last lowered by a busy measurement.
    best_per_replica_throughput: Option<f64>,
    lowered_at_ms: Option<i64>,
    /// Since when the lag has held a backlog (see [`BACKLOG_SECONDS`]).
    backlogged_since_ms: Option<i64>,
    /// When the replica count last changed (by this decision or by anyone else).
    last_change_ms: Option<i64>,
    /// The lag expected once the last change's rebalance is over: the lag then plus the arrivals of the pause.
    rebalance_backlog: Option<i64>,
    /// The count the last decision asked for: a different current count means someone else changed it.
    last_desired: Option<i32>,
    previous_lag: Option<i64>,
    /// Per-replica consume rate just before the last scale-up, until a busy window after it is measured.
    per_replica_at_scale_up: Option<f64>,
    saturation: Option<Saturation>,
    too_few: Option<TooFew>,
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
        let active = config.active_consumers(observation.current_replicas.max(0));
        if !self.fair(config, &rates, now_ms) || active == 0 {
            return;
        }
        let per_replica = rates.consume_per_s.max(0.0) / f64::from(active);
        let busy = self.backlogged_since_ms.is_some_and(|since| since <= rates.window_start_ms);
        if !busy {
            // They kept up, so they can do at least this much; and a finished backlog ends any bottleneck.
            let mut throughput = self.per_replica_throughput.unwrap_or(0.0).max(per_replica);
            // A slowdown measured long ago may be over, and idle consumers cannot show it: assume their best
            // again; if the slowdown persists, the next backlog measures it again.
            if self.lowered_at_ms.is_some_and(|lowered| now_ms - lowered >= millis(THROUGHPUT_MEMORY)) {
                throughput = throughput.max(self.best_per_replica_throughput.unwrap_or(0.0));
                self.lowered_at_ms = None;
            }
            self.set_throughput(throughput);
            self.per_replica_at_scale_up = None;
            self.saturation = None;
            return;
        }
        if per_replica > 0.0 {
            if per_replica < self.per_replica_throughput.unwrap_or(0.0) {
                self.lowered_at_ms = Some(now_ms);
            }
            self.set_throughput(per_replica);
        }
        let floor = 1.0 - SATURATION_DROP;
        if let Some(before) = self.per_replica_at_scale_up.take()
            && per_replica < before * floor
        {
            self.saturation = Some(Saturation { per_replica_before: before, per_replica_after: per_replica });
        } else if self.saturation.is_some_and(|saturation| per_replica >= saturation.per_replica_before * floor) {
            self.saturation = None;
        }
    }

    /// Whether `rates` show what the consumers do: measured over at least [`MIN_MEASUREMENT`], all of it after the
    /// last change's rebalance (or the last time Kafka reported the group rebalancing).
    fn fair(&self, config: &AutoscaleConfig, rates: &Rates, now_ms: i64) -> bool {
        let settled =
            self.last_change_ms.is_none_or(|changed| rates.window_start_ms >= changed + millis(config.rebalance_pause));
        settled && long_enough(rates, now_ms)
    }

    /// True between a scale-up from a measured count and the first settled measurement after it, while the
    /// group stays busy: the window in which a downstream bottleneck would show.
    fn evaluating_scale_up(&self, config: &AutoscaleConfig, observation: &Observation) -> bool {
        // Only the rate-aware mode measures consumers; lagPerReplica keeps KEDA's semantics.
        if !matches!(config.target, ScalingTarget::MaxDrainSeconds(_)) {
            return false;
        }
        let Some(changed) = self.last_change_ms else { return false };
        let settled = observation.rates.is_some_and(|r| r.window_start_ms >= changed + millis(config.rebalance_pause));
        self.per_replica_at_scale_up.is_some() && !settled && observation.now_ms - changed < millis(EVALUATION_LIMIT)
    }

    fn set_throughput(&mut self, per_replica: f64) {
        if per_replica > 0.0 {
            self.per_replica_throughput = Some(per_replica);
            self.best_per_replica_throughput = Some(self.best_per_replica_throughput.unwrap_or(0.0).max(per_replica));
        }
    }

    /// Whether the lag is only the backlog of the last change's own rebalance, still building up or going down: it
    /// was priced in when the change was sized, and reacting to it would start another rebalance.
    fn absorbing_rebalance(&self, config: &AutoscaleConfig, observation: &Observation) -> bool {
        let (now_ms, lag) = (observation.now_ms, observation.lag.max(0));
        let produce = observation.rates.map_or(0.0, |rates| rates.produce_per_s.max(0.0));
        let rebalancing = self.last_change_ms.is_some_and(|changed| now_ms < changed + millis(config.rebalance_pause));
        let draining =
            self.previous_lag.is_some_and(|previous| lag < previous) && lag as f64 > produce * BACKLOG_SECONDS;
        self.rebalance_backlog.is_some_and(|backlog| lag <= backlog) && (rebalancing || draining)
    }
}

/// Decides the replica count for one poll and updates `state`.
pub fn desired_replicas(config: &AutoscaleConfig, observation: &Observation, state: &mut AutoscaleState) -> Decision {
    let now_ms = observation.now_ms;
    let current = observation.current_replicas.max(0);
    let lag = observation.lag.max(0);
    if !observation.stable && current > 0 {
        // Kafka says the group is rebalancing, or its consumers have not joined yet (they may be starting): rates
        // that include this understate them, so the rebalance clock starts again, as after a change.
        state.last_change_ms = Some(now_ms);
    }
    if state.last_desired.is_some_and(|desired| desired != current) {
        // Someone else changed the count (a person, a rollout): the group rebalances now too.
        state.last_change_ms = Some(now_ms);
        state.rebalance_backlog = None;
    }
    state.learn(config, observation);
    let absorbing = state.absorbing_rebalance(config, observation);

    let sizing = size(config, observation, state);
    let needed = config.clamp(sizing.needed).0;
    let up = config.clamp(sizing.up).0;
    // The backlog of a change's own rebalance says nothing about the load: it must not hold the count up for a
    // whole scale-down window after every change.
    let down = if absorbing { 0 } else { config.clamp(sizing.down).0 };

    let longest_window = millis(config.scale_up.stabilization.max(config.scale_down.stabilization));
    let oldest_kept = now_ms.saturating_sub(longest_window);
    state.recommendations.retain(|old| old.at_ms >= oldest_kept && old.at_ms < now_ms);
    state.recommendations.push_back(Recommendation { at_ms: now_ms, up, down });
    let within = |window: Duration| {
        let since = now_ms.saturating_sub(millis(window));
        state.recommendations.iter().filter(move |old| old.at_ms >= since)
    };
    let up_to = within(config.scale_up.stabilization).map(|old| old.up).min().unwrap_or(up);
    let down_to = within(config.scale_down.stabilization).map(|old| old.down).max().unwrap_or(down);

    let (desired, action) = if needed > current && up_to > current {
        if let Some(saturation) = state.saturation {
            let action = format!(
                "hold at {current}: per-replica throughput fell from {:.0}/s to {:.0}/s after the last scale-up while \
                 the backlog persists (downstream bottleneck)",
                saturation.per_replica_before, saturation.per_replica_after
            );
            (current, action)
        } else if absorbing {
            (current, format!("hold at {current}: the lag is the last change's rebalance backlog, draining"))
        } else if state.evaluating_scale_up(config, observation) {
            // More consumers only help if the last ones did: measure them before adding again (keda#7092).
            (current, format!("hold at {current}: measuring what the last scale-up's consumers process"))
        } else {
            let step = config.scale_up.max_step.unwrap_or(current.max(4)).max(1);
            let desired = up_to.min(current.saturating_add(step));
            let bounded = if desired < up_to { format!(" (at most +{step} at once)") } else { String::new() };
            (desired, format!("scale up {current} -> {desired}{bounded}"))
        }
    } else if down_to < current && !absorbing {
        // Going back to a count that just proved too few, under the same arrivals, is the flapping of keda#1556.
        let produce = observation.rates.map_or(0.0, |rates| rates.produce_per_s.max(0.0));
        let too_few = state.too_few.filter(|few| {
            now_ms - few.at_ms < millis(THROUGHPUT_MEMORY) && produce >= few.produce_per_s * (1.0 - RETRY_RATE_DROP)
        });
        let floor = too_few.map_or(0, |few| few.replicas + 1);
        let step = config.scale_down.max_step.unwrap_or(current).max(1);
        let desired = down_to.max(floor).max(current - step).min(current);
        let window = config.scale_down.stabilization.as_secs();
        let mut action = if desired < current {
            format!("scale down {current} -> {desired} (highest recommendation over {window} s: {down_to})")
        } else {
            format!("hold at {current} (highest recommendation over {window} s: {down_to})")
        };
        if let Some(few) = too_few.filter(|_| floor > down_to) {
            action.push_str(&format!(
                "; {} replicas could not keep up with {:.0}/s {} s ago",
                few.replicas,
                few.produce_per_s,
                (now_ms - few.at_ms) / 1000
            ));
        }
        (desired, action)
    } else {
        (current, format!("hold at {current}"))
    };

    let limited = if state.saturation.is_some() && needed > current {
        Some(Limit::ThroughputSaturated)
    } else if sizing.needed > desired {
        config.clamp(sizing.needed).1.filter(|_| desired == config.upper_bound())
    } else if sizing.down < desired {
        config.clamp(sizing.down).1.filter(|_| desired == config.min_replicas.max(0))
    } else {
        None
    };
    let bound = match limited {
        Some(Limit::AtMax) => format!(", limited by max {}", config.max_replicas),
        Some(Limit::AtPartitionCount) => format!(", limited by {} partitions", config.partitions),
        Some(Limit::AtMin) => format!(", limited by min {}", config.min_replicas),
        Some(Limit::ThroughputSaturated) | None => String::new(),
    };

    if desired > current
        && let Some(newest) = state.recommendations.back_mut()
    {
        // Like the HPA, whose one recommendation serves both ways: nothing below a scale-up's count until the
        // scale-down window has passed over it.
        newest.down = newest.down.max(desired);
    }
    if desired != current {
        // What one replica consumed before the scale-up, to compare with once the new replicas settle: measured
        // now if the window is a fair one (judged before this change is recorded), else the throughput learned from
        // the last fair one. A window that includes a rebalance or the consumers' start understates it, and a drop
        // from an understated figure goes unseen.
        let active = config.active_consumers(current);
        let fair_now = observation.rates.filter(|rates| state.fair(config, rates, now_ms));
        let per_replica_before = (desired > current && active > 0)
            .then(|| {
                fair_now.map(|rates| rates.consume_per_s.max(0.0) / f64::from(active)).or(state.per_replica_throughput)
            })
            .flatten();
        state.per_replica_at_scale_up = per_replica_before;
        state.last_change_ms = Some(now_ms);
        let produce = observation.rates.map_or(0.0, |rates| rates.produce_per_s.max(0.0));
        // Going to zero leaves no consumer to rebalance: whatever lag comes next is new and must wake the group.
        state.rebalance_backlog =
            (desired > 0).then(|| lag.saturating_add((produce * config.rebalance_pause.as_secs_f64()) as i64));
        if desired > current && current > 0 {
            state.too_few = Some(TooFew { replicas: current, produce_per_s: produce, at_ms: now_ms });
        }
    }
    state.last_desired = Some(desired);
    state.previous_lag = Some(lag);
    Decision { desired, reason: format!("{}; {action}{bound}", sizing.why), limited }
}

/// The unclamped counts: what keeps the lag on target now (`needed`), what a scale-up moves to (`up`) and what a
/// scale-down may move to (`down`); the last two absorb the change's own rebalance.
struct Sizing {
    needed: i32,
    up: i32,
    down: i32,
    why: String,
}

impl Sizing {
    fn all(count: i32, why: String) -> Self {
        Self { needed: count, up: count, down: count, why }
    }
}

fn size(config: &AutoscaleConfig, observation: &Observation, state: &AutoscaleState) -> Sizing {
    let lag = observation.lag.max(0);
    let current = observation.current_replicas.max(0);
    let activation = config.activation_lag;
    if lag <= activation && config.min_replicas <= 0 {
        let why = if current == 0 {
            format!("lag {lag} <= activation lag {activation}: stay at zero")
        } else {
            format!("lag {lag} <= activation lag {activation}: may scale to zero")
        };
        return Sizing::all(0, why);
    }
    let woken = |count: i32| if lag > activation { count.max(1) } else { count };
    match config.target {
        ScalingTarget::LagPerReplica(per_replica) => {
            let per_replica = per_replica.max(1);
            let count = woken(i32::try_from(lag / per_replica + i64::from(lag % per_replica != 0)).unwrap_or(i32::MAX));
            let relation = if lag > i64::from(current) * per_replica { ">" } else { "<=" };
            Sizing::all(count, format!("lag {lag} {relation} {current} x {per_replica} per replica, needs {count}"))
        }
        ScalingTarget::MaxDrainSeconds(drain_seconds) => {
            let drain_seconds = drain_seconds.max(1.0);
            let active = config.active_consumers(current);
            let measured_now = observation
                .rates
                .filter(|rates| {
                    rates.consume_per_s > 0.0 && active > 0 && state.fair(config, rates, observation.now_ms)
                })
                .map(|rates| rates.consume_per_s / f64::from(active));
            let (Some(produce), Some(per_replica)) = (
                observation.rates.map(|rates| rates.produce_per_s.max(0.0)),
                state.per_replica_throughput.filter(|throughput| *throughput > 0.0).or(measured_now),
            ) else {
                let count = woken(current);
                return Sizing::all(
                    count,
                    format!("lag {lag}, per-replica throughput not measured yet, needs {count}"),
                );
            };
            let pause = config.rebalance_pause.as_secs_f64();
            // A scale-down has the whole stabilization window to work off its own rebalance backlog.
            let down_horizon = config.scale_down.stabilization.as_secs_f64().max(drain_seconds);
            // Consumers commit every few seconds, so a few seconds of arrivals always show as lag: in flight, not a
            // backlog to drain.
            let backlog = (lag as f64 - produce * BACKLOG_SECONDS).max(0.0);
            let rebalance_backlog = produce * pause;
            let replicas = |drain_per_s: f64| woken(replicas_for((produce + drain_per_s) / per_replica));
            let needed = replicas(backlog / drain_seconds);
            let up = replicas(backlog / drain_seconds + rebalance_backlog / down_horizon);
            let down = replicas((backlog + rebalance_backlog) / down_horizon).max(needed);
            let why = format!(
                "arrivals {produce:.0}/s + lag {lag} drained in {drain_seconds:.0} s need {needed} x {per_replica:.0}/s \
                 per replica (with a {pause:.0} s rebalance: {up} to scale up, {down} to scale down)"
            );
            Sizing { needed, up, down, why }
        }
    }
}

/// `ceil(count)`, a hair under so that float noise on an exact fit does not add a replica.
fn replicas_for(count: f64) -> i32 {
    if count.is_nan() { 0 } else { (count - 1e-9).ceil().clamp(0.0, f64::from(i32::MAX)) as i32 }
}

/// Whether `rates` cover at least [`MIN_MEASUREMENT`].
fn long_enough(rates: &Rates, now_ms: i64) -> bool {
    now_ms - rates.window_start_ms >= millis(MIN_MEASUREMENT)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
