//! [`Signal`]: a one-shot, thread-safe flag that only goes from off to on.

use std::fmt;
use std::ops::{BitAnd, BitOr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::sync::Lock;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::spawn;
use crate::timer::{self, Alarm, Batch};
use crate::trace::{error, panic_message};

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
///
/// A combination never goes on before what it was made from: once `a | b` reads on, `a` or `b`
/// reads on too, and once `a & b` reads on, both do. Chains of any length (`acc = acc | s` in a
/// loop) go on and are dropped without recursion, so their length is bounded by memory only,
/// not by the stack.
#[derive(Clone)]
pub struct Signal {
    inner: Arc<Inner>,
}

// `repr(C)` with `on` first: the per-cycle load of the flag is then a short instruction at
// offset 0 of the allocation, which keeps a loop's whole cycle loop within one 64-byte code
// line (measured: a loop straddling two lines ran at half the rate of the baseline).
#[repr(C)]
struct Inner {
    /// Set once, by `go`, under `pending`'s lock; read on the per-cycle path (one atomic load).
    on: AtomicBool,
    /// Never receives a message: it disconnects when `go` drops the sender, which wakes every
    /// waiter at once and lets `Ctx::recv` select on stop and a user channel together.
    rx: Receiver<()>,
    /// `Some` while off: the sender whose drop is the wake-up, the `then` callbacks, and the
    /// links to signals combined from this one.
    pending: Lock<Option<Pending>>,
    /// For a combined signal, the signals it was made from: held strongly, so that the chain
    /// in `a | b | c` lives as long as its result (the sources link to it only weakly).
    sources: Vec<Signal>,
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

    /// The target to turn on now that this link's source is on, if it goes on with it.
    fn fires(self) -> Option<Arc<Inner>> {
        match self {
            Link::Or(t) => t.upgrade(),
            Link::And(t, remaining) => {
                if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    t.upgrade()
                } else {
                    None
                }
            }
        }
    }
}

/// The `then` callbacks that turning signals on released, to run with no lock held.
#[must_use = "the callbacks must run"]
pub(crate) struct Fired {
    callbacks: Vec<Callback>,
}

impl Fired {
    /// Runs every callback on this thread; a panic in one is caught and logged.
    pub(crate) fn run(self) {
        for callback in self.callbacks {
            run_callback(callback);
        }
    }

    /// The callbacks as one batch, or `None` if there are none.
    pub(crate) fn into_batch(self) -> Option<Batch> {
        if self.callbacks.is_empty() {
            None
        } else {
            Some(Box::new(move || self.run()))
        }
    }
}

impl Inner {
    /// Turns this one signal on: sets the flag and takes what it held. `None` if it was on.
    ///
    /// The flag is set under the lock that `then` and the links take, so a caller that finds
    /// the signal on (`pending` gone) also reads the flag on: nothing combined from it can go
    /// on while it still reads off.
    fn switch_on(&self, callbacks: &mut Vec<Callback>) -> Option<Vec<Link>> {
        let mut pending = self.pending.lock();
        let taken = pending.take()?;
        self.on.store(true, Ordering::Release);
        drop(pending);
        #[cfg(test)]
        tests::after_switch_unlock();
        // Wakes every waiter: the channel disconnects.
        drop(taken._tx);
        callbacks.extend(taken.callbacks);
        Some(taken.links)
    }

    /// Turns this signal and every combination it completes on, breadth by breadth with a
    /// work list (no recursion, whatever the chain's length). Runs no callback.
    fn turn_on(&self) -> Option<Fired> {
        let mut callbacks = Vec::new();
        let mut work = self.switch_on(&mut callbacks)?;
        while let Some(link) = work.pop() {
            if let Some(target) = link.fires() {
                if let Some(links) = target.switch_on(&mut callbacks) {
                    work.extend(links);
                }
            }
        }
        Some(Fired { callbacks })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A chain `a | b | c | …` owns its sources, each owning its own: dropped the usual way
        // that takes a stack frame per link. Take them apart with a stack of our own instead.
        let mut stack = std::mem::take(&mut self.sources);
        while let Some(source) = stack.pop() {
            if let Some(mut inner) = Arc::into_inner(source.inner) {
                stack.append(&mut inner.sources);
            }
        }
    }
}

impl Alarm for Inner {
    fn ring(&self) -> Option<Batch> {
        self.turn_on().and_then(Fired::into_batch)
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
                pending: Lock::new(Some(Pending {
                    _tx: tx,
                    callbacks: Vec::new(),
                    links: Vec::new(),
                })),
                sources,
            }),
        }
    }

    /// A signal that goes on by itself after `delay`. Every timer of the process is served by
    /// one thread (`superloops-timer`), which sleeps until the earliest deadline and forgets a
    /// timer whose signal nobody holds any more. A delay past the end of time never fires.
    ///
    /// The timer thread runs no user code: the [`then`](Self::then) callbacks of a signal it
    /// turns on (and of the combinations that go on with it) run on a short-lived thread of
    /// their own, `superloops-then`, so one that blocks holds up no other timer.
    ///
    /// If the operating system refuses to start the timer thread (threads exhausted for a
    /// moment), the error is logged at `error` and the timer is kept: the thread is spawned
    /// again by the next `Signal::after`, or by any thread blocked in a wait on a signal,
    /// which tries again every 50 ms. The timer then fires late, never early, and is never
    /// lost.
    pub fn after(delay: Duration) -> Self {
        let signal = Signal::new();
        if let Some(deadline) = Instant::now().checked_add(delay) {
            let target: Weak<dyn Alarm> = Arc::downgrade(&signal.inner) as _;
            timer::add(deadline, target);
        }
        signal
    }

    /// Turns the signal on: wakes every waiter, turns on every combination this completes,
    /// and then runs every `then` callback, once, on this thread. Later calls do nothing.
    /// Returns true if this call turned it on.
    pub fn go(&self) -> bool {
        match self.inner.turn_on() {
            None => false,
            Some(fired) => {
                fired.run();
                true
            }
        }
    }

    /// [`go`](Self::go), handing the `then` callbacks to the caller to run where it chooses
    /// (the watchdog runs them off its own thread). `None` if it was on already.
    pub(crate) fn go_deferred(&self) -> Option<Fired> {
        self.inner.turn_on()
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
        while !self.is_go() {
            if spawn::helpers_down() && !spawn::revive_helpers() {
                // A helper thread the OS refused (the timer, the watchdog): try again now
                // and then.
                let _ = self.inner.rx.recv_timeout(timer::RETRY);
            } else {
                let _ = self.inner.rx.recv();
            }
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
        loop {
            if self.is_go() {
                return true;
            }
            // While timers wait for a thread the OS refused, wake now and then to try again.
            let slice = if spawn::helpers_down() && !spawn::revive_helpers() {
                Instant::now()
                    .checked_add(timer::RETRY)
                    .map_or(deadline, |d| d.min(deadline))
            } else {
                deadline
            };
            match self.inner.rx.recv_deadline(slice) {
                Err(RecvTimeoutError::Timeout) if slice < deadline => continue,
                Err(RecvTimeoutError::Timeout) => return self.is_go(),
                _ => return true,
            }
        }
    }

    /// Runs `f` once when the signal goes on, on the thread that turns it on (for a
    /// [`Signal::after`] timer, and for a combination a timer completes, on a thread of its
    /// own); at once, on this thread, if it is on already. A panic in `f` is caught and logged.
    ///
    /// The callback belongs to the signal: if every handle of a signal that is not on yet is
    /// dropped, its callbacks are dropped unrun (a [`Signal::after`] timer nobody holds is
    /// forgotten). Keep the signal while its callback matters.
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
                if let Some(target) = link.fires() {
                    Signal { inner: target }.go();
                }
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
/// out of `go` (into a loop's `stop`, say) nor keep later callbacks from running.
fn run_callback(callback: Callback) {
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(callback)) {
        error!("panic in a Signal::then callback: {}", panic_message(&*p));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        /// Runs once on this thread, inside `go`, right after the signal's lock is released.
        static AFTER_UNLOCK: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    pub(super) fn after_switch_unlock() {
        if let Some(f) = AFTER_UNLOCK.with(|p| p.borrow_mut().take()) {
            f();
        }
    }

    /// The race of issue 11 (1): `go` gave its links out and only then set its own flag, so a
    /// combination made in that gap went on while its source still read off. Here the gap is
    /// held open on purpose: `go` pauses right after releasing the signal's lock, and another
    /// thread combines from it meanwhile.
    #[test]
    fn a_combination_made_while_go_runs_never_reads_on_before_its_source() {
        let stop = Signal::new();
        let seen = Arc::new(Lock::new(None));
        {
            let (stop, seen) = (stop.clone(), seen.clone());
            AFTER_UNLOCK.with(|p| {
                *p.borrow_mut() = Some(Box::new(move || {
                    std::thread::spawn(move || {
                        let either = stop.clone() | Signal::new();
                        let both = stop.clone() & Signal::new();
                        // Read the combination first: whatever it says, its source must agree.
                        let either_on = either.is_go();
                        *seen.lock() = Some((either_on, stop.is_go(), both.is_go()));
                    })
                    .join()
                    .unwrap();
                }));
            });
        }
        assert!(stop.go());
        let (either_on, stop_on, both_on) = seen.lock().take().expect("the pause ran");
        assert!(
            either_on,
            "the signal was on (its lock released) when combined"
        );
        assert!(stop_on, "`stop | x` read on while `stop` read off");
        assert!(!both_on, "`stop & x` with x off stays off");
    }

    /// The same promise without a pause: many combinations race one `go`.
    #[test]
    fn combinations_racing_go_never_read_on_before_their_source() {
        for _ in 0..200 {
            let stop = Signal::new();
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let goer = {
                let (stop, barrier) = (stop.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    stop.go();
                })
            };
            barrier.wait();
            loop {
                let wake = stop.clone() | Signal::new();
                if wake.is_go() {
                    assert!(stop.is_go(), "a combination read on before its source");
                    break;
                }
            }
            goer.join().unwrap();
        }
    }

    /// Issue 11 (7): `acc = acc | s` 10,000 times overflowed the stack on `go` and on drop.
    /// Here 100,000 links, on a thread with a small stack.
    #[test]
    fn chains_of_any_length_go_on_and_drop_without_recursion() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let first = Signal::new();
                let mut any = first.clone();
                let mut all = first.clone();
                let mut others = Vec::new();
                for _ in 0..100_000 {
                    let s = Signal::new();
                    any = any | s.clone();
                    all = all & s.clone();
                    others.push(s);
                }
                let (fired_tx, fired_rx) = crossbeam_channel::unbounded();
                any.then(move || fired_tx.send(()).unwrap());
                first.go();
                assert!(any.is_go(), "the chain's end goes on with its first link");
                assert!(fired_rx.try_recv().is_ok(), "and runs its callback");
                assert!(!all.is_go());
                for s in &others {
                    s.go();
                }
                assert!(all.is_go(), "`&` goes on with the last of 100,001");
                // A chain nobody turned on drops without recursion too.
                let mut unused = Signal::new();
                for _ in 0..100_000 {
                    unused = unused | Signal::new();
                }
                drop(unused);
                drop((any, all, others));
            })
            .unwrap()
            .join()
            .expect("no stack overflow");
    }

    /// Issue 11 (6): the timer thread ran `then` callbacks, so a callback that waited on another
    /// timer waited forever. The callback now runs on a thread of its own.
    #[test]
    fn a_timer_callback_that_waits_for_another_timer_does_not_block_it() {
        let (tx, rx) = crossbeam_channel::unbounded();
        // Held: a timer whose signal nobody holds is forgotten, with its callbacks.
        let first = Signal::after(Duration::from_millis(1));
        first.then(move || {
            let later = Signal::new() | Signal::after(Duration::from_millis(5));
            let fired = later.wait_timeout(Duration::from_secs(20));
            let thread = std::thread::current().name().map(str::to_owned);
            tx.send((fired, thread)).unwrap();
        });
        let (fired, thread) = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("callback ran");
        assert!(
            fired,
            "the second timer fired while the first one's callback waited"
        );
        assert_eq!(thread.as_deref(), Some("superloops-then"));
        assert!(first.is_go());
    }

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
