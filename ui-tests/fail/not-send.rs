use std::rc::Rc;
use superloops::prelude::*;

struct Shared {
    counter: Rc<u32>,
}

#[superloop]
impl Shared {
    fn cycle(&mut self) {}
}

fn main() {}
