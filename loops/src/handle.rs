//! [`LoopHandle`]: start, stop, hard-reset and watch one loop.
//!
//! The handle is the public face of a loop; what it controls is a [`Runner`] (the thread
//! mechanics, in `runner.rs`), which acts on the loop's [`Lifecycle`](crate::lifecycle)
//! (the state machine, in `lifecycle.rs`). The handle is typed; the runner is not: it moves
//! a `Box<dyn Value>`, so it is compiled once for every loop type.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::runner::{Boxed, Factory, Runner};
use crate::{LoopConfig, LoopStatus, SuperLoop};

/// A handle to one loop: start it, stop it, hard-reset it, report failures, read its status.
///
/// Cheap to clone (`Clone + Send + Sync`); every clone controls the same loop. When the last
/// clone is dropped the loop is stopped (waiting up to its grace), so a loop never outlives
/// every handle to it unnoticed.
///
/// # Semantics
///
/// - **The value moves.** It moves into the loop's thread on start and comes back when the
///   thread ends. Hooks and `cycle` get `&mut self`; no lock is taken per cycle.
/// - **Hooks pair.** Every `on_start` that allowed a start is matched by exactly one
///   `on_stop`, and every `on_thread_start` that returned by exactly one `on_thread_stop`,
///   also after panics and abandonment. `on_stop` always runs after the thread has ended:
///   on the thread whose [`stop`](Self::stop) saw it end, or, when the thread ended on its own
///   (`ctx.stop()`, `stop_on_failure`, a panic, abandonment), at the end of that thread, after
///   `on_thread_stop`.
/// - **Panics are failures.** A panic in any hook or in `cycle` is caught, logged with its
///   message and counted as one failure. In `on_start` it means not started; in
///   `on_thread_start`, no cycle runs; in `cycle`, the thread's run ends (after
///   `on_thread_stop`) and the loop is left [`Failed`](crate::LoopState::Failed) until someone starts
///   it (a supervising group does so at once).
/// - **Grace, then abandonment.** Rust cannot kill a thread. [`stop`](Self::stop) waits up to
///   the grace; a thread still running then is *abandoned*: it never begins another cycle, and
///   runs `on_thread_stop` and `on_stop` when its cycle returns. No call ever waits for an
///   abandoned thread: a [`start`](Self::start) that needs its value back is queued and
///   happens the moment the value returns, or at once from a fresh value if the handle was
///   made with [`from_fn`](Self::from_fn).
/// - **One live thread.** A loop never has two non-abandoned threads, whatever calls race.
/// - **From inside.** `stop` (or `ctx.stop()`) from the loop's own thread asks to stop and
///   returns false at once: a thread cannot join itself. `start` from inside a thread that is
///   stopping queues a restart for when it has ended. An abandoned thread is marked killed:
///   `start`, `stop` and `hard_reset` called from it do nothing and return false, so it can
///   neither bring back a loop whose stop abandoned it nor stop or restart its replacement.
///
/// ```
/// use superloops::prelude::*;
///
/// struct Beat;
/// #[superloop(grace = "1s")]
/// impl Beat {
///     fn cycle(&mut self, ctx: &Ctx) {
///         ctx.sleep(std::time::Duration::from_millis(10));
///     }
/// }
///
/// let beat = Beat.into_loop();
/// assert!(beat.start());
/// assert!(!beat.start()); // already running
/// assert!(beat.is_alive() && beat.is_running());
/// assert!(beat.stop());   // ended within the grace
/// assert!(!beat.is_alive());
/// ```
pub struct LoopHandle<T: SuperLoop> {
    owner: Arc<LoopOwner>,
    /// The handle is typed; what it controls is not (see [`Runner`]).
    _value: PhantomData<fn() -> T>,
}

/// Shared by every clone of one handle (and by the group it is a member of); its drop (the
/// last one's) stops the loop.
pub(crate) struct LoopOwner {
    pub(crate) runner: Arc<Runner>,
}

impl<T: SuperLoop> LoopHandle<T> {
    /// Wraps `value`; same as `value.into_loop()`. Nothing runs until [`start`](Self::start).
    pub fn new(value: T) -> Self {
        Self::build(Some(Box::new(value)), None)
    }

    /// A loop whose value is made by `factory`: on the first start, and whenever a start finds
    /// the value held by an abandoned thread, so that [`hard_reset`](Self::hard_reset) replaces
    /// a stuck thread at once. A panic in `factory` is caught and logged; that start fails.
    ///
    /// ```
    /// use superloops::prelude::*;
    /// # struct Poller { url: String }
    /// # #[superloop] impl Poller { fn cycle(&mut self, ctx: &Ctx) { ctx.sleep(std::time::Duration::from_millis(5)); } }
    /// let poller = LoopHandle::from_fn(|| Poller { url: "http://localhost".into() });
    /// assert!(poller.start());
    /// assert!(poller.stop());
    /// ```
    pub fn from_fn(factory: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self::build(None, Some(Box::new(move || Box::new(factory()))))
    }

    fn build(value: Option<Boxed>, factory: Option<Factory>) -> Self {
        LoopHandle {
            owner: LoopOwner::new(T::CONFIG, value, factory),
            _value: PhantomData,
        }
    }

    fn inner(&self) -> &Arc<Runner> {
        &self.owner.runner
    }

    /// What a group holds of it: the shared owner, so that the group keeps it alive like a
    /// clone of the handle does.
    pub(crate) fn owner(&self) -> &Arc<LoopOwner> {
        &self.owner
    }

    /// Starts the loop: runs `on_start` on this thread, then spawns thread `{name}_{n}`.
    ///
    /// Returns true when a new thread was started; false when it was already running, when
    /// another thread is starting it (this call is that start: it returns at once, without
    /// waiting for that `on_start`, and a stop asked before it no longer undoes it), when
    /// `on_start` declined (returned `false` or `Err`, or panicked), or when the start was
    /// queued because the value is held by an abandoned thread or by its own thread that is
    /// stopping: then [`is_running`](Self::is_running) is true and the start happens as soon
    /// as the value comes back.
    ///
    /// A member of a group whose `on_start` declined stays wanted running: its supervisor
    /// starts it again with the group's backoff, each retry counted against `max_restarts`
    /// (OTP's `try_again_restart`), and the group is not green until it runs.
    pub fn start(&self) -> bool {
        self.inner().start()
    }

    /// Stops the loop: asks its thread to stop, waits up to the grace for it to end, then
    /// runs `on_stop` on this thread. A thread still running after the grace is abandoned.
    ///
    /// Returns true when no thread of this loop is left running (also when it was not
    /// running); false when a thread was abandoned, or when called from the loop's own thread
    /// (which cannot join itself: the stop is requested and happens when the cycle returns).
    pub fn stop(&self) -> bool {
        self.inner().stop()
    }

    /// Stops the loop (waiting at most the grace, abandoning a thread that would not end) and
    /// starts it again at once: from a fresh value if made with [`from_fn`](Self::from_fn) and
    /// the old thread was abandoned, otherwise from the value its thread handed back (queued
    /// until then). Starts a loop that was stopped or never started, too.
    ///
    /// Returns true when a new thread was started. From inside the loop's own thread it asks
    /// the thread to stop, queues the start for when it has ended, and returns false.
    pub fn hard_reset(&self) -> bool {
        self.inner().hard_reset()
    }

    /// Counts one failure against the budget; returns true when this one exceeded it (the
    /// call after `max_failures` failures, within the `within` window if set). The count then
    /// starts again at zero, and with `stop_on_failure` the loop is asked to stop (its thread
    /// ends on its own, without this call waiting).
    pub fn failure(&self) -> bool {
        self.inner().record_failure(None, None)
    }

    /// Whether its current (non-abandoned) thread exists and has not ended.
    pub fn is_alive(&self) -> bool {
        self.inner().is_alive()
    }

    /// Whether it is wanted running: started (or a start is queued), and not asked to stop
    /// since. After a panic ended its thread it is still wanted running, but not alive.
    pub fn is_running(&self) -> bool {
        self.inner().is_running()
    }

    /// Failures counted against the budget now.
    pub fn failures(&self) -> u32 {
        self.inner().failures()
    }

    /// The name of its most recent thread (`{name}_{n}`), or `None` if it never started one.
    pub fn thread_name(&self) -> Option<String> {
        self.inner().thread_name()
    }

    /// A snapshot of the loop: state, liveness, failures, restarts, cycles, last error.
    pub fn status(&self) -> LoopStatus {
        self.inner().status()
    }

    /// The loop type's configuration.
    pub fn config(&self) -> &LoopConfig {
        self.inner().config()
    }
}

/// Same as [`LoopHandle::new`]: `let feed: LoopHandle<Feed> = Feed.into();`.
impl<T: SuperLoop> From<T> for LoopHandle<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: SuperLoop> Clone for LoopHandle<T> {
    fn clone(&self) -> Self {
        LoopHandle {
            owner: self.owner.clone(),
            _value: PhantomData,
        }
    }
}

impl<T: SuperLoop> fmt::Debug for LoopHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LoopHandle").field(&self.status()).finish()
    }
}

impl Drop for LoopOwner {
    fn drop(&mut self) {
        if self.runner.needs_stop() {
            crate::trace::debug!(
                name = self.runner.config().name,
                "Last handle dropped; stopping"
            );
            self.runner.stop();
        }
    }
}

impl LoopOwner {
    /// A new loop, not started, with `value` at rest or a `factory` to make one.
    fn new(config: LoopConfig, value: Option<Boxed>, factory: Option<Factory>) -> Arc<LoopOwner> {
        Arc::new(LoopOwner {
            runner: Arc::new(Runner::new(config, value, factory)),
        })
    }
}

/// `value.into_loop()`: wraps a [`SuperLoop`] in a [`LoopHandle`]. Implemented for every
/// `SuperLoop`, and in the [`prelude`](crate::prelude).
///
/// It is a trait of its own, not a method of `SuperLoop`, so that a type that is not `Send`
/// gets one error, at its `#[superloop]` impl, rather than another at every `into_loop()`.
pub trait IntoLoop: SuperLoop {
    /// Wraps the value in a [`LoopHandle`], ready to [`start`](LoopHandle::start); the same as
    /// [`LoopHandle::new`].
    fn into_loop(self) -> LoopHandle<Self>;
}

impl<T: SuperLoop> IntoLoop for T {
    #[inline]
    fn into_loop(self) -> LoopHandle<Self> {
        LoopHandle::new(self)
    }
}
