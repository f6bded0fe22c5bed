use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    extern "C" fn on_thread_stop(&mut self) {}
    fn cycle(&mut self) {}
}

fn main() {}
