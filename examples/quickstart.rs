//! The README's first example: a loop that sums the numbers sent to it, for two seconds.
//!
//! `cargo run --example quickstart` (try `RUST_LOG=debug` for more detail).

use std::time::Duration;

use superloops::channel::{unbounded, Receiver};
use superloops::prelude::*;
use tracing_subscriber::EnvFilter;

struct Summer {
    numbers: Receiver<u64>,
    total: u64,
}

#[superloop(grace = "1s")]
impl Summer {
    fn cycle(&mut self, ctx: &Ctx) {
        // Waits for the next number; returns None at once when the loop is asked to stop.
        if let Some(n) = ctx.recv(&self.numbers) {
            self.total += n;
        }
    }

    // Runs after the loop's thread has ended: no cycle can still be running.
    fn on_stop(&mut self) {
        tracing::info!(total = self.total, "Summed");
    }
}

fn main() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let (numbers, rx) = unbounded();
    let summer = Summer {
        numbers: rx,
        total: 0,
    }
    .into_loop();
    summer.start(); // thread "Summer_0"

    for n in 1..=20 {
        numbers.send(n).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }

    summer.stop(); // asks, waits up to the grace for the thread to end, then on_stop
    println!("{}", summer.status());
}
