//! The per-cycle path allocates nothing: a counting global allocator counts the allocations
//! made on the loop's own thread between two cycles far apart (after a warm-up), so the
//! runtime's code between cycles and the calls made in them are both covered.
//!
//! Counting is per thread (a `const` thread-local without a destructor, which the allocator
//! may touch), so allocations by the test's own thread or by other tests running at the same
//! time do not count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use superloops::channel::{bounded, Sender};
use superloops::prelude::*;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: during thread teardown the slot may be gone; such allocations do not matter.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// Allocations made so far on this thread.
fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Cycles run before counting starts, so that one-time set-up (thread-locals, lazily made
/// caches) is not counted.
const WARM_UP: u64 = 1_000;
/// Cycles counted.
const CYCLES: u64 = 100_000;

/// What each probe's cycle does besides counting.
#[derive(Clone, Copy, Debug)]
enum Work {
    Nothing,
    ShouldStop,
    SleepZero,
}

/// Counts the allocations of its thread from cycle `WARM_UP` to cycle `WARM_UP + CYCLES`,
/// reports them, and stops.
struct Probe {
    work: Work,
    cycle: u64,
    before: u64,
    report: Sender<u64>,
}

impl Probe {
    fn new(work: Work) -> (Self, superloops::channel::Receiver<u64>) {
        let (report, counted) = bounded(1);
        let probe = Probe {
            work,
            cycle: 0,
            before: 0,
            report,
        };
        (probe, counted)
    }

    /// The bookkeeping of every cycle: only reads the thread-local counter until the end.
    fn count(&mut self, ctx: &Ctx) {
        self.cycle += 1;
        if self.cycle == WARM_UP {
            self.before = allocations();
        } else if self.cycle == WARM_UP + CYCLES {
            let counted = allocations() - self.before;
            // Reported and stopped after the count was taken.
            let _ = self.report.send(counted);
            ctx.stop();
        }
    }
}

#[superloop(grace = "20s")]
impl Probe {
    fn cycle(&mut self, ctx: &Ctx) -> Result<(), String> {
        self.count(ctx);
        match self.work {
            Work::Nothing => {}
            Work::ShouldStop => {
                std::hint::black_box(ctx.should_stop());
            }
            Work::SleepZero => {
                std::hint::black_box(ctx.sleep(Duration::ZERO));
            }
        }
        Ok(())
    }
}

/// An empty `cycle(&mut self)` with no context: the runtime's own per-cycle code only.
struct Bare {
    cycle: u64,
    before: u64,
    report: Sender<u64>,
}

#[superloop(grace = "20s")]
impl Bare {
    fn cycle(&mut self) {
        self.cycle += 1;
        if self.cycle == WARM_UP {
            self.before = allocations();
        } else if self.cycle == WARM_UP + CYCLES {
            let _ = self.report.send(allocations() - self.before);
        }
    }
}

fn allocations_during(work: Work) -> u64 {
    let (probe, counted) = Probe::new(work);
    let handle = probe.into_loop();
    assert!(handle.start());
    let n = counted
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("the {work:?} probe never reported: {}", handle.status()));
    assert!(handle.stop());
    n
}

#[test]
fn empty_cycles_allocate_nothing() {
    let (report, counted) = bounded(1);
    let handle = Bare {
        cycle: 0,
        before: 0,
        report,
    }
    .into_loop();
    assert!(handle.start());
    let n = counted.recv_timeout(Duration::from_secs(60)).unwrap();
    assert!(handle.stop());
    assert_eq!(n, 0, "allocations in {CYCLES} empty cycles");
}

#[test]
fn cycles_that_use_the_context_allocate_nothing() {
    assert_eq!(
        allocations_during(Work::Nothing),
        0,
        "cycles returning Ok(())"
    );
    assert_eq!(
        allocations_during(Work::ShouldStop),
        0,
        "ctx.should_stop() every cycle"
    );
}

#[test]
fn sleep_zero_allocates_nothing_after_warm_up() {
    assert_eq!(
        allocations_during(Work::SleepZero),
        0,
        "ctx.sleep(Duration::ZERO) every cycle"
    );
}

/// The counter itself works: an allocation on the loop thread is seen.
#[test]
fn the_counter_sees_an_allocation_on_the_loop_thread() {
    struct Allocating {
        report: Sender<u64>,
    }
    #[superloop(grace = "20s")]
    impl Allocating {
        fn cycle(&mut self, ctx: &Ctx) {
            let before = allocations();
            std::hint::black_box(vec![1u8; 16]);
            let _ = self.report.send(allocations() - before);
            ctx.stop();
        }
    }
    let (report, counted) = bounded(1);
    let handle = Allocating { report }.into_loop();
    assert!(handle.start());
    assert_eq!(counted.recv_timeout(Duration::from_secs(60)).unwrap(), 1);
    assert!(handle.stop());
}
