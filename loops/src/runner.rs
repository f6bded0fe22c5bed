//! A loop's thread mechanics: spawning, running and joining its threads, running its hooks,
//! and waiting — acting on what its [`Lifecycle`] answers.
//!
//! Every public operation of a loop comes here: it takes the loop's lock, asks the lifecycle
//! for the transition, releases the lock, and does what it was told (runs `on_start`, signals
//! a token, waits for the thread within its grace, runs `on_stop`). User code never runs under
//! the lock. Waits for another thread go through the wait-for graph ([`waits`]), so a wait
//! that would close a circle is not entered: the call asks and returns instead.
//!
//! The per-cycle path is [`Value::run_cycles`]: no lock, no allocation, one atomic load of
//! the stop flag and one store of the cycle count per turn.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Guard, Lock};

use crate::ctx::{Control, Ctx};
use crate::event::Link;
use crate::failures::Budget;
use crate::lifecycle::{
    AfterStart, Caller, Done, Finished, HardReset, Ignored, Joining, Kinds, Lifecycle, Op, Outcome,
    Queued, Source, Start, Stop,
};
use crate::signal::Fired;
use crate::spawn::{self, Kind};
use crate::trace::{self, catch, debug, error, info, warn, Scope};
use crate::waits::{self, WouldDeadlock};
use crate::watchdog::{self, Watched};
use crate::{LoopConfig, LoopError, LoopStatus, Signal, SuperLoop};

/// A loop's value with its type erased. The machinery below is compiled once for every loop
/// type rather than once per type; only the hooks and the cycle loop ([`Value::run_cycles`])
/// are generic, so the hot path is a direct, inlinable call of `cycle` per turn.
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

/// The next ticket: a process-wide sequence that orders a `maintain_loops` against the
/// stops from outside of its members (a stop with a later ticket than the maintain's wins).
pub(crate) fn ticket() -> u64 {
    static TICKETS: AtomicU64 = AtomicU64::new(1);
    TICKETS.fetch_add(1, Ordering::SeqCst)
}

/// A loop's value, boxed: what the lifecycle moves between its places.
pub(crate) type Boxed = Box<dyn Value>;

/// Makes a fresh value.
pub(crate) type Factory = Box<dyn Fn() -> Boxed + Send + Sync>;

/// The lifecycle's types in this runtime.
pub(crate) struct Real;

impl Kinds for Real {
    type Value = Boxed;
    type Join = JoinHandle<()>;
    type Tid = ThreadId;
}

/// One loop's runtime, shared by its handles, its threads and its group.
pub(crate) struct Runner {
    config: LoopConfig,
    /// Makes a fresh value when the old one is held by an abandoned thread (or never made).
    factory: Option<Factory>,
    state: Lock<State>,
    /// Notified whenever `state` changes in a way a waiter may be waiting for: a thread
    /// ended, `busy` was released, a value came back.
    changed: Condvar,
}

struct State {
    life: Lifecycle<Real>,
    /// The supervisor this loop reports to, once added to a controller.
    link: Option<Link>,
    books: Books,
    /// The start under way failed and is to be retried: its supervisor is told when `busy`
    /// is released.
    start_failed: bool,
    /// Threads waiting for `busy` to be released.
    waiters: usize,
    /// The holder of `busy` last told to the wait-for graph (kept exact while threads wait).
    told: Option<ThreadId>,
}

/// What `status` reports beyond the lifecycle.
struct Books {
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
    budget: Budget,
    last_error: Option<String>,
}

/// What the first half of a group's stop of a loop left for the second.
pub(crate) enum Begun {
    /// Nothing was running; `clean`: no abandoned thread is running either.
    Idle { clean: bool },
    /// Asked to stop without being waited for (the caller is the loop's own thread or inside
    /// an operation on it, or waiting would close a circle). `thread`: it had one running.
    Asked { thread: bool },
    /// Its thread was signalled, to be waited for; `busy` is held for the second half.
    Waiting { name: Arc<str> },
}

impl Runner {
    /// A loop, not started, with `value` at rest or a `factory` to make one.
    pub(crate) fn new(config: LoopConfig, value: Option<Boxed>, factory: Option<Factory>) -> Self {
        let has_factory = factory.is_some();
        Runner {
            config,
            factory,
            state: Lock::new(State {
                life: Lifecycle::new(value, has_factory),
                link: None,
                books: Books {
                    last_thread_name: None,
                    cycles: Arc::new(AtomicU64::new(0)),
                    cycles_before: 0,
                    total_failures: 0,
                    observed: (0, Instant::now()),
                    stalled: None,
                    budget: Budget::default(),
                    last_error: None,
                },
                start_failed: false,
                waiters: 0,
                told: None,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> Guard<'_, State> {
        self.state.lock()
    }

    pub(crate) fn config(&self) -> &LoopConfig {
        &self.config
    }

    /// This loop's `busy` (the operation holding its value), as the wait-for graph names it.
    fn key(&self) -> waits::Key {
        std::ptr::from_ref(self) as usize
    }

    /// Waits once for `busy`, held by `holder`, to change; the caller asks the lifecycle
    /// again. `Err`: waiting would close a circle of waits, and the caller must not.
    fn wait_busy(&self, st: &mut Guard<'_, State>, holder: ThreadId) -> Result<(), WouldDeadlock> {
        let waiting = waits::for_busy(self.key(), holder)?;
        st.waiters += 1;
        st.told = Some(holder);
        st.wait(&self.changed);
        st.waiters -= 1;
        drop(waiting);
        Ok(())
    }

    /// After a transition that may have claimed or released `busy`: while threads wait for
    /// it, the wait-for graph must know its holder.
    fn sync(&self, st: &mut State) {
        if st.waiters > 0 {
            let holder = st.life.busy_thread();
            if holder != st.told {
                waits::holder_changed(self.key(), holder);
                st.told = holder;
            }
        }
    }

    // ---- Start -----------------------------------------------------------------------

    pub(crate) fn start(self: &Arc<Self>) -> bool {
        let me = thread::current().id();
        let st = self.lock();
        self.start_from(st, me)
    }

    /// `start`'s body, from the lock taken.
    fn start_from<'a>(self: &'a Arc<Self>, st: Guard<'a, State>, me: ThreadId) -> bool {
        self.start_with(st, me, Lifecycle::start)
    }

    /// A start the lifecycle's `step` begins (a start, or its group's maintain), from the lock
    /// taken.
    fn start_with<'a>(
        self: &'a Arc<Self>,
        mut st: Guard<'a, State>,
        me: ThreadId,
        step: impl Fn(&mut Lifecycle<Real>, ThreadId) -> Start<Boxed, ThreadId>,
    ) -> bool {
        loop {
            let step = step(&mut st.life, me);
            self.sync(&mut st);
            match step {
                Start::Begin(source) => return self.run_start(st, me, source),
                Start::Already => return false,
                Start::Wait(holder) => {
                    if self.wait_busy(&mut st, holder).is_err() {
                        let step = st.life.start_refused();
                        let name = st.books.display_name(&self.config);
                        drop(st);
                        if matches!(step, Start::Queued(_)) {
                            debug!(
                                thread = %name,
                                "Start queued: the stop under way waits, through others, for this thread"
                            );
                        }
                        return false;
                    }
                }
                Start::Queued(why) => {
                    let name = st.books.display_name(&self.config);
                    drop(st);
                    log_queued(&name, why);
                    return false;
                }
                Start::Ignored(why) => {
                    let name = st.books.display_name(&self.config);
                    drop(st);
                    log_ignored(&name, "start", why);
                    return false;
                }
            }
        }
    }

    /// Runs a start the lifecycle began (`busy` claimed for `me`), then releases `busy`,
    /// running any start queued meanwhile. True if this start spawned a thread.
    fn run_start<'a>(
        self: &'a Arc<Self>,
        st: Guard<'a, State>,
        me: ThreadId,
        source: Source<Boxed>,
    ) -> bool {
        let (st, started) = self.start_once(st, source);
        self.finish_op(st, me);
        started
    }

    /// One start: makes the value if need be, runs `on_start`, spawns the thread. `busy`
    /// stays claimed.
    fn start_once<'a>(
        self: &'a Arc<Self>,
        mut st: Guard<'a, State>,
        source: Source<Boxed>,
    ) -> (Guard<'a, State>, bool) {
        let mut value = match source {
            Source::Value(v) => v,
            Source::Factory => {
                drop(st);
                let factory = self
                    .factory
                    .as_ref()
                    .expect("a start from the factory has one");
                let made = catch("the loop's factory", factory);
                st = self.lock();
                let error = made.as_ref().err().cloned();
                match st.life.value_made(made.ok()) {
                    Ok(v) => v,
                    Err(retry) => {
                        let e = error.unwrap_or_default();
                        st.books.last_error = Some(e.clone());
                        Self::start_failed(&mut st, retry);
                        drop(st);
                        error!(
                            name = self.config.name,
                            "Could not make the loop's value: {e}"
                        );
                        return (self.lock(), false);
                    }
                }
            }
        };
        // The old value, if an abandoned thread handed it back while the factory ran.
        let stale = st.life.take_stale();
        drop(st);
        if let Some(stale) = stale {
            trace::drop_caught("the Drop of a loop's value", stale);
        }

        // Outer `Err`: it panicked (a failure); inner `Err`: it declined with an error.
        let answer = catch("on_start", || value.on_start());
        let outcome = match &answer {
            Ok(Ok(true)) => Outcome::Allowed,
            Ok(Ok(false) | Err(_)) | Err(_) => Outcome::Refused,
        };

        let mut st = self.lock();
        match st.life.on_start_done(outcome, value) {
            AfterStart::Spawn { value, gen } => match self.spawn(&mut st, value, gen) {
                Ok(()) => (st, true),
                Err((e, value)) => {
                    let name = format!("{}_{gen}", self.config.name);
                    st.books.last_error = Some(format!("could not spawn thread {name}: {e}"));
                    let retry = st.life.spawn_failed();
                    Self::start_failed(&mut st, retry);
                    drop(st);
                    error!(thread = %name, "Could not spawn the loop's thread: {e}");
                    // on_start allowed this start: pair it.
                    let value = self.run_on_stop(value, None, None);
                    let mut st = self.lock();
                    st.life.value_back(value);
                    (st, false)
                }
            },
            AfterStart::Undo(value) => {
                // Asked to stop (from inside on_start, say) before the thread was spawned.
                drop(st);
                let value = self.run_on_stop(value, None, None);
                let mut st = self.lock();
                st.life.value_back(value);
                (st, false)
            }
            AfterStart::NotStarted { retry } => {
                if let Ok(Err(e)) = &answer {
                    st.books.last_error = Some(e.message().to_owned());
                }
                Self::start_failed(&mut st, retry);
                drop(st);
                match answer {
                    Ok(Ok(_)) => info!(name = self.config.name, "on_start declined to start"),
                    Ok(Err(e)) => {
                        warn!(name = self.config.name, "Not started: on_start failed: {e}");
                    }
                    Err(panicked) => {
                        error!(name = self.config.name, "Not started: {panicked}");
                        self.record_failure(Some(LoopError::new(panicked)), None);
                    }
                }
                (self.lock(), false)
            }
        }
    }

    /// A supervised member failed to start: its supervisor retries it. Told once the start
    /// is over (`busy` released, in [`finish_op`](Self::finish_op)): a supervisor that finds
    /// another start under way when it comes to retry leaves the loop to that one, so it must
    /// not find the failed one.
    fn start_failed(st: &mut State, retry: bool) {
        if retry && st.link.is_some() {
            st.start_failed = true;
        }
    }

    /// Releases `busy` and runs the starts queued meanwhile, on this thread.
    fn finish_op<'a>(self: &'a Arc<Self>, mut st: Guard<'a, State>, me: ThreadId) {
        loop {
            let next = st.life.release(me);
            if std::mem::take(&mut st.start_failed) {
                if let Some(link) = &st.link {
                    link.start_failed();
                }
            }
            self.sync(&mut st);
            self.changed.notify_all();
            match next {
                None => return,
                Some(source) => st = self.start_once(st, source).0,
            }
        }
    }

    /// Spawns thread `{name}_{gen}` with `value`; gives the value back if it cannot.
    fn spawn(
        self: &Arc<Self>,
        st: &mut State,
        value: Boxed,
        gen: u64,
    ) -> Result<(), (io::Error, Boxed)> {
        let name: Arc<str> = Arc::from(format!("{}_{}", self.config.name, gen));
        let stop = Signal::new();
        let cycles = Arc::new(AtomicU64::new(0));
        let mut builder = thread::Builder::new().name(name.to_string());
        if let Some(bytes) = self.config.stack_size {
            builder = builder.stack_size(bytes);
        }
        let body = {
            let runner = self.clone();
            let (stop, name, cycles) = (stop.clone(), name.clone(), cycles.clone());
            move |value| runner.run_thread(value, gen, stop, name, cycles)
        };
        let handle = spawn::spawn_or_return(Kind::Loop, builder, value, body)?;
        let books = &mut st.books;
        books.last_thread_name = Some(name);
        // The thread before this one begins no more cycles (it ended, or was abandoned, and
        // an abandoned thread never begins another).
        books.cycles_before += books.cycles.load(Ordering::Relaxed);
        books.cycles = cycles;
        books.observed = (0, Instant::now());
        books.stalled = None;
        let id = handle.thread().id();
        st.life.spawned(gen, stop, id, handle);
        Ok(())
    }

    // ---- The thread ------------------------------------------------------------------

    /// The loop thread's whole life.
    fn run_thread(
        self: Arc<Self>,
        mut value: Boxed,
        gen: u64,
        stop: Signal,
        name: Arc<str>,
        cycles: Arc<AtomicU64>,
    ) {
        let _scope =
            Scope::enter(|| tracing::info_span!("superloop", thread = %name, generation = gen));
        info!(thread = %name, "Started");
        let ctx = Ctx::new(stop.clone(), name.clone(), gen, self.clone());
        let mut panicked = true;

        match catch("on_thread_start", || value.on_thread_start()) {
            Err(e) => {
                // on_thread_start did not return: no cycle runs, and no on_thread_stop pairs it.
                error!(thread = %name, "{e}; no cycle will run");
                self.record_failure(Some(LoopError::new(e)), Some(gen));
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
                        warn!(thread = %name, "cycle failed: {e}");
                        self.record_failure(Some(e), Some(gen));
                    });
                });
                if let Some(watched) = watched {
                    watchdog::unwatch(watched);
                }
                match ran {
                    Ok(()) => panicked = false,
                    Err(e) => {
                        error!(thread = %name, "{e}; this thread's run ends");
                        self.record_failure(Some(LoopError::new(e)), Some(gen));
                    }
                }
                if let Err(e) = catch("on_thread_stop", || value.on_thread_stop()) {
                    error!(thread = %name, "{e}");
                    self.record_failure(Some(LoopError::new(e)), Some(gen));
                }
            }
        }
        self.finish_thread(value, gen, &name, panicked);
    }

    /// Hands the value back at the end of a thread: to the `stop` caller waiting for it, or,
    /// when the thread ended on its own or was abandoned, runs `on_stop` here first.
    fn finish_thread(self: &Arc<Self>, value: Boxed, gen: u64, name: &Arc<str>, panicked: bool) {
        let mut st = self.lock();
        let value = match st.life.thread_finished(gen, value) {
            Finished::HandedBack => {
                self.changed.notify_all();
                return;
            }
            Finished::OnStopHere(value) => value,
        };
        drop(st);

        let value = self.run_on_stop(value, Some(gen), Some(name));

        let mut st = self.lock();
        let done = st.life.thread_done(gen, value);
        if matches!(done, Done::Current { alone: true }) && st.life.is_supervised() {
            // Its supervisor decides whether to start it again.
            if let Some(link) = &st.link {
                link.ended(gen);
            }
        }
        self.changed.notify_all();
        let me = thread::current().id();
        let queued = st.life.settle(me);
        self.sync(&mut st);
        match queued {
            Some(source) => {
                // The queued start is claimed (`busy` is this thread's, the value taken): the
                // lock may be released to log, with no lock held, before it runs.
                drop(st);
                log_exit(name, &done, panicked);
                self.run_start(self.lock(), me, source);
            }
            None => {
                drop(st);
                log_exit(name, &done, panicked);
            }
        }
        if let Done::Abandoned { stale: Some(v) } = done {
            // A fresh value replaced this one meanwhile.
            trace::drop_caught("the Drop of a loop's value", v);
        }
    }

    /// Runs `on_stop`, counting a panic as a failure (of thread `gen`, when it runs there).
    /// `thread`: the name of the loop's thread this `on_stop` follows, if one ran.
    fn run_on_stop(&self, mut value: Boxed, gen: Option<u64>, thread: Option<&str>) -> Boxed {
        if let Err(e) = catch("on_stop", || value.on_stop()) {
            match thread {
                Some(name) => error!(thread = %name, "{e}"),
                None => error!(name = self.config.name, "{e}"),
            }
            self.record_failure(Some(LoopError::new(e)), gen);
        }
        value
    }

    // ---- Reads -----------------------------------------------------------------------

    pub(crate) fn is_alive(&self) -> bool {
        self.lock().life.is_alive()
    }

    pub(crate) fn is_running(&self) -> bool {
        self.lock().life.is_wanted()
    }

    /// Something of it needs stopping when its last handle goes.
    pub(crate) fn needs_stop(&self) -> bool {
        self.lock().life.needs_stop()
    }

    pub(crate) fn failures(&self) -> u32 {
        let mut st = self.lock();
        let now = st.link.as_ref().map_or_else(Instant::now, Link::now);
        st.books.budget.current(&self.config, now)
    }

    pub(crate) fn thread_name(&self) -> Option<String> {
        self.lock()
            .books
            .last_thread_name
            .as_deref()
            .map(str::to_owned)
    }

    /// The name in its reports: its last thread's, or the loop's.
    pub(crate) fn report_name(&self) -> String {
        self.thread_name()
            .unwrap_or_else(|| self.config.name.to_owned())
    }

    pub(crate) fn status(&self) -> LoopStatus {
        let mut st = self.lock();
        let now = Instant::now();
        let State { life, books, .. } = &mut *st;
        let cycles = books.cycles.load(Ordering::Relaxed);
        if cycles != books.observed.0 {
            books.observed = (cycles, now);
        }
        let alive_gen = life.alive_gen();
        let alive = alive_gen.is_some();
        let stalled = books
            .stalled
            .is_some_and(|(g, c)| Some(g) == alive_gen && c == cycles);
        LoopStatus {
            name: self.config.name,
            thread_name: books.last_thread_name.as_deref().map(str::to_owned),
            state: life.state(stalled),
            alive,
            running: life.is_wanted(),
            failures: books.budget.current(&self.config, now),
            max_failures: self.config.max_failures,
            restarts: life.generations().saturating_sub(1),
            cycles,
            total_cycles: books.cycles_before + cycles,
            total_failures: books.total_failures,
            since_cycle_began: (alive && cycles > 0)
                .then(|| now.saturating_duration_since(books.observed.1)),
            abandoned_threads: life.abandoned_threads(),
            last_error: books.last_error.clone(),
        }
    }
}

impl Books {
    fn display_name(&self, config: &LoopConfig) -> Arc<str> {
        match &self.last_thread_name {
            Some(n) => n.clone(),
            None => Arc::from(config.name),
        }
    }
}

/// Signals a loop's stop token, running its `then` callbacks here.
fn go(token: &Signal, name: &str) {
    if token.go() {
        info!(thread = %name, "Stopping");
    }
}

fn log_ignored(name: &str, call: &str, why: Ignored) {
    match why {
        Ignored::FromAbandoned => {
            debug!(thread = %name, "{call} called from an abandoned thread: ignored");
        }
        Ignored::FromHolder(_) => {
            warn!(thread = %name, "{call} called from this loop's own on_start/on_stop; ignored");
        }
        Ignored::StopWins => {
            debug!(thread = %name, "A restart asked from inside while an outside stop waits: stop wins");
        }
    }
}

fn log_queued(name: &str, why: Queued) {
    match why {
        Queued::StoppingThread => {
            debug!(thread = %name, "Start queued until the stopping thread has ended");
        }
        Queued::AbandonedThread => info!(
            thread = %name,
            "Start queued until the abandoned thread hands the value back"
        ),
        Queued::StopUnderWay => {
            debug!(thread = %name, "Start queued until the stop under way ends")
        }
    }
}

fn log_exit(name: &str, done: &Done<Boxed>, panicked: bool) {
    match done {
        Done::Current { .. } if panicked => warn!(thread = %name, "Exited after a panic"),
        Done::Current { .. } => info!(thread = %name, "Exited gracefully"),
        Done::Abandoned { .. } => info!(thread = %name, "Abandoned thread exited"),
    }
}

mod stopping;
mod supervised;
