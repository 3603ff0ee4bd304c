//! Many Topic resources at once: creating them, a watch that counts the Ready ones, deleting them, and cleaning up
//! after a failed scale test.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tributary::api::Topic;

use super::purge_kafka_topics;
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

/// Events with `reason` per object, counting the repeats a series folds into one Event.
pub async fn event_counts(client: &kube::Client, namespace: &str, reason: &str) -> HashMap<String, i32> {
    let api: kube::Api<k8s_openapi::api::events::v1::Event> = kube::Api::namespaced(client.clone(), namespace);
    let mut out = HashMap::new();
    for e in api.list(&kube::api::ListParams::default()).await.expect("listing Events").items {
        if e.reason.as_deref() == Some(reason) {
            let name = e.regarding.and_then(|r| r.name).unwrap_or_default();
            *out.entry(name).or_default() += e.series.map(|s| s.count).unwrap_or(1);
        }
    }
    out
}
