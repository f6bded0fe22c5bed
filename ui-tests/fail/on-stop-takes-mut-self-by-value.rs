use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_stop(mut self) {
        let _ = &mut self;
    }
    fn cycle(&mut self) {}
}

fn main() {}
