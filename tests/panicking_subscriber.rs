//! Issue 11 (9): a `tracing` subscriber that panics (a "fail on warnings" test subscriber)
//! does not wedge loops: the crate's log calls catch the panic, so states, busy flags and
//! threads stay right. A binary of its own: the subscriber is global.

mod common;

use std::time::Duration;

use common::*;
use superloops::prelude::*;
use superloops::LoopState;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Panics on every warning and error event, and on every span it is asked to make.
struct FailOnWarnings;

impl Subscriber for FailOnWarnings {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        panic!("planned: this subscriber makes no spans")
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if *event.metadata().level() <= Level::WARN {
            panic!("planned: a warning was logged")
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

probe!(Member, grace = "20s", max_failures = 0);

#[test]
fn a_panicking_subscriber_does_not_wedge_loops() {
    tracing::subscriber::set_global_default(FailOnWarnings).unwrap();

    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let h = LoopHandle::new(Member(probe));
    assert!(h.start());
    log.wait_for("cycle", 1);
    // Warnings and errors: a failure that exceeds the budget.
    assert!(h.failure());
    assert!(h.stop(), "stopped, its thread joined");
    assert_eq!(h.status().state, LoopState::Stopped);
    assert!(!h.is_alive());
    // The loop is usable again: its busy flag was released.
    assert!(h.start());
    log.wait_for("cycle", 2);
    assert!(h.stop());
    assert_paired(&log, 2, 0);

    // A panicking cycle (logged as an error) under a controller that resets it.
    let c = LoopController::new().backoff(Duration::from_millis(1), Duration::from_millis(1));
    let probe = Probe::new(CycleMode::SleepUntilStop).panic_in("cycle");
    let log = probe.log.clone();
    let m = c.new_loop(Member(probe));
    assert!(c.start());
    c.maintain_loops();
    log.wait_for("cycle", 3);
    assert!(c.stop());
    assert!(!m.is_alive());
    assert_eq!(log.count("on_start"), log.count("on_stop"));
}
