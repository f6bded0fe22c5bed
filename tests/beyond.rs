//! Beyond SuperLoops: `Signal`, supervised tasks, dependency order, graceful shutdown and
//! observability (issue 6). Events, never sleeps.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use superloops::channel::unbounded;
use superloops::prelude::*;
use superloops::{LoopConfig, LoopError, SpawnError};

probe!(Alpha, grace = "20s");
probe!(Beta, grace = "20s");
probe!(Gamma, grace = "20s");
probe!(Fragile, grace = "20s", max_failures = 0);

// ---- Signal ----

#[test]
fn signal_goes_on_once_and_wakes_waiters() {
    let s = Signal::new();
    assert!(!s.is_go());
    assert!(!s.wait_timeout(Duration::ZERO));
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || s.wait())
    };
    assert!(s.go(), "the first go turns it on");
    assert!(!s.go(), "later calls do nothing");
    waiter.join().unwrap();
    assert!(s.is_go());
    assert!(
        s.wait_timeout(Duration::from_secs(3600)),
        "on: returns at once"
    );
}

#[test]
fn then_runs_once_on_go_or_at_once_if_already_on() {
    let s = Signal::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    s.then(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    s.go();
    s.go();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let r = runs.clone();
    s.then(move || {
        r.fetch_add(10, Ordering::SeqCst);
    });
    assert_eq!(runs.load(Ordering::SeqCst), 11, "already on: runs at once");
}

#[test]
fn or_goes_on_with_either_and_goes_on_with_both() {
    let (a, b) = (Signal::new(), Signal::new());
    let either = a.clone() | b.clone();
    let both = a.clone() & b.clone();
    assert!(!either.is_go() && !both.is_go());
    b.go();
    assert!(either.is_go());
    assert!(!both.is_go());
    a.go();
    assert!(both.is_go());
}

#[test]
fn signal_after_goes_on_by_itself() {
    let timer = Signal::after(Duration::from_millis(5));
    assert!(timer.wait_timeout(BOUND));
}

#[test]
fn a_loop_waits_on_stop_or_its_own_event() {
    // The cycle waits for "stop, or data ready" in one call.
    struct Waiter {
        ready: Signal,
        waiting: superloops::channel::Sender<()>,
        woke: superloops::channel::Sender<bool>,
    }
    #[superloop(grace = "20s")]
    impl Waiter {
        fn cycle(&mut self, ctx: &Ctx) {
            let wake = ctx.stopping().clone() | self.ready.clone();
            self.waiting.send(()).unwrap();
            wake.wait();
            self.woke.send(ctx.should_stop()).unwrap();
            if !ctx.should_stop() {
                ctx.stop();
            }
        }
    }
    let ready = Signal::new();
    let (woke, rx) = unbounded();
    let (waiting, waiting_rx) = unbounded();
    let h = Waiter {
        ready: ready.clone(),
        waiting: waiting.clone(),
        woke,
    }
    .into_loop();
    assert!(h.start());
    waiting_rx.recv_timeout(BOUND).unwrap();
    ready.go();
    assert!(!rx.recv_timeout(BOUND).unwrap(), "woken by its own event");
    eventually("the loop to stop itself", || !h.is_alive());
    let ready2 = Signal::new();
    let (woke, rx) = unbounded();
    let h = Waiter {
        ready: ready2,
        waiting,
        woke,
    }
    .into_loop();
    assert!(h.start());
    waiting_rx.recv_timeout(BOUND).unwrap();
    assert!(h.stop(), "stop wakes the combined wait at once");
    assert!(rx.recv_timeout(BOUND).unwrap(), "woken by stop");
}

// ---- Tasks ----

#[test]
fn join_returns_the_value_or_the_error_or_the_panic_message() {
    let c = LoopController::new();
    let ok = c.spawn_task("answer", |_| Ok::<_, String>(42)).unwrap();
    assert_eq!(ok.name(), "answer");
    assert_eq!(ok.join().unwrap(), 42);
    let err = c
        .spawn_task("broken", |_| Err::<(), _>("disk full"))
        .unwrap();
    let e = err.join().unwrap_err();
    assert_eq!(e.to_string(), "task `broken` failed: disk full");
    let panicky = c
        .spawn_task("panicky", |_| -> Result<(), String> {
            panic!("index out of range")
        })
        .unwrap();
    let e = panicky.join().unwrap_err();
    assert!(
        matches!(&e, TaskError::Panicked { message, .. } if message == "index out of range"),
        "{e}"
    );
    c.stop();
}

#[test]
fn a_failed_task_brings_its_group_through_a_reset() {
    let c = LoopController::new();
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let member = c.new_loop(Alpha(probe));
    c.start();
    c.maintain_loops();
    log.wait_for("cycle", 1);
    let task = c.spawn_task("upload", |_| Err::<(), _>("503")).unwrap();
    assert!(task.join().is_err());
    log.wait_for("on_thread_start", 2);
    assert!(c.wait_green(BOUND));
    assert_eq!(c.resets(), 1);
    assert_eq!(member.thread_name().as_deref(), Some("Alpha_1"));
    c.stop();
}

#[test]
fn ctx_failure_in_a_task_counts_for_its_group() {
    let c = LoopController::new();
    let (_h, log) = {
        let probe = Probe::new(CycleMode::SleepUntilStop);
        let log = probe.log.clone();
        (c.new_loop(Alpha(probe)), log)
    };
    c.start();
    c.maintain_loops();
    log.wait_for("cycle", 1);
    let task = c
        .spawn_task("checker", |ctx| {
            assert!(ctx.failure());
            Ok::<_, String>(())
        })
        .unwrap();
    task.join().unwrap();
    log.wait_for("on_thread_start", 2);
    c.stop();
}

#[test]
fn max_threads_refuses_past_the_limit() {
    let c = LoopController::new().max_threads(1);
    let (release, gate) = unbounded::<()>();
    let first = c
        .spawn_task("first", move |_| {
            let _ = gate.recv();
            Ok::<_, String>(1)
        })
        .unwrap();
    let refused = c.spawn_task("second", |_| Ok::<_, String>(2));
    match refused {
        Err(SpawnError::ThreadLimitReached { max: 1 }) => {}
        other => panic!("expected ThreadLimitReached, got {other:?}"),
    }
    assert_eq!(c.running_tasks(), 1);
    drop(release);
    assert_eq!(first.join().unwrap(), 1);
    assert_eq!(
        c.spawn_task("third", |_| Ok::<_, String>(3))
            .unwrap()
            .join()
            .unwrap(),
        3
    );
    c.stop();
}

#[test]
fn with_queue_tasks_a_task_past_the_limit_starts_when_a_slot_frees() {
    let c = LoopController::new().max_threads(1).queue_tasks();
    let (release, gate) = unbounded::<()>();
    let (started_tx, started) = unbounded::<&'static str>();
    let s1 = started_tx.clone();
    let first = c
        .spawn_task("first", move |_| {
            s1.send("first").unwrap();
            let _ = gate.recv();
            Ok::<_, String>(())
        })
        .unwrap();
    assert_eq!(started.recv_timeout(BOUND).unwrap(), "first");
    let second = c
        .spawn_task("second", move |_| {
            started_tx.send("second").unwrap();
            Ok::<_, String>(())
        })
        .unwrap();
    assert!(
        started.try_recv().is_err(),
        "queued while the slot is taken"
    );
    assert!(!second.is_finished());
    drop(release);
    first.join().unwrap();
    assert_eq!(started.recv_timeout(BOUND).unwrap(), "second");
    second.join().unwrap();
    c.stop();
}

#[test]
fn stopping_the_controller_stops_released_tasks_and_cancels_queued_ones() {
    let c = LoopController::new().max_threads(1).queue_tasks();
    let (started_tx, started) = unbounded();
    let sleeper = c
        .spawn_task("sleeper", move |ctx| {
            started_tx.send(()).unwrap();
            let slept = ctx.sleep(Duration::from_secs(3600));
            Ok::<_, String>(slept)
        })
        .unwrap();
    let finished = sleeper.finished().clone();
    sleeper.release();
    let queued = c.spawn_task("never", |_| Ok::<_, String>(())).unwrap();
    started.recv_timeout(BOUND).unwrap();
    let report = c.stop_with_report();
    assert!(finished.is_go(), "the released task was stopped and ended");
    assert_eq!(report.stopped, ["sleeper"]);
    assert!(report.is_clean());
    assert!(matches!(queued.join(), Err(TaskError::Cancelled { .. })));
}

#[test]
fn a_nested_groups_tasks_are_in_its_parents_stop_report() {
    let inner = LoopController::new().named("Inner");
    let outer = LoopController::new().named("Outer");
    outer.add(&inner);
    outer.start();
    outer.maintain_loops();
    let (started_tx, started) = unbounded();
    let task = inner
        .spawn_task("inner-task", move |ctx| {
            started_tx.send(()).unwrap();
            Ok::<_, String>(ctx.sleep(Duration::from_secs(3600)))
        })
        .unwrap();
    started.recv_timeout(BOUND).unwrap();
    let report = outer.stop_with_report();
    assert_eq!(report.stopped, ["inner-task"], "{report}");
    assert!(report.is_clean());
    assert!(!task.join().unwrap(), "stopped before its sleep ended");
}

#[test]
fn a_task_a_stop_is_still_waiting_for_keeps_its_slot() {
    // Found by the chaos soak: a stop took its tasks out of the book before waiting up to the
    // task grace for them, so a task spawned meanwhile started at once beside them.
    for queue in [false, true] {
        let c = LoopController::new()
            .max_threads(1)
            .task_grace(Duration::from_secs(20));
        let c = if queue { c.queue_tasks() } else { c };
        let (stopped, release) = (Signal::new(), Signal::new());
        let first = {
            let (stopped, release) = (stopped.clone(), release.clone());
            c.spawn_task("first", move |ctx| {
                ctx.stopping().wait();
                stopped.go();
                release.wait(); // goes on after its stop, within its grace
                Ok::<_, String>(1)
            })
            .unwrap()
        };
        let stopper = {
            let c = c.clone();
            std::thread::spawn(move || c.stop())
        };
        assert!(stopped.wait_timeout(BOUND), "the stop reaches the task");
        // The stop now waits for `first`, which still holds the only slot.
        assert_eq!(c.running_tasks(), 1);
        let second = c.spawn_task("second", |_ctx| Ok::<_, String>(2));
        let second = if queue {
            assert_eq!(c.queued_tasks(), 1, "queued, not started beside `first`");
            second.unwrap()
        } else {
            assert!(
                matches!(second, Err(SpawnError::ThreadLimitReached { max: 1 })),
                "refused while `first` stops: {second:?}"
            );
            release.go();
            assert!(stopper.join().unwrap());
            assert_eq!(first.join().unwrap(), 1);
            continue;
        };
        release.go();
        assert!(stopper.join().unwrap(), "`first` ended within its grace");
        assert_eq!(first.join().unwrap(), 1);
        // `first`'s end freed the slot: the queued task runs then.
        assert_eq!(second.join().unwrap(), 2);
        c.stop();
    }
}

// ---- Dependency order ----

#[test]
fn members_start_in_declaration_order_and_stop_in_reverse_one_after_another() {
    let c = LoopController::new();
    let logs: Vec<Log> = (0..3).map(|_| Log::default()).collect();
    let probe = |i: usize| {
        let mut p = Probe::new(CycleMode::SleepUntilStop);
        p.log = logs[i].clone();
        p
    };
    c.new_loop(Alpha(probe(0)));
    c.new_loop(Beta(probe(1)));
    c.new_loop(Gamma(probe(2)));
    c.start();
    c.maintain_loops();
    for log in &logs {
        log.wait_for("cycle", 1);
    }
    // Start: each member's on_start runs after the one declared before it has been started
    // (its on_start returned and its thread spawned).
    assert!(logs[0].seq_of("on_start", 0) < logs[1].seq_of("on_start", 0));
    assert!(logs[1].seq_of("on_start", 0) < logs[2].seq_of("on_start", 0));
    c.stop();
    // Stop: Gamma's thread has ended and its on_stop run before Beta's thread is asked.
    assert!(logs[2].seq_of("on_stop", 0) < logs[1].seq_of("slept", 0));
    assert!(logs[1].seq_of("on_stop", 0) < logs[0].seq_of("slept", 0));
}

// ---- Graceful shutdown ----

#[test]
fn run_until_stops_everything_and_reports() {
    let c = LoopController::new();
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    c.new_loop(Alpha(probe));
    let (release, stuck_rx) = unbounded();
    let stuck = Probe::new(CycleMode::StuckOnce(stuck_rx));
    let stuck_log = stuck.log.clone();
    c.new_loop(Stubborn(stuck));
    c.start();
    c.maintain_loops();
    log.wait_for("cycle", 1);
    stuck_log.wait_for("stuck", 1);
    let shutdown = Signal::new();
    shutdown.go();
    let report = c.run_until(&shutdown);
    assert_eq!(report.stopped, ["Alpha_0"]);
    assert_eq!(report.abandoned, ["Stubborn_0"]);
    assert_eq!(
        report.to_string(),
        "stopped in time: Alpha_0; abandoned: Stubborn_0"
    );
    drop(release);
    stuck_log.wait_for("on_stop", 1);
}

probe!(Stubborn, grace = "50ms");

// ---- Observability ----

#[test]
fn status_reports_cycles_restarts_and_time_in_the_current_cycle() {
    let (release, stuck_rx) = unbounded();
    let probe = Probe::new(CycleMode::StuckOnce(stuck_rx));
    let log = probe.log.clone();
    let h = Alpha(probe).into_loop();
    assert!(h.start());
    log.wait_for("stuck", 1);
    assert!(h.status().since_cycle_began.is_some());
    eventually("the stuck cycle to be seen running for 20 ms", || {
        h.status().since_cycle_began.unwrap() >= Duration::from_millis(20)
    });
    let status = h.status();
    assert_eq!(status.cycles, 1);
    assert_eq!(status.restarts, 0, "the first thread is no restart");
    assert_eq!(
        status.state,
        LoopState::Running,
        "no cycle_timeout: never stalled"
    );
    drop(release);
    log.wait_for("cycle", 2);
    assert_eq!(h.status().cycles, 2);
    assert!(h.stop());
    assert_eq!(h.status().since_cycle_began, None, "no thread: no cycle");
    assert_eq!(h.status().restarts, 0, "a stop is no restart");

    assert!(h.start());
    log.wait_for("cycle", 3);
    let status = h.status();
    assert_eq!(status.thread_name.as_deref(), Some("Alpha_1"));
    assert_eq!(status.restarts, 1, "one thread started after the first");
    assert_eq!(status.cycles, 1, "cycles count the current thread's");
    assert_eq!(
        status.total_cycles, 3,
        "total_cycles count every thread's: 2 + 1"
    );
    assert!(h.stop());
    assert_eq!(h.status().restarts, 1);
}

/// A hand-written loop with a `cycle_timeout` whose first cycle blocks until released.
struct Watched {
    release: superloops::channel::Receiver<()>,
    log: Log,
}

impl SuperLoop for Watched {
    const CONFIG: LoopConfig = LoopConfig::new("Watched")
        .grace(Duration::from_secs(20))
        .cycle_timeout(Duration::from_millis(40));
    fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
        if self.log.count("cycle") == 0 {
            self.log.push("cycle");
            let _ = self.release.recv();
        } else {
            self.log.push("cycle");
            ctx.sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

#[test]
fn cycle_timeout_reports_a_stalled_cycle_once_and_counts_a_failure() {
    let (release, rx) = unbounded();
    let log = Log::default();
    let h = Watched {
        release: rx,
        log: log.clone(),
    }
    .into_loop();
    assert!(h.start());
    log.wait_for("cycle", 1);
    eventually("the watchdog to flag the stalled cycle", || {
        h.status().state == LoopState::Stalled
    });
    let status = h.status();
    assert_eq!(status.failures, 1, "counted once");
    assert!(status.last_error.unwrap().contains("cycle_timeout"));
    drop(release);
    log.wait_for("cycle", 3);
    eventually("the loop to be running again", || {
        h.status().state == LoopState::Running
    });
    assert_eq!(
        h.failures(),
        1,
        "a stalled cycle counts once, short cycles never"
    );
    assert!(h.stop());
}

/// A loop with a `cycle_timeout` whose `on_thread_start` (or, when its cycle panics,
/// `on_thread_stop`) says it has begun and then blocks until released.
struct SlowHook {
    panic_in_cycle: bool,
    in_hook: superloops::channel::Sender<()>,
    release: Signal,
}

impl SlowHook {
    fn block(&self) {
        self.in_hook.send(()).unwrap();
        self.release.wait_timeout(BOUND);
    }
}

impl SuperLoop for SlowHook {
    const CONFIG: LoopConfig = LoopConfig::new("SlowHook")
        .grace(Duration::from_secs(20))
        .cycle_timeout(Duration::from_millis(40));
    fn on_thread_start(&mut self) {
        if !self.panic_in_cycle {
            self.block();
        }
    }
    fn on_thread_stop(&mut self) {
        if self.panic_in_cycle {
            self.block();
        }
    }
    fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
        if self.panic_in_cycle {
            // A panic that skips the panic hook: with RUST_BACKTRACE=1 the hook's backtrace
            // alone can outlast the 40 ms timeout, and that time is the cycle's.
            std::panic::resume_unwind(Box::new("cycle panicked"));
        }
        ctx.sleep(Duration::from_millis(5));
        Ok(())
    }
}

/// Starts a `SlowHook` and, once it is blocked in its hook, a `Watched` loop whose first cycle
/// stalls: once the watchdog has reported that one, it has also looked at the `SlowHook`,
/// watched no later than it. Returns the `SlowHook`'s status at that moment.
fn status_while_a_hook_is_slow(panic_in_cycle: bool) -> LoopStatus {
    let (in_hook_tx, in_hook) = unbounded();
    let release = Signal::new();
    let slow = SlowHook {
        panic_in_cycle,
        in_hook: in_hook_tx,
        release: release.clone(),
    }
    .into_loop();
    assert!(slow.start());
    in_hook.recv_timeout(BOUND).unwrap();

    let (release_control, rx) = unbounded();
    let log = Log::default();
    let control = Watched {
        release: rx,
        log: log.clone(),
    }
    .into_loop();
    assert!(control.start());
    log.wait_for("cycle", 1);
    eventually("the watchdog to flag the control's stalled cycle", || {
        control.status().state == LoopState::Stalled
    });
    let status = slow.status();
    release.go();
    drop(release_control);
    slow.stop();
    control.stop();
    status
}

#[test]
fn a_slow_on_thread_start_is_not_a_stalled_cycle() {
    // Found by the chaos soak: the watchdog timed a thread from its spawn, so on_thread_start
    // was charged as a stalled "cycle 0".
    let status = status_while_a_hook_is_slow(false);
    assert_eq!(status.cycles, 0, "{status}");
    assert_ne!(
        status.state,
        LoopState::Stalled,
        "no cycle has begun: {status}"
    );
    assert_eq!(status.total_failures, 0, "{status}");
}

#[test]
fn a_slow_on_thread_stop_after_a_panicking_cycle_is_not_a_stalled_cycle() {
    let status = status_while_a_hook_is_slow(true);
    assert_eq!(status.cycles, 1, "{status}");
    assert_ne!(
        status.state,
        LoopState::Stalled,
        "its cycle has ended: {status}"
    );
    assert_eq!(status.total_failures, 1, "the panic alone: {status}");
}

#[test]
fn health_shows_a_stalled_member() {
    let c = LoopController::new();
    let (release, rx) = unbounded();
    let log = Log::default();
    c.new_loop(Watched {
        release: rx,
        log: log.clone(),
    });
    c.maintain_loops();
    log.wait_for("cycle", 1);
    eventually("the member to show as stalled", || {
        c.health().to_string().contains("stalled")
    });
    assert_eq!(c.stalled_loops().len(), 1);
    drop(release);
    c.stop();
}

/// Records its stop token; its `on_stop` notes whether another member's token is on yet.
struct Tokened {
    token: Arc<parking_lot::Mutex<Option<Signal>>>,
    watch: Option<Arc<parking_lot::Mutex<Option<Signal>>>>,
    saw: Arc<parking_lot::Mutex<Option<bool>>>,
    started: superloops::channel::Sender<()>,
}

#[superloop(grace = "20s")]
impl Tokened {
    fn on_stop(&mut self) {
        if let Some(watch) = &self.watch {
            let other_asked = watch.lock().as_ref().unwrap().is_go();
            *self.saw.lock() = Some(other_asked);
        }
    }
    fn cycle(&mut self, ctx: &Ctx) {
        *self.token.lock() = Some(ctx.stopping().clone());
        self.started.send(()).unwrap();
        ctx.sleep(Duration::from_secs(3600));
    }
}

/// Stops [first, last] and returns whether, when the last member's `on_stop` ran, the first
/// member had already been asked to stop.
fn first_asked_before_last_stopped(c: LoopController) -> bool {
    let (started, started_rx) = unbounded();
    let first_token = Arc::new(parking_lot::Mutex::new(None));
    let saw = Arc::new(parking_lot::Mutex::new(None));
    c.new_loop(Tokened {
        token: first_token.clone(),
        watch: None,
        saw: Arc::default(),
        started: started.clone(),
    });
    c.new_loop(Tokened {
        token: Arc::default(),
        watch: Some(first_token),
        saw: saw.clone(),
        started,
    });
    c.maintain_loops();
    started_rx.recv_timeout(BOUND).unwrap();
    started_rx.recv_timeout(BOUND).unwrap();
    assert!(c.stop());
    let seen = saw.lock().expect("the last member's on_stop ran");
    seen
}

#[test]
fn stop_all_at_once_asks_every_member_before_waiting_for_any() {
    assert!(first_asked_before_last_stopped(
        LoopController::new().stop_all_at_once()
    ));
    assert!(
        !first_asked_before_last_stopped(LoopController::new()),
        "by default the first member is asked only after the last has stopped"
    );
}
