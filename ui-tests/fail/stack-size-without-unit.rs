use superloops::prelude::*;

struct Feed;

#[superloop(stack_size = "65536")]
impl Feed {
    fn cycle(&mut self) {}
}

fn main() {}
