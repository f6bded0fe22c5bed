use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    const fn on_stop(&mut self) {}
    fn cycle(&mut self) {}
}

fn main() {}
