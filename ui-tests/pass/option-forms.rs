// The other spellings of each option: flags with explicit values, durations in other units,
// the largest `max_failures`, and 0 failures allowed.
use std::time::Duration;
use superloops::prelude::*;

struct A;

#[superloop(
    stop_on_failure = false,
    reset_globally = true,
    grace = "250ms",
    within = "2h"
)]
impl A {
    fn cycle(&mut self) {}
}

struct B;

#[superloop(
    stop_on_failure = true,
    reset_globally,
    max_failures = 4294967295,
    name = "b loop"
)]
impl B {
    fn cycle(&mut self) {}
}

struct C;

#[superloop(max_failures = 0, grace = "1500ms", within = "1m 30s")]
impl C {
    fn cycle(&mut self) {}
}

fn main() {
    let a = <A as SuperLoop>::CONFIG;
    assert!(!a.stop_on_failure);
    assert!(a.reset_globally);
    assert_eq!(a.grace, Duration::from_millis(250));
    assert_eq!(a.within, Some(Duration::from_secs(7200)));

    let b = <B as SuperLoop>::CONFIG;
    assert!(b.stop_on_failure);
    assert!(b.reset_globally);
    assert_eq!(b.max_failures, u32::MAX);
    assert_eq!(b.name, "b loop");

    let c = <C as SuperLoop>::CONFIG;
    assert_eq!(c.max_failures, 0);
    assert_eq!(c.grace, Duration::from_millis(1500));
    assert_eq!(c.within, Some(Duration::from_secs(90)));
    assert_eq!(c.name, "C");
}
