use superloops::prelude::*;

#[superloop]
struct Feed {
    url: String,
}

fn main() {}
