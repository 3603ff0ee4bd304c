//! The program in the "consumer" pods of a Deployment the operator autoscales: one member of a Kafka consumer group
//! that processes at most `--rate` records per second, like a replica bound by a slow downstream.
//!
//! ```text
//! replica_consumer --bootstrap HOST:PORT --group GROUP --topic T1,T2 [--rate 100] [--http-addr 0.0.0.0:8080]
//!     [--client-id NAME] [--dead-letter-topic T] [-X key=value ...]
//! ```
//!
//! Every flag also reads an environment variable (KAFKA_BOOTSTRAP, GROUP_ID, TOPICS, RATE, HTTP_ADDR, POD_NAME,
//! DEAD_LETTER_TOPIC). With a dead-letter topic, a record whose value starts with `poison` "fails" and is published
//! there with Spring for Apache Kafka's headers (`kafka_dlt-original-topic`, `-partition`, `-offset`,
//! `kafka_dlt-exception-message`) before its offset is stored, as Spring's DeadLetterPublishingRecoverer does.
//! Offsets of processed records are stored and committed every 500 ms, and synchronously when partitions are
//! revoked and on shutdown. SIGTERM (what a scale-down sends) or SIGINT stops polling, commits, leaves the group and
//! exits 0. With `--http-addr`, `GET /healthz` answers "ok" and `GET /stats` the JSON
//! `{"consumed": n, "assigned": [{"topic": t, "partition": p}, ...], ...}`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, TopicPartitionList};

#[derive(Parser, Debug)]
#[command(about = "One replica of an autoscaled Kafka consumer group, processing at most --rate records/s")]
struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BOOTSTRAP")]
    bootstrap: String,
    /// Consumer group id.
    #[arg(long, env = "GROUP_ID")]
    group: String,
    /// Topics to subscribe to, comma-separated.
    #[arg(long, env = "TOPICS", value_delimiter = ',', required = true)]
    topic: Vec<String>,
    /// Records processed per second at most (0: no limit).
    #[arg(long, env = "RATE", default_value_t = 100)]
    rate: u64,
    /// Serve GET /healthz and GET /stats here, e.g. 0.0.0.0:8080.
    #[arg(long, env = "HTTP_ADDR")]
    http_addr: Option<String>,
    /// Kafka client.id (default: the host name, i.e. the pod name).
    #[arg(long, env = "POD_NAME")]
    client_id: Option<String>,
    /// Publish records that fail (value starting with `poison`) to this topic, with Spring's headers.
    #[arg(long, env = "DEAD_LETTER_TOPIC")]
    dead_letter_topic: Option<String>,
    /// Extra librdkafka properties, e.g. -X security.protocol=SSL.
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    extra: Vec<String>,
}

/// What the consumer thread, the rebalance callbacks and the HTTP server share.
#[derive(Default)]
struct Shared {
    started: Option<Instant>,
    consumed: AtomicU64,
    assigned: Mutex<Vec<(String, i32)>>,
}

impl Shared {
    fn log(&self, msg: std::fmt::Arguments<'_>) {
        let secs = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        eprintln!("[{secs:9.3}s] {msg}");
    }
}

struct Ctx(Arc<Shared>);

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) if tpl.count() > 0 => {
                // Commit what was processed before the partitions go to another replica.
                let committed = commit(consumer, CommitMode::Sync);
                self.0.log(format_args!("revoked {} (commit: {committed})", partitions(tpl)));
            }
            Rebalance::Assign(tpl) if tpl.count() > 0 => self.0.log(format_args!("assigned {}", partitions(tpl))),
            Rebalance::Error(e) => self.0.log(format_args!("rebalance error: {e}")),
            // The cooperative protocol's empty increments.
            _ => {}
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        let now = consumer.assignment().map(|tpl| list(&tpl)).unwrap_or_default();
        *self.0.assigned.lock().unwrap() = now;
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(e) = result
            && !no_offset(&e)
        {
            self.0.log(format_args!("commit of {} failed: {e}", partitions(offsets)));
        }
    }
}

fn list(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    let mut v: Vec<_> = tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
    v.sort();
    v
}

fn partitions(tpl: &TopicPartitionList) -> String {
    let v: Vec<String> = list(tpl).iter().map(|(t, p)| format!("{t}/{p}")).collect();
    format!("[{}]", v.join(" "))
}

fn no_offset(e: &KafkaError) -> bool {
    matches!(e, KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset))
}

/// Commits the stored offsets; "nothing to commit" is no error.
fn commit(consumer: &BaseConsumer<Ctx>, mode: CommitMode) -> String {
    match consumer.commit_consumer_state(mode) {
        Err(e) if !no_offset(&e) => e.to_string(),
        _ => "ok".into(),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let shared = Arc::new(Shared { started: Some(Instant::now()), ..Default::default() });
    let client_id = args.client_id.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        Some(host.trim().to_string()).filter(|h| !h.is_empty()).unwrap_or_else(|| "replica-consumer".into())
    });
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("group.id", &args.group)
        .set("client.id", &client_id)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("log_level", "4");
    for kv in &args.extra {
        let (k, v) = kv.split_once('=').with_context(|| format!("-X wants KEY=VALUE, not {kv}"))?;
        config.set(k, v);
    }
    let dead_letters: Option<(BaseProducer, &str)> = match &args.dead_letter_topic {
        Some(topic) => {
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", &args.bootstrap)
                .set("client.id", format!("{client_id}-dlt"))
                .set("enable.idempotence", "true")
                .set("log_level", "4")
                .create()
                .context("creating the dead-letter producer")?;
            Some((producer, topic.as_str()))
        }
        None => None,
    };
    let consumer: BaseConsumer<Ctx> =
        config.create_with_context(Ctx(shared.clone())).context("creating the consumer")?;
    let topics: Vec<&str> = args.topic.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).context("subscribing")?;
    shared.log(format_args!(
        "{client_id} consuming {} in group {} at {} records/s",
        args.topic.join(","),
        args.group,
        args.rate
    ));

    if let Some(addr) = &args.http_addr {
        let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
        let shared = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &shared);
            }
        });
    }

    // SIGTERM / SIGINT end the `signals` thread; the consumer loop runs on this thread and watches it. The handlers
    // are installed here, before the loop, so an early SIGTERM does not kill the process.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (mut term, mut int) = {
        use tokio::signal::unix::{SignalKind, signal};
        let _guard = runtime.enter();
        (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?)
    };
    let signals = std::thread::spawn(move || {
        runtime.block_on(async {
            tokio::select! { _ = term.recv() => "SIGTERM", _ = int.recv() => "SIGINT" }
        })
    });

    let interval = (args.rate > 0).then(|| Duration::from_secs_f64(1.0 / args.rate as f64));
    let (mut next_slot, mut last_commit, mut last_log) = (Instant::now(), Instant::now(), Instant::now());
    let (mut stored, mut logged) = (false, 0);
    'poll: while !signals.is_finished() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                // "Processing": one record per `interval`. A signal cuts it short; the record is then left
                // uncommitted for the next owner of the partition.
                if let Some(interval) = interval {
                    next_slot = next_slot.max(Instant::now());
                    while let Some(wait) = next_slot.checked_duration_since(Instant::now()) {
                        if signals.is_finished() {
                            break 'poll;
                        }
                        std::thread::sleep(wait.min(Duration::from_millis(50)));
                    }
                    next_slot += interval;
                }
                if let Some((producer, dlt)) = &dead_letters
                    && m.payload().is_some_and(|v| v.starts_with(b"poison"))
                {
                    dead_letter(producer, dlt, &m).context("publishing a dead letter")?;
                    shared.log(format_args!("{}/{}@{} failed: sent to {dlt}", m.topic(), m.partition(), m.offset()));
                }
                if let Err(e) = consumer.store_offset_from_message(&m) {
                    shared.log(format_args!(
                        "storing the offset of {}/{}@{}: {e}",
                        m.topic(),
                        m.partition(),
                        m.offset()
                    ));
                }
                shared.consumed.fetch_add(1, Ordering::Relaxed);
                stored = true;
            }
            Some(Err(e)) => shared.log(format_args!("consumer error: {e}")),
            None => {}
        }
        if stored && last_commit.elapsed() >= Duration::from_millis(500) {
            commit(&consumer, CommitMode::Async);
            (stored, last_commit) = (false, Instant::now());
        }
        let consumed = shared.consumed.load(Ordering::Relaxed);
        if consumed != logged && last_log.elapsed() >= Duration::from_secs(1) {
            let assigned = shared.assigned.lock().unwrap().len();
            let per_sec = (consumed - logged) as f64 / last_log.elapsed().as_secs_f64();
            shared.log(format_args!("consumed {consumed} ({per_sec:.0}/s), {assigned} partitions assigned"));
            (logged, last_log) = (consumed, Instant::now());
        }
    }

    let signal = signals.join().unwrap_or("signal");
    let committed = commit(&consumer, CommitMode::Sync);
    shared.log(format_args!(
        "{signal}: consumed {}, final commit: {committed}; leaving the group",
        shared.consumed.load(Ordering::Relaxed)
    ));
    // Dropping the consumer closes it: revokes the assignment (committing again) and leaves the group.
    drop(consumer);
    shared.log(format_args!("left the group"));
    Ok(())
}

/// Publishes a failed record to the dead-letter topic with Spring's headers and waits for the broker's ack, so its
/// offset is stored only once the dead letter is safe.
fn dead_letter(producer: &BaseProducer, topic: &str, m: &impl Message) -> anyhow::Result<()> {
    let (partition, offset) = (m.partition().to_be_bytes(), m.offset().to_be_bytes());
    let headers = OwnedHeaders::new()
        .insert(Header { key: "kafka_dlt-original-topic", value: Some(m.topic()) })
        .insert(Header { key: "kafka_dlt-original-partition", value: Some(&partition[..]) })
        .insert(Header { key: "kafka_dlt-original-offset", value: Some(&offset[..]) })
        .insert(Header { key: "kafka_dlt-exception-message", value: Some("poison record: cannot be processed") });
    let mut record = BaseRecord::to(topic).headers(headers);
    if let Some(k) = m.key() {
        record = record.key(k);
    }
    if let Some(v) = m.payload() {
        record = record.payload(v);
    }
    producer.send(record).map_err(|(e, _)| e)?;
    producer.flush(Duration::from_secs(30))?;
    Ok(())
}

/// Answers one HTTP/1.x request: GET /healthz or GET /stats.
fn serve(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let (status, content_type, body) = match (request.split_whitespace().next(), path) {
        (Some("GET"), "/healthz") => ("200 OK", "text/plain", "ok".to_string()),
        (Some("GET"), "/stats") => {
            let assigned = shared.assigned.lock().unwrap().clone();
            let assigned: Vec<_> =
                assigned.iter().map(|(t, p)| serde_json::json!({"topic": t, "partition": p})).collect();
            let stats = serde_json::json!({"consumed": shared.consumed.load(Ordering::Relaxed), "assigned": assigned});
            ("200 OK", "application/json", stats.to_string())
        }
        _ => ("404 Not Found", "text/plain", "not found".to_string()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
