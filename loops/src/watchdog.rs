//! The `cycle_timeout` watchdog: one process-wide thread, started the first time a loop with
//! a `cycle_timeout` starts, that notices a cycle running longer than its timeout.
//!
//! No clock is read per cycle: the loop thread already stores its cycle count, and the
//! watchdog samples it every quarter of the shortest timeout. A count that has not moved for
//! a whole timeout means the current cycle has run at least that long. While no loop with a
//! `cycle_timeout` is alive, the watchdog blocks on its condvar and never wakes (Guarantee 8
//! holds for users who do not ask for a watchdog).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::Signal;

/// What the watchdog tells a loop.
pub(crate) trait Watched: Send + Sync {
    /// Thread `gen`'s current cycle has run longer than `timeout`.
    fn stalled(&self, gen: u64, timeout: Duration);
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

struct Watchdog {
    entries: Mutex<Vec<Entry>>,
    changed: Condvar,
}

static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();

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
    let dog = WATCHDOG.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("superloops-watchdog".into())
            .spawn(run);
        if let Err(e) = spawned {
            tracing::error!("Could not spawn the cycle_timeout watchdog: {e}");
        }
        Watchdog {
            entries: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        }
    });
    let now = Instant::now();
    let seen = cycles.load(Ordering::Relaxed);
    let id = WatchId(cycles.clone());
    dog.entries.lock().push(Entry {
        loop_,
        gen,
        cycles,
        stop,
        timeout,
        seen: (seen, now),
        reported: false,
    });
    dog.changed.notify_all();
    id
}

/// Stops watching: the loop's thread has left its cycles (they ended, or one panicked).
pub(crate) fn unwatch(id: WatchId) {
    if let Some(dog) = WATCHDOG.get() {
        dog.entries
            .lock()
            .retain(|e| !Arc::ptr_eq(&e.cycles, &id.0));
    }
}

fn run() {
    let dog = loop {
        // `watch` initialises the static right after spawning this thread.
        if let Some(dog) = WATCHDOG.get() {
            break dog;
        }
        std::thread::yield_now();
    };
    let mut entries = dog.entries.lock();
    loop {
        entries.retain(|e| !e.stop.is_go() && e.loop_.strong_count() > 0);
        let Some(shortest) = entries.iter().map(|e| e.timeout).min() else {
            dog.changed.wait(&mut entries);
            continue;
        };
        let tick = (shortest / 4).max(Duration::from_millis(1));
        dog.changed.wait_for(&mut entries, tick);

        let now = Instant::now();
        let mut stalled = Vec::new();
        for e in entries.iter_mut() {
            let count = e.cycles.load(Ordering::Relaxed);
            if count != e.seen.0 {
                e.seen = (count, now);
                e.reported = false;
            } else if !e.reported && now.duration_since(e.seen.1) >= e.timeout {
                e.reported = true;
                stalled.push((e.loop_.clone(), e.gen, e.timeout));
            }
        }
        if !stalled.is_empty() {
            // Report outside the lock: reporting counts a failure, which may log and stop.
            drop(entries);
            for (loop_, gen, timeout) in stalled {
                if let Some(l) = loop_.upgrade() {
                    l.stalled(gen, timeout);
                }
            }
            entries = dog.entries.lock();
        }
    }
}
