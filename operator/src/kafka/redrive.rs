//! Moving dead letters back, exactly once, and reading the dead-letter topic for monitoring.
//!
//! A move consumes the dead-letter topic (read_committed, manual assignment) and produces each record to its
//! destination in Kafka transactions that also commit the consumed offsets of the policy's redrive group
//! (`send_offsets_to_transaction`). The producer's `transactional.id` is stable per policy, so a restarted operator
//! fences the previous instance and aborts its open transaction: every record reaches its destination exactly once
//! for a `read_committed` reader. The progress of the move (its id, each partition's stop offset, records moved and
//! to move) rides in the metadata of the committed offsets, atomically with the records, so a restarted move
//! resumes exactly where the last committed transaction left off.
//!
//! Everything here is blocking (librdkafka calls); the controller runs it on a blocking thread.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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

/// The clients of one move.
struct Mover<'a> {
    client: &'a ClusterClient,
    rt: &'a tokio::runtime::Handle,
    req: &'a MoveRequest,
    consumer: BaseConsumer,
    producer: BaseProducer,
}

/// Per-partition state of a move.
#[derive(Clone, Copy, Debug)]
struct Part {
    /// Next offset to move (what a commit records).
    position: i64,
    /// Position as of the last committed transaction.
    committed: i64,
    stop: i64,
}

impl Part {
    fn done(&self) -> bool {
        self.position >= self.stop
    }
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
    let fail = |message: String| MoveProgress {
        phase: MovePhase::Failed,
        moved: 0,
        total: None,
        started_ms: started,
        finished_ms: Some(now_ms()),
        message: Some(message),
    };
    let mover = match Mover::new(client, rt, req) {
        Ok(m) => m,
        Err(e) => return fail(format!("cannot build the redrive clients: {e}")),
    };
    match mover.run(control, report) {
        Ok(p) => p,
        Err(e) => fail(format!("redrive stopped: {e}")),
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
        .set("max.partition.fetch.bytes", "8388608")
        .set("fetch.wait.max.ms", "100")
        .set_log_level(RDKafkaLogLevel::Warning);
    c
}

impl<'a> Mover<'a> {
    fn new(
        client: &'a ClusterClient,
        rt: &'a tokio::runtime::Handle,
        req: &'a MoveRequest,
    ) -> Result<Self, KafkaError> {
        let settings = client.settings();
        let mut cc = consumer_config(settings);
        cc.set("group.id", &req.group).set("client.id", "tributary-redrive");
        let consumer: BaseConsumer = cc.create().map_err(rd)?;
        let mut pc = settings.client_config();
        pc.set("transactional.id", &req.group)
            .set("client.id", "tributary-redrive")
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("allow.auto.create.topics", "false")
            .set("linger.ms", "10")
            .set("batch.num.messages", "100000")
            .set("batch.size", "4000000")
            // A failed record fails the transaction's commit anyway; successes need no report.
            .set("delivery.report.only.error", "true")
            .set("queue.buffering.max.messages", "1000000")
            .set("queue.buffering.max.kbytes", "1048576")
            .set("transaction.timeout.ms", "60000")
            .set_log_level(RDKafkaLogLevel::Warning);
        let producer: BaseProducer = pc.create().map_err(rd)?;
        Ok(Mover { client, rt, req, consumer, producer })
    }

    fn run(self, control: &MoveControl, report: &mut dyn FnMut(&MoveProgress)) -> Result<MoveProgress, KafkaError> {
        let req = self.req;
        // Fences any earlier instance with this transactional id and aborts its open transaction, so the
        // committed offsets read next are the final word.
        self.producer.init_transactions(Duration::from_secs(60)).map_err(rd)?;

        let desc = self
            .rt
            .block_on(self.client.describe_topic(&req.dead_letter))?
            .ok_or_else(|| KafkaError::Invalid(format!("dead-letter topic {:?} does not exist", req.dead_letter)))?;
        let partitions: Vec<i32> = desc.partitions.iter().map(|p| p.partition).collect();
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition(&req.dead_letter, *p);
        }
        let committed = self.consumer.committed_offsets(tpl, Duration::from_secs(30)).map_err(rd)?;
        let pairs: Vec<(String, i32)> = partitions.iter().map(|p| (req.dead_letter.clone(), *p)).collect();
        let starts = self.rt.block_on(self.client.list_offsets(pairs.clone(), OffsetSpec::Earliest, false))?;
        let ends = self.rt.block_on(self.client.list_offsets(pairs, OffsetSpec::Latest, true))?;
        let offset_of = |list: &[super::PartitionOffset], p: i32| {
            list.iter().find(|o| o.partition == p).map(|o| o.offset).unwrap_or(0).max(0)
        };

        let mut marks: HashMap<i32, MoveMark> = HashMap::new();
        let mut committed_at: HashMap<i32, Option<i64>> = HashMap::new();
        for e in committed.elements() {
            let off = match e.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            };
            committed_at.insert(e.partition(), off);
            if let Some(m) = MoveMark::decode(e.metadata())
                && m.id == req.id
            {
                marks.insert(e.partition(), m);
            }
        }
        let resumed = marks.values().max_by_key(|m| m.moved).cloned();
        let mut parts: BTreeMap<i32, Part> = BTreeMap::new();
        for p in &partitions {
            let start = dlq_position(committed_at.get(p).copied().flatten(), offset_of(&starts, *p));
            let stop = match (&resumed, marks.get(p)) {
                (Some(_), Some(m)) => m.stop,
                // A partition added after the move started: its records came later.
                (Some(_), None) => start,
                (None, _) => offset_of(&ends, *p),
            };
            parts.insert(*p, Part { position: start, committed: start, stop: stop.max(start) });
        }
        let (mut moved, total, started_ms) = match &resumed {
            Some(m) => (m.moved, m.total, m.started_ms),
            None => {
                let spans: Vec<(i64, i64)> = parts.values().map(|p| (p.position, p.stop)).collect();
                (0, dlq::move_total(&spans, req.max_messages), now_ms())
            }
        };
        let mut progress = MoveProgress {
            phase: MovePhase::Running,
            moved,
            total: Some(total),
            started_ms,
            finished_ms: None,
            message: resumed.as_ref().map(|_| "resumed after a restart".to_string()),
        };
        report(&progress);

        self.assign(&parts)?;
        let mut cleared: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut rate = control.rate();
        let mut pace_start = now_ms();
        let mut sent: u64 = 0;
        let mut in_txn: i64 = 0;
        let mut txn_started: Option<Instant> = None;
        let mut aborts = 0u32;
        let mut failure: Option<String> = None;

        loop {
            if control.is_interrupted() {
                if in_txn > 0 {
                    let _ = self.producer.abort_transaction(Duration::from_secs(30));
                }
                progress.moved = moved;
                progress.message = Some("interrupted: the operator stopped; the move resumes when it restarts".into());
                return Ok(progress);
            }
            if control.is_cancelled() {
                if in_txn > 0 {
                    let _ = self.producer.abort_transaction(Duration::from_secs(30));
                }
                progress.phase = MovePhase::Cancelled;
                progress.moved = moved;
                progress.finished_ms = Some(now_ms());
                progress.message = Some(format!("cancelled after {moved} record(s)"));
                return Ok(progress);
            }
            let new_rate = control.rate();
            if new_rate != rate {
                rate = new_rate;
                pace_start = now_ms();
                sent = 0;
            }
            // A transaction closes after `txn_age`, or at `txn_limit` records. Throttled: about five commits a
            // second, and room for a whole second of records so a slow commit is caught up in the next one.
            let (txn_limit, txn_age) = if rate == 0 {
                (200_000, Duration::from_millis(2000))
            } else {
                ((rate as i64).clamp(1, 50_000), Duration::from_millis(200))
            };
            let quota_reached = moved + in_txn >= total;
            let all_done = parts.values().all(Part::done);
            let txn_due = txn_started.is_some_and(|t| t.elapsed() >= txn_age) || in_txn >= txn_limit;
            let finished = quota_reached || all_done || failure.is_some();
            let offsets_moved = parts.values().any(|p| p.position != p.committed);
            if (finished && (in_txn > 0 || offsets_moved)) || (txn_due && in_txn > 0) {
                let commit_started = Instant::now();
                match self.commit(&parts, req, moved + in_txn, total, started_ms, in_txn == 0) {
                    Ok(()) => {
                        tracing::debug!(
                            redrive = %req.id,
                            records = in_txn,
                            open_ms = txn_started.map_or(0, |t| t.elapsed().as_millis() as u64),
                            commit_ms = commit_started.elapsed().as_millis() as u64,
                            "redrive transaction committed"
                        );
                        moved += in_txn;
                        in_txn = 0;
                        txn_started = None;
                        aborts = 0;
                        for p in parts.values_mut() {
                            p.committed = p.position;
                        }
                        progress.moved = moved;
                        report(&progress);
                    }
                    Err(TxnError::Fatal(m)) => {
                        return Err(KafkaError::Protocol(format!(
                            "the transactional producer {:?} cannot continue (another instance may have taken over): {m}",
                            req.group
                        )));
                    }
                    Err(TxnError::Abortable(m) | TxnError::Retriable(m)) => {
                        aborts += 1;
                        tracing::warn!(redrive = %req.id, error = %m, "redrive transaction aborted; rewinding");
                        let _ = self.producer.abort_transaction(Duration::from_secs(30));
                        in_txn = 0;
                        txn_started = None;
                        for p in parts.values_mut() {
                            p.position = p.committed;
                        }
                        self.assign(&parts)?;
                        if aborts >= 5 {
                            return Err(KafkaError::Protocol(format!("five transactions in a row failed, last: {m}")));
                        }
                        std::thread::sleep(Duration::from_millis(200 * aborts as u64));
                        continue;
                    }
                }
                continue;
            }
            if finished {
                progress.finished_ms = Some(now_ms());
                progress.moved = moved;
                match failure {
                    Some(m) => {
                        progress.phase = MovePhase::Failed;
                        progress.message = Some(m);
                    }
                    None => {
                        progress.phase = MovePhase::Completed;
                        // Offsets that were transaction markers or aborted records are not records.
                        if all_done && !quota_reached {
                            progress.total = Some(moved);
                        }
                        progress.message = None;
                    }
                }
                return Ok(progress);
            }

            let burst = dlq::burst_for(rate);
            if dlq::allowance(rate, burst, pace_start, now_ms(), sent) == 0 {
                let wait = dlq::wait_ms(rate, burst, pace_start, now_ms(), sent).min(50);
                self.producer.poll(Duration::from_millis(wait));
                continue;
            }
            let Some(polled) = self.consumer.poll(Duration::from_millis(50)) else { continue };
            let msg = match polled {
                Ok(m) => m,
                Err(RdError::PartitionEOF(p)) => {
                    // Everything up to the end was delivered; what is left before the stop are transaction markers
                    // or aborted records.
                    if let Some(part) = parts.get_mut(&p) {
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
            let Some(part) = parts.get_mut(&p) else { continue };
            if offset < part.position {
                continue;
            }
            if offset >= part.stop {
                part.position = part.stop;
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
                    continue;
                }
                if self.rt.block_on(self.client.describe_topic(dest))?.is_none() {
                    failure = Some(format!("{}: destination topic {dest:?} does not exist; stopped before it", at()));
                    continue;
                }
                cleared.insert(dest.to_string());
            }
            if sent == 0 {
                // Pace from the first record, not from the start: the first fetch must not become a burst.
                pace_start = now_ms();
            }
            if in_txn == 0 {
                self.producer.begin_transaction().map_err(rd)?;
                txn_started = Some(Instant::now());
            }
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
            sent += 1;
            part.position = offset + 1;
            if part.done() {
                self.pause(p);
            }
            if sent.is_multiple_of(1024) {
                self.producer.poll(Duration::ZERO);
            }
        }
    }

    /// Assigns every unfinished partition at its position.
    fn assign(&self, parts: &BTreeMap<i32, Part>) -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for (p, part) in parts {
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

    /// Commits the open transaction with every partition's position and the move's mark. `offsets_only`: no
    /// record is in flight, only positions moved (past transaction markers), so a transaction is opened for them.
    fn commit(
        &self,
        parts: &BTreeMap<i32, Part>,
        req: &MoveRequest,
        moved: i64,
        total: i64,
        started_ms: i64,
        offsets_only: bool,
    ) -> Result<(), TxnError> {
        if offsets_only {
            self.producer.begin_transaction().map_err(classify)?;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, part) in parts {
            let mark = MoveMark { id: req.id.clone(), stop: part.stop, moved, total, started_ms };
            let mut e = tpl.add_partition(&req.dead_letter, *p);
            e.set_offset(Offset::Offset(part.position)).map_err(classify)?;
            e.set_metadata(mark.encode());
        }
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

/// Where the redrive group resumes: its committed offset, or the log start (see `decisions::lag`).
fn dlq_position(committed: Option<i64>, log_start: i64) -> i64 {
    crate::decisions::lag::consumer_position(committed, log_start)
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

/// Fences the transactional id of a move that no instance runs any more (its operator died and the move was then
/// cancelled), so its open transaction is aborted at once instead of after the transaction time-out.
pub fn fence(settings: &ClientSettings, transactional_id: &str) -> Result<(), KafkaError> {
    let mut pc = settings.client_config();
    pc.set("transactional.id", transactional_id)
        .set("client.id", "tributary-redrive")
        .set("allow.auto.create.topics", "false")
        .set_log_level(RDKafkaLogLevel::Warning);
    let producer: BaseProducer = pc.create().map_err(rd)?;
    producer.init_transactions(Duration::from_secs(30)).map_err(rd)
}
