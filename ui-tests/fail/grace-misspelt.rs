use superloops::prelude::*;

struct Feed;

#[superloop(gace = "5s")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
