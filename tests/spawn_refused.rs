//! Issue 11 (10): the process-wide timer and watchdog threads survive a refused spawn. One
//! refusal (the operating system out of threads for a moment) used to disable them for the
//! whole process; now a thread waiting on a signal spawns either again (so does the next timer,
//! or the next watched loop), and what was registered meanwhile is served. A binary of its own:
//! both threads are process-wide.

mod common;

use std::time::Duration;

use common::*;
use superloops::channel::{unbounded, Receiver};
use superloops::prelude::*;
use superloops::LoopState;

/// The only watched loop: its thread's spawn of the watchdog is refused. Its first cycle
/// sleeps through its context (a wait on a signal, which tries the watchdog again), then it
/// stalls: blocks without looking at its stop token until released.
struct Lonely {
    release: Receiver<()>,
    slept: bool,
}

#[superloop(grace = "20s", cycle_timeout = "20ms", max_failures = 1000)]
impl Lonely {
    fn on_thread_start(&mut self) {
        // Refuse this thread's next watchdog spawn: the watchdog is spawned by the first
        // watched loop thread to begin its cycles.
        superloops::__private::fail_next_spawns("watchdog", 1);
    }
    fn cycle(&mut self, ctx: &Ctx) {
        if !std::mem::replace(&mut self.slept, true) {
            ctx.sleep(Duration::from_millis(120));
            return;
        }
        let _ = self.release.recv();
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

    // The watchdog: the only watched loop's spawn of it is refused, and no other loop comes
    // to spawn it. The loop's own wait in ctx.sleep spawns it again, and its stall is seen.
    let (release, rx) = unbounded();
    let lonely = LoopHandle::new(Lonely {
        release: rx,
        slept: false,
    });
    assert!(lonely.start());
    eventually("the lonely loop reported stalled", || {
        lonely.status().state == LoopState::Stalled
    });
    assert!(lonely.failures() >= 1);
    release.send(()).unwrap();
    assert!(lonely.stop());
}
