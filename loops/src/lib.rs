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
//! ## Signals
//!
//! [`Signal`] is what every stop, timer and combination in the crate rests on: a one-shot flag
//! that goes from off to on once. What it promises:
//!
//! - **Ordering.** A combination is on only after the operands that make it on are: once
//!   `a | b` reads on, `a` or `b` reads on; once `a & b` reads on, both do; the same through
//!   any nesting. `go()` sets a signal's flag under the lock that combinations are linked with,
//!   before it hands anything on, so a combination made while `go()` runs either finds the
//!   source on (and reads on itself) or is linked in time to be turned on by it. A cycle may
//!   therefore do `wake.wait(); if !ctx.should_stop() { … }` and never mistake a stop for its
//!   own event.
//! - **Once.** `go()` raced from many threads turns the signal on once (one call returns
//!   `true`) and runs each `then` callback exactly once; a callback registered after `go()`
//!   runs at once, on the registering thread, exactly once.
//! - **Which thread runs a `then` callback.** The thread that turns the signal on (the one
//!   calling `go()`, such as `stop()`'s caller for a loop's stop token), or the registering
//!   thread if it is on already. Never a thread the crate needs for progress: for a
//!   [`Signal::after`] timer (and combinations it completes) and for the `cycle_timeout`
//!   watchdog, the callbacks run on a short-lived `superloops-then` thread of their own, so a
//!   callback that blocks, or waits for another timer, holds up nothing but itself.
//! - **Any length.** Turning on a chain and dropping it take no stack frame per link (a
//!   million-link `acc = acc | s` is fine in a debug build).
//! - **Timers are never lost.** If the operating system refuses the timer thread, the error
//!   is logged and the thread is spawned again by the next `Signal::after` or by a thread
//!   blocked on a signal (every 50 ms while it waits); the timer fires late, never early.
//! - **Cheap to read.** [`Signal::is_go`] and [`Ctx::should_stop`] are one atomic load.
//!
//! ## Locking rules
//!
//! **No code the crate does not own runs while the crate holds a lock, and none runs outside
//! the crate's panic containment**: hooks, `cycle`, factories, `then` callbacks, `on_reset`,
//! tasks' closures, the `Display` and `Drop` of user values, and `tracing` subscribers (a
//! subscriber may call back into superloops, `status()` from `on_event` say). A panic in any
//! of them is caught where it happens and reported once: a hook's or closure's as a failure or
//! an error event, a subscriber's by dropping that event (never by emitting another into it);
//! no state is left half-changed. No user code runs on a thread the crate needs for everybody
//! either: the timer thread and the watchdog hand the `then` callbacks they release to a
//! short-lived thread of their own (`superloops-then`), and the supervisor thread runs only its
//! own group's `on_reset` and members' hooks.
//!
//! How it is checked, not only written: every lock of the crate is a counted `Lock` (each
//! thread knows how many it holds), and every door to code the crate does not own (the
//! `tracing` macros and spans, the catching of user code, the dropping of user values) checks
//! the count. In a debug build a door passed with a lock held is recorded with its place; the
//! soak, the state-machine models and the trust tests fail if anything was recorded.
//!
//! The locks, each a leaf or taken in the one order shown:
//!
//! - each loop's `state` mutex (with its condvar), taken alone. While holding it, the crate
//!   may spawn the loop's thread, which runs no user code until the lock is released.
//! - a controller's `state`, `settings` and `members` mutexes, and its mailbox's and tasks'
//!   books: each taken alone (the tasks book while spawning a task's thread, which runs no
//!   user code under it; a refused task's closure is dropped after the book is released).
//! - a [`Signal`]'s mutex: held only to take its pending callbacks and links out; they run
//!   after it is released, one after another without recursion (a chain of any length), and a
//!   panic in one is caught and logged.
//! - the timer's and the watchdog's mutexes, each taken alone by its own thread and by the
//!   code that registers with it.
//! - the wait-for graph's mutex (below): a leaf, taken only just before a thread blocks.
//!
//! **No busy flag of a controller.** A group's operations (`maintain_loops`, `stop_loops`,
//! `stop`, a removal, and its supervisor's resets and restarts) hold nothing while they run
//! members' hooks or `on_reset`, and none waits for another: they run side by side. They agree
//! through two counters, a *stop turn* and a *reset turn*, that each `maintain_loops` reads
//! under a member's own lock just before starting it. A stop of the group wins over a
//! `maintain_loops` under way (the members after it stay stopped), and so does a member's own
//! stop from outside once the maintain has begun (a process-wide ticket orders the two). A
//! `maintain_loops` that meets a reset, or begins during one, is left to that reset, which runs
//! it on the supervisor thread once its members are started again, so `on_reset` never runs
//! beside a start of a member of its set. A group's stop takes every member out of supervision
//! as it begins, so a reset under way restarts none of them, however far the stop has got.
//!
//! **A loop's value, not a flag.** What remains of waiting for another thread's user code is a
//! loop's own: while `on_start` or `on_stop` runs, the loop's value is inside that hook, on the
//! thread running it (the lifecycle's `busy` records which). An operation that needs the value
//! waits for it to come back: a `stop` for the `on_start` under way (then stops: stop wins), a
//! second `stop` for the `on_stop` under way (it returns once `on_stop` has run, whoever ran
//! it), a `start` or `hard_reset` for the stop under way. A stop counts from when it is
//! asked, not from when it gets the value: the loop is no longer wanted running (a start under
//! way undoes itself) and, from outside, out of supervision at once. One that does not need
//! the value does not wait: a `start` while another thread runs `on_start` is that start (it
//! returns `false` at once; if a stop was asked meanwhile, the later start wins and the thread
//! is spawned). A group's operations wait only this way, member by member, and the
//! supervisor's restarts not at all: a member another thread is starting or stopping is left
//! to that thread (a start under way is the restart; a stop under way decides), so no hook on
//! another thread holds up supervision. Only a reset's stop phase waits: for its set's threads
//! to end (within their grace), and for a hook that another thread runs on a member of the
//! set, since `on_reset` must find the set stopped.
//!
//! Since a hook may call back into any loop or controller, even these waits could form a circle
//! that no lock order prevents (a reset waits for a member whose `on_stop`, on a user thread,
//! stops a sibling whose stop the reset is running). So every blocking wait on another thread,
//! for a loop's value or for a loop thread, task or supervisor to end, is first entered in a
//! process-wide **wait-for graph**; a wait that would close a circle is refused and the
//! operation *asks and returns*: it asks the loop to stop (or start, or reset) without waiting,
//! returns `false`, and the thread already under way finishes the job. That is also what a hook
//! gets when it calls into its own loop, and what a task that stops its own controller gets:
//! none of them ever waits for itself. The per-cycle path takes no lock and allocates nothing:
//! it reads one atomic flag and stores the cycle count.
//!
//! **Why this closes the whole class.** The rule: *any public method of any loop or controller
//! may be called from any hook, `cycle`, `then` callback, `on_reset` or task, and returns.* A
//! deadlock among the crate's operations would be a circle of threads, each blocked until the
//! next one does something. The crate's mutexes cannot be part of one: none is held while its
//! holder blocks on another thread or runs user code, so each holder always goes on to release
//! it. What remains are the waits on another thread, and there are exactly these: for a loop's
//! value inside another thread's hook, for a thread to end (a loop's thread, a task, a
//! supervisor), and for a supervisor to settle (`wait_green`). Each is entered in the graph
//! before it blocks, under the graph's one lock, and the chain of waits from what it waits for
//! is followed: a circle can only be closed by the wait being added, and that is the wait
//! checked, so none is ever closed. The holders are kept exact (every claim and release of a
//! loop's value that a thread waits for is reported under the loop's own lock), so that a
//! refusal answers a real circle, not a stale one. (`superloops::__private::wait_graph()`
//! prints the waits registered at a moment, for a test that fails to settle.)
//!
//! Why not a total order instead: user code would invert any order. A hook of loop `a` may stop
//! loop `b` while, on another thread, a hook of `b` stops `a`; whichever order is fixed, one of
//! the two waits against it. And the waits cannot all go: a `stop` promises that `on_stop` has
//! run when it returns, so a stop that meets the value inside another thread's hook must wait
//! for it. The graph refuses the one wait that would close a circle.
//!
//! What it cannot see: waits inside user code. A hook that blocks on a channel of its own until
//! another thread sends, while that thread waits in the crate for the hook's loop, is a circle
//! the crate never learns of (as with any lock in Rust). Hooks should not block on threads that
//! call into their own loop.
//!
//! ## Architecture
//!
//! The runtime reads as layers: a module imports only the layers beneath it (declared before
//! it in `lib.rs`, checked by a test), and each state machine is a small type apart from the
//! thread code that acts on it, unit-tested without threads.
//!
//! ```text
//!  controller, group        LoopController, loop_group!'s runtime half, run_until_signal
//!  supervisor               the supervisor thread: mailbox -> policy -> reset / restart / give up
//!  ctrl, tasks, task        a controller's core and group operations; supervised tasks
//!  member                   what a controller supervises (a loop, a nested group)
//!  handle, runner           LoopHandle; a loop's threads and hooks, acting on its lifecycle
//!  superloop, lifecycle,    the SuperLoop trait; the loop's state machine (pure); its failure
//!  failures, health, ctx    budget (pure); health snapshots; the cycle's context
//!  signal, timer, watchdog  Signal; the timer thread; the cycle_timeout watchdog
//!  policy, event, waits,    the supervision policy (pure, clock passed in); the mailbox and
//!  spawn, sync, trace,      link members tell their supervisor through; the wait-for graph;
//!  config, error, status    every spawn; the counted locks; panic-safe tracing; plain data
//! ```
//!
//! Which lock each layer owns: `runner` a loop's `state`; `ctrl` a controller's `state`,
//! `settings`, `members`; `event` the mailbox; `tasks` the tasks book; `signal`, `timer`,
//! `watchdog` and `waits` their own. `lifecycle` and `policy` own none: `runner` and the
//! supervisor call them under their lock and act on the answer after releasing it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The layers, lowest first: a module imports only modules declared above it (checked by the
// workspace's `tests/layers.rs`; see "Architecture" above). Each module stands apart, a blank
// line between, so that rustfmt keeps this order rather than sorting it.

// Ground floor: no import of the crate's own but `sync` (the counted locks).
mod sync; // the crate's locks, counted: no user code or event under one

mod clock; // the real clock, or a test's ManualClock

mod config;

mod error;

mod event; // what members tell their supervisor: the mailbox and the link

mod policy; // the supervision policy (pure)

mod spawn; // every thread the crate starts

mod status;

mod trace; // panic-safe tracing, the catching of panics

mod waits; // the wait-for graph: no circle of waits

// Signals and the clock thread.
mod timer; // the timer thread; callbacks run off it

mod signal;

mod watchdog;

// A loop.
mod ctx;

mod failures; // a loop's failure budget (pure)

mod health;

mod lifecycle; // a loop's state machine (pure)

mod superloop; // the trait `#[superloop]` implements

mod runner; // a loop's threads and hooks, acting on its lifecycle

mod handle;

// A controller.
mod member;

mod task;

mod tasks;

mod ctrl; // a controller's core and group operations

mod supervisor; // the supervisor thread

#[cfg(unix)]
mod shutdown; // SIGTERM and SIGINT for `run_until_signal`

mod controller;

mod group; // the runtime half of `loop_group!`

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use config::LoopConfig;
pub use controller::LoopController;
pub use ctx::{Ctx, RecvError};
pub use error::LoopError;
pub use group::GroupMember;
pub use handle::{IntoLoop, LoopHandle};
pub use health::{GroupHealth, MemberHealth, StopReport};
pub use member::{MemberRef, Supervise};
pub use policy::{Strategy, DEFAULT_BACKOFF};
pub use signal::Signal;
pub use status::{LoopState, LoopStatus};
pub use superloop::SuperLoop;
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

/// Helpers for testing code that uses superloops.
pub mod testing {
    pub use crate::clock::ManualClock;
}

/// Everything a loop author needs: `use superloops::prelude::*;`.
pub mod prelude {
    pub use crate::{
        loop_group, superloop, Ctx, GroupHealth, IntoLoop, LoopConfig, LoopController, LoopError,
        LoopHandle, LoopState, LoopStatus, MemberHealth, Signal, StopReport, Strategy, SuperLoop,
        Supervise, TaskError, TaskHandle,
    };
}
