use superloops::prelude::*;

struct Feed;

#[superloop(on_start)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
