use superloops::prelude::*;

struct Feed;

#[superloop(stop_on_failure = "yes")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
