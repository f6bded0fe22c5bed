//! Every lifecycle step is a `tracing` event carrying the thread name.

use std::fmt::Debug;
use std::sync::Arc;

use parking_lot::Mutex;
use superloops::prelude::*;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Captured {
    message: String,
    thread: Option<String>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>, Arc<Mutex<Vec<String>>>);

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
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        match field.name() {
            "message" => self.0.message = format!("{value:?}"),
            "thread" => self.0.thread = Some(format!("{value:?}")),
            _ => {}
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.0.message = value.to_owned(),
            "thread" => self.0.thread = Some(value.to_owned()),
            _ => {}
        }
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
        self.1.lock().push(format!(
            "{} {}",
            attrs.metadata().name(),
            fields.0.join(" ")
        ));
    }

    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields(Captured {
            message: String::new(),
            thread: None,
        });
        event.record(&mut fields);
        self.0.lock().push(fields.0);
    }
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
        ctx.sleep(std::time::Duration::from_secs(3600));
        Ok(())
    }
}

#[test]
fn lifecycle_steps_are_events_with_the_thread_name() {
    let capture = Capture::default();
    tracing_subscriber::registry().with(capture.clone()).init();

    let h = Feed { fail: true }.into_loop();
    assert!(h.start());
    // Wait for the cycle's Err to be counted (an upper bound, not a timing assertion).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while h.failures() < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the cycle's Err was never counted"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(!h.failure());
    assert!(
        h.failure(),
        "the cycle's Err was the first failure: this is the third"
    );
    assert!(h.stop());

    let spans = capture.1.lock().clone();
    assert!(
        spans.contains(&"superloop thread=feed_0 generation=0".to_owned()),
        "a span per loop thread, with its name and generation: {spans:?}"
    );
    let events = capture.0.lock().clone();
    let find = |message: &str| {
        events
            .iter()
            .find(|e| e.message == message)
            .unwrap_or_else(|| panic!("no {message:?} event in {events:#?}"))
            .clone()
    };
    for message in [
        "Started",
        "Stopping",
        "Exited gracefully",
        "Exceeded maximum number of failures (3/2)",
        "cycle failed: feed unavailable",
    ] {
        assert_eq!(find(message).thread.as_deref(), Some("feed_0"), "{message}");
    }
}
