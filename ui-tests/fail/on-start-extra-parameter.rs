use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_start(&mut self, _retries: u32) -> bool {
        true
    }
    fn cycle(&mut self) {}
}

fn main() {}
