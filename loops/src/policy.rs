//! The supervision policy, as pure functions: given what a member reported, the strategy, the
//! restart intensity (`max_restarts` within a window) and the backoff, decide whom to stop and
//! start, and when. The clock is passed in, so the unit tests below drive it with made-up
//! instants, in microseconds, without a thread.
//!
//! The supervisor thread ([`supervisor`](crate::supervisor)) acts on these decisions; this
//! file imports nothing from the crate.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// How a group restarts its members when one exceeds its failure budget (Erlang/OTP's
/// supervisor strategies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Restart every member that resets globally (SuperLoops' behaviour).
    #[default]
    OneForAll,
    /// Restart only the member that exceeded its budget.
    OneForOne,
    /// Restart the member that exceeded its budget and every member declared after it that
    /// resets globally.
    RestForOne,
}

/// The default backoff between resets that follow each other: from 10 ms up to 5 s.
pub const DEFAULT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_secs(5));

/// A controller's restart settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) strategy: Strategy,
    /// At most this many restarts (resets, and retries of members that failed to start)
    /// within the window; past it, give up.
    pub(crate) max_restarts: Option<(u32, Duration)>,
    /// Backoff between restarts that follow each other: (first delay, cap).
    pub(crate) backoff: (Duration, Duration),
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            strategy: Strategy::OneForAll,
            max_restarts: None,
            backoff: DEFAULT_BACKOFF,
        }
    }
}

/// What the policy needs to know of a member when it decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Facts {
    /// It restarts when another member of its group exceeds its budget.
    pub(crate) resets_globally: bool,
    /// Its thread is alive.
    pub(crate) alive: bool,
}

/// The members a reset restarts, in declaration order: triggered by member `trigger`
/// exceeding its budget, or by a failed task (`None`).
pub(crate) fn restart_set(
    strategy: Strategy,
    members: &[Facts],
    trigger: Option<usize>,
) -> Vec<usize> {
    let is_trigger = |i: usize| trigger == Some(i);
    let all = 0..members.len();
    match strategy {
        Strategy::OneForOne => trigger.filter(|&t| t < members.len()).into_iter().collect(),
        // A trigger that does not reset globally is restarted only if its thread is dead.
        Strategy::OneForAll => all
            .filter(|&i| members[i].resets_globally || (is_trigger(i) && !members[i].alive))
            .collect(),
        Strategy::RestForOne => {
            let from = trigger.unwrap_or(0);
            all.filter(|&i| is_trigger(i) || (i >= from && members[i].resets_globally))
                .collect()
        }
    }
}

/// The delay before a restart: none after a quiet spell (nothing restarted for `max`, or
/// nothing yet); otherwise `min`, then twice the previous delay, up to `max`.
pub(crate) fn next_backoff(
    previous: Duration,
    since_last: Option<Duration>,
    (min, max): (Duration, Duration),
) -> Duration {
    match since_last {
        None => Duration::ZERO,
        Some(gap) if gap >= max => Duration::ZERO,
        Some(_) if previous.is_zero() => min,
        Some(_) => previous.saturating_mul(2).min(max),
    }
}

/// Why a member is restarted alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alone {
    /// Its thread `gen` ended with nobody stopping it (a panic, `ctx.stop()`).
    Ended(u64),
    /// It could not be started (its `on_start` failed or panicked; no thread could be made).
    StartFailed,
}

/// A restart of one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Restart {
    pub(crate) index: usize,
    pub(crate) why: Alone,
    /// The backoff it waited (zero: at once).
    pub(crate) delay: Duration,
    /// When it is due; `None`: never (a backoff past the end of time).
    pub(crate) due: Option<Instant>,
}

/// A reset: stop `set` (in reverse), wait `delay`, run `on_reset`, start `set` (in order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reset {
    pub(crate) set: Vec<usize>,
    pub(crate) delay: Duration,
    /// Restarts counted in the intensity window, this one included (with `max_restarts`).
    pub(crate) within_window: Option<(u32, u32, Duration)>,
}

/// Why an event leads to nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// The group gave up: only a start (or its parent's reset) brings it back.
    GaveUp,
    /// A task failed under `one_for_one`: no member to restart, so no reset.
    NoMemberForTask,
    /// The event names no member.
    UnknownMember,
}

/// What the supervisor does about one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Nothing(Skip),
    Reset(Reset),
    /// Past `max` restarts within `window`: stop every member and report the group failed.
    GiveUp {
        max: u32,
        window: Duration,
    },
    /// Restart one member now.
    RestartNow(Restart),
    /// Restart one member once its backoff has passed (kept here until [`Supervision::due`]).
    RestartLater(Restart),
}

/// The supervisor's memory between events: restarts inside the intensity window, the
/// backoffs, the restarts waiting out theirs, and whether it gave up.
#[derive(Debug, Default)]
pub(crate) struct Supervision {
    /// When each restart inside the `max_restarts` window was decided.
    intensity: VecDeque<Instant>,
    /// The delay the last reset waited, and when it finished.
    reset_backoff: Duration,
    last_reset: Option<Instant>,
    /// Per member restarted alone: when it last was, and the delay that restart waited.
    lone: BTreeMap<usize, (Instant, Duration)>,
    /// Restarts waiting out their backoff, in the order they were decided.
    deferred: Vec<Restart>,
    gave_up: bool,
}

impl Supervision {
    /// A member exceeded its budget (`trigger`), or a task failed (`None`).
    pub(crate) fn exceeded(
        &mut self,
        policy: &Policy,
        members: &[Facts],
        trigger: Option<usize>,
        now: Instant,
    ) -> Decision {
        if self.gave_up {
            return Decision::Nothing(Skip::GaveUp);
        }
        if trigger.is_some_and(|t| t >= members.len()) {
            return Decision::Nothing(Skip::UnknownMember);
        }
        let set = restart_set(policy.strategy, members, trigger);
        if trigger.is_none() && set.is_empty() {
            return Decision::Nothing(Skip::NoMemberForTask);
        }
        let within_window = match self.admit(policy, now) {
            Ok(counted) => counted,
            Err(give_up) => return give_up,
        };
        let since_last = self.last_reset.map(|t| now.saturating_duration_since(t));
        self.reset_backoff = next_backoff(self.reset_backoff, since_last, policy.backoff);
        Decision::Reset(Reset {
            set,
            delay: self.reset_backoff,
            within_window,
        })
    }

    /// A reset finished at `now`: the next one that follows closely backs off.
    pub(crate) fn reset_done(&mut self, now: Instant) {
        self.last_reset = Some(now);
    }

    /// Member `index`'s thread `gen` ended with nobody stopping it. Not counted against the
    /// restart intensity.
    pub(crate) fn ended(
        &mut self,
        policy: &Policy,
        index: usize,
        gen: u64,
        now: Instant,
    ) -> Decision {
        if self.gave_up {
            return Decision::Nothing(Skip::GaveUp);
        }
        self.alone(policy, index, Alone::Ended(gen), now)
    }

    /// Member `index` could not be started: retried, with the backoff, and counted against
    /// the restart intensity (as OTP does with a child whose start fails).
    pub(crate) fn start_failed(&mut self, policy: &Policy, index: usize, now: Instant) -> Decision {
        if self.gave_up {
            return Decision::Nothing(Skip::GaveUp);
        }
        // A retry already waiting for this member answers this failure too.
        if let Some(waiting) = self.deferred.iter().find(|r| r.index == index) {
            return Decision::RestartLater(*waiting);
        }
        if let Err(give_up) = self.admit(policy, now) {
            return give_up;
        }
        self.alone(policy, index, Alone::StartFailed, now)
    }

    fn alone(&mut self, policy: &Policy, index: usize, why: Alone, now: Instant) -> Decision {
        let delay = match self.lone.get(&index) {
            None => Duration::ZERO,
            Some(&(at, previous)) => next_backoff(
                previous,
                Some(now.saturating_duration_since(at)),
                policy.backoff,
            ),
        };
        let restart = Restart {
            index,
            why,
            delay,
            due: now.checked_add(delay),
        };
        if delay.is_zero() {
            Decision::RestartNow(restart)
        } else {
            self.deferred.push(restart);
            Decision::RestartLater(restart)
        }
    }

    /// Counts one restart at `now` against `max_restarts`; past it, gives up.
    fn admit(
        &mut self,
        policy: &Policy,
        now: Instant,
    ) -> Result<Option<(u32, u32, Duration)>, Decision> {
        let Some((max, window)) = policy.max_restarts else {
            return Ok(None);
        };
        while self
            .intensity
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > window)
        {
            self.intensity.pop_front();
        }
        let counted = u32::try_from(self.intensity.len()).unwrap_or(u32::MAX);
        if counted >= max {
            self.gave_up = true;
            self.deferred.clear();
            return Err(Decision::GiveUp { max, window });
        }
        self.intensity.push_back(now);
        Ok(Some((counted + 1, max, window)))
    }

    /// Member `restart.index` was restarted alone at `now`: the next lone restart of it that
    /// follows closely waits twice as long.
    pub(crate) fn restarted_alone(&mut self, restart: &Restart, now: Instant) {
        self.lone.insert(restart.index, (now, restart.delay));
    }

    /// When the next deferred restart is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.deferred.iter().filter_map(|r| r.due).min()
    }

    /// The deferred restarts due at `now`, in the order they were decided.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Restart> {
        let (due, waiting) = self
            .deferred
            .drain(..)
            .partition(|r| r.due.is_some_and(|d| d <= now));
        self.deferred = waiting;
        due
    }

    /// Every deferred restart, taken out (the supervisor is ending).
    pub(crate) fn take_deferred(&mut self) -> Vec<Restart> {
        std::mem::take(&mut self.deferred)
    }

    /// A restart is waiting out its backoff.
    pub(crate) fn restoring(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Gave up after too many restarts.
    pub(crate) fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// Brought back (by `maintain_loops`, or a parent's reset): decides again.
    pub(crate) fn revive(&mut self) {
        self.gave_up = false;
    }

    /// The delay the last reset waited.
    pub(crate) fn reset_backoff(&self) -> Duration {
        self.reset_backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A fake clock: instants `ms` after a fixed origin.
    struct Clock(Instant);
    impl Clock {
        fn new() -> Self {
            Clock(Instant::now())
        }
        fn at(&self, ms: u64) -> Instant {
            self.0 + Duration::from_millis(ms)
        }
    }

    fn facts(spec: &[(bool, bool)]) -> Vec<Facts> {
        spec.iter()
            .map(|&(resets_globally, alive)| Facts {
                resets_globally,
                alive,
            })
            .collect()
    }

    fn policy(strategy: Strategy) -> Policy {
        Policy {
            strategy,
            max_restarts: None,
            backoff: (10 * MS, 40 * MS),
        }
    }

    #[test]
    fn each_strategy_restarts_its_set() {
        // Member 1 does not reset globally.
        let m = facts(&[(true, true), (false, true), (true, true), (true, true)]);
        use Strategy::*;
        assert_eq!(restart_set(OneForAll, &m, Some(2)), [0, 2, 3]);
        assert_eq!(
            restart_set(OneForAll, &m, Some(1)),
            [0, 2, 3],
            "alive: kept"
        );
        let dead = facts(&[(true, true), (false, false), (true, true)]);
        assert_eq!(
            restart_set(OneForAll, &dead, Some(1)),
            [0, 1, 2],
            "dead: restarted"
        );
        assert_eq!(restart_set(OneForOne, &m, Some(1)), [1]);
        assert_eq!(restart_set(OneForOne, &m, None), [] as [usize; 0], "a task");
        assert_eq!(restart_set(RestForOne, &m, Some(1)), [1, 2, 3]);
        assert_eq!(restart_set(RestForOne, &m, Some(2)), [2, 3]);
        assert_eq!(
            restart_set(RestForOne, &m, None),
            [0, 2, 3],
            "a task: from the first"
        );
        assert_eq!(restart_set(OneForAll, &m, None), [0, 2, 3]);
    }

    #[test]
    fn backoff_is_immediate_after_a_quiet_spell_then_doubles_up_to_the_cap() {
        let b = (10 * MS, 40 * MS);
        let close = Some(MS);
        assert_eq!(
            next_backoff(Duration::ZERO, None, b),
            Duration::ZERO,
            "first"
        );
        assert_eq!(next_backoff(Duration::ZERO, close, b), 10 * MS);
        assert_eq!(next_backoff(10 * MS, close, b), 20 * MS);
        assert_eq!(next_backoff(20 * MS, close, b), 40 * MS);
        assert_eq!(next_backoff(40 * MS, close, b), 40 * MS, "capped");
        assert_eq!(
            next_backoff(40 * MS, Some(40 * MS), b),
            Duration::ZERO,
            "quiet spell"
        );
        let max = (Duration::MAX, Duration::MAX);
        assert_eq!(
            next_backoff(Duration::MAX, close, max),
            Duration::MAX,
            "no overflow"
        );
    }

    #[test]
    fn resets_back_off_while_they_follow_each_other_and_not_after_a_quiet_spell() {
        let (c, p) = (Clock::new(), policy(Strategy::OneForAll));
        let m = facts(&[(true, true), (true, true)]);
        let mut s = Supervision::default();
        let delay = |d: Decision| match d {
            Decision::Reset(r) => r.delay,
            other => panic!("not a reset: {other:?}"),
        };
        assert_eq!(delay(s.exceeded(&p, &m, Some(0), c.at(0))), Duration::ZERO);
        s.reset_done(c.at(1));
        assert_eq!(delay(s.exceeded(&p, &m, Some(0), c.at(2))), 10 * MS);
        s.reset_done(c.at(15));
        assert_eq!(delay(s.exceeded(&p, &m, Some(1), c.at(16))), 20 * MS);
        s.reset_done(c.at(40));
        assert_eq!(delay(s.exceeded(&p, &m, Some(1), c.at(41))), 40 * MS);
        s.reset_done(c.at(90));
        assert_eq!(
            delay(s.exceeded(&p, &m, Some(1), c.at(91))),
            40 * MS,
            "capped"
        );
        s.reset_done(c.at(140));
        // Quiet for the cap (40 ms): immediate again, and the growth starts over.
        assert_eq!(
            delay(s.exceeded(&p, &m, Some(0), c.at(180))),
            Duration::ZERO
        );
        s.reset_done(c.at(181));
        assert_eq!(delay(s.exceeded(&p, &m, Some(0), c.at(182))), 10 * MS);
    }

    #[test]
    fn the_intensity_window_counts_restarts_and_gives_up_past_max() {
        let c = Clock::new();
        let p = Policy {
            max_restarts: Some((2, 100 * MS)),
            ..policy(Strategy::OneForOne)
        };
        let m = facts(&[(true, true)]);
        let mut s = Supervision::default();
        let window = |d: Decision| match d {
            Decision::Reset(r) => r.within_window,
            other => panic!("not a reset: {other:?}"),
        };
        assert_eq!(
            window(s.exceeded(&p, &m, Some(0), c.at(0))),
            Some((1, 2, 100 * MS))
        );
        assert_eq!(
            window(s.exceeded(&p, &m, Some(0), c.at(50))),
            Some((2, 2, 100 * MS))
        );
        // At exactly the window's length the first still counts: a third gives up.
        let mut edge = Supervision {
            intensity: s.intensity.clone(),
            ..Supervision::default()
        };
        assert_eq!(
            edge.exceeded(&p, &m, Some(0), c.at(100)),
            Decision::GiveUp {
                max: 2,
                window: 100 * MS
            }
        );
        assert!(edge.gave_up());
        // Just past it, the first has left the window.
        assert_eq!(
            window(s.exceeded(&p, &m, Some(0), c.at(101))),
            Some((2, 2, 100 * MS))
        );
        // Gave up: nothing is decided until it is revived.
        assert_eq!(
            edge.exceeded(&p, &m, Some(0), c.at(500)),
            Decision::Nothing(Skip::GaveUp)
        );
        assert_eq!(
            edge.ended(&p, 0, 3, c.at(500)),
            Decision::Nothing(Skip::GaveUp)
        );
        edge.revive();
        assert!(matches!(
            edge.exceeded(&p, &m, Some(0), c.at(500)),
            Decision::Reset(_)
        ));
    }

    #[test]
    fn a_failed_task_under_one_for_one_is_no_reset_and_is_not_counted() {
        let c = Clock::new();
        let p = Policy {
            max_restarts: Some((1, 100 * MS)),
            ..policy(Strategy::OneForOne)
        };
        let m = facts(&[(true, true)]);
        let mut s = Supervision::default();
        for t in 0..5 {
            assert_eq!(
                s.exceeded(&p, &m, None, c.at(t)),
                Decision::Nothing(Skip::NoMemberForTask)
            );
        }
        assert!(matches!(
            s.exceeded(&p, &m, Some(0), c.at(6)),
            Decision::Reset(_)
        ));
        assert_eq!(
            s.exceeded(&p, &m, Some(3), c.at(6)),
            Decision::Nothing(Skip::UnknownMember)
        );
    }

    #[test]
    fn lone_restarts_back_off_per_member_and_are_not_counted_against_the_limit() {
        let c = Clock::new();
        let p = Policy {
            max_restarts: Some((1, 1000 * MS)),
            ..policy(Strategy::OneForAll)
        };
        let mut s = Supervision::default();
        let Decision::RestartNow(first) = s.ended(&p, 0, 0, c.at(0)) else {
            panic!("the first restart is immediate")
        };
        s.restarted_alone(&first, c.at(0));
        // Another member is not held back by member 0's restarts.
        assert!(matches!(
            s.ended(&p, 1, 0, c.at(1)),
            Decision::RestartNow(_)
        ));
        let Decision::RestartLater(second) = s.ended(&p, 0, 1, c.at(2)) else {
            panic!("a restart that follows closely backs off")
        };
        assert_eq!((second.delay, second.due), (10 * MS, Some(c.at(12))));
        assert!(s.restoring());
        assert_eq!(s.next_due(), Some(c.at(12)));
        assert_eq!(s.due(c.at(11)), []);
        assert_eq!(s.due(c.at(12)), [second]);
        assert!(!s.restoring());
        s.restarted_alone(&second, c.at(12));
        let Decision::RestartLater(third) = s.ended(&p, 0, 2, c.at(13)) else {
            panic!("backs off")
        };
        assert_eq!(third.delay, 20 * MS);
        s.due(c.at(33));
        s.restarted_alone(&third, c.at(33));
        // A quiet spell of the cap: immediate again.
        assert!(matches!(
            s.ended(&p, 0, 3, c.at(73)),
            Decision::RestartNow(_)
        ));
        // None of these counted: a reset is still allowed.
        let m = facts(&[(true, true), (true, true)]);
        assert!(matches!(
            s.exceeded(&p, &m, Some(0), c.at(74)),
            Decision::Reset(_)
        ));
    }

    #[test]
    fn a_failed_start_is_retried_with_backoff_and_counted_until_the_group_gives_up() {
        let c = Clock::new();
        let p = Policy {
            max_restarts: Some((3, 1000 * MS)),
            ..policy(Strategy::OneForAll)
        };
        let mut s = Supervision::default();
        let Decision::RestartNow(r) = s.start_failed(&p, 0, c.at(0)) else {
            panic!("the first retry is at once")
        };
        assert_eq!(r.why, Alone::StartFailed);
        s.restarted_alone(&r, c.at(0));
        let Decision::RestartLater(r) = s.start_failed(&p, 0, c.at(1)) else {
            panic!("the second backs off")
        };
        assert_eq!(r.delay, 10 * MS);
        // Failing again while that retry waits adds nothing, and is not counted.
        assert_eq!(s.start_failed(&p, 0, c.at(2)), Decision::RestartLater(r));
        assert_eq!(s.due(c.at(11)), [r]);
        s.restarted_alone(&r, c.at(11));
        assert!(matches!(
            s.start_failed(&p, 0, c.at(12)),
            Decision::RestartLater(_)
        ));
        // Three counted: the fourth gives up, and drops the waiting retry.
        assert_eq!(
            s.start_failed(&p, 1, c.at(13)),
            Decision::GiveUp {
                max: 3,
                window: 1000 * MS
            }
        );
        assert!(!s.restoring() && s.gave_up());
    }

    #[test]
    fn a_backoff_past_the_end_of_time_is_never_due() {
        let c = Clock::new();
        let p = Policy {
            backoff: (Duration::MAX, Duration::MAX),
            ..policy(Strategy::OneForAll)
        };
        let mut s = Supervision::default();
        let Decision::RestartNow(r) = s.ended(&p, 0, 0, c.at(0)) else {
            panic!()
        };
        s.restarted_alone(&r, c.at(0));
        let Decision::RestartLater(r) = s.ended(&p, 0, 1, c.at(1)) else {
            panic!()
        };
        assert_eq!((r.delay, r.due), (Duration::MAX, None));
        assert_eq!(s.next_due(), None);
        assert_eq!(s.take_deferred(), [r]);
    }
}
