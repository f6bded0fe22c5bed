//! The model of one handle.

use super::*;

#[derive(Clone, Debug)]
pub(crate) struct Thread {
    pub(crate) gen: u64,
    pub(crate) blocked: bool,
    pub(crate) signalled: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct HandleModel {
    pub(crate) name: &'static str,
    pub(crate) grace: Duration,
    pub(crate) max_failures: u32,
    pub(crate) stop_on_failure: bool,
    pub(crate) reset_globally: bool,
    pub(crate) from_fn: bool,
    /// The current (non-abandoned) thread.
    pub(crate) live: Option<Thread>,
    /// Abandoned threads not yet ended, and whether each holds the loop's only value.
    pub(crate) abandoned: Vec<(Thread, bool)>,
    pub(crate) wanted: bool,
    pub(crate) queued: bool,
    /// Under its group's supervision: set by every start, cleared by a stop from outside.
    pub(crate) supervised: bool,
    /// Live threads (by generation) that ended with no `stop` caller waiting for them: each
    /// sends its group an `Ended` event (the controller model takes them from here).
    pub(crate) ended: Vec<u64>,
    /// A member of a group: a start whose `on_start` fails leaves it wanted, and sends its
    /// group a `StartFailed` event (counted here; the controller model takes them).
    pub(crate) linked: bool,
    pub(crate) start_failed: u32,
    pub(crate) failures: u32,
    pub(crate) gens: u64,
    pub(crate) start_plan: StartPlan,
    pub(crate) thread_start_panic: bool,
    // Hook calls.
    pub(crate) on_start: usize,
    pub(crate) allowed: usize,
    pub(crate) on_stop: usize,
    pub(crate) on_stop_on_loop_threads: usize,
    pub(crate) on_thread_start: usize,
    pub(crate) on_thread_stop: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HandleObs {
    pub(crate) state: LoopState,
    pub(crate) alive: bool,
    pub(crate) running: bool,
    pub(crate) failures: u32,
    pub(crate) abandoned: usize,
    pub(crate) thread: Option<String>,
    pub(crate) on_start: usize,
    pub(crate) on_stop: usize,
    pub(crate) on_stop_on_loop_threads: usize,
    pub(crate) on_thread_start: usize,
    pub(crate) on_thread_stop: usize,
}

impl HandleModel {
    pub(crate) fn new(config: &LoopConfig, from_fn: bool) -> Self {
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

    pub(crate) fn thread_name(&self) -> Option<String> {
        self.gens
            .checked_sub(1)
            .map(|g| format!("{}_{g}", self.name))
    }

    fn value_available(&self) -> bool {
        self.from_fn || !self.abandoned.iter().any(|(_, holds)| *holds)
    }

    pub(crate) fn state(&self) -> LoopState {
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

    pub(crate) fn expected(&self) -> HandleObs {
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
    pub(crate) fn request_stop(&mut self, only: Option<u64>) {
        match (&mut self.live, only) {
            (Some(t), Some(g)) if t.gen != g => return,
            (None, Some(_)) => return,
            (Some(t), _) => t.signalled = true,
            (None, None) => {}
        }
        self.wanted = false;
        self.queued = false;
    }

    pub(crate) fn record_failure(&mut self, from: Option<u64>) -> bool {
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

    pub(crate) fn start_locked(&mut self) -> bool {
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
            // Still wanted: its group's supervisor starts it again (OTP's
            // `try_again_restart`), whether `on_start` declined or failed.
            StartPlan::Decline | StartPlan::Fail if self.linked => {
                self.start_failed += 1;
                false
            }
            StartPlan::Decline | StartPlan::Fail => {
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
    pub(crate) fn end_live_on_its_own(&mut self, ran_thread_stop: bool) {
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
    pub(crate) fn settle(&mut self) {
        if self.queued && self.live.is_none() && self.value_available() {
            self.start_locked();
        }
    }

    /// Threads that are signalled and not blocked end, one after the other.
    pub(crate) fn advance(&mut self) {
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
    pub(crate) fn stop(&mut self, abandon: bool) -> bool {
        self.stop_as(abandon, true)
    }

    /// A stop; `unsupervise`: from outside (a group's own reset or giving up does not take
    /// the loop out of supervision). True when no thread of it is left running.
    pub(crate) fn stop_as(&mut self, abandon: bool, unsupervise: bool) -> bool {
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

    pub(crate) fn live_cycling(&self) -> Option<u64> {
        self.live
            .as_ref()
            .filter(|t| !t.blocked && !t.signalled)
            .map(|t| t.gen)
    }

    pub(crate) fn release_all(&mut self) {
        if let Some(t) = &mut self.live {
            t.blocked = false;
        }
        for (t, _) in &mut self.abandoned {
            t.blocked = false;
        }
        self.advance();
    }

    pub(crate) fn blocked(&self) -> usize {
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

pub(crate) fn observe_handle<T: SuperLoop>(h: &LoopHandle<T>, log: &Log) -> HandleObs {
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
pub(crate) fn stop_like(
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
pub(crate) fn puppet_handle<T: SuperLoop>(
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
    #![proptest_config(common::model_config(128))]

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
