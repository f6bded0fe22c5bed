//! The promises `Signal` makes, each tested as a user relies on it (issue 21): a combination is
//! on only after what makes it on; `go` raced from many threads turns the signal on once and
//! runs each callback exactly once; a callback registered after `go` runs at once, exactly
//! once, on the caller's thread; chains of any length go on and drop without recursion.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use superloops::Signal;

#[test]
fn go_raced_from_many_threads_turns_the_signal_on_once_and_runs_each_callback_once() {
    const THREADS: usize = 8;
    const BEFORE: usize = 50;
    for round in 0..100 {
        let signal = Signal::new();
        let runs = Arc::new(AtomicUsize::new(0));
        for _ in 0..BEFORE {
            let runs = runs.clone();
            signal.then(move || {
                runs.fetch_add(1, Ordering::SeqCst);
            });
        }
        let barrier = Arc::new(Barrier::new(THREADS));
        let racers: Vec<_> = (0..THREADS)
            .map(|i| {
                let (signal, barrier, runs) = (signal.clone(), barrier.clone(), runs.clone());
                thread::spawn(move || {
                    barrier.wait();
                    if i % 2 == 0 {
                        signal.go()
                    } else {
                        // Registers while the others turn it on: run by `go` or at once.
                        signal.then(move || {
                            runs.fetch_add(1, Ordering::SeqCst);
                        });
                        false
                    }
                })
            })
            .collect();
        let turned_on = racers
            .into_iter()
            .map(|r| r.join().expect("a racer panicked"))
            .filter(|&won| won)
            .count();
        assert_eq!(turned_on, 1, "round {round}: exactly one go() turns it on");
        assert!(signal.is_go());
        assert_eq!(
            runs.load(Ordering::SeqCst),
            BEFORE + THREADS / 2,
            "round {round}: every callback ran exactly once"
        );
        assert!(!signal.go(), "a later go() finds it on");
    }
}

#[test]
fn a_callback_registered_after_go_runs_at_once_exactly_once_on_the_callers_thread() {
    let signal = Signal::new();
    assert!(signal.go());
    let runs = Arc::new(AtomicUsize::new(0));
    let me = thread::current().id();
    let ran_on = Arc::new(parking_lot::Mutex::new(None));
    {
        let (runs, ran_on) = (runs.clone(), ran_on.clone());
        signal.then(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            *ran_on.lock() = Some(thread::current().id());
        });
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "ran before then() returned");
    assert_eq!(*ran_on.lock(), Some(me), "on the thread that called then()");
    assert!(!signal.go());
    assert_eq!(runs.load(Ordering::SeqCst), 1, "and never again");
    // The same for a combination that is on already.
    let either = signal.clone() | Signal::new();
    let runs2 = runs.clone();
    either.then(move || {
        runs2.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

/// A combination reads on only after the operands that make it on, here raced: one thread
/// turns `stop` on while this one keeps combining from it (bounded to a few seconds).
#[test]
fn a_combination_never_reads_on_before_the_operands_that_make_it_on() {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut rounds = 0;
    while std::time::Instant::now() < deadline && rounds < 2_000 {
        rounds += 1;
        let (stop, other) = (Signal::new(), Signal::new());
        other.go();
        let barrier = Arc::new(Barrier::new(2));
        let goer = {
            let (stop, barrier) = (stop.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                stop.go();
            })
        };
        barrier.wait();
        loop {
            let either = stop.clone() | Signal::new();
            let both = (stop.clone() & other.clone()) | Signal::new();
            let nested = (Signal::new() | stop.clone()) & (other.clone() | Signal::new());
            // The combinations first: whatever they say, the operand must agree.
            let seen = [either.is_go(), both.is_go(), nested.is_go()];
            let stop_on = stop.is_go();
            for (what, on) in ["stop | x", "(stop & on) | x", "(x | stop) & (on | x)"]
                .iter()
                .zip(seen)
            {
                assert!(!on || stop_on, "`{what}` read on while `stop` read off");
            }
            if seen.iter().all(|&on| on) {
                break;
            }
        }
        goer.join().unwrap();
    }
}

/// `acc = acc | s` a million times (and `&`), in a debug build: going on and dropping take no
/// stack frame per link.
#[test]
fn a_million_deep_chain_goes_on_and_drops_without_overflowing_the_stack() {
    thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            const DEPTH: usize = 1_000_000;
            let first = Signal::new();
            let mut any = first.clone();
            for _ in 0..DEPTH {
                any = any | Signal::new();
            }
            let fired = Arc::new(AtomicUsize::new(0));
            let f = fired.clone();
            any.then(move || {
                f.fetch_add(1, Ordering::SeqCst);
            });
            assert!(first.go());
            assert!(
                any.is_go(),
                "the end of the chain goes on with its first link"
            );
            assert_eq!(fired.load(Ordering::SeqCst), 1);
            drop(any);
            // A chain nobody turned on, of `&` this time, drops without recursion too.
            let on = Signal::new();
            on.go();
            let mut all = Signal::new();
            for _ in 0..DEPTH {
                all = all & on.clone();
            }
            assert!(!all.is_go());
            drop(all);
        })
        .unwrap()
        .join()
        .expect("no stack overflow");
}
