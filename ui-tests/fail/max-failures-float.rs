use superloops::prelude::*;

struct Feed;

#[superloop(max_failures = 1.5)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
