//! Starting, stopping and the hooks around them: order, threads, pairing, names, status.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use superloops::channel::{unbounded, Receiver, Sender};
use superloops::prelude::*;
use superloops::RecvError;

probe!(Plain, grace = "20s");
probe!(Named, grace = "20s", name = "feed");

fn plain(cycle: CycleMode) -> (LoopHandle<Plain>, Log) {
    let probe = Probe::new(cycle);
    let log = probe.log.clone();
    (Plain(probe).into_loop(), log)
}

#[test]
fn hooks_run_in_order_on_the_right_threads() {
    let (h, log) = plain(CycleMode::SleepUntilStop);
    let me = current_thread();
    assert!(h.start());
    log.wait_for("cycle", 1);
    assert!(h.stop());
    assert_eq!(
        log.hooks(),
        [
            "on_start",
            "on_thread_start",
            "slept",
            "on_thread_stop",
            "on_stop"
        ]
    );
    let events = log.events();
    let on = |hook: &str| events.iter().find(|e| e.hook == hook).unwrap().clone();
    assert_eq!(on("on_start").thread, me, "on_start runs on the caller");
    assert_eq!(on("on_thread_start").thread, "Plain_0");
    assert_eq!(on("cycle").thread, "Plain_0");
    assert_eq!(on("on_thread_stop").thread, "Plain_0");
    assert_eq!(on("on_stop").thread, me, "on_stop runs on the stopper");
    assert_eq!(
        on("on_stop").detail,
        "after the loop thread exited",
        "on_stop must run after the thread has ended"
    );
    assert_eq!(on("slept").detail, "cut short", "stop wakes ctx.sleep");
}

#[test]
fn start_twice_starts_one_thread() {
    let (h, log) = plain(CycleMode::SleepUntilStop);
    assert!(h.start());
    assert!(!h.start(), "second start reports already running");
    log.wait_for("cycle", 1);
    assert!(h.stop());
    assert_eq!(log.count("on_start"), 1);
    assert_eq!(log.count("on_thread_start"), 1);
    assert_paired(&log, 1, 0);
}

#[test]
fn stop_when_never_started_is_true_and_runs_nothing() {
    let (h, log) = plain(CycleMode::SleepUntilStop);
    assert!(h.stop());
    assert!(!h.is_alive());
    assert!(!h.is_running());
    assert!(log.events().is_empty());
    assert_eq!(h.thread_name(), None);
    assert_eq!(h.status().state, LoopState::Stopped);
}

#[test]
fn restarts_are_new_threads_with_counted_names() {
    let (h, log) = plain(CycleMode::SleepUntilStop);
    for n in 0..3 {
        assert!(h.start());
        assert_eq!(
            h.thread_name().as_deref(),
            Some(format!("Plain_{n}").as_str())
        );
        log.wait_for("cycle", n + 1);
        assert!(h.stop());
    }
    let threads: Vec<_> = log
        .events()
        .into_iter()
        .filter(|e| e.hook == "on_thread_start")
        .map(|e| e.thread)
        .collect();
    assert_eq!(threads, ["Plain_0", "Plain_1", "Plain_2"]);
    assert_eq!(h.status().restarts, 2);
    assert_paired(&log, 3, 0);
}

#[test]
fn name_option_prefixes_threads() {
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let h = Named(probe).into_loop();
    assert!(h.start());
    log.wait_for("cycle", 1);
    assert_eq!(log.events()[1].thread, "feed_0");
    assert_eq!(h.thread_name().as_deref(), Some("feed_0"));
    assert_eq!(h.status().name, "feed");
    assert!(h.stop());
}

#[test]
fn is_alive_and_is_running_follow_the_thread() {
    let (h, log) = plain(CycleMode::SleepUntilStop);
    assert!(!h.is_alive() && !h.is_running());
    assert!(h.start());
    assert!(h.is_alive() && h.is_running());
    log.wait_for("cycle", 1);
    let status = h.status();
    assert_eq!(status.state, LoopState::Running);
    assert!(status.alive && status.running);
    assert!(status.cycles >= 1);
    assert!(h.stop());
    assert!(!h.is_alive() && !h.is_running());
    assert_eq!(h.status().state, LoopState::Stopped);
}

#[test]
fn value_comes_back_between_runs() {
    // State kept in the value survives stop/start: the value travels into the thread and back.
    struct Counter {
        runs: u32,
        seen: superloops::channel::Sender<u32>,
    }
    #[superloop(grace = "20s")]
    impl Counter {
        fn on_thread_start(&mut self) {
            self.runs += 1;
            self.seen.send(self.runs).unwrap();
        }
        fn cycle(&mut self, ctx: &Ctx) {
            ctx.sleep(std::time::Duration::from_secs(3600));
        }
    }
    let (tx, rx) = superloops::channel::unbounded();
    let h = Counter { runs: 0, seen: tx }.into_loop();
    for expected in 1..=3 {
        assert!(h.start());
        assert_eq!(rx.recv_timeout(BOUND).unwrap(), expected);
        assert!(h.stop());
    }
}

#[test]
fn on_start_false_declines() {
    struct Shy(Log);
    #[superloop]
    impl Shy {
        fn on_start(&mut self) -> bool {
            self.0.push("on_start");
            false
        }
        fn on_stop(&mut self) {
            self.0.push("on_stop");
        }
        fn on_thread_start(&mut self) {
            self.0.push("on_thread_start");
        }
        fn cycle(&mut self) {}
    }
    let log = Log::default();
    let h = Shy(log.clone()).into_loop();
    assert!(!h.start());
    assert!(!h.is_alive());
    assert!(!h.is_running());
    assert_eq!(h.failures(), 0, "declining is not a failure");
    assert!(h.stop());
    assert_eq!(log.hooks(), ["on_start"], "no thread, no on_stop");
    assert_eq!(h.thread_name(), None);
}

#[test]
fn on_start_err_declines_and_is_recorded() {
    let probe = Probe::new(CycleMode::SleepUntilStop).start_mode(StartMode::Fail);
    let log = probe.log.clone();
    let h = Plain(probe).into_loop();
    assert!(!h.start());
    assert!(!h.is_alive() && !h.is_running());
    assert_eq!(
        h.failures(),
        0,
        "an Err from on_start is logged, not counted"
    );
    assert_eq!(h.status().last_error.as_deref(), Some("no connection"));
    assert!(h.stop());
    assert_eq!(log.hooks(), ["on_start"]);
}

#[test]
fn stop_wakes_ctx_recv_at_once() {
    let (_tx, rx) = superloops::channel::unbounded::<u32>();
    let (h, log) = plain(CycleMode::Recv(rx));
    assert!(h.start());
    log.wait_for("cycle", 1);
    // grace is 20 s: a stop that did not wake ctx.recv would abandon the thread → false.
    assert!(h.stop());
    assert!(log
        .events()
        .iter()
        .any(|e| e.hook == "received" && e.detail == "none"));
    assert_paired(&log, 1, 0);
}

#[test]
fn ctx_recv_delivers_messages() {
    let (tx, rx) = superloops::channel::unbounded::<u32>();
    let (h, log) = plain(CycleMode::Recv(rx));
    assert!(h.start());
    for n in 0..5 {
        tx.send(n).unwrap();
    }
    log.wait_until("5 messages", |ev| {
        ev.iter()
            .filter(|e| e.hook == "received" && e.detail != "none")
            .count()
            == 5
    });
    assert!(h.stop());
}

/// What one wait through the context returned, and whether the loop had been asked to stop
/// when it returned.
type Got = (Result<u32, RecvError>, bool);

/// Each cycle: says it is about to wait, waits on `rx` with `ctx.recv_timeout(rx, timeout)`,
/// reports what it got. After anything but a message it sleeps until stop, so that an
/// outcome other than a message is reported once.
struct TimedRecv {
    rx: Receiver<u32>,
    timeout: Duration,
    waiting: Sender<()>,
    got: Sender<Got>,
}

#[superloop(grace = "20s")]
impl TimedRecv {
    fn cycle(&mut self, ctx: &Ctx) {
        let _ = self.waiting.send(());
        let got = ctx.recv_timeout(&self.rx, self.timeout);
        let _ = self.got.send((got, ctx.should_stop()));
        if got.is_err() {
            ctx.sleep(Duration::from_secs(3600));
        }
    }
}

/// A `TimedRecv` loop (not started), the sender of its channel, its "about to wait" reports
/// and its results.
fn timed_recv(
    timeout: Duration,
) -> (
    LoopHandle<TimedRecv>,
    Sender<u32>,
    Receiver<()>,
    Receiver<Got>,
) {
    let (tx, rx) = unbounded();
    let (waiting, waiting_rx) = unbounded();
    let (got, got_rx) = unbounded();
    let h = TimedRecv {
        rx,
        timeout,
        waiting,
        got,
    }
    .into_loop();
    (h, tx, waiting_rx, got_rx)
}

#[test]
fn ctx_recv_timeout_returns_a_message_that_is_there_or_arrives_in_time() {
    // An hour: a message that was not delivered at once would fail the bound below.
    let (h, tx, waiting, got) = timed_recv(Duration::from_secs(3600));
    tx.send(7).unwrap();
    assert!(h.start());
    assert_eq!(got.recv_timeout(BOUND).unwrap(), (Ok(7), false));
    waiting.recv_timeout(BOUND).unwrap(); // the first cycle's
    waiting.recv_timeout(BOUND).unwrap(); // the second cycle's: about to wait, or waiting
    tx.send(8).unwrap();
    assert_eq!(
        got.recv_timeout(BOUND).unwrap(),
        (Ok(8), false),
        "a message that arrives during the wait ends it"
    );
    assert!(h.stop());
}

#[test]
fn ctx_recv_timeout_times_out_when_no_message_arrives() {
    let (h, _tx, _waiting, got) = timed_recv(Duration::from_millis(10));
    assert!(h.start());
    assert_eq!(
        got.recv_timeout(BOUND).unwrap(),
        (Err(RecvError::Timeout), false),
        "the sender is alive and the loop not stopping: it timed out"
    );
    assert!(h.stop());
}

#[test]
fn ctx_recv_timeout_reports_a_disconnected_channel_once_it_is_empty() {
    let (h, tx, waiting, got) = timed_recv(Duration::from_secs(3600));
    tx.send(1).unwrap();
    assert!(h.start());
    assert_eq!(got.recv_timeout(BOUND).unwrap(), (Ok(1), false));
    waiting.recv_timeout(BOUND).unwrap();
    waiting.recv_timeout(BOUND).unwrap(); // the second cycle is about to wait, or waiting
    drop(tx);
    assert_eq!(
        got.recv_timeout(BOUND).unwrap(),
        (Err(RecvError::Disconnected), false),
        "the sender is gone and the channel empty: no need to wait out the hour"
    );
    assert!(h.stop());
}

#[test]
fn stop_wakes_ctx_recv_timeout_at_once_with_stopped() {
    let (h, _tx, waiting, got) = timed_recv(Duration::from_secs(3600));
    assert!(h.start());
    waiting.recv_timeout(BOUND).unwrap();
    // grace is 20 s: a stop that did not wake the hour-long wait would abandon the thread → false.
    assert!(h.stop());
    assert_eq!(got.try_recv(), Ok((Err(RecvError::Stopped), true)));
}

#[test]
fn ctx_recv_returns_none_on_an_empty_disconnected_channel_without_a_stop() {
    struct Drain {
        rx: Receiver<u32>,
        got: Sender<(Option<u32>, bool)>,
    }
    #[superloop(grace = "20s")]
    impl Drain {
        fn cycle(&mut self, ctx: &Ctx) {
            let msg = ctx.recv(&self.rx);
            let _ = self.got.send((msg, ctx.should_stop()));
            if msg.is_none() {
                ctx.stop(); // what a loop whose channel is gone should do
            }
        }
    }
    let (tx, rx) = unbounded();
    let (got, got_rx) = unbounded();
    let h = Drain { rx, got }.into_loop();
    tx.send(3).unwrap();
    drop(tx);
    assert!(h.start());
    assert_eq!(got_rx.recv_timeout(BOUND).unwrap(), (Some(3), false));
    assert_eq!(
        got_rx.recv_timeout(BOUND).unwrap(),
        (None, false),
        "None with should_stop() false: the channel is gone, nobody asked to stop"
    );
    eventually("the loop to stop itself", || !h.is_alive());
    assert!(!h.is_running());
    assert_eq!(got_rx.try_recv().ok(), None, "no cycle after ctx.stop()");
}

#[test]
fn hard_reset_starts_a_stopped_or_never_started_loop() {
    let (h, log) = plain(CycleMode::SleepUntilStop);
    assert!(h.hard_reset(), "never started: hard_reset starts it");
    log.wait_for("cycle", 1);
    assert!(h.hard_reset(), "running: stopped and started again");
    log.wait_for("cycle", 2);
    assert_eq!(h.thread_name().as_deref(), Some("Plain_1"));
    assert!(h.stop());
    assert!(h.hard_reset(), "stopped: started again");
    log.wait_for("cycle", 3);
    assert!(h.stop());
    assert_eq!(log.count("on_start"), 3);
    assert_paired(&log, 3, 0);
    // Each hard reset's on_stop ran after the old thread had ended, before the new start.
    let hooks = log.hooks();
    let first_stop = hooks.iter().position(|h| *h == "on_stop").unwrap();
    let second_start = hooks
        .iter()
        .enumerate()
        .filter(|(_, h)| **h == "on_start")
        .nth(1)
        .unwrap()
        .0;
    assert!(first_stop < second_start, "{hooks:?}");
}

#[test]
fn handles_are_clones_of_one_loop() {
    let (h, log) = plain(CycleMode::SleepUntilStop);
    let h2 = h.clone();
    assert!(h.start());
    assert!(h2.is_alive());
    assert!(!h2.start());
    log.wait_for("cycle", 1);
    assert!(h2.stop());
    assert!(!h.is_alive());
}

#[test]
fn dropping_the_last_handle_stops_the_loop() {
    let (h, log) = plain(CycleMode::SleepUntilStop);
    let h2 = h.clone();
    assert!(h.start());
    log.wait_for("cycle", 1);
    drop(h);
    assert!(h2.is_alive(), "one handle left: still running");
    drop(h2);
    // The drop waited for the thread like `stop` does: everything has run.
    assert_paired(&log, 1, 0);
    assert_eq!(log.count("on_stop"), 1);
}

#[test]
fn status_display_is_readable() {
    let (h, log) = plain(CycleMode::SleepUntilStop);
    assert!(h.start());
    log.wait_for("cycle", 1);
    let text = h.status().to_string();
    assert!(
        text.starts_with("Plain_0 [running] alive=true failures=0/10"),
        "{text}"
    );
    assert!(h.stop());
}

#[test]
fn handle_is_send_sync_clone_and_usable_across_threads() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<LoopHandle<Plain>>();
    let (h, log) = plain(CycleMode::SleepUntilStop);
    let remote = h.clone();
    std::thread::spawn(move || assert!(remote.start()))
        .join()
        .unwrap();
    log.wait_for("cycle", 1);
    let started_on = log.events()[0].thread.clone();
    assert_ne!(
        started_on,
        current_thread(),
        "on_start ran on the thread that called start"
    );
    assert!(h.stop());
}

#[test]
fn cycle_without_ctx_and_hand_checks_of_should_stop() {
    // A cycle that takes no ctx cannot be woken: stop is seen between cycles.
    struct Quick(Arc<AtomicBool>);
    #[superloop(grace = "20s")]
    impl Quick {
        fn cycle(&mut self) {
            self.0.store(true, Ordering::SeqCst);
            std::thread::yield_now();
        }
    }
    let ran = Arc::new(AtomicBool::new(false));
    let h = Quick(ran.clone()).into_loop();
    assert!(h.start());
    eventually("a cycle to run", || ran.load(Ordering::SeqCst));
    assert!(h.stop(), "a cycle without ctx still stops between cycles");

    // A cycle that never blocks, and never returns on its own: its inner loop checks
    // ctx.should_stop() by hand, which is its only way out.
    struct Busy {
        entered: Sender<bool>,
    }
    #[superloop(grace = "20s")]
    impl Busy {
        fn cycle(&mut self, ctx: &Ctx) {
            let _ = self.entered.send(ctx.should_stop());
            while !ctx.should_stop() {
                std::thread::yield_now();
            }
        }
    }
    let (entered, entered_rx) = unbounded();
    let h = Busy { entered }.into_loop();
    assert!(h.start());
    assert!(
        !entered_rx.recv_timeout(BOUND).unwrap(),
        "should_stop() is false while the loop runs"
    );
    // grace is 20 s: had should_stop() stayed false, the thread would be abandoned → false.
    assert!(
        h.stop(),
        "should_stop() turned true on stop and the cycle returned"
    );
    assert_eq!(
        entered_rx.try_recv().ok(),
        None,
        "one cycle, ended by the hand check"
    );
}
