use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_start(&mut self) -> i32 {
        0
    }
    fn cycle(&mut self) {}
}

fn main() {}
