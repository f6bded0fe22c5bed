use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn cycle(&mut self, _ctx: &String) {}
}

fn main() {}
