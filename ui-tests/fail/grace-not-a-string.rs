use superloops::prelude::*;

struct Feed;

#[superloop(grace = 5)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
