// The generated `SuperLoop` methods call the user's inherent methods of the same name, never
// themselves: recursion would be denied here, and the hooks' side effects are observed
// through the trait.
#![deny(unconditional_recursion)]
use superloops::prelude::*;

#[derive(Default)]
struct Counter {
    starts: u32,
    stops: u32,
    thread_starts: u32,
    thread_stops: u32,
}

#[superloop]
impl Counter {
    fn cycle(&mut self, _ctx: &Ctx) -> Result<(), String> {
        Ok(())
    }
    fn on_start(&mut self) -> bool {
        self.starts += 1;
        true
    }
    fn on_stop(&mut self) {
        self.stops += 1;
    }
    fn on_thread_start(&mut self) {
        self.thread_starts += 1;
    }
    fn on_thread_stop(&mut self) {
        self.thread_stops += 1;
    }
}

// Only hooks the user wrote are forwarded: the others are the trait's defaults.
struct CycleOnly;

#[superloop]
impl CycleOnly {
    fn cycle(&mut self) {}
}

fn main() {
    let mut c = Counter::default();
    assert_eq!(<Counter as SuperLoop>::on_start(&mut c), Ok(true));
    <Counter as SuperLoop>::on_stop(&mut c);
    <Counter as SuperLoop>::on_thread_start(&mut c);
    <Counter as SuperLoop>::on_thread_stop(&mut c);
    assert_eq!(
        (c.starts, c.stops, c.thread_starts, c.thread_stops),
        (1, 1, 1, 1)
    );

    assert_eq!(<CycleOnly as SuperLoop>::on_start(&mut CycleOnly), Ok(true));
    <CycleOnly as SuperLoop>::on_stop(&mut CycleOnly);
}
