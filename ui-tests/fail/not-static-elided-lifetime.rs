use superloops::prelude::*;

struct Borrowing<'a> {
    text: &'a str,
}

#[superloop]
impl Borrowing<'_> {
    fn cycle(&mut self) {
        let _ = self.text;
    }
}

fn main() {}
