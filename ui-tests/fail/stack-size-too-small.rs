use superloops::prelude::*;

struct Feed;

#[superloop(stack_size = "8 KiB")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
