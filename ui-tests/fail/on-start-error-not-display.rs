use superloops::prelude::*;

struct NotDisplay;

struct Feed;

#[superloop]
impl Feed {
    fn on_start(&mut self) -> Result<(), NotDisplay> {
        Ok(())
    }
    fn cycle(&mut self) {}
}

fn main() {}
