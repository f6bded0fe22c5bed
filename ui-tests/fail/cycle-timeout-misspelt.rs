use superloops::prelude::*;

struct Feed;

#[superloop(cycle_timout = "30s")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
