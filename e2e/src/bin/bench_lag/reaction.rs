//! 1. Reaction time: a burst on a steady, autoscaled consumer group, timed until the Deployment's `/scale` patch, and
//!    the Deployment's replicas followed for a while after it — by Tributary (a ConsumerGroup) or by KEDA (a
//!    ScaledObject and the HPA it makes), on the same topic shape with the same emulated replicas.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::DeleteParams;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tributary::api::ConsumerGroup;
use tributary_e2e::emulator::ReplicaEmulator;
use tributary_e2e::kafka::{create_topics, produce};
use tributary_e2e::manifest::{self, emulated_deployment};
use tributary_e2e::{Conditions, wait_status};

use crate::Bench;
use crate::keda::{HpaFollower, apply_scaled_object, delete_scaled_object, scaled_object, wait_keda_steady};
use crate::retry::retry;

/// The group's shape, the same for both scalers.
pub const PARTITIONS: i32 = 4;
pub const LAG_PER_REPLICA: u32 = 100;
pub const MIN_REPLICAS: i32 = 1;
pub const MAX_REPLICAS: i32 = 4;

/// Who scales the Deployment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scaler {
    /// A ConsumerGroup with `autoscaling` (`lagPerReplica` 100).
    Tributary,
    /// A ScaledObject (Kafka trigger, `lagThreshold` 100) with this `pollingInterval` in seconds; its HPA syncs at
    /// kube-controller-manager's period.
    Keda { polling_interval: u32 },
}

impl Scaler {
    pub fn label(&self) -> String {
        match self {
            Scaler::Tributary => "Tributary".into(),
            Scaler::Keda { polling_interval: 30 } => "KEDA (defaults: pollingInterval 30 s, HPA sync 15 s)".into(),
            Scaler::Keda { polling_interval } => {
                format!("KEDA tuned (pollingInterval {polling_interval} s, HPA sync 15 s)")
            }
        }
    }

    /// A short tag for the names of what a run makes.
    fn tag(&self) -> String {
        match self {
            Scaler::Tributary => "trib".into(),
            Scaler::Keda { polling_interval } => format!("keda{polling_interval}"),
        }
    }
}

/// One reaction run.
pub struct Reaction {
    /// Burst start to the Deployment's new spec.replicas seen on the watch.
    pub to_scale: Duration,
    /// How long producing the burst took (until every acknowledgement).
    pub produce: Duration,
    /// Delay between "steady" and the burst, to spread the runs over the scaler's period.
    pub phase: Duration,
    pub scaled_to: i32,
    /// Every spec.replicas the watch saw from the burst start until `--follow` seconds after it: (time since the
    /// burst start, replicas); the first entry is the value at the burst start.
    pub trajectory: Vec<(Duration, i32)>,
}

impl Reaction {
    /// Changes of direction in the trajectory (up then down, or down then up): 0 for a clean scale-up, 1 for an
    /// up-then-down.
    pub fn reversals(&self) -> usize {
        let steps: Vec<i32> = self.trajectory.windows(2).map(|w| (w[1].1 - w[0].1).signum()).collect();
        steps.iter().filter(|s| **s != 0).collect::<Vec<_>>().windows(2).filter(|w| w[0] != w[1]).count()
    }
}

/// How a reaction run ended.
pub enum Outcome {
    Scaled(Reaction),
    /// The Deployment was not scaled up within 90 s of the burst: why not, as far as the run saw (KEDA's HPA).
    NoScaleUp(String),
}

/// Watches one Deployment, recording every change of spec.replicas with the time it was seen. The first receiver
/// fires once the watch's initial list is done, the second the first time spec.replicas goes above 1.
struct ReplicaWatch {
    ready: tokio::sync::oneshot::Receiver<()>,
    scaled_up: tokio::sync::oneshot::Receiver<(Instant, i32)>,
    seen: Arc<Mutex<Vec<(Instant, i32)>>>,
    task: tokio::task::JoinHandle<()>,
}

fn watch_replicas(api: Api<Deployment>, name: &str) -> ReplicaWatch {
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let (up_tx, scaled_up) = tokio::sync::oneshot::channel();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let task = tokio::spawn(async move {
        let (mut ready, mut up) = (Some(ready_tx), Some(up_tx));
        let mut stream = watcher(api, config).default_backoff().boxed();
        while let Some(ev) = stream.next().await {
            let replicas = |d: &Deployment| d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            match ev {
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) => {
                    let (now, r) = (Instant::now(), replicas(&d));
                    let mut seen = seen2.lock().unwrap();
                    if seen.last().is_none_or(|(_, last)| *last != r) {
                        seen.push((now, r));
                    }
                    if r > 1
                        && let Some(tx) = up.take()
                    {
                        let _ = tx.send((now, r));
                    }
                }
                _ => {}
            }
        }
    });
    ReplicaWatch { ready, scaled_up, seen, task }
}

/// Reaction run `i` of `runs` with `scaler`: a new topic, Deployment and autoscaler; a burst once the group is
/// steady, after a delay spreading the runs over `period` (the scaler's own: Tributary's tick, the HPA's sync).
pub async fn reaction_run(
    b: &Bench<'_>,
    scaler: Scaler,
    (i, runs): (usize, usize),
    period: Duration,
) -> anyhow::Result<Outcome> {
    let (stack, run, made) = (b.stack, b.run, b.made);
    let tag = scaler.tag();
    let topic = format!("{run}-{tag}-react-{i:02}");
    let group = format!("{run}-{tag}-react-g{i:02}");
    let (deployment, name) = (format!("{tag}-consumer-{i:02}"), format!("{tag}-react-{i:02}"));
    made.topics.lock().unwrap().push(topic.clone());
    made.groups.lock().unwrap().push(group.clone());
    let admin = stack.admin();
    create_topics(&admin, std::slice::from_ref(&topic), PARTITIONS, 1, 50).await?;
    b.apply::<Deployment>(emulated_deployment(&deployment, MIN_REPLICAS)).await?;
    let emulator = ReplicaEmulator::start(stack, b.client.clone(), b.ns, &deployment, &group, &topic, b.args.rate);
    let groups: Api<ConsumerGroup> = b.api();
    match scaler {
        Scaler::Tributary => {
            b.apply::<ConsumerGroup>(manifest::consumer_group(
                &name,
                json!({"connectionRef": {"name": "main"}, "groupId": group, "topics": [topic],
                       "autoscaling": {"targetRef": {"name": deployment}, "minReplicas": MIN_REPLICAS,
                                       "maxReplicas": MAX_REPLICAS, "lagPerReplica": LAG_PER_REPLICA}}),
            ))
            .await?;
            wait_status(&groups, &name, "steady", Duration::from_secs(120), |g| {
                let st = g.status.clone().unwrap_or_default();
                g.has_condition("ScalingActive", "True", None)
                    && st.total_lag == Some(0)
                    && st.members.unwrap_or(0) >= 1
            })
            .await?;
        }
        Scaler::Keda { polling_interval } => {
            let so = scaled_object(
                &name,
                &deployment,
                &stack.bootstrap,
                (&group, &topic),
                LAG_PER_REPLICA,
                (MIN_REPLICAS, MAX_REPLICAS),
                polling_interval,
            );
            apply_scaled_object(b, so).await?;
            wait_keda_steady(b, &name, &group).await?;
        }
    }
    let deployments: Api<Deployment> = b.api();
    let watch = watch_replicas(deployments.clone(), &deployment);
    tokio::time::timeout(Duration::from_secs(30), watch.ready)
        .await
        .context("the Deployment watch did not start")??;
    let phase = period.mul_f64(i as f64 / runs as f64);
    tokio::time::sleep(phase).await;

    let hpa = matches!(scaler, Scaler::Keda { .. }).then(|| HpaFollower::start(b, &name));
    let started = Instant::now();
    produce(&stack.producer(), &topic, &format!("burst{i}"), b.args.burst).await?;
    let produced = started.elapsed();
    let scaled_up = tokio::time::timeout(Duration::from_secs(90), watch.scaled_up).await;
    let reaction = if let Ok(Ok((at, scaled_to))) = scaled_up {
        // Follow the replicas until `--follow` after the burst: further steps up, and any way back down.
        tokio::time::sleep((started + b.args.follow()).saturating_duration_since(Instant::now())).await;
        watch.task.abort();
        if let Some(h) = hpa {
            eprintln!("  {name}: the HPA from the burst on:\n{}", h.stop());
        }
        let seen = watch.seen.lock().unwrap().clone();
        let at_burst = seen.iter().rev().find(|(t, _)| *t <= started).map_or(MIN_REPLICAS, |(_, r)| *r);
        let mut trajectory = vec![(Duration::ZERO, at_burst)];
        trajectory.extend(seen.iter().filter(|(t, _)| *t > started).map(|(t, r)| (*t - started, *r)));
        Outcome::Scaled(Reaction { to_scale: at - started, produce: produced, phase, scaled_to, trajectory })
    } else {
        watch.task.abort();
        let trace = hpa.map_or(String::new(), |h| format!("; the HPA from the burst on:\n{}", h.stop()));
        Outcome::NoScaleUp(format!("{name}: no scale-up within 90 s of the burst{trace}"))
    };

    // Reset, whether it scaled or not: the next run gets a new topic, group and Deployment.
    drop(emulator);
    let background = DeleteParams::background();
    match scaler {
        Scaler::Tributary => {
            retry("deleting the ConsumerGroup", || groups.delete(&name, &background)).await?;
        }
        Scaler::Keda { .. } => delete_scaled_object(b, &name).await?,
    }
    retry("deleting the Deployment", || deployments.delete(&deployment, &background)).await?;
    Ok(reaction)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Reaction;

    fn with(trajectory: &[(u64, i32)]) -> Reaction {
        Reaction {
            to_scale: Duration::ZERO,
            produce: Duration::ZERO,
            phase: Duration::ZERO,
            scaled_to: 0,
            trajectory: trajectory.iter().map(|(s, r)| (Duration::from_secs(*s), *r)).collect(),
        }
    }

    #[test]
    fn reversals_count_changes_of_direction() {
        assert_eq!(with(&[(0, 1)]).reversals(), 0);
        assert_eq!(with(&[(0, 1), (1, 4)]).reversals(), 0);
        assert_eq!(with(&[(0, 1), (1, 2), (16, 4)]).reversals(), 0);
        assert_eq!(with(&[(0, 1), (1, 4), (9, 1)]).reversals(), 1);
        assert_eq!(with(&[(0, 1), (1, 4), (9, 2), (10, 1)]).reversals(), 1);
        assert_eq!(with(&[(0, 1), (1, 4), (9, 1), (12, 3)]).reversals(), 2);
    }
}
