use superloops::prelude::*;

struct Feed;

#[superloop(grace = , max_failures = 3)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
