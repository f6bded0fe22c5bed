use superloops::prelude::*;

struct Feed;

#[superloop(stop_on_failure, stop_on_failure = false)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
