use superloops::prelude::*;

struct Feed;

#[superloop(max_failures = 3, max_failures = 4)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
