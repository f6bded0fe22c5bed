use superloops::prelude::*;

struct Worker;

#[superloop]
impl Worker {
    fn cycle(&mut self) {}
}

loop_group! {
    pub Pool<Worker> { grace = "5s" }
}

fn main() {}
