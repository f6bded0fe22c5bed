//! What the lifecycle's transitions answer: the callers it tells apart, and for each
//! operation what the thread code is to do next.

use super::Kinds;
use crate::Signal;

/// What the thread inside an operation is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Making the value or running `on_start`.
    Start,
    /// Stopping: the thread signalled, waited for, or `on_stop` running.
    Stop,
}

/// Who calls an operation, as the loop sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// One of its abandoned threads.
    Abandoned,
    /// Its current thread.
    OwnThread,
    /// The thread inside an operation on it (`start`/`stop`'s hooks, a stop token's callback).
    Holder(Op),
    /// Any other thread.
    Other,
}

/// How a start begins once it may.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Source<V> {
    /// The value at rest: run `on_start` with it.
    Value(V),
    /// No value at rest: make one with the factory, then [`value_made`](super::Lifecycle::value_made).
    Factory,
}

/// What a start does.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Start<V, T> {
    /// Go ahead: `busy` is claimed for this caller.
    Begin(Source<V>),
    /// Already running (or a start is under way): nothing to do.
    Already,
    /// Queued: it happens when the value comes back or the stopping thread has ended.
    Queued(Queued),
    /// Not done, and why.
    Ignored(Ignored),
    /// Another thread is inside an operation: wait for it, then ask again.
    Wait(T),
}

/// Why a start was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Queued {
    /// Its thread is stopping; the start runs once it has ended.
    StoppingThread,
    /// The value is held by an abandoned thread (and there is no factory).
    AbandonedThread,
    /// Another thread is stopping it, and waiting for it would close a circle of waits.
    StopUnderWay,
}

/// Why a call did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ignored {
    /// It came from an abandoned thread.
    FromAbandoned,
    /// It came from the thread inside an operation on this loop.
    FromHolder(Op),
    /// From the loop's own thread while an outside stop waits for it: stop wins.
    StopWins,
}

/// What a stop does.
#[derive(Debug)]
pub(crate) enum Stop<T> {
    /// Nothing was running. `clean`: no abandoned thread is running either; `ran`: it was
    /// wanted running (a start of it was under way or queued).
    Idle { clean: bool },
    /// Its thread is to be signalled with this token and waited for: `busy` is claimed.
    Signal(Signal),
    /// Asked only (the caller cannot wait): signal this token, if any, and return.
    Asked(Option<Signal>),
    /// Not done: it came from an abandoned thread.
    Ignored,
    /// Another thread is inside an operation: wait for it, then ask again.
    Wait(T),
}

/// What a hard reset does.
#[derive(Debug)]
pub(crate) enum HardReset<T> {
    /// Stop, then start.
    Proceed,
    /// From the loop's own thread: its token to signal; the start is queued for its end.
    Asked(Option<Signal>),
    /// Not done, and why.
    Ignored(Ignored),
    /// Another thread is inside an operation: wait for it, then ask again.
    Wait(T),
}

/// Where a stop's wait stands.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Joining<T> {
    /// The thread has done its work: take it with [`take_ended`](super::Lifecycle::take_ended).
    Ended,
    /// Still running, on this thread.
    Running(T),
}

/// A thread a stop has seen end.
pub(crate) struct Joined<K: Kinds> {
    pub(crate) join: Option<K::Join>,
    /// The value, for the stopper to run `on_stop` with (`None`: the thread ran it).
    pub(crate) handback: Option<K::Value>,
}

/// What `on_start` answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Allowed,
    /// Returned `false` or `Err`, or panicked, or (for a factory) panicked: not started. A
    /// supervised member is retried by its supervisor (OTP's `try_again_restart`).
    Refused,
}

/// What follows `on_start`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterStart<V> {
    /// Spawn thread number `gen` with the value, then [`spawned`](super::Lifecycle::spawned) (or
    /// [`spawn_failed`](super::Lifecycle::spawn_failed)).
    Spawn { value: V, gen: u64 },
    /// Asked to stop while `on_start` ran: run `on_stop` to pair it, then
    /// [`value_back`](super::Lifecycle::value_back).
    Undo(V),
    /// Not started; the value is at rest. `retry`: a supervised member failed to start, and
    /// its supervisor should try again.
    NotStarted { retry: bool },
}

/// What a thread does with its value when its work is done.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Finished<V> {
    /// Handed back to the waiting stopper.
    HandedBack,
    /// Nobody waits for it: run `on_stop` here, then [`thread_done`](super::Lifecycle::thread_done).
    OnStopHere(V),
}

/// How a thread that ran its own `on_stop` leaves.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Done<V> {
    /// It was the current thread. `alone`: it ended with nobody stopping it (its supervisor
    /// may restart it); otherwise a stopper waits for it and clears it.
    Current { alone: bool },
    /// It was abandoned; `stale`: a value a fresh one replaced meanwhile, to drop.
    Abandoned { stale: Option<V> },
}
