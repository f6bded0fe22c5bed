use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn on_start(&mut self) {
        println!("starting");
    }
    fn cycle(&mut self) {}
}

fn main() {}
