//! Procedural macros of [superloops](https://docs.rs/superloops): `#[superloop]`.
//!
//! Use them through the `superloops` crate, which re-exports them: the code they generate
//! names `::superloops::__private` and nothing else.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod common;
mod superloop;

use proc_macro::TokenStream;

/// Turns an inherent `impl` block into a supervised loop: keeps the block as written and adds
/// `impl superloops::SuperLoop` for its type, forwarding to the hooks.
///
/// ```ignore
/// #[superloop(grace = "5s", max_failures = 10, reset_globally)]
/// impl ApiFeed {
///     fn on_start(&mut self) -> bool { true }       // before the thread starts; false: don't
///     fn cycle(&mut self, ctx: &Ctx) -> Result<(), ApiError> { Ok(()) } // over and over
/// }
/// ```
///
/// # Options
///
/// All optional, comma-separated:
///
/// | option | meaning | default |
/// | --- | --- | --- |
/// | `grace = "5s"` | how long `stop` waits for the thread to end (`"250ms"`, `"1m 30s"`) | `"5s"` |
/// | `max_failures = 10` | failures allowed; the next one exceeds the budget | `10` |
/// | `within = "60s"` | only failures inside this sliding window count | none |
/// | `stop_on_failure` | stop the loop when it exceeds its budget | off |
/// | `reset_globally` / `reset_globally = false` | restart it when another loop of its group exceeds its budget | on |
/// | `name = "feed"` | thread name prefix (`feed_0`, `feed_1`, …) | the type's name |
///
/// # Hooks
///
/// | hook | accepted forms |
/// | --- | --- |
/// | `cycle` (required) | `fn cycle(&mut self)` or `fn cycle(&mut self, ctx: &Ctx)`, returning `()` or `Result<(), E>` with `E: Display` (an `Err` counts as one failure) |
/// | `on_start` | `fn on_start(&mut self) -> bool` or `-> Result<(), E>`: before the thread starts; `false` or `Err` declines |
/// | `on_stop`, `on_thread_start`, `on_thread_stop` | `fn …(&mut self)` |
///
/// Other methods are helpers and are left alone, except names starting with `on_`, which are
/// kept for hooks. The type must be `Send + 'static`: its value moves into its own thread.
/// Mistakes are compile errors on the offending token that say what to write instead.
#[proc_macro_attribute]
pub fn superloop(args: TokenStream, input: TokenStream) -> TokenStream {
    superloop::expand(args.into(), input.into()).into()
}
