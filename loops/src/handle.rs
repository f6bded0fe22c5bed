//! [`LoopHandle`]: start, stop, hard-reset and watch one loop.
//!
//! # How the value travels
//!
//! A loop's value is in exactly one place at a time:
//! - *at rest* in the handle's state (`State::value`): stopped, nothing holds it;
//! - with the caller that runs `on_start` or `on_stop` on its own thread (`State::busy`);
//! - inside the loop's current thread (`State::run`), which hands it back when it ends;
//! - inside an *abandoned* thread, one that outlived its grace, which hands it back (or drops
//!   it, when a factory made a fresh value meanwhile) when its cycle finally returns.
//!
//! The state machine does not know the value's type: it moves a `Box<dyn Value>`, so it is
//! compiled once for every loop type; `Value::run_cycles`, the cycle loop, is generic.
//!
//! `start`, `stop` and `hard_reset` from outside the loop are serialised by `State::busy`, a
//! flag that is waited on with the condvar, never a lock held across user code. Calls from
//! inside the loop's own thread never wait: they ask and return.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::controller::{GroupEvent, Link};
use crate::ctx::{Control, Ctx};
use crate::watchdog::{self, Watched};
use crate::{LoopConfig, LoopError, LoopState, LoopStatus, Signal, SuperLoop};

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
///   `on_thread_stop`) and the loop is left [`Failed`](LoopState::Failed) until someone starts
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
    /// The handle is typed; what it controls is not (see [`Value`]).
    _value: PhantomData<fn() -> T>,
}

/// A loop's value with its type erased. The state machine below ([`Inner`]) is compiled once
/// for every loop type rather than once per type; only the hooks and the cycle loop
/// ([`Value::run_cycles`]) are generic, so the hot path is exactly as before: a direct,
/// inlinable call of `cycle` per turn.
pub(crate) trait Value: Send + 'static {
    fn on_start(&mut self) -> Result<bool, LoopError>;
    fn on_stop(&mut self);
    fn on_thread_start(&mut self);
    fn on_thread_stop(&mut self);
    /// Runs cycles until `stopping` is set, counting each in `cycles` (no lock, no clock), and
    /// reporting each `Err` to `failed`.
    fn run_cycles(
        &mut self,
        ctx: &Ctx,
        stopping: &AtomicBool,
        cycles: &AtomicU64,
        failed: &mut dyn FnMut(LoopError),
    );
}

impl<T: SuperLoop> Value for T {
    fn on_start(&mut self) -> Result<bool, LoopError> {
        SuperLoop::on_start(self)
    }
    fn on_stop(&mut self) {
        SuperLoop::on_stop(self);
    }
    fn on_thread_start(&mut self) {
        SuperLoop::on_thread_start(self);
    }
    fn on_thread_stop(&mut self) {
        SuperLoop::on_thread_stop(self);
    }
    fn run_cycles(
        &mut self,
        ctx: &Ctx,
        stopping: &AtomicBool,
        cycles: &AtomicU64,
        failed: &mut dyn FnMut(LoopError),
    ) {
        let mut n = 0u64;
        while !stopping.load(Ordering::Acquire) {
            n += 1;
            cycles.store(n, Ordering::Relaxed);
            if let Err(e) = self.cycle(ctx) {
                failed(e);
            }
        }
    }
}

/// A loop's value, boxed: what the state machine moves between its places.
type Boxed = Box<dyn Value>;

/// Shared by every clone of one handle (and by the group it is a member of); its drop (the
/// last one's) stops the loop.
pub(crate) struct LoopOwner {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: LoopConfig,
    /// Makes a fresh value when the old one is held by an abandoned thread (or never made).
    factory: Option<Box<dyn Fn() -> Boxed + Send + Sync>>,
    state: Mutex<State>,
    /// Notified whenever `state` changes in a way a waiter may be waiting for: a run ended,
    /// `busy` cleared, a value came back.
    changed: Condvar,
}

struct State {
    /// The value, when at rest.
    value: Option<Boxed>,
    /// The current (non-abandoned) thread, from spawn until it has ended and been cleared.
    run: Option<Run>,
    /// Threads abandoned after their grace that have not ended yet.
    abandoned: Vec<Abandoned>,
    /// Generation of the abandoned thread holding the loop's only value, if one does.
    awaiting: Option<u64>,
    /// Wanted running: started, and not asked to stop since (`is_running`).
    wanted: bool,
    /// Its group should keep it running: set by every start, cleared only by a `stop` from
    /// outside the loop. A thread that ends while this is set (a panic, `ctx.stop()`,
    /// `stop_on_failure`) is restarted by the supervisor.
    supervised: bool,
    /// The supervisor this loop reports to, once added to a controller.
    link: Option<Link>,
    /// A start waits for the value (or for the current thread to end) and runs then.
    queued_start: bool,
    /// The thread inside `start`/`stop`/`hard_reset` running hooks on its own stack.
    busy: Option<ThreadId>,
    /// `busy` is running `on_start` (for `status`).
    starting: bool,
    /// Threads started so far; the next thread is `{name}_{generations}`.
    generations: u64,
    last_thread_name: Option<Arc<str>>,
    /// Cycle counter of the current or most recent thread.
    cycles: Arc<AtomicU64>,
    /// Cycles begun by the threads before that one.
    cycles_before: u64,
    /// Every failure counted since the handle was made.
    total_failures: u64,
    /// The cycle count last observed (by `status` or the watchdog) and when it was first seen:
    /// how long the current cycle has run, at least, without a clock read per cycle.
    observed: (u64, Instant),
    /// The watchdog found thread `.0`'s cycle number `.1` running past `cycle_timeout`.
    stalled: Option<(u64, u64)>,
    failures: Failures,
    last_error: Option<String>,
}

struct Run {
    gen: u64,
    name: Arc<str>,
    stop: Signal,
    thread_id: ThreadId,
    thread: Option<JoinHandle<()>>,
    /// A `stop` caller is waiting to take the value back and run `on_stop` itself.
    joiner: bool,
    /// The value, handed back to the waiting `stop` caller.
    handback: Option<Boxed>,
    /// The thread has done all its work (its value is handed back or at rest).
    ended: bool,
}

struct Abandoned {
    gen: u64,
    thread_id: ThreadId,
    /// Dropped (detached) when the thread ends: nobody waits for an abandoned thread.
    _thread: Option<JoinHandle<()>>,
}

/// What phase one of a stop left for phase two.
pub(crate) enum StopBegun {
    /// There was no current thread; `clean`: no abandoned thread is running either.
    Idle { clean: bool },
    /// Its thread was signalled; `busy` is held for phase two.
    Waiting { name: Arc<str> },
    /// A nested group's members, by index, in the order they were signalled.
    Nested(Vec<(usize, StopBegun)>),
}

/// The failure budget: a count, or a sliding window of failure times under `within`.
struct Failures {
    count: u32,
    times: VecDeque<Instant>,
}

impl Failures {
    fn new() -> Self {
        Failures {
            count: 0,
            times: VecDeque::new(),
        }
    }

    /// Counts one failure at `now`; returns the number counted and whether it exceeded the
    /// budget (after which the count starts again at zero).
    fn record(&mut self, config: &LoopConfig) -> (u32, bool) {
        let n = match config.within {
            None => {
                self.count = self.count.saturating_add(1);
                self.count
            }
            Some(window) => {
                let now = Instant::now();
                self.prune(now, window);
                self.times.push_back(now);
                self.times.len() as u32
            }
        };
        let exceeded = n > config.max_failures;
        if exceeded {
            self.clear();
        }
        (n, exceeded)
    }

    fn current(&mut self, config: &LoopConfig) -> u32 {
        match config.within {
            None => self.count,
            Some(window) => {
                self.prune(Instant::now(), window);
                self.times.len() as u32
            }
        }
    }

    fn prune(&mut self, now: Instant, window: std::time::Duration) {
        while let Some(&t) = self.times.front() {
            if now.duration_since(t) > window {
                self.times.pop_front();
            } else {
                break;
            }
        }
    }

    fn clear(&mut self) {
        self.count = 0;
        self.times.clear();
    }
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

    fn build(value: Option<Boxed>, factory: Option<Box<dyn Fn() -> Boxed + Send + Sync>>) -> Self {
        LoopHandle {
            owner: LoopOwner::new(T::CONFIG, value, factory),
            _value: PhantomData,
        }
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.owner.inner
    }

    /// What a group holds of it: the shared owner, so that the group keeps it alive like a
    /// clone of the handle does.
    pub(crate) fn owner(&self) -> &Arc<LoopOwner> {
        &self.owner
    }

    /// Starts the loop: runs `on_start` on this thread, then spawns thread `{name}_{n}`.
    ///
    /// Returns true when a new thread was started; false when it was already running, when
    /// `on_start` declined (returned `false` or `Err`, or panicked), or when the start was
    /// queued because the value is held by an abandoned thread or by its own thread that is
    /// stopping: then [`is_running`](Self::is_running) is true and the start happens as soon
    /// as the value comes back.
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
        self.inner().state.lock().wanted
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
        &self.inner().config
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
        let needs_stop = {
            let st = self.inner.state.lock();
            st.run.is_some() || st.wanted || st.queued_start
        };
        if needs_stop {
            tracing::debug!(
                name = self.inner.config.name,
                "Last handle dropped; stopping"
            );
            self.inner.stop();
        }
    }
}

/// What a caught panic carried, as text.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Runs a hook, catching a panic; the error carries the panic message.
fn catch<R>(hook: &'static str, f: impl FnOnce() -> R) -> Result<R, LoopError> {
    panic::catch_unwind(AssertUnwindSafe(f))
        .map_err(|p| LoopError::new(format_args!("panic in {hook}: {}", panic_message(&*p))))
}

impl State {
    fn is_own_thread(&self, me: ThreadId) -> bool {
        self.run.as_ref().is_some_and(|r| r.thread_id == me)
            || self.abandoned.iter().any(|a| a.thread_id == me)
    }

    /// Whether `me` is one of the loop's abandoned threads. Such a thread is marked killed:
    /// `start`, `stop` and `hard_reset` called from it do nothing, so that it can neither bring
    /// back a loop whose stop abandoned it nor stop or restart its replacement.
    fn ignores_calls_from(&self, me: ThreadId, config: &LoopConfig, call: &str) -> bool {
        let abandoned = self.abandoned.iter().any(|a| a.thread_id == me)
            && !self.run.as_ref().is_some_and(|r| r.thread_id == me);
        if abandoned {
            tracing::debug!(
                thread = %self.display_name(config),
                "{call} called from an abandoned thread: ignored"
            );
        }
        abandoned
    }

    /// Whether `call` comes from this loop's own `on_start`/`on_stop` (run by `me`), which it
    /// cannot wait for: then it is ignored, with a warning.
    fn ignores_call_from_own_hook(&self, me: ThreadId, config: &LoopConfig, call: &str) -> bool {
        let own_hook = self.busy == Some(me);
        if own_hook {
            tracing::warn!(
                thread = %self.display_name(config),
                "{call} called from this loop's own on_start/on_stop; ignored"
            );
        }
        own_hook
    }

    fn display_name(&self, config: &LoopConfig) -> Arc<str> {
        match &self.last_thread_name {
            Some(n) => n.clone(),
            None => Arc::from(config.name),
        }
    }
}

impl LoopOwner {
    /// A new loop, not started, with `value` at rest or a `factory` to make one.
    fn new(
        config: LoopConfig,
        value: Option<Boxed>,
        factory: Option<Box<dyn Fn() -> Boxed + Send + Sync>>,
    ) -> Arc<LoopOwner> {
        Arc::new(LoopOwner {
            inner: Arc::new(Inner {
                config,
                factory,
                state: Mutex::new(State {
                    value,
                    run: None,
                    abandoned: Vec::new(),
                    awaiting: None,
                    wanted: false,
                    supervised: false,
                    link: None,
                    queued_start: false,
                    busy: None,
                    starting: false,
                    generations: 0,
                    last_thread_name: None,
                    cycles: Arc::new(AtomicU64::new(0)),
                    cycles_before: 0,
                    total_failures: 0,
                    observed: (0, Instant::now()),
                    stalled: None,
                    failures: Failures::new(),
                    last_error: None,
                }),
                changed: Condvar::new(),
            }),
        })
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    pub(crate) fn config(&self) -> &LoopConfig {
        &self.config
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.lock().run.as_ref().is_some_and(|r| !r.ended)
    }

    fn failures(&self) -> u32 {
        self.lock().failures.current(&self.config)
    }

    pub(crate) fn thread_name(&self) -> Option<String> {
        self.lock().last_thread_name.as_deref().map(str::to_owned)
    }

    /// Waits until no other caller is inside start/stop/hard_reset.
    fn wait_not_busy(&self, st: &mut MutexGuard<'_, State>) {
        while st.busy.is_some() {
            self.changed.wait(st);
        }
    }

    /// Clears `busy`, wakes waiters, and runs a start that was queued meanwhile.
    fn release<'a>(self: &'a Arc<Self>, mut st: MutexGuard<'a, State>) {
        st.busy = None;
        self.changed.notify_all();
        self.settle(st);
    }

    /// Runs a queued start if it can run now.
    fn settle<'a>(self: &'a Arc<Self>, st: MutexGuard<'a, State>) {
        if st.queued_start
            && st.busy.is_none()
            && st.run.is_none()
            && (st.value.is_some() || self.factory.is_some())
        {
            self.start_locked(st, thread::current().id());
        }
    }

    pub(crate) fn start(self: &Arc<Self>) -> bool {
        let me = thread::current().id();
        let mut st = self.lock();
        if st.ignores_calls_from(me, &self.config, "start") {
            return false;
        }
        if st.is_own_thread(me) {
            return self.queue_restart_from_inside(st);
        }
        if st.ignores_call_from_own_hook(me, &self.config, "start") {
            return false;
        }
        self.wait_not_busy(&mut st);
        self.start_locked(st, me)
    }

    /// `start` from one of the loop's own threads: it cannot start a second live thread, but
    /// if its thread is stopping, the start is queued for when it has ended.
    fn queue_restart_from_inside(&self, mut st: MutexGuard<'_, State>) -> bool {
        if Self::outside_stop_joining(&st) {
            return false;
        }
        let stopping = st.run.as_ref().is_none_or(|r| r.stop.is_go());
        if stopping {
            st.wanted = true;
            st.queued_start = true;
            tracing::debug!(
                thread = %st.display_name(&self.config),
                "Start queued until this thread has ended"
            );
        }
        false
    }

    /// An outside `stop` is waiting for the current thread: it wins over any restart that
    /// thread asks for (from `on_thread_stop`, say), or `stop` could return true with the loop
    /// running again.
    fn outside_stop_joining(st: &State) -> bool {
        let joining = st.run.as_ref().filter(|r| r.joiner);
        if let Some(run) = joining {
            tracing::debug!(
                thread = %run.name,
                "A restart asked from inside while an outside stop waits: stop wins"
            );
        }
        joining.is_some()
    }

    /// The body of `start`, with `busy` free and the lock held.
    fn start_locked<'a>(self: &'a Arc<Self>, mut st: MutexGuard<'a, State>, me: ThreadId) -> bool {
        st.queued_start = false;
        st.supervised = true;
        if let Some(run) = &st.run {
            let stopping = run.stop.is_go();
            let name = run.name.clone();
            st.wanted = true;
            if stopping {
                // Its thread is ending: start again once it has handed the value back.
                st.queued_start = true;
                tracing::debug!(thread = %name, "Start queued until the stopping thread has ended");
            }
            return false; // already running, or queued
        }
        let value = match st.value.take() {
            Some(v) => v,
            None => match &self.factory {
                Some(factory) => {
                    st.busy = Some(me);
                    drop(st);
                    let made = catch("the loop's factory", factory);
                    st = self.lock();
                    match made {
                        Ok(v) => {
                            // A value still held by an abandoned thread is dropped when it
                            // comes back: this one replaces it.
                            st.awaiting = None;
                            v
                        }
                        Err(e) => {
                            tracing::error!(
                                name = self.config.name,
                                "Could not make the loop's value: {e}"
                            );
                            st.last_error = Some(e.message().to_owned());
                            st.wanted = false;
                            self.release(st);
                            return false;
                        }
                    }
                }
                _ => {
                    st.wanted = true;
                    st.queued_start = true;
                    tracing::info!(
                        thread = %st.display_name(&self.config),
                        "Start queued until the abandoned thread hands the value back"
                    );
                    return false;
                }
            },
        };
        st.busy = Some(me);
        st.wanted = true;
        st.starting = true;
        drop(st);

        let mut value = value;
        // Outer `Err`: it panicked (a failure); inner `Err`: it declined with an error.
        let allowed = catch("on_start", || value.on_start());

        let mut st = self.lock();
        st.starting = false;
        let started = match allowed {
            Ok(Ok(true)) if st.wanted => match self.spawn_locked(&mut st, value) {
                Ok(()) => true,
                Err(v) => {
                    // on_start allowed this start: pair it.
                    st.wanted = false;
                    drop(st);
                    let v = self.run_on_stop(v, None, None);
                    st = self.lock();
                    st.value = Some(v);
                    false
                }
            },
            Ok(Ok(true)) => {
                // Asked to stop (from inside on_start) before the thread was spawned.
                drop(st);
                let v = self.run_on_stop(value, None, None);
                st = self.lock();
                st.value = Some(v);
                false
            }
            Ok(Ok(false)) => {
                tracing::info!(name = self.config.name, "on_start declined to start");
                st.wanted = false;
                st.value = Some(value);
                false
            }
            Ok(Err(e)) => {
                tracing::warn!(name = self.config.name, "Not started: on_start failed: {e}");
                st.wanted = false;
                st.value = Some(value);
                st.last_error = Some(e.message().to_owned());
                false
            }
            Err(panicked) => {
                st.wanted = false;
                st.value = Some(value);
                drop(st);
                tracing::error!(name = self.config.name, "Not started: {panicked}");
                self.record_failure(Some(panicked), None);
                st = self.lock();
                false
            }
        };
        self.release(st);
        started
    }

    /// Spawns thread `{name}_{n}` with `value`; gives the value back if spawning fails.
    fn spawn_locked(self: &Arc<Self>, st: &mut State, value: Boxed) -> Result<(), Boxed> {
        let gen = st.generations;
        let name: Arc<str> = Arc::from(format!("{}_{}", self.config.name, gen));
        let stop = Signal::new();
        let cycles = Arc::new(AtomicU64::new(0));
        // The value travels through a slot so that a failed spawn can give it back.
        let slot = Arc::new(Mutex::new(Some(value)));
        let spawned = {
            let inner = self.clone();
            let slot = slot.clone();
            let stop = stop.clone();
            let name = name.clone();
            let cycles = cycles.clone();
            let mut builder = thread::Builder::new().name(name.to_string());
            if let Some(bytes) = self.config.stack_size {
                builder = builder.stack_size(bytes);
            }
            builder.spawn(move || {
                let value = slot.lock().take().expect("the loop value is in its slot");
                inner.run_thread(value, gen, stop, name, cycles);
            })
        };
        match spawned {
            Ok(handle) => {
                st.generations += 1;
                st.last_thread_name = Some(name.clone());
                // The thread before this one begins no more cycles (it ended, or was
                // abandoned, and an abandoned thread never begins another).
                st.cycles_before += st.cycles.load(Ordering::Relaxed);
                st.cycles = cycles;
                st.observed = (0, Instant::now());
                st.stalled = None;
                st.run = Some(Run {
                    gen,
                    name,
                    stop,
                    thread_id: handle.thread().id(),
                    thread: Some(handle),
                    joiner: false,
                    handback: None,
                    ended: false,
                });
                Ok(())
            }
            Err(e) => {
                tracing::error!(thread = %name, "Could not spawn the loop's thread: {e}");
                st.last_error = Some(format!("could not spawn thread {name}: {e}"));
                Err(slot
                    .lock()
                    .take()
                    .expect("a failed spawn leaves the value in its slot"))
            }
        }
    }

    /// The loop thread's whole life.
    fn run_thread(
        self: Arc<Self>,
        mut value: Boxed,
        gen: u64,
        stop: Signal,
        name: Arc<str>,
        cycles: Arc<AtomicU64>,
    ) {
        let span = tracing::info_span!("superloop", thread = %name, generation = gen);
        let _entered = span.enter();
        tracing::info!(thread = %name, "Started");
        let ctx = Ctx::new(stop.clone(), name.clone(), gen, self.clone());
        let mut panicked = true;

        match catch("on_thread_start", || value.on_thread_start()) {
            Err(e) => {
                // on_thread_start did not return: no cycle runs, and no on_thread_stop pairs it.
                tracing::error!(thread = %name, "{e}; no cycle will run");
                self.record_failure(Some(e), Some(gen));
            }
            Ok(()) => {
                // The watchdog times the cycles alone: not on_thread_start before them, nor
                // on_thread_stop after them.
                let watched = self.config.cycle_timeout.map(|timeout| {
                    let me: std::sync::Weak<dyn Watched> = Arc::downgrade(&self) as _;
                    watchdog::watch(me, gen, cycles.clone(), stop.clone(), timeout)
                });
                let ran = catch("cycle", || {
                    value.run_cycles(&ctx, stop.flag(), &cycles, &mut |e| {
                        tracing::warn!(thread = %name, "cycle failed: {e}");
                        self.record_failure(Some(e), Some(gen));
                    });
                });
                if let Some(watched) = watched {
                    watchdog::unwatch(watched);
                }
                match ran {
                    Ok(()) => panicked = false,
                    Err(e) => {
                        tracing::error!(thread = %name, "{e}; this thread's run ends");
                        self.record_failure(Some(e), Some(gen));
                    }
                }
                if let Err(e) = catch("on_thread_stop", || value.on_thread_stop()) {
                    tracing::error!(thread = %name, "{e}");
                    self.record_failure(Some(e), Some(gen));
                }
            }
        }
        self.finish_thread(value, gen, &name, panicked);
    }

    /// Hands the value back at the end of a thread: to the `stop` caller waiting for it, or,
    /// when the thread ended on its own or was abandoned, runs `on_stop` here first.
    fn finish_thread(self: &Arc<Self>, value: Boxed, gen: u64, name: &str, panicked: bool) {
        let mut st = self.lock();
        if let Some(run) = st.run.as_mut().filter(|r| r.gen == gen) {
            if run.joiner {
                run.handback = Some(value);
                run.ended = true;
                self.changed.notify_all();
                return;
            }
        }
        drop(st);

        let value = self.run_on_stop(value, Some(gen), Some(name));

        let mut st = self.lock();
        let mut stale = None;
        let is_current = st.run.as_ref().is_some_and(|r| r.gen == gen);
        if is_current {
            if panicked {
                tracing::warn!(thread = %name, "Exited after a panic");
            } else {
                tracing::info!(thread = %name, "Exited gracefully");
            }
            st.value = Some(value);
            if st.run.as_ref().is_some_and(|r| r.joiner) {
                // A `stop` caller is waiting: it clears the run and joins this thread.
                if let Some(run) = st.run.as_mut() {
                    run.ended = true;
                }
            } else {
                // Nobody waits: detach; this thread returns right after. Its supervisor
                // decides whether to start it again.
                st.run = None;
                if let Some(link) = &st.link {
                    link.send(GroupEvent::Ended {
                        index: link.index,
                        gen,
                    });
                }
            }
        } else {
            tracing::info!(thread = %name, "Abandoned thread exited");
            st.abandoned.retain(|a| a.gen != gen);
            if st.awaiting == Some(gen) {
                st.awaiting = None;
                st.value = Some(value);
            } else {
                stale = Some(value);
            }
        }
        self.changed.notify_all();
        self.settle(st);
        // Dropped outside the lock: a value's Drop is user code.
        drop(stale);
    }

    /// Runs `on_stop`, counting a panic as a failure (of thread `gen`, when it runs there).
    /// `thread`: the name of the loop's thread this `on_stop` follows, if one ran.
    fn run_on_stop(
        self: &Arc<Self>,
        mut value: Boxed,
        gen: Option<u64>,
        thread: Option<&str>,
    ) -> Boxed {
        if let Err(e) = catch("on_stop", || value.on_stop()) {
            match thread {
                Some(name) => tracing::error!(thread = %name, "{e}"),
                None => tracing::error!(name = self.config.name, "{e}"),
            }
            self.record_failure(Some(e), gen);
        }
        value
    }

    fn stop(self: &Arc<Self>) -> bool {
        let me = thread::current().id();
        let mut st = self.lock();
        if st.ignores_calls_from(me, &self.config, "stop") {
            return false; // it is stopping already
        }
        if st.is_own_thread(me) {
            drop(st);
            self.request_stop(None);
            return false;
        }
        if st.busy == Some(me) {
            tracing::warn!(
                thread = %st.display_name(&self.config),
                "stop called from this loop's own on_start/on_stop; the start is undone"
            );
            st.wanted = false;
            st.queued_start = false;
            return false;
        }
        self.wait_not_busy(&mut st);
        self.stop_locked(st, me)
    }

    /// The body of `stop`, with `busy` free and the lock held.
    fn stop_locked<'a>(self: &'a Arc<Self>, st: MutexGuard<'a, State>, me: ThreadId) -> bool {
        let begun = self.stop_begin(st, me, true);
        // The grace counts from the request: it is the thread's time to react.
        let deadline = Instant::now().checked_add(self.config.grace);
        self.stop_finish(begun, deadline)
    }

    /// Phase one of a stop, with `busy` free and the lock held: no longer wanted running,
    /// its thread signalled, `busy` claimed until [`stop_finish`](Self::stop_finish).
    /// `unsupervise`: a stop from outside takes the loop out of its group's supervision; a
    /// group's own reset does not.
    fn stop_begin<'a>(
        self: &'a Arc<Self>,
        mut st: MutexGuard<'a, State>,
        me: ThreadId,
        unsupervise: bool,
    ) -> StopBegun {
        st.wanted = false;
        st.queued_start = false;
        if unsupervise {
            st.supervised = false;
        }
        let Some(run) = st.run.as_mut() else {
            return StopBegun::Idle {
                clean: st.abandoned.is_empty(),
            };
        };
        run.joiner = true;
        let signal = run.stop.clone();
        let name = run.name.clone();
        st.busy = Some(me);
        drop(st);
        if signal.go() {
            tracing::info!(thread = %name, "Stopping");
        }
        StopBegun::Waiting { name }
    }

    /// Phase two of a stop: waits until the thread has ended or `deadline` (`None`: forever),
    /// then runs `on_stop` here, or abandons the thread. Releases `busy`. True when no thread
    /// of the loop is left running.
    pub(crate) fn stop_finish(
        self: &Arc<Self>,
        begun: StopBegun,
        deadline: Option<Instant>,
    ) -> bool {
        let name = match begun {
            StopBegun::Idle { clean } => return clean,
            StopBegun::Waiting { name } => name,
            StopBegun::Nested(_) => unreachable!("a loop's stop is never nested"),
        };
        let mut st = self.lock();
        loop {
            if st.run.as_ref().is_none_or(|r| r.ended) {
                break;
            }
            match deadline {
                Some(d) => {
                    if self.changed.wait_until(&mut st, d).timed_out()
                        && st.run.as_ref().is_some_and(|r| !r.ended)
                    {
                        break;
                    }
                }
                None => self.changed.wait(&mut st),
            }
        }

        let mut run = st
            .run
            .take()
            .expect("only a stop caller clears a run it joins");
        if run.ended {
            let handback = run.handback.take();
            drop(st);
            if let Some(thread) = run.thread.take() {
                if thread.join().is_err() {
                    tracing::error!(thread = %name, "The loop's thread panicked outside its hooks");
                }
            }
            if let Some(v) = handback {
                tracing::info!(thread = %name, "Exited gracefully");
                let v = self.run_on_stop(v, None, Some(&name));
                st = self.lock();
                st.value = Some(v);
            } else {
                st = self.lock();
            }
            let clean = st.abandoned.is_empty();
            self.release(st);
            clean
        } else {
            tracing::warn!(
                thread = %name,
                grace = ?self.config.grace,
                "Abandoned: did not stop within its grace; it will not begin another cycle"
            );
            st.abandoned.push(Abandoned {
                gen: run.gen,
                thread_id: run.thread_id,
                _thread: run.thread.take(),
            });
            st.awaiting = Some(run.gen);
            self.release(st);
            false
        }
    }

    pub(crate) fn set_link(&self, link: Link) {
        self.lock().link = Some(link);
    }

    /// Whether its group still supervises it: started, and not stopped from outside since
    /// (a thread that ended on its own, by `ctx.stop()` or a panic, leaves it supervised).
    pub(crate) fn is_supervised(&self) -> bool {
        self.lock().supervised
    }

    pub(crate) fn clear_failures(&self) {
        self.lock().failures.clear();
    }

    /// For the supervisor: starts it again if it is still supervised and thread `gen` was
    /// its last one.
    pub(crate) fn restart_if_ended(self: &Arc<Self>, gen: u64) -> bool {
        let mut st = self.lock();
        self.wait_not_busy(&mut st);
        if st.supervised && st.run.is_none() && !st.queued_start && st.generations == gen + 1 {
            self.start_locked(st, thread::current().id())
        } else {
            false
        }
    }

    /// For a reset's restart phase: starts it if it is still supervised (a member stopped
    /// from outside meanwhile stays stopped).
    pub(crate) fn restart_supervised(self: &Arc<Self>) -> bool {
        let mut st = self.lock();
        self.wait_not_busy(&mut st);
        if st.supervised {
            self.start_locked(st, thread::current().id())
        } else {
            false
        }
    }

    /// Phase one of a stop for a group operation. From the loop's own thread or its own
    /// hook it only asks (it cannot wait for itself).
    pub(crate) fn begin_stop_from_supervisor(self: &Arc<Self>, unsupervise: bool) -> StopBegun {
        let me = thread::current().id();
        let mut st = self.lock();
        if st.is_own_thread(me) || st.busy == Some(me) {
            if unsupervise {
                st.supervised = false;
            }
            drop(st);
            self.request_stop(None);
            return StopBegun::Idle { clean: false };
        }
        self.wait_not_busy(&mut st);
        self.stop_begin(st, me, unsupervise)
    }

    fn hard_reset(self: &Arc<Self>) -> bool {
        let me = thread::current().id();
        let mut st = self.lock();
        if st.ignores_calls_from(me, &self.config, "hard_reset") {
            return false;
        }
        if st.is_own_thread(me) {
            if Self::outside_stop_joining(&st) {
                return false;
            }
            st.wanted = true;
            st.queued_start = true;
            let signal = st
                .run
                .as_ref()
                .filter(|r| r.thread_id == me)
                .map(|r| r.stop.clone());
            drop(st);
            if let Some(s) = signal {
                s.go();
            }
            return false;
        }
        if st.ignores_call_from_own_hook(me, &self.config, "hard_reset") {
            return false;
        }
        self.wait_not_busy(&mut st);
        tracing::info!(thread = %st.display_name(&self.config), "Hard reset");
        self.stop_locked(st, me);
        let mut st = self.lock();
        self.wait_not_busy(&mut st);
        self.start_locked(st, me)
    }

    /// Asks the current run to stop without waiting. `only_gen`: only if it is that run
    /// (a request from an abandoned thread must not stop its replacement, nor cancel a start
    /// queued for when it hands the value back).
    fn request_stop(&self, only_gen: Option<u64>) {
        let mut st = self.lock();
        let signal = Self::stop_current_locked(&mut st, only_gen);
        let name = st.display_name(&self.config);
        drop(st);
        if let Some(s) = signal {
            if s.go() {
                tracing::info!(thread = %name, "Stopping");
            }
        }
    }

    /// Counts one failure. `from`: the thread it comes from, if it comes from one; with
    /// `stop_on_failure`, exceeding the budget stops that thread only.
    /// Under the lock: no longer wanted running, and the token of the thread to signal (the
    /// current one; with `only_gen`, only if it is that one). Signal it after the lock.
    fn stop_current_locked(st: &mut State, only_gen: Option<u64>) -> Option<Signal> {
        let signal = match (st.run.as_ref(), only_gen) {
            (Some(r), Some(g)) if r.gen != g => return None,
            (None, Some(_)) => return None,
            (Some(r), _) => Some(r.stop.clone()),
            (None, None) => None,
        };
        st.wanted = false;
        st.queued_start = false;
        signal
    }

    fn record_failure(&self, error: Option<LoopError>, from: Option<u64>) -> bool {
        let mut st = self.lock();
        if let Some(e) = &error {
            st.last_error = Some(e.message().to_owned());
        }
        let (n, exceeded) = st.failures.record(&self.config);
        st.total_failures += 1;
        let name = st.display_name(&self.config);
        // With `stop_on_failure`, which thread stops is decided here, under the same lock as
        // the event to the supervisor: a reset that restarts the loop before this call goes on
        // must not see its new thread stopped by this (older) failure.
        let mut stop_token = None;
        if exceeded {
            if let Some(link) = &st.link {
                link.send(GroupEvent::Exceeded { index: link.index });
            }
            if self.config.stop_on_failure {
                stop_token = Self::stop_current_locked(&mut st, from);
            }
        }
        drop(st);
        let max = self.config.max_failures;
        if exceeded {
            tracing::error!(thread = %name, "Exceeded maximum number of failures ({n}/{max})");
        } else {
            tracing::warn!(thread = %name, "Failure ({n}/{max})");
        }
        if let Some(token) = stop_token {
            // That thread's own token: if a new thread has started meanwhile, it is untouched.
            if token.go() {
                tracing::info!(thread = %name, "Stopping");
            }
        }
        exceeded
    }

    pub(crate) fn status(&self) -> LoopStatus {
        let mut st = self.lock();
        let now = Instant::now();
        let cycles = st.cycles.load(Ordering::Relaxed);
        if cycles != st.observed.0 {
            st.observed = (cycles, now);
        }
        let alive = st.run.as_ref().is_some_and(|r| !r.ended);
        let current_gen = st.run.as_ref().map(|r| r.gen);
        let stalled = alive
            && st
                .stalled
                .is_some_and(|(g, c)| Some(g) == current_gen && c == cycles);
        let state = if st.starting {
            LoopState::Starting
        } else if let Some(run) = &st.run {
            if run.ended || run.stop.is_go() {
                LoopState::Stopping
            } else if stalled {
                LoopState::Stalled
            } else {
                LoopState::Running
            }
        } else if st.queued_start {
            LoopState::Starting
        } else if st.awaiting.is_some() {
            LoopState::Abandoned
        } else if st.wanted {
            LoopState::Failed
        } else {
            LoopState::Stopped
        };
        LoopStatus {
            name: self.config.name,
            thread_name: st.last_thread_name.as_deref().map(str::to_owned),
            state,
            alive: st.run.as_ref().is_some_and(|r| !r.ended),
            running: st.wanted,
            failures: st.failures.current(&self.config),
            max_failures: self.config.max_failures,
            restarts: st.generations.saturating_sub(1),
            cycles,
            total_cycles: st.cycles_before + cycles,
            total_failures: st.total_failures,
            since_cycle_began: (alive && cycles > 0).then(|| now.duration_since(st.observed.1)),
            abandoned_threads: st.abandoned.len(),
            last_error: st.last_error.clone(),
        }
    }
}

impl Watched for Inner {
    fn stalled(&self, gen: u64, timeout: Duration) {
        let mut st = self.lock();
        let Some(run) = st.run.as_ref().filter(|r| r.gen == gen && !r.ended) else {
            return;
        };
        let name = run.name.clone();
        let cycles = st.cycles.load(Ordering::Relaxed);
        st.stalled = Some((gen, cycles));
        drop(st);
        tracing::warn!(thread = %name, ?timeout, "Cycle stalled: running longer than its cycle_timeout");
        let error = LoopError::new(format_args!(
            "cycle {cycles} ran longer than its cycle_timeout of {timeout:?}"
        ));
        self.record_failure(Some(error), Some(gen));
    }
}

impl Control for Inner {
    fn failure(&self, error: Option<LoopError>, gen: u64) -> bool {
        self.record_failure(error, Some(gen))
    }

    fn request_stop(&self, gen: u64) {
        Inner::request_stop(self, Some(gen));
    }
}
