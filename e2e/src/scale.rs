//! Helpers for the scale tests and the benchmarks: many Topic resources at once, a watch that counts Ready topics,
//! bulk checks in Kafka (Kafka's own CLI and rdkafka, never the operator's code), the operator's metrics and
//! process figures, and stopping/restarting a Kafka node of the stack.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::{StreamExt, TryStreamExt};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use rdkafka::admin::AdminOptions;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tributary::api::Topic;

use crate::{Conditions, Namespaced, Patience, Stack, wait_for};

/// Creates every manifest (of kind `K`) in `namespace` (plain POSTs), at most `concurrency` at a time; retries transient
/// failures (throttling, time-outs) and accepts objects that already exist. Returns how long it took.
pub async fn create_all<K: Namespaced>(
    client: &Client,
    namespace: &str,
    manifests: Vec<serde_json::Value>,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    futures::stream::iter(manifests)
        .map(|m| {
            let api = api.clone();
            async move {
                let object: K = serde_json::from_value(m).with_context(|| format!("a {} manifest", K::kind(&())))?;
                let mut attempt = 0;
                loop {
                    match api.create(&PostParams::default(), &object).await {
                        Ok(_) => return Ok(()),
                        Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
                        Err(e) if attempt < 8 => {
                            attempt += 1;
                            tracing::debug!(error = %e, "retrying a create");
                            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                        }
                        Err(e) => return Err(anyhow::Error::from(e).context(format!("creating {}", object.name_any()))),
                    }
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(started.elapsed())
}

/// What a watch last saw of one Topic.
#[derive(Clone, Debug, Default)]
pub struct TopicSeen {
    /// `(status, reason)` of the Ready condition.
    pub ready: Option<(String, String)>,
    pub generation: Option<i64>,
    pub observed_generation: Option<i64>,
    pub topic_id: Option<String>,
    pub partitions: Option<i32>,
    pub finalized: bool,
}

impl TopicSeen {
    fn of(t: &Topic) -> TopicSeen {
        let st = t.status.as_ref();
        TopicSeen {
            ready: t.condition("Ready").map(|c| (c.status, c.reason)),
            generation: t.metadata.generation,
            observed_generation: st.and_then(|s| s.observed_generation),
            topic_id: st.and_then(|s| s.topic_id.clone()),
            partitions: st.and_then(|s| s.partitions),
            finalized: !t.finalizers().is_empty(),
        }
    }

    /// Ready=True for the current generation.
    pub fn is_ready(&self) -> bool {
        self.ready.as_ref().is_some_and(|(s, _)| s == "True") && self.observed_generation == self.generation
    }
}

#[derive(Default)]
struct TrackerState {
    topics: HashMap<String, TopicSeen>,
    relist: Option<HashMap<String, TopicSeen>>,
    /// Every `Ready=False` reason seen on the watch, with how many updates carried it.
    not_ready_reasons: BTreeMap<String, usize>,
}

impl TrackerState {
    fn saw(&mut self, t: &Topic, relisting: bool) {
        let seen = TopicSeen::of(t);
        if let Some((s, r)) = &seen.ready
            && s == "False"
        {
            *self.not_ready_reasons.entry(r.clone()).or_default() += 1;
        }
        let map = if relisting { self.relist.get_or_insert_with(HashMap::new) } else { &mut self.topics };
        map.insert(t.name_any(), seen);
    }
}

/// Counts from a [`ReadyTracker`].
#[derive(Clone, Debug, Default)]
pub struct ReadyCounts {
    pub total: usize,
    pub ready: usize,
    /// Ready condition (`status/reason`, or `none`) → number of topics, over the topics not ready.
    pub not_ready: BTreeMap<String, usize>,
}

/// Watches the Topics of one namespace and keeps what each last looked like; cheap even for 10,000 objects.
pub struct ReadyTracker {
    state: Arc<Mutex<TrackerState>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadyTracker {
    pub fn start(api: Api<Topic>) -> ReadyTracker {
        let state = Arc::new(Mutex::new(TrackerState::default()));
        let s = state.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).default_backoff().boxed();
            while let Some(ev) = stream.next().await {
                let Ok(ev) = ev else { continue };
                let Ok(mut st) = s.lock() else { return };
                match ev {
                    watcher::Event::Init => st.relist = Some(HashMap::new()),
                    watcher::Event::InitApply(t) => st.saw(&t, true),
                    watcher::Event::InitDone => {
                        if let Some(m) = st.relist.take() {
                            st.topics = m;
                        }
                    }
                    watcher::Event::Apply(t) => st.saw(&t, false),
                    watcher::Event::Delete(t) => {
                        st.topics.remove(&t.name_any());
                    }
                }
            }
        });
        ReadyTracker { state, task }
    }

    pub fn counts(&self) -> ReadyCounts {
        let st = self.state.lock().expect("tracker lock");
        let mut c = ReadyCounts { total: st.topics.len(), ..Default::default() };
        for t in st.topics.values() {
            if t.is_ready() {
                c.ready += 1;
            } else {
                let key = t.ready.as_ref().map(|(s, r)| format!("{s}/{r}")).unwrap_or_else(|| "none".into());
                *c.not_ready.entry(key).or_default() += 1;
            }
        }
        c
    }

    /// Every topic as last seen.
    pub fn topics(&self) -> HashMap<String, TopicSeen> {
        self.state.lock().expect("tracker lock").topics.clone()
    }

    /// Every `Ready=False` reason seen so far, with how many updates carried it.
    pub fn not_ready_reasons(&self) -> BTreeMap<String, usize> {
        self.state.lock().expect("tracker lock").not_ready_reasons.clone()
    }

    /// Waits until at least `n` topics are Ready for their current generation; returns the time waited.
    pub async fn wait_ready(&self, n: usize, timeout: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let counts = || async { Ok(self.counts()) };
        let patience = Patience::new(timeout, Duration::from_millis(50));
        wait_for(&format!("{n} topics Ready"), patience, counts, |c| c.ready >= n).await?;
        Ok(started.elapsed())
    }
}

impl Drop for ReadyTracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Deletes every Topic of `namespace` and waits until they are gone (the operator releases its finalizers).
/// Transient apiserver errors (a busy apiserver drops connections under 10,000 deletions) are retried.
pub async fn delete_all_topics(client: &Client, namespace: &str, timeout: Duration) -> anyhow::Result<()> {
    let api: Api<Topic> = Api::namespaced(client.clone(), namespace);
    let deleted = AtomicBool::new(false);
    // What is left, and why the last deletion failed while none has gone through.
    let left = || async {
        let mut delete_error = None;
        if !deleted.load(Ordering::SeqCst) {
            match api.delete_collection(&DeleteParams::background(), &ListParams::default()).await {
                Ok(_) => deleted.store(true, Ordering::SeqCst),
                Err(e) => delete_error = Some(e.to_string()),
            }
        }
        let page = api.list_metadata(&ListParams::default().limit(1)).await?;
        let topics = page.items.len() + page.metadata.remaining_item_count.unwrap_or(0) as usize;
        Ok((topics, delete_error))
    };
    let patience = Patience::new(timeout, Duration::from_millis(500));
    wait_for(&format!("every Topic of {namespace} deleted"), patience, left, |(n, _)| *n == 0).await?;
    Ok(())
}

/// Cleans up after a failed scale test: its operator watches only the test's namespace and is gone, so nothing
/// would release the finalizers of its Topics (the namespace would stay Terminating) nor delete its Kafka topics.
/// Does nothing when the test passed (it cleans up itself, through the operator).
pub struct Leftovers {
    pub stack: Stack,
    pub namespace: String,
    pub kafka_prefix: String,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let (stack, ns, prefix) = (self.stack.clone(), self.namespace.clone(), self.kafka_prefix.clone());
        // A runtime of its own: the test's runtime is unwinding.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                let client = Client::try_default().await?;
                let api: Api<Topic> = Api::namespaced(client, &ns);
                // Deleted first, so an operator still running does not put its finalizer back.
                api.delete_collection(&DeleteParams::background(), &ListParams::default()).await?;
                let names: Vec<String> = api
                    .list_metadata(&ListParams::default())
                    .await?
                    .items
                    .into_iter()
                    .filter_map(|o| o.metadata.name)
                    .collect();
                let unpin = serde_json::json!({"metadata": {"finalizers": null}});
                futures::stream::iter(names)
                    .map(|n| {
                        let (api, unpin) = (api.clone(), unpin.clone());
                        async move {
                            let _ = api
                                .patch(&n, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&unpin))
                                .await;
                        }
                    })
                    .buffer_unordered(32)
                    .collect::<Vec<()>>()
                    .await;
                purge_kafka_topics(&stack, &prefix, &[], Duration::from_secs(120)).await?;
                Ok::<_, anyhow::Error>(())
            })
        })
        .join();
        if let Ok(Err(e)) = done {
            eprintln!("cleaning up after the failed test: {e:#}");
        }
    }
}

/// A topic as Kafka's own `TopicCommand --describe` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliTopic {
    pub id: String,
    pub partitions: usize,
    pub replication_factor: usize,
    /// The `Configs:` column (topic overrides and static broker settings).
    pub configs: HashMap<String, String>,
}

/// Describes every topic whose name matches `regex` with Kafka's own CLI (one JVM for all of them).
pub fn describe_topics_cli(stack: &Stack, regex: &str) -> anyhow::Result<HashMap<String, CliTopic>> {
    let out = stack.kafka_cli(
        "org.apache.kafka.tools.TopicCommand",
        &["--bootstrap-server", &stack.bootstrap, "--describe", "--topic", regex],
    )?;
    Ok(parse_topic_describe(&out))
}

/// Parses the summary lines of `TopicCommand --describe`.
pub fn parse_topic_describe(out: &str) -> HashMap<String, CliTopic> {
    let mut topics = HashMap::new();
    for line in out.lines().filter(|l| l.starts_with("Topic:")) {
        let fields: HashMap<&str, &str> = line
            .split('\t')
            .filter_map(|f| f.split_once(": ").or_else(|| f.strip_suffix(':').map(|k| (k, ""))))
            .collect();
        let Some(name) = fields.get("Topic") else { continue };
        let configs = fields
            .get("Configs")
            .map(|c| c.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect())
            .unwrap_or_default();
        topics.insert(
            name.to_string(),
            CliTopic {
                id: fields.get("TopicId").unwrap_or(&"").to_string(),
                partitions: fields.get("PartitionCount").and_then(|p| p.parse().ok()).unwrap_or(0),
                replication_factor: fields.get("ReplicationFactor").and_then(|p| p.parse().ok()).unwrap_or(0),
                configs,
            },
        );
    }
    topics
}

/// Names of the Kafka topics that start with `prefix` (rdkafka metadata, used directly).
pub fn kafka_topic_names(stack: &Stack, prefix: &str) -> anyhow::Result<Vec<String>> {
    let consumer: BaseConsumer = stack.kafka_config().create()?;
    let md = consumer.fetch_metadata(None, Duration::from_secs(30))?;
    let mut names: Vec<String> =
        md.topics().iter().map(|t| t.name().to_string()).filter(|n| n.starts_with(prefix)).collect();
    names.sort();
    Ok(names)
}

/// Deletes Kafka topics directly, 100 per request; topics already gone are fine.
pub async fn delete_kafka_topics(stack: &Stack, names: &[String]) -> anyhow::Result<()> {
    let admin = stack.admin();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(60)));
    for chunk in names.chunks(100) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for r in admin.delete_topics(&refs, &opts).await? {
            if let Err((name, code)) = r
                && code != rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition
            {
                bail!("deleting {name}: {code}");
            }
        }
    }
    Ok(())
}

/// Deletes `known` and every other Kafka topic named `prefix*`, again and again until metadata lists none (a
/// broker's metadata can lag just after a burst of creations, so a listing alone may miss some).
pub async fn purge_kafka_topics(
    stack: &Stack,
    prefix: &str,
    known: &[String],
    timeout: Duration,
) -> anyhow::Result<()> {
    // The known names are deleted with the first listing, until a deletion goes through.
    let known = Mutex::new(known.to_vec());
    let listed = || async {
        let listed = kafka_topic_names(stack, prefix)?;
        let mut names = known.lock().expect("names lock").clone();
        names.extend(listed.iter().cloned());
        names.sort();
        names.dedup();
        delete_kafka_topics(stack, &names).await?;
        known.lock().expect("names lock").clear();
        Ok(listed)
    };
    let patience = Patience::new(timeout, Duration::from_secs(1));
    wait_for(&format!("no Kafka topic named {prefix}*"), patience, listed, Vec::is_empty).await?;
    Ok(())
}

/// One series of the operator's `/metrics`.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the Prometheus text exposition (enough for counters and gauges).
pub fn parse_metrics(body: &str) -> Vec<Series> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (head, value) = l.rsplit_once(' ')?;
            let value = value.parse().ok()?;
            let (name, labels) = match head.split_once('{') {
                Some((n, rest)) => {
                    let inner = rest.strip_suffix('}')?;
                    let labels = inner
                        .split(',')
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                        .collect();
                    (n.to_string(), labels)
                }
                None => (head.to_string(), BTreeMap::new()),
            };
            Some(Series { name, labels, value })
        })
        .collect()
}

/// A snapshot of the operator's metrics.
#[derive(Clone, Debug, Default)]
pub struct MetricsSnapshot(pub Vec<Series>);

impl MetricsSnapshot {
    pub async fn take(operator: &impl crate::OperatorEndpoints) -> anyhow::Result<MetricsSnapshot> {
        let (code, body) = operator.http_get("/metrics").await?;
        if code != 200 {
            bail!("/metrics answered {code}");
        }
        Ok(MetricsSnapshot(parse_metrics(&body)))
    }

    /// Sum of the series named `name` whose labels include every `(key, value)` of `with`.
    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|s| s.name == name && with.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .map(|s| s.value)
            .sum()
    }

    /// Sums of the series named `name`, by the value of label `by`.
    pub fn by_label(&self, name: &str, by: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for s in self.0.iter().filter(|s| s.name == name) {
            *out.entry(s.labels.get(by).cloned().unwrap_or_default()).or_default() += s.value;
        }
        out
    }
}

/// Kafka admin requests by operation between two snapshots.
pub fn kafka_requests_delta(before: &MetricsSnapshot, after: &MetricsSnapshot) -> BTreeMap<String, f64> {
    let b = before.by_label("tributary_kafka_requests_total", "operation");
    after
        .by_label("tributary_kafka_requests_total", "operation")
        .into_iter()
        .map(|(op, v)| {
            let d = v - b.get(&op).copied().unwrap_or(0.0);
            (op, d)
        })
        .filter(|(_, d)| *d != 0.0)
        .collect()
}

/// Memory and CPU of a process, from `/proc`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcSample {
    pub rss_kb: u64,
    /// Peak resident set size (`VmHWM`).
    pub hwm_kb: u64,
    pub cpu_seconds: f64,
    pub threads: u64,
    /// Open file descriptors (sockets included).
    pub fds: u64,
}

/// Reads `/proc/PID/status` and `/proc/PID/stat`; `None` once the process is gone.
pub fn proc_sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count() as u64).unwrap_or(0);
    Some(ProcSample {
        rss_kb: kb("VmRSS:"),
        hwm_kb: kb("VmHWM:"),
        cpu_seconds: ticks as f64 / clock_ticks() as f64,
        threads: kb("Threads:"),
        fds,
    })
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Samples a process every `every` and keeps the peaks.
pub struct ProcSampler {
    peak: Arc<Mutex<ProcSample>>,
    task: tokio::task::JoinHandle<()>,
}

impl ProcSampler {
    pub fn start(pid: u32, every: Duration) -> ProcSampler {
        let peak = Arc::new(Mutex::new(ProcSample::default()));
        let p = peak.clone();
        let task = tokio::spawn(async move {
            while let Some(s) = proc_sample(pid) {
                if let Ok(mut peak) = p.lock() {
                    peak.rss_kb = peak.rss_kb.max(s.rss_kb);
                    peak.hwm_kb = peak.hwm_kb.max(s.hwm_kb);
                    peak.cpu_seconds = s.cpu_seconds;
                    peak.threads = peak.threads.max(s.threads);
                    peak.fds = peak.fds.max(s.fds);
                }
                tokio::time::sleep(every).await;
            }
        });
        ProcSampler { peak, task }
    }

    /// Peaks seen (RSS, the kernel's VmHWM, threads, file descriptors) and CPU seconds so far.
    pub fn peak(&self) -> ProcSample {
        *self.peak.lock().expect("sampler lock")
    }
}

impl Drop for ProcSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One Kafka node of the stack, as `e2e/stack/up` started it: its PID file, command line, working folder and log.
#[derive(Clone, Debug)]
pub struct KafkaNode {
    pub node: usize,
    pub port: u16,
    pid_file: PathBuf,
    cmdline: Vec<String>,
    cwd: PathBuf,
    log: PathBuf,
}

fn stack_dir() -> anyhow::Result<PathBuf> {
    Ok(std::env::var("TRIBUTARY_STACK_DIR")
        .context("TRIBUTARY_STACK_DIR is not set: `. e2e/stack/env.sh` first")?
        .into())
}

fn read_pid(file: &PathBuf) -> Option<u32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

fn alive(pid: u32) -> bool {
    // A zombie has no command line left: count it as gone.
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

impl KafkaNode {
    /// Node `node` (1-based; node 1 is the only KRaft controller) of the running stack.
    pub fn of(stack: &Stack, node: usize) -> anyhow::Result<KafkaNode> {
        let dir = stack_dir()?;
        let pid_file = dir.join("pids").join(format!("kafka-{node}"));
        let pid = read_pid(&pid_file).with_context(|| format!("no PID in {}", pid_file.display()))?;
        let raw = std::fs::read(format!("/proc/{pid}/cmdline"))
            .with_context(|| format!("kafka-{node} ({pid}) is not running"))?;
        let cmdline: Vec<String> =
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if !cmdline.iter().any(|a| a == "kafka.Kafka") {
            bail!("PID {pid} of kafka-{node} is not a Kafka node: {cmdline:?}");
        }
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_else(|_| dir.clone());
        let ports = std::env::var("KAFKA_BROKER_PORTS").context("KAFKA_BROKER_PORTS is not set")?;
        let port = ports
            .split_whitespace()
            .nth(node - 1)
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("no port for node {node} in KAFKA_BROKER_PORTS={ports:?}"))?;
        Ok(KafkaNode { node, port, pid_file, cmdline, cwd, log: stack.logs.join(format!("kafka-{node}.log")) })
    }

    pub fn pid(&self) -> Option<u32> {
        read_pid(&self.pid_file)
    }

    pub fn is_running(&self) -> bool {
        self.pid().is_some_and(alive)
    }

    /// SIGTERM, then waits up to `timeout` for the process to exit (SIGKILL after that).
    pub fn stop(&self, timeout: Duration) -> anyhow::Result<()> {
        let Some(pid) = self.pid().filter(|p| alive(*p)) else { return Ok(()) };
        let status = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status()?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        let deadline = Instant::now() + timeout;
        while alive(pid) {
            if Instant::now() >= deadline {
                let _ = std::process::Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
                std::thread::sleep(Duration::from_secs(1));
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Starts the node again with the same command line, appending to its log and recording the new PID where
    /// `e2e/stack/down` looks for it.
    pub fn start(&self) -> anyhow::Result<u32> {
        use std::os::unix::process::CommandExt as _;
        if self.is_running() {
            return Ok(self.pid().unwrap_or_default());
        }
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = std::process::Command::new(&self.cmdline[0])
            .args(&self.cmdline[1..])
            .current_dir(&self.cwd)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Its own process group, like `setsid` in the stack scripts: a test's end or Ctrl-C does not reach it.
            .process_group(0)
            .spawn()
            .with_context(|| format!("restarting kafka-{}", self.node))?;
        let pid = child.id();
        std::fs::write(&self.pid_file, format!("{pid}\n"))?;
        Ok(pid)
    }

    /// Waits until the node's PLAINTEXT listener accepts connections.
    pub fn wait_listening(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
            if Instant::now() >= deadline {
                bail!("kafka-{} not listening on {} after {timeout:?}", self.node, self.port);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }
}

/// Restarts a stopped Kafka node when dropped, so the stack is whole again even when a test fails.
pub struct RestartGuard(pub KafkaNode);

impl Drop for RestartGuard {
    fn drop(&mut self) {
        if self.0.is_running() {
            return;
        }
        match self.0.start().and_then(|_| self.0.wait_listening(Duration::from_secs(120))) {
            Ok(()) => eprintln!("kafka-{} restarted by the guard", self.0.node),
            Err(e) => eprintln!("could not restart kafka-{}: {e:#}; run e2e/stack/up", self.0.node),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_topic_describe_and_metrics() {
        let out = "Topic: a\tTopicId: Tt5US3AnQ06ZvwE-vL0bKw\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: min.insync.replicas=1,retention.ms=3600000\n\tTopic: a\tPartition: 0\tLeader: 2\tReplicas: 2\tIsr: 2\tElr: \tLastKnownElr: \n";
        let t = &parse_topic_describe(out)["a"];
        assert_eq!((t.partitions, t.replication_factor, t.id.as_str()), (3, 1, "Tt5US3AnQ06ZvwE-vL0bKw"));
        assert_eq!(t.configs.get("retention.ms").map(String::as_str), Some("3600000"));
        let m = MetricsSnapshot(parse_metrics(
            "# HELP x\ntributary_kafka_requests_total{operation=\"create_topics\",result=\"Success\"} 4\ntributary_status_writes_total{kind=\"Topic\"} 7\n",
        ));
        assert_eq!(m.sum("tributary_kafka_requests_total", &[("operation", "create_topics")]), 4.0);
        assert_eq!(m.sum("tributary_status_writes_total", &[]), 7.0);
    }
}
