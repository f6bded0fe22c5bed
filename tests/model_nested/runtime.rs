//! The runtime side: the rig of real loops and controllers, each operation applied to it and
//! to the model, the observations compared after each step, and the cases proptest generates.

use super::*;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoopObs {
    pub(crate) state: LoopState,
    pub(crate) alive: bool,
    pub(crate) running: bool,
    pub(crate) failures: u32,
    pub(crate) thread: Option<String>,
    pub(crate) on_start: usize,
    pub(crate) on_stop: usize,
    pub(crate) on_thread_start: usize,
    pub(crate) on_thread_stop: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GroupObs {
    pub(crate) supervisor: Option<String>,
    pub(crate) green: bool,
    pub(crate) resets: u64,
    pub(crate) on_reset: u64,
    pub(crate) has_alive: bool,
    pub(crate) alive_loops: usize,
    pub(crate) stalled_loops: usize,
    /// From `health()`: each member's `alive()`.
    pub(crate) members_alive: Vec<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Obs {
    pub(crate) outer: GroupObs,
    pub(crate) inner: GroupObs,
    pub(crate) loops: Vec<LoopObs>,
}

/// One loop's handle, type-erased.
pub(crate) trait LoopOps {
    fn start(&self) -> bool;
    fn stop(&self) -> bool;
    /// A closure that stops this loop, for another loop's hook.
    fn stopper(&self) -> Box<dyn FnOnce() + Send>;
    fn failure(&self) -> bool;
    fn is_alive(&self) -> bool;
    fn observe(&self, log: &Log) -> LoopObs;
}

impl<T: SuperLoop> LoopOps for LoopHandle<T> {
    fn start(&self) -> bool {
        LoopHandle::start(self)
    }
    fn stop(&self) -> bool {
        LoopHandle::stop(self)
    }
    fn stopper(&self) -> Box<dyn FnOnce() + Send> {
        let h = self.clone();
        Box::new(move || {
            h.stop();
        })
    }
    fn failure(&self) -> bool {
        LoopHandle::failure(self)
    }
    fn is_alive(&self) -> bool {
        LoopHandle::is_alive(self)
    }
    fn observe(&self, log: &Log) -> LoopObs {
        let st = self.status();
        LoopObs {
            state: st.state,
            alive: LoopHandle::is_alive(self),
            running: self.is_running(),
            failures: st.failures,
            thread: st.thread_name,
            on_start: log.count("on_start"),
            on_stop: log.count("on_stop"),
            on_thread_start: log.count("on_thread_start"),
            on_thread_stop: log.count("on_thread_stop"),
        }
    }
}

pub(crate) struct Rig {
    pub(crate) outer: LoopController,
    pub(crate) inner: LoopController,
    pub(crate) loops: Vec<Box<dyn LoopOps>>,
    pub(crate) logs: Vec<Log>,
    /// Each loop's next `on_stop` action (a hook that stops a loop), and the stop-token
    /// callback its next thread registers.
    actions: Vec<OnStopAction>,
    tokens: Vec<OnStopAction>,
    outer_on_reset: Arc<AtomicU64>,
    inner_on_reset: Arc<AtomicU64>,
}

pub(crate) fn controller(name: &str, counter: &Arc<AtomicU64>) -> LoopController {
    let counter = counter.clone();
    LoopController::new()
        .named(name)
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .on_reset(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
}

pub(crate) fn probe() -> (Probe, Log, OnStopAction, OnStopAction) {
    let p = Probe::new(CycleMode::SleepUntilStop);
    let log = p.log.clone();
    let action = p.on_stop_action.clone();
    let token = p.token_action.clone();
    (p, log, action, token)
}

/// Outer `[A, Inner [B, C], D]`, nothing started.
pub(crate) fn rig() -> Rig {
    let outer_on_reset = Arc::new(AtomicU64::new(0));
    let inner_on_reset = Arc::new(AtomicU64::new(0));
    let outer = controller("Outer", &outer_on_reset);
    let inner = controller("Inner", &inner_on_reset);
    let (pa, la, aa, ta) = probe();
    let (pb, lb, ab, tb) = probe();
    let (pc, lc, ac, tc) = probe();
    let (pd, ld, ad, td) = probe();
    let b = inner.new_loop(LoopB(pb));
    let c = inner.new_loop(LoopC(pc));
    let a = outer.new_loop(LoopA(pa));
    outer.add(&inner);
    let d = outer.new_loop(LoopD(pd));
    Rig {
        outer,
        inner,
        loops: vec![Box::new(a), Box::new(b), Box::new(c), Box::new(d)],
        logs: vec![la, lb, lc, ld],
        actions: vec![aa, ab, ac, ad],
        tokens: vec![ta, tb, tc, td],
        outer_on_reset,
        inner_on_reset,
    }
}

impl Rig {
    pub(crate) fn controller(&self, g: Group) -> &LoopController {
        match g {
            Group::Outer => &self.outer,
            Group::Inner => &self.inner,
        }
    }

    fn observe_group(&self, g: Group) -> GroupObs {
        let c = self.controller(g);
        let health = c.health();
        GroupObs {
            supervisor: health.supervisor.clone(),
            green: c.is_green(),
            resets: c.resets(),
            on_reset: match g {
                Group::Outer => &self.outer_on_reset,
                Group::Inner => &self.inner_on_reset,
            }
            .load(Ordering::SeqCst),
            has_alive: c.has_alive_loops(),
            alive_loops: c.alive_loops().len(),
            stalled_loops: c.stalled_loops().len(),
            members_alive: health.members.iter().map(MemberHealth::alive).collect(),
        }
    }

    fn observe(&self) -> Obs {
        Obs {
            outer: self.observe_group(Group::Outer),
            inner: self.observe_group(Group::Inner),
            loops: self
                .loops
                .iter()
                .zip(&self.logs)
                .map(|(h, log)| h.observe(log))
                .collect(),
        }
    }

    pub(crate) fn run(&self, op: Op) -> Option<bool> {
        match op {
            Op::Ctl(g, CtlOp::Start) => Some(self.controller(g).start()),
            Op::Ctl(g, CtlOp::Stop) => Some(self.controller(g).stop()),
            Op::Ctl(g, CtlOp::StopLoops) => Some(self.controller(g).stop_loops()),
            Op::Ctl(g, CtlOp::Maintain) => {
                self.controller(g).maintain_loops();
                None
            }
            Op::Loop(i, LoopOp::Start) => Some(self.loops[i].start()),
            Op::Loop(i, LoopOp::Stop) => Some(self.loops[i].stop()),
            Op::Loop(i, LoopOp::Failure) => Some(self.loops[i].failure()),
            Op::Loop(i, LoopOp::OnStopStops(j)) => {
                *self.actions[i].lock() = Some(self.loops[j].stopper());
                None
            }
            Op::Loop(i, LoopOp::TokenStops(j)) => {
                *self.tokens[i].lock() = Some(self.loops[j].stopper());
                None
            }
            Op::Loop(i, LoopOp::OnStopStopsGroup(g)) => {
                let c = self.controller(g).clone();
                *self.actions[i].lock() = Some(Box::new(move || {
                    c.stop_loops();
                }));
                None
            }
            Op::Reads => None,
        }
    }

    /// Extra reads: the health tree's shape, `Display`, `Debug`.
    pub(crate) fn reads(&self, what: &str) -> Result<(), TestCaseError> {
        let health = self.outer.health();
        let names: Vec<&str> = health.members.iter().map(MemberHealth::name).collect();
        prop_assert_eq!(names, vec!["LoopA", "Inner", "LoopD"], "{}", what);
        let MemberHealth::Group(nested) = &health.members[1] else {
            return Err(TestCaseError::fail(format!(
                "{what}: the nested controller is not a group member"
            )));
        };
        let own = self.inner.health();
        prop_assert_eq!(
            &nested.supervisor,
            &own.supervisor,
            "{}: nested health",
            what
        );
        prop_assert_eq!(nested.resets, own.resets, "{}: nested health", what);
        let states = |h: &superloops::GroupHealth| -> Vec<(String, bool)> {
            h.members
                .iter()
                .map(|m| (m.name().to_owned(), m.alive()))
                .collect()
        };
        prop_assert_eq!(states(nested), states(&own), "{}: nested health", what);
        let shown = health.to_string();
        prop_assert!(
            shown.contains("Outer") && shown.contains("Inner") && shown.contains("LoopB"),
            "{}: {}",
            what,
            shown
        );
        let debug = format!("{:?}", self.inner);
        prop_assert!(debug.starts_with("LoopController"), "{}", debug);
        Ok(())
    }

    /// Waits until both controllers have settled as the model says they will: each one that
    /// has no event waiting for a supervisor turns green with nothing pending; the others
    /// keep their events. The outer one first: its reset may start the inner supervisor.
    fn settle(&self, m: &Model, what: &str) -> Result<(), TestCaseError> {
        for (g, gm) in [(Group::Outer, &m.outer), (Group::Inner, &m.inner)] {
            let c = self.controller(g);
            if gm.pending == 0 {
                prop_assert!(
                    c.wait_green(BOUND),
                    "{}: {:?} never settled within {:?}:\n{}",
                    what,
                    g,
                    BOUND,
                    c.health()
                );
            } else {
                prop_assert!(
                    !c.wait_green(Duration::ZERO),
                    "{}: {:?} should hold {} event(s) for a supervisor:\n{}",
                    what,
                    g,
                    gm.pending,
                    c.health()
                );
            }
        }
        // A thread runs `on_thread_start` after `start` has returned.
        for (i, log) in self.logs.iter().enumerate() {
            let n = m.loops[i].on_thread_start;
            log.wait_until(
                &format!("{what}: {n}× on_thread_start of {}", NAMES[i]),
                |ev| ev.iter().filter(|e| e.hook == "on_thread_start").count() >= n,
            );
            // Every thread started has begun its first cycle (where it registers the
            // stop-token callback armed for it): what is armed next is for the next thread.
            let gens = usize::try_from(m.loops[i].gens).unwrap();
            log.wait_until(&format!("{what}: {gens}× cycle of {}", NAMES[i]), |ev| {
                ev.iter().filter(|e| e.hook == "cycle").count() >= gens
            });
            let armed = m.loops[i].armed;
            prop_assert_eq!(
                log.count("armed"),
                armed,
                "{}: stop-token callbacks registered by {}",
                what,
                NAMES[i]
            );
        }
        Ok(())
    }
}

fn ctl_op() -> impl Strategy<Value = CtlOp> {
    prop_oneof![
        3 => Just(CtlOp::Start),
        1 => Just(CtlOp::Stop),
        1 => Just(CtlOp::StopLoops),
        3 => Just(CtlOp::Maintain),
    ]
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    let group = prop_oneof![Just(Group::Outer), Just(Group::Inner)];
    prop_oneof![
        8 => (group, ctl_op()).prop_map(|(g, o)| Op::Ctl(g, o)),
        3 => (0..4usize).prop_map(|i| Op::Loop(i, LoopOp::Start)),
        2 => (0..4usize).prop_map(|i| Op::Loop(i, LoopOp::Stop)),
        4 => (0..4usize).prop_map(|i| Op::Loop(i, LoopOp::Failure)),
        2 => (0..4usize, 0..4usize).prop_map(|(i, j)| Op::Loop(i, LoopOp::OnStopStops(j))),
        1 => (0..4usize, prop_oneof![Just(Group::Outer), Just(Group::Inner)])
            .prop_map(|(i, g)| Op::Loop(i, LoopOp::OnStopStopsGroup(g))),
        2 => (0..4usize, 0..4usize).prop_map(|(i, j)| Op::Loop(i, LoopOp::TokenStops(j))),
        1 => Just(Op::Reads),
    ]
}

fn run_case(ops: &[Op]) -> Result<(), TestCaseError> {
    let rig = rig();
    let mut m = Model::default();
    for (step, &op) in ops.iter().enumerate() {
        let what = format!("step {step}: {op:?}");
        let mut next = m.clone();
        let want = next.apply(op);
        if next.racy {
            continue; // an interleaving the model does not predict: not this step
        }
        m = next;
        let got = rig.run(op);
        prop_assert_eq!(got, want, "{}: return value", what);
        if op == Op::Reads {
            rig.reads(&what)?;
        }
        rig.settle(&m, &what)?;
        let seen = rig.observe();
        let expected = m.expected();
        prop_assert_eq!(
            &seen,
            &expected,
            "{}: the runtime differs from the model\n{}",
            what,
            rig.outer.health()
        );
    }

    prop_assert!(rig.outer.stop(), "final stop()");
    // Actions never fired hold another loop's handle: drop them.
    for action in rig.actions.iter().chain(&rig.tokens) {
        action.lock().take();
    }
    prop_assert!(!rig.outer.has_alive_loops());
    prop_assert_eq!(rig.outer.health().supervisor, None);
    prop_assert_eq!(rig.inner.health().supervisor, None, "nested supervisor");
    for (i, (h, log)) in rig.loops.iter().zip(&rig.logs).enumerate() {
        let obs = h.observe(log);
        prop_assert_eq!(obs.state, LoopState::Stopped, "{}", NAMES[i]);
        prop_assert_eq!(obs.on_start, obs.on_stop, "{}: pairing", NAMES[i]);
        prop_assert_eq!(
            obs.on_thread_start,
            obs.on_thread_stop,
            "{}: pairing",
            NAMES[i]
        );
        for e in log.events().iter().filter(|e| e.hook == "on_stop") {
            prop_assert!(
                !e.detail.starts_with("WHILE"),
                "{}: on_stop ran {}",
                NAMES[i],
                e.detail
            );
        }
    }
    common::assert_nothing_ran_under_a_lock();
    Ok(())
}

proptest! {
    #![proptest_config(common::model_config(64))]

    #[test]
    fn nested_controllers_follow_the_model(ops in prop::collection::vec(op(), 1..40)) {
        run_case(&ops)?;
    }
}
