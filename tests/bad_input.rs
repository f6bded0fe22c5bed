//! Bad input at run time: zero and huge durations, `max_failures = 0`, handles and
//! controllers dropped while running, a panicking `from_fn` factory, and `Signal` misuse.
//! (Every `LoopHandle` method called from inside the loop's own thread and from each hook is
//! in `from_inside.rs`.)
//! Each case has one clear outcome, asserted here; none may deadlock (every scenario runs
//! under [`within_bound`], which fails loudly instead of hanging).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use superloops::channel::{unbounded, Receiver, Sender};
use superloops::prelude::*;
use superloops::{LoopError, RecvError};

/// Threads of this process whose name starts with `prefix` (Linux; names are cut at 15).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|t| {
            let comm = std::fs::read_to_string(t.as_ref().unwrap().path().join("comm"));
            comm.is_ok_and(|c| c.trim().starts_with(prefix))
        })
        .count()
}

// ---------------------------------------------------------------------------------------
// A hand-written loop: the builder allows what the macro rejects (a zero grace).

/// Blocks ignoring stop in its first cycle of thread `…_0` until released; other cycles sleep
/// through the context.
struct Gated {
    release: Receiver<()>,
    log: Log,
}

impl Gated {
    fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
        let me = ctx.thread_name().to_owned();
        if me.ends_with("_0") && self.log.count_on("cycle", &me) == 0 {
            self.log.push("cycle");
            self.log.push("stuck");
            let _ = self.release.recv();
        } else {
            self.log.push("cycle");
            ctx.sleep(Duration::from_secs(3600));
        }
        Ok(())
    }
}

macro_rules! gated {
    ($ty:ident, $config:expr) => {
        struct $ty(Gated);
        impl SuperLoop for $ty {
            const CONFIG: LoopConfig = $config;
            fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
                self.0.cycle(ctx)
            }
            fn on_start(&mut self) -> Result<bool, LoopError> {
                self.0.log.push("on_start");
                Ok(true)
            }
            fn on_stop(&mut self) {
                self.0.log.push("on_stop");
            }
            fn on_thread_start(&mut self) {
                self.0.log.push("on_thread_start");
            }
            fn on_thread_stop(&mut self) {
                self.0.log.push("on_thread_stop");
            }
        }
    };
}

gated!(
    ZeroGrace,
    LoopConfig::new("ZeroGrace").grace(Duration::ZERO)
);
gated!(HugeGrace, LoopConfig::new("HugeGrace").grace(Duration::MAX));

fn gated(log: &Log) -> (Sender<()>, Gated) {
    let (tx, rx) = unbounded();
    (
        tx,
        Gated {
            release: rx,
            log: log.clone(),
        },
    )
}

#[test]
fn zero_grace_abandons_a_thread_that_has_not_ended_at_once() {
    // Outcome: stop does not wait at all; a thread still inside its cycle is abandoned
    // (stop returns false), ends when its cycle returns, and runs on_thread_stop and on_stop
    // there. A start meanwhile is queued until the value comes back.
    let log = Log::default();
    let (release, value) = gated(&log);
    let h = ZeroGrace(value).into_loop();
    assert!(h.start());
    log.wait_for("stuck", 1);
    let began = Instant::now();
    let h2 = h.clone();
    assert!(!within_bound("zero-grace stop", move || h2.stop()));
    assert!(began.elapsed() < BOUND);
    assert_eq!(h.status().state, LoopState::Abandoned);
    assert!(!h.start(), "queued: the abandoned thread holds the value");
    assert_eq!(h.status().state, LoopState::Starting);
    release.send(()).unwrap();
    log.wait_for("on_thread_start", 2);
    assert_eq!(log.count_on("on_stop", "ZeroGrace_0"), 1);
    assert!(h.is_alive());
    // A thread sleeping in ctx.sleep may or may not end in zero time: either way nothing is
    // lost and nothing is left running.
    let h2 = h.clone();
    let clean = within_bound("zero-grace stop of a sleeping thread", move || h2.stop());
    eventually("every thread of the loop to end", || {
        let st = h.status();
        !st.alive && st.abandoned_threads == 0
    });
    assert!(clean || log.count_on("on_stop", "ZeroGrace_1") == 1);
    assert_paired(&log, 2, 0);
    assert_eq!(h.status().state, LoopState::Stopped);
}

#[test]
fn zero_grace_members_of_a_group_are_replaced_not_doubled() {
    let log = Log::default();
    let (release, value) = gated(&log);
    let c = LoopController::new();
    let h = c.new_loop(ZeroGrace(value));
    c.start();
    c.maintain_loops();
    log.wait_for("stuck", 1);
    let c2 = c.clone();
    within_bound("stop_loops with a zero grace", move || c2.stop_loops());
    assert_eq!(h.status().abandoned_threads, 1);
    c.maintain_loops(); // queued: the value is in the abandoned thread
    assert!(!h.is_alive() && h.is_running());
    release.send(()).unwrap();
    log.wait_for("on_thread_start", 2);
    assert_eq!(
        log.count_on("cycle", "ZeroGrace_0"),
        1,
        "never another cycle"
    );
    let c2 = c.clone();
    within_bound("stop", move || c2.stop());
    eventually("every thread to end", || {
        let st = h.status();
        !st.alive && st.abandoned_threads == 0
    });
    assert_paired(&log, 2, 0);
}

#[test]
fn huge_durations_wait_for_the_event_and_never_overflow() {
    // Outcome: Duration::MAX means "no deadline": stop waits for the thread (which ends at
    // once, being in ctx.sleep(MAX)), sleeps and timeouts end on stop, nothing panics.
    struct Forever {
        rx: Receiver<u32>,
        log: Log,
    }
    impl SuperLoop for Forever {
        const CONFIG: LoopConfig = LoopConfig::new("Forever")
            .grace(Duration::MAX)
            .within(Duration::MAX)
            .max_failures(1)
            .cycle_timeout(Duration::MAX);
        fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
            self.log.push("cycle");
            match ctx.recv_timeout(&self.rx, Duration::MAX) {
                Ok(n) => self.log.push_detail("received", n.to_string()),
                Err(RecvError::Stopped) => self.log.push("stopped"),
                Err(e) => self.log.push_detail("error", e.to_string()),
            }
            assert!(!ctx.sleep(Duration::MAX), "a stop cuts the sleep short");
            Ok(())
        }
        fn on_stop(&mut self) {
            self.log.push("on_stop");
        }
    }
    let (tx, rx) = unbounded();
    let log = Log::default();
    let c = LoopController::new()
        .backoff(Duration::MAX, Duration::MAX)
        .max_restarts(u32::MAX, Duration::MAX);
    let h = c.new_loop(Forever {
        rx,
        log: log.clone(),
    });
    c.start();
    c.maintain_loops();
    tx.send(7).unwrap();
    log.wait_until("the message", |e| {
        e.iter().any(|e| e.hook == "received" && e.detail == "7")
    });
    assert!(!h.failure());
    assert!(h.failure(), "within = MAX: both failures count");
    // The first reset after a quiet spell is immediate, whatever the backoff.
    log.wait_for("on_stop", 1);
    assert!(c.wait_green(BOUND));
    let h2 = h.clone();
    assert!(within_bound("hard_reset with grace MAX", move || h2.hard_reset()));
    let c2 = c.clone();
    assert!(within_bound("stop with grace MAX", move || c2.stop()));
    assert!(!h.is_alive());

    let (tx, rx) = unbounded();
    let h = HugeGrace(Gated {
        release: rx,
        log: Log::default(),
    })
    .into_loop();
    assert!(h.start());
    drop(tx); // the gated first cycle returns at once
    let h2 = h.clone();
    assert!(within_bound("stop with grace MAX", move || h2.stop()));

    // Signals: a timer of MAX never fires; MAX waits return when the signal goes.
    let never = Signal::after(Duration::MAX);
    assert!(!never.wait_timeout(Duration::from_millis(5)));
    let s = Signal::new();
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || s.wait_timeout(Duration::MAX))
    };
    s.go();
    assert!(waiter.join().unwrap());
    assert!(!never.is_go());
}

#[test]
fn max_failures_zero_exceeds_on_the_first_failure() {
    // Outcome: every failure exceeds the budget; the count stays 0; with stop_on_failure the
    // first Err from cycle stops the loop.
    struct Brittle {
        log: Log,
    }
    impl SuperLoop for Brittle {
        const CONFIG: LoopConfig = LoopConfig::new("Brittle")
            .max_failures(0)
            .stop_on_failure(true);
        fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
            self.log.push("cycle");
            ctx.sleep(Duration::from_millis(1));
            Err(LoopError::new("always"))
        }
        fn on_stop(&mut self) {
            self.log.push("on_stop");
        }
    }
    let log = Log::default();
    let h = Brittle { log: log.clone() }.into_loop();
    assert!(h.failure() && h.failure(), "each failure exceeds at once");
    assert_eq!(h.failures(), 0);
    assert!(h.start());
    log.wait_for("on_stop", 1);
    eventually("the loop to stop itself", || !h.is_alive());
    assert_eq!(log.count("cycle"), 1);
    assert!(!h.is_running());
    assert_eq!(h.status().last_error.as_deref(), Some("always"));

    struct Tireless;
    impl SuperLoop for Tireless {
        const CONFIG: LoopConfig = LoopConfig::new("Tireless").max_failures(u32::MAX);
        fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
            ctx.sleep(Duration::from_secs(3600));
            Ok(())
        }
    }
    let h = Tireless.into_loop();
    assert!(
        (0..1000).all(|_| !h.failure()),
        "u32::MAX is never exceeded"
    );
    assert_eq!(h.failures(), 1000);
}

#[test]
fn cycle_timeout_zero_reports_stalls_without_crashing() {
    // The macro rejects `cycle_timeout = "0s"`; the builder allows it. Outcome: a cycle that
    // sleeps is reported stalled and counted as a failure (it has run longer than zero); the
    // loop keeps running and stops cleanly.
    struct Sleepy;
    impl SuperLoop for Sleepy {
        const CONFIG: LoopConfig = LoopConfig::new("Sleepy")
            .cycle_timeout(Duration::ZERO)
            .max_failures(u32::MAX);
        fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
            ctx.sleep(Duration::from_secs(3600));
            Ok(())
        }
    }
    let h = Sleepy.into_loop();
    assert!(h.start());
    eventually("the stalled cycle to be counted", || h.failures() >= 1);
    assert!(h.is_alive());
    let h2 = h.clone();
    assert!(within_bound("stop", move || h2.stop()));
}

// ---------------------------------------------------------------------------------------
// Dropping handles and controllers while running.

probe!(Dropped, grace = "20s");
probe!(Stuck, grace = "50ms");

#[test]
fn dropping_the_last_handle_stops_the_loop_and_its_thread_ends() {
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let exited = probe.exited.clone();
    let h = Dropped(probe).into_loop();
    assert!(h.start());
    log.wait_for("cycle", 1);
    let clone = h.clone();
    drop(clone);
    assert_eq!(log.count("on_stop"), 0, "a clone's drop stops nothing");
    within_bound("drop the last handle", move || drop(h));
    assert_paired(&log, 1, 0);
    eventually("the thread to exit", || {
        exited.lock().get("Dropped_0") == Some(&true)
    });
}

#[test]
fn dropping_the_last_handle_of_a_stuck_loop_abandons_it_and_it_ends_later() {
    let (release, stuck) = unbounded();
    let probe = Probe::new(CycleMode::StuckOnce(stuck));
    let log = probe.log.clone();
    let exited = probe.exited.clone();
    let h = LoopHandle::from_fn(move || Stuck(probe.clone()));
    assert!(h.start());
    log.wait_for("stuck", 1);
    within_bound("drop the last handle", move || drop(h)); // waits the 50 ms grace
    assert_eq!(log.count("on_stop"), 0, "still stuck");
    drop(release);
    log.wait_for("on_stop", 1);
    assert_eq!(
        log.count_on("on_stop", "Stuck_0"),
        1,
        "at the end of its thread"
    );
    eventually("the abandoned thread to exit", || {
        exited.lock().get("Stuck_0") == Some(&true)
    });
    assert_paired(&log, 1, 0);
}

#[test]
fn dropping_a_controller_while_a_member_is_stuck_leaves_no_thread_behind() {
    let c = LoopController::new().named("DropMe");
    let (release, stuck) = unbounded();
    let probe = Probe::new(CycleMode::StuckOnce(stuck));
    let log = probe.log.clone();
    let exited = probe.exited.clone();
    let _h = c.new_loop(Stuck(probe));
    c.start();
    c.maintain_loops();
    log.wait_for("stuck", 1);
    within_bound("drop the controller", move || drop(c));
    eventually("the supervisor thread to end", || {
        threads_named("DropMe_") == 0
    });
    drop(release);
    log.wait_for("on_stop", 1);
    eventually("the member thread to exit", || {
        exited.lock().get("Stuck_0") == Some(&true)
    });
    assert_paired(&log, 1, 0);
}

#[test]
fn dropping_a_nested_controller_handle_leaves_it_to_its_parent() {
    // A loop handle added to a controller lives on when the user drops theirs (the controller
    // holds a clone). A nested controller should too: its parent holds it, and will restart it.
    let outer = LoopController::new().named("Outer");
    let inner = LoopController::new().named("Inner");
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let leaf = inner.new_loop(Dropped(probe));
    outer.add(&inner);
    outer.start();
    outer.maintain_loops();
    log.wait_for("cycle", 1);
    drop(inner);
    assert!(
        leaf.is_alive() && leaf.is_running(),
        "the leaf was stopped when the user's handle to its group was dropped"
    );
    assert_eq!(log.count("on_stop"), 0);
    outer.stop();
}

// ---------------------------------------------------------------------------------------
// A factory that panics.

#[test]
fn a_factory_that_panics_sometimes_fails_only_those_starts() {
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let h = LoopHandle::from_fn(move || {
        if n.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            panic!("planned: factory out of luck");
        }
        Dropped(probe.clone())
    });
    assert!(!h.start(), "first call panics");
    assert!(h.status().last_error.unwrap().contains("out of luck"));
    assert_eq!(h.status().state, LoopState::Stopped);
    assert!(h.start(), "second call makes a value");
    log.wait_for("cycle", 1);
    assert!(h.stop());
    assert!(h.start(), "the value came back: no factory call");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(h.stop());
    assert_paired(&log, 2, 0);
}

#[test]
fn a_factory_that_panics_during_a_hard_reset_leaves_the_old_value_to_come_back() {
    // Outcome: hard_reset abandons the stuck thread, the factory panics, so nothing starts
    // (false) and the loop is Abandoned; when the stuck cycle returns, its value comes back
    // (on_stop ran on that thread) and the loop is Stopped; a start then uses that value.
    let (release, stuck) = unbounded();
    let probe = Probe::new(CycleMode::StuckOnce(stuck));
    let log = probe.log.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let h = LoopHandle::from_fn(move || {
        if n.fetch_add(1, Ordering::SeqCst) > 0 {
            panic!("planned: no second value");
        }
        Stuck(probe.clone())
    });
    assert!(h.start());
    log.wait_for("stuck", 1);
    let h2 = h.clone();
    assert!(!within_bound("hard_reset", move || h2.hard_reset()));
    assert_eq!(h.status().state, LoopState::Abandoned);
    assert!(!h.is_running());
    drop(release);
    log.wait_for("on_stop", 1);
    eventually("the value to come back", || {
        h.status().state == LoopState::Stopped && h.status().abandoned_threads == 0
    });
    assert!(h.start());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    log.wait_for("on_thread_start", 2);
    assert!(h.stop());
    assert_paired(&log, 2, 0);
}

/// Issue 11 (13): a member whose start fails is retried, as OTP retries a child whose start
/// fails: with the backoff (not in a spin), each retry counted against the restart intensity,
/// until the group gives up. Meanwhile the group is not green.
#[test]
fn a_panicking_factory_under_a_controller_is_retried_with_backoff_until_the_group_gives_up() {
    let c = LoopController::new()
        .backoff(Duration::from_millis(1), Duration::from_secs(1))
        .max_restarts(3, Duration::from_secs(60));
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let h: LoopHandle<Dropped> = LoopHandle::from_fn(move || {
        n.fetch_add(1, Ordering::SeqCst);
        panic!("planned: never a value")
    });
    c.add(&h);
    c.start();
    let c2 = c.clone();
    within_bound("maintain_loops", move || c2.maintain_loops());
    eventually("the group to give up", || c.health().failed);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "the first attempt and three retries, then the limit"
    );
    assert!(!h.is_alive() && !h.is_running());
    assert!(!c.is_green() && !c.wait_green(Duration::ZERO));
    assert_eq!(
        c.stalled_loops().len(),
        1,
        "given up: stopped, still supervised (a parent's reset would restart it)"
    );
    c.stop();
}

// ---------------------------------------------------------------------------------------
// Signal misuse.

#[test]
fn signal_go_twice_and_then_after_go() {
    let s = Signal::new();
    assert!(s.go());
    assert!(!s.go(), "the second go does nothing");
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    s.then(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "then on a signal that is on runs at once"
    );
    s.go();
    assert_eq!(ran.load(Ordering::SeqCst), 1, "and only once");
    s.wait(); // returns at once
    assert!(s.wait_timeout(Duration::ZERO));
}

#[test]
fn waiting_on_a_signal_nobody_can_turn_on_times_out() {
    // Every other handle of the sources is gone: the combination can never go on. Waits with a
    // timeout return false; nothing panics, nothing leaks a thread.
    let either = Signal::new() | Signal::new();
    let both = Signal::new() & Signal::new();
    assert!(!either.wait_timeout(Duration::from_millis(5)));
    assert!(!both.wait_timeout(Duration::from_millis(5)));
    assert!(!either.is_go() && !both.is_go());
    // A clone outliving the original still works.
    let s = Signal::new();
    let kept = s.clone();
    drop(s);
    assert!(kept.go());
    // A timer whose signal is dropped at once.
    drop(Signal::after(Duration::from_millis(1)));
    let quick = Signal::after(Duration::ZERO);
    assert!(quick.wait_timeout(BOUND));
}

#[test]
fn a_panicking_callback_on_the_stop_token_does_not_wedge_the_loop() {
    struct Hooked {
        armed: bool,
        registered: Sender<()>,
    }
    #[superloop(grace = "20s")]
    impl Hooked {
        fn cycle(&mut self, ctx: &Ctx) {
            if std::mem::take(&mut self.armed) {
                ctx.stopping()
                    .then(|| panic!("planned: a callback that panics"));
                self.registered.send(()).unwrap();
            }
            ctx.sleep(Duration::from_secs(3600));
        }
    }
    let (registered, callback_set) = unbounded();
    let h = Hooked {
        armed: true,
        registered,
    }
    .into_loop();
    // If the loop is wedged, dropping the last handle (which stops it) would hang the test.
    std::mem::forget(h.clone());
    assert!(h.start());
    callback_set.recv_timeout(BOUND).unwrap();
    let h2 = h.clone();
    let stopped = within_bound("stop", move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h2.stop()))
    });
    assert!(
        stopped.is_ok(),
        "the callback's panic reached the caller of stop()"
    );
    let h2 = h.clone();
    within_bound("start after that stop", move || h2.start());
    let h2 = h.clone();
    within_bound("stop again", move || h2.stop());
}

/// A `then` callback on a member's stop token runs inside the controller's `stop` (the thread
/// that turns the token on), with the group operation under way: calling the controller from
/// it must not deadlock.
#[test]
fn a_callback_on_the_stop_token_may_call_the_controller() {
    struct Linked {
        group: Arc<OnceLock<LoopController>>,
        armed: bool,
        registered: Sender<()>,
    }
    #[superloop(grace = "20s")]
    impl Linked {
        fn cycle(&mut self, ctx: &Ctx) {
            if std::mem::take(&mut self.armed) {
                let group = self.group.get().unwrap().clone();
                // "When this loop is told to stop, report the group's health."
                ctx.stopping().then(move || {
                    let _ = group.stalled_loops();
                    group.stop_loops();
                });
                self.registered.send(()).unwrap();
            }
            ctx.sleep(Duration::from_secs(3600));
        }
    }
    let group = Arc::new(OnceLock::new());
    let c = LoopController::new();
    let (registered, callback_set) = unbounded();
    let _h = c.new_loop(Linked {
        group: group.clone(),
        armed: true,
        registered,
    });
    group.set(c.clone()).ok().unwrap();
    std::mem::forget(c.clone()); // a wedged controller must not hang the test in its drop
    c.start();
    c.maintain_loops();
    callback_set.recv_timeout(BOUND).unwrap();
    let c2 = c.clone();
    within_bound("controller stop", move || c2.stop());
}

#[test]
fn a_task_name_with_a_nul_byte_is_an_error_and_the_controller_stays_usable() {
    let c = LoopController::new().max_threads(1);
    let refused = within_bound("spawn_task with a NUL in its name", {
        let c = c.clone();
        move || c.spawn_task("bad\0name", |_ctx| Ok::<_, String>(1)).err()
    });
    match refused {
        Some(superloops::SpawnError::InvalidName { name }) => assert_eq!(name, "bad\0name"),
        other => panic!("expected InvalidName, got {other:?}"),
    }
    // It took no slot and left no lock held.
    assert_eq!(c.running_tasks(), 0);
    let task = c.spawn_task("good", |_ctx| Ok::<_, String>(7)).unwrap();
    assert_eq!(task.join().unwrap(), 7);
    c.stop();
}
