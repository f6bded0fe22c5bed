use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn cylce(&mut self) {}
}

fn main() {}
