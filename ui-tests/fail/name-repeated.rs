use superloops::prelude::*;

struct Feed;

#[superloop(name = "feed", name = "other")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
