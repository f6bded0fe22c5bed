//! The clock a controller's supervision reads: the real one, or a [`ManualClock`] that a test
//! advances by hand, so that "after 5 crashes in a minute the group gives up" runs in
//! milliseconds.
//!
//! It drives what the supervision policy decides with time: backoff waits (of resets and of
//! lone restarts), the restart-intensity window, and the failure `within` window of the loops
//! under the controller. Grace waits, thread joins, `cycle_timeout` and `Signal::after` stay
//! on real time: they wait for threads, which no test clock can hurry.
//!
//! This file imports only [`sync`](crate::sync).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::sync::Lock;

/// A clock for tests: it stands still until [`advance`](Self::advance)d. Build a controller
/// with it ([`LoopController::clock`](crate::LoopController::clock)) and its backoff waits,
/// restart-intensity window and its loops' failure windows follow it; whatever is due when
/// it is advanced happens at once.
///
/// ```
/// use std::time::Duration;
/// use superloops::prelude::*;
/// use superloops::testing::ManualClock;
///
/// struct Flaky;
/// #[superloop(max_failures = 0)]
/// impl Flaky {
///     fn cycle(&mut self, ctx: &Ctx) {
///         ctx.sleep(Duration::from_secs(3600));
///     }
/// }
///
/// let clock = ManualClock::new();
/// let group = LoopController::new()
///     .clock(clock.clone())
///     .max_restarts(2, Duration::from_secs(60))
///     .backoff(Duration::from_secs(1), Duration::from_secs(30));
/// let flaky = group.new_loop(Flaky);
/// group.start();
/// group.maintain_loops();
/// assert!(group.wait_green(Duration::from_secs(10)));
/// flaky.failure(); // the first reset is at once
/// assert!(group.wait_green(Duration::from_secs(10)));
/// flaky.failure(); // the second waits its backoff: 1 s of the test clock
/// while group.health().next_restart_in.is_none() {
///     std::thread::yield_now(); // until the reset waits out its backoff
/// }
/// assert!(!group.is_green(), "backing off");
/// clock.advance(Duration::from_secs(1));
/// assert!(group.wait_green(Duration::from_secs(10)));
/// flaky.failure(); // a third within the minute: past max_restarts = 2
/// while !group.health().failed {
///     std::thread::yield_now();
/// }
/// group.stop();
/// ```
#[derive(Clone)]
pub struct ManualClock(Arc<Manual>);

struct Manual {
    base: Instant,
    state: Lock<State>,
}

struct State {
    offset: Duration,
    /// Rung (never blocking) on every advance; closed ones are dropped.
    ticks: Vec<Sender<()>>,
}

impl ManualClock {
    /// A clock standing at the real time of its creation.
    pub fn new() -> Self {
        ManualClock(Arc::new(Manual {
            base: Instant::now(),
            state: Lock::new(State {
                offset: Duration::ZERO,
                ticks: Vec::new(),
            }),
        }))
    }

    /// Its time now.
    pub fn now(&self) -> Instant {
        self.0.base + self.0.state.lock().offset
    }

    /// How far it has been advanced since it was made.
    pub fn elapsed(&self) -> Duration {
        self.0.state.lock().offset
    }

    /// Moves it on by `by` (saturating), and wakes whatever waits on it: what is due by then
    /// happens at once.
    pub fn advance(&self, by: Duration) {
        let mut st = self.0.state.lock();
        st.offset = st.offset.saturating_add(by);
        // `base + offset` must stay an Instant.
        while self.0.base.checked_add(st.offset).is_none() {
            st.offset /= 2;
        }
        st.ticks
            .retain(|t| !matches!(t.try_send(()), Err(e) if e.is_disconnected()));
    }

    /// A bell rung on every advance.
    fn subscribe(&self) -> Receiver<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.0.state.lock().ticks.push(tx);
        rx
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl std::fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

/// The clock of a controller: real, or manual.
#[derive(Clone, Default)]
pub(crate) struct Clock(Option<ManualClock>);

impl Clock {
    pub(crate) fn manual(clock: ManualClock) -> Clock {
        Clock(Some(clock))
    }

    pub(crate) fn now(&self) -> Instant {
        match &self.0 {
            None => Instant::now(),
            Some(m) => m.now(),
        }
    }

    /// A bell to select on beside a deadline of this clock: rung on every advance of a manual
    /// clock; never for the real one (a real deadline is a timer of its own).
    pub(crate) fn ticks(&self) -> Receiver<()> {
        match &self.0 {
            None => crossbeam_channel::never(),
            Some(m) => m.subscribe(),
        }
    }

    /// A real-time timer for `deadline` of this clock (`None`: never), for a select: for a
    /// manual clock, never (its [`ticks`](Self::ticks) wake the select instead).
    pub(crate) fn timer(&self, deadline: Option<Instant>) -> Receiver<Instant> {
        match (&self.0, deadline) {
            (None, Some(d)) => crossbeam_channel::at(d),
            _ => crossbeam_channel::never(),
        }
    }

    /// Waits `delay` of this clock, or until `cut` disconnects (a shutdown signal's
    /// receiver): true if it was cut short.
    pub(crate) fn sleep(&self, delay: Duration, cut: &Receiver<()>) -> bool {
        let Some(deadline) = self.now().checked_add(delay) else {
            // Past the end of time: only the cut ends it.
            let _ = cut.recv();
            return true;
        };
        let ticks = self.ticks();
        loop {
            if self.now() >= deadline {
                return false;
            }
            crossbeam_channel::select_biased! {
                recv(cut) -> _ => return true,
                recv(ticks) -> _ => {}
                recv(self.timer(Some(deadline))) -> _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_advanced_and_wakes_its_sleepers() {
        let m = ManualClock::new();
        let t0 = m.now();
        assert_eq!(m.now(), t0);
        m.advance(Duration::from_secs(90));
        assert_eq!(m.now() - t0, Duration::from_secs(90));
        assert_eq!(m.elapsed(), Duration::from_secs(90));
        m.advance(Duration::MAX);
        assert!(m.now() > t0, "saturates, never panics");

        let clock = Clock::manual(ManualClock::new());
        let (_cut_tx, cut) = crossbeam_channel::bounded::<()>(0);
        let sleeper = {
            let clock = clock.clone();
            std::thread::spawn(move || clock.sleep(Duration::from_secs(3600), &cut))
        };
        // An hour of the test clock passes in a few advances.
        let Clock(Some(manual)) = &clock else {
            unreachable!()
        };
        while !sleeper.is_finished() {
            manual.advance(Duration::from_secs(600));
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!sleeper.join().unwrap(), "not cut short");
    }

    #[test]
    fn a_sleep_is_cut_short_by_its_cut() {
        let clock = Clock::default();
        let (cut_tx, cut) = crossbeam_channel::bounded::<()>(0);
        drop(cut_tx);
        assert!(clock.sleep(Duration::from_secs(3600), &cut));
        assert!(!clock.sleep(Duration::ZERO, &crossbeam_channel::never()));
    }
}
