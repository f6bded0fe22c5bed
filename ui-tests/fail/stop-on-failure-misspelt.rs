use superloops::prelude::*;

struct Feed;

#[superloop(stop_on_failures)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
