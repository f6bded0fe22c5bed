//! The crate's locks: parking_lot's mutex, with each thread's held locks counted, so that the
//! rule "no user code and no `tracing` event while the crate holds a lock" is checked where it
//! matters, not only written down.
//!
//! Every place that hands control to code the crate does not own (a `tracing` event, user
//! code run through [`catch`](crate::trace::catch), a user value dropped through
//! [`drop_caught`](crate::trace::drop_caught)) calls [`check_unlocked`]. In a build with debug
//! assertions (the test suite's), one that finds a crate lock held by its thread is recorded,
//! with the place; the tests read the record through `__private::under_lock()` and require
//! it empty. In a release build the count and the checks compile to nothing.
//!
//! This file imports nothing from the crate.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

pub(crate) use parking_lot::Condvar;
use parking_lot::{Mutex, MutexGuard, WaitTimeoutResult};

#[cfg(debug_assertions)]
thread_local! {
    /// Crate locks this thread holds now.
    static HELD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Places where code the crate does not own was reached with a crate lock held (debug
/// builds): the first 100, for the tests to read.
#[cfg(debug_assertions)]
static UNDER_LOCK: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A mutex of the crate.
#[derive(Default)]
pub(crate) struct Lock<T>(Mutex<T>);

impl<T> Lock<T> {
    pub(crate) const fn new(value: T) -> Self {
        Lock(Mutex::new(value))
    }

    /// Locks it, counting the lock as held by this thread until the guard is dropped.
    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        let guard = self.0.lock();
        #[cfg(debug_assertions)]
        HELD.with(|h| h.set(h.get() + 1));
        Guard(guard)
    }
}

/// A held [`Lock`].
pub(crate) struct Guard<'a, T>(MutexGuard<'a, T>);

impl<T> Guard<'_, T> {
    /// Waits on `cv`, releasing the lock meanwhile.
    pub(crate) fn wait(&mut self, cv: &Condvar) {
        cv.wait(&mut self.0);
    }

    /// Waits on `cv` until `deadline`, releasing the lock meanwhile.
    pub(crate) fn wait_until(&mut self, cv: &Condvar, deadline: Instant) -> WaitTimeoutResult {
        cv.wait_until(&mut self.0, deadline)
    }

    /// Waits on `cv` for at most `timeout`, releasing the lock meanwhile.
    pub(crate) fn wait_for(&mut self, cv: &Condvar, timeout: Duration) -> WaitTimeoutResult {
        cv.wait_for(&mut self.0, timeout)
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Guard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> Drop for Guard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(debug_assertions)]
        HELD.with(|h| h.set(h.get().saturating_sub(1)));
    }
}

/// Called where control passes to code the crate does not own (`what`, at `place`): records
/// it if this thread holds a crate lock (debug builds; nothing in release builds).
#[inline]
#[track_caller]
pub(crate) fn check_unlocked(what: &str) {
    #[cfg(debug_assertions)]
    if HELD.with(|h| h.get()) > 0 {
        let place = std::panic::Location::caller();
        let mut record = UNDER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if record.len() < 100 {
            record.push(format!("{what} at {place} with a crate lock held"));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = what;
}

/// The places recorded by `check_unlocked` so far (always empty in release builds).
pub fn under_lock() -> Vec<String> {
    #[cfg(debug_assertions)]
    {
        UNDER_LOCK.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    #[cfg(not(debug_assertions))]
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(debug_assertions)]
    fn a_check_under_a_lock_is_recorded_and_one_after_it_is_not() {
        let lock = Lock::new(0);
        let before = under_lock().len();
        check_unlocked("nothing held");
        assert_eq!(under_lock().len(), before);
        {
            let mut g = lock.lock();
            *g += 1;
            check_unlocked("a test's own check");
        }
        check_unlocked("released");
        let record = under_lock();
        assert_eq!(record.len(), before + 1);
        assert!(
            record[before].starts_with("a test's own check at "),
            "{record:?}"
        );
    }
}
