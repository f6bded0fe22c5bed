//! [`Ctx`]: what `cycle` gets to wait, stop and report with.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::{LoopError, Signal};

/// The side of a loop that its own thread sees.
pub(crate) trait Control: Send + Sync {
    /// Counts one failure reported by thread `gen`; true when it exceeded the budget.
    fn failure(&self, error: Option<LoopError>, gen: u64) -> bool;
    /// Asks the loop to stop without waiting, if generation `gen` is still its current thread
    /// (the caller is that thread).
    fn request_stop(&self, gen: u64);
}

/// The context of one loop thread, passed to `cycle`.
///
/// Blocking inside `cycle` should go through it, so that `stop` is prompt: [`sleep`](Self::sleep),
/// [`recv`](Self::recv) and [`recv_timeout`](Self::recv_timeout) return at once when the loop
/// is asked to stop.
///
/// ```
/// use std::time::Duration;
/// use superloops::prelude::*;
/// use superloops::channel::{unbounded, Receiver};
///
/// struct Worker { jobs: Receiver<u64>, done: superloops::channel::Sender<u64> }
///
/// #[superloop(grace = "1s")]
/// impl Worker {
///     fn cycle(&mut self, ctx: &Ctx) {
///         // Wakes at once on stop: no need for a timeout to notice it.
///         if let Some(job) = ctx.recv(&self.jobs) {
///             let _ = self.done.send(job * 2);
///         }
///     }
/// }
///
/// let (jobs, rx) = unbounded();
/// let (done, results) = unbounded();
/// let worker = Worker { jobs: rx, done }.into_loop();
/// worker.start();
/// jobs.send(21).unwrap();
/// assert_eq!(results.recv().unwrap(), 42);
/// assert!(worker.stop()); // the thread was blocked in ctx.recv: it ends at once
/// ```
pub struct Ctx {
    stop: Signal,
    thread_name: Arc<str>,
    gen: u64,
    control: Arc<dyn Control>,
}

/// Why [`Ctx::recv_timeout`] returned without a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvError {
    /// The loop was asked to stop.
    Stopped,
    /// The timeout passed first.
    Timeout,
    /// Every sender of the channel is gone and it is empty.
    Disconnected,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvError::Stopped => "the loop was asked to stop",
            RecvError::Timeout => "timed out waiting on the channel",
            RecvError::Disconnected => "the channel is empty and disconnected",
        })
    }
}

impl std::error::Error for RecvError {}

impl Ctx {
    pub(crate) fn new(
        stop: Signal,
        thread_name: Arc<str>,
        gen: u64,
        control: Arc<dyn Control>,
    ) -> Self {
        Ctx {
            stop,
            thread_name,
            gen,
            control,
        }
    }

    /// Sleeps for `duration`, or less if the loop is asked to stop. Returns true when it slept
    /// the whole time, false when stop cut it short (or had already come).
    pub fn sleep(&self, duration: Duration) -> bool {
        !self.stop.wait_timeout(duration)
    }

    /// Waits for a message on `rx`. Returns `None` at once when the loop is asked to stop, and
    /// when the channel is empty and disconnected (check [`should_stop`](Self::should_stop) to
    /// tell them apart; a loop whose channel is gone should usually `ctx.stop()`).
    pub fn recv<T>(&self, rx: &Receiver<T>) -> Option<T> {
        if self.should_stop() {
            return None;
        }
        crossbeam_channel::select! {
            recv(rx) -> msg => msg.ok(),
            recv(self.stop.receiver()) -> _ => None,
        }
    }

    /// Waits for a message on `rx` for at most `timeout`, returning at once when the loop is
    /// asked to stop.
    pub fn recv_timeout<T>(&self, rx: &Receiver<T>, timeout: Duration) -> Result<T, RecvError> {
        if self.should_stop() {
            return Err(RecvError::Stopped);
        }
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return self.recv(rx).ok_or(if self.should_stop() {
                RecvError::Stopped
            } else {
                RecvError::Disconnected
            });
        };
        crossbeam_channel::select! {
            recv(rx) -> msg => msg.map_err(|_| RecvError::Disconnected),
            recv(self.stop.receiver()) -> _ => Err(RecvError::Stopped),
            default(deadline.saturating_duration_since(Instant::now())) => {
                match rx.try_recv() {
                    Ok(msg) => Ok(msg),
                    Err(_) => Err(RecvError::Timeout),
                }
            }
        }
    }

    /// Whether the loop has been asked to stop. One atomic load: cheap enough for every
    /// iteration of an inner loop.
    #[inline]
    pub fn should_stop(&self) -> bool {
        self.stop.is_go()
    }

    /// This thread's stop token, to combine with other signals (`ctx.stopping() | my_event`).
    pub fn stopping(&self) -> &Signal {
        &self.stop
    }

    /// Counts one failure against the loop's budget, like
    /// [`LoopHandle::failure`](crate::LoopHandle::failure); true when this one exceeded it.
    pub fn failure(&self) -> bool {
        self.control.failure(None, self.gen)
    }

    /// Asks the loop to stop after this cycle, without waiting (a thread cannot join itself).
    /// The thread then runs `on_thread_stop` and, since it ended on its own, `on_stop`.
    pub fn stop(&self) {
        self.control.request_stop(self.gen);
    }

    /// This thread's name, `{name}_{n}`.
    pub fn thread_name(&self) -> &str {
        &self.thread_name
    }
}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("thread_name", &self.thread_name)
            .field("stopping", &self.stop.is_go())
            .finish()
    }
}
