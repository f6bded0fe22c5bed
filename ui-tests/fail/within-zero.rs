use superloops::prelude::*;

struct Feed;

#[superloop(within = "0ms")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
