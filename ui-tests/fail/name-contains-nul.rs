use superloops::prelude::*;

struct Feed;

#[superloop(name = "feed\0")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
