use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    unsafe fn on_thread_stop(&mut self) {}
    fn cycle(&mut self) {}
}

fn main() {}
