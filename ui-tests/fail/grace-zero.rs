use superloops::prelude::*;

struct Feed;

#[superloop(grace = "0s")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
