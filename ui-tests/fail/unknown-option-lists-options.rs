use superloops::prelude::*;

struct Feed;

#[superloop(colour = "red")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
