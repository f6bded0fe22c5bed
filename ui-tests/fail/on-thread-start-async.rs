use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    async fn on_thread_start(&mut self) {}
    fn cycle(&mut self) {}
}

fn main() {}
