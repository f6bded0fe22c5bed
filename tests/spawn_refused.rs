//! Issue 11 (10): the process-wide timer and watchdog threads survive a refused spawn. One
//! refusal (the operating system out of threads for a moment) used to disable them for the
//! whole process; now the next timer or watched loop spawns them again, and what was
//! registered meanwhile is served. A binary of its own: both threads are process-wide.

mod common;

use std::time::Duration;

use common::*;
use superloops::channel::{unbounded, Receiver};
use superloops::prelude::*;
use superloops::LoopState;

struct Blocked(Receiver<()>);

#[superloop(grace = "20s", cycle_timeout = "20ms", max_failures = 1000)]
impl Blocked {
    fn on_thread_start(&mut self) {
        // Refuse this thread's next watchdog spawn: the watchdog is spawned by the first
        // watched loop thread to begin its cycles.
        superloops::__private::fail_next_spawns("watchdog", 1);
    }
    fn cycle(&mut self, ctx: &Ctx) {
        // Stalls: blocks without looking at the stop token until released.
        let _ = self.0.recv();
        ctx.sleep(Duration::from_secs(3600));
    }
}

struct Stalls(Receiver<()>);

#[superloop(grace = "20s", cycle_timeout = "20ms", max_failures = 1000)]
impl Stalls {
    fn cycle(&mut self, ctx: &Ctx) {
        let _ = self.0.recv();
        ctx.sleep(Duration::from_secs(3600));
    }
}

#[test]
fn the_timer_and_the_watchdog_survive_a_refused_spawn() {
    // The timer: the first Signal::after's spawn is refused; the next one spawns it, and
    // both fire.
    superloops::__private::fail_next_spawns("timer", 1);
    let first = Signal::after(Duration::from_millis(1));
    let second = Signal::after(Duration::from_millis(1));
    assert!(
        second.wait_timeout(BOUND),
        "the timer thread was never spawned"
    );
    assert!(
        first.wait_timeout(BOUND),
        "a timer added while it was down was lost"
    );

    // The watchdog: the first watched loop's spawn is refused, the next spawns it, and it
    // watches both.
    let (release_a, a_rx) = unbounded();
    let (release_b, b_rx) = unbounded();
    let a = LoopHandle::new(Blocked(a_rx));
    assert!(a.start());
    eventually("a's thread to begin", || a.is_running());
    let b = LoopHandle::new(Stalls(b_rx));
    assert!(b.start());
    eventually("b to be reported stalled", || {
        b.status().state == LoopState::Stalled
    });
    eventually("a to be reported stalled too", || {
        a.status().state == LoopState::Stalled
    });
    assert!(a.failures() >= 1 && b.failures() >= 1);
    release_a.send(()).unwrap();
    release_b.send(()).unwrap();
    assert!(a.stop() && b.stop());
}
