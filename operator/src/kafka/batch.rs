//! A request batcher: many callers submit single requests; a worker groups what arrives within a short linger
//! into one call of up to `max_batch` requests, with a bounded number of calls in flight. A full queue makes
//! callers wait (back-pressure) instead of failing or crashing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::error::KafkaError;

type Item<Req, Resp> = (Req, oneshot::Sender<Result<Resp, KafkaError>>);

/// Submits requests of one kind to a per-cluster worker.
pub struct Batcher<Req, Resp> {
    tx: mpsc::Sender<Item<Req, Resp>>,
}

impl<Req, Resp> Clone for Batcher<Req, Resp> {
    fn clone(&self) -> Self {
        Batcher { tx: self.tx.clone() }
    }
}

/// Shape of a batcher.
#[derive(Clone, Copy, Debug)]
pub struct BatchShape {
    pub max_batch: usize,
    pub linger: Duration,
    pub queue: usize,
    pub in_flight: usize,
}

impl<Req: Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Starts the worker. `exec` answers a batch with one result per request, in order.
    pub fn spawn<F, Fut>(shape: BatchShape, exec: F) -> Batcher<Req, Resp>
    where
        F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<Result<Resp, KafkaError>>, KafkaError>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<Item<Req, Resp>>(shape.queue);
        let exec = Arc::new(exec);
        let slots = Arc::new(Semaphore::new(shape.in_flight));
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let deadline = tokio::time::Instant::now() + shape.linger;
                while batch.len() < shape.max_batch {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(item)) => batch.push(item),
                        Ok(None) | Err(_) => break,
                    }
                }
                let Ok(permit) = slots.clone().acquire_owned().await else { break };
                let exec = exec.clone();
                tokio::spawn(async move {
                    let (reqs, replies): (Vec<Req>, Vec<_>) = batch.into_iter().unzip();
                    let n = reqs.len();
                    match exec(reqs).await {
                        Ok(results) if results.len() == n => {
                            for (reply, result) in replies.into_iter().zip(results) {
                                let _ = reply.send(result);
                            }
                        }
                        Ok(results) => {
                            let err =
                                KafkaError::Protocol(format!("batch of {n} answered with {} results", results.len()));
                            for reply in replies {
                                let _ = reply.send(Err(err.clone()));
                            }
                        }
                        Err(err) => {
                            for reply in replies {
                                let _ = reply.send(Err(err.clone()));
                            }
                        }
                    }
                    drop(permit);
                });
            }
        });
        Batcher { tx }
    }

    /// Submits one request and waits for its answer.
    pub async fn submit(&self, req: Req) -> Result<Resp, KafkaError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send((req, reply)).await.map_err(|_| KafkaError::Closed)?;
        rx.await.map_err(|_| KafkaError::Closed)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_requests_share_calls() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let shape = BatchShape { max_batch: 100, linger: Duration::from_millis(20), queue: 16, in_flight: 2 };
        let b: Batcher<u32, u32> = Batcher::spawn(shape, move |reqs: Vec<u32>| {
            c.fetch_add(1, Ordering::SeqCst);
            async move { Ok(reqs.into_iter().map(|r| Ok(r * 2)).collect()) }
        });
        // 250 concurrent callers through a queue of 16: back-pressure, not failure.
        let handles: Vec<_> = (0..250u32)
            .map(|i| {
                let b = b.clone();
                tokio::spawn(async move { b.submit(i).await })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap().unwrap(), i as u32 * 2);
        }
        let n = calls.load(Ordering::SeqCst);
        assert!((3..=20).contains(&n), "250 requests took {n} calls");
    }

    #[tokio::test]
    async fn a_failed_call_fails_every_request_in_it() {
        let shape = BatchShape { max_batch: 10, linger: Duration::from_millis(10), queue: 16, in_flight: 1 };
        let b: Batcher<u32, u32> = Batcher::spawn(shape, |_reqs: Vec<u32>| async { Err(KafkaError::Timeout) });
        assert!(matches!(b.submit(1).await, Err(KafkaError::Timeout)));
    }
}
