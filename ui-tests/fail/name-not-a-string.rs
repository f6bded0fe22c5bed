use superloops::prelude::*;

struct Feed;

#[superloop(name = feed)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
