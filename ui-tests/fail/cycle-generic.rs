use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn cycle<T: Default>(&mut self) {}
}

fn main() {}
