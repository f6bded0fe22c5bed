use superloops::prelude::*;

struct Worker;

#[superloop]
impl Worker {
    fn cycle(&mut self) {}
}

loop_group! {
    pub Pool<Worker> { backoff = "30s..10ms" }
}

fn main() {}
