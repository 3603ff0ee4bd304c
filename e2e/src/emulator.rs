//! A replica emulator for autoscaling tests: it watches a Deployment's `spec.replicas` and keeps exactly that many
//! real rdkafka consumers in the group, each processing at most `rate` records per second (a shared knob the test
//! can turn, as a saturated database would slow consumers down). What they consume is recorded.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, Client};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

use crate::Stack;

/// A record a replica processed: value and the wall-clock time it was processed.
pub type Processed = (String, Instant);

struct Replica {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The running emulator; stops its consumers when dropped.
pub struct ReplicaEmulator {
    stop: Arc<AtomicBool>,
    watcher: Option<JoinHandle<()>>,
    /// Records per second per replica.
    pub rate: Arc<AtomicU64>,
    /// Records per second all replicas together can process (0: no limit), like a shared database that
    /// saturates: with n replicas each gets at most capacity / n.
    pub shared_capacity: Arc<AtomicU64>,
    pub processed: Arc<Mutex<Vec<Processed>>>,
    pub replicas_seen: Arc<Mutex<Vec<(Instant, usize)>>>,
}

impl ReplicaEmulator {
    pub fn start(
        stack: &Stack,
        client: Client,
        ns: &str,
        deployment: &str,
        group: &str,
        topic: &str,
        rate: u64,
    ) -> ReplicaEmulator {
        let stop = Arc::new(AtomicBool::new(false));
        let rate = Arc::new(AtomicU64::new(rate));
        let shared_capacity = Arc::new(AtomicU64::new(0));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let processed = Arc::new(Mutex::new(Vec::new()));
        let replicas_seen = Arc::new(Mutex::new(Vec::new()));
        let (stack, ns, deployment, group, topic) =
            (stack.clone(), ns.to_string(), deployment.to_string(), group.to_string(), topic.to_string());
        let (stop2, rate2, processed2, seen2) = (stop.clone(), rate.clone(), processed.clone(), replicas_seen.clone());
        let (capacity2, running2) = (shared_capacity.clone(), running.clone());
        let handle = tokio::runtime::Handle::current();
        let watcher = std::thread::spawn(move || {
            let api: Api<Deployment> = Api::namespaced(client, &ns);
            let mut replicas: Vec<Replica> = Vec::new();
            while !stop2.load(Ordering::SeqCst) {
                let want = handle
                    .block_on(api.get_opt(&deployment))
                    .ok()
                    .flatten()
                    .and_then(|d| d.spec.and_then(|s| s.replicas))
                    .unwrap_or(0)
                    .max(0) as usize;
                if want != replicas.len() {
                    seen2.lock().unwrap().push((Instant::now(), want));
                }
                running2.store(want, Ordering::SeqCst);
                while replicas.len() < want {
                    let limits = Limits { rate: rate2.clone(), capacity: capacity2.clone(), running: running2.clone() };
                    replicas.push(spawn_replica(&stack, &group, &topic, limits, processed2.clone()));
                }
                while replicas.len() > want {
                    let r = replicas.pop().unwrap();
                    r.stop.store(true, Ordering::SeqCst);
                    let _ = r.thread.join();
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            for r in &replicas {
                r.stop.store(true, Ordering::SeqCst);
            }
            for r in replicas {
                let _ = r.thread.join();
            }
        });
        ReplicaEmulator { stop, watcher: Some(watcher), rate, shared_capacity, processed, replicas_seen }
    }

    pub fn processed_values(&self) -> Vec<String> {
        self.processed.lock().unwrap().iter().map(|(v, _)| v.clone()).collect()
    }
}

/// What bounds one replica's speed.
struct Limits {
    rate: Arc<AtomicU64>,
    capacity: Arc<AtomicU64>,
    running: Arc<std::sync::atomic::AtomicUsize>,
}

impl Limits {
    fn per_second(&self) -> u64 {
        let own = self.rate.load(Ordering::SeqCst).max(1);
        match self.capacity.load(Ordering::SeqCst) {
            0 => own,
            cap => own.min(cap / self.running.load(Ordering::SeqCst).max(1) as u64).max(1),
        }
    }
}

fn spawn_replica(
    stack: &Stack,
    group: &str,
    topic: &str,
    limits: Limits,
    processed: Arc<Mutex<Vec<Processed>>>,
) -> Replica {
    let stop = Arc::new(AtomicBool::new(false));
    let consumer: BaseConsumer = stack
        .kafka_config()
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "500")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .expect("an emulated replica's consumer");
    consumer.subscribe(&[topic]).expect("subscribing");
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || {
        while !stop2.load(Ordering::SeqCst) {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                let value = m.payload().map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
                processed.lock().unwrap().push((value, Instant::now()));
                std::thread::sleep(Duration::from_micros(1_000_000 / limits.per_second()));
            }
        }
        // Commit what was processed, then leave the group.
        let _ = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync);
        consumer.unsubscribe();
        drop(consumer);
    });
    Replica { stop, thread }
}

impl Drop for ReplicaEmulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
    }
}
