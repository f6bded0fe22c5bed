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

// Under `rest_for_one` too, a reset would restart nothing but the failing member.
loop_group! {
    pub Pipeline<ProcessLoop, ApiFeed> { strategy = rest_for_one }
}

fn main() {}
