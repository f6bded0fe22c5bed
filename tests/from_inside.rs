//! Every `LoopHandle` method called from inside the loop's own thread and from each of its
//! hooks: refused, or asked and returned, or undoing the start under way; one clear outcome
//! each, asserted here, and none may deadlock (every scenario runs under [`within_bound`],
//! which fails loudly instead of hanging).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::*;
use superloops::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Start,
    Stop,
    HardReset,
    Failure,
}

struct Inside {
    me: Arc<OnceLock<LoopHandle<Inside>>>,
    hook: &'static str,
    action: Action,
    armed: Arc<AtomicBool>,
    log: Log,
}

impl Inside {
    /// In hook `hook`, once: every read, then `action`; records what they returned.
    fn act(&self, hook: &'static str) {
        if hook != self.hook || !self.armed.swap(false, Ordering::SeqCst) {
            return;
        }
        let h = self.me.get().expect("the handle is set before start");
        let reads = format!(
            "alive={} running={} failures={} thread={:?} state={}",
            h.is_alive(),
            h.is_running(),
            h.failures(),
            h.thread_name(),
            h.status().state,
        );
        let _ = (h.config(), format!("{h:?}"), h.clone());
        let result = match self.action {
            Action::Start => h.start(),
            Action::Stop => h.stop(),
            Action::HardReset => h.hard_reset(),
            Action::Failure => h.failure(),
        };
        self.log
            .push_detail("acted", format!("{reads}; returned {result}"));
    }
}

#[superloop(grace = "20s", max_failures = 5)]
impl Inside {
    fn on_start(&mut self) -> bool {
        self.log.push("on_start");
        self.act("on_start");
        true
    }
    fn on_stop(&mut self) {
        self.log.push("on_stop");
        self.act("on_stop");
    }
    fn on_thread_start(&mut self) {
        self.log.push("on_thread_start");
        self.act("on_thread_start");
    }
    fn on_thread_stop(&mut self) {
        self.log.push("on_thread_stop");
        self.act("on_thread_stop");
    }
    fn cycle(&mut self, ctx: &Ctx) {
        self.act("cycle");
        ctx.sleep(Duration::from_secs(3600));
    }
}

/// What a call from inside led to, once everything settled.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// What the method called from inside returned.
    inner: bool,
    /// What the outside call that triggered the hook returned (`start`, or `stop` for the
    /// hooks that run while stopping).
    outer: bool,
    /// Wanted running after everything settled.
    running: bool,
    /// Threads started in all.
    threads: usize,
}

fn call_from_inside(hook: &'static str, action: Action) -> Outcome {
    let me = Arc::new(OnceLock::new());
    let log = Log::default();
    let armed = Arc::new(AtomicBool::new(true));
    let h = Inside {
        me: me.clone(),
        hook,
        action,
        armed: armed.clone(),
        log: log.clone(),
    }
    .into_loop();
    me.set(h.clone()).ok().unwrap();
    let stopping_hook = matches!(hook, "on_thread_stop" | "on_stop");
    let h2 = h.clone();
    let mut outer = within_bound("start", move || h2.start());
    if stopping_hook {
        log.wait_for("on_thread_start", 1);
        let h2 = h.clone();
        outer = within_bound("stop", move || h2.stop());
    }
    log.wait_for("acted", 1);
    let acted = log
        .events()
        .into_iter()
        .find(|e| e.hook == "acted")
        .unwrap();
    let inner = acted.detail.ends_with("returned true");
    // Settle: a thread asked to end from inside ends; a queued restart starts.
    eventually("the loop to settle", || {
        let st = h.status();
        matches!(st.state, LoopState::Running | LoopState::Stopped)
            && st.abandoned_threads == 0
            && log.count("on_thread_start") == log.count("on_thread_stop") + usize::from(st.alive)
    });
    let st = h.status();
    let outcome = Outcome {
        inner,
        outer,
        running: st.running,
        threads: log.count("on_thread_start"),
    };
    let h2 = h.clone();
    within_bound("the final stop", move || h2.stop());
    // Every on_start here returns true (a stop from inside on_start undoes the start, and
    // on_stop pairs it all the same).
    assert_paired(&log, log.count("on_start"), 0);
    outcome
}

fn outcome(inner: bool, outer: bool, running: bool, threads: usize) -> Outcome {
    Outcome {
        inner,
        outer,
        running,
        threads,
    }
}

#[test]
fn handle_methods_from_on_start_are_refused_or_undo_the_start() {
    use Action::*;
    // on_start runs on the caller of `start`: start/hard_reset are ignored (false), stop
    // undoes the start (on_stop pairs the on_start, no thread), failure counts.
    assert_eq!(
        call_from_inside("on_start", Start),
        outcome(false, true, true, 1)
    );
    assert_eq!(
        call_from_inside("on_start", Stop),
        outcome(false, false, false, 0)
    );
    assert_eq!(
        call_from_inside("on_start", HardReset),
        outcome(false, true, true, 1)
    );
    assert_eq!(
        call_from_inside("on_start", Failure),
        outcome(false, true, true, 1)
    );
}

#[test]
fn handle_methods_from_the_loops_own_thread_ask_and_return() {
    use Action::*;
    for hook in ["on_thread_start", "cycle"] {
        // start: already running, nothing queued. stop: the thread ends itself. hard_reset:
        // the thread ends and a new one starts. failure: counted.
        assert_eq!(
            call_from_inside(hook, Start),
            outcome(false, true, true, 1),
            "{hook}"
        );
        assert_eq!(
            call_from_inside(hook, Stop),
            outcome(false, true, false, 1),
            "{hook}"
        );
        assert_eq!(
            call_from_inside(hook, HardReset),
            outcome(false, true, true, 2),
            "{hook}"
        );
        assert_eq!(
            call_from_inside(hook, Failure),
            outcome(false, true, true, 1),
            "{hook}"
        );
    }
}

#[test]
fn handle_methods_from_hooks_that_run_while_stopping() {
    use Action::*;
    // on_thread_stop runs on the stopping thread while an outside `stop` waits for it;
    // on_stop then runs on that `stop` caller. Stopping and failure are harmless there;
    // starts are refused by on_stop.
    for hook in ["on_thread_stop", "on_stop"] {
        assert_eq!(
            call_from_inside(hook, Stop),
            outcome(false, true, false, 1),
            "{hook}"
        );
        assert_eq!(
            call_from_inside(hook, Failure),
            outcome(false, true, false, 1),
            "{hook}"
        );
    }
    assert_eq!(
        call_from_inside("on_stop", Start),
        outcome(false, true, false, 1)
    );
    assert_eq!(
        call_from_inside("on_stop", HardReset),
        outcome(false, true, false, 1)
    );
}

#[test]
fn an_outside_stop_wins_over_a_restart_asked_by_the_stopping_thread() {
    use Action::*;
    // stop() returns true ("no thread of this loop is left running") and the loop must be
    // stopped; today the start queued from on_thread_stop runs inside that very stop() (its
    // release settles the queued start), so a loop that restarts itself this way can never be
    // stopped from outside — nor by its group's stop (Guarantee 7).
    assert_eq!(
        call_from_inside("on_thread_stop", Start),
        outcome(false, true, false, 1)
    );
    assert_eq!(
        call_from_inside("on_thread_stop", HardReset),
        outcome(false, true, false, 1)
    );
}
