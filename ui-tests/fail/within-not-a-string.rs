use superloops::prelude::*;

struct Feed;

#[superloop(within = 60)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
