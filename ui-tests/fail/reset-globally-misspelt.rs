use superloops::prelude::*;

struct Feed;

#[superloop(reset_global = false)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
