//! The supervision policy, as pure functions: given what a member reported, the strategy, the
//! restart intensity (`max_restarts` within a window) and the backoff, decide whom to stop and
//! start, and when. The clock is passed in, so the unit tests below drive it with made-up
//! instants, in microseconds, without a thread.
//!
//! Members are named by their *number*: members are numbered in the order they were added,
//! from 0, and a removed member's number is never given to another, so that a decision, a
//! waiting restart or a queued event never lands on the wrong member when the set changes.
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
    /// Its number (see the module docs).
    pub(crate) id: usize,
    /// It restarts when another member of its group exceeds its budget.
    pub(crate) resets_globally: bool,
    /// Its thread is alive.
    pub(crate) alive: bool,
    /// Resets (its group's, or a parent's) that restarted it so far: an excess counted in an
    /// older epoch was answered by one of them.
    pub(crate) epoch: u64,
}

/// The members (their numbers) a reset restarts, in declaration order: triggered by member
/// `trigger` exceeding its budget, or by a failed task (`None`). `members` are the current
/// members, in declaration order.
pub(crate) fn restart_set(
    strategy: Strategy,
    members: &[Facts],
    trigger: Option<usize>,
) -> Vec<usize> {
    let is_trigger = |m: &Facts| trigger == Some(m.id);
    match strategy {
        Strategy::OneForOne => members
            .iter()
            .filter(|m| is_trigger(m))
            .map(|m| m.id)
            .collect(),
        // A trigger that does not reset globally is restarted only if its thread is dead.
        Strategy::OneForAll => members
            .iter()
            .filter(|m| m.resets_globally || (is_trigger(m) && !m.alive))
            .map(|m| m.id)
            .collect(),
        Strategy::RestForOne => {
            let from = members.iter().position(is_trigger).unwrap_or(0);
            members
                .iter()
                .enumerate()
                .filter(|&(at, m)| is_trigger(m) || (at >= from && m.resets_globally))
                .map(|(_, m)| m.id)
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
    /// An excess counted before a reset that has restarted the member since: that reset
    /// answered it.
    Stale,
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
    /// Restarts whose backoff is over and that the supervisor is carrying out: until it says
    /// it has ([`restarted_alone`](Self::restarted_alone)), the member still waits, and the
    /// green light stays off (it must not flash on between the wait and the start).
    in_progress: Vec<Restart>,
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
        if trigger.is_some_and(|t| !members.iter().any(|m| m.id == t)) {
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

    /// Member `index` exceeded its budget, counted in its reset epoch `epoch`: a reset, unless
    /// a reset has restarted it since ([`Skip::Stale`]).
    pub(crate) fn member_exceeded(
        &mut self,
        policy: &Policy,
        members: &[Facts],
        index: usize,
        epoch: u64,
        now: Instant,
    ) -> Decision {
        match members.iter().find(|m| m.id == index) {
            None => Decision::Nothing(Skip::UnknownMember),
            Some(m) if epoch < m.epoch => Decision::Nothing(Skip::Stale),
            Some(_) => self.exceeded(policy, members, Some(index), now),
        }
    }

    /// The group was restarted by its parent's reset: a fresh start, as OTP starts a
    /// restarted supervisor (no restarts counted in the window, no backoff carried over, no
    /// retry waiting, not given up).
    pub(crate) fn restarted_by_parent(&mut self) {
        *self = Supervision::default();
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
            self.in_progress.clear();
            return Err(Decision::GiveUp { max, window });
        }
        self.intensity.push_back(now);
        Ok(Some((counted + 1, max, window)))
    }

    /// Member `restart.index` was restarted alone at `now`: the next lone restart of it that
    /// follows closely waits twice as long.
    pub(crate) fn restarted_alone(&mut self, restart: &Restart, now: Instant) {
        if let Some(i) = self.in_progress.iter().position(|r| r == restart) {
            self.in_progress.remove(i);
        }
        self.lone.insert(restart.index, (now, restart.delay));
    }

    /// Member `index` was removed from the group: a restart waiting for it is dropped, and
    /// nothing of it is kept.
    pub(crate) fn forget(&mut self, index: usize) {
        self.deferred.retain(|r| r.index != index);
        self.in_progress.retain(|r| r.index != index);
        self.lone.remove(&index);
    }

    /// When the next deferred restart is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.deferred.iter().filter_map(|r| r.due).min()
    }

    /// The deferred restarts due at `now`, in the order they were decided: in progress
    /// until each is reported [`restarted_alone`](Self::restarted_alone).
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Restart> {
        let (due, waiting): (Vec<Restart>, Vec<Restart>) = self
            .deferred
            .drain(..)
            .partition(|r| r.due.is_some_and(|d| d <= now));
        self.deferred = waiting;
        self.in_progress.extend(due.iter().copied());
        due
    }

    /// Every deferred restart, taken out (the supervisor is ending); those in progress are
    /// forgotten.
    pub(crate) fn take_deferred(&mut self) -> Vec<Restart> {
        self.in_progress.clear();
        std::mem::take(&mut self.deferred)
    }

    /// The members whose restart waits out its backoff, each with when it is due (`None`:
    /// never, a backoff past the end of time).
    pub(crate) fn waiting(&self) -> Vec<(usize, Option<Instant>)> {
        self.in_progress
            .iter()
            .chain(&self.deferred)
            .map(|r| (r.index, r.due))
            .collect()
    }

    /// A restart is waiting out its backoff.
    pub(crate) fn restoring(&self) -> bool {
        !self.deferred.is_empty() || !self.in_progress.is_empty()
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

/// The decision in words, with the numbers behind it, for the log and
/// [`GroupHealth::last_decision`](crate::GroupHealth::last_decision): `cause` says what
/// happened ("ApiFeed exceeded its failure budget"), `names` are the members' numbers and
/// names, in declaration order (numbers ascending). `None` for an event that decides nothing worth telling (a stale one, an unknown
/// member).
pub(crate) fn explain(
    decision: &Decision,
    cause: &str,
    names: &[(usize, String)],
) -> Option<String> {
    // Numbers go up in declaration order: a binary search, not a scan per name (a reset of
    // thousands of members is told in linear time).
    let name = |i: usize| {
        names
            .binary_search_by_key(&i, |(id, _)| *id)
            .map_or("?", |at| names[at].1.as_str())
    };
    let when = |delay: Duration| {
        if delay.is_zero() {
            "at once".to_owned()
        } else {
            format!("next in {delay:?}")
        }
    };
    Some(match decision {
        Decision::Reset(r) => {
            let set: Vec<&str> = r.set.iter().map(|&i| name(i)).collect();
            let limit = match r.within_window {
                Some((n, max, window)) => format!("restart {n} of at most {max} within {window:?}"),
                None => "no restart limit".to_owned(),
            };
            format!(
                "{cause}: resetting {}; {limit}; {}",
                set.join(", "),
                when(r.delay)
            )
        }
        Decision::GiveUp { max, window } => format!(
            "{cause}: more than {max} restarts within {window:?}; giving up, every member stopped"
        ),
        Decision::RestartNow(r) | Decision::RestartLater(r) => {
            let counted = match r.why {
                Alone::Ended(_) => "not counted against the restart limit",
                Alone::StartFailed => "counted against the restart limit",
            };
            format!(
                "{cause}: restarting {} alone ({counted}); {}",
                name(r.index),
                when(r.delay)
            )
        }
        Decision::Nothing(Skip::NoMemberForTask) => {
            format!("{cause}: one_for_one restarts no member for a task")
        }
        Decision::Nothing(Skip::GaveUp) => {
            format!("{cause}: the group has given up; nothing restarted")
        }
        Decision::Nothing(Skip::Stale | Skip::UnknownMember) => return None,
    })
}

#[cfg(test)]
mod tests;
