use superloops::prelude::*;

struct Worker<T> {
    item: T,
}

#[superloop]
impl<T: 'static> Worker<T> {
    fn cycle(&mut self) {}
}

fn main() {}
