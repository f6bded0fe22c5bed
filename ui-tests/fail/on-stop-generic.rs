use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_stop<T: Default>(&mut self) {}
    fn cycle(&mut self) {}
}

fn main() {}
