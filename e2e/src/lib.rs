//! Harness for the end-to-end tests: reaches the real stack started by `e2e/stack/up`, runs the operator binary as
//! a process, and gives the tests Kubernetes and Kafka clients.
//!
//! The stack is found through the variables `e2e/stack/env.sh` exports; a test run without them fails at once with
//! a message saying so, instead of skipping.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use rdkafka::ClientConfig;

pub mod conditions;
pub mod emulator;
pub mod kafka;
pub mod manifest;
pub mod node;
pub mod rbac;
pub mod scale;
pub mod wait;

pub use conditions::{Cond, Conditions};
pub use wait::{Patience, TimedOut, wait_condition, wait_for, wait_for_some, wait_status};

/// Where the running stack is.
#[derive(Clone, Debug)]
pub struct Stack {
    pub kubeconfig: PathBuf,
    pub bootstrap: String,
    pub scram_bootstrap: String,
    /// Every node's TLS (SSL) listener, and the PEM of the CA that signed their certificate.
    pub tls_bootstrap: String,
    pub tls_ca: PathBuf,
    pub scram_user: String,
    pub scram_password: String,
    pub kafka_lib: PathBuf,
    pub kafka_log4j: PathBuf,
    pub logs: PathBuf,
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: start the stack with `e2e/stack/up` and `. e2e/stack/env.sh` (or run `make test`)")
    })
}

impl Stack {
    /// Reads the stack's coordinates from the environment.
    pub fn from_env() -> Stack {
        let get = |n: &str| env(n).unwrap_or_else(|e| panic!("{e}"));
        Stack {
            kubeconfig: get("KUBECONFIG").into(),
            bootstrap: get("KAFKA_BOOTSTRAP"),
            scram_bootstrap: get("KAFKA_SCRAM_BOOTSTRAP"),
            tls_bootstrap: get("KAFKA_TLS_BOOTSTRAP"),
            tls_ca: get("KAFKA_TLS_CA").into(),
            scram_user: get("KAFKA_SCRAM_USER"),
            scram_password: get("KAFKA_SCRAM_PASSWORD"),
            kafka_lib: get("KAFKA_LIB").into(),
            kafka_log4j: get("KAFKA_LOG4J").into(),
            logs: get("TRIBUTARY_STACK_LOGS").into(),
        }
    }

    pub async fn kube(&self) -> Client {
        Client::try_default().await.expect("a Kubernetes client from KUBECONFIG")
    }

    /// A Kafka client config for the plaintext listener.
    pub fn kafka_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap).set("log_level", "3");
        c
    }

    /// Runs one of Kafka's own command-line classes (e.g. `org.apache.kafka.tools.TopicCommand`) and returns its
    /// standard output; fails with its standard error when it exits non-zero.
    pub fn kafka_cli(&self, class: &str, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("java")
            .arg(format!("-Dlog4j2.configurationFile={}", self.kafka_log4j.display()))
            .arg("-cp")
            .arg(format!("{}/*", self.kafka_lib.display()))
            .arg(class)
            .args(args)
            .output()
            .with_context(|| format!("running {class}"))?;
        if !out.status.success() {
            bail!("{class} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// A unique, DNS-safe suffix for names made by one test.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{:x}{:x}", nanos % 0xfffff, N.fetch_add(1, Ordering::SeqCst))
}

/// Milliseconds since the Unix epoch, as Kafka timestamps count.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as i64
}

/// Installs (server-side apply) every CRD the operator generates and waits until they are Established.
pub async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply("tributary-e2e").force();
    for (_, crd) in tributary::api::all_crds() {
        let name = crd.metadata.name.clone().expect("CRDs are named");
        api.patch(&name, &pp, &Patch::Apply(&crd)).await.with_context(|| format!("applying CRD {name}"))?;
    }
    for (_, crd) in tributary::api::all_crds() {
        let name = crd.metadata.name.clone().expect("CRDs are named");
        let conditions = || async { Ok(api.get(&name).await?.conditions()) };
        let established = |c: &Vec<Cond>| c.has_condition("Established", "True", None);
        wait_for(&format!("CRD {name} Established"), Duration::from_secs(30), conditions, established).await?;
    }
    Ok(())
}

/// The stack from the environment, a Kubernetes client, every CRD installed, and a namespace of one's own.
pub async fn prepare(prefix: &str) -> (Stack, Client, TestNamespace) {
    let stack = Stack::from_env();
    let client = stack.kube().await;
    install_crds(&client).await.expect("installing CRDs");
    let ns = TestNamespace::create(&client, prefix).await;
    (stack, client, ns)
}

/// A namespace made for one test, deleted when dropped (without waiting).
pub struct TestNamespace {
    pub name: String,
}

impl TestNamespace {
    pub async fn create(client: &Client, prefix: &str) -> TestNamespace {
        let name = unique(prefix);
        let api: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
        api.create(&PostParams::default(), &ns).await.expect("creating the test namespace");
        TestNamespace { name }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // From a thread of its own with a fresh client: a task spawned on the test's runtime would not run once the
        // test returns or unwinds after a panic, and the namespace (with its resources) would be left behind.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let client = Client::try_default().await?;
                Api::<Namespace>::all(client).delete(&name, &DeleteParams::background()).await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
    }
}

/// The operator binary, built by `cargo build` before the tests (the Makefile does it).
pub fn operator_binary() -> PathBuf {
    if let Ok(p) = std::env::var("TRIBUTARY_BIN") {
        return p.into();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf();
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    target.join("debug").join("tributary")
}

/// The release build of the operator the benchmarks run by default: `target/release/tributary` of the workspace.
pub fn release_operator_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf();
    root.join("target").join("release").join("tributary")
}

/// A running operator process. Stopped with SIGTERM when dropped; its log tail is printed if the test panicked.
pub struct Operator {
    child: Option<Child>,
    pub http_port: u16,
    pub log: PathBuf,
}

/// Picks a free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Operator {
    /// Starts `tributary run` with extra arguments.
    pub fn start(stack: &Stack, name: &str, extra: &[&str]) -> Operator {
        let filter = std::env::var("TRIBUTARY_TEST_LOG").unwrap_or_else(|_| "info,tributary=debug".into());
        Operator::start_with(stack, name, &operator_binary(), extra, &filter)
    }

    /// Starts `bin run` with extra arguments and `RUST_LOG=log_filter` (benchmarks run a release build quietly).
    pub fn start_with(stack: &Stack, name: &str, bin: &Path, extra: &[&str], log_filter: &str) -> Operator {
        assert!(bin.exists(), "operator binary {} missing: run `cargo build -p tributary` first", bin.display());
        let http_port = free_port();
        let log = stack.logs.join(format!("operator-{}.log", unique(name)));
        let file = std::fs::File::create(&log).expect("creating the operator log");
        // The operator runs as the chart's ServiceAccount (see `rbac`), unless a test asks for admin.
        let kubeconfig = if std::env::var("TRIBUTARY_E2E_ADMIN").is_ok_and(|v| v == "1") {
            stack.kubeconfig.clone()
        } else {
            let dir = stack.logs.parent().expect("the stack folder").to_path_buf();
            rbac::operator_kubeconfig(&stack.kubeconfig, &dir).expect("a kubeconfig for the chart's ServiceAccount")
        };
        let child = Command::new(bin)
            .arg("run")
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{http_port}"))
            .args(extra)
            .env("KUBECONFIG", &kubeconfig)
            .env("TRIBUTARY_LOG_FORMAT", "text")
            .env("RUST_LOG", log_filter)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("starting the operator");
        Operator { child: Some(child), http_port, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// GETs a path of the operator's HTTP server; returns (status, body).
    pub async fn http_get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        http_get(self.http_port, path).await
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) {
        let readyz = || async { Ok(self.http_get("/readyz").await?.0) };
        wait_for("operator /readyz", Duration::from_secs(60), readyz, |code| *code == 200)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Sends a signal and waits for the process to exit; returns its exit status.
    pub fn stop_with(&mut self, signal: i32, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        unsafe_free_kill(child.id(), signal)?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                bail!("operator did not exit within {timeout:?} after signal {signal}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The operator's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A metric's value summed over every series whose line starts with `prefix` (name plus optional labels).
    pub async fn metric_sum(&self, prefix: &str) -> anyhow::Result<f64> {
        let (_, body) = self.http_get("/metrics").await?;
        Ok(sum_series(&body, prefix))
    }
}

/// What tests read from a running operator, process or pods.
pub trait OperatorEndpoints: Sync {
    /// GETs a path of the operator's HTTP server; returns (status, body).
    fn http_get(&self, path: &str) -> impl Future<Output = anyhow::Result<(u16, String)>> + Send;

    /// A metric summed over the series whose line starts with `prefix`; an error when /metrics cannot be read.
    fn metric_sum(&self, prefix: &str) -> impl Future<Output = anyhow::Result<f64>> + Send {
        async move {
            let (code, body) = self.http_get("/metrics").await?;
            anyhow::ensure!(code == 200, "/metrics answered {code}");
            Ok(sum_series(&body, prefix))
        }
    }
}

impl OperatorEndpoints for Operator {
    fn http_get(&self, path: &str) -> impl Future<Output = anyhow::Result<(u16, String)>> + Send {
        Operator::http_get(self, path)
    }
}

impl OperatorEndpoints for node::ChartOperator {
    fn http_get(&self, path: &str) -> impl Future<Output = anyhow::Result<(u16, String)>> + Send {
        node::ChartOperator::http_get(self, path)
    }
}

/// The sum of the values of every series in an OpenMetrics text whose line starts with `prefix`.
pub fn sum_series(body: &str, prefix: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// `kill(1)`: keeps this crate free of `unsafe`.
fn unsafe_free_kill(pid: u32, signal: i32) -> anyhow::Result<()> {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status()?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed");
    }
    Ok(())
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = unsafe_free_kill(child.id(), 15);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let text = self.log_text();
            let tail: Vec<&str> = text.lines().rev().take(60).collect();
            eprintln!("---- last lines of {} ----", self.log.display());
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// A minimal HTTP/1.1 GET over loopback, enough for the operator's own endpoints.
pub async fn http_get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).context("no HTTP status")?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((code, body))
}

/// One test's world: the stack, a Kubernetes client, a namespace and a running operator: a process
/// ([`Operator`]) or the chart's pods on the node ([`node::ChartOperator`]).
pub struct Fixture<O = Operator> {
    pub stack: Stack,
    pub client: Client,
    pub ns: TestNamespace,
    pub operator: O,
}

impl Fixture<node::ChartOperator> {
    /// Installs the CRDs, makes a namespace and installs the chart there (the operator pods watch only that
    /// namespace and keep their Lease in it); waits until `opts.replicas` pods are Ready.
    pub async fn start_chart(prefix: &str, opts: node::ChartOptions) -> Self {
        let (stack, client, ns) = prepare(prefix).await;
        let operator = node::ChartOperator::install(&client, &ns.name, &opts).expect("helm install of the chart");
        operator.wait_ready(opts.replicas as usize, Duration::from_secs(120)).await;
        Fixture { stack, client, ns, operator }
    }
}

impl Fixture<node::ChartOperator> {
    /// Installs the CRDs, makes a namespace and installs the chart there: one operator pod from the local image that
    /// watches only that namespace, so tests never act on each other's resources. `args` are `tributary run` flags,
    /// given to the pod as the chart values that set them.
    pub async fn start(prefix: &str, args: &[&str]) -> Self {
        Fixture::start_chart(prefix, node::ChartOptions { sets: chart_values(args), ..Default::default() }).await
    }

    /// Like [`Fixture::start`], but the operator watches every namespace (for cross-namespace behaviour).
    pub async fn start_cluster_wide(prefix: &str, args: &[&str]) -> Self {
        let opts = node::ChartOptions { sets: chart_values(args), scoped: false, ..Default::default() };
        Fixture::start_chart(prefix, opts).await
    }
}

/// The chart values for `tributary run` flags (each flag has a key in the operator's configuration file).
fn chart_values(args: &[&str]) -> Vec<String> {
    args.chunks(2)
        .map(|pair| match pair {
            ["--resync-seconds", v] => format!("config.resyncSeconds={v}"),
            ["--group-poll-seconds", v] => format!("config.groupPollSeconds={v}"),
            other => panic!("no chart value for the flag {other:?}"),
        })
        .collect()
}

impl Fixture {
    /// Installs the CRDs, makes a namespace and starts the operator as a process (the chart's ServiceAccount token,
    /// see `rbac`) with `args`, watching only that namespace: for what a process shows and a pod does not (two
    /// replicas killed and restarted at will, exit codes).
    pub async fn start_process(prefix: &str, args: &[&str]) -> Fixture {
        let (stack, client, ns) = prepare(prefix).await;
        let mut args: Vec<&str> = args.to_vec();
        args.extend(["--namespace", ns.name.as_str()]);
        let operator = Operator::start(&stack, prefix, &args);
        operator.wait_ready().await;
        Fixture { stack, client, ns, operator }
    }
}

impl<O> Fixture<O> {
    pub fn api<K: Namespaced>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), &self.ns.name)
    }

    /// Server-side applies a manifest (JSON) in the test namespace and returns the stored object.
    pub async fn apply<K: Namespaced>(&self, manifest: serde_json::Value) -> K {
        apply_in(&self.client, &self.ns.name, manifest).await
    }

    /// Whether Kafka has the topic (an independent client's metadata).
    pub async fn kafka_has(&self, topic: &str) -> bool {
        kafka::describe_topic(&self.stack, &self.stack.admin(), topic).await.expect("describing a topic").is_some()
    }

    /// A KafkaConnection named `name` to the stack's plaintext listener.
    pub async fn connection(&self, name: &str) -> tributary::api::KafkaConnection {
        self.apply(manifest::kafka_connection(name, &self.stack.bootstrap)).await
    }
}

/// A namespaced kind the harness creates, applies and reads.
pub trait Namespaced:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
{
}

impl<K> Namespaced for K where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
{
}

/// The `metadata.name` of a manifest.
pub fn manifest_name(manifest: &serde_json::Value) -> &str {
    manifest["metadata"]["name"].as_str().expect("manifest has a name")
}

/// Server-side applies `manifest` through `api` as the e2e's field manager, forcing conflicts.
pub async fn server_side_apply<K: Namespaced>(api: &Api<K>, manifest: &serde_json::Value) -> kube::Result<K> {
    api.patch(manifest_name(manifest), &PatchParams::apply("tributary-e2e").force(), &Patch::Apply(manifest)).await
}

/// Server-side applies a manifest in `namespace`.
pub async fn apply_in<K: Namespaced>(client: &Client, namespace: &str, manifest: serde_json::Value) -> K {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    server_side_apply(&api, &manifest).await.unwrap_or_else(|e| panic!("applying {}: {e}", manifest_name(&manifest)))
}

/// Events about objects in `namespace`, as `(reason, note)`.
pub async fn events_in(client: &Client, namespace: &str) -> Vec<(String, String, String)> {
    let api: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), namespace);
    api.list(&Default::default())
        .await
        .map(|l| {
            l.items
                .into_iter()
                .map(|e| {
                    let regarding = e.regarding.and_then(|r| r.name).unwrap_or_default();
                    (regarding, e.reason.unwrap_or_default(), e.note.unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default()
}
