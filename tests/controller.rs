//! `LoopController`: resets, strategies, limits, backoff, `on_reset`, its health table and its
//! drop. DESIGN.md's Guarantees 4–8 under a supervisor are in `guarantees.rs`, nested groups in
//! `nesting.rs`. Tests wait on events (logs, `wait_green`), never sleep.

mod common;

use std::time::{Duration, Instant};

use common::*;
use superloops::channel::{unbounded, Receiver, Sender};
use superloops::prelude::*;

probe!(Member, grace = "20s");
probe!(Fragile, grace = "20s", max_failures = 0);
probe!(Loner, grace = "20s", reset_globally = false);
probe!(Stuck, grace = "50ms");

/// All of a log's `on_stop`s of generation 0 came before any `on_thread_start` of generation 1.
fn stopped_before_restart(logs: &[&Log]) {
    for log in logs {
        let hooks = log.hooks();
        let stop = hooks
            .iter()
            .position(|h| *h == "on_stop")
            .expect("on_stop ran");
        let restart = hooks
            .iter()
            .enumerate()
            .filter(|(_, h)| **h == "on_thread_start")
            .nth(1)
            .expect("restarted")
            .0;
        assert!(stop < restart, "{hooks:?}");
    }
}

fn reset_with_n_members(n: usize) {
    let (reset_tx, resets) = unbounded();
    let c = LoopController::new().on_reset(move || reset_tx.send(()).unwrap());
    let (trigger, trigger_log) = sleeping_member(&c, Fragile);
    let others: Vec<_> = (1..n).map(|_| sleeping_member(&c, Member)).collect();
    assert!(c.start());
    c.maintain_loops();
    trigger_log.wait_for("cycle", 1);
    for (_, log) in &others {
        log.wait_for("cycle", 1);
    }
    assert!(
        trigger.failure(),
        "max_failures = 0: the first failure exceeds"
    );
    resets.recv_timeout(BOUND).unwrap();
    green(&c);
    for (h, log) in &others {
        log.wait_for("on_thread_start", 2);
        assert_eq!(h.thread_name().as_deref(), Some("Member_1"));
        assert_eq!(log.count("on_stop"), 1);
        assert!(h.is_alive());
    }
    trigger_log.wait_for("on_thread_start", 2);
    assert_eq!(trigger.thread_name().as_deref(), Some("Fragile_1"));
    assert_eq!(c.resets(), 1);
    assert!(resets.try_recv().is_err(), "on_reset ran once");
    let mut logs: Vec<&Log> = others.iter().map(|(_, l)| l).collect();
    logs.push(&trigger_log);
    stopped_before_restart(&logs);
    assert!(c.stop());
    assert!(!c.has_alive_loops());
    for log in logs {
        assert_paired(log, 2, 0);
    }
}

#[test]
fn reset_restarts_every_member_n_2() {
    reset_with_n_members(2);
}

#[test]
fn reset_restarts_every_member_n_8() {
    reset_with_n_members(8);
}

#[test]
fn reset_restarts_every_member_n_64() {
    reset_with_n_members(64);
}

#[test]
fn supervisor_thread_is_named_and_stops() {
    let c = LoopController::new();
    assert!(c.start());
    assert!(!c.start(), "already running");
    assert_eq!(c.health().supervisor.as_deref(), Some("LoopController_0"));
    assert!(c.stop());
    assert_eq!(c.health().supervisor, None);
    let named = LoopController::new().named("Pipeline");
    assert!(named.start());
    assert_eq!(named.health().supervisor.as_deref(), Some("Pipeline_0"));
    named.stop();
}

#[test]
fn a_member_stuck_past_grace_during_a_reset_is_abandoned_and_restarted_later() {
    let c = LoopController::new();
    let (trigger, trigger_log) = sleeping_member(&c, Fragile);
    let (release, stuck_rx) = unbounded();
    let probe = Probe::new(CycleMode::StuckOnce(stuck_rx));
    let stuck_log = probe.log.clone();
    let stuck = c.new_loop(Stuck(probe));
    c.start();
    c.maintain_loops();
    trigger_log.wait_for("cycle", 1);
    stuck_log.wait_for("stuck", 1);

    assert!(trigger.failure());
    // The reset finishes without waiting for the stuck thread, but the group is not green:
    // the stuck member's start is queued until its value comes back, so it should run and
    // does not. Every view says so.
    trigger_log.wait_for("on_thread_start", 2);
    eventually("the reset to finish", || c.health().stalled);
    assert_eq!(stuck.status().abandoned_threads, 1);
    assert!(
        stuck.is_running(),
        "its start is queued until the value comes back"
    );
    assert!(!stuck.is_alive());
    assert!(!c.is_green() && !c.wait_green(Duration::from_millis(20)));
    let health = c.health();
    assert!(
        !health.green && health.to_string().contains("[stalled]"),
        "{health}"
    );
    assert_eq!(c.stalled_loops().len(), 1, "{health}");
    assert_eq!(stuck_log.count("on_stop"), 0);

    drop(release);
    green(&c);
    assert!(stuck.is_alive() && c.stalled_loops().is_empty());
    stuck_log.wait_for("on_thread_start", 2);
    assert_eq!(stuck.thread_name().as_deref(), Some("Stuck_1"));
    assert_eq!(
        stuck_log.count_on("cycle", "Stuck_0"),
        1,
        "never another cycle"
    );
    assert!(c.stop());
    assert_paired(&stuck_log, 2, 0);
    assert_paired(&trigger_log, 2, 0);
}

/// Three members; the middle one exceeds its budget. Returns which restarted.
fn restarted_under(strategy: Strategy) -> [bool; 3] {
    let c = LoopController::new().strategy(strategy);
    let (_a, a_log) = sleeping_member(&c, Member);
    let (b, b_log) = sleeping_member(&c, Fragile);
    let (_c2, c_log) = sleeping_member(&c, Member);
    c.start();
    c.maintain_loops();
    for log in [&a_log, &b_log, &c_log] {
        log.wait_for("cycle", 1);
    }
    assert!(b.failure());
    b_log.wait_for("on_thread_start", 2);
    green(&c);
    c.stop();
    [&a_log, &b_log, &c_log].map(|log| log.count("on_thread_start") == 2)
}

#[test]
fn strategies_restart_different_members() {
    assert_eq!(restarted_under(Strategy::OneForAll), [true, true, true]);
    assert_eq!(restarted_under(Strategy::OneForOne), [false, true, false]);
    assert_eq!(restarted_under(Strategy::RestForOne), [false, true, true]);
}

#[test]
fn reset_globally_false_members_are_left_alone_but_trigger_resets() {
    let c = LoopController::new();
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let loner_log = probe.log.clone();
    let loner = c.new_loop(Loner(probe));
    let (_m, m_log) = sleeping_member(&c, Member);
    c.start();
    c.maintain_loops();
    loner_log.wait_for("cycle", 1);
    m_log.wait_for("cycle", 1);
    for _ in 0..10 {
        assert!(!loner.failure());
    }
    assert!(loner.failure(), "the 11th exceeds the default budget of 10");
    m_log.wait_for("on_thread_start", 2);
    green(&c);
    assert_eq!(loner_log.count("on_thread_start"), 1, "not restarted");
    assert!(loner.is_alive());
    c.stop();
}

#[test]
fn past_max_restarts_the_group_gives_up_and_stops_everything() {
    let c = LoopController::new()
        .max_restarts(2, Duration::from_secs(3600))
        .backoff(Duration::from_millis(1), Duration::from_millis(2));
    let (trigger, trigger_log) = sleeping_member(&c, Fragile);
    let (other, other_log) = sleeping_member(&c, Member);
    c.start();
    c.maintain_loops();
    for round in 1..=2 {
        trigger_log.wait_for("cycle", round);
        assert!(trigger.failure());
        trigger_log.wait_for("on_thread_start", round + 1);
        green(&c);
    }
    trigger_log.wait_for("cycle", 3);
    assert!(trigger.failure());
    eventually("the group to give up", || c.health().failed);
    eventually("every member to stop", || !c.has_alive_loops());
    let health = c.health();
    assert!(!health.green);
    assert_eq!(health.resets, 2);
    assert!(!other.is_alive() && !trigger.is_alive());
    assert_eq!(other_log.count("on_thread_start"), 3);
    // A gave-up group stays down until it is started again.
    c.maintain_loops();
    assert!(c.health().green && other.is_alive());
    c.stop();
    assert_paired(&other_log, 4, 0);
}

#[test]
fn backoff_delays_resets_that_follow_each_other() {
    // Cap of one hour: every reset here follows the previous one, so the delay doubles.
    let c = LoopController::new().backoff(Duration::from_millis(2), Duration::from_secs(3600));
    let (trigger, log) = sleeping_member(&c, Fragile);
    c.start();
    c.maintain_loops();
    let mut delays = Vec::new();
    for round in 1..=4 {
        log.wait_for("cycle", round);
        assert!(trigger.failure());
        log.wait_for("on_thread_start", round + 1);
        green(&c);
        delays.push(c.health().backoff);
    }
    let ms = Duration::from_millis;
    assert_eq!(delays, [ms(0), ms(2), ms(4), ms(8)]);
    c.stop();
}

#[test]
fn a_reset_waits_out_its_backoff_with_the_members_stopped() {
    let delay = Duration::from_millis(300);
    let c = LoopController::new().backoff(delay, Duration::from_secs(3600));
    let (trigger, log) = sleeping_member(&c, Fragile);
    c.start();
    c.maintain_loops();
    log.wait_for("cycle", 1);
    assert!(trigger.failure());
    log.wait_for("on_thread_start", 2);
    green(&c);
    // The second reset follows the first closely: it waits `delay` before restarting. A
    // lower bound, which load can only lengthen.
    log.wait_for("cycle", 2);
    let failed_at = Instant::now();
    assert!(trigger.failure());
    log.wait_for("on_thread_start", 3);
    let took = failed_at.elapsed();
    assert!(
        took >= delay,
        "restarted after {took:?}, before its {delay:?} backoff"
    );
    // The member was stopped before the wait, not after it.
    log.wait_for("on_stop", 2);
    assert!(log.seq_of("on_stop", 1) < log.seq_of("on_thread_start", 2));
    c.stop();
}

/// A loop that stops itself at once, reporting when each of its threads starts.
struct Quitter(Sender<Instant>);

#[superloop(grace = "20s")]
impl Quitter {
    fn on_thread_start(&mut self) {
        let _ = self.0.send(Instant::now());
    }
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.stop();
    }
}

#[test]
fn a_member_whose_thread_keeps_ending_is_restarted_with_backoff_up_to_the_cap() {
    // Without backoff the supervisor would restart it as fast as threads can be spawned.
    let ms = Duration::from_millis;
    let (min, cap) = (ms(100), ms(1000));
    let c = LoopController::new().backoff(min, cap);
    let (tx, starts) = unbounded();
    let h = c.new_loop(Quitter(tx));
    c.start();
    c.maintain_loops();
    let times: Vec<Instant> = (0..8)
        .map(|n| {
            starts
                .recv_timeout(BOUND)
                .unwrap_or_else(|_| panic!("start {n} never came:\n{}", c.health()))
        })
        .collect();
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // The first restart is immediate; then min, doubling, up to the cap. Lower bounds.
    let at_least = [
        ms(0),
        ms(100),
        ms(200),
        ms(400),
        ms(800),
        ms(1000),
        ms(1000),
    ];
    for (i, (gap, least)) in gaps.iter().zip(at_least).enumerate() {
        assert!(
            *gap >= least,
            "restart {i} after {gap:?}, before {least:?}: {gaps:?}"
        );
    }
    // Capped: without the cap the last would wait 6.4 s.
    assert!(gaps[6] < ms(4000), "the delay grew past its cap: {gaps:?}");
    // Stopping while a restart waits out its delay leaves nothing running.
    assert!(c.stop());
    assert!(!h.is_alive() && !h.is_running(), "{}", h.status());
    assert!(
        starts.try_recv().is_err(),
        "restarted after the group stopped"
    );
}

/// Ignores stop until released; says when it is listening, and when it is asked to stop.
struct Deaf {
    ready: Sender<()>,
    asked: Sender<usize>,
    release: Receiver<()>,
    id: usize,
    armed: bool,
}

#[superloop(grace = "60s")]
impl Deaf {
    fn cycle(&mut self, ctx: &Ctx) {
        if std::mem::take(&mut self.armed) {
            let (asked, id) = (self.asked.clone(), self.id);
            ctx.stopping().then(move || {
                let _ = asked.send(id);
            });
            let _ = self.ready.send(());
        }
        if self.release.recv().is_err() {
            ctx.sleep(Duration::from_secs(3600)); // released: now it listens
        }
    }
}

#[test]
fn a_reset_asks_every_member_to_stop_before_waiting_for_any() {
    // Three members that would each use all of a 60 s grace: a reset that asked them one
    // grace after another would ask the second only after a minute.
    let c = LoopController::new();
    let (asked_tx, asked) = unbounded();
    let (ready_tx, ready) = unbounded();
    let (release, release_rx) = unbounded::<()>();
    let deaf: Vec<_> = (0..3)
        .map(|id| {
            c.new_loop(Deaf {
                ready: ready_tx.clone(),
                asked: asked_tx.clone(),
                release: release_rx.clone(),
                id,
                armed: true,
            })
        })
        .collect();
    drop(release_rx);
    let (trigger, log) = sleeping_member(&c, Fragile);
    c.start();
    c.maintain_loops();
    log.wait_for("cycle", 1);
    for _ in 0..3 {
        ready
            .recv_timeout(BOUND)
            .expect("every member listens for its stop");
    }
    assert!(trigger.failure());
    let mut ids: Vec<usize> = (0..3)
        .map(|_| {
            asked
                .recv_timeout(BOUND)
                .expect("every member is asked at once, not one grace after another")
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [0, 1, 2]);
    drop(release); // let them end: the reset finishes and restarts them
    green(&c);
    for h in &deaf {
        assert!(h.is_alive(), "{}", h.status());
        assert_eq!(h.status().restarts, 1);
    }
    c.stop();
}

#[test]
fn a_panic_in_on_reset_is_logged_and_members_restart_anyway() {
    let c = LoopController::new().on_reset(|| panic!("on_reset exploded"));
    let (trigger, log) = sleeping_member(&c, Fragile);
    c.start();
    c.maintain_loops();
    log.wait_for("cycle", 1);
    assert!(trigger.failure());
    log.wait_for("on_thread_start", 2);
    green(&c);
    assert!(trigger.is_alive());
    c.stop();
}

#[test]
fn health_display_is_a_table() {
    let c = LoopController::new().named("Pipeline");
    let (_a, a_log) = sleeping_member(&c, Member);
    let (_b, b_log) = sleeping_member(&c, Fragile);
    c.start();
    c.maintain_loops();
    a_log.wait_for("cycle", 1);
    b_log.wait_for("cycle", 1);
    let table = c.health().to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "Pipeline [green] resets=0 supervisor=Pipeline_0");
    assert!(lines[1].starts_with("member"), "{table}");
    assert!(
        lines[2].starts_with("Member_0") && lines[2].contains("running"),
        "{table}"
    );
    assert!(
        lines[3].starts_with("Fragile_0") && lines[3].contains("0/0"),
        "{table}"
    );
    c.stop();
}

#[test]
fn dropping_the_controller_stops_everything() {
    let c = LoopController::new();
    let (h, log) = sleeping_member(&c, Member);
    c.start();
    c.maintain_loops();
    log.wait_for("cycle", 1);
    drop(c);
    assert!(!h.is_alive());
    assert_paired(&log, 1, 0);
}
