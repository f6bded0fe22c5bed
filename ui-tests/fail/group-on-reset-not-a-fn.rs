use superloops::prelude::*;

struct Worker;

#[superloop]
impl Worker {
    fn cycle(&mut self) {}
}

fn log_reset() -> bool {
    true
}

loop_group! {
    pub Pool<Worker> { on_reset = log_reset }
}

fn main() {}
