//! Supervision that tells the truth (issue 23): the green light is on only when no reset is
//! under way, the group has not given up, and every member that should run is running; a
//! member whose `on_start` refuses (`false`, `Err` or a panic) is retried with backoff and
//! counted against the restart intensity (OTP's `try_again_restart`, and `hanging_restart_loop`
//! when it never starts); a nested group restarted by its parent starts with a fresh intensity;
//! stale failures cause one reset, not one each.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::*;
use superloops::channel::{unbounded, Receiver, Sender};
use superloops::prelude::*;
use superloops::testing::ManualClock;
use superloops::MemberHealth;

/// Sleeps in every cycle until stopped; its `on_start` fails until it is allowed (a message
/// on `allow`), and counts its answers.
struct Picky {
    allow: Receiver<()>,
    asked: Arc<AtomicU32>,
}

#[superloop(grace = "20s", max_failures = 0)]
impl Picky {
    fn on_start(&mut self) -> Result<(), String> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        match self.allow.try_recv() {
            Ok(()) => Ok(()),
            Err(_) => Err("the device is not there yet".into()),
        }
    }
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(3600));
    }
}

struct Steady;

#[superloop(grace = "20s", max_failures = 0)]
impl Steady {
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(3600));
    }
}

fn picky() -> (Picky, superloops::channel::Sender<()>, Arc<AtomicU32>) {
    let (tx, rx) = unbounded();
    let asked = Arc::new(AtomicU32::new(0));
    let value = Picky {
        allow: rx,
        asked: asked.clone(),
    };
    (value, tx, asked)
}

fn names(members: &[MemberHealth]) -> Vec<String> {
    members.iter().map(|m| m.name().to_owned()).collect()
}

#[test]
fn a_member_whose_on_start_fails_is_retried_and_the_group_is_not_green_until_it_runs() {
    let c = LoopController::new()
        .named("Refusing")
        .backoff(Duration::from_millis(1), Duration::from_millis(5));
    let steady = c.new_loop(Steady);
    let (value, allow, asked) = picky();
    let refuser = c.new_loop(value);
    c.start();
    c.maintain_loops();
    // It is asked again and again (the supervisor retries it with backoff) while it refuses.
    eventually("on_start asked three times", || {
        asked.load(Ordering::SeqCst) >= 3
    });
    assert!(steady.is_alive() && !refuser.is_alive());
    // Every view agrees: not green, and the refuser is the stalled one.
    assert!(
        !c.is_green(),
        "green with a member failing to start:\n{}",
        c.health()
    );
    assert!(!c.wait_green(Duration::from_millis(50)));
    let health = c.health();
    assert!(!health.green, "{health}");
    assert_eq!(names(&c.stalled_loops()), vec!["Picky".to_owned()]);
    // Allowed: the next retry starts it, and the group goes green.
    allow.send(()).unwrap();
    assert!(c.wait_green(BOUND), "never green:\n{}", c.health());
    assert!(refuser.is_alive());
    assert!(c.is_green() && c.health().green);
    assert!(c.stalled_loops().is_empty(), "{}", c.health());
    assert!(c.stop());
}

#[test]
fn a_member_whose_start_always_fails_makes_a_group_with_max_restarts_give_up() {
    // OTP's hanging_restart_loop: a child whose start always fails exhausts the intensity.
    let c = LoopController::new()
        .named("Hanging")
        .max_restarts(3, Duration::from_secs(3600))
        .backoff(Duration::from_millis(1), Duration::from_millis(2));
    let steady = c.new_loop(Steady);
    let (value, _allow, asked) = picky();
    let _refuser = c.new_loop(value);
    c.start();
    c.maintain_loops();
    eventually("the group to give up", || c.health().failed);
    // The first refusal, then one retry per restart allowed.
    assert_eq!(asked.load(Ordering::SeqCst), 4, "{}", c.health());
    assert!(!c.is_green() && !c.wait_green(Duration::ZERO));
    eventually("every member stopped", || !steady.is_alive());
    assert!(c.stop());
}

/// Declines (`on_start` returns `false`) as many starts as `refuse` says, counting them in
/// `asked`; each `failure()` exceeds its budget.
struct Declines {
    refuse: Arc<AtomicU32>,
    asked: Arc<AtomicU32>,
}

#[superloop(grace = "20s", max_failures = 0)]
impl Declines {
    fn on_start(&mut self) -> bool {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let refuse = &self.refuse;
        refuse
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
    }
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(3600));
    }
}

fn declines(refuse: u32) -> (Declines, Arc<AtomicU32>, Arc<AtomicU32>) {
    let (refuse, asked) = (
        Arc::new(AtomicU32::new(refuse)),
        Arc::new(AtomicU32::new(0)),
    );
    let value = Declines {
        refuse: refuse.clone(),
        asked: asked.clone(),
    };
    (value, refuse, asked)
}

#[test]
fn a_member_whose_on_start_returns_false_in_a_reset_is_retried_and_the_group_is_not_green() {
    let c = LoopController::new()
        .named("Declining")
        .backoff(Duration::from_millis(1), Duration::from_millis(5));
    let steady = c.new_loop(Steady);
    let (value, refuse, asked) = declines(0);
    let decliner = c.new_loop(value);
    c.start();
    c.maintain_loops();
    assert!(c.wait_green(BOUND), "{}", c.health());
    assert!(steady.is_alive() && decliner.is_alive());

    // From now on it declines; its failure resets the group, and the reset's start of it is
    // declined, then each retry.
    refuse.store(u32::MAX, Ordering::SeqCst);
    assert!(decliner.failure());
    eventually("on_start declined three times", || {
        asked.load(Ordering::SeqCst) >= 4
    });
    assert_eq!(c.resets(), 1, "one reset: the retries are not resets");
    assert!(steady.is_alive() && !decliner.is_alive());
    // Every view agrees: wanted running, not running, so not green.
    assert!(decliner.is_running(), "still wanted running");
    assert!(
        !c.is_green(),
        "green with a member declining:\n{}",
        c.health()
    );
    assert!(!c.wait_green(Duration::from_millis(50)));
    assert!(!c.health().green);
    assert_eq!(names(&c.stalled_loops()), vec!["Declines".to_owned()]);

    // It accepts again: the next retry starts it, and the group goes green.
    refuse.store(0, Ordering::SeqCst);
    assert!(c.wait_green(BOUND), "never green:\n{}", c.health());
    assert!(decliner.is_alive());
    assert!(c.stalled_loops().is_empty(), "{}", c.health());
    assert!(c.stop());
}

#[test]
fn a_member_that_always_declines_makes_a_group_with_max_restarts_give_up() {
    let c = LoopController::new()
        .named("Refusals")
        .max_restarts(3, Duration::from_secs(3600))
        .backoff(Duration::from_millis(1), Duration::from_millis(2));
    let steady = c.new_loop(Steady);
    let (value, _refuse, asked) = declines(u32::MAX);
    let _decliner = c.new_loop(value);
    c.start();
    c.maintain_loops();
    eventually("the group to give up", || c.health().failed);
    // The first refusal, then one retry per restart allowed.
    assert_eq!(asked.load(Ordering::SeqCst), 4, "{}", c.health());
    assert!(!c.is_green() && !c.wait_green(Duration::ZERO));
    eventually("every member stopped", || !steady.is_alive());
    assert!(c.stop());
}

/// `max_failures = 0`: each `failure()` exceeds its budget.
struct Leaf;

#[superloop(grace = "20s", max_failures = 0)]
impl Leaf {
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(3600));
    }
}

#[test]
fn a_nested_group_restarted_by_its_parent_starts_with_a_fresh_intensity() {
    let outer = LoopController::new().named("Top");
    let sibling = outer.new_loop(Steady);
    let inner = LoopController::new()
        .named("Tree")
        .max_restarts(1, Duration::from_secs(3600))
        .backoff(Duration::from_millis(1), Duration::from_millis(2));
    let leaf = inner.new_loop(Leaf);
    outer.add(&inner);
    outer.start();
    outer.maintain_loops();
    eventually("both running", || sibling.is_alive() && leaf.is_alive());
    assert!(outer.wait_green(BOUND) && inner.wait_green(BOUND));

    // One restart allowed: the first failure resets the inner group...
    assert!(leaf.failure());
    eventually("the inner reset", || inner.resets() == 1);
    assert!(inner.wait_green(BOUND), "{}", inner.health());
    // ...the second makes it give up, and its parent restarts it.
    assert!(leaf.failure());
    eventually("the outer reset", || outer.resets() == 1);
    assert!(outer.wait_green(BOUND), "{}", outer.health());
    assert!(inner.wait_green(BOUND), "{}", inner.health());
    assert!(!inner.health().failed);
    let inner_resets = inner.resets();

    // Restarted with a fresh intensity: its next failure is a reset of its own, not a second
    // giving up that would restart the whole tree again.
    assert!(leaf.failure());
    eventually("the inner reset after the restart", || {
        inner.resets() == inner_resets + 1
    });
    assert!(inner.wait_green(BOUND), "{}", inner.health());
    assert!(outer.wait_green(BOUND), "{}", outer.health());
    assert_eq!(
        outer.resets(),
        1,
        "the top restarted the tree twice for one cause"
    );
    assert!(!inner.health().failed && leaf.is_alive() && sibling.is_alive());
    assert!(outer.stop());
}

#[test]
fn failures_reported_before_the_first_reset_cause_one_reset() {
    let c = LoopController::new().named("Stale");
    let a = c.new_loop(Leaf);
    let b = c.new_loop(Steady);
    c.maintain_loops();
    eventually("both running", || a.is_alive() && b.is_alive());
    // Fifty excesses before any supervisor runs: they wait for it, merged.
    for _ in 0..50 {
        assert!(a.failure());
    }
    c.start();
    assert!(c.wait_green(BOUND), "{}", c.health());
    assert_eq!(
        c.resets(),
        1,
        "one reset answers every excess counted before it"
    );
    assert!(c.stop());
}

#[test]
fn a_member_waiting_for_its_retry_shows_as_retrying() {
    let c = LoopController::new()
        .named("Waiting")
        .backoff(Duration::from_millis(300), Duration::from_secs(10));
    let _steady = c.new_loop(Steady);
    let (value, allow, _asked) = picky();
    let refuser = c.new_loop(value);
    c.start();
    c.maintain_loops();
    // The first retry is at once; the second waits out the backoff, and shows.
    eventually("a retry waiting out its backoff", || {
        !c.health().retrying.is_empty()
    });
    let health = c.health();
    assert_eq!(health.retrying.len(), 1, "{health}");
    let (index, due) = health.retrying[0];
    assert_eq!(index, 1, "the second member, Picky");
    assert!(due.is_some_and(|d| d <= Duration::from_secs(10)), "{due:?}");
    assert!(!health.green && health.restoring);
    let shown = health.to_string();
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("Picky") && l.contains("retrying")),
        "{shown}"
    );
    allow.send(()).unwrap();
    assert!(c.wait_green(BOUND), "{}", c.health());
    assert!(refuser.is_alive() && c.health().retrying.is_empty());
    assert!(c.stop());
}

#[test]
fn a_supervisor_that_panics_is_never_silent() {
    let c = LoopController::new().named("Faulty");
    let leaf = c.new_loop(Leaf);
    c.start();
    c.maintain_loops();
    eventually("the leaf running", || leaf.is_alive());
    assert!(c.wait_green(BOUND));
    // The supervisor's step for the next event panics, as a bug of the crate would.
    superloops::__private::fail_supervisor_steps("Faulty", 1);
    assert!(leaf.failure());
    eventually("the fault reported", || c.health().fault.is_some());
    let health = c.health();
    assert!(!health.green && !c.is_green() && !c.wait_green(Duration::ZERO));
    assert!(
        health.fault.as_deref().unwrap().contains("injected"),
        "{health}"
    );
    let shown = health.to_string();
    assert!(
        shown.starts_with("Faulty [faulted]") && shown.contains("supervisor fault"),
        "{shown}"
    );
    // It goes on supervising: the next excess is a reset.
    assert!(leaf.failure());
    eventually("a reset after the fault", || c.resets() == 1);
    assert!(!c.is_green(), "still faulted until brought back");
    // maintain_loops brings it back, as it does a group that gave up.
    c.maintain_loops();
    assert!(c.wait_green(BOUND), "{}", c.health());
    assert_eq!(c.health().fault, None);
    assert!(c.stop());
}

#[test]
fn each_decision_explains_itself_in_health() {
    let c = LoopController::new()
        .named("Explained")
        .max_restarts(5, Duration::from_secs(60));
    let leaf = c.new_loop(Leaf);
    let _steady = c.new_loop(Steady);
    c.start();
    c.maintain_loops();
    assert!(c.wait_green(BOUND));
    assert_eq!(c.health().last_decision, None, "nothing decided yet");
    assert!(leaf.failure());
    eventually("the reset", || c.resets() == 1);
    assert!(c.wait_green(BOUND), "{}", c.health());
    let health = c.health();
    assert_eq!(
        health.last_decision.as_deref(),
        Some(
            "Leaf exceeded its failure budget: resetting Leaf, Steady; restart 1 of at most 5 \
             within 60s; at once"
        ),
        "{health}"
    );
    assert!(
        health.to_string().contains("last decision: Leaf exceeded"),
        "{health}"
    );
    assert_eq!(health.next_restart_in, None, "nothing waits");
    assert!(c.stop());
}

#[test]
fn a_restart_waiting_out_its_backoff_says_when_it_is_due() {
    let c = LoopController::new()
        .named("Due")
        .backoff(Duration::from_millis(300), Duration::from_secs(10));
    let (value, allow, _asked) = picky();
    let _refuser = c.new_loop(value);
    c.start();
    c.maintain_loops();
    eventually("a retry waiting out its backoff", || {
        c.health().next_restart_in.is_some()
    });
    let health = c.health();
    assert!(
        health.next_restart_in.unwrap() <= Duration::from_millis(300),
        "{health}"
    );
    let decision = health.last_decision.clone().unwrap_or_default();
    assert!(
        decision.starts_with("Picky could not be started: restarting Picky alone")
            && decision.contains("next in 300ms"),
        "{health}"
    );
    allow.send(()).unwrap();
    assert!(c.wait_green(BOUND), "{}", c.health());
    assert_eq!(c.health().next_restart_in, None);
    assert!(c.stop());
}

/// Fails the member once, then lets the test clock run until the group is green again (or
/// has given up): each backoff wait is one advance of the clock, never a real wait.
fn fail_and_settle(c: &LoopController, leaf: &LoopHandle<Leaf>, clock: &ManualClock) {
    assert!(leaf.failure());
    let deadline = std::time::Instant::now() + BOUND;
    loop {
        let health = c.health();
        if health.failed {
            return;
        }
        if let Some(due) = health.next_restart_in {
            clock.advance(due);
        }
        if c.wait_green(Duration::from_millis(5)) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never settled:\n{health}"
        );
    }
}

/// A running group named `name` on a test clock: at most 5 restarts a minute, backoff 1 s
/// up to 30 s, and one `Leaf` member.
fn clocked(name: &str) -> (LoopController, LoopHandle<Leaf>, ManualClock) {
    let clock = ManualClock::new();
    let c = LoopController::new()
        .named(name)
        .clock(clock.clone())
        .max_restarts(5, Duration::from_secs(60))
        .backoff(Duration::from_secs(1), Duration::from_secs(30));
    let leaf = c.new_loop(Leaf);
    c.start();
    c.maintain_loops();
    assert!(c.wait_green(BOUND));
    (c, leaf, clock)
}

#[test]
fn with_a_test_clock_five_crashes_in_a_minute_give_up_in_milliseconds() {
    let (c, leaf, clock) = clocked("Clocked");
    let began = std::time::Instant::now();
    for n in 1..=5 {
        fail_and_settle(&c, &leaf, &clock);
        assert!(!c.health().failed, "gave up after {n} resets");
        assert_eq!(c.resets(), n);
    }
    // Backoffs of 1 + 2 + 4 + 8 s passed on the test clock, well inside its minute.
    assert_eq!(clock.elapsed(), Duration::from_secs(15));
    fail_and_settle(&c, &leaf, &clock);
    assert!(c.health().failed, "the sixth within the minute gives up");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "a minute of supervision took {:?} of real time",
        began.elapsed()
    );
    assert!(c.stop());

    // The same settings, with the crashes a minute apart: never gives up.
    let (c, leaf, clock) = clocked("Spaced");
    for _ in 0..8 {
        clock.advance(Duration::from_secs(61));
        fail_and_settle(&c, &leaf, &clock);
        assert!(!c.health().failed, "{}", c.health());
    }
    assert_eq!(c.resets(), 8);
    assert!(c.stop());
}

struct Windowed;

#[superloop(grace = "20s", max_failures = 1, within = "60s")]
impl Windowed {
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(3600));
    }
}

#[test]
fn a_loops_failure_window_follows_its_controllers_test_clock() {
    let clock = ManualClock::new();
    let c = LoopController::new().clock(clock.clone());
    let w = c.new_loop(Windowed);
    assert!(!w.failure(), "1 of 1");
    clock.advance(Duration::from_secs(61));
    assert_eq!(w.failures(), 0, "the first left the window");
    assert!(!w.failure(), "1 of 1 again");
    clock.advance(Duration::from_secs(30));
    assert!(w.failure(), "2 within 60 s of the test clock: exceeded");
}

/// Its first cycle runs past its `cycle_timeout` until released; then each cycle sleeps
/// 50 ms, well within it.
struct Slow {
    release: Receiver<()>,
    released: bool,
}

#[superloop(grace = "20s", max_failures = 1000, cycle_timeout = "1s")]
impl Slow {
    fn cycle(&mut self, ctx: &Ctx) {
        if !self.released {
            let _ = self.release.recv();
            self.released = true;
            return;
        }
        ctx.sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_member_stalled_past_its_cycle_timeout_keeps_the_light_off_until_its_cycle_returns() {
    let c = LoopController::new().named("Watched");
    let steady = c.new_loop(Steady);
    let (release, rx) = unbounded();
    let slow = c.new_loop(Slow {
        release: rx,
        released: false,
    });
    c.start();
    c.maintain_loops();
    eventually("the watchdog to report the stall", || {
        slow.status().state == superloops::LoopState::Stalled
    });
    // Every view agrees: not green, and the slow member is the stalled one.
    assert!(steady.is_alive() && slow.is_alive());
    assert!(!c.is_green() && !c.wait_green(Duration::from_millis(20)));
    let health = c.health();
    assert!(!health.green && health.stalled, "{health}");
    assert!(health.to_string().contains("[stalled]"), "{health}");
    assert_eq!(names(&c.stalled_loops()), vec!["Slow".to_owned()]);

    // Its cycle returns: the next ones are on time, and the light comes on by itself.
    release.send(()).unwrap();
    assert!(c.wait_green(BOUND), "never green:\n{}", c.health());
    assert!(c.stalled_loops().is_empty() && !c.health().stalled);
    assert!(c.stop());
}

/// With a `cycle_timeout`, its first cycle waits for its own group's green light and tells the
/// answer on `told`; then each cycle sleeps 10 ms.
struct Waiter {
    group: Arc<OnceLock<LoopController>>,
    told: Sender<bool>,
    waited: bool,
}

#[superloop(grace = "20s", max_failures = 1000, cycle_timeout = "50ms")]
impl Waiter {
    fn cycle(&mut self, ctx: &Ctx) {
        if !std::mem::replace(&mut self.waited, true) {
            let green = self
                .group
                .get()
                .expect("set before start")
                .wait_green(BOUND);
            let _ = self.told.send(green);
            return;
        }
        ctx.sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_members_own_wait_for_green_does_not_wait_for_its_own_stall() {
    let c = LoopController::new()
        .named("SelfWait")
        .backoff(Duration::from_millis(1), Duration::from_millis(5));
    let group = Arc::new(OnceLock::new());
    let (told, answers) = unbounded();
    let waiter = c.new_loop(Waiter {
        group: group.clone(),
        told,
        waited: false,
    });
    let (value, allow, _asked) = picky();
    let _refuser = c.new_loop(value);
    let _ = group.set(c.clone());
    c.start();
    c.maintain_loops();
    // The waiter's first cycle waits for green past its cycle_timeout: stalled, by its wait.
    eventually("the waiter's wait to stall its cycle", || {
        waiter.status().state == superloops::LoopState::Stalled
    });
    assert!(!c.is_green(), "{}", c.health());
    // The refuser starts: for everyone else the waiter is still stalled, but its own wait
    // does not wait for itself.
    allow.send(()).unwrap();
    let green = answers.recv_timeout(BOUND).expect("the wait returned");
    assert!(
        green,
        "its own wait never saw its group green:\n{}",
        c.health()
    );
    assert!(c.wait_green(BOUND), "{}", c.health());
    assert!(c.stop());
}
