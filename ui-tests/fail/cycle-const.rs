use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    const fn cycle(&mut self) {}
}

fn main() {}
