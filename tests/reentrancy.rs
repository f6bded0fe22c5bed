//! DESIGN.md's re-entrancy promise, every combination: any public method of a loop or of its
//! controller, called from any hook (`on_start`, `on_thread_start`, `cycle`, `on_thread_stop`,
//! `on_stop`) or from `on_reset`, while the group runs that hook in `maintain_loops`, a reset
//! or its `stop`, returns; the operation that ran the hook returns; and once the group is
//! stopped every thread has ended and every hook pairs. A hang fails its case within
//! `BOUND`, naming it. Each case runs with the group on its own, and again nested in a
//! parent group, whose operations join the calls and whose reset joins the triggers.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use superloops::channel::{unbounded, Receiver, Sender};
use superloops::prelude::*;
use superloops::{LoopError, LoopState};

/// What the hook calls.
#[derive(Clone, Copy, Debug)]
enum Action {
    SelfStart,
    SelfStop,
    SelfHardReset,
    SelfFailure,
    SelfReads,
    SiblingStart,
    SiblingStop,
    SiblingHardReset,
    SiblingFailure,
    GroupStart,
    GroupStop,
    GroupStopLoops,
    GroupMaintain,
    GroupWaitGreen,
    GroupReads,
    /// The parent group's (nested cases only).
    ParentStop,
    ParentStopLoops,
    ParentMaintain,
    ParentWaitGreen,
}

const ACTIONS: [Action; 15] = [
    Action::SelfStart,
    Action::SelfStop,
    Action::SelfHardReset,
    Action::SelfFailure,
    Action::SelfReads,
    Action::SiblingStart,
    Action::SiblingStop,
    Action::SiblingHardReset,
    Action::SiblingFailure,
    Action::GroupStart,
    Action::GroupStop,
    Action::GroupStopLoops,
    Action::GroupMaintain,
    Action::GroupWaitGreen,
    Action::GroupReads,
];

/// The calls nested cases add to the flat cases' [`ACTIONS`]: the parent group's.
const PARENT_ACTIONS: [Action; 4] = [
    Action::ParentStop,
    Action::ParentStopLoops,
    Action::ParentMaintain,
    Action::ParentWaitGreen,
];

/// Where the actor's group stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// A group of its own: the actor and its sibling.
    Flat,
    /// The same group, nested in a parent whose members are a lead loop and that group.
    Nested,
}

/// What runs the hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    /// `maintain_loops` of a started group: `on_start`, `on_thread_start`, `cycle`.
    Maintain,
    /// A reset of a green group: every hook, and `on_reset`.
    Reset,
    /// A reset of the parent (nested cases), which stops and restarts the actor's group.
    ParentReset,
    /// The group's `stop`: `on_thread_stop`, `on_stop`.
    Stop,
    /// A task of the green group, and a `then` callback of a timer (not hooks: callers the
    /// promise names too).
    Callers,
    /// A user thread's `start` of the actor, stopped from outside: `on_start`,
    /// `on_thread_start`, `cycle`.
    UserStart,
    /// A user thread's `stop` of the actor: `on_thread_stop`, `on_stop`.
    UserStop,
}

/// The hooks each trigger runs on the actor.
fn hooks_of(trigger: Trigger) -> &'static [&'static str] {
    match trigger {
        Trigger::Maintain => &["on_start", "on_thread_start", "cycle"],
        Trigger::Reset => &[
            "on_thread_stop",
            "on_stop",
            "on_reset",
            "on_start",
            "on_thread_start",
            "cycle",
        ],
        Trigger::ParentReset => &[
            "on_thread_stop",
            "on_stop",
            "on_start",
            "on_thread_start",
            "cycle",
        ],
        Trigger::Stop => &["on_thread_stop", "on_stop"],
        Trigger::Callers => &["task", "then"],
        Trigger::UserStart => &["on_start", "on_thread_start", "cycle"],
        Trigger::UserStop => &["on_thread_stop", "on_stop"],
    }
}

/// What the actor's hooks can reach.
#[derive(Default)]
struct Reach {
    me: OnceLock<LoopHandle<Actor>>,
    sibling: OnceLock<LoopHandle<Actor>>,
    group: OnceLock<LoopController>,
    parent: OnceLock<LoopController>,
}

/// Does `action` once, in hook `hook`, when armed, and lets the partner (a user thread) make
/// its own call at that moment; logs "acted" once the hook's call has returned.
struct Arm {
    hook: &'static str,
    action: Action,
    armed: AtomicBool,
    reach: Reach,
    partner: Sender<()>,
    partner_done: Receiver<()>,
    log: Log,
}

impl Arm {
    fn fire(&self, hook: &str) {
        if hook != self.hook || !self.armed.swap(false, Ordering::SeqCst) {
            return;
        }
        // The partner calls in while this hook runs. Its call is given a moment to get under
        // way, or to return, before this hook makes its own (the partner may be waiting for
        // this hook: the wait is bounded, and no outcome depends on it).
        if self.partner.send(()).is_ok() {
            let _ = self.partner_done.recv_timeout(Duration::from_millis(20));
        }
        act(&self.reach, self.action);
        self.log.push("acted");
    }
}

fn act(r: &Reach, action: Action) {
    let (me, sibling, group) = (
        r.me.get().unwrap(),
        r.sibling.get().unwrap(),
        r.group.get().unwrap(),
    );
    let parent = || r.parent.get().expect("a nested case");
    let reads = |h: &LoopHandle<Actor>| {
        let _ = (h.is_alive(), h.is_running(), h.failures(), h.status());
        let _ = (h.thread_name(), format!("{h:?}"));
    };
    match action {
        Action::SelfStart => drop(me.start()),
        Action::SelfStop => drop(me.stop()),
        Action::SelfHardReset => drop(me.hard_reset()),
        Action::SelfFailure => drop(me.failure()),
        Action::SelfReads => reads(me),
        Action::SiblingStart => drop(sibling.start()),
        Action::SiblingStop => drop(sibling.stop()),
        Action::SiblingHardReset => drop(sibling.hard_reset()),
        Action::SiblingFailure => drop(sibling.failure()),
        Action::GroupStart => drop(group.start()),
        Action::GroupStop => drop(group.stop()),
        Action::GroupStopLoops => drop(group.stop_loops()),
        Action::GroupMaintain => group.maintain_loops(),
        Action::GroupWaitGreen => drop(group.wait_green(Duration::from_millis(20))),
        Action::GroupReads => {
            let _ = (group.is_green(), group.health(), group.resets());
            let _ = (group.alive_loops(), group.stalled_loops());
            let _ = (group.has_alive_loops(), group.health().to_string());
        }
        Action::ParentStop => drop(parent().stop()),
        Action::ParentStopLoops => drop(parent().stop_loops()),
        Action::ParentMaintain => parent().maintain_loops(),
        Action::ParentWaitGreen => drop(parent().wait_green(Duration::from_millis(20))),
    }
}

/// A member whose every hook logs itself and gives its arm a chance to act.
struct Actor {
    log: Log,
    arm: Option<Arc<Arm>>,
}

impl Actor {
    fn hook(&self, hook: &'static str) {
        self.log.push(hook);
        if let Some(arm) = &self.arm {
            arm.fire(hook);
        }
    }
}

impl superloops::SuperLoop for Actor {
    const CONFIG: superloops::LoopConfig = superloops::LoopConfig::new("Actor")
        .grace(Duration::from_secs(20))
        .max_failures(0);
    fn on_start(&mut self) -> Result<bool, LoopError> {
        self.hook("on_start");
        Ok(true)
    }
    fn on_thread_start(&mut self) {
        self.hook("on_thread_start");
    }
    fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
        self.hook("cycle");
        ctx.sleep(Duration::from_secs(3600));
        Ok(())
    }
    fn on_thread_stop(&mut self) {
        self.hook("on_thread_stop");
    }
    fn on_stop(&mut self) {
        self.hook("on_stop");
    }
}

/// One case: the actor's `hook` does `action` while `trigger` runs it, and a user thread
/// makes the `partner` call at the same moment.
fn case(
    shape: Shape,
    trigger: Trigger,
    hook: &'static str,
    action: Action,
    partner: Option<Action>,
) {
    let what = format!("{action:?} from {hook} during {trigger:?}, beside {partner:?} ({shape:?})");
    let (partner_tx, partner_rx) = unbounded();
    let (done_tx, done_rx) = unbounded();
    let arm = Arc::new(Arm {
        hook,
        action,
        armed: AtomicBool::new(false),
        reach: Reach::default(),
        partner: partner_tx,
        partner_done: done_rx,
        log: Log::default(),
    });
    let arm_in_reset = arm.clone();
    let c = LoopController::new()
        .named("Reentrant")
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .on_reset(move || arm_in_reset.fire("on_reset"));
    let (actor_log, sibling_log) = (Log::default(), Log::default());
    let actor = c.new_loop(Actor {
        log: actor_log.clone(),
        arm: Some(arm.clone()),
    });
    let sibling = c.new_loop(Actor {
        log: sibling_log.clone(),
        arm: None,
    });
    let reach = &arm.reach;
    let _ = (reach.me.set(actor.clone()), reach.sibling.set(sibling));
    let _ = reach.group.set(c.clone());
    // The group its case starts and stops: the parent in nested cases, with a lead loop
    // (whose failure resets the parent) declared before the actor's group.
    let lead_log = Log::default();
    let (top, lead) = match shape {
        Shape::Flat => (c.clone(), None),
        Shape::Nested => {
            let parent = LoopController::new()
                .named("Parent")
                .backoff(Duration::from_millis(1), Duration::from_millis(1));
            let lead = parent.new_loop(Actor {
                log: lead_log.clone(),
                arm: None,
            });
            parent.add(&c);
            let _ = reach.parent.set(parent.clone());
            (parent, Some(lead))
        }
    };
    // The arm holds a clone of the group, and the group's `on_reset` holds the arm: a cycle
    // that keeps the controller, so each case ends with an explicit `stop`.

    assert!(top.start(), "{what}: the supervisor did not start");
    if trigger != Trigger::Maintain {
        top.maintain_loops();
        for g in [&top, &c] {
            assert!(g.wait_green(BOUND), "{what}: never green:\n{}", g.health());
        }
        actor_log.wait_for("cycle", 1);
    }
    if trigger == Trigger::UserStart {
        assert!(actor.stop(), "{what}: the actor did not stop");
    }
    let partner = partner.map(|call| {
        let (arm, sibling_log) = (arm.clone(), sibling_log.clone());
        std::thread::spawn(move || {
            if partner_rx.recv_timeout(BOUND).is_ok() {
                let stops = sibling_log.count("on_thread_stop");
                act(&arm.reach, call);
                // A failure's reset runs on the supervisor: give it until its stop reaches the
                // sibling (or the hook's bound) before the hook goes on.
                if matches!(call, Action::SelfFailure | Action::SiblingFailure) {
                    let until = Instant::now() + Duration::from_millis(20);
                    while sibling_log.count("on_thread_stop") == stops && Instant::now() < until {
                        std::thread::yield_now();
                    }
                }
                let _ = done_tx.send(());
            }
        })
    });
    arm.armed.store(true, Ordering::SeqCst);
    let (c2, top2, actor2, arm2) = (c.clone(), top.clone(), actor.clone(), arm.clone());
    let lead2 = lead.clone();
    // A timer nobody holds is forgotten: its signal is held until the case ends.
    let _timer = within_bound(&format!("the trigger of {what}"), move || {
        match (trigger, hook) {
            (Trigger::Maintain, _) => top2.maintain_loops(),
            (Trigger::Reset, _) => drop(actor2.failure()),
            (Trigger::ParentReset, _) => drop(lead2.expect("a nested case").failure()),
            (Trigger::Stop, _) => drop(top2.stop()),
            (Trigger::UserStart, _) => drop(actor2.start()),
            (Trigger::UserStop, _) => drop(actor2.stop()),
            (Trigger::Callers, "task") => {
                let task = c2.spawn_task("ReentrantTask", move |_ctx| {
                    arm2.fire("task");
                    Ok::<_, String>(())
                });
                // A group stopped by its own task may have stopped the task first: any end
                // will do, as long as it comes.
                drop(task.expect("the task spawns").join());
            }
            (Trigger::Callers, _) => {
                let timer = Signal::after(Duration::from_millis(1));
                timer.then(move || arm2.fire("then"));
                return Some(timer);
            }
        }
        None
    });
    let log = arm.log.clone();
    within_bound(&format!("{what} to return"), move || {
        log.wait_for("acted", 1)
    });
    if let Some(partner) = partner {
        within_bound(&format!("the partner of {what} to return"), move || {
            partner.join().expect("the partner's call does not panic")
        });
    }

    // Settled: the group stops, every thread ends, every hook pairs.
    let top2 = top.clone();
    within_bound(&format!("the final stop after {what}"), move || top2.stop());
    let (a2, s2) = (actor.clone(), reach.sibling.get().unwrap().clone());
    let lead2 = lead.clone();
    within_bound(&format!("the threads of {what} to end"), move || {
        eventually("no member alive", || {
            !a2.is_alive() && !s2.is_alive() && !lead2.as_ref().is_some_and(|l| l.is_alive())
        })
    });
    let logs = [
        ("actor", &actor_log),
        ("sibling", &sibling_log),
        ("lead", &lead_log),
    ];
    for (name, log) in logs {
        assert_eq!(
            log.count("on_start"),
            log.count("on_stop"),
            "{what}: {name}'s on_start/on_stop do not pair: {:?}",
            log.hooks()
        );
        assert_eq!(
            log.count("on_thread_start"),
            log.count("on_thread_stop"),
            "{what}: {name}'s thread hooks do not pair: {:?}",
            log.hooks()
        );
    }
    assert_eq!(actor.status().state, LoopState::Stopped, "{what}");
    assert!(!top.has_alive_loops(), "{what}: {}", top.health());
}

/// What a user thread calls while the hook runs.
const PARTNERS: [Option<Action>; 7] = [
    None,
    Some(Action::SelfStop),
    Some(Action::SelfFailure),
    Some(Action::SiblingStop),
    Some(Action::SiblingFailure),
    Some(Action::GroupStop),
    Some(Action::GroupMaintain),
];

/// What a user thread calls while the hook runs, in nested cases.
const NESTED_PARTNERS: [Option<Action>; 5] = [
    None,
    Some(Action::SelfFailure),
    Some(Action::SiblingStop),
    Some(Action::ParentStop),
    Some(Action::ParentMaintain),
];

fn all_cases(trigger: Trigger) {
    for &hook in hooks_of(trigger) {
        for action in ACTIONS {
            for partner in PARTNERS {
                case(Shape::Flat, trigger, hook, action, partner);
            }
        }
    }
    assert_nothing_ran_under_a_lock();
}

fn all_nested_cases(trigger: Trigger) {
    for &hook in hooks_of(trigger) {
        for &action in ACTIONS.iter().chain(&PARENT_ACTIONS) {
            for partner in NESTED_PARTNERS {
                case(Shape::Nested, trigger, hook, action, partner);
            }
        }
    }
    assert_nothing_ran_under_a_lock();
}

#[test]
fn any_call_from_any_hook_run_by_maintain_loops_returns() {
    all_cases(Trigger::Maintain);
}

#[test]
fn any_call_from_any_hook_run_by_a_reset_returns() {
    all_cases(Trigger::Reset);
}

#[test]
fn any_call_from_any_hook_run_by_the_groups_stop_returns() {
    all_cases(Trigger::Stop);
}

#[test]
fn any_call_from_a_task_or_a_then_callback_returns() {
    all_cases(Trigger::Callers);
}

#[test]
fn any_call_from_any_hook_run_by_a_users_start_returns() {
    all_cases(Trigger::UserStart);
}

#[test]
fn any_call_from_any_hook_run_by_a_users_stop_returns() {
    all_cases(Trigger::UserStop);
}

#[test]
fn nested_any_call_from_any_hook_run_by_the_parents_maintain_loops_returns() {
    all_nested_cases(Trigger::Maintain);
}

#[test]
fn nested_any_call_from_any_hook_run_by_a_reset_returns() {
    all_nested_cases(Trigger::Reset);
}

#[test]
fn nested_any_call_from_any_hook_run_by_the_parents_reset_returns() {
    all_nested_cases(Trigger::ParentReset);
}

#[test]
fn nested_any_call_from_any_hook_run_by_the_parents_stop_returns() {
    all_nested_cases(Trigger::Stop);
}

#[test]
fn nested_any_call_from_a_task_or_a_then_callback_returns() {
    all_nested_cases(Trigger::Callers);
}

#[test]
fn nested_any_call_from_any_hook_run_by_a_users_start_or_stop_returns() {
    all_nested_cases(Trigger::UserStart);
    all_nested_cases(Trigger::UserStop);
}
