//! Whether this process may write — to Kafka, to status, to a workload's `/scale`.
//!
//! Without leader election a process always may. With it, only the holder of the leader Lease may, and only until
//! its term ends *by its own monotonic clock*: the term is read off the Lease it last saw renewed (renewTime +
//! leaseDurationSeconds, both written by this process's own clock), less a margin. A leader frozen past its term
//! (SIGSTOP, a stalled VM) or cut off from the apiserver (no renewal seen) finds its gate closed the moment it
//! runs again, before any request it had in hand goes out, and before a standby can take the Lease: a standby
//! takes it only once the term has ended by the Lease's own times, and the gate closes `margin` earlier.
//!
//! Leadership belongs to the process, so the gate is one per process ([`gate`]); every write path checks it just
//! before its request: [`crate::kafka`]'s write calls, status applies and `/scale` patches.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::runtime::sync::lock;

/// A write withheld because this process does not hold a live lease term.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not written: {0}")]
pub struct Fenced(pub &'static str);

/// The gate of one process.
pub struct WriteGate {
    /// Set once leader election is on: from then on writes need a live term.
    leased: AtomicBool,
    /// The end of the current term by the monotonic clock, less the margin; `None`: no term.
    until: Mutex<Option<Instant>>,
}

static GATE: WriteGate = WriteGate::open();

/// This process's gate.
pub fn gate() -> &'static WriteGate {
    &GATE
}

impl WriteGate {
    /// A gate that lets every write through until [`WriteGate::require_lease`].
    pub const fn open() -> WriteGate {
        WriteGate { leased: AtomicBool::new(false), until: Mutex::new(None) }
    }

    /// From now on, writes need a live term ([`WriteGate::held_until`]); closed until one is given.
    pub fn require_lease(&self) {
        *lock(&self.until) = None;
        self.leased.store(true, Ordering::Release);
    }

    /// The term is live until `until` (monotonic).
    pub fn held_until(&self, until: Instant) {
        *lock(&self.until) = Some(until);
    }

    /// The Lease is held by another replica, or was released: no term.
    pub fn lost(&self) {
        *lock(&self.until) = None;
    }

    /// Whether a write may go out now.
    pub fn permit(&self) -> Result<(), Fenced> {
        self.permit_at(Instant::now())
    }

    fn permit_at(&self, now: Instant) -> Result<(), Fenced> {
        if !self.leased.load(Ordering::Acquire) {
            return Ok(());
        }
        match *lock(&self.until) {
            Some(until) if now < until => Ok(()),
            Some(_) => Err(Fenced("this replica's leader Lease term ended without a renewal it saw")),
            None => Err(Fenced("this replica does not hold the leader Lease")),
        }
    }
}

/// Until when (monotonic, as of `now`/`wall_now`) a term renewed at `renewed` (wall clock, as written in the Lease)
/// for `duration` lets this replica write: `margin` before its end. `None` when that is already past.
pub fn term_end(
    renewed: SystemTime,
    duration: Duration,
    margin: Duration,
    wall_now: SystemTime,
    now: Instant,
) -> Option<Instant> {
    let end = renewed.checked_add(duration)?.checked_sub(margin)?;
    let left = end.duration_since(wall_now).ok().filter(|d| !d.is_zero())?;
    Some(now + left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_election_every_write_passes() {
        let g = WriteGate::open();
        assert_eq!(g.permit(), Ok(()));
        g.lost();
        assert_eq!(g.permit(), Ok(()), "losing a lease never held changes nothing without election");
    }

    #[test]
    fn with_election_writes_pass_only_within_the_term() {
        let g = WriteGate::open();
        g.require_lease();
        assert!(g.permit().is_err(), "closed before the first term");
        let t0 = Instant::now();
        g.held_until(t0 + Duration::from_secs(10));
        assert_eq!(g.permit_at(t0 + Duration::from_secs(9)), Ok(()));
        // A process frozen for 20 s: the first check after it runs again refuses.
        let e = g.permit_at(t0 + Duration::from_secs(30)).unwrap_err();
        assert!(e.0.contains("term ended"), "{e}");
        // Renewed: open again; taken by another replica: closed.
        g.held_until(t0 + Duration::from_secs(45));
        assert_eq!(g.permit_at(t0 + Duration::from_secs(30)), Ok(()));
        g.lost();
        assert!(g.permit_at(t0 + Duration::from_secs(30)).unwrap_err().0.contains("does not hold"));
    }

    #[test]
    fn a_term_ends_a_margin_before_the_lease_expires_and_stale_renewals_give_none() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let now = Instant::now();
        let (d, m) = (Duration::from_secs(15), Duration::from_secs(2));
        // Renewed 1 s ago: 15 - 1 - 2 = 12 s left.
        assert_eq!(term_end(wall - Duration::from_secs(1), d, m, wall, now), Some(now + Duration::from_secs(12)));
        // Renewed 13 s ago: inside the margin already; 20 s ago (a frozen process reading an old event): past.
        assert_eq!(term_end(wall - Duration::from_secs(13), d, m, wall, now), None);
        assert_eq!(term_end(wall - Duration::from_secs(20), d, m, wall, now), None);
    }
}
