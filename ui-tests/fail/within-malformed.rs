use superloops::prelude::*;

struct Feed;

#[superloop(within = "1 fortnight")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
