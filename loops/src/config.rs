//! Per-loop configuration: what `#[superloop(...)]` options compile to.

use std::time::Duration;

/// The configuration of a loop type, fixed at compile time.
///
/// `#[superloop(...)]` writes one for you from its options; a hand-written
/// [`SuperLoop`](crate::SuperLoop) impl builds one with the `const fn` builder methods:
///
/// ```
/// use std::time::Duration;
/// use superloops::LoopConfig;
///
/// const CONFIG: LoopConfig = LoopConfig::new("feed")
///     .grace(Duration::from_millis(250))
///     .max_failures(3)
///     .within(Duration::from_secs(60))
///     .stop_on_failure(true);
/// assert_eq!(CONFIG.name, "feed");
/// assert_eq!(CONFIG.max_failures, 3);
/// assert!(CONFIG.reset_globally);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopConfig {
    /// Thread name prefix: threads are named `{name}_{n}`. Default: the type's name.
    pub name: &'static str,
    /// How long `stop` waits for the thread to end before abandoning it. Default: 5 s.
    pub grace: Duration,
    /// Failures allowed; the next one exceeds the budget and the count starts again at 0.
    /// Default: 10.
    pub max_failures: u32,
    /// When set, only failures inside this sliding window count. Default: none.
    pub within: Option<Duration>,
    /// Stop the loop when it exceeds its failure budget. Default: off.
    pub stop_on_failure: bool,
    /// Restart this loop when another member of its group exceeds its budget. Default: on.
    pub reset_globally: bool,
    /// Stack size of the loop's threads, in bytes. Default: none (the platform's default for
    /// spawned threads, 2 MiB on Linux unless `RUST_MIN_STACK` says otherwise). Lower it when
    /// running thousands of loops.
    pub stack_size: Option<usize>,
    /// A cycle running longer than this is reported stalled and counted as one failure (once
    /// per stalled cycle). Default: none.
    pub cycle_timeout: Option<Duration>,
}

impl LoopConfig {
    /// The default grace period: 5 seconds.
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
    /// The default failure budget: 10.
    pub const DEFAULT_MAX_FAILURES: u32 = 10;

    /// The defaults, with `name` as the thread name prefix.
    ///
    /// # Panics
    ///
    /// If `name` contains a NUL byte, which a thread's name cannot hold; in a `const`, such
    /// as a hand-written [`SuperLoop::CONFIG`](crate::SuperLoop::CONFIG), that is a compile
    /// error. (`#[superloop(name = "…")]` checks it for you.)
    pub const fn new(name: &'static str) -> Self {
        let bytes = name.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            assert!(
                bytes[i] != 0,
                "a loop's name may not contain a NUL byte: it names the loop's threads"
            );
            i += 1;
        }
        LoopConfig {
            name,
            grace: Self::DEFAULT_GRACE,
            max_failures: Self::DEFAULT_MAX_FAILURES,
            within: None,
            stop_on_failure: false,
            reset_globally: true,
            stack_size: None,
            cycle_timeout: None,
        }
    }

    /// Sets [`grace`](Self::grace).
    pub const fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets [`max_failures`](Self::max_failures).
    pub const fn max_failures(mut self, max_failures: u32) -> Self {
        self.max_failures = max_failures;
        self
    }

    /// Sets [`within`](Self::within).
    pub const fn within(mut self, within: Duration) -> Self {
        self.within = Some(within);
        self
    }

    /// Sets [`stop_on_failure`](Self::stop_on_failure).
    pub const fn stop_on_failure(mut self, on: bool) -> Self {
        self.stop_on_failure = on;
        self
    }

    /// Sets [`reset_globally`](Self::reset_globally).
    pub const fn reset_globally(mut self, on: bool) -> Self {
        self.reset_globally = on;
        self
    }

    /// Sets [`stack_size`](Self::stack_size), in bytes.
    pub const fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Sets [`cycle_timeout`](Self::cycle_timeout).
    pub const fn cycle_timeout(mut self, timeout: Duration) -> Self {
        self.cycle_timeout = Some(timeout);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::LoopConfig;

    #[test]
    #[should_panic(expected = "may not contain a NUL byte")]
    fn a_name_with_a_nul_byte_is_refused() {
        let name: &'static str = Box::leak(String::from("feed\0").into_boxed_str());
        let _ = LoopConfig::new(name);
    }
}
