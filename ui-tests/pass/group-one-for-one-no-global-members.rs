// Under `one_for_one` only the failing member restarts, so members that all have
// `reset_globally = false` are fine.
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

loop_group! {
    Pipeline<ProcessLoop, ApiFeed> { strategy = one_for_one }
}

loop_group! {
    // One member that resets globally is enough under `one_for_all` (the default).
    Mixed<ProcessLoop, Worker>
}

struct Worker;

#[superloop]
impl Worker {
    fn cycle(&mut self) {}
}

fn main() {
    let _ = Pipeline::new(ProcessLoop, ApiFeed);
    let _ = Mixed::new(ProcessLoop, Worker);
}
