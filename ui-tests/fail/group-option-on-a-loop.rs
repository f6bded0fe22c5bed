use superloops::prelude::*;

struct Feed;

#[superloop(max_restarts = 3)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
