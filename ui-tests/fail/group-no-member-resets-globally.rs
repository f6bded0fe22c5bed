use superloops::prelude::*;

struct ProcessLoop;

#[superloop(reset_globally = false)]
impl ProcessLoop {
    fn cycle(&mut self) {}
}

struct ApiFeed;

#[superloop(reset_globally = false)]
impl ApiFeed {
    fn cycle(&mut self) {}
}

// `one_for_all` is the default strategy.
loop_group! {
    pub Pipeline<ProcessLoop, ApiFeed>
}

fn main() {}
