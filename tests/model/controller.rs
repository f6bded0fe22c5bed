//! The model of a controller with three puppet members.
//!
//! Each member is modelled by a `HandleModel` (the handle model's rules, with `supervised` and
//! the `Ended` events its thread sends), and the controller by its supervisor, green light,
//! resets and events. Besides the operations of the controller and of the members' handles
//! (`start`, `stop`, `hard_reset`, `failure`, and making its next `on_start` decline or fail:
//! either is retried by the supervisor and counted against `max_restarts`), the driver blocks a member's cycle ignoring stop
//! (so that a stop, a reset or a hard reset abandons it after its short grace) and releases the
//! blocked threads; it stops the controller with `stop`, `stop_loops`, `stop_with_report` and
//! `run_until` (a signal already on, or one that goes on 1 ms later), and ends each case with a
//! `stop` or by dropping the controller (its only clone). Cases are built with or without
//! `stop_all_at_once`, with members made from one value or from a factory.
//!
//! After each step it compares each member's state, hook counts (where `on_stop` ran is left
//! out: a thread that ends on its own may be joined by a reset under way instead), abandoned
//! threads and thread name; the controller's supervisor, green light, resets, `on_reset` calls
//! and alive/stalled members; the return values and stop reports; and the threads of the case
//! alive in the process (`/proc/self/task`): at most one live thread per member, plus its
//! abandoned ones. A stop run on the test thread also checks its order: each `on_stop` it runs
//! records which members were still running then — in dependency order every member declared
//! before it that was running, all at once none. At the end every thread is released, and no
//! thread of the case may be left; hooks pair.
//!
//! A stop that abandons a thread that was *not* blocked (a machine too loaded for it to end
//! within its grace) is accepted when the call lasted the grace, and the model then follows the
//! abandonment path (the thread ends on its own soon after). A stop on the supervisor thread (a
//! reset's, or giving up) cannot be timed from here: the model predicts the join, which a
//! later abandonment usually reaches too (the queued restart runs when the value comes back);
//! when the runtime does not reach the model's state and one of those threads ran `on_stop`
//! itself (it was abandoned), the case ends early, inconclusive (`end_inconclusive`).

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Steady,
    Brittle,
    Loner,
}

impl Kind {
    pub(crate) fn config(self) -> LoopConfig {
        match self {
            Kind::Steady => Steady::CONFIG,
            Kind::Brittle => Brittle::CONFIG,
            Kind::Loner => Loner::CONFIG,
        }
    }
}

/// The supervisor thread's name prefix (unique in this binary: threads are counted by name).
pub(crate) const CTL: &str = "CtlModel";

#[derive(Clone, Debug)]
pub(crate) enum Ev {
    Exceeded(usize),
    Ended(usize, u64),
    StartFailed(usize),
}

#[derive(Clone, Debug)]
pub(crate) struct ControllerModel {
    pub(crate) strategy: Policy,
    pub(crate) max_restarts: Option<u32>,
    pub(crate) at_once: bool,
    pub(crate) supervisor: bool,
    /// Supervisor threads started so far.
    pub(crate) supervisors: u64,
    pub(crate) failed: bool,
    pub(crate) green: bool,
    pub(crate) resets: u64,
    pub(crate) reset_times: u32,
    pub(crate) on_reset: u64,
    pub(crate) members: Vec<HandleModel>,
    /// The members of the group, in declaration order: a removed one is not in it, and one
    /// added again is the last.
    pub(crate) order: Vec<usize>,
    /// Events sent and not handled (they wait while no supervisor runs).
    pub(crate) pending: VecDeque<Ev>,
    /// The group's mailbox takes events: from its creation until a stop, and again from a
    /// start of the supervisor (events sent before the first start wait for it).
    pub(crate) mailbox_open: bool,
    /// An event was handled while the group had given up: a no-op whose handling nothing
    /// observable tells apart from its not being handled yet (`wait_green` waits for a green
    /// light that is off). The case ends there rather than race it.
    pub(crate) unobservable: bool,
    /// The threads (member, thread name) the supervisor's stops in this step are expected to
    /// join: the driver watches for one of them running `on_stop` itself, abandoned.
    pub(crate) supervisor_joins: Vec<(usize, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ControllerObs {
    pub(crate) supervisor: Option<String>,
    pub(crate) green: bool,
    pub(crate) failed: bool,
    pub(crate) resets: u64,
    pub(crate) on_reset: u64,
    pub(crate) has_alive: bool,
    pub(crate) alive: usize,
    pub(crate) stalled: usize,
    pub(crate) members: Vec<HandleObs>,
    pub(crate) threads: Vec<String>,
}

/// A member's observation as the controller model compares it: without where `on_stop` ran.
fn in_group(mut obs: HandleObs) -> HandleObs {
    obs.on_stop_on_loop_threads = 0;
    obs
}

/// Thread names of the controller model's case (members and supervisor), sorted.
pub(crate) fn ctrl_threads() -> Vec<String> {
    threads_named(&["Steady_", "Brittle_", "Loner_", "CtlModel_"])
}

impl ControllerModel {
    /// The members of the group now (not those removed), in declaration order.
    pub(crate) fn grouped(&self) -> impl Iterator<Item = &HandleModel> {
        self.order.iter().map(|&i| &self.members[i])
    }

    pub(crate) fn expected(&self) -> ControllerObs {
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
        let stalled = self.grouped().filter(|h| stalled(h)).count();
        ControllerObs {
            supervisor: self
                .supervisor
                .then(|| format!("{CTL}_{}", self.supervisors - 1)),
            // An event not handled yet (no supervisor runs) keeps the light off: it may be a
            // member that should run and does not. So does a stalled member.
            green: self.green && self.pending.is_empty() && stalled == 0,
            failed: self.failed,
            resets: self.resets,
            on_reset: self.on_reset,
            has_alive: self.grouped().any(|h| h.live.is_some()),
            alive: self.grouped().filter(|h| h.live.is_some()).count(),
            stalled,
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
    pub(crate) fn collect(&mut self) {
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
    pub(crate) fn record_failure(&mut self, i: usize, from: Option<u64>) -> bool {
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

    pub(crate) fn process(&mut self) {
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

    pub(crate) fn reset(&mut self, trigger: usize) {
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
    pub(crate) fn stop_members(
        &mut self,
        abandon: &[bool],
        unsupervise: bool,
    ) -> (Vec<String>, Vec<String>) {
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
    pub(crate) fn stop_all(&mut self, abandon: &[bool]) -> (Vec<String>, Vec<String>) {
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
pub(crate) enum CtrlOp {
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

pub(crate) fn ctrl_op() -> impl Strategy<Value = CtrlOp> {
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
pub(crate) trait MemberOps: Send + Sync {
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

pub(crate) type Members = [(Arc<dyn MemberOps>, Controls)];
