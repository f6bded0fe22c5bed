use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_thread_stop(&mut self, _panicked: bool) {}
    fn cycle(&mut self) {}
}

fn main() {}
