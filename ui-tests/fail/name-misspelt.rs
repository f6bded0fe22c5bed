use superloops::prelude::*;

struct Feed;

#[superloop(nmae = "feed")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
