use superloops::prelude::*;

struct Worker;

#[superloop]
impl Worker {
    fn cycle(&mut self) {}
}

fn log_reset(resets: u64) {
    println!("reset #{resets}");
}

loop_group! {
    pub Pool<Worker> { on_reset = log_reset }
}

fn main() {}
