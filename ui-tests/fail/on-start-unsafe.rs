use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    unsafe fn on_start(&mut self) -> bool {
        true
    }
    fn cycle(&mut self) {}
}

fn main() {}
