//! A failure that exceeds the budget of a `stop_on_failure` member stops only the thread that
//! was current when the budget was exceeded, never the one its own reset started.
//!
//! This test lives alone in its binary because it holds the failing call inside a `tracing`
//! event, and needs a *global* subscriber for that: tracing caches each callsite's interest
//! process-wide, computed on whichever thread registers it first, so a scoped `with_default`
//! subscriber can miss the event when a test on another thread, with no subscriber, reached the
//! same callsite first (it did, once, in CI).

mod common;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use common::*;
use superloops::channel::{unbounded, Receiver};
use superloops::prelude::*;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

probe!(Brittle, grace = "20s", max_failures = 0, stop_on_failure);

thread_local! {
    /// Set on the one thread whose "Exceeded" event is held.
    static HOLD_HERE: Cell<bool> = const { Cell::new(false) };
}

/// Released when the reset has started the loop's next thread.
static RESTARTED: OnceLock<Receiver<()>> = OnceLock::new();
/// Whether an "Exceeded" event was held at all (else the test proves nothing).
static HELD: AtomicBool = AtomicBool::new(false);

struct HoldOnExceeded;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for HoldOnExceeded {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        struct Message(bool);
        impl Visit for Message {
            fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" && format!("{v:?}").starts_with("Exceeded") {
                    self.0 = true;
                }
            }
        }
        if !HOLD_HERE.with(Cell::get) {
            return;
        }
        let mut m = Message(false);
        event.record(&mut m);
        if m.0 {
            HELD.store(true, Ordering::SeqCst);
            let _ = RESTARTED.get().unwrap().recv_timeout(BOUND);
        }
    }
}

#[test]
fn a_failure_that_triggers_stop_on_failure_never_stops_the_thread_its_reset_started() {
    let (restarted_tx, restarted) = unbounded();
    RESTARTED.set(restarted).unwrap();
    tracing_subscriber::registry().with(HoldOnExceeded).init();

    let c = LoopController::new();
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let h = c.new_loop(Brittle(probe));
    c.start();
    c.maintain_loops();
    log.wait_for("cycle", 1);

    let waiter = {
        let log = log.clone();
        std::thread::spawn(move || {
            log.wait_for("on_thread_start", 2);
            restarted_tx.send(()).unwrap();
        })
    };
    HOLD_HERE.with(|h| h.set(true));
    let exceeded = h.failure();
    HOLD_HERE.with(|h| h.set(false));
    assert!(exceeded);
    assert!(
        HELD.load(Ordering::SeqCst),
        "the failing call's \"Exceeded\" event was never seen, so nothing was held"
    );
    waiter.join().unwrap();
    assert!(c.wait_green(BOUND));
    assert_eq!(h.thread_name().as_deref(), Some("Brittle_1"));
    assert!(
        h.is_alive(),
        "the reset's new thread was stopped by the failure that caused it"
    );
    assert_eq!(log.count("on_thread_start"), 2);
    c.stop();
}
