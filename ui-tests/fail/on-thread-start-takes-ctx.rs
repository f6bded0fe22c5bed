use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_thread_start(&mut self, _ctx: &Ctx) {}
    fn cycle(&mut self) {}
}

fn main() {}
