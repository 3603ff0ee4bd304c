//! KEDA beside Tributary: the pieces of the burst scenario and of the cost phase that speak KEDA — its ScaledObject
//! (Kafka trigger), the HPA it makes, and its two processes that `e2e/stack/keda up` started.
//!
//! KEDA scales 1 → N through a HorizontalPodAutoscaler: kube-controller-manager's HPA controller reads the external
//! metric (the group's lag) from KEDA's metrics API server every HPA sync period (15 s, the stack's
//! `--horizontal-pod-autoscaler-sync-period`), which asks the KEDA operator over gRPC, which asks Kafka. The
//! ScaledObject's `pollingInterval` drives KEDA's own loop (activation 0 ↔ 1 and the metric cache when
//! `useCachedMetrics` is set), not the HPA's reads.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tributary_e2e::kafka::{delete_groups, group_members};
use tributary_e2e::manifest::emulated_deployment;
use tributary_e2e::scale::{create_all, delete_kafka_topics, load_average, proc_sample};
use tributary_e2e::{Stack, wait_for};

use crate::Bench;
use crate::cost::make_lagging_groups;
use crate::reaction::MIN_REPLICAS;
use crate::retry::retry;
use crate::units::secs;

/// KEDA's processes, as `e2e/stack/keda up` recorded them.
#[derive(Clone, Copy, Debug)]
pub struct KedaProcesses {
    pub operator: u32,
    pub adapter: u32,
}

impl KedaProcesses {
    /// The running operator and adapter of the stack in `stack_dir`, or why there are none.
    pub fn of_stack(stack_dir: &Path) -> anyhow::Result<KedaProcesses> {
        let pid = |name: &str| -> anyhow::Result<u32> {
            let file: PathBuf = stack_dir.join("keda/pids").join(name);
            let pid: u32 = std::fs::read_to_string(&file)
                .with_context(|| format!("no {} (start KEDA with e2e/stack/keda up)", file.display()))?
                .trim()
                .parse()
                .with_context(|| format!("{} holds no PID", file.display()))?;
            anyhow::ensure!(Path::new(&format!("/proc/{pid}")).exists(), "KEDA's {name} (PID {pid}) is not running");
            Ok(pid)
        };
        Ok(KedaProcesses { operator: pid("operator")?, adapter: pid("adapter")? })
    }

    /// CPU seconds (user + system) of both processes together, and their VmRSS and VmHWM in KiB.
    fn sample(&self) -> anyhow::Result<(f64, u64, u64, u64, u64)> {
        let op = proc_sample(self.operator).context("KEDA's operator exited")?;
        let ad = proc_sample(self.adapter).context("KEDA's adapter exited")?;
        Ok((op.cpu_seconds + ad.cpu_seconds, op.rss_kb, ad.rss_kb, op.hwm_kb, ad.hwm_kb))
    }
}

fn scaled_objects(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject");
    Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk_with_plural(&gvk, "scaledobjects"))
}

/// A ScaledObject scaling `deployment` on the lag of `group` on `topic`: the Kafka trigger with `lagThreshold` per
/// replica, between `min` and `max` replicas, `offsetResetPolicy: earliest` like the emulated consumers' own
/// `auto.offset.reset` (a user sets it so: with KEDA's default, latest, a partition nobody committed on yet counts
/// as a lag of 1 whatever it holds, while the consumer will read it from the start), KEDA's other settings at their
/// defaults.
pub fn scaled_object(
    name: &str,
    deployment: &str,
    bootstrap: &str,
    (group, topic): (&str, &str),
    lag_threshold: u32,
    (min, max): (i32, i32),
    polling_interval: u32,
) -> Value {
    json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": name},
           "spec": {"scaleTargetRef": {"name": deployment}, "pollingInterval": polling_interval,
                    "minReplicaCount": min, "maxReplicaCount": max,
                    "triggers": [{"type": "kafka", "metadata": {
                        "bootstrapServers": bootstrap, "consumerGroup": group, "topic": topic,
                        "lagThreshold": lag_threshold.to_string(), "offsetResetPolicy": "earliest"}}]}})
}

/// Server-side applies a ScaledObject in the bench's namespace.
pub async fn apply_scaled_object(b: &Bench<'_>, manifest: Value) -> anyhow::Result<()> {
    let api = scaled_objects(b.client, b.ns);
    let name = manifest["metadata"]["name"].as_str().context("a ScaledObject without a name")?.to_string();
    let (pp, patch) = (PatchParams::apply("tributary-e2e").force(), Patch::Apply(&manifest));
    retry(&format!("applying ScaledObject {name}"), || api.patch(&name, &pp, &patch)).await?;
    Ok(())
}

pub async fn delete_scaled_object(b: &Bench<'_>, name: &str) -> anyhow::Result<()> {
    let api = scaled_objects(b.client, b.ns);
    let background = DeleteParams::background();
    retry("deleting the ScaledObject", || api.delete(name, &background)).await?;
    Ok(())
}

/// The HPA KEDA made for ScaledObject `name` has read the metric (ScalingActive True) and wants no more than the
/// minimum, and the emulated replica has joined `group`.
pub async fn wait_keda_steady(b: &Bench<'_>, name: &str, group: &str) -> anyhow::Result<()> {
    let hpas: Api<HorizontalPodAutoscaler> = b.api();
    let hpa = format!("keda-hpa-{name}");
    let (stack, group) = (b.stack.clone(), group.to_string());
    let get = || {
        let (hpas, hpa, stack, group) = (hpas.clone(), hpa.clone(), stack.clone(), group.clone());
        async move {
            let h = hpas.get_opt(&hpa).await?;
            let members = tokio::task::spawn_blocking(move || group_members(&stack, &group)).await??;
            let desired = h.as_ref().and_then(|h| h.status.as_ref()).map(|s| s.desired_replicas);
            Ok((h.map(|h| (scaling_active(&h), external_average(&h))), desired, members))
        }
    };
    let what = format!("{hpa} reading its metric, at the minimum, with the consumer joined");
    wait_for(&what, Duration::from_secs(150), get, |(h, desired, m)| {
        matches!(h, Some((true, Some(_)))) && *desired == Some(MIN_REPLICAS) && *m >= 1
    })
    .await?;
    Ok(())
}

/// What KEDA's HPA showed over a reaction run, read every half second: each change of (metric, desired replicas,
/// conditions) with the time since the follower started. Printed with every KEDA run, and in the error when a run
/// does not scale: the HPA's own view says whether the metric, the HPA or the `/scale` write held it back.
pub struct HpaFollower {
    seen: std::sync::Arc<std::sync::Mutex<Vec<(Duration, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HpaFollower {
    pub fn start(b: &Bench<'_>, scaled_object: &str) -> HpaFollower {
        let hpas: Api<HorizontalPodAutoscaler> = b.api();
        let hpa = format!("keda-hpa-{scaled_object}");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            loop {
                let line = match hpas.get_opt(&hpa).await {
                    Ok(Some(h)) => hpa_line(&h),
                    Ok(None) => "no HPA".to_string(),
                    Err(e) => format!("reading the HPA: {e}"),
                };
                {
                    let mut seen = seen2.lock().unwrap();
                    if seen.last().is_none_or(|(_, last)| *last != line) {
                        seen.push((started.elapsed(), line));
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        HpaFollower { seen, task }
    }

    /// Stops following; every change seen, one per line.
    pub fn stop(self) -> String {
        self.task.abort();
        let seen = self.seen.lock().unwrap();
        seen.iter().map(|(t, line)| format!("    @{}: {line}", secs(*t))).collect::<Vec<_>>().join("\n")
    }
}

/// One HPA's view: the external metric's average, current and desired replicas, and its conditions' reasons.
fn hpa_line(h: &HorizontalPodAutoscaler) -> String {
    let status = h.status.as_ref();
    let conditions = status.and_then(|s| s.conditions.as_ref()).map_or(String::new(), |cs| {
        cs.iter()
            .map(|c| format!("{}={} {}", c.type_, c.status, c.reason.as_deref().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(", ")
    });
    format!(
        "metric {} current {} desired {} ({conditions})",
        external_average(h).unwrap_or_else(|| "-".into()),
        status.and_then(|s| s.current_replicas).map_or("-".into(), |r| r.to_string()),
        status.map_or("-".into(), |s| s.desired_replicas.to_string()),
    )
}

fn scaling_active(h: &HorizontalPodAutoscaler) -> bool {
    let conditions = h.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "ScalingActive" && c.status == "True"))
}

/// The external metric's current average value the HPA last read, as the apiserver prints the quantity.
fn external_average(h: &HorizontalPodAutoscaler) -> Option<String> {
    let metrics = h.status.as_ref()?.current_metrics.as_ref()?;
    let external = metrics.iter().find_map(|m| m.external.as_ref())?;
    external.current.average_value.as_ref().map(|q| q.0.clone())
}

/// KEDA's cost: `--groups` ScaledObjects (one Deployment at 1 replica each, not consumed: the emulator does not run
/// here), each on a topic of `partitions` partitions with committed offsets and lag on every partition.
pub struct KedaCost {
    pub groups: usize,
    pub partitions: i32,
    /// Creating the ScaledObjects until every HPA has read its metric once.
    pub first_pass: Duration,
    pub window: Duration,
    /// CPU seconds of the operator and adapter together over the window.
    pub cpu_seconds: f64,
    pub operator_rss_kb: u64,
    pub adapter_rss_kb: u64,
    pub operator_hwm_kb: u64,
    pub adapter_hwm_kb: u64,
    /// The machine's 1-minute load average at the end of the window.
    pub load: f64,
}

/// KEDA at `--groups` × `partitions`: the same topic shape and committed offsets as Tributary's cost phase.
pub async fn keda_cost_phase(b: &Bench<'_>, partitions: i32, keda: KedaProcesses) -> anyhow::Result<KedaCost> {
    let (stack, run) = (b.stack, b.run);
    let n = b.args.groups;
    let prefix = format!("{run}-kedacost{partitions}");
    let topics: Vec<String> = (0..n).map(|i| format!("{prefix}-t{i:03}")).collect();
    let group_ids: Vec<String> = (0..n).map(|i| format!("{prefix}-g{i:03}")).collect();
    let names: Vec<String> = (0..n).map(|i| format!("keda-p{partitions}-{i:03}")).collect();
    let setup = Instant::now();
    let committed = make_lagging_groups(b, &topics, &group_ids, partitions).await?;
    eprintln!(
        "  KEDA: {n} topics x {partitions} partitions made, offsets committed at {committed} in {}",
        secs(setup.elapsed())
    );
    let deployments: Vec<Value> = names.iter().map(|d| emulated_deployment(d, 1)).collect();
    create_all::<Deployment>(b.client, b.ns, deployments, 32).await?;
    let started = Instant::now();
    let lag_threshold = 100;
    futures::stream::iter(names.iter().zip(topics.iter().zip(&group_ids)))
        .map(|(name, (topic, group))| {
            let so = scaled_object(
                name,
                name,
                &stack.bootstrap,
                (group, topic),
                lag_threshold,
                (1, 4),
                b.args.keda_polling_interval,
            );
            apply_scaled_object(b, so)
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    let hpas: Api<HorizontalPodAutoscaler> = b.api();
    let read_once = || async {
        let list = hpas.list(&ListParams::default()).await?;
        let prefix = format!("keda-hpa-keda-p{partitions}-");
        Ok(list
            .items
            .iter()
            .filter(|h| h.metadata.name.as_deref().is_some_and(|m| m.starts_with(&prefix)))
            .filter(|h| scaling_active(h) && external_average(h).is_some())
            .count())
    };
    wait_for(&format!("{n} KEDA HPAs reading their metric"), Duration::from_secs(300), read_once, |c| *c >= n).await?;
    let first_pass = started.elapsed();
    eprintln!("  KEDA: {n} ScaledObjects created and every HPA read its metric in {}", secs(first_pass));

    let (cpu_before, ..) = keda.sample()?;
    tokio::time::sleep(b.args.window()).await;
    let (cpu_after, operator_rss_kb, adapter_rss_kb, operator_hwm_kb, adapter_hwm_kb) = keda.sample()?;
    let load = load_average();

    // Clean up: the ScaledObjects (KEDA deletes its HPAs), the Deployments, the Kafka groups and topics.
    let api = scaled_objects(b.client, b.ns);
    let (background, all) = (DeleteParams::background(), ListParams::default());
    retry("deleting the ScaledObjects", || api.delete_collection(&background, &all)).await?;
    let left = || async { Ok(api.list_metadata(&ListParams::default()).await?.items.len()) };
    wait_for("ScaledObjects deleted", Duration::from_secs(180), left, |n| *n == 0).await?;
    let deployments: Api<Deployment> = b.api();
    retry("deleting the Deployments", || deployments.delete_collection(&background, &all)).await?;
    delete_groups(&stack.admin(), &group_ids).await?;
    delete_kafka_topics(stack, &topics).await?;
    Ok(KedaCost {
        groups: n,
        partitions,
        first_pass,
        window: b.args.window(),
        cpu_seconds: cpu_after - cpu_before,
        operator_rss_kb,
        adapter_rss_kb,
        operator_hwm_kb,
        adapter_hwm_kb,
        load,
    })
}

/// The stack's folder, where `e2e/stack/keda` keeps KEDA's PIDs.
pub fn stack_dir(stack: &Stack) -> PathBuf {
    std::env::var_os("TRIBUTARY_STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| stack.kubeconfig.parent().map(Path::to_path_buf).unwrap_or_default())
}
