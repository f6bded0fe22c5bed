//! The one thread behind every [`Signal::after`](crate::Signal::after)
//! (`superloops-timer`), and the short-lived threads that run what it releases.
//!
//! The timer thread runs no user code. When a deadline comes it turns its signal on (which
//! wakes every waiter) and hands the `then` callbacks that this released to a thread of their
//! own (`superloops-then`): a callback that blocks, or that waits for another timer, holds up
//! nobody but itself.
//!
//! If the operating system refuses to start the timer thread, the error is logged and the
//! timer is kept; the thread is spawned again by the next `Signal::after`, or by any thread
//! that blocks on a signal meanwhile ([`revive`]: it tries again every [`RETRY`] while it
//! waits). The timers made meanwhile then fire, late by as long as no thread could be made,
//! never early, and never silently lost.
//!
//! This layer knows nothing of `Signal`: a timer's target is anything that can
//! [`ring`](Alarm::ring). It imports [`spawn`](crate::spawn) and [`trace`](crate::trace) only.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Weak;
use std::thread;
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Lock};

use crate::spawn::{self, Kind};
use crate::trace::{catch, error};

/// User callbacks released by a timer, to be run off the timer's thread.
pub(crate) type Batch = Box<dyn FnOnce() + Send + 'static>;

/// What a timer turns on when its deadline comes.
pub(crate) trait Alarm: Send + Sync {
    /// Goes off, running no user code; returns the callbacks that this released, if any.
    fn ring(&self) -> Option<Batch>;
}

struct Timers {
    /// Deadlines, earliest first, with the id of their target.
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Targets by id: weak, so that a timer whose signal nobody holds is forgotten.
    targets: BTreeMap<u64, Weak<dyn Alarm>>,
    next_id: u64,
    /// The timer thread is running.
    running: bool,
}

struct Timer {
    state: Lock<Timers>,
    changed: Condvar,
}

static TIMER: Timer = Timer {
    state: Lock::new(Timers {
        heap: BinaryHeap::new(),
        targets: BTreeMap::new(),
        next_id: 0,
        running: false,
    }),
    changed: Condvar::new(),
};

/// How often a thread blocked on a signal tries to spawn a helper thread (this one, or the
/// watchdog) again while one is down.
pub(crate) const RETRY: Duration = Duration::from_millis(50);

/// Tries again to spawn the timer thread (registered with [`spawn::helper_down`] when it
/// could not be); true if it runs now.
fn revive() -> bool {
    let mut st = TIMER.state.lock();
    if st.running {
        return true;
    }
    let refused = start_locked(&mut st);
    drop(st);
    match refused {
        None => true,
        Some(e) => {
            error!("Could not spawn the Signal::after timer thread again: {e}");
            false
        }
    }
}

/// Spawns the timer thread (under the state lock: it waits for it, then serves every timer);
/// the error if the operating system refused.
fn start_locked(st: &mut Timers) -> Option<std::io::Error> {
    let builder = thread::Builder::new().name("superloops-timer".into());
    match spawn::spawn(Kind::Timer, builder, run) {
        Ok(_) => {
            st.running = true;
            None
        }
        Err(e) => {
            spawn::helper_down(revive);
            Some(e)
        }
    }
}

/// Rings `target` at `deadline`, unless it is gone by then.
pub(crate) fn add(deadline: Instant, target: Weak<dyn Alarm>) {
    let mut st = TIMER.state.lock();
    let id = st.next_id;
    st.next_id += 1;
    st.targets.insert(id, target);
    // Forget timers whose signal nobody holds, so that a long timer made in every cycle does
    // not pile up until its deadline.
    if st.targets.len() >= 1024 && st.targets.len().is_power_of_two() {
        st.targets.retain(|_, t| t.strong_count() > 0);
        let Timers { heap, targets, .. } = &mut *st;
        heap.retain(|Reverse((_, id))| targets.contains_key(id));
    }
    let earliest = st.heap.peek().is_none_or(|Reverse((d, _))| deadline < *d);
    st.heap.push(Reverse((deadline, id)));
    if st.running {
        if earliest {
            TIMER.changed.notify_all();
        }
        return;
    }
    let refused = start_locked(&mut st);
    drop(st);
    if let Some(e) = refused {
        error!(
            "Could not spawn the Signal::after timer thread: {e}; the next Signal::after, or \
             a thread blocked on a signal, tries again, and the timers made meanwhile are kept"
        );
    }
}

/// Marks the timer thread gone if it ever ends (it would only by a bug of the crate), so that
/// the next timer starts another.
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        TIMER.state.lock().running = false;
    }
}

fn run() {
    let _running = Running;
    let mut st = TIMER.state.lock();
    loop {
        let Some(&Reverse((deadline, id))) = st.heap.peek() else {
            st.wait(&TIMER.changed);
            continue;
        };
        if Instant::now() < deadline {
            st.wait_until(&TIMER.changed, deadline);
            continue;
        }
        st.heap.pop();
        let target = st.targets.remove(&id).and_then(|t| t.upgrade());
        if let Some(target) = target {
            // Outside the lock: ringing takes the signal's own lock, and dropping the target
            // may drop the signal.
            drop(st);
            match catch("a timer", || target.ring()) {
                Ok(Some(batch)) => run_apart(batch),
                Ok(None) => {}
                Err(e) => error!("{e}"),
            }
            drop(target);
            st = TIMER.state.lock();
        }
    }
}

/// Runs `batch` on a `superloops-then` thread of its own. If that thread cannot be spawned,
/// runs it here, as the last resort, with an error logged.
pub(crate) fn run_apart(batch: Batch) {
    let builder = thread::Builder::new().name("superloops-then".into());
    if let Err((e, batch)) = spawn::spawn_or_return(Kind::Callback, builder, batch, |b| b()) {
        error!("Could not spawn a thread for Signal::then callbacks: {e}; running them here");
        batch();
    }
}
