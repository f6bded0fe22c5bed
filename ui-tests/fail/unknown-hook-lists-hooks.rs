use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_message(&mut self, _text: &str) {}
    fn cycle(&mut self) {}
}

fn main() {}
