//! What the controller and a running move share: the request, cancellation, interruption and the live rate limit.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::decisions::dlq::moves::Allowed;

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

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
