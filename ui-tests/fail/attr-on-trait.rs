use superloops::prelude::*;

#[superloop]
trait Feed {
    fn cycle(&mut self);
}

fn main() {}
