//! The error a loop reports from `cycle` or `on_start`.

use std::fmt;

/// A failure reported by a loop: an `Err` from `cycle` or `on_start`, or a caught panic.
///
/// It keeps the message only (the error is formatted once, on the loop's thread), so a
/// loop's error type needs nothing but [`Display`](fmt::Display).
///
/// ```
/// use superloops::LoopError;
/// let e = LoopError::new("connection refused");
/// assert_eq!(e.to_string(), "connection refused");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopError {
    message: String,
}

impl LoopError {
    /// An error carrying `message`'s text.
    pub fn new(message: impl fmt::Display) -> Self {
        LoopError {
            message: message.to_string(),
        }
    }

    /// The error's text.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for LoopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoopError {}
