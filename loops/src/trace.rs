//! Logging and panics: the crate's `tracing` events, made safe against the subscriber, and
//! the catching of panics in user code.
//!
//! A `tracing` subscriber is user code. One that panics (a test subscriber that fails on
//! warnings, say) must not unwind through the runtime: out of a loop thread before it has
//! handed its value back, out of a supervisor, or out of a state change half made. So every
//! event the crate emits goes through the macros below, which catch such a panic where the
//! event is emitted and drop the event; spans are entered and left through [`Scope`], which
//! does the same.
//!
//! This file imports only [`sync`](crate::sync): every other layer may use it. Its macros and
//! functions check that no crate lock is held where they hand control to code the crate does
//! not own.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// Runs `emit` (one `tracing` event), swallowing a panic of the subscriber.
#[inline]
pub(crate) fn guarded(emit: impl FnOnce()) {
    let _ = panic::catch_unwind(AssertUnwindSafe(emit));
}

/// `tracing::event!` at a level, through [`guarded`]: `event!(warn, thread = %n, "…")`.
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {{
        $crate::sync::check_unlocked("a tracing event");
        $crate::trace::guarded(|| ::tracing::$level!($($arg)+))
    }};
}

macro_rules! debug {
    ($($arg:tt)+) => { $crate::trace::event!(debug, $($arg)+) };
}
macro_rules! info {
    ($($arg:tt)+) => { $crate::trace::event!(info, $($arg)+) };
}
// Not `warn`: a macro of that name cannot be re-exported next to the built-in attribute.
macro_rules! warning {
    ($($arg:tt)+) => { $crate::trace::event!(warn, $($arg)+) };
}
macro_rules! error {
    ($($arg:tt)+) => { $crate::trace::event!(error, $($arg)+) };
}

pub(crate) use {debug, error, event, info, warning as warn};

/// A span entered for the life of a thread, left when this is dropped; a panic of the
/// subscriber while entering or leaving it is swallowed (the thread then runs without it).
pub(crate) struct Scope(Option<tracing::span::EnteredSpan>);

impl Scope {
    /// Makes the span with `make` and enters it.
    #[track_caller]
    pub(crate) fn enter(make: impl FnOnce() -> tracing::Span) -> Scope {
        crate::sync::check_unlocked("entering a tracing span");
        Scope(panic::catch_unwind(AssertUnwindSafe(|| make().entered())).ok())
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(span)));
        }
    }
}

/// What a caught panic carried, as text.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Runs user code `f`, catching a panic; the error says where (`what`) and carries the
/// panic's message.
#[track_caller]
pub(crate) fn catch<R>(what: &str, f: impl FnOnce() -> R) -> Result<R, String> {
    crate::sync::check_unlocked(what);
    panic::catch_unwind(AssertUnwindSafe(f))
        .map_err(|p| format!("panic in {what}: {}", panic_message(&*p)))
}

/// Drops `value` (user code: its `Drop`), catching and logging a panic in it, so that a
/// value's `Drop` never unwinds into the runtime or out of one of its calls.
#[track_caller]
pub(crate) fn drop_caught<T>(what: &str, value: T) {
    crate::sync::check_unlocked(what);
    if let Err(e) = catch(what, move || drop(value)) {
        error!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_names_the_place_and_the_message() {
        let e = catch("on_start", || panic!("no route")).unwrap_err();
        assert_eq!(e, "panic in on_start: no route");
        assert_eq!(catch("cycle", || 7), Ok(7));
        let e = catch("x", || std::panic::panic_any(7u8)).unwrap_err();
        assert!(e.ends_with("a panic with a non-string payload"), "{e}");
    }

    /// The runtime's own files emit events only through the guarded macros above.
    #[test]
    fn no_file_emits_a_raw_tracing_event() {
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.file_name().is_some_and(|n| n != "trace.rs") {
                    files.push(path);
                }
            }
        }
        let mut offenders = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, line) in text.lines().enumerate() {
                let raws = ["info!", "warn!", "error!", "debug!", "event!"];
                for raw in raws.map(|m| format!("tracing::{m}")) {
                    if line.contains(&raw) {
                        offenders.push(format!("{}:{}: {raw}", path.display(), i + 1));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "raw tracing events: {offenders:#?}");
    }
}
