use superloops::prelude::*;

struct Feed;

#[superloop(stack_size = "256 kib")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
