//! [`Signal`]: a one-shot, thread-safe flag that only goes from off to on.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::ops::{BitAnd, BitOr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Condvar, Mutex};

type Callback = Box<dyn FnOnce() + Send + 'static>;

/// A one-shot, thread-safe flag that only goes from off to on (mo-threads' `Signal`).
///
/// Every loop thread's stop token is a `Signal` ([`Ctx::stopping`](crate::Ctx::stopping)), so
/// a loop can wait on "stop, or a timeout, or my own event" with one call. A `Signal` is a
/// cheap `Clone` handle: every clone sees the same flag.
///
/// ```
/// use std::time::Duration;
/// use superloops::Signal;
///
/// let stop = Signal::new();
/// let data_ready = Signal::new();
/// let wake = stop.clone() | data_ready.clone() | Signal::after(Duration::from_secs(60));
///
/// let worker = std::thread::spawn(move || wake.wait());
/// data_ready.go();
/// worker.join().unwrap();
/// assert!(!stop.is_go());
/// ```
///
/// Combining is cheap enough to do in every cycle: `a | b` and `a & b` leave on `a` and `b`
/// only a weak link to the combined signal, dropped once the combined signal is, and every
/// [`Signal::after`] shares one timer thread.
#[derive(Clone)]
pub struct Signal {
    inner: Arc<Inner>,
}

// `repr(C)` with `on` first: the per-cycle load of the flag is then a short instruction at
// offset 0 of the allocation, which keeps a loop's whole cycle loop within one 64-byte code
// line (measured: a loop straddling two lines ran at half the rate of the baseline).
#[repr(C)]
struct Inner {
    /// Set once, by `go`; read on the per-cycle path (one atomic load).
    on: AtomicBool,
    /// Never receives a message: it disconnects when `go` drops the sender, which wakes every
    /// waiter at once and lets `Ctx::recv` select on stop and a user channel together.
    rx: Receiver<()>,
    /// `Some` while off: the sender whose drop is the wake-up, the `then` callbacks, and the
    /// links to signals combined from this one.
    pending: Mutex<Option<Pending>>,
    /// For a combined signal, the signals it was made from: held strongly, so that the chain
    /// in `a | b | c` lives as long as its result (the sources link to it only weakly).
    _sources: Vec<Signal>,
}

struct Pending {
    _tx: Sender<()>,
    callbacks: Vec<Callback>,
    links: Vec<Link>,
}

/// A combined signal this one feeds; weak, so that dropping the combination frees it.
enum Link {
    /// `self | other`: turn the target on.
    Or(Weak<Inner>),
    /// `self & other`: count down; the last one turns the target on.
    And(Weak<Inner>, Arc<AtomicUsize>),
}

impl Link {
    fn is_dead(&self) -> bool {
        match self {
            Link::Or(t) | Link::And(t, _) => t.strong_count() == 0,
        }
    }

    fn fire(self) {
        match self {
            Link::Or(t) => {
                if let Some(t) = t.upgrade() {
                    Signal { inner: t }.go();
                }
            }
            Link::And(t, remaining) => {
                if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    if let Some(t) = t.upgrade() {
                        Signal { inner: t }.go();
                    }
                }
            }
        }
    }
}

impl Signal {
    /// A new signal, off.
    pub fn new() -> Self {
        Self::combined(Vec::new())
    }

    fn combined(sources: Vec<Signal>) -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        Signal {
            inner: Arc::new(Inner {
                on: AtomicBool::new(false),
                rx,
                pending: Mutex::new(Some(Pending {
                    _tx: tx,
                    callbacks: Vec::new(),
                    links: Vec::new(),
                })),
                _sources: sources,
            }),
        }
    }

    /// A signal that goes on by itself after `delay`. Every timer of the process is served by
    /// one thread (`superloops-timer`), which sleeps until the earliest deadline and forgets a
    /// timer whose signal nobody holds any more.
    pub fn after(delay: Duration) -> Self {
        let signal = Signal::new();
        // A delay past the end of time never fires.
        if let Some(deadline) = Instant::now().checked_add(delay) {
            timer().add(deadline, Arc::downgrade(&signal.inner));
        }
        signal
    }

    /// Turns the signal on: wakes every waiter and runs every `then` callback, once. Later
    /// calls do nothing. Returns true if this call turned it on.
    pub fn go(&self) -> bool {
        let pending = self.inner.pending.lock().take();
        match pending {
            None => false,
            Some(pending) => {
                self.inner.on.store(true, Ordering::Release);
                drop(pending._tx);
                for link in pending.links {
                    link.fire();
                }
                for callback in pending.callbacks {
                    run_callback(callback);
                }
                true
            }
        }
    }

    /// Whether the signal is on.
    #[inline]
    pub fn is_go(&self) -> bool {
        self.inner.on.load(Ordering::Acquire)
    }

    /// The flag itself, for the per-cycle check (one load, no indirection through `Arc`).
    #[inline]
    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.inner.on
    }

    /// Blocks until the signal is on.
    pub fn wait(&self) {
        if !self.is_go() {
            let _ = self.inner.rx.recv();
        }
    }

    /// Blocks until the signal is on or `timeout` has passed; true if it is on.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        // A zero timeout is a check, not a wait: no channel, no lock.
        if self.is_go() || timeout.is_zero() {
            return self.is_go();
        }
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_deadline(deadline),
            None => {
                self.wait();
                true
            }
        }
    }

    /// Blocks until the signal is on or `deadline` has come; true if it is on.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        if self.is_go() {
            return true;
        }
        match self.inner.rx.recv_deadline(deadline) {
            Err(RecvTimeoutError::Timeout) => self.is_go(),
            _ => true,
        }
    }

    /// Runs `f` once when the signal goes on, on the thread that turns it on; at once, on this
    /// thread, if it is on already. A panic in `f` is caught and logged.
    pub fn then(&self, f: impl FnOnce() + Send + 'static) {
        let mut pending = self.inner.pending.lock();
        match pending.as_mut() {
            Some(p) => p.callbacks.push(Box::new(f)),
            None => {
                drop(pending);
                run_callback(Box::new(f));
            }
        }
    }

    /// Makes this signal feed `link`; fires it at once if this signal is on already.
    fn link(&self, link: Link) {
        let mut pending = self.inner.pending.lock();
        match pending.as_mut() {
            Some(p) => {
                // Forget combinations nobody holds any more, so combining in every cycle
                // does not grow this signal.
                if p.links.len() >= 8 && p.links.len().is_power_of_two() {
                    p.links.retain(|l| !l.is_dead());
                }
                p.links.push(link);
            }
            None => {
                drop(pending);
                link.fire();
            }
        }
    }

    /// The receiver that disconnects when the signal goes on, for `select!`.
    pub(crate) fn receiver(&self) -> &Receiver<()> {
        &self.inner.rx
    }

    /// Links recorded on this signal (for tests of the pruning).
    #[cfg(test)]
    fn link_count(&self) -> usize {
        self.inner
            .pending
            .lock()
            .as_ref()
            .map_or(0, |p| p.links.len())
    }
}

/// Runs a `then` callback; a panic in it is caught and logged, so that it can neither unwind
/// out of `go` (into a loop's `stop`, or the shared timer thread) nor keep later callbacks
/// from running.
fn run_callback(callback: Callback) {
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(callback)) {
        tracing::error!(
            "panic in a Signal::then callback: {}",
            crate::handle::panic_message(&*p)
        );
    }
}

impl Default for Signal {
    fn default() -> Self {
        Signal::new()
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("go", &self.is_go()).finish()
    }
}

/// `a | b` goes on as soon as either goes on.
impl BitOr for Signal {
    type Output = Signal;
    fn bitor(self, other: Signal) -> Signal {
        let either = Signal::combined(vec![self.clone(), other.clone()]);
        for source in [self, other] {
            source.link(Link::Or(Arc::downgrade(&either.inner)));
        }
        either
    }
}

/// `a & b` goes on once both have gone on.
impl BitAnd for Signal {
    type Output = Signal;
    fn bitand(self, other: Signal) -> Signal {
        let both = Signal::combined(vec![self.clone(), other.clone()]);
        let remaining = Arc::new(AtomicUsize::new(2));
        for source in [self, other] {
            source.link(Link::And(Arc::downgrade(&both.inner), remaining.clone()));
        }
        both
    }
}

/// The one thread behind every [`Signal::after`].
struct Timer {
    heap: Mutex<BinaryHeap<Reverse<(Instant, u64)>>>,
    targets: Mutex<std::collections::HashMap<u64, Weak<Inner>>>,
    next_id: AtomicUsize,
    changed: Condvar,
}

fn timer() -> &'static Timer {
    static TIMER: OnceLock<Timer> = OnceLock::new();
    static STARTED: OnceLock<()> = OnceLock::new();
    let timer = TIMER.get_or_init(|| Timer {
        heap: Mutex::new(BinaryHeap::new()),
        targets: Mutex::new(std::collections::HashMap::new()),
        next_id: AtomicUsize::new(0),
        changed: Condvar::new(),
    });
    STARTED.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("superloops-timer".into())
            .spawn(move || timer.run());
        if let Err(e) = spawned {
            tracing::error!("Could not spawn the Signal::after timer thread: {e}");
        }
    });
    timer
}

impl Timer {
    fn add(&self, deadline: Instant, target: Weak<Inner>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) as u64;
        let mut heap = self.heap.lock();
        {
            let mut targets = self.targets.lock();
            targets.insert(id, target);
            // Forget timers whose signal nobody holds, so that a long timer made in every
            // cycle does not pile up until its deadline.
            if targets.len() >= 1024 && targets.len().is_power_of_two() {
                targets.retain(|_, t| t.strong_count() > 0);
                heap.retain(|Reverse((_, id))| targets.contains_key(id));
            }
        }
        let earliest = heap.peek().is_none_or(|Reverse((d, _))| deadline < *d);
        heap.push(Reverse((deadline, id)));
        if earliest {
            self.changed.notify_all();
        }
    }

    fn run(&self) {
        let mut heap = self.heap.lock();
        loop {
            let Some(&Reverse((deadline, id))) = heap.peek() else {
                self.changed.wait(&mut heap);
                continue;
            };
            if Instant::now() < deadline {
                self.changed.wait_until(&mut heap, deadline);
                continue;
            }
            heap.pop();
            let target = self.targets.lock().remove(&id);
            if let Some(inner) = target.and_then(|t| t.upgrade()) {
                // Turn it on outside the heap's lock: `go` runs callbacks.
                drop(heap);
                Signal { inner }.go();
                heap = self.heap.lock();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combining_every_cycle_does_not_grow_the_source() {
        let stop = Signal::new();
        for _ in 0..10_000 {
            let own = Signal::new();
            let wake = stop.clone() | own.clone();
            own.go();
            assert!(wake.is_go());
        }
        assert!(stop.link_count() <= 16, "links kept: {}", stop.link_count());
        let live = stop.clone() | Signal::new();
        stop.go();
        assert!(live.is_go(), "a live combination still fires");
    }

    #[test]
    fn chains_fire_through_their_intermediate_signals() {
        let (a, b, c) = (Signal::new(), Signal::new(), Signal::new());
        let any = a.clone() | b.clone() | c.clone();
        let all = a.clone() & b.clone() & c.clone();
        a.go();
        assert!(any.is_go(), "a | b | c goes on with a");
        b.go();
        assert!(!all.is_go());
        c.go();
        assert!(all.is_go(), "a & b & c goes on with the last of them");
        let stop = Signal::new();
        for _ in 0..1000 {
            let wake = stop.clone() | Signal::new() | Signal::new();
            drop(wake);
        }
        assert!(stop.link_count() <= 16, "dropped chains are pruned");
        let timer = Signal::after(Duration::from_millis(1));
        let wake = stop.clone() | timer | Signal::new();
        assert!(
            wake.wait_timeout(Duration::from_secs(20)),
            "the timer reaches the chain's end"
        );
    }

    #[test]
    fn timers_fire_in_deadline_order_on_one_thread() {
        let late = Signal::after(Duration::from_millis(30));
        let early = Signal::after(Duration::from_millis(1));
        early.wait();
        assert!(late.wait_timeout(Duration::from_secs(20)));
    }
}
