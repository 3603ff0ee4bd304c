//! The Kafka clients of a move: the read_committed consumer of the redrive group, and one transactional producer per
//! mover slot, fenced together when a move starts or resumes (and when an orphaned move is cancelled).

use std::time::Duration;

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError as RdError;
use rdkafka::producer::{BaseProducer, Producer};

use crate::kafka::KafkaError;
use crate::kafka::settings::ClientSettings;

pub(super) fn rd(e: RdError) -> KafkaError {
    KafkaError::from(e)
}

/// A transaction error, classified as librdkafka does.
pub(super) enum TxnError {
    /// Abort the transaction, rewind, and go on.
    Abortable(String),
    /// The producer cannot continue (fenced by a newer instance, or a fatal error).
    Fatal(String),
    /// Try the same call again.
    Retriable(String),
}

pub(super) fn classify(e: RdError) -> TxnError {
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
pub(super) const MOVER_SLOTS: usize = 4;

/// The transactional id of mover `slot` of a move whose redrive group is `group`.
pub(super) fn transactional_id(group: &str, slot: usize) -> String {
    format!("{group}-{slot}")
}

pub(super) fn consumer_config(settings: &ClientSettings) -> rdkafka::ClientConfig {
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

pub(super) fn redrive_consumer(settings: &ClientSettings, group: &str) -> Result<BaseConsumer, KafkaError> {
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
pub(super) fn transactional_producer(
    settings: &ClientSettings,
    transactional_id: &str,
) -> Result<BaseProducer, KafkaError> {
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
pub(super) fn fence_slots(settings: &ClientSettings, group: &str) -> Result<Vec<BaseProducer>, KafkaError> {
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

/// Fences the transactional ids of a move that no instance runs any more (its operator died and the move was then
/// cancelled), so its open transactions are aborted at once instead of after the transaction time-out.
pub fn fence(settings: &ClientSettings, group: &str) -> Result<(), KafkaError> {
    fence_slots(settings, group).map(drop)
}
