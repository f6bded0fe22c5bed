use superloops::prelude::*;

struct Feed;

#[superloop(stack_size = true)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
