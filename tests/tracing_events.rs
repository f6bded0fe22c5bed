//! Every lifecycle step is a `tracing` event carrying the thread name (or the loop's name,
//! before a thread exists).
//!
//! Every test of this binary shares one *global* subscriber, installed by the first call to
//! [`capture`]: tracing caches each callsite's interest process-wide, so a scoped
//! `with_default` subscriber can miss an event whose callsite another test's thread reached
//! first (see tests/held_failure.rs). Tests run in parallel into that one capture, so each
//! uses a loop name of its own and looks for events by their `thread` field.

mod common;

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use parking_lot::{Condvar, Mutex};
use superloops::channel::{unbounded, Sender};
use superloops::prelude::*;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Captured {
    level: tracing::Level,
    message: String,
    /// The `thread` field.
    thread: Option<String>,
    /// The `name` field.
    name: Option<String>,
}

#[derive(Default)]
struct Captures {
    events: Mutex<Vec<Captured>>,
    changed: Condvar,
    spans: Mutex<Vec<String>>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Captures>);

/// Every field of a span, as `name=value` pairs joined by spaces.
struct SpanFields(Vec<String>);
impl Visit for SpanFields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push(format!("{}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(format!("{}={value}", field.name()));
    }
}

struct Fields(Captured);
impl Fields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.0.message = value,
            "thread" => self.0.thread = Some(value),
            "name" => self.0.name = Some(value),
            _ => {}
        }
    }
}
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.set(field, format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _ctx: Context<'_, S>,
    ) {
        let mut fields = SpanFields(Vec::new());
        attrs.record(&mut fields);
        self.0.spans.lock().push(format!(
            "{} {}",
            attrs.metadata().name(),
            fields.0.join(" ")
        ));
    }

    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields(Captured {
            level: *event.metadata().level(),
            message: String::new(),
            thread: None,
            name: None,
        });
        event.record(&mut fields);
        self.0.events.lock().push(fields.0);
        self.0.changed.notify_all();
    }
}

impl Capture {
    /// Waits until an event with this exact message and this `thread` field has been
    /// captured; panics after [`BOUND`], listing the events with that message.
    fn expect(&self, message: &str, thread: &str) -> Captured {
        self.expect_where(message, |e| e.thread.as_deref() == Some(thread))
    }

    fn expect_where(&self, message: &str, pred: impl Fn(&Captured) -> bool) -> Captured {
        let deadline = Instant::now() + BOUND;
        let mut events = self.0.events.lock();
        loop {
            if let Some(e) = events.iter().find(|e| e.message == message && pred(e)) {
                return e.clone();
            }
            if self.0.changed.wait_until(&mut events, deadline).timed_out() {
                let same: Vec<_> = events.iter().filter(|e| e.message == message).collect();
                panic!("no fitting {message:?} event; events with that message: {same:#?}");
            }
        }
    }
}

/// The binary's one capture, installed as the global subscriber on first use. Every test
/// calls it before it makes a loop.
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        tracing_subscriber::registry().with(capture.clone()).init();
        capture
    })
}

struct Feed {
    fail: bool,
}

#[superloop(grace = "20s", max_failures = 2, name = "feed")]
impl Feed {
    fn cycle(&mut self, ctx: &Ctx) -> Result<(), String> {
        if self.fail {
            self.fail = false;
            return Err("feed unavailable".into());
        }
        ctx.sleep(Duration::from_secs(3600));
        Ok(())
    }
}

#[test]
fn lifecycle_steps_are_events_with_the_thread_name() {
    let capture = capture();

    let h = Feed { fail: true }.into_loop();
    assert!(h.start());
    eventually("the cycle's Err to be counted", || h.failures() >= 1);
    assert!(!h.failure());
    assert!(
        h.failure(),
        "the cycle's Err was the first failure: this is the third"
    );
    assert!(h.stop());

    let spans = capture.0.spans.lock().clone();
    assert!(
        spans.contains(&"superloop thread=feed_0 generation=0".to_owned()),
        "a span per loop thread, with its name and generation: {spans:?}"
    );
    for message in [
        "Started",
        "Stopping",
        "Exited gracefully",
        "cycle failed: feed unavailable",
        "Failure (1/2)",
        "Failure (2/2)",
        "Exceeded maximum number of failures (3/2)",
    ] {
        capture.expect(message, "feed_0");
    }
}

probe!(Stuck, grace = "50ms", name = "stuck");

#[test]
fn abandonment_and_the_start_it_queues_are_events_with_the_thread_name() {
    let capture = capture();
    let (release, stuck) = unbounded();
    let probe = Probe::new(CycleMode::StuckOnce(stuck));
    let log = probe.log.clone();
    let h = Stuck(probe).into_loop();
    assert!(h.start());
    log.wait_for("stuck", 1);

    assert!(!h.stop(), "stuck past its 50 ms grace");
    let abandoned = capture.expect(
        "Abandoned: did not stop within its grace; it will not begin another cycle",
        "stuck_0",
    );
    assert_eq!(abandoned.level, tracing::Level::WARN);

    assert!(!h.start(), "the value is still in the abandoned thread");
    capture.expect(
        "Start queued until the abandoned thread hands the value back",
        "stuck_0",
    );

    drop(release);
    log.wait_for("on_thread_start", 2);
    capture.expect("Abandoned thread exited", "stuck_0");
    capture.expect("Started", "stuck_1");
    assert!(h.stop());
}

probe!(Reset, grace = "20s", name = "reset");

#[test]
fn hard_reset_is_an_event_with_the_thread_name() {
    let capture = capture();
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let h = Reset(probe).into_loop();
    assert!(h.start());
    log.wait_for("cycle", 1);
    assert!(h.hard_reset());
    capture.expect("Hard reset", "reset_0");
    log.wait_for("cycle", 2);
    capture.expect("Started", "reset_1");
    assert!(h.stop());
}

probe!(Boom, grace = "20s", name = "boom");

#[test]
fn a_panic_in_cycle_is_an_event_with_its_message_and_the_thread_name() {
    let capture = capture();
    let probe = Probe::new(CycleMode::Panic).panic_in("cycle");
    let h = Boom(probe).into_loop();
    assert!(h.start());
    let panicked = capture.expect(
        "panic in cycle: planned panic in cycle; this thread's run ends",
        "boom_0",
    );
    assert_eq!(panicked.level, tracing::Level::ERROR);
    capture.expect("Failure (1/10)", "boom_0");
    capture.expect("Exited after a panic", "boom_0");
    assert!(h.stop());
}

probe!(SelfStop, grace = "20s", name = "selfstop");
probe!(Stopped, grace = "20s", name = "stopped");

#[test]
fn a_panic_in_on_stop_is_an_event_with_the_thread_name() {
    let capture = capture();
    let message = "panic in on_stop: planned panic in on_stop";

    // The thread ends on its own (ctx.stop()): on_stop runs at its end, on that thread.
    let probe = Probe::new(CycleMode::StopSelf).panic_in("on_stop");
    let log = probe.log.clone();
    let h = SelfStop(probe).into_loop();
    assert!(h.start());
    log.wait_for("on_stop", 1);
    assert_eq!(log.count_on("on_stop", "selfstop_0"), 1);
    let on_own_thread = capture.expect_where(message, |e| {
        e.thread.as_deref() == Some("selfstop_0") || e.name.as_deref() == Some("selfstop")
    });
    assert_eq!(
        on_own_thread.thread.as_deref(),
        Some("selfstop_0"),
        "on_stop ran on the loop's thread: the event names it"
    );
    assert_eq!(on_own_thread.level, tracing::Level::ERROR);
    assert!(h.stop());

    // Stopped from outside: on_stop runs on the stopper, after the loop's thread ended.
    let probe = Probe::new(CycleMode::SleepUntilStop).panic_in("on_stop");
    let log = probe.log.clone();
    let h = Stopped(probe).into_loop();
    assert!(h.start());
    log.wait_for("cycle", 1);
    assert!(h.stop());
    let on_stopper = capture.expect_where(message, |e| {
        e.thread.as_deref() == Some("stopped_0") || e.name.as_deref() == Some("stopped")
    });
    assert_eq!(
        on_stopper.thread.as_deref(),
        Some("stopped_0"),
        "the event names the thread this on_stop follows"
    );
}

/// Asks its own handle to start again from `on_thread_stop`, while a `stop` waits for it.
struct Restarter {
    me: Arc<OnceLock<LoopHandle<Restarter>>>,
    cycling: Sender<()>,
}

#[superloop(grace = "20s", name = "restarter")]
impl Restarter {
    fn on_thread_stop(&mut self) {
        self.me.get().unwrap().start();
    }
    fn cycle(&mut self, ctx: &Ctx) {
        let _ = self.cycling.send(());
        ctx.sleep(Duration::from_secs(3600));
    }
}

#[test]
fn a_restart_from_inside_that_a_stop_overrides_is_an_event_with_the_thread_name() {
    let capture = capture();
    let me = Arc::new(OnceLock::new());
    let (cycling, cycling_rx) = unbounded();
    let h = Restarter {
        me: me.clone(),
        cycling,
    }
    .into_loop();
    me.set(h.clone()).ok().unwrap();
    assert!(h.start());
    cycling_rx.recv_timeout(BOUND).unwrap();
    assert!(h.stop());
    assert!(!h.is_running() && !h.is_alive(), "stop wins");
    let event = capture.expect(
        "A restart asked from inside while an outside stop waits: stop wins",
        "restarter_0",
    );
    assert_eq!(event.level, tracing::Level::DEBUG);
}

#[test]
fn a_panic_in_on_reset_is_an_event_with_its_message_and_the_supervisor_thread() {
    let capture = capture();
    struct Trigger;
    #[superloop(grace = "20s", max_failures = 0)]
    impl Trigger {
        fn cycle(&mut self, ctx: &Ctx) {
            ctx.sleep(Duration::from_secs(3600));
        }
    }
    let c = LoopController::new()
        .named("Resetting")
        .on_reset(|| panic!("on_reset exploded"));
    let h = c.new_loop(Trigger);
    c.start();
    c.maintain_loops();
    assert!(h.failure());
    capture.expect(
        "panic in on_reset: on_reset exploded; restarting anyway",
        "Resetting_0",
    );
    assert!(c.wait_green(BOUND), "the reset went on after the panic");
    assert_eq!(h.thread_name().as_deref(), Some("Trigger_1"));
    c.stop();
}
