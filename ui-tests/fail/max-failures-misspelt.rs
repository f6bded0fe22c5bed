use superloops::prelude::*;

struct Feed;

#[superloop(max_failure = 3)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
