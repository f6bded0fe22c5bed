//! [`Signal`]: a one-shot, thread-safe flag that only goes from off to on.

use std::fmt;
use std::ops::{BitAnd, BitOr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

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
#[derive(Clone)]
pub struct Signal {
    inner: Arc<Inner>,
}

struct Inner {
    /// Set once, by `go`; read on the per-cycle path (one atomic load).
    on: AtomicBool,
    /// Never receives a message: it disconnects when `go` drops the sender, which wakes every
    /// waiter at once and lets `Ctx::recv` select on stop and a user channel together.
    rx: Receiver<()>,
    /// `Some` while off: the sender whose drop is the wake-up, and the `then` callbacks.
    pending: Mutex<Option<Pending>>,
}

struct Pending {
    _tx: Sender<()>,
    callbacks: Vec<Callback>,
}

impl Signal {
    /// A new signal, off.
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        Signal {
            inner: Arc::new(Inner {
                on: AtomicBool::new(false),
                rx,
                pending: Mutex::new(Some(Pending {
                    _tx: tx,
                    callbacks: Vec::new(),
                })),
            }),
        }
    }

    /// A signal that goes on by itself after `delay` (a timer on a thread of its own, which
    /// ends as soon as the signal is on, whoever turned it on).
    pub fn after(delay: Duration) -> Self {
        let signal = Signal::new();
        let timer = signal.clone();
        let spawned = std::thread::Builder::new()
            .name("superloops-timer".into())
            .spawn(move || {
                timer.wait_timeout(delay);
                timer.go();
            });
        if spawned.is_err() {
            tracing::error!("could not spawn the timer thread of Signal::after; going at once");
            signal.go();
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
                for callback in pending.callbacks {
                    callback();
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

    /// Blocks until the signal is on.
    pub fn wait(&self) {
        if !self.is_go() {
            let _ = self.inner.rx.recv();
        }
    }

    /// Blocks until the signal is on or `timeout` has passed; true if it is on.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        if self.is_go() {
            return true;
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
    /// thread, if it is on already.
    pub fn then(&self, f: impl FnOnce() + Send + 'static) {
        let mut pending = self.inner.pending.lock();
        match pending.as_mut() {
            Some(p) => p.callbacks.push(Box::new(f)),
            None => {
                drop(pending);
                f();
            }
        }
    }

    /// The receiver that disconnects when the signal goes on, for `select!`.
    pub(crate) fn receiver(&self) -> &Receiver<()> {
        &self.inner.rx
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
        let either = Signal::new();
        for source in [self, other] {
            let target = either.clone();
            source.then(move || {
                target.go();
            });
        }
        either
    }
}

/// `a & b` goes on once both have gone on.
impl BitAnd for Signal {
    type Output = Signal;
    fn bitand(self, other: Signal) -> Signal {
        let both = Signal::new();
        let remaining = Arc::new(AtomicUsize::new(2));
        for source in [self, other] {
            let target = both.clone();
            let remaining = remaining.clone();
            source.then(move || {
                if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    target.go();
                }
            });
        }
        both
    }
}
