use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_start(&mut self) -> () {}
    fn cycle(&mut self) {}
}

fn main() {}
