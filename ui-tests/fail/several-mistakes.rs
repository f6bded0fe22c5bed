// Four mistakes, four errors, in one build: each is reported, none hides another.
use superloops::prelude::*;

struct Feed;

#[superloop(grace = "5 sec0nds", max_failures = 3)]
impl Feed {
    fn on_start(&mut self) {}
    fn on_strop(&mut self) {}
    fn cycle(&self, _ctx: &Ctx) {}
}

fn main() {}
