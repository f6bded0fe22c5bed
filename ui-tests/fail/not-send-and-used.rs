// A loop type that is not `Send` and is used: one error, at the impl. `into_loop()` adds
// none (it comes from `IntoLoop`, implemented for every `SuperLoop`).
use std::rc::Rc;
use superloops::prelude::*;

struct Shared {
    counter: Rc<u32>,
}

#[superloop]
impl Shared {
    fn cycle(&mut self) {}
}

fn main() {
    let feed = Shared { counter: Rc::new(0) }.into_loop();
    feed.start();
    let again = LoopHandle::new(Shared { counter: Rc::new(1) });
    again.stop();
}
