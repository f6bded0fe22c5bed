use superloops::prelude::*;

struct Borrowing<'a> {
    text: &'a str,
}

#[superloop]
impl<'a> Borrowing<'a> {
    fn cycle(&mut self) {}
}

fn main() {}
