//! Procedural macros of [superloops](https://docs.rs/superloops): `#[superloop]` and
//! `loop_group!`.
//!
//! Use them through the `superloops` crate, which re-exports them: the code they generate
//! names `::superloops::__private` and nothing else.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod common;
mod group;
mod superloop;

use proc_macro::TokenStream;

/// Turns an inherent `impl` block into a supervised loop: keeps the block as written and adds
/// `impl superloops::SuperLoop` for its type, forwarding to the hooks.
///
/// ```
/// use superloops::prelude::*;
/// # #[derive(Debug)] struct ApiError;
/// # impl std::fmt::Display for ApiError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("api") }
/// # }
/// struct ApiFeed { polls: u64 }
///
/// #[superloop(grace = "5s", max_failures = 10, reset_globally)]
/// impl ApiFeed {
///     fn on_start(&mut self) -> bool { true }       // before the thread starts; false: don't
///     fn cycle(&mut self, ctx: &Ctx) -> Result<(), ApiError> { // over and over
///         self.polls += 1;
///         ctx.sleep(std::time::Duration::from_millis(10));
///         Ok(())
///     }
/// }
///
/// let feed = ApiFeed { polls: 0 }.into_loop();
/// assert!(feed.start());
/// assert!(feed.stop());
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
/// | `stack_size = "256 KiB"` | stack size of its threads (`B`, `KiB`, `MiB`, `KB`, `MB`, or bytes); at least 64 KiB | the platform's |
/// | `cycle_timeout = "30s"` | a cycle running longer is reported stalled and counted as one failure | none |
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

/// Declares a *group*: a struct holding co-dependent loops under one supervisor, which
/// restarts them together when one of them exceeds its failure budget.
///
/// ```
/// use superloops::prelude::*;
/// # use std::time::Duration;
/// # #[derive(Default)] struct ProcessLoop;
/// # #[superloop] impl ProcessLoop { fn cycle(&mut self, ctx: &Ctx) { ctx.sleep(Duration::from_millis(5)); } }
/// # struct ApiFeed { key: String }
/// # impl ApiFeed { fn new(key: &str) -> Self { ApiFeed { key: key.into() } } }
/// # #[superloop] impl ApiFeed { fn cycle(&mut self, ctx: &Ctx) { ctx.sleep(Duration::from_millis(5)); } }
/// # let key = "secret";
/// loop_group! {
///     /// A failure in either restarts both.
///     pub Pipeline<ProcessLoop, ApiFeed>
/// }
///
/// let pipeline = Pipeline::new(ProcessLoop::default(), ApiFeed::new(key));
/// pipeline.start();             // supervisor thread "Pipeline_0", then every member
/// pipeline.api_feed.failure();  // members are public fields, named in snake_case
/// println!("{}", pipeline.health());
/// pipeline.stop();              // members in reverse order, then the supervisor
/// ```
///
/// # Members
///
/// Each member is a `#[superloop]` type or another group (a supervision tree), held as a
/// public field: a loop as its `LoopHandle<T>`, a group as itself. An unnamed member's field
/// is its type's name in snake_case, without generic arguments (`ApiFeed` → `api_feed`,
/// `HTTPFeed` → `http_feed`, `Worker<u32>` → `worker`, `Loop` → `r#loop`); name a member to
/// choose its field, or to have one type twice: `Pool<primary: Worker, spare: Worker>`. Named
/// and unnamed members mix. Members start in declaration order and stop in reverse.
///
/// Attributes and doc comments before the name go on the struct; any visibility works. One
/// invocation may declare several groups, separated by `;` or nothing.
///
/// # What is generated
///
/// For `pub Pipeline<ProcessLoop, ApiFeed>`:
///
/// | item | what |
/// | --- | --- |
/// | `pub struct Pipeline { pub process_loop, pub api_feed, … }` | the members' handles |
/// | `Pipeline::new(process_loop: ProcessLoop, api_feed: ApiFeed)` | builds the group; nothing runs yet |
/// | `start(&self)` | the supervisor thread `Pipeline_0`, then every member |
/// | `stop(&self) -> bool` | every member (reverse order, each ended before the previous is asked), then the supervisor; true if no thread is left |
/// | `health(&self) -> GroupHealth` | green light, resets, each member's status (`Display`: a table) |
/// | `run_until_signal(&self)` | blocks until SIGINT or SIGTERM, then stops the group (Unix) |
/// | `spawn_task(&self, name, f)` | a supervised one-shot task, stopped with the group; its failure is the group's |
/// | `controller(&self) -> &LoopController` | everything else: `wait_green`, `resets`, `stop_with_report`, … |
/// | `Drop` | stops everything |
/// | `GroupMember`, `Supervise` | so the group can be a member of another group |
///
/// # Options
///
/// All optional, in braces after the members:
/// `pub Pool<primary: Worker, spare: Worker> { strategy = one_for_one, max_restarts = 5 }`.
///
/// | option | meaning | default |
/// | --- | --- | --- |
/// | `strategy = one_for_all` | who restarts when a member exceeds its failure budget: `one_for_all` every member that resets globally, `one_for_one` only that member, `rest_for_one` that member and the ones declared after it that reset globally | `one_for_all` |
/// | `max_restarts = 5` | give up past this many resets within the window: stop every member and report the group failed (to its parent, when nested) | never give up |
/// | `within = "1m"` | the window of `max_restarts` (requires it) | `"60s"` |
/// | `backoff = "10ms..30s"` | resets that follow each other closely wait the first delay, then twice as long each time, up to the cap; the first reset after a quiet spell is immediate | `"10ms..5s"` |
/// | `on_reset = path` | a `fn()` run during every reset, after the members have stopped and before they start again (a closure that is `Send + Sync` works too) | none |
/// | `max_threads = 4` | caps the tasks (`spawn_task(…)`) running at once | no cap |
/// | `queue_tasks` | past `max_threads`, queue a task until a slot frees rather than refuse it (requires `max_threads`) | off |
/// | `task_grace = "5s"` | how long `stop` waits for each running task | `"5s"` |
///
/// # Checked at compile time
///
/// A member that is not a `#[superloop]` type or a group, two members with one field name, an
/// empty group, an unknown or repeated option, a malformed duration or backoff, `within`
/// without `max_restarts`, `queue_tasks` without `max_threads`, an `on_reset` that is not a
/// `fn()`, and — under `one_for_all` and `rest_for_one` — a group in which no member resets
/// globally (every member declared `reset_globally = false`): each is a compile error on the
/// offending token that says what to write instead.
#[proc_macro]
pub fn loop_group(input: TokenStream) -> TokenStream {
    group::expand(input.into()).into()
}
