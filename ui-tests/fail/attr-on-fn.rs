use superloops::prelude::*;

#[superloop]
fn cycle() {}

fn main() {}
