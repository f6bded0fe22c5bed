//! # superloops
//!
//! Supervised, restartable worker threads declared with two macros.
//!
//! A *loop* is a type whose `cycle` runs over and over on a thread of its own. The crate
//! starts, stops, hard-resets and restarts that thread, runs lifecycle hooks around it,
//! counts failures, and never loses a thread or a hook call along the way.
//!
//! ```
//! use std::time::Duration;
//! use superloops::prelude::*;
//!
//! struct Counter {
//!     seen: superloops::channel::Sender<u32>,
//!     n: u32,
//! }
//!
//! #[superloop(grace = "1s", max_failures = 3)]
//! impl Counter {
//!     fn cycle(&mut self, ctx: &Ctx) {
//!         self.n += 1;
//!         let _ = self.seen.send(self.n);
//!         ctx.sleep(Duration::from_millis(1));
//!     }
//! }
//!
//! let (tx, rx) = superloops::channel::unbounded();
//! let counter = Counter { seen: tx, n: 0 }.into_loop();
//! assert!(counter.start());
//! assert_eq!(rx.recv().unwrap(), 1);
//! assert!(counter.stop());
//! assert!(!counter.is_alive());
//! ```
//!
//! See the README for the options and hooks tables; [`LoopHandle`] documents the runtime
//! semantics (pairing of hooks, panics, grace and abandonment).
//!
//! ## Locking rules
//!
//! **No user code (a hook, `cycle`, a factory, a `then` callback, `on_reset`, a value's
//! `Drop`) ever runs while the crate holds a lock.** Two exceptions: `tracing` events are
//! emitted with a loop's or a controller's lock held, so a subscriber must not call back into
//! superloops (a `status()` from inside `on_event` could deadlock); and when the operating
//! system refuses to spawn a task's thread, the task's closure is dropped inside
//! `spawn_task`, under the tasks lock. The locks (only the timer's two are ever held
//! together, in one order):
//!
//! - each loop's `state` mutex (with its condvar). While holding it, the crate may spawn the
//!   loop's thread; that thread's hooks run on it, which does not hold the lock.
//! - the watchdog's `entries` mutex, taken alone: by a loop's thread as its cycles begin and
//!   end, and by the watchdog, which releases it before it calls into a loop.
//! - a controller's `state`, `settings`, `members` and `tasks` mutexes: each is taken alone,
//!   never while another lock of the crate is held (`tasks` is held while spawning a task's
//!   thread, which runs no user code).
//! - a [`Signal`]'s mutex: held only to take its pending callbacks and links out; they run
//!   after it is released, and a panic in one is caught and logged.
//! - the timer's `heap` then `targets` (one thread, the only order).
//!
//! Operations that run user code on the caller's thread (`start`, `stop`, `hard_reset` and a
//! group's `maintain_loops`, `stop_loops`, resets) are serialised by a *busy* flag waited on
//! with the condvar, not by a lock held across that code. A hook that calls back into its own
//! loop on the same thread is recognised (it asks and returns, never waits for itself), and a
//! controller's busy flag is re-entrant for the thread that holds it. The per-cycle path takes
//! no lock and allocates nothing: it reads one atomic flag and stores the cycle count.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod controller;
mod ctx;
mod error;
mod group;
mod handle;
#[cfg(unix)]
mod shutdown;
mod signal;
mod status;
mod task;
mod watchdog;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use config::LoopConfig;
pub use controller::{
    GroupHealth, LoopController, MemberHealth, MemberRef, StopReport, Strategy, Supervise,
    DEFAULT_BACKOFF,
};
pub use ctx::{Ctx, RecvError};
pub use error::LoopError;
pub use group::GroupMember;
pub use handle::LoopHandle;
pub use signal::Signal;
pub use status::{LoopState, LoopStatus};
pub use task::{SpawnError, TaskError, TaskHandle};

/// `#[superloop(...)]` turns an inherent `impl` block into a loop. See the crate README for
/// its options and the hook signatures it accepts.
#[doc(inline)]
pub use superloops_macros::superloop;

/// `loop_group!` declares a group of loops that recover together: a struct with a public
/// field per member, and the supervisor that restarts them.
#[doc(inline)]
pub use superloops_macros::loop_group;

/// Re-export of [`crossbeam_channel`]: the channels [`Ctx::recv`] waits on.
pub use crossbeam_channel as channel;

/// Everything a loop author needs: `use superloops::prelude::*;`.
pub mod prelude {
    pub use crate::{
        loop_group, superloop, Ctx, GroupHealth, IntoLoop, LoopConfig, LoopController, LoopError,
        LoopHandle, LoopState, LoopStatus, MemberHealth, Signal, StopReport, Strategy, SuperLoop,
        Supervise, TaskError, TaskHandle,
    };
}

/// A type whose `cycle` runs on a supervised thread of its own.
///
/// Implement it with `#[superloop]` on an inherent `impl` block; the macro forwards each
/// method to the hook of the same name and builds [`CONFIG`](Self::CONFIG) from the
/// attribute's options. A hand-written impl is possible too:
///
/// ```
/// use superloops::{Ctx, IntoLoop, LoopConfig, LoopError, SuperLoop};
///
/// struct Tick;
/// impl SuperLoop for Tick {
///     const CONFIG: LoopConfig = LoopConfig::new("tick");
///     fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
///         ctx.sleep(std::time::Duration::from_millis(5));
///         Ok(())
///     }
/// }
///
/// let tick = Tick.into_loop();
/// assert!(tick.start());
/// assert_eq!(tick.thread_name().as_deref(), Some("tick_0"));
/// assert!(tick.stop());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a superloop",
    label = "`{Self}` has no `#[superloop]` impl",
    note = "add `#[superloop]` to an inherent `impl {Self} {{ fn cycle(&mut self) {{ … }} }}` block"
)]
// Not formatted: rustfmt drops the comment after the bound, which rustc shows to a type that is
// not `Send + 'static` as the reason it must be.
#[rustfmt::skip]
pub trait SuperLoop: Sized
where
    Self: Send + 'static, // a loop's value moves into its own thread: own its data, share with `Arc`
{
    /// Thread name, grace, failure budget and group behaviour of this loop type.
    const CONFIG: LoopConfig;

    /// One iteration of the loop, run over and over on the loop's thread. An `Err` counts as
    /// one failure; a panic counts as one failure and ends this thread's run.
    fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError>;

    /// Runs on the thread that calls `start`, before the loop's thread is spawned.
    /// `Ok(true)`: start; `Ok(false)`: declined; `Err`: declined and logged.
    fn on_start(&mut self) -> Result<bool, LoopError> {
        Ok(true)
    }

    /// Runs once after the loop's thread has ended, for every `on_start` that allowed a start.
    fn on_stop(&mut self) {}

    /// Runs inside the loop's new thread, before its first cycle.
    fn on_thread_start(&mut self) {}

    /// Runs inside the loop's thread, after its last cycle.
    fn on_thread_stop(&mut self) {}
}

/// `value.into_loop()`: wraps a [`SuperLoop`] in a [`LoopHandle`]. Implemented for every
/// `SuperLoop`, and in the [`prelude`].
///
/// It is a trait of its own, not a method of `SuperLoop`, so that a type that is not `Send`
/// gets one error, at its `#[superloop]` impl, rather than another at every `into_loop()`.
pub trait IntoLoop: SuperLoop {
    /// Wraps the value in a [`LoopHandle`], ready to [`start`](LoopHandle::start); the same as
    /// [`LoopHandle::new`].
    fn into_loop(self) -> LoopHandle<Self>;
}

impl<T: SuperLoop> IntoLoop for T {
    #[inline]
    fn into_loop(self) -> LoopHandle<Self> {
        LoopHandle::new(self)
    }
}
