//! The model: what each operation does to the five loops and the two groups, by the rules
//! listed in `main.rs`, and what should be observed after it.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Group {
    Outer,
    Inner,
}

/// The group a loop reports to.
fn group_of(i: usize) -> Group {
    if i == B || i == C {
        Group::Inner
    } else {
        Group::Outer
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct LoopModel {
    /// `is_running`: started and not asked to stop since.
    wanted: bool,
    /// Its group restarts it in a reset: set by every start, cleared by a stop from outside.
    pub(crate) supervised: bool,
    live: bool,
    /// Threads started so far.
    pub(crate) gens: u64,
    pub(crate) on_start: usize,
    pub(crate) on_stop: usize,
    pub(crate) on_thread_start: usize,
    pub(crate) on_thread_stop: usize,
    /// What its next `on_stop` stops (from outside: out of supervision).
    on_stop_stops: Option<Target>,
    /// A stop-token callback for its next thread to register, and the one its live thread
    /// registered; threads that registered one so far.
    token_pending: Option<usize>,
    token_live: Option<usize>,
    pub(crate) armed: usize,
}

/// What an armed `on_stop` stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Loop(usize),
    /// `stop_loops()` of a group: its loops in dependency order (the last declared first).
    Group(Group),
}

impl LoopModel {
    pub(crate) fn start(&mut self) -> bool {
        self.supervised = true;
        self.wanted = true;
        if self.live {
            return false;
        }
        self.on_start += 1;
        self.live = true;
        self.gens += 1;
        self.on_thread_start += 1;
        // Its first cycle registers the callback waiting for it.
        self.token_live = self.token_pending.take();
        if self.token_live.is_some() {
            self.armed += 1;
        }
        true
    }

    pub(crate) fn stop(&mut self, unsupervise: bool) {
        self.wanted = false;
        if unsupervise {
            self.supervised = false;
        }
        if self.live {
            self.live = false;
            self.on_thread_stop += 1;
            self.on_stop += 1;
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct GroupModel {
    pub(crate) supervisor: bool,
    /// Supervisor threads started so far.
    pub(crate) supervisors: u64,
    pub(crate) resets: u64,
    /// `Exceeded` events sent and not handled (under `one_for_all` the trigger does not
    /// matter: every member resets).
    pub(crate) pending: usize,
    /// The mailbox is closed: from a stop of the group until its supervisor starts again,
    /// events are dropped (events sent before the first start wait for it).
    closed: bool,
}

impl GroupModel {
    fn start_supervisor(&mut self) -> bool {
        if self.supervisor {
            return false;
        }
        self.supervisor = true;
        self.closed = false;
        self.supervisors += 1;
        true
    }

    /// Ends the supervisor (if one runs); the events it had not handled are dropped, and
    /// so are events sent until a supervisor starts again.
    fn shutdown(&mut self) {
        self.supervisor = false;
        self.pending = 0;
        self.closed = true;
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Model {
    pub(crate) loops: [LoopModel; 4],
    pub(crate) outer: GroupModel,
    pub(crate) inner: GroupModel,
    /// The step would need an interleaving the model does not predict (see the module docs).
    pub(crate) racy: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CtlOp {
    Start,
    Stop,
    StopLoops,
    Maintain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoopOp {
    Start,
    Stop,
    Failure,
    /// Its next `on_stop` calls `stop()` on loop `j` (itself, a sibling, or a loop of the
    /// other group): from the test thread, or from a supervisor thread in a reset.
    OnStopStops(usize),
    /// Its next `on_stop` calls `stop_loops()` on a controller (its own, or the other).
    OnStopStopsGroup(Group),
    /// Its next thread registers, in its first cycle, a `then` callback on its stop token that
    /// calls `stop()` on loop `j`: run by whatever thread stops it (a supervisor in a reset).
    TokenStops(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Ctl(Group, CtlOp),
    Loop(usize, LoopOp),
    Reads,
}

impl Model {
    fn inner_alive(&self) -> bool {
        self.loops[B].live || self.loops[C].live
    }

    /// Stops loop `i`; if its `on_stop` runs and is armed, that stops its target in turn,
    /// there and then (before whatever the caller does next: a reset's restart phase skips a
    /// loop so stopped).
    fn stop_loop(&mut self, i: usize, unsupervise: bool) {
        let mut work = vec![(i, unsupervise)];
        while let Some((i, unsupervise)) = work.pop() {
            let before = self.loops[i].on_stop;
            // Its stop token goes on first: the callback its thread registered runs then.
            if self.loops[i].live {
                if let Some(j) = self.loops[i].token_live.take() {
                    work.push((j, true));
                }
            }
            self.loops[i].stop(unsupervise);
            if self.loops[i].on_stop > before {
                // Pushed so that the first to stop is popped first: it stops there and then.
                match self.loops[i].on_stop_stops.take() {
                    Some(Target::Loop(j)) => work.push((j, true)),
                    Some(Target::Group(Group::Outer)) => {
                        work.extend([(A, true), (B, true), (C, true), (D, true)]);
                    }
                    Some(Target::Group(Group::Inner)) => {
                        work.extend([(B, true), (C, true)]);
                    }
                    None => {}
                }
            }
        }
    }

    pub(crate) fn group(&mut self, g: Group) -> &mut GroupModel {
        match g {
            Group::Outer => &mut self.outer,
            Group::Inner => &mut self.inner,
        }
    }

    /// `Inner.maintain_loops()`: starts B and C if not alive.
    fn inner_maintain(&mut self) {
        for i in [B, C] {
            if !self.loops[i].live {
                self.loops[i].start();
            }
        }
    }

    /// The nested group started by its parent's `maintain_loops`: its supervisor, then its own
    /// `maintain_loops`.
    fn inner_start_as_member(&mut self) {
        self.inner.start_supervisor();
        self.inner_maintain();
    }

    /// `Inner.stop_loops()`, or its parent stopping it: out of supervision, in reverse.
    fn inner_stop_from_outside(&mut self) {
        self.stop_loop(C, true);
        self.stop_loop(B, true);
    }

    /// `Outer.stop_loops()`.
    fn outer_stop_from_outside(&mut self) {
        self.stop_loop(D, true);
        self.inner_stop_from_outside();
        self.stop_loop(A, true);
    }

    fn outer_maintain(&mut self) {
        if !self.loops[A].live {
            self.loops[A].start();
        }
        // A nested group is maintained in turn, whether or not one of its loops runs.
        if !self.inner.supervisor && self.inner.pending > 0 {
            // The new supervisor resets while this maintain starts B and C.
            self.racy = true;
        }
        self.inner_start_as_member();
        if !self.loops[D].live {
            self.loops[D].start();
        }
    }

    fn outer_reset(&mut self) {
        self.outer.resets += 1;
        // Stop phase, in reverse order; a reset does not take members out of supervision.
        self.stop_loop(D, false);
        self.stop_loop(C, false);
        self.stop_loop(B, false);
        self.stop_loop(A, false);
        // Restart phase, in declaration order.
        if self.loops[A].supervised {
            self.loops[A].start();
        }
        // The nested group: each of its loops by the same rule; its supervisor is not started.
        // The reset gives B and C a clean slate, so the excesses of theirs that wait in the
        // nested group's mailbox are answered (stale) and cause no nested reset.
        self.inner.pending = 0;
        for i in [B, C] {
            if self.loops[i].supervised {
                self.loops[i].start();
            }
        }
        if self.loops[D].supervised {
            self.loops[D].start();
        }
    }

    fn inner_reset(&mut self) {
        self.inner.resets += 1;
        self.stop_loop(C, false);
        self.stop_loop(B, false);
        for i in [B, C] {
            if self.loops[i].supervised {
                self.loops[i].start();
            }
        }
    }

    /// The supervisors handle their events. The outer one's reset restarts the nested group's
    /// loops while holding the nested group's busy claim, so a nested reset waiting in its
    /// queue runs after that restart.
    fn process(&mut self) {
        loop {
            if self.outer.supervisor && self.outer.pending > 0 {
                if self.inner.supervisor && self.inner.pending > 0 {
                    // Both supervisors would work on B and C at once.
                    self.racy = true;
                }
                // One reset answers every queued event: the mailbox merges a member's
                // events, and the reset restarts every member, so the rest are stale.
                self.outer.pending = 0;
                self.outer_reset();
            } else if self.inner.supervisor && self.inner.pending > 0 {
                self.inner.pending = 0;
                self.inner_reset();
            } else {
                break;
            }
        }
    }

    /// Applies `op`; returns what the call returns, if it returns a `bool`.
    pub(crate) fn apply(&mut self, op: Op) -> Option<bool> {
        let want = match op {
            Op::Ctl(g, CtlOp::Start) => Some(self.group(g).start_supervisor()),
            Op::Ctl(Group::Outer, CtlOp::Stop) => {
                self.outer_stop_from_outside();
                self.inner.shutdown();
                self.outer.shutdown();
                Some(true)
            }
            Op::Ctl(Group::Inner, CtlOp::Stop) => {
                self.inner_stop_from_outside();
                self.inner.shutdown();
                Some(true)
            }
            Op::Ctl(Group::Outer, CtlOp::StopLoops) => {
                self.outer_stop_from_outside();
                Some(true)
            }
            Op::Ctl(Group::Inner, CtlOp::StopLoops) => {
                self.inner_stop_from_outside();
                Some(true)
            }
            Op::Ctl(Group::Outer, CtlOp::Maintain) => {
                self.outer_maintain();
                None
            }
            Op::Ctl(Group::Inner, CtlOp::Maintain) => {
                self.inner_maintain();
                None
            }
            Op::Loop(i, LoopOp::Start) => Some(self.loops[i].start()),
            Op::Loop(i, LoopOp::Stop) => {
                self.stop_loop(i, true);
                Some(true)
            }
            Op::Loop(i, LoopOp::OnStopStops(j)) => {
                self.loops[i].on_stop_stops = Some(Target::Loop(j));
                None
            }
            Op::Loop(i, LoopOp::OnStopStopsGroup(g)) => {
                self.loops[i].on_stop_stops = Some(Target::Group(g));
                None
            }
            Op::Loop(i, LoopOp::TokenStops(j)) => {
                self.loops[i].token_pending = Some(j);
                None
            }
            Op::Loop(i, LoopOp::Failure) => {
                // max_failures = 0: every failure exceeds the budget.
                let group = self.group(group_of(i));
                if !group.closed {
                    group.pending += 1;
                }
                Some(true)
            }
            Op::Reads => None,
        };
        self.process();
        want
    }

    pub(crate) fn expected(&self) -> Obs {
        let loops: Vec<LoopObs> = self
            .loops
            .iter()
            .enumerate()
            .map(|(i, l)| LoopObs {
                state: match (l.live, l.wanted) {
                    (true, _) => LoopState::Running,
                    (false, true) => LoopState::Failed,
                    (false, false) => LoopState::Stopped,
                },
                alive: l.live,
                running: l.wanted,
                failures: 0,
                thread: l.gens.checked_sub(1).map(|g| format!("{}_{g}", NAMES[i])),
                on_start: l.on_start,
                on_stop: l.on_stop,
                on_thread_start: l.on_thread_start,
                on_thread_stop: l.on_thread_stop,
            })
            .collect();
        let group = |g: &GroupModel, name: &str, alive: Vec<bool>| GroupObs {
            supervisor: g
                .supervisor
                .then(|| format!("{name}_{}", g.supervisors - 1)),
            // Events waiting for a supervisor keep the light off.
            green: g.pending == 0,
            resets: g.resets,
            on_reset: g.resets,
            has_alive: alive.iter().any(|a| *a),
            alive_loops: alive.iter().filter(|a| **a).count(),
            stalled_loops: 0,
            members_alive: alive,
        };
        Obs {
            outer: group(
                &self.outer,
                "Outer",
                vec![self.loops[A].live, self.inner_alive(), self.loops[D].live],
            ),
            inner: group(
                &self.inner,
                "Inner",
                vec![self.loops[B].live, self.loops[C].live],
            ),
            loops,
        }
    }
}
