//! A state-machine test of *nested* controllers: random sequences of operations on an outer
//! `LoopController` whose members are `[A, Inner, D]`, where `Inner` is another
//! `LoopController` with members `[B, C]`, each step checked against a small sequential model.
//!
//! Operations: `start`, `stop`, `stop_loops` and `maintain_loops` on either controller; `start`,
//! `stop` and `failure` on each loop's handle; arming a loop's next `on_stop` to call `stop()`
//! on a loop (itself, a sibling, or one of the other group) or `stop_loops()` on a controller
//! (the hook runs on the test thread, or on a supervisor thread inside a reset, which then must
//! not restart the loops so stopped); arming a loop's next thread to register a stop-token
//! callback that stops a loop (run by whatever thread stops it: the test thread, or a
//! supervisor in a reset);
//! and reads (`health`, `has_alive_loops`,
//! `is_green`, `alive_loops`, `stalled_loops`, `Display`). After each step the test waits until
//! both controllers have settled — `wait_green` on the outer one, then on the inner one, each
//! bounded by [`BOUND`] and failing loudly — or, for a controller whose events the model says
//! are waiting for a supervisor, checks that `wait_green` does *not* see it settled. Then it
//! compares, exactly, each loop's `LoopState`, `is_alive`, `is_running`, thread name and hook
//! counts (`on_start`, `on_stop`, `on_thread_start`, `on_thread_stop`), and each controller's
//! supervisor thread, green light, resets, `on_reset` calls and alive/stalled members.
//!
//! The loops are all `max_failures = 0` (one `failure()` exceeds the budget), reset globally
//! (the default), have a grace of 20 s, and block in `ctx.sleep` until stopped, so every stop
//! is prompt and joins its thread: no abandonment, no timing in the model. Both controllers use
//! the default strategy, `one_for_all`, and a backoff of 1..2 ms.
//!
//! The rules modelled (see `loops/src/controller.rs` and `loops/src/handle.rs`):
//! - a loop's `failure()` sends `Exceeded` to *its* group (`Inner` for B and C); the group
//!   resets while its supervisor runs; events wait while no supervisor runs, and are dropped
//!   when the supervisor is stopped;
//! - a reset stops every member in reverse order (a nested group: its members, without taking
//!   them out of supervision), then restarts them in order, each loop — nested or not — only if
//!   it is still supervised: not stopped from outside (its handle's `stop`, its group's
//!   `stop`/`stop_loops`, or an ancestor's) since its last start. The nested group's supervisor
//!   is not started by a reset;
//! - `maintain_loops` starts every loop that is not alive, and maintains a nested group in
//!   turn (its supervisor, then its loops that are not alive), whether or not one of its loops
//!   runs;
//! - `stop` stops members in reverse order, then nested supervisors, then its own.
//!
//! Two interleavings are racy by design and the driver skips the operation that would cause
//! one (the model predicts it): the parent's `maintain_loops` starting the nested group's
//! supervisor while events wait in its queue (that supervisor's reset and the parent's start of
//! the nested members run concurrently), and the outer supervisor handling a second reset
//! while the nested supervisor is still handling events of its own.
//!
//! Two deterministic tests (`rules.rs`) pin the two cases where an earlier implementation broke
//! these rules (this model found them): a parent's reset restarted a nested loop stopped with
//! its handle, and a loop started again inside a nested group stopped from outside was
//! stopped for good by the parent's next reset.
//!
//! The files: this one holds the loops and the cases' settings; `model.rs` the model;
//! `runtime.rs` the rig, the driver and the proptest; `rules.rs` those two tests.

#[path = "../common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{CycleMode, Log, OnStopAction, Probe, BOUND};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use superloops::{LoopController, LoopHandle, LoopState, MemberHealth, SuperLoop};

probe!(LoopA, grace = "20s", max_failures = 0);
probe!(LoopB, grace = "20s", max_failures = 0);
probe!(LoopC, grace = "20s", max_failures = 0);
probe!(LoopD, grace = "20s", max_failures = 0);

const NAMES: [&str; 4] = ["LoopA", "LoopB", "LoopC", "LoopD"];
const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const D: usize = 3;

mod model;
mod rules;
mod runtime;

use model::*;
use runtime::*;
