//! SIGINT and SIGTERM for [`LoopController::run_until_signal`](crate::LoopController::run_until_signal).
//!
//! While a `run_until_signal` listens, the two signals are taken from the process and only
//! wake it. Once one has been heard, and again after `run_until_signal` has returned, they
//! have their default effect (the process ends): a second Ctrl-C during a slow shutdown ends
//! the program at once, and a Ctrl-C after it behaves as if superloops had never been there.
//!
//! signal-hook cannot give a signal back to the operating system once it has handled it (its
//! handler stays installed, and with no action left it does nothing, so the signal would be
//! ignored). So each signal gets, once per process, an action that runs the signal's default
//! effect whenever [`DEFAULT`] is on; listening turns it off.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::sync::Lock;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The signals `run_until_signal` waits for.
const SIGNALS: [i32; 2] = [SIGINT, SIGTERM];

/// On: SIGINT and SIGTERM run their default action. `None` until first registered.
static DEFAULT: Lock<Option<Arc<AtomicBool>>> = Lock::new(None);

/// Registers the default-action fallback on first use, and returns its switch.
fn default_switch() -> io::Result<Arc<AtomicBool>> {
    let mut slot = DEFAULT.lock();
    if let Some(switch) = &*slot {
        return Ok(Arc::clone(switch));
    }
    // On until a listener turns it off: the signals keep their default effect meanwhile.
    let switch = Arc::new(AtomicBool::new(true));
    for signal in SIGNALS {
        signal_hook::flag::register_conditional_default(signal, Arc::clone(&switch))?;
    }
    *slot = Some(Arc::clone(&switch));
    Ok(switch)
}

/// Blocks until the process receives SIGINT or SIGTERM and returns which. From then on,
/// both signals have their default effect again.
pub(crate) fn wait_for_termination_signal() -> io::Result<i32> {
    let switch = default_switch()?;
    // Listen before the default effect is turned off, so no signal falls between the two.
    let mut signals = Signals::new(SIGNALS)?;
    switch.store(false, Ordering::SeqCst);
    crate::trace::info!("Waiting for SIGINT or SIGTERM");
    let received = signals.forever().next();
    // Heard (or the iterator ended): a further signal ends the process, also while the
    // shutdown that follows is under way. Other listeners woke on the same signal.
    switch.store(true, Ordering::SeqCst);
    signals.handle().close();
    // `forever` only ends when the handle is closed, which nothing else does.
    Ok(received.unwrap_or(SIGTERM))
}
