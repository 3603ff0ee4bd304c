//! The one way the operator takes a lock.
//!
//! Every mutex here guards a cache or a progress record that is valid after any single update, so a panic in
//! another holder leaves nothing half-written worth refusing: the lock is taken over, never unwrapped.

use std::sync::{Condvar, Mutex, MutexGuard};

/// Locks `mutex`, taking it over if a panicking holder poisoned it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits on `condvar` with `guard` until `done` holds for the guarded value, taking the lock over if poisoned.
pub fn wait_until<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    done: impl FnMut(&mut T) -> bool,
) -> MutexGuard<'a, T> {
    let mut done = done;
    condvar.wait_while(guard, |v| !done(v)).unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_taken_over_with_its_data() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            *g = 2;
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), 2);
    }
}
