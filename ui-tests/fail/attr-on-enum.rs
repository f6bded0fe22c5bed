use superloops::prelude::*;

#[superloop]
enum Feed {
    Idle,
    Busy,
}

fn main() {}
