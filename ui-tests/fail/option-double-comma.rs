use superloops::prelude::*;

struct Feed;

#[superloop(grace = "5s",, max_failures = 3)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
