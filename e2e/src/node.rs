//! The stack's node: the operator installed with its Helm chart and running as pods from the image built here
//! (`make image`), consumer Deployments running the replica-consumer image, and what the host can see of a running
//! container (its process, in `/proc`).
//!
//! Pods use the host network (the node has no pod network and there is no kube-proxy): the chart's `hostNetwork`,
//! `http.*` and `apiServer.*` values keep every connection on 127.0.0.1.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client};

use crate::{Conditions, chart_dir, unique, wait_for};

/// The images `make image` builds and loads into the node.
pub const OPERATOR_IMAGE_REPOSITORY: &str = "tributary.local/tributary";
pub const IMAGE_TAG: &str = "dev";
pub const CONSUMER_IMAGE: &str = "tributary.local/replica-consumer:dev";
/// Where the chart's port-0 mode writes the bound HTTP address inside the container.
const HTTP_ADDR_FILE: &str = "tmp/tributary-http.addr";

fn env_var(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set: the stack has no node (run e2e/stack/up)"))
}

/// Runs a command; its standard output, or an error with its standard error.
pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `helm` with the stack's admin kubeconfig (from `KUBECONFIG`).
pub fn helm(args: &[&str]) -> anyhow::Result<String> {
    run(Command::new("helm").args(args))
}

/// `ctr` on the node's containerd, in kubelet's namespace.
fn ctr(args: &[&str]) -> anyhow::Result<String> {
    run(Command::new("ctr").arg("--address").arg(env_var("CONTAINERD_SOCKET")?).args(["-n", "k8s.io"]).args(args))
}

/// Fails with a clear message when an image is not in the node's runtime.
pub fn require_image(image: &str) -> anyhow::Result<()> {
    let listed = ctr(&["images", "ls", "-q"])?;
    if !listed.lines().any(|l| l.trim() == image || l.trim() == format!("docker.io/{image}")) {
        bail!("image {image} is not loaded into the node: run `make image` (with the stack up)");
    }
    Ok(())
}

/// The host PID of a running pod's first container (its containerd task).
pub fn container_pid(pod: &Pod) -> anyhow::Result<u32> {
    let id = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.container_id.clone())
        .context("the pod has no container id yet")?;
    let id = id.rsplit("://").next().unwrap_or_default().to_string();
    let tasks = ctr(&["tasks", "ls"])?;
    tasks
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?, f.next()?, f.next()?))
        })
        .find(|(task, _, status)| *task == id && *status == "RUNNING")
        .and_then(|(_, pid, _)| pid.parse().ok())
        .with_context(|| format!("no running task {id} in containerd"))
}

/// What the kernel says about a container's main process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessView {
    /// Real, effective, saved and filesystem uid.
    pub uids: Vec<u32>,
    pub gids: Vec<u32>,
    /// Effective, permitted and bounding capability sets (hex masks).
    pub cap_eff: u64,
    pub cap_prm: u64,
    pub no_new_privs: bool,
    /// 2 = seccomp filter.
    pub seccomp: u32,
    /// The container's root filesystem is mounted read-only.
    pub root_read_only: bool,
    pub exe: String,
}

/// Reads `/proc/<pid>/status`, `mountinfo` and `cmdline`.
pub fn inspect_process(pid: u32) -> anyhow::Result<ProcessView> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .with_context(|| format!("{name} missing from /proc/{pid}/status"))
    };
    let ids = |v: String| v.split_whitespace().filter_map(|x| x.parse().ok()).collect::<Vec<u32>>();
    let hex = |v: String| u64::from_str_radix(&v, 16).unwrap_or(u64::MAX);
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
    // The root of the process's own mount namespace: mount point "/", options in the sixth field.
    let root_read_only = mountinfo
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .rfind(|f| f.len() > 5 && f[4] == "/")
        .is_some_and(|f| f[5].split(',').any(|o| o == "ro"));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))?;
    Ok(ProcessView {
        uids: ids(field("Uid:")?),
        gids: ids(field("Gid:")?),
        cap_eff: hex(field("CapEff:")?),
        cap_prm: hex(field("CapPrm:")?),
        no_new_privs: field("NoNewPrivs:")? == "1",
        seccomp: field("Seccomp:")?.parse().unwrap_or(0),
        root_read_only,
        exe: String::from_utf8_lossy(cmdline.split(|b| *b == 0).next().unwrap_or_default()).into_owned(),
    })
}

fn pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none() && p.has_condition("Ready", "True", None)
}

/// Pods, printed by name (what a wait last saw).
struct PodNames(Vec<Pod>);

impl std::fmt::Debug for PodNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|p| p.metadata.name.as_deref().unwrap_or_default())).finish()
    }
}

fn restart_count(p: &Pod) -> i32 {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .map(|c| c.restart_count)
        .unwrap_or(0)
}

/// The operator installed with `helm install` of `charts/tributary`, running as pods on the node.
pub struct ChartOperator {
    pub release: String,
    pub namespace: String,
    client: Client,
    /// The fixed HTTP port, or None when every replica binds a free one (port 0, exec probes).
    pub fixed_port: Option<u16>,
    uninstalled: bool,
}

/// How to install the chart.
#[derive(Clone, Debug)]
pub struct ChartOptions {
    pub replicas: u32,
    /// A fixed host port for /healthz, /readyz and /metrics (HTTP probes); None for port 0 (exec probes).
    pub fixed_port: Option<u16>,
    /// Watch only the release namespace.
    pub scoped: bool,
    /// More `--set` values.
    pub sets: Vec<String>,
}

impl Default for ChartOptions {
    fn default() -> Self {
        ChartOptions { replicas: 1, fixed_port: None, scoped: true, sets: Vec::new() }
    }
}

impl ChartOperator {
    /// `helm install` of the chart into `namespace` with the local image and the local node's values (host
    /// network, apiserver on 127.0.0.1), without waiting for the pods.
    pub fn install(client: &Client, namespace: &str, opts: &ChartOptions) -> anyhow::Result<ChartOperator> {
        require_image(&format!("{OPERATOR_IMAGE_REPOSITORY}:{IMAGE_TAG}"))?;
        let release = unique("tributary");
        let chart = chart_dir();
        let port = opts.fixed_port.unwrap_or(0);
        let mut sets = vec![
            format!("replicaCount={}", opts.replicas),
            format!("image.repository={OPERATOR_IMAGE_REPOSITORY}"),
            format!("image.tag={IMAGE_TAG}"),
            "image.pullPolicy=Never".to_string(),
            "hostNetwork=true".to_string(),
            "http.bindAddress=127.0.0.1".to_string(),
            format!("http.port={port}"),
            "apiServer.host=127.0.0.1".to_string(),
            format!("apiServer.port={}", env_var("APISERVER_PORT")?),
            "config.logFormat=text".to_string(),
            "config.logLevel=info\\,tributary=debug".to_string(),
            "terminationGracePeriodSeconds=10".to_string(),
        ];
        if opts.scoped {
            sets.push(format!("config.watchNamespace={namespace}"));
        }
        sets.extend(opts.sets.iter().cloned());
        let mut args: Vec<String> = vec![
            "install".into(),
            release.clone(),
            chart.display().to_string(),
            "-n".into(),
            namespace.into(),
            "--skip-crds".into(),
        ];
        for s in &sets {
            args.push("--set".into());
            args.push(s.clone());
        }
        helm(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(ChartOperator {
            release,
            namespace: namespace.to_string(),
            client: client.clone(),
            fixed_port: opts.fixed_port,
            uninstalled: false,
        })
    }

    fn pod_api(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The release's pods (terminating ones included).
    pub async fn pods(&self) -> anyhow::Result<Vec<Pod>> {
        let lp = ListParams::default().labels(&format!("app.kubernetes.io/instance={}", self.release));
        Ok(self.pod_api().list(&lp).await?.items)
    }

    /// Waits until `n` pods are Ready and not terminating; returns them.
    pub async fn wait_ready(&self, n: usize, timeout: Duration) -> Vec<Pod> {
        let ready = || async { Ok(PodNames(self.pods().await?.into_iter().filter(pod_ready).collect())) };
        let what = format!("{n} Ready operator pod(s) of {}", self.release);
        wait_for(&what, timeout, ready, |p| p.0.len() == n).await.unwrap_or_else(|e| panic!("{e}")).0
    }

    /// The holder of the leader Lease (a pod name).
    pub async fn leader(&self) -> Option<String> {
        let leases: Api<Lease> = Api::namespaced(self.client.clone(), &self.namespace);
        leases.get_opt("tributary-leader").await.ok().flatten().and_then(|l| l.spec.and_then(|s| s.holder_identity))
    }

    /// The pod named `name`.
    pub async fn pod(&self, name: &str) -> anyhow::Result<Pod> {
        Ok(self.pod_api().get(name).await?)
    }

    /// The HTTP port a pod serves /metrics on: the fixed one, or the one its process wrote down (read through
    /// `/proc/<pid>/root`, the container's own filesystem).
    pub fn http_port(&self, pod: &Pod) -> anyhow::Result<u16> {
        if let Some(p) = self.fixed_port {
            return Ok(p);
        }
        let pid = container_pid(pod)?;
        let text = std::fs::read_to_string(format!("/proc/{pid}/root/{HTTP_ADDR_FILE}"))?;
        let addr: std::net::SocketAddr = text.trim().parse()?;
        Ok(addr.port())
    }

    /// A metric summed over the series starting with `prefix`, from one pod's /metrics.
    pub async fn metric_sum_of(&self, pod: &Pod, prefix: &str) -> anyhow::Result<f64> {
        let (code, body) = crate::http_get(self.http_port(pod)?, "/metrics").await?;
        anyhow::ensure!(code == 200, "/metrics answered {code}");
        Ok(crate::sum_series(&body, prefix))
    }

    /// The pod that does the work: the Lease holder, or the only Ready pod.
    pub async fn serving_pod(&self) -> anyhow::Result<Pod> {
        if let Some(holder) = self.leader().await
            && let Ok(p) = self.pod(&holder).await
        {
            return Ok(p);
        }
        let mut ready: Vec<Pod> = self.pods().await?.into_iter().filter(pod_ready).collect();
        anyhow::ensure!(ready.len() == 1, "{} Ready operator pods and no Lease holder", ready.len());
        Ok(ready.remove(0))
    }

    /// GETs a path of the serving pod's HTTP server; returns (status, body).
    pub async fn http_get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let pod = self.serving_pod().await?;
        crate::http_get(self.http_port(&pod)?, path).await
    }

    /// Every line the release's operator containers logged so far.
    pub fn log_text(&self) -> String {
        self.logs()
    }

    /// Waits until kubelet has restarted the pod's container and it is Ready again; returns its restart count.
    pub async fn wait_restarted(&self, pod: &Pod, timeout: Duration) -> i32 {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let before = restart_count(pod);
        let seen = || async {
            let p = self.pod(&name).await?;
            Ok((restart_count(&p), pod_ready(&p)))
        };
        let restarted = |(n, ready): &(i32, bool)| *n > before && *ready;
        wait_for(&format!("{name} restarted and Ready"), timeout, seen, restarted)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .0
    }

    /// SIGKILL of a pod's container process (kubelet restarts the container).
    pub fn kill_container(&self, pod: &Pod) -> anyhow::Result<u32> {
        let pid = container_pid(pod)?;
        run(Command::new("kill").arg("-KILL").arg(pid.to_string()))?;
        Ok(pid)
    }

    /// Deletes a pod with the given grace period (0: at once, as a lost node would).
    pub async fn delete_pod(&self, name: &str, grace_seconds: u32) -> anyhow::Result<()> {
        let dp = DeleteParams { grace_period_seconds: Some(grace_seconds), ..Default::default() };
        self.pod_api().delete(name, &dp).await?;
        Ok(())
    }

    /// Every log line the release's operator containers wrote on the node (kubelet's files, every restart).
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let Ok(dirs) = std::fs::read_dir("/var/log/pods") else { return out };
        let mut dirs: Vec<PathBuf> = dirs
            .filter_map(|d| d.ok().map(|d| d.path()))
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{}_", self.namespace)))
            })
            .collect();
        dirs.sort();
        for dir in dirs {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("operator"))
                .map(|r| r.filter_map(|f| f.ok().map(|f| f.path())).collect())
                .unwrap_or_default();
            files.sort();
            for f in files {
                out.push_str(&format!("==> {} <==\n", f.display()));
                out.push_str(&std::fs::read_to_string(&f).unwrap_or_default());
            }
        }
        out
    }

    /// `helm uninstall` (the chart's cluster-scoped RBAC goes with it).
    pub fn uninstall(&mut self) -> anyhow::Result<()> {
        if !self.uninstalled {
            self.uninstalled = true;
            helm(&["uninstall", &self.release, "-n", &self.namespace, "--wait", "--timeout", "60s"])?;
        }
        Ok(())
    }
}

impl crate::operator::OperatorEndpoints for ChartOperator {
    fn http_get(&self, path: &str) -> impl std::future::Future<Output = anyhow::Result<(u16, String)>> + Send {
        ChartOperator::http_get(self, path)
    }
}

impl Drop for ChartOperator {
    fn drop(&mut self) {
        if std::thread::panicking() {
            crate::operator::eprint_tail(&format!("the operator pods of {}", self.release), &self.logs(), 80);
        }
        if let Err(e) = self.uninstall() {
            eprintln!("helm uninstall of {}: {e:#}", self.release);
        }
    }
}

/// A consumer Deployment of the replica-consumer image: every pod joins `group` on `topics` and processes at most
/// `rate` records per second. `replicas` None leaves the count to the autoscaler (as a GitOps manifest should).
pub fn consumer_deployment(
    name: &str,
    group: &str,
    topics: &[&str],
    bootstrap: &str,
    rate: u32,
    replicas: Option<i32>,
) -> serde_json::Value {
    let mut spec = serde_json::json!({
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {
                "hostNetwork": true,
                "terminationGracePeriodSeconds": 10,
                "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "consumer",
                    "image": CONSUMER_IMAGE,
                    "imagePullPolicy": "Never",
                    "env": [
                        {"name": "KAFKA_BOOTSTRAP", "value": bootstrap},
                        {"name": "GROUP_ID", "value": group},
                        {"name": "TOPICS", "value": topics.join(",")},
                        {"name": "RATE", "value": rate.to_string()},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                    ],
                    "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                    "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                                        "capabilities": {"drop": ["ALL"]}}
                }]
            }
        }
    });
    if let Some(r) = replicas {
        spec["replicas"] = r.into();
    }
    serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec})
}

/// Pods of a consumer Deployment (label `app=<name>`) that are Running and not terminating.
pub async fn running_pods(client: &Client, namespace: &str, app: &str) -> anyhow::Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pods = api.list(&ListParams::default().labels(&format!("app={app}"))).await?.items;
    Ok(pods
        .into_iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        })
        .collect())
}

/// Seconds since `start`, for timelines.
pub fn since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}
