use superloops::prelude::*;

struct Feed;

#[superloop(within = "1m", within = "2m")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
