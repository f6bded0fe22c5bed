use superloops::prelude::*;

struct Feed;

#[superloop(reset_globally = 1)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
