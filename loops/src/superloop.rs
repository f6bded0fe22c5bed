//! The trait `#[superloop]` implements: a loop's configuration and hooks.

use crate::{Ctx, LoopConfig, LoopError};

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
    /// `Ok(true)`: start; `Ok(false)`: declined; `Err`: declined and logged. A group's member
    /// that declines is started again by its supervisor, with the group's backoff.
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
