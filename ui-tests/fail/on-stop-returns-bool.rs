use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_stop(&mut self) -> bool {
        true
    }
    fn cycle(&mut self) {}
}

fn main() {}
