// Methods whose names do not start with `on_` are helpers, and consts, macros and attributes
// of the impl block are kept as written.
#![deny(warnings)]
use superloops::prelude::*;

macro_rules! getter {
    ($name:ident) => {
        fn $name(&self) -> u32 {
            self.n
        }
    };
}

pub struct Helpers {
    n: u32,
}

#[superloop]
impl Helpers {
    /// A constant of the loop.
    pub const STEP: u32 = 2;

    getter!(count);

    /// A constructor: no receiver, and that is fine for a helper.
    pub fn new() -> Self {
        Helpers { n: 0 }
    }

    fn bump(&mut self) {
        self.n += Self::STEP;
    }

    // Not `on_…`, so a helper even though it looks like a hook.
    fn once_started(&self, extra: u32) -> u32 {
        self.n + extra
    }

    #[allow(clippy::unused_self)]
    async fn fetch(&self) -> u32 {
        1
    }

    fn cycle(&mut self) {
        self.bump();
    }
}

fn main() {
    let mut h = Helpers::new();
    h.bump();
    assert_eq!(h.count(), 2);
    assert_eq!(h.once_started(1), 3);
    assert_eq!(Helpers::STEP, 2);
    drop(h.fetch());
    let _ = h.into_loop();
}
