use superloops::prelude::*;

struct Feed;

#[superloop]
impl Default for Feed {
    fn default() -> Self {
        Feed
    }
}

fn main() {}
