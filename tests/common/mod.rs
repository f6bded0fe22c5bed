//! Shared test support: a loop whose hooks record what ran on which thread, and waits on
//! those records (events, never sleeps). A timeout here is only an upper bound that fails
//! loudly.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use superloops::channel::Receiver;
use superloops::prelude::*;

pub mod hooks;

/// The upper bound for anything a test waits for. Generous: the suite must pass on a loaded
/// 2-core machine; a test that needs it has failed anyway.
pub const BOUND: Duration = Duration::from_secs(20);

/// One hook call: which hook, on which thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub hook: &'static str,
    pub thread: String,
    /// For `on_stop`: whether the loop's thread that last ran `on_thread_start`/`cycle` on
    /// this value had fully exited (its thread-locals destroyed) when `on_stop` began, or
    /// `on_stop` runs on that very thread after its last cycle.
    pub detail: String,
    /// Order across every log of the process: compare events of different loops.
    pub seq: u64,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
struct LogInner {
    events: Mutex<Vec<Event>>,
    changed: Condvar,
}

/// A shared, waitable record of hook calls.
#[derive(Clone, Default)]
pub struct Log {
    inner: Arc<LogInner>,
}

pub fn current_thread() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned()
}

impl Log {
    pub fn push(&self, hook: &'static str) {
        self.push_detail(hook, String::new());
    }

    pub fn push_detail(&self, hook: &'static str, detail: String) {
        let mut events = self.inner.events.lock();
        events.push(Event {
            hook,
            thread: current_thread(),
            detail,
            seq: SEQ.fetch_add(1, Ordering::SeqCst),
        });
        self.inner.changed.notify_all();
    }

    pub fn events(&self) -> Vec<Event> {
        self.inner.events.lock().clone()
    }

    /// The hooks in order, without `cycle` entries.
    pub fn hooks(&self) -> Vec<&'static str> {
        self.events()
            .into_iter()
            .map(|e| e.hook)
            .filter(|h| *h != "cycle")
            .collect()
    }

    /// The sequence number of the `n`th (from 0) `hook` event.
    pub fn seq_of(&self, hook: &str, n: usize) -> u64 {
        self.events()
            .into_iter()
            .filter(|e| e.hook == hook)
            .nth(n)
            .unwrap_or_else(|| panic!("no {hook} #{n}"))
            .seq
    }

    pub fn count(&self, hook: &str) -> usize {
        self.inner
            .events
            .lock()
            .iter()
            .filter(|e| e.hook == hook)
            .count()
    }

    /// Events of `hook` on thread `thread`.
    pub fn count_on(&self, hook: &str, thread: &str) -> usize {
        self.inner
            .events
            .lock()
            .iter()
            .filter(|e| e.hook == hook && e.thread == thread)
            .count()
    }

    /// Waits until `hook` has been recorded at least `n` times; panics after [`BOUND`].
    pub fn wait_for(&self, hook: &str, n: usize) {
        self.wait_until(&format!("{n}× {hook}"), |events| {
            events.iter().filter(|e| e.hook == hook).count() >= n
        });
    }

    /// Waits until `pred` holds over the events; panics after [`BOUND`].
    pub fn wait_until(&self, what: &str, pred: impl Fn(&[Event]) -> bool) {
        let deadline = Instant::now() + BOUND;
        let mut events = self.inner.events.lock();
        while !pred(&events) {
            if self
                .inner
                .changed
                .wait_until(&mut events, deadline)
                .timed_out()
            {
                panic!(
                    "timed out waiting for {what}; events so far: {:#?}",
                    *events
                );
            }
        }
    }
}

/// Polls `cond` until it holds; panics after [`BOUND`]. For state the crate changes on its own
/// threads with no event to wait on (e.g. a thread's end seen through `is_alive`).
pub fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How a probe's `on_start` behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMode {
    Allow,
    Decline,
    Fail,
    Panic,
}

/// What a probe's `cycle` does.
#[derive(Clone)]
pub enum CycleMode {
    /// `ctx.sleep(1 h)`: one cycle that lasts until stop.
    SleepUntilStop,
    /// Waits on a channel through `ctx.recv`; records each message as a `cycle` detail.
    Recv(Receiver<u32>),
    /// On the first cycle of the loop's first thread (`…_0`): blocks, ignoring stop, until
    /// the receiver gets a message or disconnects. Every other cycle sleeps until stop.
    StuckOnce(Receiver<()>),
    /// Returns `Err("boom")`, then sleeps 1 ms through the context.
    Fail,
    /// Panics.
    Panic,
    /// Calls `ctx.stop()` and returns.
    StopSelf,
    /// `ctx.sleep(1 ms)`, unrecorded: a busy loop for concurrency tests.
    Tick,
}

/// Tracks how many threads are inside `cycle` right now, and the most ever seen at once.
#[derive(Clone, Default)]
pub struct Occupancy {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl Occupancy {
    pub fn enter(&self) -> OccupancyGuard {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        OccupancyGuard(self.now.clone())
    }
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

pub struct OccupancyGuard(Arc<AtomicUsize>);
impl Drop for OccupancyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

thread_local! {
    /// Set in `on_thread_start`; its destructor runs when the loop thread exits.
    static EXIT_GUARD: RefCell<Option<ExitGuard>> = const { RefCell::new(None) };
}

struct ExitGuard(Arc<Mutex<HashMap<String, bool>>>, String);
impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.lock().insert(self.1.clone(), true);
    }
}

/// The behaviour of a test loop; wrap it in one of the `probe!` types for options.
#[derive(Clone)]
pub struct Probe {
    pub log: Log,
    pub start: StartMode,
    pub panic_in: Option<&'static str>,
    pub cycle: CycleMode,
    pub occupancy: Occupancy,
    /// Threads whose thread-locals have been destroyed (the thread exited).
    pub exited: Arc<Mutex<HashMap<String, bool>>>,
    /// Name of the thread that last ran a thread hook on this value.
    last_thread: String,
    /// Run by the next `on_stop`, after it has logged (a hook that calls a sibling).
    pub on_stop_action: OnStopAction,
    /// Registered by the next cycle as a `then` callback on its stop token (logged as
    /// `armed`): it runs on whatever thread stops the loop.
    pub token_action: OnStopAction,
}

/// What a probe's next `on_stop` does besides logging, shared with the test that arms it.
pub type OnStopAction = Arc<Mutex<Option<Box<dyn FnOnce() + Send>>>>;

impl Probe {
    pub fn new(cycle: CycleMode) -> Self {
        Probe {
            log: Log::default(),
            start: StartMode::Allow,
            panic_in: None,
            cycle,
            occupancy: Occupancy::default(),
            exited: Arc::default(),
            last_thread: String::new(),
            on_stop_action: Arc::default(),
            token_action: Arc::default(),
        }
    }

    pub fn start_mode(mut self, mode: StartMode) -> Self {
        self.start = mode;
        self
    }

    pub fn panic_in(mut self, hook: &'static str) -> Self {
        self.panic_in = Some(hook);
        self
    }

    fn maybe_panic(&self, hook: &'static str) {
        if self.panic_in == Some(hook) {
            panic!("planned panic in {hook}");
        }
    }

    pub fn on_start(&mut self) -> Result<(), String> {
        self.log.push("on_start");
        self.last_thread.clear(); // no thread has run for this start yet
        match self.start {
            StartMode::Allow => Ok(()),
            StartMode::Decline => Err(String::new()),
            StartMode::Fail => Err("no connection".into()),
            StartMode::Panic => panic!("planned panic in on_start"),
        }
    }

    pub fn on_stop(&mut self) {
        let me = current_thread();
        let detail = if self.last_thread.is_empty() {
            // Stopped between on_start and the spawn (e.g. a failure with stop_on_failure).
            "without a thread".to_owned()
        } else if me == self.last_thread {
            "on the loop thread".to_owned()
        } else if self.exited.lock().get(&self.last_thread) == Some(&true) {
            "after the loop thread exited".to_owned()
        } else {
            format!("WHILE {} WAS STILL RUNNING", self.last_thread)
        };
        self.log.push_detail("on_stop", detail);
        let action = self.on_stop_action.lock().take();
        if let Some(action) = action {
            action();
        }
        self.maybe_panic("on_stop");
    }

    pub fn on_thread_start(&mut self) {
        self.last_thread = current_thread();
        let guard = ExitGuard(self.exited.clone(), self.last_thread.clone());
        EXIT_GUARD.with(|g| *g.borrow_mut() = Some(guard));
        self.log.push("on_thread_start");
        self.maybe_panic("on_thread_start");
    }

    pub fn on_thread_stop(&mut self) {
        self.log.push("on_thread_stop");
        self.maybe_panic("on_thread_stop");
    }

    pub fn cycle(&mut self, ctx: &Ctx) -> Result<(), String> {
        let _inside = self.occupancy.enter();
        let armed = self.token_action.lock().take();
        if let Some(action) = armed {
            ctx.stopping().then(action);
            self.log.push("armed");
        }
        if matches!(self.cycle, CycleMode::Tick) {
            ctx.sleep(Duration::from_millis(1));
            return Ok(());
        }
        self.log.push("cycle");
        self.maybe_panic("cycle");
        match &self.cycle {
            CycleMode::SleepUntilStop => {
                let slept = ctx.sleep(Duration::from_secs(3600));
                self.log
                    .push_detail("slept", if slept { "full" } else { "cut short" }.into());
                Ok(())
            }
            CycleMode::Recv(rx) => {
                match ctx.recv(rx) {
                    Some(n) => self.log.push_detail("received", n.to_string()),
                    None => self.log.push_detail("received", "none".into()),
                }
                Ok(())
            }
            CycleMode::StuckOnce(rx) => {
                let me = current_thread();
                if me.ends_with("_0") && self.log.count_on("cycle", &me) == 1 {
                    self.log.push("stuck");
                    let _ = rx.recv();
                    self.log.push("unstuck");
                } else {
                    ctx.sleep(Duration::from_secs(3600));
                }
                Ok(())
            }
            CycleMode::Fail => {
                ctx.sleep(Duration::from_millis(1));
                Err("boom".into())
            }
            CycleMode::Panic => unreachable!("panic_in(\"cycle\") is set for this mode"),
            CycleMode::StopSelf => {
                ctx.stop();
                Ok(())
            }
            CycleMode::Tick => Ok(()),
        }
    }
}

/// Declares a loop type wrapping [`Probe`] with the given `#[superloop]` options.
#[macro_export]
macro_rules! probe {
    ($name:ident $(, $($opt:tt)*)?) => {
        pub struct $name(pub $crate::common::Probe);

        #[superloops::superloop($($($opt)*)?)]
        impl $name {
            fn on_start(&mut self) -> Result<(), String> {
                self.0.on_start()
            }
            fn on_stop(&mut self) {
                self.0.on_stop()
            }
            fn on_thread_start(&mut self) {
                self.0.on_thread_start()
            }
            fn on_thread_stop(&mut self) {
                self.0.on_thread_stop()
            }
            fn cycle(&mut self, ctx: &superloops::Ctx) -> Result<(), String> {
                self.0.cycle(ctx)
            }
        }
    };
}

/// Asserts the pairing guarantees over a finished log: every `on_start` that allowed a start
/// has exactly one `on_stop`, every `on_thread_start` exactly one `on_thread_stop` unless it
/// panicked, and no `on_stop` ran while its thread was still running.
pub fn assert_paired(log: &Log, allowed_starts: usize, thread_start_panics: usize) {
    let events = log.events();
    assert_eq!(
        log.count("on_stop"),
        allowed_starts,
        "on_stop count != allowed starts: {events:#?}"
    );
    assert_eq!(
        log.count("on_thread_start"),
        log.count("on_thread_stop") + thread_start_panics,
        "on_thread_start/on_thread_stop do not pair: {events:#?}"
    );
    for e in events.iter().filter(|e| e.hook == "on_stop") {
        assert!(
            !e.detail.starts_with("WHILE"),
            "on_stop ran {} ({events:#?})",
            e.detail
        );
    }
}

/// Runs `f` on a thread of its own and fails loudly if it does not return within [`BOUND`].
pub fn within_bound<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = superloops::channel::unbounded();
    std::thread::Builder::new()
        .name(format!("bounded: {what}"))
        .spawn(move || {
            let _ = tx.send(f());
        })
        .unwrap();
    match rx.recv_timeout(BOUND) {
        Ok(r) => r,
        Err(_) => panic!("deadlock? `{what}` did not return within {BOUND:?}"),
    }
}

/// The state-machine tests' proptest settings: `cases` cases, or `SUPERLOOPS_MODEL_CASES`
/// for a longer run.
pub fn model_config(cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("SUPERLOOPS_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    proptest::test_runner::Config {
        cases,
        failure_persistence: None,
        // A failing case waits out its bounds at every step: shrinking it without a limit
        // would outlast CI. What it finds in a minute is printed with the failure.
        max_shrink_time: 60_000,
        ..proptest::test_runner::Config::default()
    }
}

/// Fails unless the group goes green within [`BOUND`], showing its health.
pub fn green(c: &LoopController) {
    assert!(
        c.wait_green(BOUND),
        "the group never went green:\n{}",
        c.health()
    );
}

/// A member of `c` made by `wrap` from a probe whose cycles sleep until stopped, and the
/// probe's log.
pub fn sleeping_member<T: SuperLoop>(
    c: &LoopController,
    wrap: impl FnOnce(Probe) -> T,
) -> (LoopHandle<T>, Log) {
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    (c.new_loop(wrap(probe)), log)
}

/// Fails if the runtime ever ran code it does not own (a `tracing` event, a hook, a callback,
/// the drop of a user value) while holding one of its locks, anywhere in this test binary so
/// far (the runtime records it in debug builds).
pub fn assert_nothing_ran_under_a_lock() {
    let places = superloops::__private::under_lock();
    assert!(
        places.is_empty(),
        "code the crate does not own ran under a crate lock:\n{}",
        places.join("\n")
    );
}
