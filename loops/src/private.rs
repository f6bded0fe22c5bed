//! Support for the code `#[superloop]` and `loop_group!` generate.
//!
//! **Not a stable API.** Everything here may change in any release; generated code is its
//! only user. It exists so that generated code can name every item through one absolute
//! path (`::superloops::__private::…`) and compile next to user items called `Result`,
//! `Option`, `std`, and so on.

pub use core::marker::Send;
pub use core::option::Option;
pub use core::primitive::bool;
pub use core::result::Result;
pub use core::time::Duration;

pub use crate::{Ctx, LoopConfig, LoopError, SuperLoop};

/// What `cycle` may return: `()` or `Result<(), E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "`cycle` must return `()` or `Result<(), E>` where `E: Display`, not `{Self}`",
    label = "this return type is not accepted for `cycle`",
    note = "`cycle` returns no value: `Ok(())` carries on, and an `Err` counts as one failure and is logged, so `E` needs `Display`; map an error without it with `.map_err(|e| format!(\"{{e:?}}\"))`"
)]
pub trait CycleReturn {
    /// Converts to the form the runtime consumes.
    fn into_cycle_result(self) -> Result<(), LoopError>;
}

impl CycleReturn for () {
    #[inline(always)]
    fn into_cycle_result(self) -> Result<(), LoopError> {
        Ok(())
    }
}

// `do_not_recommend`: a `Result<(), E>` whose `E` is not `Display` gets `CycleReturn`'s
// message, which says what `cycle` may return, rather than `Display`'s.
#[diagnostic::do_not_recommend]
impl<E: Display> CycleReturn for Result<(), E> {
    #[inline(always)]
    fn into_cycle_result(self) -> Result<(), LoopError> {
        match self {
            Ok(()) => Ok(()),
            Err(e) => Err(LoopError::new(e)),
        }
    }
}

/// What `on_start` may return: `bool` or `Result<(), E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "`on_start` must return `bool` or `Result<(), E>` where `E: Display`, not `{Self}`",
    label = "this return type is not accepted for `on_start`",
    note = "`true` or `Ok(())` lets the loop start; `false` declines; an `Err` declines and is logged, so it needs `Display`"
)]
pub trait StartReturn {
    /// Converts to the form the runtime consumes: `Ok(true)` start, `Ok(false)` declined,
    /// `Err` failed.
    fn into_start_result(self) -> Result<bool, LoopError>;
}

impl StartReturn for bool {
    #[inline(always)]
    fn into_start_result(self) -> Result<bool, LoopError> {
        Ok(self)
    }
}

// See `CycleReturn for Result`.
#[diagnostic::do_not_recommend]
impl<E: Display> StartReturn for Result<(), E> {
    #[inline(always)]
    fn into_start_result(self) -> Result<bool, LoopError> {
        match self {
            Ok(()) => Ok(true),
            Err(e) => Err(LoopError::new(e)),
        }
    }
}

/// Converts a hook's return value; the call sits on the span of the user's return type so a
/// wrong type is reported there.
#[inline(always)]
pub fn cycle_return<R: CycleReturn>(r: R) -> Result<(), LoopError> {
    r.into_cycle_result()
}

/// See [`cycle_return`].
#[inline(always)]
pub fn start_return<R: StartReturn>(r: R) -> Result<bool, LoopError> {
    r.into_start_result()
}

/// The parameter `cycle` may take besides `&mut self`: `ctx: &Ctx`. Generated code passes the
/// context through [`ctx_param`], spanned on the user's parameter type, so a wrong type gets
/// this message there.
#[diagnostic::on_unimplemented(
    message = "`cycle` takes the loop's context as `ctx: &Ctx`, not `&{Self}`",
    label = "write `&Ctx` here",
    note = "`Ctx` is `superloops::Ctx`: with it `cycle` sleeps, waits on channels and notices a stop at once"
)]
pub trait CtxParam {
    /// The context, as the parameter's type.
    fn from_ctx(ctx: &Ctx) -> &Self;
}

impl CtxParam for Ctx {
    #[inline(always)]
    fn from_ctx(ctx: &Ctx) -> &Self {
        ctx
    }
}

/// Passes the context to a user's `cycle`; see [`CtxParam`].
#[inline(always)]
pub fn ctx_param<T: CtxParam + ?Sized>(ctx: &Ctx) -> &T {
    T::from_ctx(ctx)
}

// ---- loop_group! support ----

pub use crate::group::{assert_some_member_resets_globally, GroupSettings};
pub use crate::{GroupHealth, GroupMember, LoopController, MemberRef, Strategy, Supervise};

// `on_reset = …` goes to `LoopController::on_reset` through `on_reset_hook` rather than into
// `GroupSettings::on_reset` (a `fn()`): a wrong type then gets `OnReset`'s message, once, on
// the user's path; and a closure that is `Send + Sync` is accepted too.

/// What `on_reset = …` of `loop_group!` accepts: a function that takes nothing and returns
/// `()` (a `fn()`, or a closure that can be shared between threads). `Args` is `()` for every
/// type that implements it.
#[diagnostic::on_unimplemented(
    message = "`on_reset` must be a function that takes no arguments and returns `()`, not `{Self}`",
    label = "expected a `fn()` here",
    note = "write `fn log_reset() {{ … }}` and `on_reset = log_reset`: it runs on the supervisor thread during every reset, after the members have stopped and before they start again"
)]
pub trait OnReset<Args>: Send + Sync + 'static {
    /// Runs the callback.
    fn call(&self);
}

// `do_not_recommend`: a function of the wrong type gets `OnReset`'s message, which says what
// `on_reset` takes, rather than `Fn`'s.
#[diagnostic::do_not_recommend]
impl<F: Fn() + Send + Sync + 'static> OnReset<()> for F {
    #[inline(always)]
    fn call(&self) {
        self()
    }
}

// A second impl, which no type can use, for rustc's sake. With one impl, rustc takes it for
// granted and then asks whether `F: Fn()`; for a function with arguments that fails as a
// mismatch of argument counts, reported as rustc's own E0593 ("function is expected to take 0
// arguments"), without our message or note. With two, `Args` is left to infer: rustc tries
// each impl, none holds, and the error is `OnReset`'s.
impl<F: Unreachable + Send + Sync + 'static> OnReset<UnreachableArgs> for F {
    fn call(&self) {
        unreachable!("no type implements `Unreachable`")
    }
}

/// No type implements it: the bound of `OnReset`'s second impl.
pub trait Unreachable {}

/// The `Args` of `OnReset`'s second impl.
pub enum UnreachableArgs {}

/// The `on_reset` callback of a group, checked against [`OnReset`]; generated code calls it
/// spanned on the user's path, and its result always fits `LoopController::on_reset`, so a
/// wrong type is one error there.
pub fn on_reset_hook<F: OnReset<Args>, Args>(f: F) -> Box<dyn Fn() + Send + Sync + 'static> {
    Box::new(move || f.call())
}

// A group's `run_until_signal`.
pub use crate::StopReport;
pub use std::io::Result as IoResult;

// A group's `spawn_task`.
pub use crate::{SpawnError, TaskHandle};
pub use core::convert::Into;
pub use core::fmt::Display;
pub use core::ops::FnOnce;
pub use std::string::String;

// Tests of the crate's own failure paths.
pub use crate::spawn::fail_next as fail_next_spawns;
pub use crate::supervisor::fail_supervisor_steps;
pub use crate::sync::under_lock;

/// The crate's registered waits now, one line each (which thread waits for which thread or
/// busy flag): for a test's failure message when a group never settles.
pub fn wait_graph() -> String {
    crate::waits::describe()
}

/// A controller's inner state in words (its reset, mailbox, supervision): for a test's
/// failure message when a group never settles. Not a stable format.
pub fn controller_state(c: &crate::LoopController) -> String {
    c.__ctrl().describe()
}
