use superloops::prelude::*;

struct Feed;

#[superloop(grace)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
