//! State-machine tests: random sequences of operations on a `LoopHandle` and on a
//! `LoopController`, each step checked against a small model of the states (stopped,
//! starting, running, stopping, abandoned, failed) and of the hooks that must have run.
//!
//! The loops are *puppets*: their behaviour is chosen by the test, one step at a time —
//! decline (or fail, or panic in) the next `on_start`, panic in the next `on_thread_start`,
//! and, through a command channel their `cycle` waits on, return `Err`, panic, `ctx.stop()`,
//! `ctx.failure()`, or block ignoring stop until the test releases it. Every step is applied
//! to the model and to the runtime; the runtime is then given time to settle (a bounded poll
//! until its observable state equals the model's prediction — threads end on their own after
//! a panic or `ctx.stop()`), and the two are compared: return values, `status()` (state,
//! alive, running, failures, abandoned threads, thread name), and the number of each hook
//! call, with `on_stop` split between the caller's thread and the loop's own threads.
//!
//! Timing: the puppets' grace is 100 ms, so a `stop` of a blocked thread abandons it quickly.
//! A `stop` of a thread that is *not* blocked is expected to join it; on a machine so loaded
//! that the thread did not end within 100 ms, the runtime abandons it instead. That outcome is
//! accepted only when the call really lasted the grace, and the model then follows the
//! abandonment path (the thread ends on its own soon after), so the test stays exact without
//! being flaky. The controller model's members have a grace of 50 ms and follow the same rule
//! (see its section for the one case it cannot follow, a reset's stop on a loaded machine).

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, Weak};
use std::time::{Duration, Instant};

use common::{current_thread, Log, BOUND};
use parking_lot::Mutex;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use superloops::channel::{unbounded, Receiver, Sender};
use superloops::Strategy as Policy;
use superloops::{
    Ctx, LoopConfig, LoopController, LoopError, LoopHandle, LoopState, Signal, StopReport,
    SuperLoop,
};

const GRACE: Duration = Duration::from_millis(100);

/// `cases` cases, or `SUPERLOOPS_MODEL_CASES` for a longer run.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("SUPERLOOPS_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        // A failing case waits out its bounds at every step: shrinking it without a limit
        // would outlast CI. What it finds in a minute is printed with the failure.
        max_shrink_time: 60_000,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Puppets.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StartPlan {
    Allow,
    Decline,
    Fail,
    Panic,
}

/// What the running thread's next cycle does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Err,
    Panic,
    CtxStop,
    CtxFailure,
    /// Blocks ignoring stop until released.
    Block,
}

struct Plans {
    start: StartPlan,
    thread_start_panic: bool,
}

/// What `on_stop` writes in its log entry's detail (the controller model: the members' states).
type Note = Arc<dyn Fn() -> String + Send + Sync>;

/// What the test holds to pull a puppet's strings.
#[derive(Clone)]
struct Strings {
    log: Log,
    cmds: Receiver<Cmd>,
    /// (thread name, what `ctx.failure()` returned for `CtxFailure`)
    acks: Sender<(String, bool)>,
    release: Receiver<()>,
    plans: Arc<Mutex<Plans>>,
    note: Arc<Mutex<Option<Note>>>,
}

/// The test's ends of a puppet's strings.
struct Controls {
    log: Log,
    cmds: Sender<Cmd>,
    acks: Receiver<(String, bool)>,
    release: Sender<()>,
    plans: Arc<Mutex<Plans>>,
    note: Arc<Mutex<Option<Note>>>,
}

fn strings() -> (Strings, Controls) {
    let log = Log::default();
    let (cmd_tx, cmd_rx) = unbounded();
    let (ack_tx, ack_rx) = unbounded();
    let (rel_tx, rel_rx) = unbounded();
    let plans = Arc::new(Mutex::new(Plans {
        start: StartPlan::Allow,
        thread_start_panic: false,
    }));
    let note = Arc::new(Mutex::new(None));
    (
        Strings {
            log: log.clone(),
            cmds: cmd_rx,
            acks: ack_tx,
            release: rel_rx,
            plans: plans.clone(),
            note: Arc::clone(&note),
        },
        Controls {
            log,
            cmds: cmd_tx,
            acks: ack_rx,
            release: rel_tx,
            plans,
            note,
        },
    )
}

impl Strings {
    fn on_start(&mut self) -> Result<bool, LoopError> {
        self.log.push("on_start");
        let plan = std::mem::replace(&mut self.plans.lock().start, StartPlan::Allow);
        match plan {
            StartPlan::Allow => Ok(true),
            StartPlan::Decline => Ok(false),
            StartPlan::Fail => Err(LoopError::new("planned: no connection")),
            StartPlan::Panic => std::panic::panic_any("planned panic in on_start".to_owned()),
        }
    }
    fn on_stop(&mut self) {
        let note = self.note.lock().clone();
        self.log
            .push_detail("on_stop", note.map(|f| f()).unwrap_or_default());
    }
    fn on_thread_start(&mut self) {
        self.log.push("on_thread_start");
        if std::mem::take(&mut self.plans.lock().thread_start_panic) {
            std::panic::panic_any("planned panic in on_thread_start".to_owned());
        }
    }
    fn on_thread_stop(&mut self) {
        self.log.push("on_thread_stop");
    }
    fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
        let Some(cmd) = ctx.recv(&self.cmds) else {
            return Ok(());
        };
        let me = ctx.thread_name().to_owned();
        match cmd {
            Cmd::Err => {
                let _ = self.acks.send((me, false));
                Err(LoopError::new("planned error"))
            }
            Cmd::Panic => {
                let _ = self.acks.send((me, false));
                std::panic::panic_any("planned panic in cycle".to_owned())
            }
            Cmd::CtxStop => {
                ctx.stop();
                let _ = self.acks.send((me, false));
                Ok(())
            }
            Cmd::CtxFailure => {
                let exceeded = ctx.failure();
                let _ = self.acks.send((me, exceeded));
                Ok(())
            }
            Cmd::Block => {
                let _ = self.acks.send((me, false));
                let _ = self.release.recv();
                Ok(())
            }
        }
    }
}

macro_rules! puppet {
    ($ty:ident, $config:expr) => {
        struct $ty(Strings);
        impl SuperLoop for $ty {
            const CONFIG: LoopConfig = $config;
            fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
                self.0.cycle(ctx)
            }
            fn on_start(&mut self) -> Result<bool, LoopError> {
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
        }
    };
}

// Handle model: a tolerant budget, and a strict one that stops the loop.
puppet!(
    Lenient,
    LoopConfig::new("Lenient").grace(GRACE).max_failures(2)
);
puppet!(
    Strict,
    LoopConfig::new("Strict")
        .grace(GRACE)
        .max_failures(1)
        .stop_on_failure(true)
);
// Controller model. A short grace: a member blocked in its cycle is abandoned by a stop, a
// reset or a hard reset; each abandonment costs one grace of wall time.
const MEMBER_GRACE: Duration = Duration::from_millis(50);
puppet!(
    Steady,
    LoopConfig::new("Steady")
        .grace(MEMBER_GRACE)
        .max_failures(1)
);
puppet!(
    Brittle,
    LoopConfig::new("Brittle")
        .grace(MEMBER_GRACE)
        .max_failures(0)
        .stop_on_failure(true)
);
puppet!(
    Loner,
    LoopConfig::new("Loner")
        .grace(MEMBER_GRACE)
        .max_failures(1)
        .reset_globally(false)
);

fn quiet_planned_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let planned = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|s| s.starts_with("planned"));
            if !planned {
                default(info);
            }
        }));
    });
}

/// Polls until `observe()` equals `expected`; an error with both after [`BOUND`].
fn settle<O: PartialEq + std::fmt::Debug>(
    what: &str,
    expected: &O,
    observe: impl Fn() -> O,
) -> Result<(), TestCaseError> {
    settle_unless(what, expected, observe, || false).map(drop)
}

/// [`settle`], unless `inconclusive()` holds before the runtime has reached the model's state
/// (it took a path the model does not follow): then false.
fn settle_unless<O: PartialEq + std::fmt::Debug>(
    what: &str,
    expected: &O,
    observe: impl Fn() -> O,
    inconclusive: impl Fn() -> bool,
) -> Result<bool, TestCaseError> {
    let deadline = Instant::now() + BOUND;
    loop {
        let seen = observe();
        if &seen == expected {
            return Ok(true);
        }
        if inconclusive() {
            return Ok(false);
        }
        if Instant::now() > deadline {
            return Err(TestCaseError::fail(format!(
                "after {what}: the runtime never reached the model's state\n  model:   {expected:?}\n  runtime: {seen:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sends a command to the running thread and waits until that thread has taken it.
fn command(c: &Controls, cmd: Cmd, thread: &str) -> Result<bool, TestCaseError> {
    c.cmds.send(cmd).unwrap();
    let (who, exceeded) = c
        .acks
        .recv_timeout(BOUND)
        .map_err(|_| TestCaseError::fail(format!("{thread} never took command {cmd:?}")))?;
    prop_assert_eq!(&who, thread, "the command went to another thread");
    Ok(exceeded)
}

// ---------------------------------------------------------------------------------------
// The model of one handle.

#[derive(Clone, Debug)]
struct Thread {
    gen: u64,
    blocked: bool,
    signalled: bool,
}

#[derive(Clone, Debug)]
struct HandleModel {
    name: &'static str,
    grace: Duration,
    max_failures: u32,
    stop_on_failure: bool,
    reset_globally: bool,
    from_fn: bool,
    /// The current (non-abandoned) thread.
    live: Option<Thread>,
    /// Abandoned threads not yet ended, and whether each holds the loop's only value.
    abandoned: Vec<(Thread, bool)>,
    wanted: bool,
    queued: bool,
    /// Under its group's supervision: set by every start, cleared by a stop from outside.
    supervised: bool,
    /// Live threads (by generation) that ended with no `stop` caller waiting for them: each
    /// sends its group an `Ended` event (the controller model takes them from here).
    ended: Vec<u64>,
    /// A member of a group: a start whose `on_start` fails leaves it wanted, and sends its
    /// group a `StartFailed` event (counted here; the controller model takes them).
    linked: bool,
    start_failed: u32,
    failures: u32,
    gens: u64,
    start_plan: StartPlan,
    thread_start_panic: bool,
    // Hook calls.
    on_start: usize,
    allowed: usize,
    on_stop: usize,
    on_stop_on_loop_threads: usize,
    on_thread_start: usize,
    on_thread_stop: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct HandleObs {
    state: LoopState,
    alive: bool,
    running: bool,
    failures: u32,
    abandoned: usize,
    thread: Option<String>,
    on_start: usize,
    on_stop: usize,
    on_stop_on_loop_threads: usize,
    on_thread_start: usize,
    on_thread_stop: usize,
}

impl HandleModel {
    fn new(config: &LoopConfig, from_fn: bool) -> Self {
        HandleModel {
            name: config.name,
            grace: config.grace,
            max_failures: config.max_failures,
            stop_on_failure: config.stop_on_failure,
            reset_globally: config.reset_globally,
            from_fn,
            live: None,
            abandoned: Vec::new(),
            wanted: false,
            queued: false,
            supervised: false,
            ended: Vec::new(),
            linked: false,
            start_failed: 0,
            failures: 0,
            gens: 0,
            start_plan: StartPlan::Allow,
            thread_start_panic: false,
            on_start: 0,
            allowed: 0,
            on_stop: 0,
            on_stop_on_loop_threads: 0,
            on_thread_start: 0,
            on_thread_stop: 0,
        }
    }

    fn thread_name(&self) -> Option<String> {
        self.gens
            .checked_sub(1)
            .map(|g| format!("{}_{g}", self.name))
    }

    fn value_available(&self) -> bool {
        self.from_fn || !self.abandoned.iter().any(|(_, holds)| *holds)
    }

    fn state(&self) -> LoopState {
        if let Some(t) = &self.live {
            if t.signalled {
                LoopState::Stopping
            } else {
                LoopState::Running
            }
        } else if self.queued {
            LoopState::Starting
        } else if self.abandoned.iter().any(|(_, holds)| *holds) {
            LoopState::Abandoned
        } else if self.wanted {
            LoopState::Failed
        } else {
            LoopState::Stopped
        }
    }

    fn expected(&self) -> HandleObs {
        HandleObs {
            state: self.state(),
            alive: self.live.is_some(),
            running: self.wanted,
            failures: self.failures,
            abandoned: self.abandoned.len(),
            thread: self.thread_name(),
            on_start: self.on_start,
            on_stop: self.on_stop,
            on_stop_on_loop_threads: self.on_stop_on_loop_threads,
            on_thread_start: self.on_thread_start,
            on_thread_stop: self.on_thread_stop,
        }
    }

    /// `request_stop`: only the thread `only` (when given) is asked.
    fn request_stop(&mut self, only: Option<u64>) {
        match (&mut self.live, only) {
            (Some(t), Some(g)) if t.gen != g => return,
            (None, Some(_)) => return,
            (Some(t), _) => t.signalled = true,
            (None, None) => {}
        }
        self.wanted = false;
        self.queued = false;
    }

    fn record_failure(&mut self, from: Option<u64>) -> bool {
        self.failures += 1;
        if self.failures > self.max_failures {
            self.failures = 0;
            if self.stop_on_failure {
                self.request_stop(from);
            }
            true
        } else {
            false
        }
    }

    fn start_locked(&mut self) -> bool {
        self.queued = false;
        self.supervised = true;
        if let Some(t) = &self.live {
            self.wanted = true;
            if t.signalled {
                self.queued = true;
            }
            return false;
        }
        if !self.value_available() {
            self.wanted = true;
            self.queued = true;
            return false;
        }
        // A factory's fresh value replaces one an abandoned thread holds.
        for a in &mut self.abandoned {
            a.1 = false;
        }
        self.wanted = true;
        self.on_start += 1;
        match std::mem::replace(&mut self.start_plan, StartPlan::Allow) {
            StartPlan::Allow => {
                self.allowed += 1;
                let gen = self.gens;
                self.gens += 1;
                self.live = Some(Thread {
                    gen,
                    blocked: false,
                    signalled: false,
                });
                self.on_thread_start += 1;
                if std::mem::take(&mut self.thread_start_panic) {
                    self.record_failure(Some(gen));
                    self.end_live_on_its_own(false);
                }
                true
            }
            StartPlan::Decline => {
                // OTP's `ignore`: deliberately not running, and out of its group's supervision.
                self.wanted = false;
                self.supervised = false;
                false
            }
            StartPlan::Fail if self.linked => {
                // Still wanted: its group's supervisor starts it again.
                self.start_failed += 1;
                false
            }
            StartPlan::Fail => {
                self.wanted = false;
                false
            }
            StartPlan::Panic => {
                self.wanted = false;
                self.record_failure(None);
                false
            }
        }
    }

    /// The live thread ended without a `stop` caller waiting: `on_stop` runs at its end.
    fn end_live_on_its_own(&mut self, ran_thread_stop: bool) {
        if let Some(t) = self.live.take() {
            self.ended.push(t.gen);
        }
        if ran_thread_stop {
            self.on_thread_stop += 1;
        }
        self.on_stop += 1;
        self.on_stop_on_loop_threads += 1;
        self.settle();
    }

    /// A queued start runs once the value is back and no thread is live.
    fn settle(&mut self) {
        if self.queued && self.live.is_none() && self.value_available() {
            self.start_locked();
        }
    }

    /// Threads that are signalled and not blocked end, one after the other.
    fn advance(&mut self) {
        loop {
            if self
                .live
                .as_ref()
                .is_some_and(|t| t.signalled && !t.blocked)
            {
                self.end_live_on_its_own(true);
                continue;
            }
            if let Some(i) = self.abandoned.iter().position(|(t, _)| !t.blocked) {
                self.abandoned.remove(i);
                self.on_thread_stop += 1;
                self.on_stop += 1;
                self.on_stop_on_loop_threads += 1;
                self.settle();
                continue;
            }
            break;
        }
    }

    /// `stop` from outside. `abandon`: its thread did not end within the grace although it
    /// was not blocked (a loaded machine).
    fn stop(&mut self, abandon: bool) -> bool {
        self.stop_as(abandon, true)
    }

    /// A stop; `unsupervise`: from outside (a group's own reset or giving up does not take
    /// the loop out of supervision). True when no thread of it is left running.
    fn stop_as(&mut self, abandon: bool, unsupervise: bool) -> bool {
        self.wanted = false;
        self.queued = false;
        if unsupervise {
            self.supervised = false;
        }
        match self.live.take() {
            None => self.abandoned.is_empty(),
            Some(mut t) => {
                t.signalled = true;
                if t.blocked || abandon {
                    for a in &mut self.abandoned {
                        a.1 = false;
                    }
                    self.abandoned.push((t, true));
                    false
                } else {
                    self.on_thread_stop += 1;
                    self.on_stop += 1;
                    self.abandoned.is_empty()
                }
            }
        }
    }

    fn live_cycling(&self) -> Option<u64> {
        self.live
            .as_ref()
            .filter(|t| !t.blocked && !t.signalled)
            .map(|t| t.gen)
    }

    fn release_all(&mut self) {
        if let Some(t) = &mut self.live {
            t.blocked = false;
        }
        for (t, _) in &mut self.abandoned {
            t.blocked = false;
        }
        self.advance();
    }

    fn blocked(&self) -> usize {
        self.live.iter().filter(|t| t.blocked).count()
            + self.abandoned.iter().filter(|(t, _)| t.blocked).count()
    }
}

#[derive(Clone, Debug)]
enum HandleOp {
    Start,
    Stop,
    HardReset,
    Failure,
    Cycle(Cmd),
    Release,
    NextStart(StartPlan),
    PanicInNextThreadStart,
    Reads,
}

fn handle_op() -> impl Strategy<Value = HandleOp> {
    prop_oneof![
        4 => Just(HandleOp::Start),
        3 => Just(HandleOp::Stop),
        2 => Just(HandleOp::HardReset),
        3 => Just(HandleOp::Failure),
        1 => Just(HandleOp::Cycle(Cmd::Err)),
        1 => Just(HandleOp::Cycle(Cmd::Panic)),
        1 => Just(HandleOp::Cycle(Cmd::CtxStop)),
        2 => Just(HandleOp::Cycle(Cmd::CtxFailure)),
        2 => Just(HandleOp::Cycle(Cmd::Block)),
        2 => Just(HandleOp::Release),
        1 => Just(HandleOp::NextStart(StartPlan::Decline)),
        1 => Just(HandleOp::NextStart(StartPlan::Fail)),
        1 => Just(HandleOp::NextStart(StartPlan::Panic)),
        1 => Just(HandleOp::PanicInNextThreadStart),
        1 => Just(HandleOp::Reads),
    ]
}

fn observe_handle<T: SuperLoop>(h: &LoopHandle<T>, log: &Log) -> HandleObs {
    let st = h.status();
    let prefix = format!("{}_", T::CONFIG.name);
    let events = log.events();
    let count = |hook: &str| events.iter().filter(|e| e.hook == hook).count();
    HandleObs {
        state: st.state,
        alive: st.alive,
        running: st.running,
        failures: st.failures,
        abandoned: st.abandoned_threads,
        thread: st.thread_name,
        on_start: count("on_start"),
        on_stop: count("on_stop"),
        on_stop_on_loop_threads: events
            .iter()
            .filter(|e| e.hook == "on_stop" && e.thread.starts_with(&prefix))
            .count(),
        on_thread_start: count("on_thread_start"),
        on_thread_stop: count("on_thread_stop"),
    }
}

/// Runs one stop-like call. If its thread was not blocked but did not end within the grace
/// (on_stop did not run on this thread), the model takes the abandonment path — allowed only
/// when the call lasted the grace.
fn stop_like(
    model: &mut HandleModel,
    log: &Log,
    call: impl FnOnce() -> bool,
    apply: impl Fn(&mut HandleModel, bool) -> bool,
) -> Result<(bool, bool), TestCaseError> {
    let me = current_thread();
    let joinable = model.live.as_ref().is_some_and(|t| !t.blocked);
    let before = log.count_on("on_stop", &me);
    let began = Instant::now();
    let got = call();
    let took = began.elapsed();
    let joined = log.count_on("on_stop", &me) > before;
    let abandon = joinable && !joined;
    if abandon {
        prop_assert!(
            took >= model.grace,
            "a thread that was not blocked was abandoned after {took:?}, before its grace"
        );
    }
    let want = apply(model, abandon);
    Ok((got, want))
}

/// A puppet's handle: from one value, or from a factory making each value with the same strings.
fn puppet_handle<T: SuperLoop>(
    from_fn: bool,
    wrap: fn(Strings) -> T,
    s: &Strings,
) -> LoopHandle<T> {
    if from_fn {
        let s = s.clone();
        LoopHandle::from_fn(move || wrap(s.clone()))
    } else {
        LoopHandle::new(wrap(s.clone()))
    }
}

fn run_handle_case<T: SuperLoop>(
    from_fn: bool,
    wrap: fn(Strings) -> T,
    ops: &[HandleOp],
) -> Result<(), TestCaseError> {
    quiet_planned_panics();
    let (s, c) = strings();
    let h = puppet_handle(from_fn, wrap, &s);
    let mut m = HandleModel::new(&T::CONFIG, from_fn);
    for (step, op) in ops.iter().enumerate() {
        let what = format!("step {step}: {op:?}");
        match op {
            HandleOp::Start => {
                let got = h.start();
                let want = m.start_locked();
                m.advance();
                prop_assert_eq!(got, want, "{}: start()", what);
            }
            HandleOp::Stop => {
                let (got, want) = stop_like(
                    &mut m,
                    &c.log,
                    || h.stop(),
                    |m, a| {
                        let r = m.stop(a);
                        m.advance();
                        r
                    },
                )?;
                prop_assert_eq!(got, want, "{}: stop()", what);
            }
            HandleOp::HardReset => {
                let (got, want) = stop_like(
                    &mut m,
                    &c.log,
                    || h.hard_reset(),
                    |m, a| {
                        m.stop(a);
                        let r = m.start_locked();
                        m.advance();
                        r
                    },
                )?;
                prop_assert_eq!(got, want, "{}: hard_reset()", what);
            }
            HandleOp::Failure => {
                let got = h.failure();
                let want = m.record_failure(None);
                m.advance();
                prop_assert_eq!(got, want, "{}: failure()", what);
            }
            HandleOp::Cycle(cmd) => {
                let Some(gen) = m.live_cycling() else {
                    continue; // no thread cycling to take it
                };
                // Let the thread reach its cycle first (a thread just started may still be
                // in on_thread_start): the command waits in the channel meanwhile.
                let thread = format!("{}_{gen}", m.name);
                let exceeded = command(&c, *cmd, &thread)?;
                match cmd {
                    Cmd::Err => {
                        m.record_failure(Some(gen));
                    }
                    Cmd::Panic => {
                        m.record_failure(Some(gen));
                        if m.live.is_some() {
                            m.end_live_on_its_own(true);
                        }
                    }
                    Cmd::CtxStop => m.request_stop(Some(gen)),
                    Cmd::CtxFailure => {
                        let want = m.record_failure(Some(gen));
                        prop_assert_eq!(exceeded, want, "{}: ctx.failure()", what);
                    }
                    Cmd::Block => {
                        if let Some(t) = &mut m.live {
                            t.blocked = true;
                        }
                    }
                }
                m.advance();
            }
            HandleOp::Release => {
                for _ in 0..m.blocked() {
                    c.release.send(()).unwrap();
                }
                m.release_all();
            }
            HandleOp::NextStart(plan) => {
                c.plans.lock().start = *plan;
                m.start_plan = *plan;
            }
            HandleOp::PanicInNextThreadStart => {
                c.plans.lock().thread_start_panic = true;
                m.thread_start_panic = true;
            }
            HandleOp::Reads => {
                let want = m.expected();
                prop_assert_eq!(h.is_alive(), want.alive, "{}: is_alive", what);
                prop_assert_eq!(h.is_running(), want.running, "{}: is_running", what);
                prop_assert_eq!(h.failures(), want.failures, "{}: failures", what);
                prop_assert_eq!(h.thread_name(), want.thread, "{}: thread_name", what);
                prop_assert_eq!(h.config(), &T::CONFIG);
                let shown = format!("{:?}", h);
                prop_assert!(shown.starts_with("LoopHandle"), "{}", shown);
                let clone = h.clone();
                let (a, b) = (clone.status(), h.status());
                prop_assert_eq!((a.state, a.thread_name), (b.state, b.thread_name));
            }
        }
        let expected = m.expected();
        settle(&what, &expected, || observe_handle(&h, &c.log))?;
    }

    // The end: release everything, stop, and check the pairing guarantees.
    for _ in 0..m.blocked() {
        c.release.send(()).unwrap();
    }
    m.release_all();
    settle("releasing every thread", &m.expected(), || {
        observe_handle(&h, &c.log)
    })?;
    let (got, want) = stop_like(
        &mut m,
        &c.log,
        || h.stop(),
        |m, a| {
            let r = m.stop(a);
            m.advance();
            r
        },
    )?;
    prop_assert_eq!(got, want, "final stop()");
    settle("the final stop", &m.expected(), || {
        observe_handle(&h, &c.log)
    })?;
    let obs = observe_handle(&h, &c.log);
    prop_assert_eq!(obs.state, LoopState::Stopped);
    prop_assert_eq!(
        obs.on_stop,
        m.allowed,
        "every allowed on_start has one on_stop"
    );
    prop_assert!(obs.abandoned == 0 && !obs.alive);
    common::assert_nothing_ran_under_a_lock();
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn handle_follows_the_model(
        strict in any::<bool>(),
        from_fn in any::<bool>(),
        ops in prop::collection::vec(handle_op(), 1..24),
    ) {
        if strict {
            run_handle_case(from_fn, Strict, &ops)?;
        } else {
            run_handle_case(from_fn, Lenient, &ops)?;
        }
    }
}

// ---------------------------------------------------------------------------------------
// The model of a controller with three puppet members.
//
// Each member is modelled by a `HandleModel` (the handle model's rules, with `supervised` and
// the `Ended` events its thread sends), and the controller by its supervisor, green light,
// resets and events. Besides the operations of the controller and of the members' handles
// (`start`, `stop`, `hard_reset`, `failure`, and making its next `on_start` decline or fail:
// a failed start is retried by the supervisor and counted against `max_restarts`, a declined
// one leaves the member out of supervision), the driver blocks a member's cycle ignoring stop
// (so that a stop, a reset or a hard reset abandons it after its short grace) and releases the
// blocked threads; it stops the controller with `stop`, `stop_loops`, `stop_with_report` and
// `run_until` (a signal already on, or one that goes on 1 ms later), and ends each case with a
// `stop` or by dropping the controller (its only clone). Cases are built with or without
// `stop_all_at_once`, with members made from one value or from a factory.
//
// After each step it compares each member's state, hook counts (where `on_stop` ran is left
// out: a thread that ends on its own may be joined by a reset under way instead), abandoned
// threads and thread name; the controller's supervisor, green light, resets, `on_reset` calls
// and alive/stalled members; the return values and stop reports; and the threads of the case
// alive in the process (`/proc/self/task`): at most one live thread per member, plus its
// abandoned ones. A stop run on the test thread also checks its order: each `on_stop` it runs
// records which members were still running then — in dependency order every member declared
// before it that was running, all at once none. At the end every thread is released, and no
// thread of the case may be left; hooks pair.
//
// A stop that abandons a thread that was *not* blocked (a machine too loaded for it to end
// within its grace) is accepted when the call lasted the grace, and the model then follows the
// abandonment path (the thread ends on its own soon after). A stop on the supervisor thread (a
// reset's, or giving up) cannot be timed from here: the model predicts the join, which a
// later abandonment usually reaches too (the queued restart runs when the value comes back);
// when the runtime does not reach the model's state and one of those threads ran `on_stop`
// itself (it was abandoned), the case ends early, inconclusive (`end_inconclusive`).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Steady,
    Brittle,
    Loner,
}

impl Kind {
    fn config(self) -> LoopConfig {
        match self {
            Kind::Steady => Steady::CONFIG,
            Kind::Brittle => Brittle::CONFIG,
            Kind::Loner => Loner::CONFIG,
        }
    }
}

/// The supervisor thread's name prefix (unique in this binary: threads are counted by name).
const CTL: &str = "CtlModel";

#[derive(Clone, Debug)]
enum Ev {
    Exceeded(usize),
    Ended(usize, u64),
    StartFailed(usize),
}

#[derive(Clone, Debug)]
struct ControllerModel {
    strategy: Policy,
    max_restarts: Option<u32>,
    at_once: bool,
    supervisor: bool,
    /// Supervisor threads started so far.
    supervisors: u64,
    failed: bool,
    green: bool,
    resets: u64,
    reset_times: u32,
    on_reset: u64,
    members: Vec<HandleModel>,
    /// The members of the group, in declaration order: a removed one is not in it, and one
    /// added again is the last.
    order: Vec<usize>,
    /// Events sent and not handled (they wait while no supervisor runs).
    pending: VecDeque<Ev>,
    /// The group's mailbox takes events: from its creation until a stop, and again from a
    /// start of the supervisor (events sent before the first start wait for it).
    mailbox_open: bool,
    /// An event was handled while the group had given up: a no-op whose handling nothing
    /// observable tells apart from its not being handled yet (`wait_green` waits for a green
    /// light that is off). The case ends there rather than race it.
    unobservable: bool,
    /// The threads (member, thread name) the supervisor's stops in this step are expected to
    /// join: the driver watches for one of them running `on_stop` itself, abandoned.
    supervisor_joins: Vec<(usize, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ControllerObs {
    supervisor: Option<String>,
    green: bool,
    failed: bool,
    resets: u64,
    on_reset: u64,
    has_alive: bool,
    alive: usize,
    stalled: usize,
    members: Vec<HandleObs>,
    threads: Vec<String>,
}

/// A member's observation as the controller model compares it: without where `on_stop` ran.
fn in_group(mut obs: HandleObs) -> HandleObs {
    obs.on_stop_on_loop_threads = 0;
    obs
}

/// Thread names of the controller model's case (members and supervisor), sorted.
fn ctrl_threads() -> Vec<String> {
    threads_named(&["Steady_", "Brittle_", "Loner_", "CtlModel_"])
}

impl ControllerModel {
    /// The members of the group now (not those removed), in declaration order.
    fn grouped(&self) -> impl Iterator<Item = &HandleModel> {
        self.order.iter().map(|&i| &self.members[i])
    }

    fn expected(&self) -> ControllerObs {
        let mut threads: Vec<String> = self
            .members
            .iter()
            .flat_map(|h| {
                h.live
                    .iter()
                    .chain(h.abandoned.iter().map(|(t, _)| t))
                    .map(|t| format!("{}_{}", h.name, t.gen))
            })
            .collect();
        if self.supervisor {
            threads.push(format!("{CTL}_{}", self.supervisors - 1));
        }
        threads.sort();
        // `stalled_loops`: wanted running with no live thread, or left with an abandoned one;
        // or stopped by its own thread while still supervised (the group starts it again).
        let stalled = |h: &HandleModel| match h.state() {
            LoopState::Failed | LoopState::Abandoned => true,
            LoopState::Starting => h.live.is_none() && !h.abandoned.is_empty(),
            LoopState::Stopped => h.supervised,
            _ => false,
        };
        ControllerObs {
            supervisor: self
                .supervisor
                .then(|| format!("{CTL}_{}", self.supervisors - 1)),
            // An event not handled yet (no supervisor runs) keeps the light off: it may be a
            // member that should run and does not.
            green: self.green && self.pending.is_empty(),
            failed: self.failed,
            resets: self.resets,
            on_reset: self.on_reset,
            has_alive: self.grouped().any(|h| h.live.is_some()),
            alive: self.grouped().filter(|h| h.live.is_some()).count(),
            stalled: self.grouped().filter(|h| stalled(h)).count(),
            members: self
                .members
                .iter()
                .map(|h| in_group(h.expected()))
                .collect(),
            threads,
        }
    }

    /// Takes the `Ended` events the members' threads sent, and the `StartFailed` events of
    /// their failed starts (merged with one already queued for the member).
    fn collect(&mut self) {
        for (i, h) in self.members.iter_mut().enumerate() {
            if !h.linked {
                // Removed: it has no line to the group.
                h.ended.clear();
                h.start_failed = 0;
                continue;
            }
            for gen in h.ended.drain(..) {
                if self.mailbox_open {
                    self.pending.push_back(Ev::Ended(i, gen));
                }
            }
            if std::mem::take(&mut h.start_failed) > 0
                && self.mailbox_open
                && !self
                    .pending
                    .iter()
                    .any(|e| matches!(e, Ev::StartFailed(j) if *j == i))
            {
                self.pending.push_back(Ev::StartFailed(i));
            }
        }
    }

    /// A member's failure (from its thread `from`, or from outside).
    fn record_failure(&mut self, i: usize, from: Option<u64>) -> bool {
        let exceeded = self.members[i].record_failure(from);
        // After a stop the group's mailbox is closed: nobody will handle the event. One
        // already queued for the member absorbs it (the mailbox merges them).
        if exceeded
            && self.members[i].linked
            && self.mailbox_open
            && !self
                .pending
                .iter()
                .any(|e| matches!(e, Ev::Exceeded(j) if *j == i))
        {
            self.pending.push_back(Ev::Exceeded(i));
        }
        self.members[i].advance();
        self.collect();
        exceeded
    }

    fn process(&mut self) {
        self.collect();
        while self.supervisor {
            let Some(ev) = self.pending.pop_front() else {
                break;
            };
            if self.failed {
                self.unobservable = true;
            }
            match ev {
                Ev::Exceeded(i) => self.reset(i),
                Ev::Ended(i, gen) => {
                    let h = &mut self.members[i];
                    if !self.failed
                        && h.supervised
                        && h.live.is_none()
                        && !h.queued
                        && h.gens == gen + 1
                    {
                        h.start_locked();
                    }
                }
                // A failed start is retried (at once: the case runs with no backoff) and
                // counted against the restart intensity.
                Ev::StartFailed(i) => {
                    if self.failed || !self.admit() {
                        continue;
                    }
                    let h = &mut self.members[i];
                    if h.supervised && h.wanted && h.live.is_none() && !h.queued {
                        h.start_locked();
                    }
                }
            }
            self.collect();
        }
    }

    /// The supervisor is about to stop members `set`: their threads that are not blocked are
    /// expected to end within their grace, joined by the supervisor.
    fn supervisor_stops(&mut self, set: &[usize]) {
        for &i in set {
            let h = &self.members[i];
            if let Some(t) = h.live.as_ref().filter(|t| !t.blocked) {
                self.supervisor_joins
                    .push((i, format!("{}_{}", h.name, t.gen)));
            }
        }
    }

    /// Counts one restart against `max_restarts`; past it, gives up and returns false.
    fn admit(&mut self) -> bool {
        if let Some(max) = self.max_restarts {
            if self.reset_times >= max {
                // Giving up stops every member without taking it out of supervision (a
                // parent's reset restarts them); while the group has given up, its own events
                // restart nothing.
                self.supervisor_stops(&self.order.clone());
                self.stop_members(&[false; 3], false);
                self.failed = true;
                self.green = false;
                return false;
            }
            self.reset_times += 1;
        }
        true
    }

    fn reset(&mut self, trigger: usize) {
        if self.failed || !self.admit() {
            return;
        }
        self.resets += 1;
        // In declaration order; "the rest" of rest-for-one is the rest in that order.
        let from = self.order.iter().position(|&i| i == trigger).unwrap_or(0);
        let set: Vec<usize> = self
            .order
            .iter()
            .enumerate()
            .filter(|&(at, &i)| {
                let h = &self.members[i];
                match self.strategy {
                    Policy::OneForOne => i == trigger,
                    Policy::OneForAll => h.reset_globally || (i == trigger && h.live.is_none()),
                    Policy::RestForOne => i == trigger || (at > from && h.reset_globally),
                }
            })
            .map(|(_, &i)| i)
            .collect();
        // The reset answers the excesses its set counted so far (their epoch moves on, so a
        // queued `Exceeded` of theirs is stale) and the ends of the threads it replaces.
        self.pending.retain(|e| match e {
            Ev::Exceeded(j) | Ev::Ended(j, _) => !set.contains(j),
            Ev::StartFailed(_) => true,
        });
        // A thread blocked past its grace is abandoned; its restart is a hard reset (at once
        // from a factory's fresh value, else queued until the value comes back).
        self.supervisor_stops(&set);
        for &i in set.iter().rev() {
            self.members[i].stop_as(false, false);
        }
        self.on_reset += 1;
        for &i in &set {
            let h = &mut self.members[i];
            h.failures = 0;
            if h.supervised {
                h.start_locked();
            }
        }
        self.green = true;
    }

    /// Stops every member, the last declared first. `abandon[i]`: member `i`'s thread was not
    /// blocked yet did not end within its grace. Returns the stop report's names: (stopped in
    /// time, abandoned).
    fn stop_members(&mut self, abandon: &[bool], unsupervise: bool) -> (Vec<String>, Vec<String>) {
        let (mut stopped, mut abandoned) = (Vec::new(), Vec::new());
        for &i in self.order.iter().rev() {
            let h = &mut self.members[i];
            let ran = h.live.is_some();
            let clean = h.stop_as(abandon[i], unsupervise);
            let name = h.thread_name().unwrap_or_else(|| h.name.to_owned());
            if clean && !ran {
                // No thread of it was running: it is in no list of the report.
            } else if clean {
                stopped.push(name);
            } else {
                abandoned.push(name);
            }
        }
        for h in &mut self.members {
            h.advance();
        }
        self.collect();
        (stopped, abandoned)
    }

    /// `stop`, `stop_with_report`, `run_until`, or the last clone's drop.
    fn stop_all(&mut self, abandon: &[bool]) -> (Vec<String>, Vec<String>) {
        let names = self.stop_members(abandon, true);
        // Events nobody will handle are dropped with the supervisor, and the mailbox closes.
        self.pending.clear();
        self.mailbox_open = false;
        self.supervisor = false;
        self.green = !self.failed;
        names
    }
}

#[derive(Clone, Debug)]
enum CtrlOp {
    Start,
    Stop,
    StopWithReport,
    /// `run_until` a signal already on (true), or one that goes on 1 ms later.
    RunUntil(bool),
    StopLoops,
    Maintain,
    MemberStart(usize),
    MemberStop(usize),
    MemberHardReset(usize),
    MemberFailure(usize),
    MemberCycle(usize, Cmd),
    /// The member's next `on_start` declines (`false`) or fails (`Err`).
    MemberNextStart(usize, StartPlan),
    /// `controller.remove(member)`: stopped, out of the group; its handle works on its own.
    Remove(usize),
    /// `controller.add(member)`: a removed member joins again, the last in declaration order.
    Add(usize),
    /// Releases every blocked thread.
    Release,
    Reads,
}

fn ctrl_op() -> impl Strategy<Value = CtrlOp> {
    let i = 0..3usize;
    prop_oneof![
        2 => Just(CtrlOp::Start),
        1 => Just(CtrlOp::Stop),
        1 => Just(CtrlOp::StopWithReport),
        1 => any::<bool>().prop_map(CtrlOp::RunUntil),
        1 => Just(CtrlOp::StopLoops),
        4 => Just(CtrlOp::Maintain),
        2 => i.clone().prop_map(CtrlOp::MemberStart),
        2 => i.clone().prop_map(CtrlOp::MemberStop),
        2 => i.clone().prop_map(CtrlOp::MemberHardReset),
        4 => i.clone().prop_map(CtrlOp::MemberFailure),
        4 => (i.clone(), prop_oneof![
            Just(Cmd::Err),
            Just(Cmd::Panic),
            Just(Cmd::CtxStop),
            Just(Cmd::CtxFailure),
        ])
            .prop_map(|(i, c)| CtrlOp::MemberCycle(i, c)),
        3 => i.clone().prop_map(|i| CtrlOp::MemberCycle(i, Cmd::Block)),
        2 => (i.clone(), prop_oneof![Just(StartPlan::Decline), Just(StartPlan::Fail)])
            .prop_map(|(i, p)| CtrlOp::MemberNextStart(i, p)),
        1 => i.clone().prop_map(CtrlOp::Remove),
        1 => i.prop_map(CtrlOp::Add),
        2 => Just(CtrlOp::Release),
        1 => Just(CtrlOp::Reads),
    ]
}

/// One member, type-erased.
trait MemberOps: Send + Sync {
    fn start(&self) -> bool;
    fn stop(&self) -> bool;
    fn hard_reset(&self) -> bool;
    fn failure(&self) -> bool;
    fn state(&self) -> LoopState;
    fn observe(&self, log: &Log) -> HandleObs;
    fn add_to(&self, c: &LoopController);
    fn remove_from(&self, c: &LoopController) -> bool;
}

impl<T: SuperLoop> MemberOps for LoopHandle<T> {
    fn start(&self) -> bool {
        LoopHandle::start(self)
    }
    fn stop(&self) -> bool {
        LoopHandle::stop(self)
    }
    fn hard_reset(&self) -> bool {
        LoopHandle::hard_reset(self)
    }
    fn failure(&self) -> bool {
        LoopHandle::failure(self)
    }
    fn state(&self) -> LoopState {
        self.status().state
    }
    fn observe(&self, log: &Log) -> HandleObs {
        in_group(observe_handle(self, log))
    }
    fn add_to(&self, c: &LoopController) {
        c.add(self);
    }
    fn remove_from(&self, c: &LoopController) -> bool {
        c.remove(self)
    }
}

type Members = [(Arc<dyn MemberOps>, Controls)];

fn add_member<T: SuperLoop>(
    c: &LoopController,
    from_fn: bool,
    wrap: fn(Strings) -> T,
    s: &Strings,
) -> Arc<dyn MemberOps> {
    let h = puppet_handle(from_fn, wrap, s);
    c.add(&h);
    Arc::new(h)
}

fn observe_controller(
    c: &LoopController,
    members: &Members,
    on_reset: &AtomicU64,
) -> ControllerObs {
    let health = c.health();
    ControllerObs {
        supervisor: health.supervisor.clone(),
        green: c.is_green(),
        failed: health.failed,
        resets: c.resets(),
        on_reset: on_reset.load(Ordering::SeqCst),
        has_alive: c.has_alive_loops(),
        alive: c.alive_loops().len(),
        stalled: c.stalled_loops().len(),
        members: members.iter().map(|(m, c)| m.observe(&c.log)).collect(),
        threads: ctrl_threads(),
    }
}

/// What a stop of the whole group returned.
enum Stopped {
    Clean(bool),
    Report(StopReport),
    /// The controller's drop returns nothing.
    Nothing,
}

/// Runs a stop of every member on this thread (`whole`: of the controller too) and applies it
/// to the model: the return value or report, and the order in which the members were asked.
fn stop_group(
    m: &mut ControllerModel,
    members: &Members,
    what: &str,
    whole: bool,
    call: impl FnOnce() -> Stopped,
) -> Result<(), TestCaseError> {
    let me = current_thread();
    let on_stops = |members: &Members| -> Vec<usize> {
        members
            .iter()
            .map(|(_, c)| c.log.count_on("on_stop", &me))
            .collect()
    };
    let before = on_stops(members);
    let joinable: Vec<bool> = m
        .members
        .iter()
        .map(|h| h.live.as_ref().is_some_and(|t| !t.blocked))
        .collect();
    let cycling: Vec<bool> = m
        .members
        .iter()
        .map(|h| h.live.as_ref().is_some_and(|t| !t.signalled))
        .collect();
    let began = Instant::now();
    let got = call();
    let took = began.elapsed();
    let joined: Vec<bool> = on_stops(members)
        .iter()
        .zip(&before)
        .map(|(after, before)| after > before)
        .collect();
    // A member removed from the group is not stopped by it.
    let abandon: Vec<bool> = (0..members.len())
        .map(|i| m.members[i].linked && joinable[i] && !joined[i])
        .collect();
    for (i, h) in m.members.iter().enumerate() {
        if abandon[i] {
            prop_assert!(
                took >= h.grace,
                "{}: {}'s thread was not blocked, yet abandoned after {:?}, before its grace",
                what,
                h.name,
                took
            );
        }
    }
    let (stopped, abandoned) = if whole {
        m.stop_all(&abandon)
    } else {
        m.stop_members(&abandon, true)
    };
    match got {
        Stopped::Clean(clean) => prop_assert_eq!(clean, abandoned.is_empty(), "{}", what),
        Stopped::Report(r) => {
            prop_assert_eq!(&r.stopped, &stopped, "{}: stopped in time", what);
            prop_assert_eq!(&r.abandoned, &abandoned, "{}: abandoned", what);
        }
        Stopped::Nothing => {}
    }
    // When member `j`'s on_stop ran here, in dependency order every member declared before it
    // that was running was still running (not yet asked); all at once, none was.
    for (j, (_, ctl)) in members.iter().enumerate() {
        if !joined[j] {
            continue;
        }
        let seen = ctl
            .log
            .events()
            .into_iter()
            .rev()
            .find(|e| e.hook == "on_stop" && e.thread == me)
            .map(|e| e.detail)
            .unwrap_or_default();
        let place = |i: usize| m.order.iter().position(|&k| k == i);
        let want: String = (0..members.len())
            .map(|i| {
                let before = place(i).zip(place(j)).is_some_and(|(a, b)| a < b);
                // A removed member runs on through the group's stop.
                let removed = !m.members[i].linked;
                if cycling[i] && (removed || (before && !m.at_once)) {
                    'R'
                } else {
                    '-'
                }
            })
            .collect();
        prop_assert_eq!(
            seen,
            want,
            "{}: running members (R) when member {}'s on_stop ran",
            what,
            j
        );
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Ending {
    Stop,
    /// Drops the controller (its only clone) while members run.
    Drop,
}

fn run_controller_case(
    strategy: Policy,
    max_restarts: Option<u32>,
    at_once: bool,
    spec: [(Kind, bool); 3],
    ops: &[CtrlOp],
    ending: Ending,
) -> Result<(), TestCaseError> {
    // The case observes its threads by name: one case at a time in this process.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _alone = ONE_AT_A_TIME.lock();
    quiet_planned_panics();
    let on_reset = Arc::new(AtomicU64::new(0));
    let counter = on_reset.clone();
    let mut c = LoopController::new()
        .named(CTL)
        .strategy(strategy)
        // No backoff: every restart is made as its event is handled, in the order the model
        // handles them. With one, whether a member's second lone restart waits depends on the
        // time since its first (`next_backoff`), and a restart that waits lets the events
        // queued behind it go first (a restart limit reached meanwhile gives up before the
        // retry): an order the model cannot know. Backoffs are tested on a `ManualClock`
        // (tests/supervision.rs and the policy's unit tests).
        .backoff(Duration::ZERO, Duration::ZERO)
        .on_reset(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
    if let Some(max) = max_restarts {
        c = c.max_restarts(max, Duration::from_secs(3600));
    }
    if at_once {
        c = c.stop_all_at_once();
    }
    let members: Vec<(Arc<dyn MemberOps>, Controls)> = spec
        .iter()
        .map(|&(kind, from_fn)| {
            let (s, ctl) = strings();
            let h = match kind {
                Kind::Steady => add_member(&c, from_fn, Steady, &s),
                Kind::Brittle => add_member(&c, from_fn, Brittle, &s),
                Kind::Loner => add_member(&c, from_fn, Loner, &s),
            };
            (h, ctl)
        })
        .collect();
    // Every on_stop notes which members are running (R) at that moment.
    let weak: Vec<Weak<dyn MemberOps>> = members.iter().map(|(h, _)| Arc::downgrade(h)).collect();
    let note: Note = Arc::new(move || {
        weak.iter()
            .map(|h| match h.upgrade() {
                Some(h) if h.state() == LoopState::Running => 'R',
                _ => '-',
            })
            .collect()
    });
    for (_, ctl) in &members {
        *ctl.note.lock() = Some(note.clone());
    }
    let mut m = ControllerModel {
        strategy,
        max_restarts,
        at_once,
        supervisor: false,
        supervisors: 0,
        failed: false,
        green: true,
        resets: 0,
        reset_times: 0,
        on_reset: 0,
        members: spec
            .iter()
            .map(|&(kind, from_fn)| HandleModel {
                linked: true,
                ..HandleModel::new(&kind.config(), from_fn)
            })
            .collect(),
        order: vec![0, 1, 2],
        pending: VecDeque::new(),
        mailbox_open: true,
        unobservable: false,
        supervisor_joins: Vec::new(),
    };
    let release_all = |m: &mut ControllerModel| {
        for (h, (_, ctl)) in m.members.iter_mut().zip(&members) {
            for _ in 0..h.blocked() {
                ctl.release.send(()).unwrap();
            }
            h.release_all();
        }
        m.collect();
    };

    for (step, op) in ops.iter().enumerate() {
        let what = format!("step {step}: {op:?}");
        match op {
            CtrlOp::Start => {
                let got = c.start();
                let want = !m.supervisor;
                if want {
                    m.supervisor = true;
                    m.mailbox_open = true;
                    m.supervisors += 1;
                }
                prop_assert_eq!(got, want, "{}: start()", what);
            }
            CtrlOp::Stop => {
                stop_group(&mut m, &members, &what, true, || Stopped::Clean(c.stop()))?;
            }
            CtrlOp::StopWithReport => {
                stop_group(&mut m, &members, &what, true, || {
                    Stopped::Report(c.stop_with_report())
                })?;
            }
            CtrlOp::RunUntil(on) => {
                let signal = if *on {
                    let s = Signal::new();
                    s.go();
                    s
                } else {
                    Signal::after(Duration::from_millis(1))
                };
                stop_group(&mut m, &members, &what, true, || {
                    Stopped::Report(c.run_until(&signal))
                })?;
            }
            CtrlOp::StopLoops => {
                stop_group(&mut m, &members, &what, false, || {
                    Stopped::Clean(c.stop_loops())
                })?;
            }
            CtrlOp::Maintain => {
                // A start that fails during maintain_loops sends its supervisor an event that,
                // past max_restarts, gives the group up: a stop of the group, which the
                // maintain under way heeds at its next member. Which later members it starts
                // is then a race the model does not predict: the step is skipped.
                let racy = m.supervisor
                    && m.max_restarts.is_some_and(|max| m.reset_times >= max)
                    && m.grouped()
                        .any(|h| h.live.is_none() && h.start_plan == StartPlan::Fail);
                if racy {
                    continue;
                }
                c.maintain_loops();
                m.failed = false;
                m.green = true;
                for i in m.order.clone() {
                    let h = &mut m.members[i];
                    if h.live.is_none() {
                        h.start_locked();
                    }
                }
            }
            CtrlOp::MemberNextStart(i, plan) => {
                members[*i].1.plans.lock().start = *plan;
                m.members[*i].start_plan = *plan;
            }
            CtrlOp::MemberStart(i) => {
                let got = members[*i].0.start();
                let want = m.members[*i].start_locked();
                prop_assert_eq!(got, want, "{}: start()", what);
            }
            CtrlOp::MemberStop(i) => {
                let (got, want) = stop_like(
                    &mut m.members[*i],
                    &members[*i].1.log,
                    || members[*i].0.stop(),
                    |h, a| {
                        let r = h.stop(a);
                        h.advance();
                        r
                    },
                )?;
                prop_assert_eq!(got, want, "{}: stop()", what);
            }
            CtrlOp::MemberHardReset(i) => {
                let (got, want) = stop_like(
                    &mut m.members[*i],
                    &members[*i].1.log,
                    || members[*i].0.hard_reset(),
                    |h, a| {
                        h.stop(a);
                        let r = h.start_locked();
                        h.advance();
                        r
                    },
                )?;
                prop_assert_eq!(got, want, "{}: hard_reset()", what);
            }
            CtrlOp::MemberFailure(i) => {
                let got = members[*i].0.failure();
                let want = m.record_failure(*i, None);
                prop_assert_eq!(got, want, "{}: failure()", what);
            }
            CtrlOp::MemberCycle(i, cmd) => {
                let Some(gen) = m.members[*i].live_cycling() else {
                    continue;
                };
                let thread = format!("{}_{gen}", m.members[*i].name);
                let exceeded = command(&members[*i].1, *cmd, &thread)?;
                match cmd {
                    Cmd::Err => {
                        m.record_failure(*i, Some(gen));
                    }
                    Cmd::Panic => {
                        m.record_failure(*i, Some(gen));
                        if m.members[*i].live.is_some() {
                            m.members[*i].end_live_on_its_own(true);
                        }
                    }
                    Cmd::CtxStop => {
                        m.members[*i].request_stop(Some(gen));
                        m.members[*i].advance();
                    }
                    Cmd::CtxFailure => {
                        let want = m.record_failure(*i, Some(gen));
                        prop_assert_eq!(exceeded, want, "{}: ctx.failure()", what);
                    }
                    Cmd::Block => {
                        if let Some(t) = &mut m.members[*i].live {
                            t.blocked = true;
                        }
                    }
                }
            }
            CtrlOp::Remove(i) => {
                let was = m.members[*i].linked;
                if !was {
                    // Not a member: nothing happens to it.
                    prop_assert!(!members[*i].0.remove_from(&c), "{}: remove()", what);
                    continue;
                }
                let (got, _) = stop_like(
                    &mut m.members[*i],
                    &members[*i].1.log,
                    || members[*i].0.remove_from(&c),
                    |h, a| {
                        if h.linked {
                            h.stop_as(a, true);
                        }
                        h.advance();
                        true
                    },
                )?;
                prop_assert_eq!(got, was, "{}: remove()", what);
                if was {
                    m.members[*i].linked = false;
                    m.order.retain(|&k| k != *i);
                    // Its queued events are dropped with it.
                    m.pending.retain(|e| match e {
                        Ev::Exceeded(k) | Ev::Ended(k, _) | Ev::StartFailed(k) => k != i,
                    });
                    m.collect();
                }
            }
            CtrlOp::Add(i) => {
                if m.members[*i].linked {
                    // Adding a member twice is not a thing the model does.
                    continue;
                }
                members[*i].0.add_to(&c);
                m.members[*i].linked = true;
                m.order.push(*i);
            }
            CtrlOp::Release => release_all(&mut m),
            CtrlOp::Reads => {
                let health = c.health();
                prop_assert_eq!(health.members.len(), m.order.len());
                prop_assert!(health.to_string().contains(CTL));
                let shown = format!("{:?}", c);
                prop_assert!(shown.starts_with("LoopController"), "{}", shown);
                // Dropping a clone that is not the last stops nothing.
                drop(c.clone());
            }
        }
        m.process();
        let expected = m.expected();
        if m.supervisor && !m.failed {
            let waited = Instant::now();
            let green = c.wait_green(BOUND);
            prop_assert!(
                green,
                "{}: never green again (wait_green returned after {:?}):\n{}waits: {}state: {}",
                what,
                waited.elapsed(),
                c.health(),
                superloops::__private::wait_graph(),
                superloops::__private::controller_state(&c)
            );
        }
        let settled = settle_unless(
            &what,
            &expected,
            || observe_controller(&c, &members, &on_reset),
            || {
                m.supervisor_joins
                    .iter()
                    .any(|(i, t)| members[*i].1.log.count_on("on_stop", t) > 0)
            },
        )?;
        if !settled {
            return end_inconclusive(
                &what,
                "a reset abandoned a thread that was not blocked (a loaded machine)",
                c,
                &members,
                &m,
            );
        }
        m.supervisor_joins.clear();
        if m.unobservable {
            break;
        }
    }

    // The end: stop (or drop the controller), release every blocked thread; then no thread of
    // the case is left, and hooks pair. A removed member is not the group's to stop: its own
    // handle stops it first.
    for (i, (h, ctl)) in members.iter().enumerate() {
        if m.members[i].linked {
            continue;
        }
        let (got, want) = stop_like(
            &mut m.members[i],
            &ctl.log,
            || h.stop(),
            |h, a| {
                let r = h.stop(a);
                h.advance();
                r
            },
        )?;
        prop_assert_eq!(got, want, "the end: stop() of removed member {}", i);
    }
    match ending {
        Ending::Stop => {
            stop_group(&mut m, &members, "final stop()", true, || {
                Stopped::Clean(c.stop())
            })?;
        }
        Ending::Drop => {
            stop_group(
                &mut m,
                &members,
                "dropping the controller",
                true,
                move || {
                    drop(c);
                    Stopped::Nothing
                },
            )?;
        }
    }
    release_all(&mut m);
    let expected = m.expected();
    let observe = || {
        (
            members
                .iter()
                .map(|(h, ctl)| h.observe(&ctl.log))
                .collect::<Vec<_>>(),
            ctrl_threads(),
        )
    };
    settle(
        &format!("the end ({ending:?}), every thread released"),
        &(expected.members, expected.threads),
        observe,
    )?;
    let (obs, threads) = observe();
    prop_assert!(threads.is_empty(), "threads left: {:?}", threads);
    for (h, o) in m.members.iter().zip(&obs) {
        prop_assert_eq!(o.state, LoopState::Stopped);
        prop_assert_eq!(
            o.on_stop,
            h.allowed,
            "every allowed on_start has one on_stop"
        );
        prop_assert_eq!(o.on_thread_start, o.on_thread_stop, "pairing");
    }
    common::assert_nothing_ran_under_a_lock();
    Ok(())
}

/// A stop on the supervisor thread (a reset's, or giving up) abandoned a thread that was not
/// blocked: a machine too loaded for it to end within its grace. What follows depends on when
/// that thread hands its value back (a second reset before then finds the restart still queued,
/// and restarts the member once, not twice), which the model does not follow. The case ends
/// here, checking what holds either way: once every thread is released and the controller
/// stopped, no thread of the case is left, and hooks pair.
fn end_inconclusive(
    what: &str,
    why: &str,
    c: LoopController,
    members: &Members,
    m: &ControllerModel,
) -> Result<(), TestCaseError> {
    eprintln!("{what}: {why}; the case ends here");
    for (h, (_, ctl)) in m.members.iter().zip(members) {
        for _ in 0..h.blocked() {
            ctl.release.send(()).unwrap();
        }
    }
    c.stop();
    drop(c);
    // Members removed from the group are stopped by their handles.
    for (h, _) in members {
        h.stop();
    }
    settle(
        "the inconclusive case's stop",
        &Vec::<String>::new(),
        ctrl_threads,
    )?;
    for (h, ctl) in members {
        let o = h.observe(&ctl.log);
        prop_assert_eq!(o.state, LoopState::Stopped);
        prop_assert_eq!(o.on_start, o.on_stop, "pairing");
        prop_assert_eq!(o.on_thread_start, o.on_thread_stop, "pairing");
    }
    common::assert_nothing_ran_under_a_lock();
    Ok(())
}

fn strategy_choice() -> impl Strategy<Value = Policy> {
    prop_oneof![
        Just(Policy::OneForAll),
        Just(Policy::OneForOne),
        Just(Policy::RestForOne),
    ]
}

fn member_spec() -> impl Strategy<Value = (Kind, bool)> {
    (
        prop_oneof![Just(Kind::Steady), Just(Kind::Brittle), Just(Kind::Loner)],
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn controller_follows_the_model(
        strategy in strategy_choice(),
        max_restarts in prop::option::of(0..3u32),
        at_once in any::<bool>(),
        spec in [member_spec(), member_spec(), member_spec()],
        warm in any::<bool>(),
        ops in prop::collection::vec(ctrl_op(), 1..32),
        drop_at_end in any::<bool>(),
    ) {
        // Half the cases begin with the supervisor and every member running.
        let ops: Vec<CtrlOp> = warm
            .then_some([CtrlOp::Start, CtrlOp::Maintain])
            .into_iter()
            .flatten()
            .chain(ops)
            .collect();
        let ending = if drop_at_end { Ending::Drop } else { Ending::Stop };
        run_controller_case(strategy, max_restarts, at_once, spec, &ops, ending)?;
    }
}

/// CI seed (stop 26): under one-for-all, all at once, a member blocked in its cycle is
/// abandoned by a reset; its restarted thread then panics past its budget, and the controller
/// never turned green again.
#[test]
fn controller_model_seed_a_reset_after_an_abandoned_member() {
    use CtrlOp::*;
    let ops = [
        MemberHardReset(0),
        MemberFailure(2),
        Release,
        RunUntil(true),
        Reads,
        MemberHardReset(0),
        MemberStop(1),
        MemberStart(2),
        Start,
        Reads,
        MemberCycle(2, Cmd::Panic),
        Reads,
        MemberCycle(1, Cmd::CtxStop),
        Start,
        MemberCycle(0, Cmd::Block),
        MemberStop(1),
        MemberCycle(1, Cmd::CtxFailure),
        Maintain,
        MemberCycle(2, Cmd::Panic),
        MemberCycle(0, Cmd::Panic),
        Release,
        MemberHardReset(1),
        RunUntil(false),
        Stop,
        MemberCycle(2, Cmd::CtxStop),
    ];
    let spec = [
        (Kind::Steady, true),
        (Kind::Loner, false),
        (Kind::Brittle, true),
    ];
    run_controller_case(Policy::OneForAll, None, true, spec, &ops, Ending::Stop).unwrap();
}

/// A long model run: a member's failed start and another's exceeded budget both wait in the
/// mailbox when the supervisor starts, with a restart limit of one. The runtime gave up before
/// retrying the start (the retry waited out a backoff, and the exceeded budget was handled
/// meanwhile, as documented); the model retried first. The model now runs with no backoff.
#[test]
fn controller_model_seed_a_failed_start_and_a_give_up_both_queued() {
    use CtrlOp::*;
    let ops = [
        Reads,
        MemberFailure(0),
        Maintain,
        MemberCycle(1, Cmd::CtxStop),
        MemberStop(2),
        MemberStart(1),
        StopLoops,
        MemberNextStart(1, StartPlan::Fail),
        Maintain,
        MemberFailure(0),
        Start,
        MemberCycle(2, Cmd::Block),
        MemberNextStart(0, StartPlan::Decline),
        MemberFailure(2),
        Stop,
        MemberCycle(2, Cmd::Err),
        MemberCycle(2, Cmd::Err),
        Reads,
        MemberFailure(2),
        MemberCycle(0, Cmd::Block),
        MemberStart(2),
        MemberFailure(1),
        Release,
    ];
    let spec = [
        (Kind::Steady, true),
        (Kind::Loner, true),
        (Kind::Brittle, false),
    ];
    run_controller_case(Policy::OneForAll, Some(1), true, spec, &ops, Ending::Stop).unwrap();
}

/// A long model run: three brittle members under rest-for-one, their events queued before
/// the supervisor starts. Member 0's thread ended (`ctx.stop()`); its next one failed past
/// the budget and ended. The mailbox merged that second end into the first's place, ahead of
/// the failure: member 0 was restarted alone, then reset for the failure (started twice).
/// Fixed: a merged end goes to the back (the mailbox's unit tests pin it).
#[test]
fn controller_model_seed_failures_queued_before_the_supervisor() {
    use CtrlOp::*;
    let ops = [
        MemberFailure(2),
        MemberCycle(0, Cmd::CtxFailure),
        Maintain,
        Maintain,
        Reads,
        MemberCycle(2, Cmd::CtxFailure),
        MemberCycle(1, Cmd::Block),
        Release,
        MemberCycle(1, Cmd::Block),
        MemberCycle(0, Cmd::CtxStop),
        MemberHardReset(0),
        MemberCycle(0, Cmd::Err),
        MemberStart(1),
        Start,
        MemberHardReset(0),
        MemberStart(0),
        MemberNextStart(2, StartPlan::Decline),
        MemberCycle(2, Cmd::CtxFailure),
        Maintain,
        MemberCycle(2, Cmd::Block),
        MemberCycle(1, Cmd::Block),
        MemberFailure(2),
    ];
    let spec = [
        (Kind::Brittle, true),
        (Kind::Brittle, true),
        (Kind::Brittle, false),
    ];
    run_controller_case(Policy::RestForOne, None, true, spec, &ops, Ending::Drop).unwrap();
}

/// A long model run: a member whose next start fails exceeds its budget under a restart limit
/// of one.
#[test]
fn controller_model_seed_a_failed_restart_at_the_restart_limit() {
    use CtrlOp::*;
    let ops = [
        Start,
        Maintain,
        MemberHardReset(0),
        MemberNextStart(0, StartPlan::Fail),
        MemberFailure(0),
        MemberCycle(1, Cmd::Block),
        MemberCycle(1, Cmd::Block),
        MemberCycle(1, Cmd::Block),
        MemberHardReset(2),
        MemberNextStart(2, StartPlan::Decline),
        Reads,
        MemberHardReset(1),
        StopWithReport,
        MemberHardReset(0),
        MemberStart(2),
        MemberCycle(2, Cmd::Block),
        Reads,
        StopWithReport,
        Reads,
    ];
    let spec = [
        (Kind::Brittle, true),
        (Kind::Brittle, false),
        (Kind::Brittle, true),
    ];
    run_controller_case(Policy::OneForAll, Some(1), false, spec, &ops, Ending::Drop).unwrap();
}

/// A long model run under load (1 case in 1,500; alone, 1 run in 2): a member past its budget
/// stops its own thread (`stop_on_failure`) as the reset it caused stops it, and the reset's
/// start of it fails, at a restart limit of one. When its thread ended on its own first, that
/// end stayed queued and started the member again alone, uncounted, before the failed start's
/// retry gave the group up; when the reset's stop got there first, it did not. Fixed: a
/// reset's restart answers the member's queued thread ends too (`Mailbox::drop_stale`).
#[test]
fn controller_model_seed_a_failed_restart_in_a_reset_at_the_limit() {
    use CtrlOp::*;
    let ops = [
        Start,
        Maintain,
        MemberNextStart(2, StartPlan::Fail),
        Maintain,
        MemberFailure(2),
        MemberCycle(2, Cmd::Panic),
        Stop,
        MemberNextStart(2, StartPlan::Fail),
        Maintain,
        Maintain,
        MemberCycle(0, Cmd::Panic),
        Add(1),
        Remove(0),
        MemberStop(0),
        MemberFailure(2),
        MemberCycle(0, Cmd::CtxStop),
        Maintain,
        MemberCycle(1, Cmd::Block),
        Maintain,
        MemberCycle(2, Cmd::CtxStop),
    ];
    let spec = [
        (Kind::Brittle, true),
        (Kind::Brittle, true),
        (Kind::Brittle, false),
    ];
    run_controller_case(Policy::OneForAll, Some(1), true, spec, &ops, Ending::Stop).unwrap();
}

// ---------------------------------------------------------------------------------------
// Found while modelling the controller: an event the supervisor takes after its shutdown.

probe!(Tripwire, grace = "20s", max_failures = 0);
probe!(Witness, grace = "20s", reset_globally = false);

/// `stop()` while a member event waits behind a reset: the supervisor takes that event, sees
/// its shutdown and ends without counting it handled, so `wait_green` (which waits for the
/// queue to drain) never returns true again — after this stop, and after any later start.
#[test]
fn wait_green_after_a_stop_that_raced_a_member_event() {
    use common::{CycleMode, Probe};
    let (gate_tx, gate) = unbounded::<()>();
    let (in_reset_tx, in_reset) = unbounded::<()>();
    let first = std::sync::atomic::AtomicBool::new(true);
    let c = LoopController::new()
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .on_reset(move || {
            if first.swap(false, Ordering::SeqCst) {
                in_reset_tx.send(()).unwrap();
                let _ = gate.recv();
            }
        });
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let trigger = c.new_loop(Tripwire(probe));
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let witness_log = probe.log.clone();
    let _witness = c.new_loop(Witness(probe));
    assert!(c.start());
    c.maintain_loops();
    log.wait_for("cycle", 1);
    witness_log.wait_for("cycle", 1);

    assert!(trigger.failure());
    in_reset.recv_timeout(BOUND).unwrap(); // the supervisor is inside on_reset
    assert!(
        trigger.failure(),
        "exceeds again: the event waits behind the reset"
    );
    let stopper = {
        let c = c.clone();
        std::thread::spawn(move || c.stop())
    };
    // The witness (not in the reset) is stopped by stop(), after stop() has signalled the
    // supervisor's shutdown.
    witness_log.wait_for("on_stop", 1);
    gate_tx.send(()).unwrap();
    assert!(stopper.join().unwrap());
    assert!(c.is_green());
    assert!(
        c.wait_green(Duration::from_secs(5)),
        "green, nothing left to handle, yet wait_green times out"
    );
}

probe!(Quitter, grace = "20s");
probe!(Crasher, grace = "20s");

/// `stalled_loops` lists "members that should run but do not: wanted running (or under
/// supervision) with no live thread", and DESIGN.md has the group want a member running after
/// its thread ended on its own, by a panic or by `ctx.stop()` alike ("restarted alone"). Yet
/// of two members waiting out their lone-restart backoff, only the one that panicked is listed:
/// after `ctx.stop()` a member's state is `Stopped` (its handle no longer wants it running),
/// and `stalled_loops` goes by the state alone, although the member is still under supervision
/// and the supervisor restarts it when the backoff has passed. (The same holds while no
/// supervisor runs, and for a member that `stop_on_failure` stopped.) Fixed: a supervised
/// member that is `Stopped` is stalled; the controller model's `stalled` rule says so too.
#[test]
fn stalled_loops_lists_a_supervised_member_whose_thread_stopped_itself() {
    use common::{eventually, CycleMode, Probe};
    quiet_planned_panics();
    let c = LoopController::new().backoff(Duration::from_secs(60), Duration::from_secs(60));
    let quitter = Probe::new(CycleMode::StopSelf);
    let quitter_log = quitter.log.clone();
    let quitter = c.new_loop(Quitter(quitter));
    let crasher = Probe::new(CycleMode::Panic).panic_in("cycle");
    let crasher_log = crasher.log.clone();
    let crasher = c.new_loop(Crasher(crasher));
    assert!(c.start());
    c.maintain_loops();
    // Each thread ends at once; the first lone restart is immediate, the second waits 60 s.
    quitter_log.wait_for("on_stop", 2);
    crasher_log.wait_for("on_stop", 2);
    eventually("both second threads to have ended", || {
        !quitter.is_alive() && !crasher.is_alive()
    });
    let stalled: Vec<String> = c
        .stalled_loops()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let threads = (quitter.thread_name(), crasher.thread_name());
    c.stop();
    assert_eq!(
        threads,
        (Some("Quitter_1".to_owned()), Some("Crasher_1".to_owned())),
        "restarted once each, the second restart waiting out its backoff"
    );
    assert_eq!(
        stalled,
        ["Quitter", "Crasher"],
        "both will be restarted by the group, neither runs"
    );
}

/// The same root cause as `bad_input::a_panicking_callback_on_the_stop_token_does_not_wedge_the_loop`
/// (`Signal::go` runs `then` callbacks without catching a panic), on the process-wide timer
/// thread: one panicking callback on a `Signal::after` kills that thread, and no
/// `Signal::after` in the process ever fires again. (Here, not in bad_input.rs, whose tests use
/// timers: while the bug is there this test breaks the timer for the rest of its binary.)
#[test]
fn a_panicking_timer_callback_does_not_stop_every_timer() {
    quiet_planned_panics();
    let doomed = superloops::Signal::after(Duration::from_millis(1));
    doomed.then(|| std::panic::panic_any("planned: a timer callback that panics".to_owned()));
    assert!(doomed.wait_timeout(BOUND));
    let later = superloops::Signal::after(Duration::from_millis(1));
    assert!(
        later.wait_timeout(Duration::from_secs(5)),
        "the timer thread died with the callback"
    );
}

// ---------------------------------------------------------------------------------------
// The model of a controller's tasks: `spawn_task` with and without `max_threads` and
// `queue_tasks`, the task handle's operations, and the controller operations that touch tasks
// (a failed task's reset, `running_tasks`, `stop`, `stop_with_report`).
//
// Every task is a puppet too. It first reports its start on a channel shared by the case (so
// the order in which queued tasks start is observed), then, by its kind: *listens* for one
// command on its own channel (or for stop, through `ctx.recv`), *sleeps* until stopped
// (`ctx.sleep` or `ctx.stopping().wait()`), or is *deaf*: waits for a command ignoring stop,
// so that a controller stop abandons it after the task grace. A command ends the task: a
// value, an `Err`, a panic, or `ctx.failure()` then a value. A command sent to a queued task
// waits for it, and ends it as soon as it starts.
//
// The model predicts, after each step, the threads alive under the case's prefix `Tk` (task
// threads, the member loop's thread, the supervisor thread: read from /proc/self/task, so a
// task's slot is known to be free once its thread has gone), the order in which tasks started,
// `running_tasks()`, `resets()`, every held handle's `is_finished()` and `finished()`, and
// what `spawn_task`, `join`, `stop` and `stop_with_report` return.

use superloops::TaskError;

probe!(TkMember, grace = "20s");

/// Task grace of the task model: how long a stop waits for a deaf task.
const TASK_GRACE: Duration = Duration::from_millis(150);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TaskKind {
    Listens,
    Sleeps,
    Deaf,
}

/// How a command ends a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fin {
    Value,
    Err,
    Panic,
    Failure,
}

/// What a task returns when it returns `Ok`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Done {
    Value(usize),
    /// Ended by its stop token.
    Stopped,
    /// Called `ctx.failure()`, which returned this.
    Failure(bool),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TaskPhase {
    Refused,
    Queued,
    Running,
    /// Abandoned by a controller stop, still running (a deaf task).
    Abandoned,
    Ended(Result<Done, TaskError>),
}

#[derive(Clone, Debug)]
struct TaskModel {
    kind: TaskKind,
    phase: TaskPhase,
    stop: bool,
    cmd: Option<Fin>,
    held: bool,
}

fn task_name(id: usize) -> String {
    format!("Tk{id}")
}

#[derive(Clone, Debug)]
struct TasksModel {
    limit: Option<usize>,
    queue: bool,
    one_for_all: bool,
    tasks: Vec<TaskModel>,
    running: Vec<usize>,
    queued: VecDeque<usize>,
    started: Vec<usize>,
    supervisor: bool,
    supervisors: u64,
    /// Task failures sent and not handled (they wait while no supervisor runs, merged into
    /// one event: the mailbox merges task failures).
    pending: u64,
    /// The group's mailbox is closed: from a stop until the supervisor starts again, task
    /// failures are dropped (nobody would handle them, and a later start must not act on
    /// them). Open at first: what is sent before the first start waits for it.
    closed: bool,
    resets: u64,
    member_alive: bool,
    member_supervised: bool,
    member_gens: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct TasksObs {
    threads: Vec<String>,
    started: Vec<usize>,
    running_tasks: usize,
    resets: u64,
    member_thread: Option<String>,
    member_alive: bool,
    finished: Vec<Option<(bool, bool)>>,
}

impl TasksModel {
    fn expected(&self) -> TasksObs {
        let mut threads: Vec<String> = self
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| matches!(t.phase, TaskPhase::Running | TaskPhase::Abandoned))
            .map(|(i, _)| task_name(i))
            .collect();
        if self.member_alive {
            threads.push(format!("TkMember_{}", self.member_gens - 1));
        }
        if self.supervisor {
            threads.push(format!("TkCtl_{}", self.supervisors - 1));
        }
        threads.sort();
        TasksObs {
            threads,
            started: self.started.clone(),
            running_tasks: self.running.len(),
            resets: self.resets,
            member_thread: self
                .member_gens
                .checked_sub(1)
                .map(|g| format!("TkMember_{g}")),
            member_alive: self.member_alive,
            finished: self
                .tasks
                .iter()
                .map(|t| {
                    let ended = matches!(t.phase, TaskPhase::Ended(_));
                    t.held.then_some((ended, ended))
                })
                .collect(),
        }
    }

    fn spawn(&mut self, kind: TaskKind) -> bool {
        let id = self.tasks.len();
        let full = self.limit.is_some_and(|max| self.running.len() >= max);
        let phase = match (full, self.queue) {
            (true, false) => TaskPhase::Refused,
            (true, true) => TaskPhase::Queued,
            (false, _) => TaskPhase::Running,
        };
        self.tasks.push(TaskModel {
            kind,
            held: phase != TaskPhase::Refused,
            phase: phase.clone(),
            stop: false,
            cmd: None,
        });
        match phase {
            TaskPhase::Refused => return false,
            TaskPhase::Queued => self.queued.push_back(id),
            _ => self.begin(id),
        }
        true
    }

    /// Task `id` takes a slot and starts; it may end at once.
    fn begin(&mut self, id: usize) {
        self.tasks[id].phase = TaskPhase::Running;
        self.running.push(id);
        self.started.push(id);
        self.react(id);
    }

    /// A running (or abandoned) task reacts to its stop token and its command.
    fn react(&mut self, id: usize) {
        let t = &self.tasks[id];
        if !matches!(t.phase, TaskPhase::Running | TaskPhase::Abandoned) {
            return;
        }
        let outcome = match (t.kind, t.stop, t.cmd) {
            (TaskKind::Listens | TaskKind::Sleeps, true, _) => Ok(Done::Stopped),
            (TaskKind::Sleeps, false, _) | (_, _, None) => return,
            (_, _, Some(fin)) => fin_outcome(id, fin),
        };
        self.end(id, outcome);
    }

    fn end(&mut self, id: usize, outcome: Result<Done, TaskError>) {
        let failed = matches!(outcome, Err(_) | Ok(Done::Failure(_)));
        self.tasks[id].phase = TaskPhase::Ended(outcome);
        self.running.retain(|&r| r != id);
        if failed && !self.closed {
            self.pending = if self.supervisor {
                self.pending + 1
            } else {
                1 // merged into the one already waiting, if any
            };
            self.process();
        }
        while self.limit.is_none_or(|max| self.running.len() < max) {
            let Some(next) = self.queued.pop_front() else {
                break;
            };
            self.begin(next);
        }
    }

    fn process(&mut self) {
        if !self.supervisor {
            return;
        }
        while self.pending > 0 {
            self.pending -= 1;
            // Under one_for_one a failed task restarts nothing, so it is no reset: see
            // `under_one_for_one_a_failed_task_restarts_nothing_and_never_gives_up`.
            if self.one_for_all {
                self.resets += 1;
                if self.member_alive && self.member_supervised {
                    self.member_gens += 1;
                }
            }
        }
    }

    fn command(&mut self, id: usize, fin: Fin) {
        self.tasks[id].cmd = Some(fin);
        self.react(id);
    }

    fn stop_task(&mut self, id: usize) {
        self.tasks[id].stop = true;
        self.react(id);
    }

    /// A controller stop: (tasks stopped in time, tasks abandoned, clean).
    fn stop(&mut self) -> (Vec<String>, Vec<String>) {
        for id in std::mem::take(&mut self.queued) {
            self.tasks[id].phase = TaskPhase::Ended(Err(TaskError::Cancelled {
                task: task_name(id),
            }));
        }
        let (mut stopped, mut abandoned) = (Vec::new(), Vec::new());
        for id in std::mem::take(&mut self.running) {
            let t = &mut self.tasks[id];
            t.stop = true;
            if t.kind == TaskKind::Deaf {
                t.phase = TaskPhase::Abandoned;
                abandoned.push(task_name(id));
            } else {
                t.phase = TaskPhase::Ended(Ok(Done::Stopped));
                stopped.push(task_name(id));
            }
        }
        self.member_alive = false;
        self.member_supervised = false;
        // A stop closes the group's mailbox, whether or not a supervisor ran: what was sent
        // before it is not acted on by a later start.
        self.supervisor = false;
        self.pending = 0;
        self.closed = true;
        (stopped, abandoned)
    }
}

fn fin_outcome(id: usize, fin: Fin) -> Result<Done, TaskError> {
    match fin {
        Fin::Value => Ok(Done::Value(id)),
        Fin::Err => Err(TaskError::Failed {
            task: task_name(id),
            message: "planned task error".to_owned(),
        }),
        Fin::Panic => Err(TaskError::Panicked {
            task: task_name(id),
            message: "planned task panic".to_owned(),
        }),
        Fin::Failure => Ok(Done::Failure(true)),
    }
}

#[derive(Clone, Debug)]
enum TaskOp {
    Spawn(TaskKind),
    Command(usize, Fin),
    Join(usize),
    Release(usize),
    StopTask(usize),
    Reads,
    Start,
    Maintain,
    Stop,
    StopWithReport,
}

fn task_op() -> impl Strategy<Value = TaskOp> {
    let i = 0..12usize;
    let fin = prop_oneof![
        3 => Just(Fin::Value),
        1 => Just(Fin::Err),
        1 => Just(Fin::Panic),
        1 => Just(Fin::Failure),
    ];
    prop_oneof![
        8 => prop_oneof![
            4 => Just(TaskKind::Listens),
            2 => Just(TaskKind::Sleeps),
            1 => Just(TaskKind::Deaf),
        ]
        .prop_map(TaskOp::Spawn),
        6 => (i.clone(), fin).prop_map(|(i, f)| TaskOp::Command(i, f)),
        3 => i.clone().prop_map(TaskOp::Join),
        1 => i.clone().prop_map(TaskOp::Release),
        2 => i.prop_map(TaskOp::StopTask),
        1 => Just(TaskOp::Reads),
        2 => Just(TaskOp::Start),
        2 => Just(TaskOp::Maintain),
        1 => Just(TaskOp::Stop),
        1 => Just(TaskOp::StopWithReport),
    ]
}

/// The names of this process's threads that start with one of `prefixes`, sorted.
fn threads_named(prefixes: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|e| {
                let comm = std::fs::read_to_string(e.ok()?.path().join("comm")).ok()?;
                let comm = comm.trim_end().to_owned();
                prefixes.iter().any(|p| comm.starts_with(p)).then_some(comm)
            })
            .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The test's ends of one task's strings.
struct TaskControls {
    cmd: Sender<Fin>,
    handle: Option<superloops::TaskHandle<Done>>,
}

fn task_body(
    id: usize,
    kind: TaskKind,
    started: Sender<usize>,
    cmds: Receiver<Fin>,
) -> impl FnOnce(&Ctx) -> Result<Done, String> + Send + 'static {
    move |ctx: &Ctx| {
        let _ = started.send(id);
        let fin = match kind {
            TaskKind::Listens => ctx.recv(&cmds),
            TaskKind::Deaf => cmds.recv().ok(),
            TaskKind::Sleeps => {
                if id & 1 == 0 {
                    assert!(!ctx.sleep(Duration::from_secs(3600)));
                } else {
                    ctx.stopping().wait();
                }
                None
            }
        };
        match fin {
            None => Ok(Done::Stopped),
            Some(Fin::Value) => Ok(Done::Value(id)),
            Some(Fin::Err) => Err("planned task error".to_owned()),
            Some(Fin::Panic) => std::panic::panic_any("planned task panic".to_owned()),
            Some(Fin::Failure) => Ok(Done::Failure(ctx.failure())),
        }
    }
}

fn run_task_case(
    limit: Option<usize>,
    queue: bool,
    one_for_all: bool,
    ops: &[TaskOp],
) -> Result<(), TestCaseError> {
    // The case observes its threads by name: one case at a time in this process (the
    // proptest and a kept seed would otherwise see each other's `Tk0`).
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _alone = ONE_AT_A_TIME.lock();
    quiet_planned_panics();
    let mut c = LoopController::new()
        .named("TkCtl")
        .strategy(if one_for_all {
            Policy::OneForAll
        } else {
            Policy::OneForOne
        })
        .backoff(Duration::ZERO, Duration::ZERO)
        .task_grace(TASK_GRACE);
    if let Some(max) = limit {
        c = c.max_threads(max);
    }
    if queue {
        c = c.queue_tasks();
    }
    let member = c.new_loop(TkMember(common::Probe::new(
        common::CycleMode::SleepUntilStop,
    )));
    let (started_tx, started_rx) = unbounded::<usize>();
    let started_seen = Mutex::new(Vec::new());
    let mut strings: Vec<TaskControls> = Vec::new();
    let mut m = TasksModel {
        limit,
        queue,
        one_for_all,
        tasks: Vec::new(),
        running: Vec::new(),
        queued: VecDeque::new(),
        started: Vec::new(),
        supervisor: false,
        supervisors: 0,
        pending: 0,
        closed: false,
        resets: 0,
        member_alive: false,
        member_supervised: false,
        member_gens: 0,
    };

    let observe = |strings: &[TaskControls]| {
        started_seen.lock().extend(started_rx.try_iter());
        TasksObs {
            threads: threads_named(&["Tk"]),
            started: started_seen.lock().clone(),
            running_tasks: c.running_tasks(),
            resets: c.resets(),
            member_thread: member.thread_name(),
            member_alive: member.is_alive(),
            finished: strings
                .iter()
                .map(|s| {
                    s.handle
                        .as_ref()
                        .map(|h| (h.is_finished(), h.finished().is_go()))
                })
                .collect(),
        }
    };

    for (step, op) in ops.iter().enumerate() {
        let what = format!("step {step}: {op:?}");
        let pick = |i: usize| (!m.tasks.is_empty()).then(|| i % m.tasks.len());
        match *op {
            TaskOp::Spawn(kind) => {
                let id = m.tasks.len();
                let (cmd, cmds) = unbounded();
                let got =
                    c.spawn_task(task_name(id), task_body(id, kind, started_tx.clone(), cmds));
                let expect = m.spawn(kind);
                match got {
                    Ok(h) => {
                        prop_assert!(expect, "{}: spawned past the limit", what);
                        prop_assert_eq!(h.name(), task_name(id));
                        strings.push(TaskControls {
                            cmd,
                            handle: Some(h),
                        });
                    }
                    Err(superloops::SpawnError::ThreadLimitReached { max }) => {
                        prop_assert!(!expect, "{}: refused below the limit", what);
                        prop_assert_eq!(Some(max), limit);
                        strings.push(TaskControls { cmd, handle: None });
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("{what}: {e}"))),
                }
            }
            TaskOp::Command(i, fin) => {
                let Some(id) = pick(i) else { continue };
                let t = &m.tasks[id];
                let open = matches!(
                    t.phase,
                    TaskPhase::Queued | TaskPhase::Running | TaskPhase::Abandoned
                );
                if t.kind == TaskKind::Sleeps || t.cmd.is_some() || !open {
                    continue;
                }
                // A queued task told to fail would fail as soon as a slot frees: when another
                // task's failure frees it, the two failures may reach the supervisor as one
                // merged event (one reset) or as two, depending on timing. The model cannot
                // know which; it tells queued tasks only to return a value.
                if t.phase == TaskPhase::Queued && fin != Fin::Value {
                    continue;
                }
                strings[id].cmd.send(fin).unwrap();
                m.command(id, fin);
            }
            TaskOp::Join(i) => {
                let Some(id) = pick(i) else { continue };
                if strings[id].handle.is_none() || m.tasks[id].phase == TaskPhase::Queued {
                    continue;
                }
                // Make sure it ends: release its gate, or stop it.
                if matches!(m.tasks[id].phase, TaskPhase::Running | TaskPhase::Abandoned) {
                    if m.tasks[id].kind == TaskKind::Sleeps {
                        strings[id].handle.as_ref().unwrap().stop();
                        m.stop_task(id);
                    } else {
                        strings[id].cmd.send(Fin::Value).unwrap();
                        m.command(id, Fin::Value);
                    }
                }
                let h = strings[id].handle.take().unwrap();
                m.tasks[id].held = false;
                prop_assert!(
                    h.finished().wait_timeout(BOUND),
                    "{}: the task never ended",
                    what
                );
                let got = h.join();
                let TaskPhase::Ended(expected) = &m.tasks[id].phase else {
                    return Err(TestCaseError::fail(format!("{what}: model: not ended")));
                };
                prop_assert_eq!(&got, expected, "{}: join", what);
            }
            TaskOp::Release(i) => {
                let Some(id) = pick(i) else { continue };
                if let Some(h) = strings[id].handle.take() {
                    h.release();
                    m.tasks[id].held = false;
                }
            }
            TaskOp::StopTask(i) => {
                let Some(id) = pick(i) else { continue };
                let Some(h) = &strings[id].handle else {
                    continue;
                };
                h.stop();
                m.stop_task(id);
            }
            TaskOp::Reads => {
                for (id, s) in strings.iter().enumerate() {
                    if let Some(h) = &s.handle {
                        prop_assert_eq!(h.name(), task_name(id));
                        let _ = format!("{h:?}");
                    }
                }
            }
            TaskOp::Start => {
                let expect = !m.supervisor;
                if expect {
                    m.supervisor = true;
                    m.closed = false;
                    m.supervisors += 1;
                    m.process();
                }
                prop_assert_eq!(c.start(), expect, "{}", what);
            }
            TaskOp::Maintain => {
                c.maintain_loops();
                m.member_supervised = true;
                if !m.member_alive {
                    m.member_alive = true;
                    m.member_gens += 1;
                }
            }
            TaskOp::Stop | TaskOp::StopWithReport => {
                let (stopped, abandoned) = m.stop();
                let begun = Instant::now();
                let (got_stopped, got_clean) = if matches!(op, TaskOp::Stop) {
                    let clean = c.stop();
                    (None, clean)
                } else {
                    let mut r = c.stop_with_report();
                    let clean = r.is_clean();
                    // The tasks' part of the report (the member's is the controller model's).
                    let is_task = |n: &String| {
                        n.strip_prefix("Tk")
                            .is_some_and(|d| d.starts_with(|ch: char| ch.is_ascii_digit()))
                    };
                    r.stopped.retain(is_task);
                    r.abandoned.retain(is_task);
                    (Some(r), clean)
                };
                let took = begun.elapsed();
                if !abandoned.is_empty() {
                    prop_assert!(took >= TASK_GRACE, "{}: abandoned early ({:?})", what, took);
                }
                match got_stopped {
                    Some(r) if r.stopped != stopped || r.abandoned != abandoned => {
                        // A machine too loaded for a listening task to end within the task
                        // grace: accepted only when the call lasted it.
                        prop_assert!(
                            took >= TASK_GRACE,
                            "{}: report {:?}, model stopped {:?} abandoned {:?}",
                            what,
                            r,
                            stopped,
                            abandoned
                        );
                    }
                    None if got_clean != abandoned.is_empty() => {
                        prop_assert!(took >= TASK_GRACE, "{}: stop() = {}", what, got_clean);
                    }
                    _ => {}
                }
            }
        }
        let expected = m.expected();
        settle(&what, &expected, || observe(&strings))?;
        if m.supervisor {
            prop_assert!(c.wait_green(BOUND), "{}: wait_green", what);
            settle(&what, &expected, || observe(&strings))?;
        }
    }

    // The end: every deaf task released, the controller stopped, no thread of the case left.
    drop(strings);
    let (stopped, _) = m.stop();
    let _ = stopped;
    c.stop();
    let deadline = Instant::now() + BOUND;
    while !threads_named(&["Tk"]).is_empty() {
        prop_assert!(
            Instant::now() < deadline,
            "threads left after stop: {:?}",
            threads_named(&["Tk"])
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    common::assert_nothing_ran_under_a_lock();
    Ok(())
}

fn task_limit() -> impl Strategy<Value = Option<usize>> {
    prop::option::weighted(0.8, 1..=3usize)
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn tasks_follow_the_model(
        limit in task_limit(),
        queue in any::<bool>(),
        one_for_all in any::<bool>(),
        ops in prop::collection::vec(task_op(), 1..28),
    ) {
        run_task_case(limit, queue, one_for_all, &ops)?;
    }
}

// ---------------------------------------------------------------------------------------
// Found while modelling the tasks.

/// A task spawned while a slot is freeing — the running task has ended (its `join` returns) but
/// its thread has not yet handed the slot to the queue — starts at once, ahead of the tasks
/// already queued: `spawn_task` counts the free slot and ignores the queue. The task's
/// `finished()` callback runs in that window, which makes it deterministic here; a `spawn_task`
/// right after `join` on another thread hits it by chance.
#[test]
fn a_task_spawned_as_a_slot_frees_starts_after_the_queued_ones() {
    let c = LoopController::new().max_threads(1).queue_tasks();
    let (started_tx, started) = unbounded::<&'static str>();
    let (release, gate) = unbounded::<()>();
    let s = started_tx.clone();
    let first = c
        .spawn_task("first", move |_| {
            s.send("first").unwrap();
            let _ = gate.recv();
            Ok::<_, String>(())
        })
        .unwrap();
    assert_eq!(started.recv_timeout(BOUND).unwrap(), "first");
    let s = started_tx.clone();
    let queued = c
        .spawn_task("queued", move |_| {
            s.send("queued").unwrap();
            Ok::<_, String>(())
        })
        .unwrap();
    let late = Arc::new(Mutex::new(None));
    {
        let (c, late) = (c.clone(), late.clone());
        first.finished().then(move || {
            let task = c.spawn_task("late", move |_| {
                started_tx.send("late").unwrap();
                Ok::<_, String>(())
            });
            *late.lock() = Some(task.unwrap());
        });
    }
    drop(release);
    first.join().unwrap();
    let order = [
        started.recv_timeout(BOUND).unwrap(),
        started.recv_timeout(BOUND).unwrap(),
    ];
    queued.join().unwrap();
    late.lock().take().unwrap().join().unwrap();
    c.stop();
    assert_eq!(order, ["queued", "late"], "queued first, in FIFO order");
}

/// A task's failure reaches its group only after the task's handle shows it finished:
/// `join` returns the `Err` (or the panic) before the group has heard of it, so `wait_green`
/// right after `join` returns true before the reset that failure causes, and `resets()` has
/// not counted it. (A delay of the task's thread right after its result is in — here its
/// `finished()` callback, holding it until the test has looked — shows it every time.)
#[test]
fn after_joining_a_failed_task_wait_green_covers_its_reset() {
    let c = LoopController::new();
    let probe = common::Probe::new(common::CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let _member = c.new_loop(TkMember(probe));
    assert!(c.start());
    c.maintain_loops();
    log.wait_for("cycle", 1);
    let (looked_tx, looked) = unbounded::<()>();
    let (go, gate) = unbounded::<()>();
    let task = c
        .spawn_task("upload", move |_| {
            let _ = gate.recv();
            Err::<(), _>("503")
        })
        .unwrap();
    task.finished().then(move || {
        let _ = looked.recv_timeout(Duration::from_secs(5));
    });
    drop(go);
    assert!(task.join().is_err());
    let green = c.wait_green(BOUND);
    let resets = c.resets();
    let _ = looked_tx.send(());
    c.stop();
    assert!(green);
    assert_eq!(
        resets, 1,
        "wait_green returned before the failed task's reset"
    );
}

/// Under `one_for_one` a failed task restarts nothing (the trigger is no member), yet it still
/// counts as a reset: `resets()` goes up, the green light goes off for the backoff, and the
/// reset counts against `max_restarts` — past which the group gives up and stops every member,
/// although `spawn_task` documents "nothing under one_for_one".
#[test]
fn under_one_for_one_a_failed_task_restarts_nothing_and_never_gives_up() {
    let c = LoopController::new()
        .strategy(Policy::OneForOne)
        .max_restarts(0, Duration::from_secs(60));
    let probe = common::Probe::new(common::CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let member = c.new_loop(TkMember(probe));
    assert!(c.start());
    c.maintain_loops();
    log.wait_for("cycle", 1);
    // `ctx.failure()` reaches the group before the task ends (unlike an `Err`).
    let task = c
        .spawn_task("checker", |ctx| Ok::<_, String>(ctx.failure()))
        .unwrap();
    assert!(task.join().unwrap());
    let green = c.wait_green(Duration::from_secs(5));
    let (resets, failed, alive) = (c.resets(), c.health().failed, member.is_alive());
    c.stop();
    assert!(green, "the group gave up");
    assert!(
        !failed && alive,
        "the member was stopped for a task's failure"
    );
    assert_eq!(resets, 0, "a reset that restarts nothing");
}

/// A long model run: a user's `hard_reset` of a member whose next start fails. The failed
/// start told the supervisor before it was over; the supervisor, finding a start under way on
/// another thread, left the member to it, and the retry was lost (the group read green with
/// the member not running). A failed start now tells its supervisor once it is over. The race
/// is narrow: the case runs 20 times.
#[test]
fn controller_model_seed_a_hard_reset_beside_a_retried_start() {
    use CtrlOp::*;
    let ops = [
        Maintain,
        MemberCycle(2, Cmd::Block),
        Release,
        Maintain,
        Start,
        StopLoops,
        MemberNextStart(2, StartPlan::Fail),
        Start,
        MemberStart(0),
        MemberCycle(2, Cmd::CtxStop),
        Start,
        MemberHardReset(2),
        Maintain,
    ];
    let spec = [
        (Kind::Loner, true),
        (Kind::Loner, false),
        (Kind::Brittle, false),
    ];
    for _ in 0..20 {
        run_controller_case(Policy::RestForOne, Some(1), true, spec, &ops, Ending::Stop).unwrap();
    }
}

/// A long model run (4,000 cases): "never green again" at a member's planned panic, with its
/// `Exceeded` just queued: the double reading of `wait_green` (see
/// `controller_model_seed_never_green_after_a_give_up_and_maintains`).
#[test]
fn controller_model_seed_a_panic_after_two_lone_restarts() {
    use CtrlOp::*;
    let ops = [
        Start,
        Maintain,
        MemberCycle(2, Cmd::CtxStop),
        MemberCycle(0, Cmd::Panic),
        MemberCycle(0, Cmd::CtxStop),
        Release,
        MemberCycle(0, Cmd::Panic),
        Start,
        MemberFailure(1),
        MemberNextStart(2, StartPlan::Fail),
        MemberCycle(1, Cmd::Panic),
        Release,
        MemberCycle(0, Cmd::Err),
        Start,
        MemberHardReset(1),
        MemberStart(1),
    ];
    let spec = [
        (Kind::Steady, false),
        (Kind::Steady, true),
        (Kind::Brittle, true),
    ];
    for _ in 0..20 {
        run_controller_case(Policy::OneForAll, Some(1), true, spec, &ops, Ending::Drop).unwrap();
    }
}

/// A long model run under load (the model was wrong): a queued task told to fail started when
/// another task's panic freed its slot, and failed at once. The two failures reached the
/// supervisor as one merged event (one reset, as documented: the mailbox merges task
/// failures), where the model counted two. The model now tells queued tasks only to return a
/// value; this sequence runs as it is now generated.
#[test]
fn tasks_model_seed_a_panic_after_a_reset_for_an_error() {
    use TaskOp::*;
    let ops = [
        Spawn(TaskKind::Sleeps),
        Start,
        Command(11, Fin::Value),
        Spawn(TaskKind::Listens),
        Join(5),
        Spawn(TaskKind::Listens),
        Command(11, Fin::Err),
        StopTask(0),
        Start,
        Command(7, Fin::Panic),
        Spawn(TaskKind::Sleeps),
        Command(4, Fin::Value),
    ];
    let n = std::env::var("SEED_REPEAT").map_or(20, |v| v.parse().unwrap());
    for _ in 0..n {
        run_task_case(Some(1), true, true, &ops).unwrap();
    }
}

/// A long model run under load (6,000 cases; one of the two "never green again" seeds this
/// session found): `wait_green` answered `false` within microseconds. It read "settled" twice:
/// once to end its wait, once for its answer; `settled` reads the mailbox, which a member
/// changes without the controller's lock, and a failure sent between the two readings (the
/// model's planned panic, just after its ack) turned the answer. It now answers the reading
/// that ended its wait. Failed about once in 300 runs of this sequence with a core busy;
/// `SEED_REPEAT=300` runs it that often. Likely stop 26's CI failure too, which was put down
/// to the wait-for graph (no refusal was recorded here).
#[test]
fn controller_model_seed_never_green_after_a_give_up_and_maintains() {
    use CtrlOp::*;
    let ops = [
        Start,
        Maintain,
        MemberStart(1),
        MemberCycle(2, Cmd::Panic),
        MemberCycle(2, Cmd::Panic),
        Add(0),
        Maintain,
        MemberNextStart(0, StartPlan::Fail),
        Maintain,
        Maintain,
        MemberStop(2),
        Maintain,
        MemberHardReset(0),
        MemberCycle(0, Cmd::Block),
        MemberCycle(1, Cmd::CtxStop),
        Maintain,
        MemberCycle(2, Cmd::CtxStop),
        MemberStop(0),
        MemberCycle(1, Cmd::Block),
        MemberCycle(2, Cmd::Block),
        MemberStop(0),
        MemberCycle(2, Cmd::Panic),
        Reads,
    ];
    let spec = [
        (Kind::Loner, false),
        (Kind::Steady, true),
        (Kind::Brittle, false),
    ];
    let n = std::env::var("SEED_REPEAT").map_or(3, |v| v.parse().unwrap());
    for _ in 0..n {
        run_controller_case(Policy::RestForOne, Some(2), true, spec, &ops, Ending::Drop).unwrap();
    }
}
