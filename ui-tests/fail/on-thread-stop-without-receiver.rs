use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_thread_stop() {}
    fn cycle(&mut self) {}
}

fn main() {}
