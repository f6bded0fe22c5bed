//! Failures: the budget, `within`, `stop_on_failure`, `Err` from `cycle`, and a panic in every
//! hook and in `cycle` — caught, counted, and never losing a paired hook.

mod common;

use common::*;
use superloops::prelude::*;

probe!(Plain, grace = "20s");
probe!(Budget3, grace = "20s", max_failures = 3);
probe!(Zero, grace = "20s", max_failures = 0);
probe!(
    StopOnFailure,
    grace = "20s",
    max_failures = 2,
    stop_on_failure
);
probe!(Windowed, grace = "20s", max_failures = 1, within = "300ms");

#[test]
fn the_call_after_max_failures_exceeds_the_budget_and_the_count_restarts() {
    let h = Budget3(Probe::new(CycleMode::SleepUntilStop)).into_loop();
    assert!(!h.failure());
    assert!(!h.failure());
    assert!(!h.failure());
    assert_eq!(h.failures(), 3);
    assert!(h.failure(), "the 4th failure exceeds max_failures = 3");
    assert_eq!(h.failures(), 0, "the count starts again");
    assert!(!h.failure());
    assert!(!h.failure());
    assert!(!h.failure());
    assert!(h.failure(), "and exceeds again after another 4");
    let status = h.status();
    assert_eq!(status.failures, 0);
    assert_eq!(
        status.total_failures, 8,
        "the lifetime count never starts again"
    );
}

#[test]
fn max_failures_zero_exceeds_on_the_first_failure() {
    let h = Zero(Probe::new(CycleMode::SleepUntilStop)).into_loop();
    assert!(h.failure());
    assert!(h.failure());
}

#[test]
fn exceeding_without_stop_on_failure_keeps_running() {
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let h = Zero(probe).into_loop();
    assert!(h.start());
    log.wait_for("cycle", 1);
    assert!(h.failure());
    assert!(h.is_alive() && h.is_running());
    assert!(h.stop());
}

#[test]
fn stop_on_failure_stops_the_loop_when_exceeded() {
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let h = StopOnFailure(probe).into_loop();
    assert!(h.start());
    log.wait_for("cycle", 1);
    assert!(!h.failure());
    assert!(!h.failure());
    assert!(h.is_alive());
    assert!(h.failure(), "third failure exceeds max_failures = 2");
    assert!(!h.is_running(), "it was asked to stop");
    // The thread ends on its own; on_stop runs at its end, after on_thread_stop.
    log.wait_for("on_stop", 1);
    eventually("the thread to end", || !h.is_alive());
    let stop = log
        .events()
        .into_iter()
        .find(|e| e.hook == "on_stop")
        .unwrap();
    assert_eq!(stop.thread, "StopOnFailure_0");
    assert_eq!(stop.detail, "on the loop thread");
    assert_eq!(log.hooks().last(), Some(&"on_stop"));
    assert_paired(&log, 1, 0);
    assert!(h.stop());
    assert_eq!(
        log.count("on_stop"),
        1,
        "stop after it ended runs no second on_stop"
    );
}

#[test]
fn err_from_cycle_counts_and_stop_on_failure_ends_the_thread() {
    let probe = Probe::new(CycleMode::Fail);
    let log = probe.log.clone();
    let h = StopOnFailure(probe).into_loop();
    assert!(h.start());
    log.wait_for("on_stop", 1);
    assert_eq!(
        log.count("cycle"),
        3,
        "two failures allowed, the third exceeds and stops"
    );
    assert_eq!(h.status().last_error.as_deref(), Some("boom"));
    eventually("the thread to end", || !h.is_alive());
    assert!(!h.is_running());
    assert_paired(&log, 1, 0);
}

#[test]
fn err_from_cycle_counts_one_failure_each() {
    let probe = Probe::new(CycleMode::Fail);
    let log = probe.log.clone();
    let h = Plain(probe).into_loop();
    assert!(h.start());
    log.wait_for("cycle", 4);
    assert!(h.stop());
    let cycles = log.count("cycle") as u32;
    assert_eq!(
        h.failures(),
        cycles % 11,
        "every Err counted (budget 10, restarts at 11)"
    );
}

#[test]
fn within_counts_only_failures_inside_the_window() {
    let h = Windowed(Probe::new(CycleMode::SleepUntilStop)).into_loop();
    assert!(!h.failure());
    assert!(
        h.failure(),
        "two failures inside 300 ms exceed max_failures = 1"
    );
    assert!(!h.failure());
    eventually("the failure to leave the window", || h.failures() == 0);
    assert!(!h.failure(), "the old failure no longer counts");
}

#[test]
fn panic_in_on_start_means_not_started_and_counts() {
    let probe = Probe::new(CycleMode::SleepUntilStop).start_mode(StartMode::Panic);
    let log = probe.log.clone();
    let h = Plain(probe).into_loop();
    assert!(!h.start());
    assert!(!h.is_alive() && !h.is_running());
    assert_eq!(h.failures(), 1);
    let error = h.status().last_error.unwrap();
    assert!(error.contains("planned panic in on_start"), "{error}");
    assert!(h.stop());
    assert_eq!(
        log.hooks(),
        ["on_start"],
        "not started: no thread hooks, no on_stop"
    );
}

#[test]
fn panic_in_on_thread_start_runs_no_cycle_but_still_on_stop() {
    let probe = Probe::new(CycleMode::SleepUntilStop).panic_in("on_thread_start");
    let log = probe.log.clone();
    let h = Plain(probe).into_loop();
    assert!(h.start());
    log.wait_for("on_stop", 1);
    eventually("the thread to end", || !h.is_alive());
    assert_eq!(log.hooks(), ["on_start", "on_thread_start", "on_stop"]);
    assert_eq!(log.count("cycle"), 0);
    assert_eq!(h.failures(), 1);
    assert_eq!(h.status().state, LoopState::Failed);
    assert!(
        h.is_running(),
        "still wanted running: a supervisor would restart it"
    );
    assert_paired(&log, 1, 1);
}

#[test]
fn panic_in_cycle_ends_the_run_after_on_thread_stop_and_can_restart() {
    let probe = Probe::new(CycleMode::Panic).panic_in("cycle");
    let log = probe.log.clone();
    let h = Plain(probe).into_loop();
    assert!(h.start());
    log.wait_for("on_stop", 1);
    eventually("the thread to end", || !h.is_alive());
    assert_eq!(
        log.hooks(),
        ["on_start", "on_thread_start", "on_thread_stop", "on_stop"]
    );
    assert_eq!(log.count("cycle"), 1, "the run ends at the panic");
    assert_eq!(h.failures(), 1);
    let status = h.status();
    assert_eq!(status.state, LoopState::Failed);
    assert!(status
        .last_error
        .unwrap()
        .contains("planned panic in cycle"));
    // start() brings it back on a new thread.
    assert!(h.start());
    log.wait_for("on_stop", 2);
    assert_eq!(log.count_on("cycle", "Plain_1"), 1);
    assert_eq!(h.failures(), 2);
    assert_paired(&log, 2, 0);
}

#[test]
fn panic_in_on_thread_stop_is_counted_and_on_stop_still_runs() {
    let probe = Probe::new(CycleMode::SleepUntilStop).panic_in("on_thread_stop");
    let log = probe.log.clone();
    let h = Plain(probe).into_loop();
    assert!(h.start());
    log.wait_for("cycle", 1);
    assert!(h.stop());
    assert_eq!(log.count("on_stop"), 1);
    assert_eq!(h.failures(), 1);
    assert!(h.start(), "the value came back: the loop starts again");
    assert!(h.stop());
    assert_paired(&log, 2, 0);
}

#[test]
fn panic_in_on_stop_is_counted_and_the_value_comes_back() {
    let probe = Probe::new(CycleMode::SleepUntilStop).panic_in("on_stop");
    let log = probe.log.clone();
    let h = Plain(probe).into_loop();
    assert!(h.start());
    log.wait_for("cycle", 1);
    assert!(
        h.stop(),
        "the thread ended in time; a panic in on_stop does not change that"
    );
    assert_eq!(h.failures(), 1);
    assert!(h
        .status()
        .last_error
        .unwrap()
        .contains("planned panic in on_stop"));
    assert!(h.start());
    log.wait_for("cycle", 2);
    assert!(h.stop());
    assert_eq!(h.failures(), 2);
    assert_paired(&log, 2, 0);
}

#[test]
fn ctx_failure_counts_from_inside() {
    struct Reporter(superloops::channel::Sender<bool>);
    #[superloop(grace = "20s", max_failures = 1)]
    impl Reporter {
        fn cycle(&mut self, ctx: &Ctx) {
            let exceeded = ctx.failure();
            self.0.send(exceeded).unwrap();
            ctx.sleep(std::time::Duration::from_millis(1));
        }
    }
    let (tx, rx) = superloops::channel::unbounded();
    let h = Reporter(tx).into_loop();
    assert!(h.start());
    assert!(!rx.recv_timeout(BOUND).unwrap());
    assert!(
        rx.recv_timeout(BOUND).unwrap(),
        "second failure exceeds max_failures = 1"
    );
    assert!(h.stop());
}

#[test]
fn an_on_start_error_that_reads_like_a_panic_is_still_not_a_failure() {
    struct Tricky;
    #[superloop]
    impl Tricky {
        fn on_start(&mut self) -> Result<(), String> {
            Err("panic in on_start: not really".into())
        }
        fn cycle(&mut self) {}
    }
    let h = Tricky.into_loop();
    assert!(!h.start());
    assert_eq!(h.failures(), 0);
}
