//! The scenario of the `SuperLoops` README: a `ProcessLoop` and an `ApiFeedLoop` that must stay
//! healthy together. The feed exceeds its failure budget, so the group stops both loops and
//! starts both again, on fresh threads:
//!
//! ```text
//! Pipeline_0: Started
//! ProcessLoop_0: Started
//! ApiFeedLoop_0: Started
//! ApiFeedLoop_0: Exceeded maximum number of failures (11/10)
//! Pipeline_0: Stopping loops
//! ApiFeedLoop_0: Exited gracefully
//! ProcessLoop_0: Exited gracefully
//! Pipeline_0: Restarting loops
//! ProcessLoop_1: Started
//! ApiFeedLoop_1: Started
//! ```
//!
//! `cargo run --example group` (try `RUST_LOG=debug` for more detail).

use std::time::Duration;

use superloops::channel::{unbounded, Receiver, Sender};
use superloops::prelude::*;
use tracing_subscriber::EnvFilter;

/// Sums the numbers the feed sends it, and tells `main` which thread processed each.
struct ProcessLoop {
    numbers: Receiver<u64>,
    processed: Sender<String>,
    total: u64,
}

#[superloop(grace = "1s")]
impl ProcessLoop {
    fn cycle(&mut self, ctx: &Ctx) {
        // Waits for the next number; returns None at once when the loop is asked to stop.
        if let Some(n) = ctx.recv(&self.numbers) {
            self.total += n;
            let _ = self.processed.send(ctx.thread_name().to_owned());
        }
    }

    fn on_stop(&mut self) {
        tracing::info!(total = self.total, "Processed");
    }
}

/// Reads numbers from an API (here: counts) and sends them on.
struct ApiFeedLoop {
    numbers: Sender<u64>,
    next: u64,
}

#[superloop(grace = "1s")]
impl ApiFeedLoop {
    // Before the thread starts: each (re)start "connects" again.
    fn on_start(&mut self) -> bool {
        tracing::info!("Connected to the API");
        true
    }

    fn on_stop(&mut self) {
        tracing::info!("Disconnected from the API");
    }

    fn cycle(&mut self, ctx: &Ctx) {
        self.next += 1;
        let _ = self.numbers.send(self.next);
        ctx.sleep(Duration::from_millis(20)); // wakes at once on stop
    }
}

/// Runs during every reset, after both loops have stopped and before they start again.
fn log_reset() {
    tracing::info!("Both loops are stopped: a good moment to clear shared state");
}

loop_group! {
    /// A failure of either loop restarts both.
    Pipeline<ProcessLoop, ApiFeedLoop> { on_reset = log_reset }
}

/// Waits until `thread` has processed `n` numbers; panics if that takes more than 10 s.
fn wait_processed_by(processed: &Receiver<String>, thread: &str, n: usize) {
    let mut seen = 0;
    while seen < n {
        let by = processed
            .recv_timeout(Duration::from_secs(10))
            .expect("the pipeline processes numbers");
        if by == thread {
            seen += 1;
        }
    }
}

fn main() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let (tx, rx) = unbounded();
    let (processed_tx, processed) = unbounded();
    let pipeline = Pipeline::new(
        ProcessLoop {
            numbers: rx,
            processed: processed_tx,
            total: 0,
        },
        ApiFeedLoop {
            numbers: tx,
            next: 0,
        },
    );
    pipeline.start(); // Pipeline_0, then ProcessLoop_0 and ApiFeedLoop_0
    wait_processed_by(&processed, "ProcessLoop_0", 5);

    // Oops: the feed reports failures. The 11th exceeds the default budget of 10, and the
    // group's supervisor resets both loops.
    for _ in 0..11 {
        pipeline.api_feed_loop.failure();
    }

    // Waits (on events, not a timer) until the reset has finished and the new threads work.
    assert!(pipeline.controller().wait_green(Duration::from_secs(10)));
    wait_processed_by(&processed, "ProcessLoop_1", 5);
    println!("\n{}", pipeline.health());

    // Members in reverse order, then the supervisor. Dropping the group would do it too.
    let stopped = pipeline.stop();
    println!("stopped cleanly: {stopped}");
}
