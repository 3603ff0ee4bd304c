//! One mover: a consumer of some dead-letter partitions and a transactional producer. It moves records in
//! transactions that also commit the consumed offsets with their marks, at the move's shared rate, and stops on
//! completion, cancellation, interruption, a record it may not move, or another mover's failure.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::clients::{TxnError, classify, rd};
use super::control::{MoveControl, MoveRequest};
use super::pacer::Pacer;
use crate::decisions::dlq::moves::{self, MoveMark};
use crate::kafka::{ClusterClient, KafkaError};
use crate::runtime::sync::{lock, wait_until};

/// What a mover reports to the coordinating thread.
pub(super) enum Event {
    /// A transaction with this many records committed.
    Committed(i64),
    Ended(Result<End, KafkaError>),
}

/// How a mover ended.
pub(super) enum End {
    Completed,
    Cancelled,
    Interrupted,
    /// It stopped before a record it may not move; what came before is committed.
    Failed(String),
    /// Another mover failed; what this one had is committed.
    Halted,
}

/// State the movers of one move share.
pub(super) struct Shared {
    /// Set when a mover fails: the others commit what they have and stop.
    pub(super) halt: AtomicBool,
    pub(super) pacer: Pacer,
    /// Open once the move's marks are written (at once for a resumed move).
    pub(super) gate: Gate,
}

/// A one-time signal: `Some(true)` go, `Some(false)` give up.
pub(super) struct Gate {
    state: Mutex<Option<bool>>,
    changed: Condvar,
}

impl Gate {
    pub(super) fn new(open: bool) -> Gate {
        Gate { state: Mutex::new(open.then_some(true)), changed: Condvar::new() }
    }
    /// Settles the gate; the first word stays.
    pub(super) fn set(&self, go: bool) {
        let mut s = lock(&self.state);
        if s.is_none() {
            *s = Some(go);
            self.changed.notify_all();
        }
    }
    pub(super) fn wait(&self) -> bool {
        let settled = wait_until(&self.changed, lock(&self.state), |s| s.is_some());
        settled.unwrap_or(false)
    }
}

/// One mover: a consumer of some dead-letter partitions and a transactional producer.
pub(super) struct Mover<'a> {
    pub(super) client: &'a ClusterClient,
    pub(super) rt: &'a tokio::runtime::Handle,
    pub(super) req: &'a MoveRequest,
    pub(super) consumer: BaseConsumer,
    pub(super) producer: BaseProducer,
    pub(super) parts: BTreeMap<i32, Part>,
    /// Records this mover may still move (a capped move has one mover).
    pub(super) quota: Option<i64>,
    pub(super) total: i64,
    pub(super) started_ms: i64,
}

/// Per-partition state of a move.
#[derive(Clone, Copy, Debug)]
pub(super) struct Part {
    /// Next offset to move (what a commit records).
    pub(super) position: i64,
    /// Position as of the last committed transaction.
    pub(super) committed: i64,
    pub(super) stop: i64,
    /// Records moved from this partition, committed.
    pub(super) moved: i64,
    /// Records from this partition in the open transaction.
    pub(super) pending: i64,
}

/// What a mover that waited for the move's first marks says when the mover writing them failed.
const MARKS_NOT_WRITTEN: &str = "the move's first marks could not be written";

/// Whether `e` only echoes another mover's failure to write the first marks.
pub(super) fn is_marks_not_written(e: &KafkaError) -> bool {
    matches!(e, KafkaError::Protocol(m) if m == MARKS_NOT_WRITTEN)
}

impl Part {
    fn done(&self) -> bool {
        self.position >= self.stop
    }
}

impl Mover<'_> {
    /// Assigns the partitions (fetching starts), writes the move's first marks when given them, and waits until
    /// they are written.
    pub(super) fn start(&self, marks: Option<&[moves::PartitionPlan]>, shared: &Shared) -> Result<(), KafkaError> {
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
            false => Err(KafkaError::Protocol(MARKS_NOT_WRITTEN.into())),
        }
    }

    /// Commits, in one transaction, every partition's start offset with its mark.
    fn write_marks(&self, parts: &[moves::PartitionPlan]) -> Result<(), KafkaError> {
        let tpl = self.marked_offsets(parts.iter().map(|p| (p.partition, p.start, p.stop, p.moved)))?;
        let cgm = self
            .consumer
            .group_metadata()
            .ok_or_else(|| KafkaError::Protocol("the redrive consumer has no group metadata".into()))?;
        crate::runtime::leadership::gate().permit()?;
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

    pub(super) fn run(
        mut self,
        control: &MoveControl,
        shared: &Shared,
        events: &Sender<Event>,
    ) -> Result<End, KafkaError> {
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
                            // Each abort rewound to the last commit: nothing is lost, the move can try again.
                            return Err(KafkaError::Broker {
                                code: "TransactionsAborted".into(),
                                message: format!("five transactions in a row failed, last: {m}"),
                            });
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
            let original = headers.and_then(|h| moves::original_topic(h.iter().map(|h| (h.key, h.value))));
            let dest = moves::destination(req.destination.as_deref(), original, &req.source);
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
            out = out.insert(Header { key: moves::REDRIVE_ID_HEADER, value: Some(req.id.as_bytes()) });
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
        // A replica that is no longer the leader by its own clock commits nothing: the transaction is aborted and
        // the new leader moves these records (the transactional id fences this producer there too).
        crate::runtime::leadership::gate().permit().map_err(|f| TxnError::Abortable(f.to_string()))?;
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
