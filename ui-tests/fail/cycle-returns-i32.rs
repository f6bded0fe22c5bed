use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn cycle(&mut self) -> i32 {
        0
    }
}

fn main() {}
