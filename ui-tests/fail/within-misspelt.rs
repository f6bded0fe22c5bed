use superloops::prelude::*;

struct Feed;

#[superloop(withn = "1m")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
