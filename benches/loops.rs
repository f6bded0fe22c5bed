//! Micro-benchmarks with divan, each `superloops` bench beside a hand-written `baseline` that
//! does the same with `std::thread`: `cargo bench --bench loops`.
//!
//! The figures of the README come from `cargo run --release --example bench`, which also
//! reports the ratios; these are for looking at one operation closely (divan prints the
//! distribution). Under `cargo test --benches` divan runs each bench once, as a smoke test.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use divan::Bencher;
use superloops::channel::{bounded, Receiver, Sender};
use superloops::prelude::*;

fn main() {
    divan::main();
}

const LONG: Duration = Duration::from_secs(3600);

/// A hand-written stop flag: a mutex-guarded bool and a condvar.
#[derive(Clone, Default)]
struct StopFlag(Arc<(Mutex<bool>, Condvar)>);

impl StopFlag {
    fn set(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
    fn wait(&self) {
        let (m, cv) = &*self.0;
        let mut set = m.lock().unwrap();
        while !*set {
            set = cv.wait(set).unwrap();
        }
    }
}

struct Sleeper {
    entered: Sender<()>,
}

#[superloop(grace = "30s")]
impl Sleeper {
    fn cycle(&mut self, ctx: &Ctx) {
        let _ = self.entered.try_send(());
        ctx.sleep(LONG);
    }
}

fn sleeper() -> (LoopHandle<Sleeper>, Receiver<()>) {
    let (entered, in_cycle) = bounded(1);
    (Sleeper { entered }.into_loop(), in_cycle)
}

/// `start()` then `stop()` of a loop that sleeps in `ctx.sleep`.
mod start_then_stop {
    use super::*;

    #[divan::bench(sample_count = 200)]
    fn superloops(b: Bencher) {
        let (handle, in_cycle) = sleeper();
        b.bench_local(|| {
            handle.start();
            in_cycle.recv().unwrap();
            handle.stop();
        });
    }

    #[divan::bench(sample_count = 200)]
    fn baseline(b: Bencher) {
        b.bench_local(|| {
            let stop = StopFlag::default();
            let (entered, in_wait) = bounded(1);
            let flag = stop.clone();
            let t = thread::spawn(move || {
                let _ = entered.send(());
                flag.wait();
            });
            in_wait.recv().unwrap();
            stop.set();
            t.join().unwrap();
        });
    }
}

/// `stop()` alone, of a loop blocked in `ctx.sleep(1 h)`.
mod stop_sleeping {
    use super::*;

    #[divan::bench(sample_count = 200, sample_size = 1)]
    fn superloops(b: Bencher) {
        b.with_inputs(|| {
            let (handle, in_cycle) = sleeper();
            handle.start();
            in_cycle.recv().unwrap();
            handle
        })
        .bench_local_values(|handle| {
            handle.stop();
            handle // dropped after the timing
        });
    }

    #[divan::bench(sample_count = 200, sample_size = 1)]
    fn baseline(b: Bencher) {
        b.with_inputs(|| {
            let stop = StopFlag::default();
            let (entered, in_wait) = bounded(1);
            let flag = stop.clone();
            let t = thread::spawn(move || {
                let _ = entered.send(());
                flag.wait();
            });
            in_wait.recv().unwrap();
            (stop, t)
        })
        .bench_local_values(|(stop, t)| {
            stop.set();
            t.join().unwrap();
        });
    }
}

const CYCLES: u64 = 100_000;

struct Counter {
    n: u64,
    done: Sender<()>,
}

#[superloop(grace = "30s")]
impl Counter {
    fn on_thread_start(&mut self) {
        self.n = 0;
    }
    fn cycle(&mut self, ctx: &Ctx) {
        self.n += 1;
        if self.n == CYCLES {
            let _ = self.done.send(());
            ctx.stop();
        }
    }
}

/// A thread's whole life with 100,000 nearly empty cycles: start, cycles, stop.
mod hundred_thousand_cycles {
    use super::*;

    #[divan::bench(sample_count = 50)]
    fn superloops(b: Bencher) {
        let (done, finished) = bounded(1);
        let handle = Counter { n: 0, done }.into_loop();
        b.bench_local(|| {
            handle.start();
            finished.recv().unwrap();
            handle.stop();
        });
    }

    #[divan::bench(sample_count = 50)]
    fn baseline(b: Bencher) {
        b.bench_local(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let t = thread::spawn(move || {
                let mut n = 0u64;
                while !flag.load(Ordering::Acquire) {
                    n += 1;
                    if n == CYCLES {
                        flag.store(true, Ordering::Release);
                    }
                }
                n
            });
            black_box(t.join().unwrap());
        });
    }
}

/// `Signal`, the stop token: make one, turn it on, read it.
mod signal {
    use super::*;

    #[divan::bench]
    fn new_and_go() -> bool {
        let s = Signal::new();
        s.go()
    }

    /// What `ctx.should_stop()` costs per call: `is_go` on the stop token, one atomic load.
    #[divan::bench]
    fn is_go(b: Bencher) {
        let s = Signal::new();
        b.bench_local(|| black_box(&s).is_go());
    }

    /// The hand-written stop check it is measured against: an `Arc<AtomicBool>` load.
    #[divan::bench]
    fn is_go_baseline(b: Bencher) {
        let flag = Arc::new(AtomicBool::new(false));
        b.bench_local(|| black_box(&flag).load(Ordering::Acquire));
    }
}
