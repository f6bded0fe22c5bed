//! Signals: a loop that waits on "stop, or a timeout, or my own event" in one call.
//!
//! A `Poller` polls every 300 ms (a timer), polls at once when its configuration changes (a
//! `Signal` the main thread turns on), and wakes at once when it is stopped — whichever comes
//! first, with one `wait`. Run with `cargo run --example signals`.

use std::time::{Duration, Instant};

use superloops::prelude::*;

struct Poller {
    config_changed: Signal,
    started: Instant,
}

impl Poller {
    fn at(&self) -> String {
        format!("{:>4} ms", self.started.elapsed().as_millis())
    }
}

#[superloop(grace = "1s")]
impl Poller {
    fn cycle(&mut self, ctx: &Ctx) {
        let timer = Signal::after(Duration::from_millis(300));
        // Combining is cheap, even in every cycle: nothing accumulates on ctx.stopping().
        let wake = ctx.stopping().clone() | timer.clone() | self.config_changed.clone();
        wake.wait();
        if ctx.should_stop() {
            println!("{}: stop woke the wait at once", self.at());
        } else if self.config_changed.is_go() {
            println!("{}: config changed: reload and poll now", self.at());
            self.config_changed = Signal::new(); // handled: wait for the next change
        } else if timer.is_go() {
            println!("{}: poll (timer)", self.at());
        }
    }
}

fn main() {
    let config_changed = Signal::new();
    let poller = Poller {
        config_changed: config_changed.clone(),
        started: Instant::now(),
    }
    .into_loop();
    poller.start();

    Signal::after(Duration::from_millis(700)).wait(); // two timer polls
    config_changed.go(); // one poll at once
    Signal::after(Duration::from_millis(100)).wait();
    poller.stop(); // wakes the wait at once

    // The combinators on their own:
    let (a, b) = (Signal::new(), Signal::new());
    let either = a.clone() | b.clone();
    let both = a.clone() & b.clone();
    a.go();
    println!("after a: either={} both={}", either.is_go(), both.is_go());
    b.go();
    println!("after b: either={} both={}", either.is_go(), both.is_go());
    let done = Signal::new();
    done.then(|| println!("then: runs once, when the signal goes on"));
    done.go();
    done.go();
}
