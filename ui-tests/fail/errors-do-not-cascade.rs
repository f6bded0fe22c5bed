// A mistake in the impl is one error: the loop still implements `SuperLoop`, so using it
// adds none.
use superloops::prelude::*;

struct Feed;

#[superloop]
impl Feed {
    fn cycle(&mut self, _ctx: &mut Ctx) {}
}

fn main() {
    let feed = Feed.into_loop();
    let _ = <Feed as SuperLoop>::CONFIG;
    drop(feed);
}
