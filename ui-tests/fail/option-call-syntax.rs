use superloops::prelude::*;

struct Feed;

#[superloop(grace("5s"))]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
