use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn cycle(&mut self)
    where
        Self: Sized,
    {
    }
}

fn main() {}
