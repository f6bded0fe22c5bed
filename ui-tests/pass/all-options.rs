// Every option at once, each compiled into `SuperLoop::CONFIG`.
use std::time::Duration;
use superloops::prelude::*;

struct Feed;

#[superloop(
    grace = "1m 30s",
    max_failures = 3,
    within = "250ms",
    stop_on_failure,
    reset_globally = false,
    name = "feed",
    stack_size = "256 KiB",
    cycle_timeout = "30s"
)]
impl Feed {
    fn cycle(&mut self) {}
}

const CONFIG: LoopConfig = <Feed as SuperLoop>::CONFIG;

fn main() {
    assert_eq!(CONFIG.name, "feed");
    assert_eq!(CONFIG.grace, Duration::from_secs(90));
    assert_eq!(CONFIG.max_failures, 3);
    assert_eq!(CONFIG.within, Some(Duration::from_millis(250)));
    assert!(CONFIG.stop_on_failure);
    assert!(!CONFIG.reset_globally);
    assert_eq!(CONFIG.stack_size, Some(256 * 1024));
    assert_eq!(CONFIG.cycle_timeout, Some(Duration::from_secs(30)));
}
