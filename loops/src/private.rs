//! Support for the code `#[superloop]` and `loop_group!` generate.
//!
//! **Not a stable API.** Everything here may change in any release; generated code is its
//! only user. It exists so that generated code can name every item through one absolute
//! path (`::superloops::__private::…`) and compile next to user items called `Result`,
//! `Option`, `std`, and so on.

pub use core::marker::Send;
pub use core::option::Option;
pub use core::result::Result;
pub use core::time::Duration;

pub use crate::{Ctx, LoopConfig, LoopError, SuperLoop};

use core::fmt::Display;

/// What `cycle` may return: `()` or `Result<(), E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "`cycle` must return `()` or `Result<(), E>` where `E: Display`, not `{Self}`",
    label = "this return type is not accepted for `cycle`",
    note = "an `Err` from `cycle` counts as one failure and its message is logged, so the error type needs `Display`"
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
