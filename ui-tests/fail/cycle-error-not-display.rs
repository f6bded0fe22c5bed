use superloops::prelude::*;

#[derive(Debug)]
struct NotDisplay;

struct Feed;

#[superloop]
impl Feed {
    fn cycle(&mut self) -> Result<(), NotDisplay> {
        Err(NotDisplay)
    }
}

fn main() {}
