use superloops::prelude::*;

struct ProcessLoop;

#[superloop]
impl ProcessLoop {
    fn cycle(&mut self) {}
}

// A plain struct: no `#[superloop]` impl.
struct ApiFeed;

loop_group! {
    pub Pipeline<ProcessLoop, ApiFeed>
}

fn main() {}
