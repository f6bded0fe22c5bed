use superloops::prelude::*;

struct Feed;

#[superloop(cycle_timeout = "0s")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
