//! A loop's life as a state machine, apart from its threads.
//!
//! [`Lifecycle`] holds where the loop's value is, its current thread and the abandoned ones,
//! and who is inside an operation on it. Its methods are the transitions: each changes the
//! state and returns what the caller must do next (run `on_start` with this value, signal
//! this token, wait, join, run `on_stop` here), never doing it itself. The thread code
//! ([`runner`](crate::runner)) calls them under the loop's lock and acts on the answer after
//! releasing it. The machine is generic over the value, the thread handle and the thread
//! identity ([`Kinds`]), so the tests below drive it with plain numbers and no thread.
//!
//! # The value's places
//!
//! A loop's value is in exactly one place at a time: *at rest* here (stopped); with the
//! thread inside an operation, which runs `on_start` or `on_stop` on its own stack (`busy`);
//! inside the current thread, which hands it back when it ends; or inside an *abandoned*
//! thread (one that outlived its grace), which hands it back when its cycle returns — or drops
//! it, when a factory made a fresh value meanwhile.
//!
//! # Who calls
//!
//! Each operation first asks who is calling ([`Caller`]). The loop's *own* thread cannot wait
//! for itself: it asks and returns. An *abandoned* thread is marked killed: its calls do
//! nothing, so it can neither bring back a loop whose stop abandoned it nor stop or restart its
//! replacement. The *holder* of `busy` (a hook that the operation runs, or a stop token's
//! `then` callback run by the stopper) cannot wait for itself either. Anyone else who needs
//! the value waits until the operation under way gives it back ([`Start::Wait`],
//! [`Stop::Wait`]) — or, when that wait would close a circle of waits, does not wait
//! ([`refused`](Lifecycle::start_refused)). A start while another thread starts the loop needs
//! nothing: it is that start, and waits for nobody's `on_start`.
//!
//! This file imports only [`Signal`](crate::Signal) and [`LoopState`](crate::LoopState).

use std::fmt;

use crate::{LoopState, Signal};

mod answers;
pub(crate) use answers::*;

mod group; // the transitions its group's supervisor asks for

/// The types the machine moves around without looking inside.
pub(crate) trait Kinds {
    /// The loop's value.
    type Value;
    /// A thread's join handle.
    type Join;
    /// A thread's identity.
    type Tid: Copy + Eq + fmt::Debug;
}

/// The loop's current thread.
struct Run<K: Kinds> {
    gen: u64,
    /// Resets that had restarted the loop when this thread started.
    epoch: u64,
    stop: Signal,
    thread: K::Tid,
    join: Option<K::Join>,
    /// A `stop` caller waits to take the value back and run `on_stop` itself.
    joiner: bool,
    /// The value, handed back to the waiting `stop` caller.
    handback: Option<K::Value>,
    /// The thread has done all its work (its value is handed back or at rest).
    ended: bool,
}

/// A thread abandoned after its grace that has not ended yet.
struct Gone<K: Kinds> {
    gen: u64,
    epoch: u64,
    thread: K::Tid,
    /// Dropped (detached) when the thread ends: nobody waits for an abandoned thread.
    _join: Option<K::Join>,
}

/// A loop's life; see the module's documentation.
pub(crate) struct Lifecycle<K: Kinds> {
    value: Option<K::Value>,
    run: Option<Run<K>>,
    abandoned: Vec<Gone<K>>,
    /// The abandoned thread that holds the loop's only value, if one does.
    awaiting: Option<u64>,
    /// The value an abandoned thread handed back while the factory made its replacement:
    /// stale, for the starter to drop.
    stale: Option<K::Value>,
    /// Wanted running: started, and not asked to stop since (`is_running`).
    wanted: bool,
    /// Its group should keep it running: set by every start, cleared by a stop from outside
    /// the loop's thread.
    supervised: bool,
    /// It is a member of a group (a failed start is retried).
    linked: bool,
    /// A start waits for the value, or for the current thread to end.
    queued: bool,
    /// The ticket of its last stop from outside (0: none): a group's `maintain_loops` that
    /// began before it leaves the loop stopped.
    outside_stop: u64,
    /// The thread inside an operation on the loop, and what it does.
    busy: Option<(K::Tid, Op)>,
    /// Threads started so far; the next is number `generations`.
    generations: u64,
    /// Resets that restarted it so far.
    epoch: u64,
    has_factory: bool,
}

impl<K: Kinds> Lifecycle<K> {
    /// A loop that has not started, with its value at rest or a factory to make one.
    pub(crate) fn new(value: Option<K::Value>, has_factory: bool) -> Self {
        Lifecycle {
            value,
            run: None,
            abandoned: Vec::new(),
            awaiting: None,
            stale: None,
            wanted: false,
            supervised: false,
            linked: false,
            queued: false,
            outside_stop: 0,
            busy: None,
            generations: 0,
            epoch: 0,
            has_factory,
        }
    }

    // ---- Who calls -------------------------------------------------------------------

    /// Who `me` is to this loop.
    pub(crate) fn caller(&self, me: K::Tid) -> Caller {
        if self.run.as_ref().is_some_and(|r| r.thread == me) {
            Caller::OwnThread
        } else if self.abandoned.iter().any(|a| a.thread == me) {
            Caller::Abandoned
        } else {
            match self.busy {
                Some((holder, op)) if holder == me => Caller::Holder(op),
                _ => Caller::Other,
            }
        }
    }

    /// The thread to wait for when `busy` is held by another.
    fn wait_for(&self, me: K::Tid) -> Option<K::Tid> {
        self.busy.map(|(t, _)| t).filter(|&t| t != me)
    }

    /// Another thread is starting it (running `on_start`): a start asked meanwhile is that
    /// start, and waits for nobody's hook.
    fn started_by_another(&self, me: K::Tid) -> bool {
        matches!(self.busy, Some((t, Op::Start)) if t != me)
    }

    // ---- Start -----------------------------------------------------------------------

    /// `start` from `me`.
    pub(crate) fn start(&mut self, me: K::Tid) -> Start<K::Value, K::Tid> {
        match self.caller(me) {
            Caller::Abandoned => Start::Ignored(Ignored::FromAbandoned),
            Caller::OwnThread => self.start_from_own_thread(),
            Caller::Holder(op) => Start::Ignored(Ignored::FromHolder(op)),
            Caller::Other if self.started_by_another(me) => {
                // Wanted running again if a stop asked meanwhile (it came before this start):
                // the start under way spawns the thread rather than undo itself.
                self.wanted = true;
                self.supervised = true;
                Start::Already
            }
            Caller::Other => match self.wait_for(me) {
                Some(holder) => Start::Wait(holder),
                None => self.start_now(me),
            },
        }
    }

    /// `start` from the loop's own thread: it cannot start a second live thread; if its
    /// thread is stopping, the start is queued for when it has ended.
    fn start_from_own_thread(&mut self) -> Start<K::Value, K::Tid> {
        let run = self.run.as_ref().expect("the caller is the current thread");
        if run.joiner {
            return Start::Ignored(Ignored::StopWins);
        }
        if run.stop.is_go() {
            self.wanted = true;
            self.queued = true;
            Start::Queued(Queued::StoppingThread)
        } else {
            Start::Already
        }
    }

    /// A start that did not wait for the operation under way, because that would have
    /// closed a circle of waits: queued if a stop is under way, nothing if a start is.
    pub(crate) fn start_refused(&mut self) -> Start<K::Value, K::Tid> {
        match self.busy {
            Some((_, Op::Stop)) => {
                self.wanted = true;
                self.queued = true;
                self.supervised = true;
                Start::Queued(Queued::StopUnderWay)
            }
            _ => Start::Already,
        }
    }

    /// The body of a start, with `busy` free.
    fn start_now(&mut self, me: K::Tid) -> Start<K::Value, K::Tid> {
        debug_assert!(self.busy.is_none());
        self.queued = false;
        self.supervised = true;
        if let Some(run) = &self.run {
            self.wanted = true;
            if run.stop.is_go() {
                // Its thread is ending: start again once it has handed the value back.
                self.queued = true;
                return Start::Queued(Queued::StoppingThread);
            }
            return Start::Already;
        }
        if let Some(value) = self.value.take() {
            self.busy = Some((me, Op::Start));
            self.wanted = true;
            return Start::Begin(Source::Value(value));
        }
        if self.has_factory {
            self.busy = Some((me, Op::Start));
            self.wanted = true;
            return Start::Begin(Source::Factory);
        }
        self.wanted = true;
        self.queued = true;
        Start::Queued(Queued::AbandonedThread)
    }

    /// A value that a fresh one from the factory replaced (see
    /// [`value_made`](Self::value_made)), to drop with no lock held.
    pub(crate) fn take_stale(&mut self) -> Option<K::Value> {
        self.stale.take()
    }

    /// The factory made a value (`Some`) or panicked (`None`: a failed start, and whether to
    /// retry it, as [`AfterStart::NotStarted`] says).
    pub(crate) fn value_made(&mut self, made: Option<K::Value>) -> Result<K::Value, bool> {
        match made {
            Some(v) => {
                // A value still held by an abandoned thread is dropped when it comes back:
                // this one replaces it. If it came back while the factory ran, it is stale
                // now: [`take_stale`](Self::take_stale) hands it over, to be dropped with no
                // lock held (never two values).
                self.awaiting = None;
                if let Some(old) = self.value.take() {
                    self.stale = Some(old);
                }
                Ok(v)
            }
            None => Err(self.fail_start()),
        }
    }

    /// A start failed (`on_start` refused it, or its thread could not be spawned): a supervised
    /// member stays wanted (its supervisor retries it); any other loop is no longer wanted
    /// running. Returns whether to retry.
    fn fail_start(&mut self) -> bool {
        let retry = self.linked && self.supervised && self.wanted;
        if !retry {
            self.wanted = false;
        }
        retry
    }

    /// `on_start` returned (the value comes back with its answer).
    pub(crate) fn on_start_done(
        &mut self,
        outcome: Outcome,
        value: K::Value,
    ) -> AfterStart<K::Value> {
        match outcome {
            Outcome::Allowed if self.wanted => AfterStart::Spawn {
                value,
                gen: self.generations,
            },
            // Asked to stop (from inside on_start, or by a caller that could not wait).
            Outcome::Allowed => AfterStart::Undo(value),
            Outcome::Refused => {
                self.value = Some(value);
                let retry = self.fail_start();
                AfterStart::NotStarted { retry }
            }
        }
    }

    /// Thread `gen` was spawned.
    pub(crate) fn spawned(&mut self, gen: u64, stop: Signal, thread: K::Tid, join: K::Join) {
        debug_assert_eq!(gen, self.generations);
        debug_assert!(self.run.is_none(), "one live thread");
        self.generations += 1;
        self.run = Some(Run {
            gen,
            epoch: self.epoch,
            stop,
            thread,
            join: Some(join),
            joiner: false,
            handback: None,
            ended: false,
        });
    }

    /// The thread could not be spawned: run `on_stop` with the value (its `on_start` allowed
    /// the start), then [`value_back`](Self::value_back). Returns whether to retry.
    pub(crate) fn spawn_failed(&mut self) -> bool {
        self.fail_start()
    }

    /// The value comes back to rest (after an `on_stop` run by an operation).
    pub(crate) fn value_back(&mut self, value: K::Value) {
        debug_assert!(self.value.is_none());
        self.value = Some(value);
    }

    /// The operation under way is over. Returns a start to run now (claimed for `me`) if one
    /// was queued and can run.
    pub(crate) fn release(&mut self, me: K::Tid) -> Option<Source<K::Value>> {
        self.busy = None;
        self.settle(me)
    }

    /// Runs a queued start if it can run now.
    pub(crate) fn settle(&mut self, me: K::Tid) -> Option<Source<K::Value>> {
        if !self.queued || self.busy.is_some() {
            return None;
        }
        match &self.run {
            // Already running again: the start is satisfied.
            Some(run) if !run.stop.is_go() => {
                self.queued = false;
                None
            }
            Some(_) => None,
            None if self.value.is_some() || self.has_factory => match self.start_now(me) {
                Start::Begin(source) => Some(source),
                _ => None,
            },
            None => None,
        }
    }

    // ---- Stop ------------------------------------------------------------------------

    /// `stop` from `me`. `unsupervise`: a stop from outside takes the loop out of its group's
    /// supervision; a group's own reset does not.
    pub(crate) fn stop(&mut self, me: K::Tid, unsupervise: bool) -> Stop<K::Tid> {
        match self.caller(me) {
            Caller::Abandoned => Stop::Ignored,
            // Its own thread: like `ctx.stop()`, it stays supervised.
            Caller::OwnThread => Stop::Asked(self.ask_stop(None)),
            Caller::Holder(_) => Stop::Asked(self.stop_refused(unsupervise)),
            Caller::Other => match self.wait_for(me) {
                Some(holder) => self.stop_waits(holder, unsupervise),
                None => self.stop_now(me, unsupervise),
            },
        }
    }

    /// A stop that must wait for the operation under way to give the value back. It counts
    /// from now, not from when it gets the value: the loop is no longer wanted running (a
    /// start under way undoes itself when its `on_start` returns) and, from outside, out of
    /// supervision (a reset's restart meanwhile passes it over). Stop wins.
    fn stop_waits(&mut self, holder: K::Tid, unsupervise: bool) -> Stop<K::Tid> {
        self.wanted = false;
        self.queued = false;
        if unsupervise {
            self.supervised = false;
        }
        Stop::Wait(holder)
    }

    /// A stop that cannot wait (from the holder of `busy`, or when waiting would close a
    /// circle of waits): no longer wanted, out of supervision if `unsupervise`, the current
    /// thread asked to stop. A start under way is undone when its `on_start` returns.
    pub(crate) fn stop_refused(&mut self, unsupervise: bool) -> Option<Signal> {
        if unsupervise {
            self.supervised = false;
        }
        self.ask_stop(None)
    }

    /// The body of a stop, with `busy` free.
    fn stop_now(&mut self, me: K::Tid, unsupervise: bool) -> Stop<K::Tid> {
        self.wanted = false;
        self.queued = false;
        if unsupervise {
            self.supervised = false;
        }
        match self.run.as_mut() {
            None => Stop::Idle {
                clean: self.abandoned.is_empty(),
            },
            Some(run) => {
                run.joiner = true;
                self.busy = Some((me, Op::Stop));
                Stop::Signal(run.stop.clone())
            }
        }
    }

    /// Asks the current thread to stop without waiting: no longer wanted running, and its
    /// token to signal (after the lock). With `only_gen`, only if thread `only_gen` is still
    /// the current one: a request from an old thread must not stop its replacement, nor cancel
    /// a start queued for when it hands the value back.
    pub(crate) fn ask_stop(&mut self, only_gen: Option<u64>) -> Option<Signal> {
        let signal = match (self.run.as_ref(), only_gen) {
            (Some(r), Some(g)) if r.gen != g => return None,
            (None, Some(_)) => return None,
            (Some(r), _) => Some(r.stop.clone()),
            (None, None) => None,
        };
        self.wanted = false;
        self.queued = false;
        signal
    }

    /// Where the stop's wait stands.
    pub(crate) fn joining(&self) -> Joining<K::Tid> {
        match &self.run {
            Some(run) if !run.ended => Joining::Running(run.thread),
            _ => Joining::Ended,
        }
    }

    /// The thread the stop waited for has ended: take it to join, and the value to run
    /// `on_stop` with. `busy` stays held until [`release`](Self::release).
    pub(crate) fn take_ended(&mut self) -> Option<Joined<K>> {
        let run = self.run.take()?;
        debug_assert!(run.ended);
        Some(Joined {
            join: run.join,
            handback: run.handback,
        })
    }

    /// The grace has passed and the thread still runs: abandon it. It never begins another
    /// cycle (its token is on), and it holds the value until it ends. Returns its number.
    pub(crate) fn abandon(&mut self) -> u64 {
        let run = self
            .run
            .take()
            .expect("a stop abandons the thread it waits for");
        self.abandoned.push(Gone {
            gen: run.gen,
            epoch: run.epoch,
            thread: run.thread,
            _join: run.join,
        });
        self.awaiting = Some(run.gen);
        run.gen
    }

    /// The stop cannot wait for its thread (that would close a circle of waits): leave it to
    /// end on its own, running `on_stop` itself. `busy` stays held until
    /// [`release`](Self::release).
    pub(crate) fn leave_unjoined(&mut self) {
        if let Some(run) = self.run.as_mut() {
            run.joiner = false;
        }
    }

    // ---- Hard reset ------------------------------------------------------------------

    /// `hard_reset` from `me`: [`HardReset::Proceed`] is a stop and then a start, each
    /// asked for in turn by the caller.
    pub(crate) fn hard_reset(&mut self, me: K::Tid) -> HardReset<K::Tid> {
        match self.caller(me) {
            Caller::Abandoned => HardReset::Ignored(Ignored::FromAbandoned),
            Caller::OwnThread => {
                let run = self.run.as_ref().expect("the caller is the current thread");
                if run.joiner {
                    return HardReset::Ignored(Ignored::StopWins);
                }
                let token = run.stop.clone();
                self.wanted = true;
                self.queued = true;
                HardReset::Asked(Some(token))
            }
            Caller::Holder(op) => HardReset::Ignored(Ignored::FromHolder(op)),
            Caller::Other => match self.wait_for(me) {
                Some(holder) => HardReset::Wait(holder),
                None => HardReset::Proceed,
            },
        }
    }

    /// A hard reset that cannot wait for the operation under way: the current thread asked
    /// to stop, and a start queued for when it has ended (or left to the start under way).
    pub(crate) fn hard_reset_refused(&mut self) -> Option<Signal> {
        let token = self.ask_stop(None);
        self.wanted = true;
        self.queued = true;
        self.supervised = true;
        token
    }

    // ---- The thread's end ------------------------------------------------------------

    /// Thread `gen` has done its work and has its value.
    pub(crate) fn thread_finished(&mut self, gen: u64, value: K::Value) -> Finished<K::Value> {
        if let Some(run) = self.run.as_mut().filter(|r| r.gen == gen && r.joiner) {
            run.handback = Some(value);
            run.ended = true;
            return Finished::HandedBack;
        }
        Finished::OnStopHere(value)
    }

    /// Thread `gen` ran `on_stop` itself (nobody waited for it) and leaves its value.
    pub(crate) fn thread_done(&mut self, gen: u64, value: K::Value) -> Done<K::Value> {
        let current = self.run.as_ref().is_some_and(|r| r.gen == gen);
        if current {
            self.value = Some(value);
            let run = self.run.as_mut().expect("current");
            if run.joiner {
                // A stop began meanwhile: it clears the run and joins this thread.
                run.ended = true;
                Done::Current { alone: false }
            } else {
                // Nobody waits: detach.
                self.run = None;
                Done::Current { alone: true }
            }
        } else {
            self.abandoned.retain(|a| a.gen != gen);
            if self.awaiting == Some(gen) {
                self.awaiting = None;
                self.value = Some(value);
                Done::Abandoned { stale: None }
            } else {
                Done::Abandoned { stale: Some(value) }
            }
        }
    }

    // ---- Reads -----------------------------------------------------------------------

    /// The epoch of thread `from` (the current epoch when `None`, or an unknown thread).
    pub(crate) fn epoch_of(&self, from: Option<u64>) -> u64 {
        let Some(gen) = from else {
            return self.epoch;
        };
        if let Some(run) = self.run.as_ref().filter(|r| r.gen == gen) {
            return run.epoch;
        }
        self.abandoned
            .iter()
            .find(|a| a.gen == gen)
            .map_or(self.epoch, |a| a.epoch)
    }

    /// Where the loop is in its life; `stalled`: the watchdog reports its current cycle.
    pub(crate) fn state(&self, stalled: bool) -> LoopState {
        if matches!(self.busy, Some((_, Op::Start))) {
            return LoopState::Starting;
        }
        if let Some(run) = &self.run {
            return if run.ended || run.stop.is_go() {
                LoopState::Stopping
            } else if stalled {
                LoopState::Stalled
            } else {
                LoopState::Running
            };
        }
        if self.queued {
            LoopState::Starting
        } else if self.awaiting.is_some() {
            LoopState::Abandoned
        } else if self.wanted {
            LoopState::Failed
        } else {
            LoopState::Stopped
        }
    }

    /// Its current thread exists and has not ended.
    pub(crate) fn is_alive(&self) -> bool {
        self.run.as_ref().is_some_and(|r| !r.ended)
    }

    /// The current thread's number, while it is alive.
    pub(crate) fn alive_gen(&self) -> Option<u64> {
        self.run.as_ref().filter(|r| !r.ended).map(|r| r.gen)
    }

    pub(crate) fn is_wanted(&self) -> bool {
        self.wanted
    }

    pub(crate) fn is_supervised(&self) -> bool {
        self.supervised
    }

    /// Something of it needs stopping when its last handle goes.
    pub(crate) fn needs_stop(&self) -> bool {
        self.run.is_some() || self.wanted || self.queued
    }

    pub(crate) fn abandoned_threads(&self) -> usize {
        self.abandoned.len()
    }

    /// Threads started so far.
    pub(crate) fn generations(&self) -> u64 {
        self.generations
    }

    /// The thread inside an operation, if any.
    pub(crate) fn busy_thread(&self) -> Option<K::Tid> {
        self.busy.map(|(t, _)| t)
    }
}

#[cfg(test)]
mod tests;
