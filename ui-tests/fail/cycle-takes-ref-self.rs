use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn cycle(&self) {}
}

fn main() {}
