use superloops::prelude::*;

struct Feed;

#[superloop(cycle_timeout = "30s", cycle_timeout = "1m")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
