// No options: the runtime's defaults, named after the type.
use superloops::prelude::*;

struct Plain;

#[superloop]
impl Plain {
    fn cycle(&mut self) {}
}

struct Empty;

#[superloop()]
impl Empty {
    fn cycle(&mut self) {}
}

fn main() {
    assert_eq!(<Plain as SuperLoop>::CONFIG, LoopConfig::new("Plain"));
    assert_eq!(<Empty as SuperLoop>::CONFIG, LoopConfig::new("Empty"));
}
