use superloops::prelude::*;

struct Feed;

#[superloop("5s")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
