use superloops::prelude::*;

struct Feed;

#[superloop(max_failures = 4294967296)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
