use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    async fn cycle(&mut self) {}
}

fn main() {}
