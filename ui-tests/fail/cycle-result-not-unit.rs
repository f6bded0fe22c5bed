use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn cycle(&mut self) -> Result<u32, String> {
        Ok(1)
    }
}

fn main() {}
