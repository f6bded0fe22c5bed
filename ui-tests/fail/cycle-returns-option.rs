use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn cycle(&mut self) -> Option<()> {
        None
    }
}

fn main() {}
