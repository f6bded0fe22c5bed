//! Every thread the crate starts is spawned here, so that a test can make the operating
//! system's refusal happen on purpose ([`fail_next`]) and check that the crate survives it.
//!
//! The process-wide helper threads (the timer, the watchdog) are started lazily; when the
//! operating system refuses one, it registers here how to try again ([`helper_down`]), and
//! every thread that blocks on a signal tries again while one is down ([`revive_helpers`],
//! one relaxed load when none is).
//!
//! This file imports only [`sync`](crate::sync).

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};

use crate::sync::Lock;

/// Some helper thread could not be spawned and waits to be spawned again.
static DOWN: AtomicBool = AtomicBool::new(false);

/// A thread is trying the helpers again (see [`revive_helpers`]).
static REVIVING: AtomicBool = AtomicBool::new(false);

/// How to try again to spawn each helper that is down: true once it runs (or is no longer
/// needed).
static REVIVERS: Lock<Vec<fn() -> bool>> = Lock::new(Vec::new());

/// A helper thread could not be spawned: `revive` tries again, and is called by
/// [`revive_helpers`] until it succeeds.
pub(crate) fn helper_down(revive: fn() -> bool) {
    let mut revivers = REVIVERS.lock();
    if !revivers.iter().any(|r| *r as usize == revive as usize) {
        revivers.push(revive);
    }
    DOWN.store(true, Ordering::Release);
}

/// Whether a helper thread waits to be spawned again.
#[inline]
pub(crate) fn helpers_down() -> bool {
    DOWN.load(Ordering::Relaxed)
}

/// Tries again to spawn every helper thread that is down (with no crate lock held: each
/// takes its own); true when none is left down.
pub(crate) fn revive_helpers() -> bool {
    if !helpers_down() {
        return true;
    }
    // One thread tries at a time; the others find them still down and try on their next wait.
    if REVIVING
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    let revivers = std::mem::take(&mut *REVIVERS.lock());
    let still: Vec<fn() -> bool> = revivers.into_iter().filter(|revive| !revive()).collect();
    let mut revivers = REVIVERS.lock();
    for r in still {
        if !revivers.iter().any(|x| *x as usize == r as usize) {
            revivers.push(r);
        }
    }
    let none = revivers.is_empty();
    DOWN.store(!none, Ordering::Release);
    drop(revivers);
    REVIVING.store(false, Ordering::Release);
    none
}

/// The kinds of thread the crate starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A loop's thread, `{name}_{n}`.
    Loop,
    /// A supervised task.
    Task,
    /// A controller's supervisor, `{group}_{n}`.
    Supervisor,
    /// The process-wide `superloops-timer`.
    Timer,
    /// The process-wide `superloops-watchdog`.
    Watchdog,
    /// A `superloops-then` thread running the `then` callbacks of signals a timer turned on.
    Callback,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Loop,
        Kind::Task,
        Kind::Supervisor,
        Kind::Timer,
        Kind::Watchdog,
        Kind::Callback,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn parse(name: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| format!("{k:?}").eq_ignore_ascii_case(name))
    }
}

thread_local! {
    /// Spawns of each kind that this thread is to see refused, from [`fail_next`].
    static REFUSE: Cell<[u32; 6]> = const { Cell::new([0; 6]) };
}

/// Makes the next `n` spawns of `kind` *made by the calling thread* fail as if the operating
/// system had refused them. Per thread, so that tests running side by side do not see each
/// other's refusals. `kind`: `loop`, `task`, `supervisor`, `timer`, `watchdog`, `callback`.
///
/// # Panics
///
/// On an unknown kind.
pub fn fail_next(kind: &str, n: u32) {
    let kind = Kind::parse(kind).unwrap_or_else(|| panic!("no thread kind {kind:?}"));
    REFUSE.with(|r| {
        let mut counts = r.get();
        counts[kind.index()] = n;
        r.set(counts);
    });
}

/// Whether this spawn is to be refused (and counts it).
fn refused(kind: Kind) -> bool {
    REFUSE.with(|r| {
        let mut counts = r.get();
        let left = &mut counts[kind.index()];
        if *left == 0 {
            return false;
        }
        *left -= 1;
        r.set(counts);
        true
    })
}

/// Spawns a thread of `kind` from `builder`. On failure, `f` is dropped, as by
/// [`thread::Builder::spawn`]; see [`spawn_or_return`] to get it back.
pub(crate) fn spawn<F, T>(kind: Kind, builder: thread::Builder, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if refused(kind) {
        return Err(io::Error::other(format!(
            "a {kind:?} thread was refused on purpose (superloops' fault injection)"
        )));
    }
    builder.spawn(f)
}

/// Spawns a thread of `kind` that runs `body(payload)`; when it cannot be spawned, gives
/// `payload` back with the error, so that nothing it holds is lost (a loop's value, a task's
/// closure, callbacks still to run).
pub(crate) fn spawn_or_return<P, T>(
    kind: Kind,
    builder: thread::Builder,
    payload: P,
    body: impl FnOnce(P) -> T + Send + 'static,
) -> Result<JoinHandle<T>, (io::Error, P)>
where
    P: Send + 'static,
    T: Send + 'static,
{
    // The payload travels through a slot that the new thread empties first; a failed spawn
    // leaves it there.
    let slot = std::sync::Arc::new(parking_lot::Mutex::new(Some(payload)));
    let theirs = slot.clone();
    let spawned = spawn(kind, builder, move || {
        let payload = theirs.lock().take().expect("the payload is in its slot");
        body(payload)
    });
    match spawned {
        Ok(handle) => Ok(handle),
        Err(e) => {
            let payload = slot
                .lock()
                .take()
                .expect("a failed spawn leaves the payload in its slot");
            Err((e, payload))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_per_thread_and_counted() {
        fail_next("task", 2);
        let builder = || thread::Builder::new();
        assert!(spawn(Kind::Task, builder(), || ()).is_err());
        // Another thread's spawns are not refused.
        thread::spawn(move || assert!(spawn(Kind::Task, builder(), || ()).is_ok()))
            .join()
            .unwrap();
        let back = spawn_or_return(Kind::Task, builder(), 7u32, |n| n);
        assert_eq!(
            back.err().map(|(_, p)| p),
            Some(7),
            "the payload comes back"
        );
        let ok = spawn_or_return(Kind::Task, builder(), 7u32, |n| n + 1).unwrap();
        assert_eq!(ok.join().unwrap(), 8, "only two were refused");
        assert!(
            spawn(Kind::Loop, builder(), || ()).is_ok(),
            "other kinds are not"
        );
    }

    #[test]
    fn a_helper_down_is_tried_again_until_it_comes_back() {
        use std::sync::atomic::AtomicUsize;
        // Other tests' waits on signals may try it too: only what must hold whoever tries.
        static TRIES: AtomicUsize = AtomicUsize::new(0);
        fn comes_back_on_the_third_try() -> bool {
            TRIES.fetch_add(1, Ordering::SeqCst) >= 2
        }
        helper_down(comes_back_on_the_third_try);
        helper_down(comes_back_on_the_third_try);
        let mut calls = 0;
        while !revive_helpers() {
            calls += 1;
            assert!(calls < 1000, "tried again until it came back");
            thread::yield_now();
        }
        assert!(TRIES.load(Ordering::SeqCst) >= 3);
        assert!(!helpers_down());
        let tries = TRIES.load(Ordering::SeqCst);
        assert!(revive_helpers(), "nothing left to try");
        assert_eq!(
            TRIES.load(Ordering::SeqCst),
            tries,
            "and it is not tried again"
        );
    }

    #[test]
    #[should_panic(expected = "no thread kind")]
    fn an_unknown_kind_is_refused() {
        fail_next("fiber", 1);
    }
}
