use superloops::prelude::*;

struct Feed;

#[superloop(max_failures = "10")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
