//! Stopping the hard ways: from inside the loop's own thread, a cycle stuck past its grace,
//! `hard_reset` replacing a stuck thread, and start/stop/failure/hard_reset racing from
//! several threads. Guarantees 1–3 of DESIGN.md.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::*;
use superloops::channel::{unbounded, Sender};
use superloops::prelude::*;

probe!(Plain, grace = "20s");
probe!(Stubborn, grace = "50ms");
probe!(Flaky, grace = "20s", max_failures = 2, stop_on_failure);

#[test]
fn ctx_stop_ends_the_thread_which_runs_on_stop_itself() {
    let probe = Probe::new(CycleMode::StopSelf);
    let log = probe.log.clone();
    let h = Plain(probe).into_loop();
    assert!(h.start());
    log.wait_for("on_stop", 1);
    eventually("the thread to end", || !h.is_alive());
    assert!(!h.is_running());
    assert_eq!(log.count("cycle"), 1, "no cycle after ctx.stop()");
    assert_eq!(
        log.hooks(),
        ["on_start", "on_thread_start", "on_thread_stop", "on_stop"]
    );
    let on_stop = log
        .events()
        .into_iter()
        .find(|e| e.hook == "on_stop")
        .unwrap();
    assert_eq!(
        on_stop.thread, "Plain_0",
        "it ended on its own: on_stop at its end"
    );
    assert!(h.stop());
    assert_eq!(log.count("on_stop"), 1);
    assert!(h.start(), "and it starts again");
    assert!(h.stop() || !h.is_alive());
}

/// A loop holding its own handle, to call it from inside.
struct SelfAware {
    me: Arc<OnceLock<LoopHandle<SelfAware>>>,
    report: Sender<(bool, bool, bool)>,
    log: Log,
}

#[superloop(grace = "20s")]
impl SelfAware {
    fn on_stop(&mut self) {
        self.log.push("on_stop");
    }
    fn cycle(&mut self, ctx: &Ctx) {
        let handle = self.me.get().unwrap();
        if ctx.thread_name() == "SelfAware_0" {
            let stopped = handle.stop();
            let alive = handle.is_alive();
            let running = handle.is_running();
            self.report.send((stopped, alive, running)).unwrap();
        } else {
            ctx.sleep(Duration::from_secs(3600));
        }
    }
}

#[test]
fn handle_stop_from_inside_returns_false_at_once_and_is_alive_tells_the_truth() {
    let me = Arc::new(OnceLock::new());
    let (tx, rx) = unbounded();
    let log = Log::default();
    let h = SelfAware {
        me: me.clone(),
        report: tx,
        log: log.clone(),
    }
    .into_loop();
    me.set(h.clone()).ok().unwrap();
    assert!(h.start());
    let (stopped, alive, running) = rx.recv_timeout(BOUND).unwrap();
    assert!(
        !stopped,
        "a thread cannot join itself: stop from inside returns false"
    );
    assert!(alive, "is_alive stays true until the thread has ended");
    assert!(!running, "but it is no longer wanted running");
    log.wait_for("on_stop", 1);
    eventually("the thread to end", || !h.is_alive());
    assert_eq!(rx.try_recv().ok(), None, "no second cycle");
    // The value holds its own handle, so this loop is never dropped (a reference cycle of the
    // test's making); stopping it again is harmless.
    assert!(h.stop());
}

/// Restarts itself from inside: `ctx.stop()` then `start()`/`hard_reset()` queue a new thread.
struct Phoenix {
    me: Arc<OnceLock<LoopHandle<Phoenix>>>,
    hard: bool,
    log: Log,
}

#[superloop(grace = "20s")]
impl Phoenix {
    fn on_start(&mut self) -> bool {
        self.log.push("on_start");
        true
    }
    fn on_stop(&mut self) {
        self.log.push("on_stop");
    }
    fn on_thread_start(&mut self) {
        self.log.push("on_thread_start");
    }
    fn cycle(&mut self, ctx: &Ctx) {
        let handle = self.me.get().unwrap();
        if ctx.thread_name() == "Phoenix_0" {
            let started = if self.hard {
                handle.hard_reset()
            } else {
                ctx.stop();
                handle.start()
            };
            assert!(!started, "a start from inside cannot start at once");
        } else {
            ctx.sleep(Duration::from_secs(3600));
        }
    }
}

#[test]
fn start_and_hard_reset_from_inside_restart_after_the_thread_ends() {
    for hard in [false, true] {
        let me = Arc::new(OnceLock::new());
        let log = Log::default();
        let h = Phoenix {
            me: me.clone(),
            hard,
            log: log.clone(),
        }
        .into_loop();
        me.set(h.clone()).ok().unwrap();
        assert!(h.start());
        log.wait_for("on_thread_start", 2);
        assert_eq!(h.thread_name().as_deref(), Some("Phoenix_1"));
        assert!(h.is_alive() && h.is_running());
        assert_eq!(
            log.hooks(),
            [
                "on_start",
                "on_thread_start",
                "on_stop",
                "on_start",
                "on_thread_start"
            ]
        );
        assert!(h.stop());
        assert_eq!(log.count("on_stop"), 2);
    }
}

#[test]
fn a_cycle_stuck_past_grace_is_abandoned_and_a_start_is_queued() {
    let (release, stuck) = unbounded();
    let probe = Probe::new(CycleMode::StuckOnce(stuck));
    let log = probe.log.clone();
    let h = Stubborn(probe).into_loop();
    assert!(h.start());
    log.wait_for("stuck", 1);

    assert!(!h.stop(), "the thread outlived its 50 ms grace");
    assert!(
        !h.is_alive(),
        "an abandoned thread is not the loop's live thread"
    );
    let status = h.status();
    assert_eq!(status.state, LoopState::Abandoned);
    assert_eq!(status.abandoned_threads, 1);
    assert_eq!(
        log.count("on_stop"),
        0,
        "on_stop waits for the thread to end"
    );

    assert!(
        !h.start(),
        "the value is still in the abandoned thread: the start is queued"
    );
    assert!(h.is_running());
    assert_eq!(h.status().state, LoopState::Starting);
    assert_eq!(log.count("on_start"), 1);

    drop(release); // the stuck cycle returns
    log.wait_for("on_thread_start", 2);
    assert_eq!(
        log.count_on("cycle", "Stubborn_0"),
        1,
        "an abandoned thread never begins another cycle"
    );
    assert_eq!(
        log.hooks(),
        [
            "on_start",
            "on_thread_start",
            "stuck",
            "unstuck",
            "on_thread_stop",
            "on_stop",
            "on_start",
            "on_thread_start"
        ]
    );
    let events = log.events();
    let stop = events.iter().find(|e| e.hook == "on_stop").unwrap();
    assert_eq!(
        stop.thread, "Stubborn_0",
        "the abandoned thread ran on_stop at its end"
    );
    assert_eq!(h.thread_name().as_deref(), Some("Stubborn_1"));
    assert!(h.is_alive());
    assert_eq!(h.status().abandoned_threads, 0);
    assert!(h.stop());
    assert_paired(&log, 2, 0);
}

#[test]
fn hard_reset_with_from_fn_replaces_a_stuck_thread_at_once() {
    let (release, stuck) = unbounded();
    let probe = Probe::new(CycleMode::StuckOnce(stuck));
    let log = probe.log.clone();
    let h = LoopHandle::from_fn(move || Stubborn(probe.clone()));
    assert!(h.start());
    log.wait_for("stuck", 1);

    assert!(h.hard_reset(), "a fresh value starts at once");
    log.wait_for("cycle", 2);
    assert_eq!(h.thread_name().as_deref(), Some("Stubborn_1"));
    assert!(h.is_alive());
    assert_eq!(h.status().abandoned_threads, 1);
    assert_eq!(
        log.count("on_thread_stop"),
        0,
        "the old thread is still stuck"
    );

    drop(release);
    log.wait_for("on_stop", 1);
    eventually("the abandoned thread to end", || {
        h.status().abandoned_threads == 0
    });
    assert_eq!(
        log.count_on("cycle", "Stubborn_0"),
        1,
        "never another cycle"
    );
    assert_eq!(log.count_on("on_stop", "Stubborn_0"), 1);
    assert!(
        h.is_alive(),
        "the new thread is untouched by the old one's end"
    );
    assert!(h.stop());
    assert_paired(&log, 2, 0);
}

#[test]
fn from_fn_factory_that_panics_fails_the_start() {
    let h = LoopHandle::from_fn(|| -> Plain { panic!("no config file") });
    assert!(!h.start());
    assert!(!h.is_running());
    assert!(h.status().last_error.unwrap().contains("no config file"));
    assert!(h.stop());
}

/// A tiny deterministic generator, so a failing interleaving can be re-run by seed.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn hammer<T: SuperLoop>(h: &LoopHandle<T>, seed: u64, ops: usize) {
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let h = h.clone();
            s.spawn(move || {
                let mut rng = XorShift(seed.wrapping_mul(31).wrapping_add(t + 1) | 1);
                for _ in 0..ops {
                    match rng.next() % 4 {
                        0 => {
                            h.start();
                        }
                        1 => {
                            h.stop();
                        }
                        2 => {
                            h.failure();
                        }
                        _ => {
                            h.hard_reset();
                        }
                    }
                }
            });
        }
    });
    h.stop();
}

#[test]
fn concurrent_start_stop_failure_hard_reset_never_leaves_two_live_threads() {
    for seed in [1u64, 2, 3] {
        let probe = Probe::new(CycleMode::Tick);
        let log = probe.log.clone();
        let occupancy = probe.occupancy.clone();
        let exited = probe.exited.clone();
        // A factory makes every value fresh, so only the runtime keeps threads apart.
        let h = LoopHandle::from_fn(move || Plain(probe.clone()));
        hammer(&h, seed, 150);
        assert!(!h.is_alive());
        assert!(
            occupancy.max() <= 1,
            "seed {seed}: two threads ran cycle at once"
        );
        assert!(
            log.count("on_thread_start") > 0,
            "seed {seed}: nothing was exercised"
        );
        let starts = log.count("on_start");
        assert_paired(&log, starts, 0);
        assert!(
            exited.lock().values().all(|e| *e),
            "seed {seed}: a loop thread is still running"
        );
        assert_eq!(exited.lock().len(), log.count("on_thread_start"));
    }
}

#[test]
fn concurrent_failures_with_stop_on_failure_keep_one_live_thread() {
    for seed in [7u64, 8] {
        let probe = Probe::new(CycleMode::Tick);
        let log = probe.log.clone();
        let occupancy = probe.occupancy.clone();
        let h = LoopHandle::from_fn(move || Flaky(probe.clone()));
        hammer(&h, seed, 150);
        eventually("every thread to end", || {
            let st = h.status();
            !st.alive && st.abandoned_threads == 0
        });
        assert!(
            occupancy.max() <= 1,
            "seed {seed}: two threads ran cycle at once"
        );
        let starts = log.count("on_start");
        assert!(starts > 0, "seed {seed}: nothing was exercised");
        assert_paired(&log, starts, 0);
    }
}

/// Fails (past its budget of 0, with `stop_on_failure`) from inside its first thread once
/// that thread has been abandoned.
struct LateFailure {
    release: superloops::channel::Receiver<()>,
    log: Log,
}

#[superloop(grace = "50ms", max_failures = 0, stop_on_failure)]
impl LateFailure {
    fn on_thread_start(&mut self) {
        self.log.push("on_thread_start");
    }
    fn cycle(&mut self, ctx: &Ctx) {
        if ctx.thread_name() == "LateFailure_0" {
            self.log.push("stuck");
            let _ = self.release.recv();
            self.log.push("late failure");
            assert!(ctx.failure());
        } else {
            ctx.sleep(Duration::from_secs(3600));
        }
    }
}

#[test]
fn stop_on_failure_from_an_abandoned_thread_does_not_stop_its_replacement() {
    let (release, rx) = unbounded();
    let log = Log::default();
    let factory_log = log.clone();
    let h = LoopHandle::from_fn(move || LateFailure {
        release: rx.clone(),
        log: factory_log.clone(),
    });
    assert!(h.start());
    log.wait_for("stuck", 1);
    assert!(
        h.hard_reset(),
        "the stuck thread is abandoned, a fresh one starts"
    );
    log.wait_for("on_thread_start", 2);
    release.send(()).unwrap();
    log.wait_for("late failure", 1);
    eventually("the abandoned thread to end", || {
        h.status().abandoned_threads == 0
    });
    assert!(
        h.is_alive(),
        "the replacement thread was stopped by its predecessor"
    );
    assert!(h.is_running());
    assert!(h.stop());
}

/// Stuck past its grace, then, once released, asks its own handle to start (or hard-reset).
struct Zombie {
    me: Arc<OnceLock<LoopHandle<Zombie>>>,
    hard: bool,
    release: superloops::channel::Receiver<()>,
    log: Log,
}

#[superloop(grace = "50ms")]
impl Zombie {
    fn on_start(&mut self) -> bool {
        self.log.push("on_start");
        true
    }
    fn on_stop(&mut self) {
        self.log.push("on_stop");
    }
    fn on_thread_start(&mut self) {
        self.log.push("on_thread_start");
    }
    fn on_thread_stop(&mut self) {
        self.log.push("on_thread_stop");
    }
    fn cycle(&mut self, _ctx: &Ctx) {
        self.log.push("stuck");
        let _ = self.release.recv(); // ignores stop
        let handle = self.me.get().unwrap();
        let started = if self.hard {
            handle.hard_reset()
        } else {
            handle.start()
        };
        assert!(!started, "a start from inside cannot start at once");
        self.log.push("asked");
    }
}

/// An abandoned thread is marked killed: a start or hard_reset it asks for after the stop
/// that abandoned it does not bring the loop back (stop wins).
#[test]
fn an_abandoned_thread_cannot_restart_the_loop_its_stop_ended() {
    for hard in [false, true] {
        let me = Arc::new(OnceLock::new());
        let (release_tx, release) = unbounded();
        let log = Log::default();
        let h = Zombie {
            me: me.clone(),
            hard,
            release,
            log: log.clone(),
        }
        .into_loop();
        me.set(h.clone()).ok().unwrap();
        assert!(h.start());
        log.wait_for("stuck", 1);
        assert!(!h.stop(), "abandoned after its 50 ms grace");
        release_tx.send(()).unwrap();
        log.wait_for("asked", 1);
        eventually("the abandoned thread to end", || {
            h.status().abandoned_threads == 0
        });
        let status = h.status();
        assert_eq!(
            (status.state, h.is_alive(), h.is_running()),
            (LoopState::Stopped, false, false),
            "hard = {hard}: the abandoned thread restarted the loop: {status}"
        );
        assert_eq!(log.count("on_thread_start"), 1, "hard = {hard}");
        assert_paired(&log, 1, 0);
    }
}
