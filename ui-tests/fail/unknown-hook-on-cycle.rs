use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_cycle(&mut self) {}
    fn cycle(&mut self) {}
}

fn main() {}
