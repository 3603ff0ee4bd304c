//! One move from start to end: fence every mover slot, read where the move stands (new or resumed), write the marks
//! of a new move, run the movers on their own threads and follow their commits into the reported progress.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

use super::clients::{MOVER_SLOTS, fence_slots, rd, redrive_consumer};
use super::control::{MoveControl, MoveRequest, now_ms};
use super::mover::{End, Event, Gate, Mover, Part, Shared, is_marks_not_written};
use super::pacer::Pacer;
use crate::decisions::dlq::moves::{self, MoveMark, MovePhase, MoveProgress};
use crate::kafka::ffi::{OffsetSpec, PartitionOffset};
use crate::kafka::{ClusterClient, KafkaError};

/// How long passing Kafka faults may keep a move from moving any record before it fails.
pub const RETRY_WITHOUT_PROGRESS: Duration = Duration::from_secs(600);

/// Longest wait between two tries of a move that met a passing fault.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Runs a move to its end: completion, cancellation or failure. `report` is called after every committed
/// transaction, at every retry and at the end.
///
/// A passing Kafka fault (a timeout, a lost connection, a broker error during a failover) does not end the move:
/// it starts again after a backoff the way a restarted operator resumes it (fence every slot, read the marks the
/// committed transactions left, go on), so no record is lost or moved twice. It fails on a fault that is not
/// passing (the dead-letter topic is gone, a refused authorization, another instance took the producers over), or
/// when faults keep it from moving any record for [`RETRY_WITHOUT_PROGRESS`].
pub fn run_move(
    client: &ClusterClient,
    rt: &tokio::runtime::Handle,
    req: &MoveRequest,
    control: &MoveControl,
    report: &mut dyn FnMut(&MoveProgress),
) -> MoveProgress {
    let started = now_ms();
    let moved = AtomicI64::new(0);
    let mut last: Option<MoveProgress> = None;
    let mut attempt: u32 = 0;
    let mut progress_seen = (Instant::now(), 0i64);
    loop {
        let mut follow = |p: &MoveProgress| {
            last = Some(p.clone());
            report(p);
        };
        let e = match coordinate(client, rt, req, control, &moved, &mut follow) {
            Ok(p) => return p,
            Err(e) => e,
        };
        let so_far = moved.load(Ordering::SeqCst);
        if so_far > progress_seen.1 {
            progress_seen = (Instant::now(), so_far);
            attempt = 0;
        }
        let base = last.clone().unwrap_or(MoveProgress {
            phase: MovePhase::Running,
            moved: so_far,
            total: None,
            started_ms: started,
            finished_ms: None,
            message: None,
        });
        let end = |phase: MovePhase, message: String| MoveProgress {
            phase,
            moved: so_far,
            finished_ms: (phase != MovePhase::Running).then(now_ms),
            message: Some(message),
            ..base.clone()
        };
        if control.is_cancelled() {
            return end(MovePhase::Cancelled, format!("cancelled after {so_far} record(s)"));
        }
        if control.is_interrupted() {
            return end(MovePhase::Running, INTERRUPTED.to_string());
        }
        let stalled_for = progress_seen.0.elapsed();
        if !e.is_transient() || stalled_for >= RETRY_WITHOUT_PROGRESS {
            let why = if e.is_transient() {
                format!("redrive stopped: no record moved for {} s of Kafka faults, last: {e}", stalled_for.as_secs())
            } else {
                format!("redrive stopped: {e}")
            };
            return end(MovePhase::Failed, why);
        }
        let delay = retry_delay(attempt);
        attempt += 1;
        tracing::warn!(redrive = %req.id, error = %e, attempt, delay_s = delay.as_secs(), "redrive met a Kafka fault; resuming after a pause");
        report(&end(
            MovePhase::Running,
            format!("Kafka fault ({e}): resuming in {} s, from the last committed transaction", delay.as_secs()),
        ));
        let until = Instant::now() + delay;
        while Instant::now() < until && !control.is_cancelled() && !control.is_interrupted() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// 1 s, doubling, at most [`MAX_RETRY_DELAY`].
fn retry_delay(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.min(5)).min(MAX_RETRY_DELAY)
}

const INTERRUPTED: &str = "interrupted: the operator stopped; the move resumes when it restarts";

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
    let offset_of =
        |list: &[PartitionOffset], p: i32| list.iter().find(|o| o.partition == p).map(|o| o.offset).unwrap_or(0).max(0);
    let mut found: HashMap<i32, (Option<i64>, Option<MoveMark>)> = HashMap::new();
    for e in committed.elements() {
        let off = match e.offset() {
            Offset::Offset(o) if o >= 0 => Some(o),
            _ => None,
        };
        let mark = MoveMark::decode(e.metadata()).filter(|m| m.id == req.id);
        found.insert(e.partition(), (off, mark));
    }
    let facts: Vec<moves::PartitionFacts> = partitions
        .iter()
        .map(|p| {
            let (committed, mark) = found.remove(p).unwrap_or((None, None));
            moves::PartitionFacts {
                partition: *p,
                committed,
                log_start: offset_of(&starts, *p),
                end: offset_of(&ends, *p),
                mark,
            }
        })
        .collect();
    let plan = moves::plan_move(&facts, req.max_messages, now_ms());
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

    let groups = moves::split_among_workers(&plan.parts, req.max_messages, MOVER_SLOTS);
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
    let first_marks: Option<&[moves::PartitionPlan]> = (!plan.resumed).then_some(&plan.parts);

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
    // A mover that waited for the first marks only echoes the failure of the one that wrote them: that one is the
    // cause to report (and to judge whether the move can go on).
    if let Some(cause) = ends.iter().filter_map(|end| end.as_ref().err()).find(|e| !is_marks_not_written(e)) {
        return Err(cause.clone());
    }
    let mut outcome = End::Completed;
    for end in ends {
        // The first failure names the move's end; an interrupt or a cancel outranks it.
        outcome = match (outcome, end?) {
            (End::Interrupted, _) | (_, End::Interrupted) => End::Interrupted,
            (End::Cancelled, _) | (_, End::Cancelled) => End::Cancelled,
            (End::Failed(m), _) | (_, End::Failed(m)) => End::Failed(m),
            (o, _) => o,
        };
    }
    match outcome {
        End::Interrupted => {
            progress.message = Some(INTERRUPTED.into());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_thirty_seconds() {
        let delays: Vec<u64> = (0..8).map(|a| retry_delay(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
