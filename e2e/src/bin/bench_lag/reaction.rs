//! 1. Reaction time: a burst on a steady, autoscaled ConsumerGroup, timed until the Deployment's `/scale` patch.

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
use crate::retry::retry;

/// One reaction run.
pub struct Reaction {
    /// Burst start to the Deployment's new spec.replicas seen on the watch.
    pub to_scale: Duration,
    /// How long producing the burst took (until every acknowledgement).
    pub produce: Duration,
    /// Delay between "steady" and the burst, to spread the runs over the poll phase.
    pub phase: Duration,
    pub scaled_to: i32,
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

/// Reaction run `i`: a new topic, Deployment and autoscaled ConsumerGroup; a burst once the group is steady.
pub async fn reaction_run(b: &Bench<'_>, i: usize) -> anyhow::Result<Reaction> {
    let (stack, run, made) = (b.stack, b.run, b.made);
    let topic = format!("{run}-react-{i:02}");
    let group = format!("{run}-react-g{i:02}");
    let (deployment, name) = (format!("consumer-{i:02}"), format!("react-{i:02}"));
    made.topics.lock().unwrap().push(topic.clone());
    made.groups.lock().unwrap().push(group.clone());
    let admin = stack.admin();
    create_topics(&admin, std::slice::from_ref(&topic), 4, 1, 50).await?;
    b.apply::<Deployment>(emulated_deployment(&deployment, 1)).await?;
    let emulator = ReplicaEmulator::start(stack, b.client.clone(), b.ns, &deployment, &group, &topic, b.args.rate);
    b.apply::<ConsumerGroup>(manifest::consumer_group(
        &name,
        json!({"connectionRef": {"name": "main"}, "groupId": group, "topics": [topic],
               "autoscaling": {"targetRef": {"name": deployment}, "minReplicas": 1, "maxReplicas": 4,
                               "lagPerReplica": 100}}),
    ))
    .await?;
    let groups: Api<ConsumerGroup> = b.api();
    wait_status(&groups, &name, "steady", Duration::from_secs(120), |g| {
        let st = g.status.clone().unwrap_or_default();
        g.has_condition("ScalingActive", "True", None) && st.total_lag == Some(0) && st.members.unwrap_or(0) >= 1
    })
    .await?;
    let deployments: Api<Deployment> = b.api();
    let (ready, scaled) = watch_scale_up(deployments.clone(), &deployment);
    tokio::time::timeout(Duration::from_secs(30), ready).await.context("the Deployment watch did not start")??;
    // Spread the runs evenly over one period (tick or poll), so the burst does not always land at the same phase.
    let phase = b.args.period().mul_f64(i as f64 / b.args.runs as f64);
    tokio::time::sleep(phase).await;

    let started = Instant::now();
    produce(&stack.producer(), &topic, &format!("burst{i}"), b.args.burst).await?;
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
