use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_thread_start(self: Box<Self>) {}
    fn cycle(&mut self) {}
}

fn main() {}
