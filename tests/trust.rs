//! Issue 11's regressions: each test pins a promise that landed main once broke, made
//! deterministic with channels and handshakes (no sleeps). The numbers are the items.
//! Items 9 and 10 (a panicking subscriber; refused timer and watchdog threads) touch
//! process-wide state and live in tests/process_wide.rs; item 13 is in tests/bad_input.rs;
//! items 1 and 7 also have unit tests beside the signal code.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::hooks::Hooks;
use common::*;
use superloops::channel::{bounded, unbounded, Receiver, Sender};
use superloops::prelude::*;

hooked!(Plain, grace = "20s");
hooked!(Lone, grace = "20s", reset_globally = false);
hooked!(Trigger, grace = "20s", max_failures = 0);

fn pair() -> (Sender<()>, Receiver<()>) {
    bounded(1)
}

/// Item 1: a combination made while its source goes on never reads on before the source.
#[test]
fn a_combination_never_reads_on_before_its_source() {
    for _ in 0..200 {
        let stop = Signal::new();
        let s = stop.clone();
        let goer = std::thread::spawn(move || s.go());
        for _ in 0..500 {
            let either = stop.clone() | Signal::new();
            if either.is_go() {
                assert!(stop.is_go(), "the combination went on before its source");
            }
        }
        goer.join().unwrap();
    }
    assert_nothing_ran_under_a_lock();
}

/// Item 2: a reset waits on a member whose `on_stop` (on the supervisor) calls a sibling that
/// a user thread is stopping, while that sibling's `on_stop` calls back the first member. A
/// circle of waits: one side is refused its wait and asks instead; nothing hangs, nothing
/// is lost.
#[test]
fn hooks_calling_siblings_during_a_reset_do_not_deadlock() {
    let c = LoopController::new().backoff(Duration::from_millis(1), Duration::from_millis(1));
    let a_slot: Arc<OnceLock<LoopHandle<Lone>>> = Arc::default();
    let b_slot: Arc<OnceLock<LoopHandle<Plain>>> = Arc::default();
    let (a_in, a_in_rx) = pair();
    let (b_in, b_in_rx) = pair();
    let armed = Arc::new(AtomicUsize::new(0));

    let (a_once, b_once) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (bs, armed_a) = (b_slot.clone(), armed.clone());
    let a_hooks = Hooks::default().on_stop(move || {
        // Once: a later stop of it (from b's on_stop) must not wait for the handshake again.
        if armed_a.load(Ordering::SeqCst) == 1 && !a_once.swap(true, Ordering::SeqCst) {
            let _ = a_in.send(());
            let _ = b_in_rx.recv_timeout(BOUND);
            bs.get().unwrap().stop();
        }
    });
    let (as_, armed_b) = (a_slot.clone(), armed.clone());
    let b_hooks = Hooks::default().on_stop(move || {
        if armed_b.load(Ordering::SeqCst) == 1 && !b_once.swap(true, Ordering::SeqCst) {
            let _ = b_in.send(());
            let _ = a_in_rx.recv_timeout(BOUND);
            as_.get().unwrap().stop();
        }
    });
    let (a_log, b_log) = (a_hooks.log.clone(), b_hooks.log.clone());
    let a = c.new_loop(Lone(a_hooks));
    let b = c.new_loop(Plain(b_hooks));
    let trigger = c.new_loop(Trigger(Hooks::default()));
    let _ = a_slot.set(a.clone());
    let _ = b_slot.set(b.clone());
    assert!(c.start());
    c.maintain_loops();
    green(&c);
    a_log.wait_for("cycle", 1);
    b_log.wait_for("cycle", 1);

    armed.store(1, Ordering::SeqCst);
    let a2 = a.clone();
    let user = std::thread::spawn(move || a2.stop());
    assert!(trigger.failure(), "the reset begins");
    within_bound("the user's stop of a", move || user.join().unwrap());
    armed.store(2, Ordering::SeqCst);
    green(&c);
    within_bound("the controller's stop", move || c.stop());
    assert!(!a.is_alive() && !b.is_alive() && !trigger.is_alive());
    assert_paired(&a_log, 1, 0);
    assert_eq!(b_log.count("on_start"), b_log.count("on_stop"));
    assert_nothing_ran_under_a_lock();
}

/// Item 2, the controller side: a member's `on_stop` that calls `maintain_loops` during a
/// reset, while a user thread's stop of the member waits.
#[test]
fn a_hook_calling_its_controller_during_a_reset_does_not_deadlock() {
    let c = LoopController::new().backoff(Duration::from_millis(1), Duration::from_millis(1));
    let slot: Arc<OnceLock<LoopController>> = Arc::default();
    let (s, calls) = (slot.clone(), Arc::new(AtomicUsize::new(0)));
    let n = calls.clone();
    let hooks = Hooks::default().on_stop(move || {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            s.get().unwrap().maintain_loops();
        }
    });
    let log = hooks.log.clone();
    let m = c.new_loop(Plain(hooks));
    let trigger = c.new_loop(Trigger(Hooks::default()));
    let _ = slot.set(c.clone());
    assert!(c.start());
    c.maintain_loops();
    green(&c);
    log.wait_for("cycle", 1);
    assert!(trigger.failure());
    green(&c);
    log.wait_for("on_thread_start", 2);
    assert!(
        m.is_alive(),
        "restarted by the reset (or by maintain_loops)"
    );
    within_bound("stop", move || c.stop());
    assert_eq!(log.count("on_start"), log.count("on_stop"));
    assert_nothing_ran_under_a_lock();
}

/// Item 3: a sibling stopped from a stop-token callback while a reset is under way stays
/// stopped: the user stopped it, and a reset does not overrule that.
#[test]
fn a_sibling_stopped_from_a_stop_callback_during_a_reset_stays_stopped() {
    let c = LoopController::new().backoff(Duration::from_millis(1), Duration::from_millis(1));
    let a_slot: Arc<OnceLock<LoopHandle<Plain>>> = Arc::default();
    let first = Arc::new(AtomicUsize::new(0));
    let (s, f) = (a_slot.clone(), first.clone());
    let b_hooks = Hooks::default().cycle(move |ctx| {
        if f.fetch_add(1, Ordering::SeqCst) == 0 {
            let a = s.get().unwrap().clone();
            ctx.stopping().then(move || {
                a.stop();
            });
        }
        ctx.sleep(Duration::from_secs(3600));
    });
    let a_hooks = Hooks::default();
    let (a_log, b_log) = (a_hooks.log.clone(), b_hooks.log.clone());
    let a = c.new_loop(Plain(a_hooks));
    let b = c.new_loop(Plain(b_hooks));
    let trigger = c.new_loop(Trigger(Hooks::default()));
    let _ = a_slot.set(a.clone());
    assert!(c.start());
    c.maintain_loops();
    green(&c);
    a_log.wait_for("cycle", 1);
    b_log.wait_for("cycle", 1);
    assert!(trigger.failure());
    b_log.wait_for("on_thread_start", 2);
    green(&c);
    assert!(
        b.is_alive() && trigger.is_alive(),
        "the reset restarted them"
    );
    assert!(
        !a.is_alive(),
        "a was stopped by the callback: not restarted"
    );
    assert_eq!(a_log.count("on_thread_start"), 1);
    c.stop();
    assert_nothing_ran_under_a_lock();
}

/// Item 4: a task that stops its own controller does not wait for itself; the report says
/// it is ending. Even with a task grace of `Duration::MAX`.
#[test]
fn a_task_that_stops_its_controller_does_not_wait_for_itself() {
    let c = LoopController::new().task_grace(Duration::MAX);
    let (_m, log) = {
        let hooks = Hooks::default();
        let log = hooks.log.clone();
        (c.new_loop(Plain(hooks)), log)
    };
    c.start();
    c.maintain_loops();
    log.wait_for("cycle", 1);
    let c2 = c.clone();
    let task = c
        .spawn_task("stopper", move |_ctx| {
            Ok::<_, String>(c2.stop_with_report())
        })
        .unwrap();
    let report = within_bound("the task", move || task.join()).unwrap();
    assert_eq!(report.ending, vec!["stopper".to_owned()], "{report}");
    assert!(report.abandoned.is_empty(), "{report}");
    assert_eq!(report.stopped, vec!["Plain_0".to_owned()], "{report}");
    assert!(!report.all_stopped());
    eventually("the task slot to free", || c.running_tasks() == 0);
    assert_nothing_ran_under_a_lock();
}

/// Item 4, found by the soak (seed 16204168155830198520): a task that stops its own controller
/// while another stop already waits for it. The first stop took the task's join handle, and
/// with it the only record of its thread: the task's own stop no longer saw that it would wait
/// for itself, waited out the task grace, and reported itself abandoned.
#[test]
fn a_task_stopping_its_controller_while_another_stop_waits_for_it_does_not_wait_for_itself() {
    let c = LoopController::new().task_grace(Duration::MAX);
    let c2 = c.clone();
    let task = c
        .spawn_task("second-stopper", move |ctx| {
            // The first stop has begun: it asked this task to stop and waits for it.
            ctx.stopping().wait();
            Ok::<_, String>(c2.stop_with_report())
        })
        .unwrap();
    let c3 = c.clone();
    let first = std::thread::spawn(move || c3.stop_with_report());
    let report = within_bound("the task", move || task.join()).unwrap();
    assert_eq!(report.ending, vec!["second-stopper".to_owned()], "{report}");
    assert!(
        report.abandoned.is_empty() && report.stopped.is_empty(),
        "{report}"
    );
    let first = within_bound("the first stop", move || first.join().unwrap());
    assert_eq!(first.stopped, vec!["second-stopper".to_owned()], "{first}");
    assert!(first.is_clean(), "{first}");
    assert_nothing_ran_under_a_lock();
}

/// Item 4: a task's closure holding the last handle of its controller: dropping it, as the
/// task ends, stops the controller from the task's own thread.
#[test]
fn a_task_holding_the_last_controller_handle_ends() {
    let c = LoopController::new().task_grace(Duration::MAX);
    let hooks = Hooks::default();
    let log = hooks.log.clone();
    let m = c.new_loop(Plain(hooks));
    c.start();
    c.maintain_loops();
    log.wait_for("cycle", 1);
    let (go, wait) = pair();
    let spawner = c.clone();
    let task = spawner
        .spawn_task("holder", move |_ctx| {
            let _ = wait.recv_timeout(BOUND);
            drop(c);
            Ok::<_, String>(())
        })
        .unwrap();
    drop(spawner);
    go.send(()).unwrap();
    within_bound("the task", move || task.join()).unwrap();
    log.wait_for("on_stop", 1);
    eventually("the member to stop", || !m.is_alive());
    assert_nothing_ran_under_a_lock();
}

/// Item 5: failures counted before a reset restarted the member are answered by that reset:
/// fifty of them cause one reset, not fifty.
#[test]
fn stale_failures_cause_one_reset() {
    let (reset_tx, resets) = unbounded();
    let c = LoopController::new()
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .on_reset(move || reset_tx.send(()).unwrap());
    let (in_stop, in_stop_rx) = pair();
    let (release, release_rx) = pair();
    let once = Arc::new(AtomicUsize::new(0));
    let o = once.clone();
    let hooks = Hooks::default().on_stop(move || {
        if o.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = in_stop.send(());
            let _ = release_rx.recv_timeout(BOUND);
        }
    });
    let log = hooks.log.clone();
    let trigger = c.new_loop(Trigger(Hooks::default()));
    let _blocker = c.new_loop(Plain(hooks));
    c.start();
    c.maintain_loops();
    green(&c);
    log.wait_for("cycle", 1);
    assert!(trigger.failure(), "the first failure exceeds");
    in_stop_rx
        .recv_timeout(BOUND)
        .expect("the reset stops the blocker");
    for _ in 0..49 {
        assert!(trigger.failure(), "each failure exceeds max_failures = 0");
    }
    release.send(()).unwrap();
    resets.recv_timeout(BOUND).unwrap();
    green(&c);
    // A later reset would have been decided by now: every event sent was handled.
    assert_eq!(c.resets(), 1, "{}", c.health());
    assert!(resets.try_recv().is_err());
    c.stop();
    assert_nothing_ran_under_a_lock();
}

/// Item 6: a timer callback that stops a loop whose `on_stop` waits on another timer.
#[test]
fn a_timer_callback_may_wait_for_another_timer() {
    let hooks = Hooks::default().on_stop(|| {
        let flushed = Signal::new();
        (flushed.clone() | Signal::after(Duration::from_millis(50))).wait();
    });
    let log = hooks.log.clone();
    let h = LoopHandle::new(Plain(hooks));
    assert!(h.start());
    log.wait_for("cycle", 1);
    let done = Signal::new();
    let (h2, d) = (h.clone(), done.clone());
    // Held: a timer whose signal nobody holds is forgotten, callbacks and all.
    let timer = Signal::after(Duration::from_millis(1));
    timer.then(move || {
        h2.stop();
        d.go();
    });
    assert!(done.wait_timeout(BOUND), "the timer callback hung");
    assert!(!h.is_alive());
    assert_paired(&log, 1, 0);
    assert_nothing_ran_under_a_lock();
}

/// Item 7: deep chains of combinations go on and drop without overflowing the stack, here
/// on a small stack.
#[test]
fn deep_signal_chains_do_not_overflow_the_stack() {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let first = Signal::new();
            let mut acc = first.clone();
            for _ in 0..10_000 {
                acc = acc | Signal::new();
            }
            first.go();
            assert!(acc.is_go());
            drop(acc);
            let mut acc = Signal::new();
            for _ in 0..10_000 {
                acc = acc | Signal::new();
            }
            drop(acc);
        })
        .unwrap()
        .join()
        .unwrap();
    assert_nothing_ran_under_a_lock();
}

struct BadDisplay;
impl std::fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("planned panic in Display")
    }
}

struct BadDrop;
impl Drop for BadDrop {
    fn drop(&mut self) {
        panic!("planned panic in Drop")
    }
}

/// Item 8: a panic outside the task's closure — in its error's `Display`, in its released
/// value's `Drop` — neither hangs `join` nor leaks the slot.
#[test]
fn panics_outside_a_task_closure_free_its_slot() {
    let c = LoopController::new().max_threads(1);
    let t = c
        .spawn_task("bad-display", |_| Err::<(), _>(BadDisplay))
        .unwrap();
    assert!(within_bound("join", move || t.join()).is_err());
    eventually("the slot to free", || c.running_tasks() == 0);
    let t = c
        .spawn_task("bad-drop", |_| Ok::<_, String>(BadDrop))
        .unwrap();
    let done = t.finished().clone();
    t.release();
    assert!(done.wait_timeout(BOUND));
    eventually("the slot to free", || c.running_tasks() == 0);
    let t = c.spawn_task("after", |_| Ok::<_, String>(7)).unwrap();
    assert_eq!(t.join().unwrap(), 7, "the slot is free for another task");
    c.stop();
    assert_nothing_ran_under_a_lock();
}

/// Item 11a: `stop()` from `on_reset` leaves the group stopped, not "resetting": it is green
/// again once started.
#[test]
fn stop_from_on_reset_leaves_a_group_that_goes_green_again() {
    let slot: Arc<OnceLock<LoopController>> = Arc::default();
    let s = slot.clone();
    let (reset_tx, resets) = unbounded();
    let c = LoopController::new()
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .on_reset(move || {
            if let Some(c) = s.get() {
                c.stop();
            }
            let _ = reset_tx.send(());
        });
    let trigger = c.new_loop(Trigger(Hooks::default()));
    let _ = slot.set(c.clone());
    c.start();
    c.maintain_loops();
    green(&c);
    assert!(trigger.failure());
    resets.recv_timeout(BOUND).unwrap();
    eventually("the supervisor to end", || c.health().supervisor.is_none());
    assert!(c.start());
    c.maintain_loops();
    green(&c);
    assert!(trigger.is_alive());
    let c2 = c.clone();
    within_bound("stop", move || c2.stop());
    assert_nothing_ran_under_a_lock();
}

/// Item 11b: a member's `on_start` that stops the controller during `maintain_loops`: the
/// members after it are not started.
#[test]
fn stop_from_on_start_during_maintain_starts_no_later_member() {
    let c = LoopController::new();
    let slot: Arc<OnceLock<LoopController>> = Arc::default();
    let s = slot.clone();
    let first = Plain(Hooks::default().on_start(move || {
        s.get().unwrap().stop();
    }));
    let later = Hooks::default();
    let later_log = later.log.clone();
    let _a = c.new_loop(first);
    let b = c.new_loop(Plain(later));
    let _ = slot.set(c.clone());
    c.start();
    let c2 = c.clone();
    within_bound("maintain_loops", move || c2.maintain_loops());
    assert!(!b.is_alive());
    assert_eq!(later_log.count("on_start"), 0, "started after the stop");
    assert_nothing_ran_under_a_lock();
}

/// Item 11c: a controller stopped from a member's own cycle: `wait_green` tells the truth
/// (the group is stopped and settled) instead of staying false.
#[test]
fn stop_from_a_member_cycle_settles() {
    let c = LoopController::new();
    let slot: Arc<OnceLock<LoopController>> = Arc::default();
    let s = slot.clone();
    let hooks = Hooks::default().cycle(move |ctx| {
        if let Some(c) = s.get() {
            c.stop();
        }
        ctx.sleep(Duration::from_secs(3600));
    });
    let log = hooks.log.clone();
    let h = c.new_loop(Plain(hooks));
    let _ = slot.set(c.clone());
    c.start();
    c.maintain_loops();
    log.wait_for("on_stop", 1);
    eventually("its thread to end", || !h.is_alive());
    assert!(c.wait_green(BOUND), "{}", c.health());
    assert_nothing_ran_under_a_lock();
}

/// Item 12: `Duration::MAX` saturates: `wait_green(MAX)` returns, and a backoff of `MAX`
/// leaves the supervisor alive (the restart is just never due).
#[test]
fn duration_max_saturates() {
    let c = LoopController::new();
    let hooks = Hooks::default();
    let _m = c.new_loop(Plain(hooks));
    c.start();
    c.maintain_loops();
    let c2 = c.clone();
    assert!(within_bound("wait_green(MAX)", move || c2.wait_green(Duration::MAX)));
    c.stop();

    let c = LoopController::new().backoff(Duration::MAX, Duration::MAX);
    let ends = Arc::new(AtomicUsize::new(0));
    let e = ends.clone();
    let hooks = Hooks::default().cycle(move |ctx| {
        e.fetch_add(1, Ordering::SeqCst);
        ctx.stop();
    });
    let log = hooks.log.clone();
    let h = c.new_loop(Plain(hooks));
    c.start();
    c.maintain_loops();
    log.wait_for("on_thread_stop", 1);
    eventually("the restart to be pending", || c.health().restoring);
    assert!(c.health().supervisor.is_some(), "the supervisor is alive");
    assert!(!c.is_green());
    // Restarts by hand still work, and each lone end schedules a restart that is never due.
    assert!(h.start());
    log.wait_for("on_thread_stop", 2);
    eventually("the restart to be pending", || c.health().restoring);
    assert!(c.health().supervisor.is_some(), "the supervisor is alive");
    let c2 = c.clone();
    assert!(within_bound("stop", move || c2.stop()));
    assert_nothing_ran_under_a_lock();
}

/// Item 14: a member that never ran is in no list of the stop report.
#[test]
fn a_stop_report_lists_only_members_that_ran() {
    let c = LoopController::new();
    let _never = c.new_loop(Plain(Hooks::default()));
    let hooks = Hooks::default();
    let log = hooks.log.clone();
    let ran = c.new_loop(Plain(hooks));
    assert!(ran.start());
    log.wait_for("cycle", 1);
    let report = c.stop_with_report();
    assert_eq!(report.stopped, vec!["Plain_0".to_owned()], "{report}");
    assert!(report.abandoned.is_empty() && report.ending.is_empty());
    assert_nothing_ran_under_a_lock();
}
