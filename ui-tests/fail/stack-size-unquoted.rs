use superloops::prelude::*;

struct Feed;

#[superloop(stack_size = 256KiB)]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
