//! Which thread runs each hook: `on_start` and `on_stop` on the caller's thread,
//! `on_thread_start` and `on_thread_stop` inside the loop's thread `MyLoop_0`. When the loop
//! stops itself with `ctx.stop()`, nobody waits for it, so `on_stop` runs at the end of the
//! loop's own thread, after `on_thread_stop`.
//!
//! `cargo run --example events`

use std::time::Duration;

use superloops::prelude::*;

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned()
}

struct MyLoop {
    /// Call `ctx.stop()` in this cycle.
    stop_after: Option<u32>,
    cycles: u32,
}

#[superloop]
impl MyLoop {
    fn on_start(&mut self) -> bool {
        println!("on_start - {}", thread_name());
        true // false: do not start
    }

    fn on_stop(&mut self) {
        println!("on_stop - {}", thread_name());
    }

    fn on_thread_start(&mut self) {
        println!("on_thread_start - {}", thread_name());
    }

    fn on_thread_stop(&mut self) {
        println!("on_thread_stop - {}", thread_name());
    }

    fn cycle(&mut self, ctx: &Ctx) {
        self.cycles += 1;
        if self.stop_after == Some(self.cycles) {
            println!("cycle {} - {}: ctx.stop()", self.cycles, ctx.thread_name());
            ctx.stop(); // asks and returns: this cycle finishes, no other begins
        }
        ctx.sleep(Duration::from_millis(10));
    }
}

fn main() {
    println!("== start() and stop() from the main thread");
    let my_loop = MyLoop {
        stop_after: None,
        cycles: 0,
    }
    .into_loop();
    my_loop.start();
    std::thread::sleep(Duration::from_millis(50));
    let stopped = my_loop.stop();
    println!("stop() -> {stopped}, is_alive() -> {}", my_loop.is_alive());

    println!();
    println!("== ctx.stop() from inside the loop's thread");
    let quitter = MyLoop {
        stop_after: Some(3),
        cycles: 0,
    }
    .into_loop();
    quitter.start();
    // is_alive stays true until the thread has run its last hook and ended.
    while quitter.is_alive() {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("{}", quitter.status());
}
