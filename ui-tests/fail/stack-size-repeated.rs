use superloops::prelude::*;

struct Feed;

#[superloop(stack_size = "256 KiB", stack_size = 65536)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
