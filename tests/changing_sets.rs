//! Changing sets (issue 15): `LoopController::remove` stops a member, takes it out of
//! supervision and out of `health()`, drops a restart scheduled for it, is not undone by a
//! reset under way, leaves the handle working on its own, and returns from anywhere (the
//! controller's own hooks, the member's own thread, a task). Adding during a reset joins after
//! it. Every wait here has a bound that fails the test loudly.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::*;
use superloops::channel::unbounded;
use superloops::prelude::*;
use superloops::testing::ManualClock;

probe!(Device, grace = "20s", max_failures = 0);
probe!(Feed, grace = "20s");
probe!(Crashy, grace = "20s", max_failures = 5);

#[test]
fn a_removed_member_is_stopped_and_gone_from_the_group() {
    let c = LoopController::new();
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let device = c.new_loop(Device(probe));
    let feed_probe = Probe::new(CycleMode::SleepUntilStop);
    let feed_log = feed_probe.log.clone();
    let _feed = c.new_loop(Feed(feed_probe));
    assert!(c.start());
    c.maintain_loops();
    log.wait_for("cycle", 1);
    feed_log.wait_for("cycle", 1);

    let removed = {
        let (c, device) = (c.clone(), device.clone());
        within_bound("remove", move || c.remove(&device))
    };
    assert!(removed);
    assert!(!device.status().alive);
    assert_eq!(device.status().state, LoopState::Stopped);
    assert_paired(&log, 1, 0);
    let health = c.health();
    assert_eq!(health.members.len(), 1, "{health}");
    assert!(!health.to_string().contains("Device"), "{health}");
    assert!(c.wait_green(BOUND));
    assert!(!c.remove(&device), "no longer a member");
    // The other member runs on, untouched.
    assert_eq!(feed_log.count("on_stop"), 0);
    assert!(c.stop());
    assert_paired(&feed_log, 1, 0);
    assert_nothing_ran_under_a_lock();
}

/// A removed handle is a loop of no group: it starts and stops on its own, and its failures
/// no longer reach its old group (no reset there).
#[test]
fn a_removed_handle_works_on_its_own() {
    let c = LoopController::new();
    let (tx, rx) = unbounded::<u32>();
    let probe = Probe::new(CycleMode::Recv(rx));
    let log = probe.log.clone();
    let device = c.new_loop(Device(probe));
    assert!(c.start());
    c.maintain_loops();
    assert!(c.remove(&device));

    assert!(device.start());
    tx.send(1).unwrap();
    log.wait_for("cycle", 1);
    // Past its budget (max_failures = 0): its old group does not hear of it.
    assert!(device.failure());
    assert!(c.wait_green(BOUND));
    assert_eq!(c.resets(), 0);
    assert!(device.status().alive, "no group resets it");
    assert!(device.stop());
    c.maintain_loops();
    assert!(
        !device.status().alive,
        "maintain_loops started a removed loop"
    );
    assert_paired(&log, 2, 0);
    assert!(c.stop());
}

/// A `maintain_loops` under way took its list of members before one was removed (by the
/// `on_start` of a member before it): it does not start the removed one.
#[test]
fn a_maintain_under_way_does_not_start_a_member_removed_meanwhile() {
    let c = LoopController::new();
    let later: Arc<OnceLock<LoopHandle<Feed>>> = Arc::default();
    let (answer_tx, answer) = unbounded::<bool>();
    let _first = c.new_loop(RemoverOnStart {
        c: c.clone(),
        other: later.clone(),
        answer: answer_tx,
    });
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let feed = c.new_loop(Feed(probe));
    let _ = later.set(feed.clone());
    assert!(c.start());
    c.maintain_loops();
    assert!(answer.recv_timeout(BOUND).expect("on_start removed it"));
    assert!(
        !feed.status().alive,
        "the maintain started a member removed meanwhile"
    );
    assert_eq!(log.count("on_start"), 0);
    assert_eq!(c.health().members.len(), 1);
    assert!(c.stop());
    drop(later);
}

struct RemoverOnStart {
    c: LoopController,
    other: Arc<OnceLock<LoopHandle<Feed>>>,
    answer: superloops::channel::Sender<bool>,
}

#[superloop(grace = "20s")]
impl RemoverOnStart {
    fn on_start(&mut self) -> bool {
        if let Some(other) = self.other.get() {
            let _ = self.answer.send(self.c.remove(other));
        }
        true
    }
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(3600));
    }
}

/// A member waiting out its lone-restart backoff is removed: the restart is dropped (the
/// group is green at once, and advancing the clock past the backoff starts nothing).
#[test]
fn a_restart_scheduled_for_a_removed_member_is_dropped() {
    quiet_panics();
    let clock = ManualClock::new();
    let c = LoopController::new()
        .clock(clock.clone())
        .backoff(Duration::from_secs(10), Duration::from_secs(10));
    let probe = Probe::new(CycleMode::Panic).panic_in("cycle");
    let log = probe.log.clone();
    let crashy = c.new_loop(Crashy(probe));
    assert!(c.start());
    c.maintain_loops();
    // The first lone restart is at once; the second waits out the backoff.
    log.wait_for("on_stop", 2);
    eventually("a restart waits out its backoff", || {
        c.health().retrying.len() == 1
    });
    assert!(!c.is_green());
    assert!(c.remove(&crashy));
    assert!(
        c.wait_green(BOUND),
        "nothing waits any more:\n{}",
        c.health()
    );
    assert!(c.health().retrying.is_empty());
    let starts = log.count("on_start");
    clock.advance(Duration::from_secs(60));
    assert!(c.wait_green(BOUND));
    assert_eq!(
        log.count("on_start"),
        starts,
        "the removed member came back"
    );
    assert!(!crashy.status().alive);
    assert!(c.stop());
    assert_paired(&log, starts, 0);
}

/// `on_reset` (run by the supervisor, in the middle of a reset) removes a member the reset
/// stopped: the reset does not restart it, returns, and the group is green.
#[test]
fn a_member_removed_during_a_reset_is_not_restarted_by_it() {
    let slot: Arc<OnceLock<(LoopController, LoopHandle<Feed>)>> = Arc::default();
    let in_reset = slot.clone();
    let (removed_tx, removed) = unbounded::<bool>();
    let c = LoopController::new()
        .backoff(Duration::ZERO, Duration::ZERO)
        .on_reset(move || {
            if let Some((c, feed)) = in_reset.get() {
                let _ = removed_tx.send(c.remove(feed));
            }
        });
    let trigger_probe = Probe::new(CycleMode::SleepUntilStop);
    let trigger_log = trigger_probe.log.clone();
    let trigger = c.new_loop(Device(trigger_probe));
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let feed = c.new_loop(Feed(probe));
    let _ = slot.set((c.clone(), feed.clone()));
    assert!(c.start());
    c.maintain_loops();
    log.wait_for("cycle", 1);
    trigger_log.wait_for("cycle", 1);

    assert!(trigger.failure(), "past its budget: a reset");
    assert!(removed.recv_timeout(BOUND).expect("on_reset ran"));
    assert!(c.wait_green(BOUND), "{}", c.health());
    trigger_log.wait_for("cycle", 2);
    assert!(!feed.status().alive, "the reset restarted a removed member");
    assert_eq!(log.count("on_start"), 1);
    assert_paired(&log, 1, 0);
    assert_eq!(c.health().members.len(), 1);
    assert!(c.stop());
    // The slot holds a clone of the controller: dropping it lets the controller go.
    drop(slot);
    assert_nothing_ran_under_a_lock();
}

probe!(Stuck, grace = "20s");

/// A reset is waiting (up to its 20 s grace) for a member whose thread ignores its stop; the
/// member is removed meanwhile: the reset stops waiting for it and finishes at once, and the
/// removal waits for the thread instead, then runs its `on_stop`.
#[test]
fn a_reset_under_way_does_not_wait_for_a_member_removed_meanwhile() {
    let c = LoopController::new().backoff(Duration::ZERO, Duration::ZERO);
    let trigger_probe = Probe::new(CycleMode::SleepUntilStop);
    let trigger_log = trigger_probe.log.clone();
    let trigger = c.new_loop(Device(trigger_probe));
    let (unblock, blocked) = unbounded::<()>();
    let probe = Probe::new(CycleMode::StuckOnce(blocked));
    let log = probe.log.clone();
    let stuck = c.new_loop(Stuck(probe));
    assert!(c.start());
    c.maintain_loops();
    trigger_log.wait_for("cycle", 1);
    // Inside its first cycle, ignoring its stop until unblocked.
    log.wait_for("stuck", 1);

    assert!(trigger.failure(), "a reset, which stops the stuck member");
    eventually("the reset waits for the stuck member", || {
        stuck.status().state == LoopState::Stopping
    });
    let remover = {
        let (c, stuck) = (c.clone(), stuck.clone());
        std::thread::spawn(move || c.remove(&stuck))
    };
    // Well inside the stuck member's 20 s grace: the reset no longer waits for it.
    assert!(
        c.wait_green(Duration::from_secs(5)),
        "the reset still waits for a removed member:\n{}",
        c.health()
    );
    trigger_log.wait_for("cycle", 2);
    assert_eq!(c.health().members.len(), 1);
    assert!(!remover.is_finished(), "the removal waits for the thread");
    unblock.send(()).unwrap();
    assert!(within_bound("the removal", move || remover.join().unwrap()));
    assert!(!stuck.status().alive);
    assert_paired(&log, 1, 0);
    assert!(c.stop());
    assert_nothing_ran_under_a_lock();
}

/// A member removes itself from its own cycle: the stop only asks (a thread cannot wait for
/// itself), `remove` returns at once, and the member ends on its own with its hooks paired.
#[test]
fn a_member_removes_itself_from_its_own_thread() {
    let c = LoopController::new();
    let me: Arc<OnceLock<LoopHandle<SelfRemover>>> = Arc::default();
    let (answer_tx, answer) = unbounded::<bool>();
    let log = Log::default();
    let h = c.new_loop(SelfRemover {
        c: c.clone(),
        me: me.clone(),
        answer: answer_tx,
        log: log.clone(),
    });
    let _ = me.set(h.clone());
    assert!(c.start());
    c.maintain_loops();
    assert!(answer
        .recv_timeout(BOUND)
        .expect("the cycle removed itself"));
    eventually("it ended on its own", || !h.status().alive);
    assert!(c.health().members.is_empty());
    assert!(c.wait_green(BOUND));
    assert_eq!(log.count("on_stop"), 1);
    assert!(c.stop());
    drop(me);
}

struct SelfRemover {
    c: LoopController,
    me: Arc<OnceLock<LoopHandle<SelfRemover>>>,
    answer: superloops::channel::Sender<bool>,
    log: Log,
}

#[superloop(grace = "20s")]
impl SelfRemover {
    fn on_stop(&mut self) {
        self.log.push("on_stop");
    }
    fn cycle(&mut self, ctx: &Ctx) {
        if let Some(me) = self.me.get() {
            let _ = self.answer.send(self.c.remove(me));
        }
        ctx.sleep(Duration::from_secs(3600));
    }
}

/// A task of the controller removes a member; a member's `on_stop` removes a sibling while the
/// controller stops everything: both return, nothing hangs.
#[test]
fn removing_from_a_task_and_from_a_hook_during_a_stop_returns() {
    let c = LoopController::new();
    let a_probe = Probe::new(CycleMode::SleepUntilStop);
    let a_log = a_probe.log.clone();
    let a = c.new_loop(Device(a_probe));
    let b_probe = Probe::new(CycleMode::SleepUntilStop);
    let b_log = b_probe.log.clone();
    let b = c.new_loop(Feed(b_probe.clone()));
    assert!(c.start());
    c.maintain_loops();
    a_log.wait_for("cycle", 1);
    b_log.wait_for("cycle", 1);

    let task = {
        let (c2, a) = (c.clone(), a.clone());
        c.spawn_task("remover", move |_ctx| Ok::<bool, String>(c2.remove(&a)))
            .expect("a task")
    };
    assert!(within_bound("the task", move || task.join()).expect("the task ran"));
    assert!(!a.status().alive);

    // b's on_stop removes b itself (it is being stopped by the controller's stop).
    let (tx, rx) = unbounded::<bool>();
    let (c2, b2) = (c.clone(), b.clone());
    *b_probe.on_stop_action.lock() = Some(Box::new(move || {
        let _ = tx.send(c2.remove(&b2));
    }));
    let stopper = c.clone();
    assert!(within_bound("stop", move || stopper.stop()));
    assert!(rx.recv_timeout(BOUND).is_ok(), "on_stop's remove returned");
    assert!(!b.status().alive);
    assert_paired(&a_log, 1, 0);
    assert_paired(&b_log, 1, 0);
    assert_nothing_ran_under_a_lock();
}

/// Adding during a reset: the reset restarts the set it decided on; the new member joins
/// after it, started by `maintain_loops`.
#[test]
fn a_member_added_during_a_reset_joins_after_it() {
    let slot: Arc<OnceLock<LoopController>> = Arc::default();
    let in_reset = slot.clone();
    let added: Arc<OnceLock<LoopHandle<Feed>>> = Arc::default();
    let added_in_reset = added.clone();
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let c = LoopController::new()
        .backoff(Duration::ZERO, Duration::ZERO)
        .on_reset(move || {
            // Added by the first reset only.
            if let Some(c) = in_reset.get() {
                added_in_reset.get_or_init(|| c.new_loop(Feed(probe.clone())));
            }
        });
    let _ = slot.set(c.clone());
    let trigger_probe = Probe::new(CycleMode::SleepUntilStop);
    let trigger_log = trigger_probe.log.clone();
    let trigger = c.new_loop(Device(trigger_probe));
    assert!(c.start());
    c.maintain_loops();
    trigger_log.wait_for("cycle", 1);
    assert!(trigger.failure());
    assert!(c.wait_green(BOUND));
    trigger_log.wait_for("cycle", 2);
    let feed = added.get().expect("on_reset added a member").clone();
    assert!(!feed.status().alive, "not started by the reset under way");
    assert_eq!(c.health().members.len(), 2);
    c.maintain_loops();
    log.wait_for("cycle", 1);
    // A member now: the next reset restarts it too.
    assert!(trigger.failure());
    assert!(c.wait_green(BOUND));
    log.wait_for("cycle", 2);
    assert!(c.stop());
    assert_paired(&log, 2, 0);
    drop(slot);
}

/// A nested group removed from its parent: its members stop, its supervisor ends, and the
/// parent's resets no longer reach it.
#[test]
fn a_nested_group_removed_from_its_parent_stops() {
    let parent = LoopController::new().named("Parent");
    let child = LoopController::new().named("Child");
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let _inner = child.new_loop(Feed(probe));
    parent.add(&child);
    let trigger_probe = Probe::new(CycleMode::SleepUntilStop);
    let trigger_log = trigger_probe.log.clone();
    let trigger = parent.new_loop(Device(trigger_probe));
    assert!(parent.start());
    parent.maintain_loops();
    log.wait_for("cycle", 1);
    trigger_log.wait_for("cycle", 1);
    assert!(child.health().supervisor.is_some());

    assert!(parent.remove(&child));
    assert!(!child.has_alive_loops());
    assert!(child.health().supervisor.is_none(), "its supervisor ended");
    assert_eq!(parent.health().members.len(), 1);
    assert!(trigger.failure());
    assert!(parent.wait_green(BOUND));
    trigger_log.wait_for("cycle", 2);
    assert!(!child.has_alive_loops(), "the parent's reset restarted it");
    assert_paired(&log, 1, 0);
    assert!(parent.stop());
}

fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !format!("{info}").contains("planned panic") {
                default(info);
            }
        }));
    });
}
