use superloops::prelude::*;

struct Worker;

#[superloop]
impl Worker {
    fn cycle(&mut self) {}
}

loop_group! {
    pub Pool<Worker> strategy = one_for_one
}

fn main() {}
