//! Issue 24, item 2: a controller holds no busy flag while user code runs. Its group
//! operations (`maintain_loops`, `stop_loops`, a reset) run side by side, and none waits for
//! another one's hooks: a `maintain_loops` during a reset is left to the reset, a stop runs
//! beside it and wins. Each test holds a hook open on a channel while it calls in from another
//! thread; a call that waited for that hook would fail its `within_bound` watchdog.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::hooks::Hooks;
use common::*;
use superloops::channel::{bounded, Receiver, Sender};
use superloops::prelude::*;

hooked!(Plain, grace = "20s");
hooked!(Lone, grace = "20s", reset_globally = false);
hooked!(Trigger, grace = "20s", max_failures = 0);

/// A gate a hook blocks on until the test opens it, telling the test when it is inside.
#[derive(Clone)]
struct Gate {
    inside: (Sender<()>, Receiver<()>),
    open: (Sender<()>, Receiver<()>),
}

impl Gate {
    fn new() -> Gate {
        Gate {
            inside: bounded(1),
            open: bounded(1),
        }
    }

    /// In the hook: says it is inside, and waits to be let through.
    fn pass(&self) {
        self.inside.0.send(()).unwrap();
        self.open
            .1
            .recv_timeout(BOUND)
            .expect("the test never opened the gate");
    }

    /// In the test: waits until a hook is inside.
    fn wait_inside(&self) {
        self.inside
            .1
            .recv_timeout(BOUND)
            .expect("no hook came to the gate");
    }

    fn open(&self) {
        self.open.0.send(()).unwrap();
    }
}

/// A gate that only the `n`th call (counting from 1) of the hook passes through; the others
/// go straight on.
fn nth(n: usize, gate: &Gate) -> impl Fn() + Send + Sync + 'static {
    let (calls, gate) = (Arc::new(AtomicUsize::new(0)), gate.clone());
    move || {
        if calls.fetch_add(1, Ordering::SeqCst) + 1 == n {
            gate.pass();
        }
    }
}

/// Starts the supervisor and every member, and waits until the group is green.
fn run(c: &LoopController) {
    assert!(c.start());
    c.maintain_loops();
    green(c);
}

/// Stops the group within the bound; nothing ran under a crate lock meanwhile.
fn finish(c: LoopController) {
    within_bound("stop", move || c.stop());
    assert_nothing_ran_under_a_lock();
}

fn controller() -> LoopController {
    LoopController::new().backoff(Duration::ZERO, Duration::ZERO)
}

/// While `on_reset` runs, every member of the reset's set is stopped. A `maintain_loops` from
/// another thread then returns at once without starting them (`on_reset` may rely on them being
/// stopped); the reset does it when its members are started again, so a member stopped from
/// outside before is running once the group is green.
#[test]
fn maintain_loops_during_on_reset_is_left_to_the_reset() {
    let gate = Gate::new();
    let g = gate.clone();
    let c = controller().on_reset(move || g.pass());
    let a = Hooks::default();
    let (a_log, trigger_log) = (a.log.clone(), Hooks::default());
    let a = c.new_loop(Plain(a));
    let trigger = c.new_loop(Trigger(trigger_log));
    let other = Hooks::default();
    let other_log = other.log.clone();
    let other = c.new_loop(Lone(other));
    run(&c);
    a_log.wait_for("cycle", 1);
    assert!(other.stop(), "stopped from outside: out of supervision");

    assert!(trigger.failure());
    gate.wait_inside();
    let c2 = c.clone();
    within_bound("maintain_loops during on_reset", move || {
        c2.maintain_loops()
    });
    assert!(
        !a.is_alive() && !trigger.is_alive(),
        "nothing of the reset's set starts while on_reset runs"
    );
    assert!(!other.is_alive(), "the maintain waits for the reset's end");
    assert_eq!(other_log.count("on_start"), 1);

    gate.open();
    green(&c);
    assert!(a.is_alive() && trigger.is_alive(), "restarted by the reset");
    assert!(other.is_alive(), "started by the maintain the reset ran");
    assert_eq!(other_log.count("on_start"), 2);
    within_bound("stop", move || c.stop());
    assert_eq!(a_log.count("on_start"), a_log.count("on_stop"));
    assert_nothing_ran_under_a_lock();
}

/// A reset's restart phase runs a member's `on_start` on the supervisor thread. A
/// `maintain_loops` from another thread meanwhile returns without waiting for that hook.
#[test]
fn maintain_loops_does_not_wait_for_a_reset_restarting_a_member() {
    let gate = Gate::new();
    let c = controller();
    let slow = Hooks::default().on_start(nth(2, &gate));
    let slow_log = slow.log.clone();
    let slow = c.new_loop(Plain(slow));
    let trigger = c.new_loop(Trigger(Hooks::default()));
    run(&c);

    assert!(trigger.failure());
    gate.wait_inside();
    let c2 = c.clone();
    within_bound("maintain_loops during a reset's on_start", move || {
        c2.maintain_loops()
    });
    assert!(!c.is_green(), "the reset is still under way");

    gate.open();
    green(&c);
    assert!(slow.is_alive() && trigger.is_alive());
    assert_eq!(
        slow_log.count("on_start"),
        2,
        "one start by the reset, none by the maintain"
    );
    within_bound("stop", move || c.stop());
    assert_eq!(slow_log.count("on_start"), slow_log.count("on_stop"));
    assert_nothing_ran_under_a_lock();
}

/// A reset's stop phase runs a member's `on_stop` on the supervisor thread. A `stop_loops`
/// from another thread meanwhile stops the members outside the reset's set at once, waits
/// only for the member whose `on_stop` runs, and wins: the reset restarts nothing.
#[test]
fn stop_loops_runs_beside_a_reset_and_wins() {
    let gate = Gate::new();
    let c = controller();
    let slow = Hooks::default().on_stop(nth(1, &gate));
    let slow_log = slow.log.clone();
    let slow = c.new_loop(Plain(slow));
    let trigger = c.new_loop(Trigger(Hooks::default()));
    let other = Hooks::default();
    let other_log = other.log.clone();
    let other = c.new_loop(Lone(other));
    run(&c);
    other_log.wait_for("cycle", 1);

    assert!(trigger.failure());
    gate.wait_inside();
    let c2 = c.clone();
    let stopping = std::thread::spawn(move || c2.stop_loops());
    // The member outside the set is stopped while the reset is held in slow's on_stop.
    other_log.wait_for("on_stop", 1);
    assert!(!other.is_alive());

    gate.open();
    let stopped = within_bound("stop_loops", move || stopping.join().unwrap());
    assert!(stopped, "no member thread left running");
    green(&c);
    assert!(
        !slow.is_alive() && !trigger.is_alive() && !other.is_alive(),
        "the stop won: the reset restarted nothing\n{}",
        c.health()
    );
    assert_eq!(slow_log.count("on_start"), 1);
    finish(c);
}

/// A stop of the group that comes after a `maintain_loops` left to a reset wins over it: once
/// the reset is over, nothing runs.
#[test]
fn a_stop_drops_a_maintain_left_to_a_reset() {
    let gate = Gate::new();
    let g = gate.clone();
    let c = controller().on_reset(move || g.pass());
    let a = c.new_loop(Plain(Hooks::default()));
    let trigger = c.new_loop(Trigger(Hooks::default()));
    let other = c.new_loop(Lone(Hooks::default()));
    run(&c);
    assert!(other.stop());

    assert!(trigger.failure());
    gate.wait_inside();
    let c2 = c.clone();
    within_bound("maintain_loops", move || c2.maintain_loops());
    let c2 = c.clone();
    assert!(within_bound("stop_loops", move || c2.stop_loops()));

    gate.open();
    green(&c);
    assert!(
        !a.is_alive() && !trigger.is_alive() && !other.is_alive(),
        "the stop came last and won\n{}",
        c.health()
    );
    finish(c);
}

/// A member's `on_start`, run by `maintain_loops` on one thread, does not hold up a
/// `maintain_loops` on another: the second starts the members it can, and leaves the one
/// being started to the start under way.
#[test]
fn two_maintains_run_side_by_side() {
    let gate = Gate::new();
    let c = controller();
    let first = Hooks::default();
    let first_log = first.log.clone();
    let first = c.new_loop(Plain(first));
    let slow = c.new_loop(Plain(Hooks::default().on_start(nth(1, &gate))));
    assert!(c.start());
    let c2 = c.clone();
    let maintaining = std::thread::spawn(move || c2.maintain_loops());
    gate.wait_inside();
    assert!(first.stop(), "stopped while the slow member starts");
    let c2 = c.clone();
    within_bound("a second maintain_loops", move || c2.maintain_loops());
    assert!(first.is_alive(), "started again by the second maintain");
    assert_eq!(first_log.count("on_start"), 2);

    gate.open();
    within_bound("the first maintain_loops", move || {
        maintaining.join().unwrap()
    });
    green(&c);
    assert!(slow.is_alive());
    finish(c);
}

/// Stop wins over a `maintain_loops` under way: a member stopped with its handle from a hook
/// that the maintain runs (an earlier member's `on_start`) stays stopped, though the maintain
/// reaches it afterwards. A `maintain_loops` called after the stop starts it.
#[test]
fn a_member_stopped_from_a_hook_during_maintain_loops_stays_stopped() {
    let c = controller();
    let b_slot: Arc<std::sync::OnceLock<LoopHandle<Plain>>> = Arc::default();
    let (slot, calls) = (b_slot.clone(), Arc::new(AtomicUsize::new(0)));
    let a = Hooks::default().on_start(move || {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            assert!(slot.get().unwrap().stop(), "b was not running");
        }
    });
    let a = c.new_loop(Plain(a));
    let b = Hooks::default();
    let b_log = b.log.clone();
    let b = c.new_loop(Plain(b));
    let _ = b_slot.set(b.clone());
    assert!(c.start());
    let c2 = c.clone();
    within_bound("maintain_loops", move || c2.maintain_loops());
    green(&c);
    assert!(a.is_alive());
    assert!(
        !b.is_alive(),
        "stopped after the maintain began: it stays stopped"
    );
    assert_eq!(b_log.count("on_start"), 0);

    let c2 = c.clone();
    within_bound("maintain_loops", move || c2.maintain_loops());
    assert!(b.is_alive(), "a later maintain starts it");
    finish(c);
}

/// The supervisor never waits for a hook on another thread. A member whose thread stopped
/// itself is being started by a user thread (its `on_start` held open) when the supervisor
/// comes to restart it: that start is the restart, and the supervisor goes on, so the group
/// settles while the user's `on_start` still runs.
#[test]
fn the_supervisor_leaves_a_member_to_the_thread_starting_it() {
    let (reset_gate, start_gate) = (Gate::new(), Gate::new());
    let g = reset_gate.clone();
    let c = controller().on_reset(move || g.pass());
    let trigger = c.new_loop(Trigger(Hooks::default()));
    let (quit, quit_rx) = bounded::<()>(1);
    let x = Hooks::default()
        .on_start(nth(2, &start_gate))
        .cycle(move |ctx| {
            if ctx.recv(&quit_rx).is_some() {
                ctx.stop();
            }
        });
    let x_log = x.log.clone();
    let x = c.new_loop(Lone(x));
    run(&c);
    x_log.wait_for("cycle", 1);

    // The supervisor is held in on_reset while x's thread stops itself.
    assert!(trigger.failure());
    reset_gate.wait_inside();
    quit.send(()).unwrap();
    x_log.wait_for("on_stop", 1);
    eventually("x's thread ended", || !x.is_alive());
    let x2 = x.clone();
    let starting = std::thread::spawn(move || x2.start());
    start_gate.wait_inside();

    // The supervisor comes to x's end with the user's on_start under way.
    reset_gate.open();
    green(&c);
    assert_eq!(
        x_log.count("on_start"),
        2,
        "the user's start is the restart"
    );

    start_gate.open();
    assert!(within_bound("the user's start", move || starting
        .join()
        .unwrap()));
    assert!(x.is_alive());
    finish(c);
}

/// Nor for a stop under way on another thread: a member whose start failed is stopped by a
/// user thread (its `on_stop` held open) when the supervisor comes to retry the start. The
/// stop decides (the member is out of supervision), and the group settles meanwhile.
#[test]
fn the_supervisor_leaves_a_member_to_the_thread_stopping_it() {
    let (reset_gate, stop_gate) = (Gate::new(), Gate::new());
    let g = reset_gate.clone();
    let c = controller().on_reset(move || g.pass());
    let trigger = c.new_loop(Trigger(Hooks::default()));
    let starts = Arc::new(AtomicUsize::new(0));
    let x = Hooks::default()
        .on_start(move || {
            if starts.fetch_add(1, Ordering::SeqCst) == 1 {
                panic!("the second start fails");
            }
        })
        .on_stop(nth(2, &stop_gate));
    let x_log = x.log.clone();
    let x = c.new_loop(Lone(x));
    run(&c);

    // While the supervisor is held in on_reset: a failed start (its retry is queued), a
    // start that works, and a stop held in on_stop.
    assert!(trigger.failure());
    reset_gate.wait_inside();
    assert!(x.stop());
    assert!(!x.start(), "the second on_start panics");
    assert!(x.start());
    let x2 = x.clone();
    let stopping = std::thread::spawn(move || x2.stop());
    stop_gate.wait_inside();

    // The supervisor comes to the retry with the user's on_stop under way.
    reset_gate.open();
    green(&c);

    stop_gate.open();
    assert!(within_bound("the user's stop", move || stopping
        .join()
        .unwrap()));
    assert!(!x.is_alive(), "stopped from outside: not restarted");
    assert_eq!(x_log.count("on_start"), 3);
    finish(c);
}
