//! Issue 11 (10): the process-wide timer and watchdog threads survive a refused spawn. One
//! refusal (the operating system out of threads for a moment) used to disable them for the
//! whole process; now a thread waiting on a signal (or the next timer) spawns the timer thread
//! again, the next watched loop the watchdog, and what was registered meanwhile is served. A
//! binary of its own: both threads are process-wide.

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
    // The timer: the only Signal::after's spawn is refused, and so is the first retry of
    // the thread that waits on it; its next retry spawns the thread, and the timer fires
    // (late, never early), with no other Signal::after to help.
    superloops::__private::fail_next_spawns("timer", 2);
    let made = std::time::Instant::now();
    let only = Signal::after(Duration::from_millis(1));
    assert!(
        only.wait_timeout(BOUND),
        "the timer whose spawn was refused never fired"
    );
    assert!(made.elapsed() >= Duration::from_millis(1));
    // Once running, the next timer is served as usual.
    let next = Signal::after(Duration::from_millis(1));
    assert!(next.wait_timeout(BOUND), "a later timer was lost");

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
