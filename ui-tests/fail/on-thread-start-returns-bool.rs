use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_thread_start(&mut self) -> bool {
        true
    }
    fn cycle(&mut self) {}
}

fn main() {}
