use superloops::prelude::*;

struct Feed;

#[superloop(reset_globally = false, reset_globally)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
