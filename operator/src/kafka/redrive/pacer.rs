//! The rate limit of a whole move, shared by its movers.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::control::now_ms;
use crate::decisions::dlq::moves;
use crate::runtime::sync::lock;

/// The rate limit of a whole move, shared by its movers.
pub(super) struct Pacer {
    /// The rate the state below paces (0: none yet).
    rate: AtomicU32,
    state: Mutex<PaceState>,
}

#[derive(Default)]
pub(super) struct PaceState {
    started_ms: i64,
    sent: u64,
}

impl Pacer {
    pub(super) fn new() -> Pacer {
        Pacer { rate: AtomicU32::new(0), state: Mutex::new(PaceState::default()) }
    }

    /// Milliseconds to wait before the next record at `rate` (0: one may go now). Unlimited moves take no lock
    /// and read no clock.
    pub(super) fn peek(&self, rate: u32) -> u64 {
        if rate == 0 {
            self.rate.store(0, Ordering::Relaxed);
            return 0;
        }
        let mut s = lock(&self.state);
        let now = now_ms();
        if self.rate.swap(rate, Ordering::Relaxed) != rate {
            *s = PaceState { started_ms: now, sent: 0 };
        }
        moves::wait_ms(rate, moves::burst_for(rate), s.started_ms, now, s.sent).min(50)
    }

    /// Counts a record sent at `rate`.
    pub(super) fn count(&self, rate: u32) {
        if rate == 0 {
            return;
        }
        let mut s = lock(&self.state);
        if s.sent == 0 {
            // Paced from the first record, not from the start: the first fetch must not become a burst.
            s.started_ms = now_ms();
        }
        s.sent += 1;
    }
}
