use superloops::prelude::*;

struct Worker;

#[superloop]
impl Worker {
    fn cycle(&mut self) {}
}

loop_group! {
    pub Pool<Worker> { max_restarts = 3, within = "1m", max_restarts = 5 }
}

fn main() {}
