//! The `DlqPolicy` controller: generates the retry and dead-letter topics as child `Topic` resources (the Topic
//! controller manages them in Kafka: creation, drift, deletion policy), watches the dead-letter topic (depth, age of
//! the oldest dead letter, arrival rate, alert condition, metrics), and runs redrives: one background move per
//! policy, exactly once, rate limited (see `kafka::redrive`).
//!
//! A move runs on a blocking thread owned by this controller, never inside a reconcile. It reports its committed
//! progress into memory and wakes the policy's reconcile at most once a second; the reconcile is the only writer of
//! the policy's status.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Api, Resource, ResourceExt};
use tokio::sync::mpsc;

use super::context::{Context, resolve_connection};
use super::status::{MANAGER, apply_status};
use super::watch;
use crate::api::common::ManagementPolicy;
use crate::api::conditions::{self, READY};
use crate::api::dlq_policy::{
    DEAD_LETTERS_WITHIN_LIMIT, DLQ_POLICY_FINALIZER, DLQ_POLICY_LABEL, DlqPolicy, DlqPolicyStatus, RedriveSpec,
    RedriveStatus, SameIntervalTopicReuse, TopicSuffixing,
};
use crate::api::full_name;
use crate::api::topic::{Topic, TopicSpec};
use crate::decisions::dlq::{self, EndSample, GeneratedTopic, Role};
use crate::decisions::lag::PartitionOffsets;
use crate::decisions::problem::Problem;
use crate::kafka::redrive::{MoveControl, MovePhase, MoveProgress, MoveRequest, Peeker};
use crate::kafka::{ClusterClient, KafkaError, OffsetSpec};
use crate::runtime::metrics::{KindLabels, ReconcileLabels, ResourceLabels, ResultLabel};

/// How often the dead-letter topic is observed.
const MONITOR_INTERVAL: Duration = Duration::from_secs(10);
/// Window of the arrival rate.
const RATE_WINDOW_MS: i64 = 60 * 1000;
/// A running move wakes its reconcile at most this often.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(#[from] Box<kube::runtime::finalizer::Error<Error>>),
}

/// A move running in the background.
struct MoveHandle {
    id: String,
    control: Arc<MoveControl>,
    progress: Arc<Mutex<MoveProgress>>,
    join: tokio::task::JoinHandle<()>,
}

/// What the monitor remembers of one policy between polls.
#[derive(Default)]
struct Monitor {
    samples: Vec<EndSample>,
    /// Per partition: the head offset last peeked and the first record found there (offset, timestamp).
    heads: BTreeMap<i32, (i64, Option<(i64, i64)>)>,
    peeker: Option<Arc<Mutex<Peeker>>>,
}

/// State of the DlqPolicy controller, beside the shared [`Context`].
pub struct DlqContext {
    pub base: Arc<Context>,
    policies: Store<DlqPolicy>,
    topics: Store<Topic>,
    moves: Mutex<HashMap<String, MoveHandle>>,
    monitors: tokio::sync::Mutex<HashMap<String, Monitor>>,
    wake: mpsc::UnboundedSender<ObjectRef<DlqPolicy>>,
}

/// Reconcile a policy when its spec, finalizers or deletion change; status writes do not count.
fn policy_predicate(p: &DlqPolicy) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.metadata.generation.hash(&mut h);
    p.metadata.deletion_timestamp.as_ref().map(|d| d.0.as_second()).hash(&mut h);
    p.metadata.finalizers.hash(&mut h);
    Some(h.finish())
}

/// Runs the controller until `shutdown`; then interrupts running moves (they resume on the next start).
pub async fn run(ctx: Arc<Context>, shutdown: tokio::sync::watch::Receiver<bool>) {
    let client = ctx.client.clone();
    let (topic_reader, topic_writer) = reflector::store();
    let children =
        watcher(watch::watched::<Topic>(&client, &ctx.config), watcher::Config::default().labels(DLQ_POLICY_LABEL))
            .default_backoff()
            .reflect(topic_writer)
            .touched_objects();
    let (policy_reader, policy_writer) = reflector::store();
    let policies = watcher(watch::watched::<DlqPolicy>(&client, &ctx.config), watcher::Config::default())
        .default_backoff()
        .reflect(policy_writer)
        .applied_objects()
        .predicate_filter(policy_predicate, Default::default());
    let (wake, mut woken) = mpsc::unbounded_channel();
    let st = Arc::new(DlqContext {
        base: ctx,
        policies: policy_reader.clone(),
        topics: topic_reader,
        moves: Mutex::default(),
        monitors: Default::default(),
        wake,
    });
    let wakes = futures::stream::poll_fn(move |cx| woken.poll_recv(cx));
    Controller::for_stream(policies, policy_reader)
        .owns_stream(children)
        .reconcile_on(wakes)
        .graceful_shutdown_on(watch::stopped(shutdown))
        .run(reconcile, error_policy, st.clone())
        .for_each(|_| futures::future::ready(()))
        .await;
    let handles: Vec<MoveHandle> = st.moves.lock().map(|mut m| m.drain().map(|(_, h)| h).collect()).unwrap_or_default();
    for h in &handles {
        h.control.interrupt();
    }
    for h in handles {
        let _ = tokio::time::timeout(Duration::from_secs(10), h.join).await;
    }
}

#[tracing::instrument(skip_all, fields(dlqpolicy = %full_name(policy.as_ref())))]
pub async fn reconcile(policy: Arc<DlqPolicy>, st: Arc<DlqContext>) -> Result<Action, Error> {
    let started = Instant::now();
    let ns = policy.namespace().unwrap_or_default();
    let api: Api<DlqPolicy> = Api::namespaced(st.base.client.clone(), &ns);
    let result = finalizer(&api, DLQ_POLICY_FINALIZER, policy, |event| async {
        match event {
            FinalizerEvent::Apply(p) => apply(p, &st, &api).await,
            FinalizerEvent::Cleanup(p) => cleanup(p, &st).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    let m = &st.base.metrics;
    let label = if result.is_ok() { ResultLabel::Success } else { ResultLabel::Error };
    m.reconciles.get_or_create(&ReconcileLabels { kind: "DlqPolicy", result: label }).inc();
    m.reconcile_duration.get_or_create(&KindLabels { kind: "DlqPolicy" }).observe(started.elapsed().as_secs_f64());
    result
}

pub fn error_policy(policy: Arc<DlqPolicy>, err: &Error, _st: Arc<DlqContext>) -> Action {
    tracing::warn!(dlqpolicy = %full_name(policy.as_ref()), error = %err, "dlq policy reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

/// A status time: whole seconds, as the API server stores them (anything finer would differ after a round trip
/// and cause a write at every poll).
fn time_of(ms: i64) -> Option<Time> {
    Timestamp::from_second(ms.div_euclid(1000)).ok().map(Time)
}

/// The redrive group of a policy (and the prefix of its movers' transactional ids).
pub fn redrive_group(policy: &DlqPolicy) -> String {
    format!("tributary-redrive-{}-{}", policy.namespace().unwrap_or_default(), policy.name_any())
}

/// The pure topic plan's input, from the spec.
fn topics_spec(policy: &DlqPolicy) -> dlq::TopicsSpec {
    let s = &policy.spec;
    let r = s.retry.as_ref();
    let d = &s.dead_letter;
    dlq::TopicsSpec {
        attempts: r.map(|r| r.attempts),
        backoff: r.and_then(|r| r.backoff.as_ref()).map(|b| dlq::BackoffMs {
            initial: (b.initial_seconds * 1000.0).round() as i64,
            multiplier: b.multiplier,
            max: b.max_seconds.map(|m| (m * 1000.0).round() as i64),
        }),
        delays_ms: r.map(|r| r.delays_ms.clone()).unwrap_or_default(),
        retry_suffix: r.and_then(|r| r.suffix.clone()),
        suffixing: match r.and_then(|r| r.suffixing) {
            Some(TopicSuffixing::IndexValue) => dlq::Suffixing::IndexValue,
            _ => dlq::Suffixing::DelayValue,
        },
        reuse: match r.and_then(|r| r.same_interval_topic_reuse) {
            Some(SameIntervalTopicReuse::MultipleTopics) => dlq::Reuse::MultipleTopics,
            _ => dlq::Reuse::SingleTopic,
        },
        retry_partitions: r.and_then(|r| r.partitions),
        retry_replication_factor: r.and_then(|r| r.replication_factor),
        retry_config: r.map(|r| r.config.clone()).unwrap_or_default(),
        dlt_name: d.topic_name.clone(),
        dlt_suffix: d.suffix.clone(),
        dlt_partitions: d.partitions,
        dlt_replication_factor: d.replication_factor,
        dlt_retention_seconds: d.retention_seconds,
        dlt_config: d.config.clone(),
    }
}

/// The child `Topic` resource of a generated topic.
fn child_of(policy: &DlqPolicy, g: &GeneratedTopic) -> Topic {
    let mut t = Topic::new(
        &g.resource_name,
        TopicSpec {
            topic_name: Some(g.kafka_name.clone()),
            connection_ref: policy.spec.connection_ref.clone(),
            partitions: g.partitions,
            replication_factor: g.replication_factor,
            config: g.config.clone(),
            management_policy: ManagementPolicy::Enforce,
            ignored_config_keys: vec![],
            deletion_policy: policy.spec.deletion_policy,
        },
    );
    t.metadata = ObjectMeta {
        name: Some(g.resource_name.clone()),
        namespace: policy.namespace(),
        labels: Some([(DLQ_POLICY_LABEL.to_string(), policy.name_any())].into()),
        owner_references: policy.controller_owner_ref(&()).map(|o| vec![o]),
        ..Default::default()
    };
    t
}

fn controlled_by(t: &Topic, policy: &DlqPolicy) -> bool {
    let uid = policy.uid();
    t.owner_references().iter().any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
}

type Draft = conditions::Draft<DlqPolicyStatus>;

/// Server-side applies the children that differ from the spec, deletes the ones the spec no longer generates, and
/// says which are ready. `Err` names a child resource that exists but belongs to someone else.
async fn sync_children(
    st: &DlqContext,
    policy: &DlqPolicy,
    wanted: &[GeneratedTopic],
) -> Result<Vec<(String, Option<(bool, String)>)>, kube::Error> {
    let ns = policy.namespace().unwrap_or_default();
    let api: Api<Topic> = Api::namespaced(st.base.client.clone(), &ns);
    let mut readiness = vec![];
    for g in wanted {
        let desired = child_of(policy, g);
        let existing = st.topics.get(&ObjectRef::new(&g.resource_name).within(&ns));
        if let Some(t) = &existing
            && !controlled_by(t, policy)
        {
            readiness.push((
                g.kafka_name.clone(),
                Some((false, format!("Topic {}/{} exists and is not owned by this policy", ns, g.resource_name))),
            ));
            continue;
        }
        let up_to_date = existing.as_ref().is_some_and(|t| {
            t.spec == desired.spec
                && t.labels().get(DLQ_POLICY_LABEL) == Some(&policy.name_any())
                && controlled_by(t, policy)
                && t.meta().deletion_timestamp.is_none()
        });
        if !up_to_date {
            api.patch(&g.resource_name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&desired)).await?;
        }
        let ready = existing.as_ref().filter(|_| up_to_date).and_then(|t| {
            let s = t.status.as_ref()?;
            (s.observed_generation == t.metadata.generation).then_some(())?;
            let c = conditions::find(&s.conditions, READY)?;
            Some((c.status == "True", format!("{}: {}", c.reason, c.message)))
        });
        readiness.push((g.kafka_name.clone(), ready));
    }
    let names: BTreeSet<&str> = wanted.iter().map(|g| g.resource_name.as_str()).collect();
    for t in st.topics.state() {
        if t.namespace().as_deref() == Some(ns.as_str())
            && t.labels().get(DLQ_POLICY_LABEL) == Some(&policy.name_any())
            && controlled_by(&t, policy)
            && !names.contains(t.name_any().as_str())
            && t.meta().deletion_timestamp.is_none()
        {
            match api.delete(&t.name_any(), &DeleteParams::default()).await {
                Ok(_) => {
                    let msg = format!("Topic {} ({}) is no longer generated", t.name_any(), t.kafka_name());
                    st.base.event(policy, false, "TopicRemoved", "Delete", msg).await;
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(readiness)
}

/// The numbers the monitor reads from the dead-letter topic.
struct Observation {
    depth: i64,
    oldest_ms: Option<i64>,
    per_minute: Option<f64>,
}

async fn observe(
    st: &DlqContext,
    key: &str,
    client: &Arc<ClusterClient>,
    dlt: &str,
    group: &str,
    prev_rate: Option<f64>,
) -> Result<Observation, KafkaError> {
    let desc = client
        .describe_topic(dlt)
        .await?
        .ok_or_else(|| KafkaError::Invalid(format!("dead-letter topic {dlt:?} does not exist")))?;
    let pairs: Vec<(String, i32)> = desc.partitions.iter().map(|p| (dlt.to_string(), p.partition)).collect();
    let (ends, starts, committed) = futures::try_join!(
        client.list_offsets(pairs.clone(), OffsetSpec::Latest, true),
        client.list_offsets(pairs.clone(), OffsetSpec::Earliest, false),
        client.group_offsets(group),
    )?;
    let find = |list: &[crate::kafka::PartitionOffset], p: i32| {
        list.iter().find(|o| o.topic == dlt && o.partition == p).map(|o| o.offset)
    };
    let mut offsets = BTreeMap::new();
    for (_, p) in &pairs {
        offsets.insert(
            *p,
            PartitionOffsets {
                end: find(&ends, *p).unwrap_or(0).max(0),
                committed: find(&committed, *p).filter(|o| *o >= 0),
                log_start: find(&starts, *p).unwrap_or(0).max(0),
            },
        );
    }
    let depth = dlq::depth(&offsets.values().copied().collect::<Vec<_>>());
    let heads: Vec<(i32, i64)> = offsets.iter().filter(|(_, o)| o.lag() > 0).map(|(p, o)| (*p, o.position())).collect();

    let mut monitors = st.monitors.lock().await;
    let mon = monitors.entry(key.to_string()).or_default();
    let now = now_ms();
    mon.samples.push(EndSample { at_ms: now, total_end: offsets.values().map(|o| o.end).sum() });
    dlq::trim_samples(&mut mon.samples, now, RATE_WINDOW_MS);
    let per_minute = dlq::published_per_minute(prev_rate, &mon.samples, now, RATE_WINDOW_MS);

    mon.heads.retain(|p, _| heads.iter().any(|(hp, _)| hp == p));
    let stale: Vec<(i32, i64)> =
        heads.iter().copied().filter(|(p, head)| mon.heads.get(p).is_none_or(|(h, _)| h != head)).collect();
    if !stale.is_empty() {
        let settings = client.settings().clone();
        let peeker = match &mon.peeker {
            Some(p) if p.lock().is_ok_and(|p| p.fingerprint == settings.fingerprint()) => p.clone(),
            _ => {
                let p = Arc::new(Mutex::new(Peeker::new(&settings)?));
                mon.peeker = Some(p.clone());
                p
            }
        };
        let (topic, wanted) = (dlt.to_string(), stale.clone());
        let found = tokio::task::spawn_blocking(move || {
            let p = peeker.lock().map_err(|_| KafkaError::Closed)?;
            p.first_records(&topic, &wanted, Duration::from_secs(5))
        })
        .await
        .map_err(|e| KafkaError::Protocol(format!("peek task failed: {e}")))??;
        for (p, head) in stale {
            let first = found.get(&p).copied().flatten();
            // Only remember what was found: a slow fetch is tried again on the next poll.
            if first.is_some() {
                mon.heads.insert(p, (head, first));
            }
        }
    }
    let oldest_ms = mon.heads.values().filter_map(|(_, f)| f.map(|(_, ts)| ts)).min();
    Ok(Observation { depth, oldest_ms, per_minute })
}

fn status_of(id: &str, p: &MoveProgress) -> RedriveStatus {
    RedriveStatus {
        id: id.to_string(),
        phase: p.phase.as_str().to_string(),
        moved: p.moved,
        total: p.total,
        started_at: time_of(p.started_ms),
        finished_at: p.finished_ms.and_then(time_of),
        message: p.message.clone(),
    }
}

fn terminal(phase: &str) -> bool {
    matches!(phase, "Completed" | "Failed" | "Cancelled")
}

/// Why a redrive cannot start now (`Pending`), or may never (`Refused`).
enum Hold {
    Pending(String),
    Refused(String),
}

/// Decides the redrive part of the status, starting, cancelling or resuming the background move.
#[allow(clippy::too_many_arguments)]
async fn redrive(
    st: &Arc<DlqContext>,
    policy: &DlqPolicy,
    key: &str,
    client: Option<&Arc<ClusterClient>>,
    dlt: &str,
    dlt_ready: bool,
    prev: Option<&RedriveStatus>,
) -> Option<RedriveStatus> {
    let spec: Option<&RedriveSpec> = policy.spec.redrive.as_ref();
    let group = redrive_group(policy);
    {
        let mut moves = st.moves.lock().ok()?;
        if let Some(h) = moves.get(key) {
            let progress = h.progress.lock().ok()?.clone();
            let finished = h.join.is_finished();
            let mut shown = status_of(&h.id, &progress);
            match spec {
                Some(s) if s.id == h.id => {
                    h.control.set_rate(s.max_per_second.max(0) as u32);
                    if finished {
                        moves.remove(key);
                    }
                    return Some(shown);
                }
                Some(s) if !finished => {
                    shown.message = Some(format!("redrive {:?} waits for this move to finish", s.id));
                    return Some(shown);
                }
                None if !finished => {
                    h.control.cancel();
                    shown.message = Some("cancelling".into());
                    return Some(shown);
                }
                None => {
                    moves.remove(key);
                    return Some(shown);
                }
                // Finished, and the spec asks for another id: start it below.
                Some(_) => {
                    moves.remove(key);
                }
            }
        }
    }
    let Some(spec) = spec else {
        return match prev {
            Some(p) if p.phase == "Running" || p.phase == "Pending" => {
                // A move of an operator that died, then cancelled: abort its open transaction now.
                if let Some(c) = client {
                    let (settings, id) = (c.settings().clone(), group.clone());
                    let _ = tokio::task::spawn_blocking(move || crate::kafka::redrive::fence(&settings, &id)).await;
                }
                Some(RedriveStatus {
                    phase: "Cancelled".into(),
                    finished_at: time_of(now_ms()),
                    message: Some("cancelled: spec.redrive was cleared".into()),
                    ..p.clone()
                })
            }
            other => other.cloned(),
        };
    };
    if let Some(p) = prev
        && p.id == spec.id
        && terminal(&p.phase)
    {
        return Some(p.clone());
    }
    let allowed = dlq::Allowed {
        source: policy.spec.source_topic.clone(),
        extra: policy.spec.allowed_redrive_topics.clone(),
        dead_letter: dlt.to_string(),
    };
    let hold = match client {
        None => Some(Hold::Pending("waiting for the connection".into())),
        Some(_) if !dlt_ready => Some(Hold::Pending(format!("waiting for the dead-letter topic {dlt:?}"))),
        Some(c) => match &spec.destination {
            Some(dest) => match allowed.check(dest) {
                Err(why) => Some(Hold::Refused(format!("destination {why}"))),
                Ok(()) => match c.describe_topic(dest).await {
                    Ok(Some(_)) => None,
                    Ok(None) => Some(Hold::Refused(format!("destination topic {dest:?} does not exist"))),
                    Err(e) => Some(Hold::Pending(format!("cannot check destination topic {dest:?}: {e}"))),
                },
            },
            None => None,
        },
    };
    let same = prev.filter(|p| p.id == spec.id);
    if let Some(hold) = hold {
        let (phase, message) = match hold {
            Hold::Pending(m) => ("Pending", m),
            Hold::Refused(m) => ("Refused", m),
        };
        if phase == "Refused" && same.is_none_or(|p| p.phase != "Refused") {
            st.base.event(policy, true, "RedriveRefused", "Redrive", format!("redrive {}: {message}", spec.id)).await;
        }
        return Some(RedriveStatus {
            id: spec.id.clone(),
            phase: phase.into(),
            moved: same.map_or(0, |p| p.moved),
            total: None,
            started_at: None,
            finished_at: None,
            message: Some(message),
        });
    }
    let client = client?.clone();
    let req = MoveRequest {
        id: spec.id.clone(),
        dead_letter: dlt.to_string(),
        group,
        destination: spec.destination.clone(),
        source: policy.spec.source_topic.clone(),
        allowed,
        max_messages: spec.max_messages,
    };
    let initial = MoveProgress {
        phase: MovePhase::Running,
        moved: same.map_or(0, |p| p.moved),
        total: same.and_then(|p| p.total),
        started_ms: same.and_then(|p| p.started_at.as_ref()).map_or_else(now_ms, |t| t.0.as_millisecond()),
        finished_ms: None,
        message: None,
    };
    let resuming = same.is_some_and(|p| p.phase == "Running");
    let handle = spawn_move(st, policy, client, req, spec.max_per_second.max(0) as u32, initial.clone());
    let note = if resuming {
        format!("redrive {} resumed", spec.id)
    } else {
        let to = spec.destination.as_deref().map_or("each record's original topic".to_string(), |d| format!("{d:?}"));
        let rate = match spec.max_per_second {
            0 => "no rate limit".to_string(),
            r => format!("at most {r}/s"),
        };
        format!("redrive {} started: {dlt:?} → {to}, {rate}", spec.id)
    };
    st.base.event(policy, false, "RedriveStarted", "Redrive", note).await;
    let shown = status_of(&handle.id, &initial);
    if let Ok(mut moves) = st.moves.lock() {
        moves.insert(key.to_string(), handle);
    }
    Some(shown)
}

fn spawn_move(
    st: &Arc<DlqContext>,
    policy: &DlqPolicy,
    client: Arc<ClusterClient>,
    req: MoveRequest,
    rate: u32,
    initial: MoveProgress,
) -> MoveHandle {
    let control = Arc::new(MoveControl::new(rate));
    let progress = Arc::new(Mutex::new(initial));
    let wake = st.wake.clone();
    let me = ObjectRef::from_obj(policy);
    let id = req.id.clone();
    let (control2, progress2, metrics) = (control.clone(), progress.clone(), st.base.metrics.clone());
    let join = tokio::spawn(async move {
        let rt = tokio::runtime::Handle::current();
        let (progress3, wake3, me3) = (progress2.clone(), wake.clone(), me.clone());
        let outcome = tokio::task::spawn_blocking(move || {
            let mut last_wake: Option<Instant> = None;
            let mut last_moved: Option<i64> = None;
            let mut report = |p: &MoveProgress| {
                if let Some(prev) = last_moved {
                    let moved_now = (p.moved - prev).max(0) as u64;
                    metrics.dlq_redriven_records.get_or_create(&KindLabels { kind: "DlqPolicy" }).inc_by(moved_now);
                }
                last_moved = Some(p.moved);
                if let Ok(mut g) = progress3.lock() {
                    *g = p.clone();
                }
                if last_wake.is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL) {
                    last_wake = Some(Instant::now());
                    let _ = wake3.send(me3.clone());
                }
            };
            let out = crate::kafka::redrive::run_move(&client, &rt, &req, &control2, &mut report);
            report(&out);
            out
        })
        .await;
        let final_progress = match outcome {
            Ok(p) => p,
            Err(e) => MoveProgress {
                phase: MovePhase::Failed,
                moved: progress2.lock().map(|p| p.moved).unwrap_or(0),
                total: None,
                started_ms: now_ms(),
                finished_ms: Some(now_ms()),
                message: Some(format!("the redrive task failed: {e}")),
            },
        };
        if let Ok(mut g) = progress2.lock() {
            *g = final_progress;
        }
        let _ = wake.send(me);
    });
    MoveHandle { id, control, progress, join }
}

async fn apply(policy: Arc<DlqPolicy>, st: &Arc<DlqContext>, api: &Api<DlqPolicy>) -> Result<Action, Error> {
    st.topics.wait_until_ready().await.ok();
    let ctx = &st.base;
    let key = full_name(policy.as_ref());
    let ns = policy.namespace().unwrap_or_default();
    let current = policy.status.clone().unwrap_or_default();
    let mut d = Draft::new(current.clone(), policy.metadata.generation);
    d.status.observed_generation = policy.metadata.generation;
    d.status.redrive_group = Some(redrive_group(&policy));
    let requeue = Action::requeue(MONITOR_INTERVAL);

    let plan = dlq::generated_topics(&policy.name_any(), &policy.spec.source_topic, &topics_spec(&policy));
    let wanted = match plan {
        Ok(w) => w,
        Err(problem) => {
            if conditions::find(&current.conditions, READY).map(|c| c.reason.as_str()) != Some(problem.reason) {
                ctx.event(policy.as_ref(), true, problem.reason, "Validate", problem.message.clone()).await;
            }
            d.not_ready(problem.reason, problem.message);
            d.status.redrive = redrive(st, &policy, &key, None, "", false, current.redrive.as_ref()).await;
            apply_status(api, policy.as_ref(), policy.status.as_ref(), &d.status, &ctx.metrics).await?;
            return Ok(requeue);
        }
    };
    let dlt = wanted.iter().find(|g| g.role == Role::DeadLetter).map(|g| g.kafka_name.clone()).unwrap_or_default();
    d.status.retry_topics =
        wanted.iter().filter(|g| matches!(g.role, Role::Retry { .. })).map(|g| g.kafka_name.clone()).collect();
    d.status.dead_letter_topic = Some(dlt.clone());

    let readiness = sync_children(st, &policy, &wanted).await?;
    let dlt_ready = readiness.iter().any(|(n, r)| *n == dlt && matches!(r, Some((true, _))));
    let not_ready: Vec<String> = readiness
        .iter()
        .filter(|(_, r)| !matches!(r, Some((true, _))))
        .map(|(n, r)| match r {
            Some((_, why)) => format!("{n} ({why})"),
            None => format!("{n} (not reconciled yet)"),
        })
        .collect();

    let connection = resolve_connection(ctx, policy.spec.connection_ref.as_ref(), &ns);
    let client = connection.as_ref().ok().map(|(_, c)| c.clone());
    // The redrive first: a new move starts without waiting for the monitoring pass.
    let prev_redrive = current.redrive.clone();
    d.status.redrive = redrive(st, &policy, &key, client.as_ref(), &dlt, dlt_ready, prev_redrive.as_ref()).await;
    let labels = ResourceLabels { namespace: ns.clone(), name: policy.name_any() };
    let mut observed_age = None;
    match (&connection, not_ready.is_empty()) {
        (Err(Problem { reason, message, .. }), _) => d.set(READY, false, reason, message.clone()),
        (Ok(_), false) => d.set(READY, false, "TopicsNotReady", format!("not ready: {}", not_ready.join("; "))),
        (Ok((_, client)), true) => match observe(st, &key, client, &dlt, &redrive_group(&policy), current.per_minute)
            .await
        {
            Err(e) => d.set(READY, false, e.reason(), format!("cannot observe the dead-letter topic {dlt:?}: {e}")),
            Ok(o) => {
                let now = now_ms();
                let age = o.oldest_ms.map(|ts| ((now - ts) / 1000).max(0));
                observed_age = Some(age);
                d.status.depth = Some(o.depth);
                d.status.oldest_record_time = o.oldest_ms.and_then(time_of);
                d.status.per_minute = o.per_minute;
                let limits = policy.spec.alerting.as_ref().map_or_else(dlq::Limits::default, |a| dlq::Limits {
                    max_depth: a.max_depth,
                    max_age_seconds: a.max_age_seconds,
                    max_per_minute: a.max_per_minute,
                });
                let v = dlq::evaluate_limits(&limits, o.depth, age, o.per_minute);
                let was = conditions::find(&current.conditions, DEAD_LETTERS_WITHIN_LIMIT).map(|c| c.status == "True");
                if was != Some(v.within) && (was.is_some() || !v.within) {
                    let (warning, reason) =
                        if v.within { (false, "DeadLettersWithinLimit") } else { (true, "DeadLettersAboveLimit") };
                    ctx.event(policy.as_ref(), warning, reason, "Monitor", format!("{dlt}: {}", v.message)).await;
                }
                d.set(DEAD_LETTERS_WITHIN_LIMIT, v.within, v.reason, v.message);
                ctx.metrics.dlq_depth.get_or_create(&labels).set(o.depth);
                ctx.metrics.dlq_oldest_age_seconds.get_or_create(&labels).set(age.unwrap_or(0));
                ctx.metrics.dlq_within_limit.get_or_create(&labels).set(i64::from(v.within));
                let n = wanted.len();
                d.set(READY, true, "Ready", format!("{n} topic(s) ready; dead letters in {dlt:?}"));
            }
        },
    }

    redrive_events(ctx, &policy, prev_redrive.as_ref(), d.status.redrive.as_ref()).await;

    // The age grows by itself: refresh it only with another change, or when it crosses a bucket.
    if let Some(age) = observed_age {
        let prev = current.oldest_age_seconds;
        d.status.oldest_age_seconds = prev;
        if d.status != current || dlq::age_bucket(prev) != dlq::age_bucket(age) {
            d.status.oldest_age_seconds = age;
        }
    }
    apply_status(api, policy.as_ref(), policy.status.as_ref(), &d.status, &ctx.metrics).await?;
    ctx.metrics.managed_resources.get_or_create(&KindLabels { kind: "DlqPolicy" }).set(count_policies(st));
    Ok(requeue)
}

fn count_policies(st: &DlqContext) -> i64 {
    st.policies.state().len() as i64
}

/// One Event per redrive transition.
async fn redrive_events(ctx: &Context, policy: &DlqPolicy, prev: Option<&RedriveStatus>, now: Option<&RedriveStatus>) {
    let Some(now) = now else { return };
    if prev.is_some_and(|p| p.id == now.id && p.phase == now.phase) || !terminal(&now.phase) {
        return;
    }
    let (warning, reason) = match now.phase.as_str() {
        "Completed" => (false, "RedriveCompleted"),
        "Cancelled" => (false, "RedriveCancelled"),
        _ => (true, "RedriveFailed"),
    };
    let mut note = format!("redrive {}: {} after moving {} record(s)", now.id, now.phase.to_lowercase(), now.moved);
    if let Some(m) = &now.message {
        note.push_str(": ");
        note.push_str(m);
    }
    ctx.event(policy, warning, reason, "Redrive", note).await;
}

async fn cleanup(policy: Arc<DlqPolicy>, st: &Arc<DlqContext>) -> Result<Action, Error> {
    let key = full_name(policy.as_ref());
    let handle = st.moves.lock().ok().and_then(|mut m| m.remove(&key));
    if let Some(h) = handle {
        h.control.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), h.join).await;
    }
    st.monitors.lock().await.remove(&key);
    let labels = ResourceLabels { namespace: policy.namespace().unwrap_or_default(), name: policy.name_any() };
    let m = &st.base.metrics;
    m.dlq_depth.remove(&labels);
    m.dlq_oldest_age_seconds.remove(&labels);
    m.dlq_within_limit.remove(&labels);
    // The generated Topic resources go with their owner (garbage collection); each keeps or deletes its Kafka
    // topic as the policy's deletionPolicy says.
    Ok(Action::await_change())
}
