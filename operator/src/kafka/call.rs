//! One Kafka request, wrapped: the circuit breaker that fails fast while a cluster is down, metrics per operation,
//! and a time-out explained by the client error that caused it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::client_context::Admin;
use super::error::KafkaError;
use crate::runtime::metrics::{KafkaRequestLabels, Metrics, OperationLabels, ResultLabel};
use crate::runtime::sync::lock;

/// Circuit breaker state.
#[derive(Default)]
pub(super) struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    last: Option<KafkaError>,
}

impl Breaker {
    /// The error to fail fast with while the breaker is open.
    fn open_error(&self) -> Option<KafkaError> {
        let open = self.open_until.is_some_and(|until| Instant::now() < until);
        open.then(|| KafkaError::CircuitOpen(self.last.as_ref().map(|e| e.to_string()).unwrap_or_default()))
    }
}

/// The operations that change the cluster: each passes this replica's write gate (a live leader Lease term, under
/// leader election) just before it is sent.
pub const WRITES: &[&str] = &[
    "create_topics",
    "create_partitions",
    "incremental_alter_configs",
    "delete_topics",
    "alter_group_offsets",
    "alter_partition_reassignments",
    "create_acls",
    "delete_acls",
    "alter_user_scram_credentials",
    "alter_client_quotas",
];

/// Wraps one Kafka request: circuit breaker, metrics, and client-error enrichment.
#[derive(Clone)]
pub(super) struct Call {
    pub op: &'static str,
    pub admin: Arc<Admin>,
    pub breaker: Arc<Mutex<Breaker>>,
    pub metrics: Arc<Metrics>,
}

impl Call {
    pub async fn run<T, Fut>(&self, fut: Fut) -> Result<T, KafkaError>
    where
        Fut: std::future::Future<Output = Result<T, KafkaError>>,
    {
        if WRITES.contains(&self.op) {
            crate::runtime::leadership::gate().permit()?;
        }
        self.check_open()?;
        let started = Instant::now();
        let result = fut.await;
        self.finish(started, result)
    }

    /// Fails fast while the breaker is open.
    pub fn check_open(&self) -> Result<(), KafkaError> {
        match lock(&self.breaker).open_error() {
            Some(open) => Err(open),
            None => Ok(()),
        }
    }

    /// Records one finished request (started at `started`): metrics, breaker, and client-error enrichment.
    pub fn finish<T>(&self, started: Instant, mut result: Result<T, KafkaError>) -> Result<T, KafkaError> {
        // A time-out after an authentication failure is an authentication failure: say so.
        if let Err(e) = &result
            && matches!(e, KafkaError::Timeout | KafkaError::Unreachable(_))
            && let Some(client_err) = self.admin.inner().context().recent_error(Duration::from_secs(60))
            && client_err.is_cluster_fault()
        {
            result = Err(client_err);
        }
        let label = if result.is_ok() { ResultLabel::Success } else { ResultLabel::Error };
        self.metrics.kafka_requests.get_or_create(&KafkaRequestLabels { operation: self.op, result: label }).inc();
        self.metrics
            .kafka_request_duration
            .get_or_create(&OperationLabels { operation: self.op })
            .observe(started.elapsed().as_secs_f64());
        {
            let mut b = lock(&self.breaker);
            match &result {
                Err(e) if e.is_cluster_fault() => {
                    b.failures += 1;
                    // After three failures in a row, fail fast for 1 s, doubling up to 30 s.
                    if b.failures >= 3 {
                        let backoff =
                            Duration::from_millis(1000u64 << (b.failures - 3).min(5)).min(Duration::from_secs(30));
                        b.open_until = Some(Instant::now() + backoff);
                    }
                    b.last = Some(e.clone());
                }
                _ => *b = Breaker::default(),
            }
        }
        result
    }
}
