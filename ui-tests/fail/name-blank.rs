use superloops::prelude::*;

struct Feed;

#[superloop(name = "   ")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
