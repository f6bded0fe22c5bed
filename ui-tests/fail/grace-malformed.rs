use superloops::prelude::*;

struct Feed;

#[superloop(grace = "5 seconds please")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
