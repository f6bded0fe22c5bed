use superloops::prelude::*;

struct Feed;

#[superloop(grace = "30")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
