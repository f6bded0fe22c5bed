use superloops::prelude::*;

struct Feed;

#[superloop(grace = "5s", max_failures = 3, grace = "10s")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
