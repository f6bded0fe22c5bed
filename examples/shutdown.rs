//! Graceful process shutdown: Ctrl-C (SIGINT) or SIGTERM stops a pipeline within its graces
//! and prints what stopped in time and what was abandoned.
//!
//! Run with `cargo run --example shutdown` and press Ctrl-C. So that it also ends by itself
//! (in CI, or when nobody presses a key), it sends itself SIGTERM after 3 seconds, unless
//! `--wait` is given.

use std::time::Duration;

use superloops::prelude::*;
use tracing_subscriber::EnvFilter;

#[derive(Default)]
struct Ingest {
    batches: u64,
}

#[superloop(grace = "2s")]
impl Ingest {
    fn cycle(&mut self, ctx: &Ctx) {
        if ctx.sleep(Duration::from_millis(250)) {
            self.batches += 1;
        }
    }
    fn on_stop(&mut self) {
        println!("Ingest: flushed {} batches", self.batches);
    }
}

/// A loop whose cycle ignores stop for a while: it is abandoned after its 200 ms grace.
#[derive(Default)]
struct SlowExport;

#[superloop(grace = "200ms")]
impl SlowExport {
    fn cycle(&mut self) {
        std::thread::sleep(Duration::from_millis(700));
    }
}

fn main() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let pipeline = LoopController::new().named("Pipeline");
    pipeline.new_loop(Ingest::default());
    pipeline.new_loop(SlowExport);
    pipeline.start();
    pipeline.maintain_loops();

    if !std::env::args().any(|a| a == "--wait") {
        std::thread::spawn(|| {
            Signal::after(Duration::from_secs(3)).wait();
            println!("(sending SIGTERM to myself)");
            signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
        });
    }
    println!("Running; press Ctrl-C to stop.");
    let report = pipeline
        .run_until_signal()
        .expect("install signal handlers");
    println!("Shutdown report: {report}");
}
