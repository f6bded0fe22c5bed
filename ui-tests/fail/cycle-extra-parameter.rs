use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn cycle(&mut self, _ctx: &Ctx, _attempt: u32) {}
}

fn main() {}
