use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_stop(&mut self) {}
}

fn main() {}
