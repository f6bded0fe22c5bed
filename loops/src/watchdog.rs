//! The `cycle_timeout` watchdog: one process-wide thread (`superloops-watchdog`), started the
//! first time a loop with a `cycle_timeout` begins its cycles, that notices a cycle running
//! longer than its timeout.
//!
//! No clock is read per cycle: the loop thread already stores its cycle count, and the
//! watchdog samples it every quarter of the shortest timeout. A count that has not moved for
//! a whole timeout means the current cycle has run at least that long. While no loop with a
//! `cycle_timeout` is alive, the watchdog blocks on its condvar and never wakes (Guarantee 8
//! holds for users who do not ask for a watchdog).
//!
//! The watchdog runs no user code: when a stalled loop's `stop_on_failure` stops it, the stop
//! token's `then` callbacks run on a thread of their own. If the operating system refuses to
//! start the watchdog's thread, the error is logged and the thread is spawned again by the
//! next loop to be watched, or by any thread blocked in a wait on a signal (`ctx.sleep`,
//! `Signal::wait*`), which tries every 50 ms while it waits; the loops registered meanwhile
//! are kept and watched from then.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Lock};

use crate::signal::Fired;
use crate::spawn::{self, Kind};
use crate::timer;
use crate::trace::{catch, error};
use crate::Signal;

/// What the watchdog tells a loop.
pub(crate) trait Watched: Send + Sync {
    /// Thread `gen`'s current cycle has run longer than `timeout`. Returns the `then`
    /// callbacks of a stop this caused, for the watchdog to run off its own thread.
    fn stalled(&self, gen: u64, timeout: Duration) -> Option<Fired>;
}

struct Entry {
    loop_: Weak<dyn Watched>,
    gen: u64,
    cycles: Arc<AtomicU64>,
    stop: Signal,
    timeout: Duration,
    /// The count last seen, and when it was first seen.
    seen: (u64, Instant),
    /// The cycle `seen.0` was already reported.
    reported: bool,
}

struct Entries {
    list: Vec<Entry>,
    /// The watchdog thread is running.
    running: bool,
}

struct Watchdog {
    entries: Lock<Entries>,
    changed: Condvar,
}

static WATCHDOG: Watchdog = Watchdog {
    entries: Lock::new(Entries {
        list: Vec::new(),
        running: false,
    }),
    changed: Condvar::new(),
};

/// What [`unwatch`] takes back.
pub(crate) struct WatchId(Arc<AtomicU64>);

/// Watches the cycles of thread `gen` of a loop until [`unwatch`], until it is asked to stop
/// (`stop`), or until the loop is gone. Called by the loop's thread as its first cycle is
/// about to begin, with no lock held.
pub(crate) fn watch(
    loop_: Weak<dyn Watched>,
    gen: u64,
    cycles: Arc<AtomicU64>,
    stop: Signal,
    timeout: Duration,
) -> WatchId {
    let now = Instant::now();
    let seen = cycles.load(Ordering::Relaxed);
    let id = WatchId(cycles.clone());
    let mut entries = WATCHDOG.entries.lock();
    entries.list.push(Entry {
        loop_,
        gen,
        cycles,
        stop,
        timeout,
        seen: (seen, now),
        reported: false,
    });
    if entries.running {
        WATCHDOG.changed.notify_all();
        return id;
    }
    let refused = start_locked(&mut entries);
    drop(entries);
    if let Some(e) = refused {
        error!(
            "Could not spawn the cycle_timeout watchdog: {e}; the next loop to be watched, or \
             a thread blocked on a signal, tries again"
        );
    }
    id
}

/// Spawns the watchdog thread (under the entries' lock: the new thread waits for it, then
/// watches every entry); the error if the operating system refused.
fn start_locked(entries: &mut Entries) -> Option<std::io::Error> {
    let builder = thread::Builder::new().name("superloops-watchdog".into());
    match spawn::spawn(Kind::Watchdog, builder, run) {
        Ok(_) => {
            entries.running = true;
            None
        }
        Err(e) => {
            spawn::helper_down(revive);
            Some(e)
        }
    }
}

/// Tries again to spawn the watchdog thread (registered with [`spawn::helper_down`] when it
/// could not be); true if it runs now, or nothing is left to watch.
fn revive() -> bool {
    let mut entries = WATCHDOG.entries.lock();
    if entries.running || entries.list.is_empty() {
        return true;
    }
    let refused = start_locked(&mut entries);
    drop(entries);
    match refused {
        None => true,
        Some(e) => {
            error!("Could not spawn the cycle_timeout watchdog again: {e}");
            false
        }
    }
}

/// Stops watching: the loop's thread has left its cycles (they ended, or one panicked).
pub(crate) fn unwatch(id: WatchId) {
    WATCHDOG
        .entries
        .lock()
        .list
        .retain(|e| !Arc::ptr_eq(&e.cycles, &id.0));
}

/// Marks the watchdog gone if its thread ever ends (only a bug of the crate would end it), so
/// that the next loop to be watched starts another.
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        WATCHDOG.entries.lock().running = false;
    }
}

fn run() {
    let _running = Running;
    let mut entries = WATCHDOG.entries.lock();
    loop {
        entries
            .list
            .retain(|e| !e.stop.is_go() && e.loop_.strong_count() > 0);
        let Some(shortest) = entries.list.iter().map(|e| e.timeout).min() else {
            entries.wait(&WATCHDOG.changed);
            continue;
        };
        let tick = (shortest / 4).max(Duration::from_millis(1));
        entries.wait_for(&WATCHDOG.changed, tick);

        let now = Instant::now();
        let mut stalled = Vec::new();
        for e in entries.list.iter_mut() {
            let count = e.cycles.load(Ordering::Relaxed);
            if count != e.seen.0 {
                e.seen = (count, now);
                e.reported = false;
            } else if !e.reported && now.saturating_duration_since(e.seen.1) >= e.timeout {
                e.reported = true;
                stalled.push((e.loop_.clone(), e.gen, e.timeout));
            }
        }
        if !stalled.is_empty() {
            // Report outside the lock: reporting counts a failure, which may log and stop.
            drop(entries);
            for (loop_, gen, timeout) in stalled {
                let Some(l) = loop_.upgrade() else { continue };
                match catch("the watchdog's report", || l.stalled(gen, timeout)) {
                    Ok(Some(fired)) => {
                        if let Some(batch) = fired.into_batch() {
                            timer::run_apart(batch);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => error!("{e}"),
                }
            }
            entries = WATCHDOG.entries.lock();
        }
    }
}
