//! Moving dead letters back, exactly once, and reading the dead-letter topic for monitoring.
//!
//! A move consumes the dead-letter topic (read_committed, manual assignment) and produces each record to its
//! destination in Kafka transactions that also commit the consumed offsets of the policy's redrive group
//! (`send_offsets_to_transaction`). The dead-letter partitions are split among up to four movers, each with its own
//! consumer and transactional producer, so one mover's commit overlaps the others' records. The producers'
//! `transactional.id`s are stable per policy and slot (`<group>-0` … `<group>-3`), and a starting or resumed move
//! fences all four before it reads anything, so a restarted operator aborts the previous instance's open
//! transactions: every record reaches its destination exactly once for a `read_committed` reader. The progress of
//! the move (its id, each partition's stop offset and records moved, the total) rides in the metadata of the
//! committed offsets, atomically with the records, so a restarted move resumes exactly where each partition's last
//! committed transaction left off. A new move writes every partition's mark in one transaction before any record
//! moves.
//!
//! Everything here is blocking (librdkafka calls); the controller runs it on a blocking thread.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::{ClientSettings, ClusterClient, KafkaError, OffsetSpec};
use crate::decisions::dlq::{self, Allowed, MoveMark};

/// What to move.
#[derive(Clone, Debug)]
pub struct MoveRequest {
    /// The redrive id (`spec.redrive.id`), added to every moved record as `tributary-redrive-id`.
    pub id: String,
    pub dead_letter: String,
    /// The redrive consumer group, also the producer's `transactional.id`.
    pub group: String,
    /// Fixed destination; `None`: each record's original topic from its headers, else `source`.
    pub destination: Option<String>,
    pub source: String,
    pub allowed: Allowed,
    /// At most this many records; `None`: everything present when the move started.
    pub max_messages: Option<i64>,
}

/// Shared between the controller and a running move: cancellation and the live rate limit.
#[derive(Debug, Default)]
pub struct MoveControl {
    cancel: AtomicBool,
    interrupt: AtomicBool,
    rate: AtomicU32,
}

impl MoveControl {
    pub fn new(rate: u32) -> MoveControl {
        MoveControl { cancel: AtomicBool::new(false), interrupt: AtomicBool::new(false), rate: AtomicU32::new(rate) }
    }
    /// Stops the move for good (the user cleared `spec.redrive`, or the policy goes): phase `Cancelled`.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
    /// Stops the move because the operator stops: the open transaction is aborted and the phase stays `Running`,
    /// so the next operator resumes it.
    pub fn interrupt(&self) {
        self.interrupt.store(true, Ordering::SeqCst);
    }
    pub fn is_interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }
    pub fn set_rate(&self, rate: u32) {
        self.rate.store(rate, Ordering::SeqCst);
    }
    pub fn rate(&self) -> u32 {
        self.rate.load(Ordering::SeqCst)
    }
}

/// Phase of a move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MovePhase {
    Running,
    Completed,
    Cancelled,
    Failed,
}

impl MovePhase {
    pub fn as_str(&self) -> &'static str {
        match self {
            MovePhase::Running => "Running",
            MovePhase::Completed => "Completed",
            MovePhase::Cancelled => "Cancelled",
            MovePhase::Failed => "Failed",
        }
    }
}

/// Progress of a move: committed numbers only (records in an open transaction do not count).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveProgress {
    pub phase: MovePhase,
    pub moved: i64,
    pub total: Option<i64>,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub message: Option<String>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn rd(e: RdError) -> KafkaError {
    KafkaError::from(e)
}

/// A transaction error, classified as librdkafka does.
enum TxnError {
    /// Abort the transaction, rewind, and go on.
    Abortable(String),
    /// The producer cannot continue (fenced by a newer instance, or a fatal error).
    Fatal(String),
    /// Try the same call again.
    Retriable(String),
}

fn classify(e: RdError) -> TxnError {
    match &e {
        RdError::Transaction(t) if t.is_fatal() => TxnError::Fatal(t.to_string()),
        RdError::Transaction(t) if t.txn_requires_abort() => TxnError::Abortable(t.to_string()),
        RdError::Transaction(t) if t.is_retriable() => TxnError::Retriable(t.to_string()),
        other => TxnError::Abortable(other.to_string()),
    }
}

/// At most this many movers (a consumer and a transactional producer each) per move. Every slot's transactional
/// id is fenced when a move starts or resumes, whatever the number of movers it then uses, so no earlier
/// instance with another split can commit behind its back.
const MOVER_SLOTS: usize = 4;

/// The transactional id of mover `slot` of a move whose redrive group is `group`.
fn transactional_id(group: &str, slot: usize) -> String {
    format!("{group}-{slot}")
}

/// Runs a move to its end: completion, cancellation or failure. `report` is called after every committed
/// transaction and at the end.
pub fn run_move(
    client: &ClusterClient,
    rt: &tokio::runtime::Handle,
    req: &MoveRequest,
    control: &MoveControl,
    report: &mut dyn FnMut(&MoveProgress),
) -> MoveProgress {
    let started = now_ms();
    let moved = AtomicI64::new(0);
    match coordinate(client, rt, req, control, &moved, report) {
        Ok(p) => p,
        Err(e) => MoveProgress {
            phase: MovePhase::Failed,
            moved: moved.load(Ordering::SeqCst),
            total: None,
            started_ms: started,
            finished_ms: Some(now_ms()),
            message: Some(format!("redrive stopped: {e}")),
        },
    }
}

fn consumer_config(settings: &ClientSettings) -> rdkafka::ClientConfig {
    let mut c = settings.client_config();
    c.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        .set("allow.auto.create.topics", "false")
        .set("max.partition.fetch.bytes", "1048576")
        .set("fetch.wait.max.ms", "100")
        .set_log_level(RDKafkaLogLevel::Warning);
    c
}

fn redrive_consumer(settings: &ClientSettings, group: &str) -> Result<BaseConsumer, KafkaError> {
    let mut cc = consumer_config(settings);
    // Memory is bounded per mover (up to four run at once, under the chart's 256 MiB limit): about 20,000 records
    // fetched ahead (a fetched record costs librdkafka ~300 bytes besides its data, so one fetch is at most 1 MiB),
    // and at most 20,000 records or 16 MiB waiting in the producer (see `transactional_producer`).
    cc.set("group.id", group)
        .set("client.id", "tributary-redrive")
        .set("queued.min.messages", "20000")
        // Once the queue is full, fetch again 10 ms later, not a second later (librdkafka's default).
        .set("fetch.queue.backoff.ms", "10")
        .set("queued.max.messages.kbytes", "8192");
    cc.create().map_err(rd)
}

/// A transactional producer for `transactional_id`, initialised: any earlier producer with that id is fenced and
/// its open transaction aborted.
fn transactional_producer(settings: &ClientSettings, transactional_id: &str) -> Result<BaseProducer, KafkaError> {
    let mut pc = settings.client_config();
    pc.set("transactional.id", transactional_id)
        .set("client.id", "tributary-redrive")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("allow.auto.create.topics", "false")
        .set("linger.ms", "10")
        .set("batch.num.messages", "100000")
        .set("batch.size", "4000000")
        // A failed record fails the transaction's commit anyway; successes need no report.
        .set("delivery.report.only.error", "true")
        .set("queue.buffering.max.messages", "20000")
        .set("queue.buffering.max.kbytes", "16384")
        .set("transaction.timeout.ms", "60000")
        // With sparse connections, init_transactions often finds no broker up yet and retries after 500 ms
        // (measured: 5-8 ms without, half the time 500 ms with); a mover talks to every leader anyway.
        .set("enable.sparse.connections", "false")
        .set_log_level(RDKafkaLogLevel::Warning);
    let producer: BaseProducer = pc.create().map_err(rd)?;
    producer.init_transactions(Duration::from_secs(60)).map_err(rd)?;
    Ok(producer)
}

/// Initialises (and so fences) the producers of every mover slot at once.
fn fence_slots(settings: &ClientSettings, group: &str) -> Result<Vec<BaseProducer>, KafkaError> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..MOVER_SLOTS)
            .map(|slot| s.spawn(move || transactional_producer(settings, &transactional_id(group, slot))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(KafkaError::Protocol("a fencing thread panicked".into()))))
            .collect()
    })
}

/// What a mover reports to the coordinating thread.
enum Event {
    /// A transaction with this many records committed.
    Committed(i64),
    Ended(Result<End, KafkaError>),
}

/// How a mover ended.
enum End {
    Completed,
    Cancelled,
    Interrupted,
    /// It stopped before a record it may not move; what came before is committed.
    Failed(String),
    /// Another mover failed; what this one had is committed.
    Halted,
}

/// State the movers of one move share.
struct Shared {
    /// Set when a mover fails: the others commit what they have and stop.
    halt: AtomicBool,
    pacer: Pacer,
    /// Open once the move's marks are written (at once for a resumed move).
    gate: Gate,
}

/// A one-time signal: `Some(true)` go, `Some(false)` give up.
struct Gate {
    state: Mutex<Option<bool>>,
    changed: Condvar,
}

impl Gate {
    fn new(open: bool) -> Gate {
        Gate { state: Mutex::new(open.then_some(true)), changed: Condvar::new() }
    }
    /// Settles the gate; the first word stays.
    fn set(&self, go: bool) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.is_none() {
            *s = Some(go);
            self.changed.notify_all();
        }
    }
    fn wait(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match *s {
                Some(go) => return go,
                None => s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }
}

/// The rate limit of a whole move, shared by its movers.
struct Pacer {
    /// The rate the state below paces (0: none yet).
    rate: AtomicU32,
    state: Mutex<PaceState>,
}

#[derive(Default)]
struct PaceState {
    started_ms: i64,
    sent: u64,
}

impl Pacer {
    fn new() -> Pacer {
        Pacer { rate: AtomicU32::new(0), state: Mutex::new(PaceState::default()) }
    }

    /// Milliseconds to wait before the next record at `rate` (0: one may go now). Unlimited moves take no lock
    /// and read no clock.
    fn peek(&self, rate: u32) -> u64 {
        if rate == 0 {
            self.rate.store(0, Ordering::Relaxed);
            return 0;
        }
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_ms();
        if self.rate.swap(rate, Ordering::Relaxed) != rate {
            *s = PaceState { started_ms: now, sent: 0 };
        }
        dlq::wait_ms(rate, dlq::burst_for(rate), s.started_ms, now, s.sent).min(50)
    }

    /// Counts a record sent at `rate`.
    fn count(&self, rate: u32) {
        if rate == 0 {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.sent == 0 {
            // Paced from the first record, not from the start: the first fetch must not become a burst.
            s.started_ms = now_ms();
        }
        s.sent += 1;
    }
}

/// Fences, reads where the move stands, writes the marks of a new move, then runs its movers and follows them.
fn coordinate(
    client: &ClusterClient,
    rt: &tokio::runtime::Handle,
    req: &MoveRequest,
    control: &MoveControl,
    moved_so_far: &AtomicI64,
    report: &mut dyn FnMut(&MoveProgress),
) -> Result<MoveProgress, KafkaError> {
    let settings = client.settings();
    let began = Instant::now();
    // Every slot is fenced before the committed offsets are read, so they are the final word. The topic's
    // partitions and offsets are read meanwhile.
    let ((producers, consumer), topic) = std::thread::scope(|s| {
        let fenced = s.spawn(|| fence_slots(settings, &req.group));
        let consumer = s.spawn(|| redrive_consumer(settings, &req.group));
        let topic = rt.block_on(async {
            let desc = client.describe_topic(&req.dead_letter).await?.ok_or_else(|| {
                KafkaError::Invalid(format!("dead-letter topic {:?} does not exist", req.dead_letter))
            })?;
            let pairs: Vec<(String, i32)> =
                desc.partitions.iter().map(|p| (req.dead_letter.clone(), p.partition)).collect();
            let (starts, ends) = tokio::join!(
                client.list_offsets(pairs.clone(), OffsetSpec::Earliest, false),
                client.list_offsets(pairs, OffsetSpec::Latest, true)
            );
            Ok::<_, KafkaError>((desc, starts?, ends?))
        });
        let panicked = |what: &str| KafkaError::Protocol(format!("the {what} thread panicked"));
        let fenced = fenced.join().unwrap_or_else(|_| Err(panicked("fencing")));
        let consumer = consumer.join().unwrap_or_else(|_| Err(panicked("consumer")));
        ((fenced, consumer), topic)
    });
    let (mut producers, consumer, (desc, starts, ends)) = (producers?, consumer?, topic?);
    let fenced_ms = began.elapsed().as_millis() as u64;
    let partitions: Vec<i32> = desc.partitions.iter().map(|p| p.partition).collect();
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition(&req.dead_letter, *p);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(30)).map_err(rd)?;
    let offset_of = |list: &[super::PartitionOffset], p: i32| {
        list.iter().find(|o| o.partition == p).map(|o| o.offset).unwrap_or(0).max(0)
    };
    let mut found: HashMap<i32, (Option<i64>, Option<MoveMark>)> = HashMap::new();
    for e in committed.elements() {
        let off = match e.offset() {
            Offset::Offset(o) if o >= 0 => Some(o),
            _ => None,
        };
        let mark = MoveMark::decode(e.metadata()).filter(|m| m.id == req.id);
        found.insert(e.partition(), (off, mark));
    }
    let facts: Vec<dlq::PartitionFacts> = partitions
        .iter()
        .map(|p| {
            let (committed, mark) = found.remove(p).unwrap_or((None, None));
            dlq::PartitionFacts {
                partition: *p,
                committed,
                log_start: offset_of(&starts, *p),
                end: offset_of(&ends, *p),
                mark,
            }
        })
        .collect();
    let plan = dlq::plan_move(&facts, req.max_messages, now_ms());
    moved_so_far.store(plan.moved, Ordering::SeqCst);
    let mut progress = MoveProgress {
        phase: MovePhase::Running,
        moved: plan.moved,
        total: Some(plan.total),
        started_ms: plan.started_ms,
        finished_ms: None,
        message: plan.resumed.then(|| "resumed after a restart".to_string()),
    };
    report(&progress);

    let groups = dlq::split_among_workers(&plan.parts, req.max_messages, MOVER_SLOTS);
    tracing::info!(
        redrive = %req.id,
        dead_letter = %req.dead_letter,
        movers = groups.len(),
        total = plan.total,
        moved = plan.moved,
        resumed = plan.resumed,
        fenced_ms,
        planned_ms = began.elapsed().as_millis() as u64,
        "redrive planned"
    );
    if groups.is_empty() || plan.moved >= plan.total {
        progress.phase = MovePhase::Completed;
        progress.total = Some(plan.moved);
        progress.finished_ms = Some(now_ms());
        progress.message = None;
        return Ok(progress);
    }
    producers.truncate(groups.len());
    // A new move records every partition's stop before any record moves (movers commit only their own
    // partitions, and a resumed move must know every stop, whichever mover committed first). The first mover
    // writes them with the consumer that read the offsets, while the others connect and fetch; they produce only
    // once it has.
    let mut lead_consumer = Some(consumer);
    let first_marks: Option<&[dlq::PartitionPlan]> = (!plan.resumed).then_some(&plan.parts);

    let shared = Shared { halt: AtomicBool::new(false), pacer: Pacer::new(), gate: Gate::new(first_marks.is_none()) };
    let quota = req.max_messages.map(|_| plan.total - plan.moved);
    let (tx, rx) = std::sync::mpsc::channel::<Event>();
    let ends: Vec<Result<End, KafkaError>> = std::thread::scope(|s| {
        for (slot, (producer, partitions)) in producers.into_iter().zip(&groups).enumerate() {
            let parts: BTreeMap<i32, Part> = plan
                .parts
                .iter()
                .filter(|p| partitions.contains(&p.partition))
                .map(|p| {
                    let part = Part { position: p.start, committed: p.start, stop: p.stop, moved: p.moved, pending: 0 };
                    (p.partition, part)
                })
                .collect();
            let (tx, shared) = (tx.clone(), &shared);
            let (consumer, marks) = match slot {
                0 => (lead_consumer.take(), first_marks),
                _ => (None, None),
            };
            s.spawn(move || {
                let consumer = consumer.map_or_else(|| redrive_consumer(settings, &req.group), Ok);
                let out = consumer.and_then(|consumer| {
                    let mover = Mover {
                        client,
                        rt,
                        req,
                        consumer,
                        producer,
                        parts,
                        quota,
                        total: plan.total,
                        started_ms: plan.started_ms,
                    };
                    mover.start(marks, shared)?;
                    mover.run(control, shared, &tx)
                });
                if out.is_err() {
                    shared.halt.store(true, Ordering::SeqCst);
                    shared.gate.set(false);
                }
                let _ = tx.send(Event::Ended(out));
            });
        }
        drop(tx);
        let mut ends = Vec::new();
        while let Ok(event) = rx.recv() {
            match event {
                Event::Committed(n) => {
                    progress.moved = moved_so_far.fetch_add(n, Ordering::SeqCst) + n;
                    report(&progress);
                }
                Event::Ended(end) => ends.push(end),
            }
        }
        ends
    });

    progress.moved = moved_so_far.load(Ordering::SeqCst);
    let mut outcome = End::Completed;
    for end in ends {
        // The first error or failure names the move's end; an interrupt or a cancel outranks both.
        outcome = match (outcome, end?) {
            (End::Interrupted, _) | (_, End::Interrupted) => End::Interrupted,
            (End::Cancelled, _) | (_, End::Cancelled) => End::Cancelled,
            (End::Failed(m), _) | (_, End::Failed(m)) => End::Failed(m),
            (o, _) => o,
        };
    }
    match outcome {
        End::Interrupted => {
            progress.message = Some("interrupted: the operator stopped; the move resumes when it restarts".into());
        }
        End::Cancelled => {
            progress.phase = MovePhase::Cancelled;
            progress.finished_ms = Some(now_ms());
            progress.message = Some(format!("cancelled after {} record(s)", progress.moved));
        }
        End::Failed(m) => {
            progress.phase = MovePhase::Failed;
            progress.finished_ms = Some(now_ms());
            progress.message = Some(m);
        }
        End::Completed | End::Halted => {
            progress.phase = MovePhase::Completed;
            progress.finished_ms = Some(now_ms());
            // Offsets that were transaction markers or aborted records are not records.
            if quota.is_none_or(|q| progress.moved - plan.moved < q) {
                progress.total = Some(progress.moved);
            }
            progress.message = None;
        }
    }
    Ok(progress)
}

/// One mover: a consumer of some dead-letter partitions and a transactional producer.
struct Mover<'a> {
    client: &'a ClusterClient,
    rt: &'a tokio::runtime::Handle,
    req: &'a MoveRequest,
    consumer: BaseConsumer,
    producer: BaseProducer,
    parts: BTreeMap<i32, Part>,
    /// Records this mover may still move (a capped move has one mover).
    quota: Option<i64>,
    total: i64,
    started_ms: i64,
}

/// Per-partition state of a move.
#[derive(Clone, Copy, Debug)]
struct Part {
    /// Next offset to move (what a commit records).
    position: i64,
    /// Position as of the last committed transaction.
    committed: i64,
    stop: i64,
    /// Records moved from this partition, committed.
    moved: i64,
    /// Records from this partition in the open transaction.
    pending: i64,
}

impl Part {
    fn done(&self) -> bool {
        self.position >= self.stop
    }
}

impl Mover<'_> {
    /// Assigns the partitions (fetching starts), writes the move's first marks when given them, and waits until
    /// they are written.
    fn start(&self, marks: Option<&[dlq::PartitionPlan]>, shared: &Shared) -> Result<(), KafkaError> {
        self.assign()?;
        if let Some(parts) = marks {
            let began = Instant::now();
            let written = self.write_marks(parts);
            tracing::debug!(redrive = %self.req.id, ms = began.elapsed().as_millis() as u64, "redrive marks written");
            shared.gate.set(written.is_ok());
            written?;
        }
        match shared.gate.wait() {
            true => Ok(()),
            false => Err(KafkaError::Protocol("the move's first marks could not be written".into())),
        }
    }

    /// Commits, in one transaction, every partition's start offset with its mark.
    fn write_marks(&self, parts: &[dlq::PartitionPlan]) -> Result<(), KafkaError> {
        let tpl = self.marked_offsets(parts.iter().map(|p| (p.partition, p.start, p.stop, p.moved)))?;
        let cgm = self
            .consumer
            .group_metadata()
            .ok_or_else(|| KafkaError::Protocol("the redrive consumer has no group metadata".into()))?;
        self.producer.begin_transaction().map_err(rd)?;
        self.producer.send_offsets_to_transaction(&tpl, &cgm, Duration::from_secs(30)).map_err(rd)?;
        self.producer.commit_transaction(Duration::from_secs(60)).map_err(rd)
    }

    /// Offsets to commit, each with its partition's mark: `(partition, offset, stop, moved)`.
    fn marked_offsets(
        &self,
        parts: impl Iterator<Item = (i32, i64, i64, i64)>,
    ) -> Result<TopicPartitionList, KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for (partition, offset, stop, moved) in parts {
            let mark =
                MoveMark { id: self.req.id.clone(), stop, moved, total: self.total, started_ms: self.started_ms };
            let mut e = tpl.add_partition(&self.req.dead_letter, partition);
            e.set_offset(Offset::Offset(offset)).map_err(rd)?;
            e.set_metadata(mark.encode());
        }
        Ok(tpl)
    }

    fn run(mut self, control: &MoveControl, shared: &Shared, events: &Sender<Event>) -> Result<End, KafkaError> {
        let req = self.req;
        let mut cleared: HashSet<String> = HashSet::new();
        let mut in_txn: i64 = 0;
        let mut txn_started: Option<Instant> = None;
        let mut aborts = 0u32;
        let mut failure: Option<String> = None;
        let mut idle = false;

        loop {
            if control.is_interrupted() || control.is_cancelled() {
                if in_txn > 0 {
                    let _ = self.producer.abort_transaction(Duration::from_secs(30));
                }
                return Ok(if control.is_interrupted() { End::Interrupted } else { End::Cancelled });
            }
            let rate = control.rate();
            // A transaction closes after `txn_age`, or at `txn_limit` records. Throttled: about five commits a
            // second, and room for a whole second of records so a slow commit is caught up in the next one.
            let (txn_limit, txn_age) = if rate == 0 {
                (100_000, Duration::from_millis(1000))
            } else {
                ((rate as i64).clamp(1, 50_000), Duration::from_millis(200))
            };
            let quota_reached = self.quota.is_some_and(|q| in_txn >= q);
            let halted = shared.halt.load(Ordering::Relaxed);
            let finished = quota_reached || self.parts.values().all(Part::done) || failure.is_some() || halted;
            // The clock is read when the consumer idles, when throttled, and every 1024 records.
            let look_at_clock = idle || rate != 0 || in_txn % 1024 == 0;
            let txn_due = in_txn >= txn_limit || (look_at_clock && txn_started.is_some_and(|t| t.elapsed() >= txn_age));
            let offsets_moved = self.parts.values().any(|p| p.position != p.committed);
            if (finished && (in_txn > 0 || offsets_moved)) || (txn_due && in_txn > 0) {
                let commit_started = Instant::now();
                match self.commit(in_txn == 0) {
                    Ok(()) => {
                        tracing::debug!(
                            redrive = %req.id,
                            records = in_txn,
                            open_ms = txn_started.map_or(0, |t| t.elapsed().as_millis() as u64),
                            commit_ms = commit_started.elapsed().as_millis() as u64,
                            "redrive transaction committed"
                        );
                        for p in self.parts.values_mut() {
                            p.committed = p.position;
                            p.moved += p.pending;
                            p.pending = 0;
                        }
                        if let Some(q) = self.quota.as_mut() {
                            *q -= in_txn;
                        }
                        let _ = events.send(Event::Committed(in_txn));
                        in_txn = 0;
                        txn_started = None;
                        aborts = 0;
                    }
                    Err(TxnError::Fatal(m)) => {
                        return Err(KafkaError::Protocol(format!(
                            "the transactional producer of {:?} cannot continue (another instance may have taken \
                             over): {m}",
                            req.group
                        )));
                    }
                    Err(TxnError::Abortable(m) | TxnError::Retriable(m)) => {
                        aborts += 1;
                        tracing::warn!(redrive = %req.id, error = %m, "redrive transaction aborted; rewinding");
                        let _ = self.producer.abort_transaction(Duration::from_secs(30));
                        in_txn = 0;
                        txn_started = None;
                        for p in self.parts.values_mut() {
                            p.position = p.committed;
                            p.pending = 0;
                        }
                        self.assign()?;
                        if aborts >= 5 {
                            return Err(KafkaError::Protocol(format!("five transactions in a row failed, last: {m}")));
                        }
                        std::thread::sleep(Duration::from_millis(200 * aborts as u64));
                    }
                }
                continue;
            }
            if finished {
                return Ok(match failure {
                    Some(m) => End::Failed(m),
                    None if halted && !quota_reached && !self.parts.values().all(Part::done) => End::Halted,
                    None => End::Completed,
                });
            }

            let wait = shared.pacer.peek(rate);
            if wait > 0 {
                self.producer.poll(Duration::from_millis(wait));
                continue;
            }
            let polled = self.consumer.poll(Duration::from_millis(50));
            idle = polled.is_none();
            let Some(polled) = polled else { continue };
            let msg = match polled {
                Ok(m) => m,
                Err(RdError::PartitionEOF(p)) => {
                    // Everything up to the end was delivered; what is left before the stop are transaction markers
                    // or aborted records.
                    if let Some(part) = self.parts.get_mut(&p) {
                        part.position = part.position.max(part.stop);
                    }
                    self.pause(p);
                    continue;
                }
                Err(e) => {
                    tracing::debug!(redrive = %req.id, error = %e, "redrive consumer error");
                    continue;
                }
            };
            let (p, offset) = (msg.partition(), msg.offset());
            let Some(part) = self.parts.get(&p) else { continue };
            if offset < part.position {
                continue;
            }
            if offset >= part.stop {
                self.parts.entry(p).and_modify(|part| part.position = part.stop);
                self.pause(p);
                continue;
            }
            let headers = msg.headers();
            let original = headers.and_then(|h| dlq::original_topic(h.iter().map(|h| (h.key, h.value))));
            let dest = dlq::destination(req.destination.as_deref(), original, &req.source);
            // Each destination is checked once per move: allowed by the policy, and present in Kafka.
            if !cleared.contains(dest) {
                let at = || format!("dead letter {}[{p}]@{offset}", req.dead_letter);
                if let Err(why) = req.allowed.check(dest) {
                    failure = Some(format!("{}: {why}; stopped before it", at()));
                    shared.halt.store(true, Ordering::SeqCst);
                    continue;
                }
                if self.rt.block_on(self.client.describe_topic(dest))?.is_none() {
                    failure = Some(format!("{}: destination topic {dest:?} does not exist; stopped before it", at()));
                    shared.halt.store(true, Ordering::SeqCst);
                    continue;
                }
                cleared.insert(dest.to_string());
            }
            if in_txn == 0 {
                self.producer.begin_transaction().map_err(rd)?;
                txn_started = Some(Instant::now());
            }
            shared.pacer.count(rate);
            let mut out = OwnedHeaders::new_with_capacity(headers.map_or(0, |h| h.count()) + 1);
            for h in headers.iter().flat_map(|h| h.iter()) {
                out = out.insert(Header { key: h.key, value: h.value });
            }
            out = out.insert(Header { key: dlq::REDRIVE_ID_HEADER, value: Some(req.id.as_bytes()) });
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(dest).headers(out);
            if let Some(k) = msg.key() {
                record = record.key(k);
            }
            if let Some(v) = msg.payload() {
                record = record.payload(v);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        self.producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => return Err(rd(e)),
                }
            }
            in_txn += 1;
            let done = match self.parts.get_mut(&p) {
                Some(part) => {
                    part.position = offset + 1;
                    part.pending += 1;
                    part.done()
                }
                None => false,
            };
            if done {
                self.pause(p);
            }
            if in_txn % 1024 == 0 {
                self.producer.poll(Duration::ZERO);
            }
        }
    }

    /// Assigns every unfinished partition at its position.
    fn assign(&self) -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for (p, part) in &self.parts {
            if !part.done() {
                tpl.add_partition_offset(&self.req.dead_letter, *p, Offset::Offset(part.position)).map_err(rd)?;
            }
        }
        self.consumer.assign(&tpl).map_err(rd)
    }

    fn pause(&self, p: i32) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.req.dead_letter, p);
        let _ = self.consumer.pause(&tpl);
    }

    /// Commits the open transaction with this mover's partitions' positions and marks. `offsets_only`: no record
    /// is in flight, only positions moved (past transaction markers), so a transaction is opened for them.
    fn commit(&self, offsets_only: bool) -> Result<(), TxnError> {
        if offsets_only {
            self.producer.begin_transaction().map_err(classify)?;
        }
        let tpl = self
            .marked_offsets(
                self.parts.iter().map(|(p, part)| (*p, part.position, part.stop, part.moved + part.pending)),
            )
            .map_err(|e| TxnError::Abortable(e.to_string()))?;
        let cgm = self
            .consumer
            .group_metadata()
            .ok_or_else(|| TxnError::Fatal("the redrive consumer has no group metadata".into()))?;
        let mut tries = 0;
        loop {
            match self.producer.send_offsets_to_transaction(&tpl, &cgm, Duration::from_secs(30)).map_err(classify) {
                Err(TxnError::Retriable(m)) if tries < 5 => {
                    tries += 1;
                    tracing::debug!(error = %m, "retrying send_offsets_to_transaction");
                }
                other => {
                    other?;
                    break;
                }
            }
        }
        tries = 0;
        loop {
            match self.producer.commit_transaction(Duration::from_secs(60)).map_err(classify) {
                Err(TxnError::Retriable(m)) if tries < 5 => {
                    tries += 1;
                    tracing::debug!(error = %m, "retrying commit_transaction");
                }
                other => return other,
            }
        }
    }
}

/// Reads the timestamps of the first records at given offsets of a topic (the oldest dead letters not yet
/// redriven). One consumer per policy, reused; no group, nothing committed.
pub struct Peeker {
    consumer: BaseConsumer,
    pub fingerprint: u64,
}

impl Peeker {
    pub fn new(settings: &ClientSettings) -> Result<Peeker, KafkaError> {
        let mut c = consumer_config(settings);
        // librdkafka wants a group id to assign partitions; this one never joins nor commits.
        c.set("client.id", "tributary-dlq-monitor")
            .set("group.id", "tributary-dlq-monitor")
            .set("max.partition.fetch.bytes", "65536");
        Ok(Peeker { consumer: c.create().map_err(rd)?, fingerprint: settings.fingerprint() })
    }

    /// For each `(partition, offset)`: the offset and timestamp (ms) of the first record at or after `offset`, or
    /// `None` when none arrives within `timeout` (only transaction markers left, or the broker is slow).
    pub fn first_records(
        &self,
        topic: &str,
        heads: &[(i32, i64)],
        timeout: Duration,
    ) -> Result<BTreeMap<i32, Option<(i64, i64)>>, KafkaError> {
        let mut out: BTreeMap<i32, Option<(i64, i64)>> = heads.iter().map(|(p, _)| (*p, None)).collect();
        if heads.is_empty() {
            return Ok(out);
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in heads {
            tpl.add_partition_offset(topic, *p, Offset::Offset(*o)).map_err(rd)?;
        }
        self.consumer.assign(&tpl).map_err(rd)?;
        let wanted: HashMap<i32, i64> = heads.iter().copied().collect();
        let mut pending: std::collections::BTreeSet<i32> = wanted.keys().copied().collect();
        let deadline = Instant::now() + timeout;
        while !pending.is_empty() && Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let p = m.partition();
                    if pending.contains(&p) && m.offset() >= wanted[&p] {
                        let ts = m.timestamp().to_millis().unwrap_or(0);
                        out.insert(p, Some((m.offset(), ts)));
                        pending.remove(&p);
                    }
                }
                Some(Err(RdError::PartitionEOF(p))) => {
                    pending.remove(&p);
                }
                _ => {}
            }
        }
        self.consumer.assign(&TopicPartitionList::new()).map_err(rd)?;
        Ok(out)
    }
}

/// Fences the transactional ids of a move that no instance runs any more (its operator died and the move was then
/// cancelled), so its open transactions are aborted at once instead of after the transaction time-out.
pub fn fence(settings: &ClientSettings, group: &str) -> Result<(), KafkaError> {
    fence_slots(settings, group).map(drop)
}
