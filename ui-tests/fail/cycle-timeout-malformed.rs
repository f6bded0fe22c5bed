use superloops::prelude::*;

struct Feed;

#[superloop(cycle_timeout = "30 seconds please")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
