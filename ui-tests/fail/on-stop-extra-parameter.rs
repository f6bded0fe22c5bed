use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_stop(&mut self, _reason: &str) {}
    fn cycle(&mut self) {}
}

fn main() {}
