//! Chaos soak: a controller tree of 64 loops whose hooks and cycles panic, fail, stop
//! themselves and block past their grace at random, while four threads hammer the public API.
//! At the end everything is stopped and the guarantees are checked (DESIGN.md, Guarantees
//! 1–3 and 7, and the pairing of hooks).
//!
//! Run it longer, or replay a seed:
//!
//! ```text
//! SUPERLOOPS_SOAK_SECS=600 SUPERLOOPS_SOAK_SEED=12345 \
//!     cargo test --release --test soak -- --nocapture
//! cargo run --release --example soak -- 600 12345        # the same, as a program
//! ```
//!
//! With `SUPERLOOPS_SOAK_GDB=1`, a deadlock found by the watchdog also prints every thread's
//! stack, read by gdb attached to the test process.
//!
//! The seed fixes the tree (types, options, `from_fn` or not, placement) and every random
//! stream (each hook call and each hammer thread draws from a stream derived from it); the
//! interleaving of threads is up to the OS, so a replay re-runs the same mix of chaos, not the
//! same schedule. The default seed changes every run and is printed first.
//!
//! # What is checked, and how
//!
//! *Pairing.* Every value carries its own little state machine (`started`, `thread`): an
//! `on_start` on a started value, an `on_stop` on one that is not, a thread hook on a value not
//! started, a value dropped between `on_start` and `on_stop` — each is a violation on the spot.
//! Per loop, counters of `on_start`s that returned true and `on_stop`s, and of
//! `on_thread_start`s that returned and `on_thread_stop`s, must be equal at the end.
//!
//! *One live thread* (Guarantee 1). A thread cannot tell that it has been abandoned, and a
//! `from_fn` loop runs fresh values side by side with an abandoned one, so a plain occupancy
//! counter would count legitimate overlaps. Instead each loop keeps a registry of its threads
//! by *generation* (the `n` of `{name}_n`) from `on_thread_start` to `on_thread_stop`, with
//! each thread's stop token. The runtime may start generation `g` only once every older
//! thread has ended or been abandoned, and it signals a thread before it abandons it. So:
//! - when a thread begins a cycle while a newer generation has started, its stop token must
//!   be on (else two threads of one loop run un-signalled: two live threads);
//! - when a thread begins a cycle, every older registered thread's stop token must be on,
//!   and there must be at least as many abandoned threads (`status().abandoned_threads`,
//!   read first) as older registered ones (a signalled thread that was merely *stopping*,
//!   not abandoned, must not overlap a newer one);
//! - a thread whose stop token was already on when its cycle returned never begins another
//!   cycle (an abandoned or stopped thread never cycles again). Checking the token at the
//!   very end of `cycle` (the runtime checks it after) makes this free of false positives
//!   whatever the scheduling.
//! - `on_stop` never runs while the value's last thread is still registered (Guarantee 2).
//!
//! *No lock around user code.* Hooks call their own handle's `status()` and a controller's
//! `health()` now and then: if the runtime ever ran a hook while holding that loop's state
//! lock or a controller's lock, that call would self-deadlock and the watchdog would fire.
//!
//! *No deadlock.* Every hammer call is registered with a watchdog; one that does not return
//! within [`CALL_BOUND`] (30 s) prints every loop's status and every controller's health,
//! and the names and states of the process's threads, and exits the process with failure.
//!
//! *Every thread ends.* The process's threads are counted through `/proc/self/task` before
//! the tree is built and after everything is stopped and dropped; the count must come back
//! (within a bounded wait: abandoned threads end when their blocking returns). The crate's
//! process-wide `superloops-timer` and `superloops-watchdog` threads, started on first use of
//! `Signal::after` and `cycle_timeout`, never end: they are counted apart, by name (each at
//! most once), not folded into the baseline.
//!
//! *Supervised tasks.* The hammers also call `spawn_task` on the four controllers (two built
//! with `max_threads(n)`, two with `max_threads(n).queue_tasks()`, each with a short
//! `task_grace`), with a body the RNG chooses: return a value, return `Err`, panic, call
//! `ctx.failure()`, sleep on the context until stopped, or ignore the stop past the task grace.
//! Each handle is joined at once, kept and joined later (every join is a watched call: a join
//! that hangs is a deadlock), released, or dropped; the ones kept at the end are joined after
//! the final stop.
//! - `join` returns what the body chose (the body records its choice just before it returns
//!   or panics): its value, `Failed` or `Panicked` with its message, or `Cancelled` — only for
//!   a task of a queueing controller whose body never began.
//! - A controller never has more tasks inside their bodies at once than its `max_threads`
//!   (counted in the bodies), except tasks whose stop token went on at least `task_grace`
//!   before: those may have been abandoned by a stop (the task-side twin of the rule for loop
//!   threads above: a task that is merely *stopping* still holds its slot).
//! - A task may stop its own controller (`stop_with_report` from its body): the stop returns
//!   without waiting for it, and its report never lists it as stopped or abandoned.
//! - A refusal (`ThreadLimitReached`) comes only from a controller that does not queue, with
//!   its own `max`; `running_tasks()` never exceeds `max_threads`.
//! - When the final stop returns, every task still in its body has been signalled; then every
//!   task ends (the bodies and the closures holding them are counted) and its thread with it.
//!
//! *`cycle_timeout`.* Two loop types (`Watched`, `Sentinel`) have a short `cycle_timeout`, so
//! the chaos's blocked cycles are reported stalled and counted as failures during the run (the
//! reports are counted through a `tracing` subscriber that sees only the runtime's warnings).
//! A stall is a *cycle's*: a thread still in `on_thread_start`, before its first cycle, must
//! never be reported stalled.
//!
//! *Timers.* A quarter of the cycles wait on `ctx.stopping() | Signal::after(d)` or
//! `ctx.stopping() & Signal::after(d)` rather than `ctx.sleep`: combined once per thread (see
//! the README on combining) and renewed only after the timer has fired, so the shared timer
//! thread serves a few hundred timers under the chaos. Sleeping tasks wait on such a
//! combination too. A timer never fires before its deadline (checked in a `then` callback on
//! the timer thread, and at each wake-up), `&` never goes on before both sides have, and a timer
//! still off 10 s past its deadline is a violation.
//!
//! *Calls between siblings.* Hooks (`on_start`, `on_stop`: on a user's thread inside its call,
//! or on a supervisor thread inside a reset) call a random sibling (`stop`, `failure`, its
//! status) or controller (`stop_loops`, `is_green`, `health`), and cycles register
//! `ctx.stopping().then(|| sibling.stop())`, which runs on whatever thread stops the loop (the
//! sibling may be the loop itself). Every such call must return.
//!
//! *A panicking subscriber.* The `tracing` subscriber that counts the runtime's warnings also
//! panics on every 97th warning it does not count, as a "fail on warnings" test subscriber
//! would: the runtime contains it wherever it emits an event.
//!
//! *Timer callbacks and chains.* The hammers also arm `Signal::after(d).then(|| l.stop())` on a
//! random loop: the callback runs off the timer thread, racing everything else, and each must
//! have returned at the end. One cycle in a hundred builds a chain from its own stop token
//! (`stop | x | x & on | …`, up to 48 links) while the hammers stop its loop: a chain that
//! reads on while its token reads off is a violation.
//!
//! The files: `world.rs` what everything shares, `chaotic.rs` the loop value and its chaos,
//! `tree.rs` the loop types and the tree, `tasks.rs` the supervised tasks, `hammers.rs` the
//! threads calling the API, `watch.rs` the watchdog; this one, the soak's run and its checks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use superloops::channel::{unbounded, Receiver, Sender};
use superloops::prelude::*;
use superloops::{LoopConfig, LoopError, SpawnError, SuperLoop};

mod chaotic;
mod hammers;
mod tasks;
mod tree;
mod watch;
mod world;

use chaotic::*;
use hammers::*;
use tasks::*;
use tree::*;
use watch::*;
use world::*;

/// A hammer call (or the final stop) that takes longer is a deadlock.
const CALL_BOUND: Duration = Duration::from_secs(30);
/// How long the end waits for abandoned threads to finish and the thread count to come back.
const SETTLE_BOUND: Duration = Duration::from_secs(60);
/// Soak duration in CI when `SUPERLOOPS_SOAK_SECS` is not set.
const DEFAULT_SECS: u64 = 15;

// ---------------------------------------------------------------------------------------
// Random numbers: splitmix64, one stream per draw site.

#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range_ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------------------
// The soak.

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    Rng::new(nanos ^ u64::from(std::process::id())).next()
}

/// Keeps the planned panics quiet; any other panic is reported as usual.
fn quiet_planned_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let planned = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|s| s.starts_with("chaos: "));
        if !planned {
            default(info);
        }
    }));
}

/// Waits until `cond` holds, polling; false after `bound`.
fn wait_until(bound: Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    while !cond() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(ms(5));
    }
    true
}

/// Runs the soak for `secs` seconds with `seed`; panics with every violation found.
pub fn soak(secs: u64, seed: u64) {
    println!(
        "soak: seed {seed} for {secs} s (replay: SUPERLOOPS_SOAK_SEED={seed} SUPERLOOPS_SOAK_SECS={secs})"
    );
    quiet_planned_panics();
    let counting_events = count_runtime_events();
    let (stalls_before, abandoned_before) = (
        STALL_REPORTS.load(Ordering::Relaxed),
        TASKS_ABANDONED.load(Ordering::Relaxed),
    );

    let watch = Arc::new(Watch {
        slots: (0..5).map(|_| Mutex::new(None)).collect(),
        done: AtomicBool::new(false),
    });
    let dump_loops: DumpLoops = Arc::default();
    let dump_controllers: Arc<Mutex<Vec<LoopController>>> = Arc::default();
    let watchdog = spawn_watchdog(
        watch.clone(),
        seed,
        dump_loops.clone(),
        dump_controllers.clone(),
    );
    let baseline = transient_thread_count();

    let (gate_tx, gate): (Sender<()>, Receiver<()>) = unbounded();
    let world = Arc::new(World {
        seed,
        draws: AtomicU64::new(0),
        calm: AtomicBool::new(false),
        gate,
        violations: Mutex::new(Vec::new()),
        tally: Tally::default(),
        controllers: Mutex::new(Vec::new()),
        tasks_live: AtomicUsize::new(0),
        next_task: AtomicU64::new(0),
        timer_stops: Mutex::new(Vec::new()),
        loops: Mutex::new(Vec::new()),
    });
    let mut rng = Rng::new(seed);
    let tree = build_tree(&world, &mut rng);
    *dump_loops.lock().unwrap() = tree
        .loops
        .iter()
        .map(|l| (l.track.label.clone(), l.ops.clone()))
        .collect();
    *dump_controllers.lock().unwrap() = tree.controllers.clone();
    *world.loops.lock().unwrap() = tree.loops.iter().map(|l| l.ops.clone()).collect();
    assert!(tree.loops.len() >= 64);

    // Start: supervisors, then every member.
    let final_slot = 4;
    watch.call(
        final_slot,
        || "Root.start() + maintain_loops()".into(),
        || {
            tree.root.start();
            tree.root.maintain_loops();
        },
    );

    let stop_hammers = AtomicBool::new(false);
    let started = Instant::now();
    let peak_threads = AtomicUsize::new(0);
    // The task handles the hammers still keep, joined after the final stop.
    let kept: Vec<Held> = thread::scope(|s| {
        // The chaos thread: releases blocked cycles, now and then.
        let gate_stop = &stop_hammers;
        let chaos_rng = Rng::new(seed ^ 0xC0FFEE);
        let peak = &peak_threads;
        s.spawn(move || {
            let mut rng = chaos_rng;
            while !gate_stop.load(Ordering::SeqCst) {
                thread::sleep(rng.range_ms(5, 80));
                let _ = gate_tx.send(());
                peak.fetch_max(thread_count(), Ordering::Relaxed);
            }
        });
        let hammers: Vec<_> = (0..4)
            .map(|id| {
                let (watch, stop, tree, world) = (&*watch, &stop_hammers, &tree, &world);
                s.spawn(move || hammer(id, seed, watch, stop, tree, world))
            })
            .collect();
        thread::sleep(Duration::from_secs(secs));
        stop_hammers.store(true, Ordering::SeqCst);
        hammers
            .into_iter()
            .flat_map(|h| h.join().expect("a hammer panicked"))
            .collect()
    });
    let ran = started.elapsed();

    // The end: calm the chaos, let abandoned threads finish, stop everything. First every
    // timer callback that stops a loop has returned (their timers are at most 20 ms long).
    let timer_stops_returned = wait_until(SETTLE_BOUND, || {
        world.tally.timer_stops_done.load(Ordering::SeqCst)
            == world.tally.timer_stops_armed.load(Ordering::Relaxed)
    });
    world.timer_stops.lock().unwrap().clear();
    world.calm.store(true, Ordering::SeqCst);
    watch.call(
        final_slot,
        || "Root.stop() (first)".into(),
        || {
            tree.root.stop();
        },
    );
    // Its group still stops a task: every one left inside its body has been signalled.
    let unsignalled: Vec<String> = tree
        .pools
        .iter()
        .filter_map(|p| {
            let ids = p.unsignalled();
            (!ids.is_empty()).then(|| format!("{}: tasks {ids:?}", p.name))
        })
        .collect();
    let all_idle = || {
        tree.loops.iter().all(|l| {
            let st = l.ops.status();
            !st.alive && st.abandoned_threads == 0
        })
    };
    let idle = wait_until(SETTLE_BOUND, all_idle);
    let tasks_ended = wait_until(SETTLE_BOUND, || {
        world.tasks_live.load(Ordering::SeqCst) == 0
            && tree
                .pools
                .iter()
                .all(|p| p.in_body.lock().unwrap().is_empty())
    });
    // What was still running, taken before the second stop changes it.
    let not_idle = (!idle).then(|| {
        let loops = dump_loops.lock().unwrap().clone();
        let controllers = dump_controllers.lock().unwrap().clone();
        format!(
            "== statuses ==\n{}\n== threads (tid, name, state, wchan) ==\n{}",
            dump(&loops, &controllers),
            thread_table()
        )
    });
    // Stop wins: a second stop after every abandoned thread has handed its value back.
    let clean = watch.call(
        final_slot,
        || "Root.stop() (final)".into(),
        || tree.root.stop(),
    );
    // The handles the hammers kept: every task has ended, or was cancelled.
    let mut rng_kept = Rng::new(seed ^ 0x4B45_5054);
    for h in kept {
        h.join(&world, &watch, final_slot, &mut rng_kept);
    }

    let mut problems: Vec<String> = world.violations.lock().unwrap().clone();
    let seen = problems.len();
    // No tracing event, user code or drop of a user value ran with a crate lock held (the
    // runtime checks it in debug builds).
    let under_lock = superloops::__private::under_lock();
    if !under_lock.is_empty() {
        problems.push(format!(
            "code the crate does not own ran under a crate lock:\n{}",
            under_lock.join("\n")
        ));
    }
    if !timer_stops_returned {
        problems.push(format!(
            "{} of {} timer callbacks that stop a loop never returned",
            world.tally.timer_stops_armed.load(Ordering::Relaxed)
                - world.tally.timer_stops_done.load(Ordering::SeqCst),
            world.tally.timer_stops_armed.load(Ordering::Relaxed)
        ));
    }
    if let Some(not_idle) = not_idle {
        problems.push(format!(
            "threads still alive or abandoned {SETTLE_BOUND:?} after the stop\n{not_idle}"
        ));
    }
    if !clean {
        problems.push("the final Root.stop() returned false with every thread idle".into());
    }
    if !unsignalled.is_empty() {
        problems.push(format!(
            "tasks inside their bodies with their stop token off after Root.stop(): {}",
            unsignalled.join("; ")
        ));
    }
    if !tasks_ended {
        problems.push(format!(
            "{} task closures still live {SETTLE_BOUND:?} after the stop; inside their bodies: {}",
            world.tasks_live.load(Ordering::SeqCst),
            tree.pools
                .iter()
                .map(|p| format!("{} {:?}", p.name, p.in_body.lock().unwrap().keys()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (c, p) in tree.controllers.iter().zip(&tree.pools) {
        let running = c.running_tasks();
        if running != 0 {
            problems.push(format!(
                "{}: running_tasks() is {running} after the stop",
                p.name
            ));
        }
    }
    if tree.root.has_alive_loops() {
        problems.push("Root.has_alive_loops() after Root.stop()".into());
    }
    for c in &tree.controllers {
        let h = c.health();
        if h.supervisor.is_some() {
            problems.push(format!(
                "{}: supervisor {:?} still running",
                h.name, h.supervisor
            ));
        }
    }
    let (mut starts, mut thread_starts, mut restarts) = (0u64, 0u64, 0u64);
    for l in &tree.loops {
        let t = &l.track;
        let st = l.ops.status();
        if st.state != LoopState::Stopped || st.running || st.alive {
            problems.push(format!("{}: not stopped at the end: {st}", t.label));
        }
        let (a, b) = (
            t.starts_allowed.load(Ordering::SeqCst),
            t.stops.load(Ordering::SeqCst),
        );
        if a != b {
            problems.push(format!(
                "{}: {a} on_start returned true but {b} on_stop ran",
                t.label
            ));
        }
        let (c, d) = (
            t.thread_starts_returned.load(Ordering::SeqCst),
            t.thread_stops.load(Ordering::SeqCst),
        );
        if c != d {
            problems.push(format!(
                "{}: {c} on_thread_start returned but {d} on_thread_stop ran",
                t.label
            ));
        }
        if !t.threads.lock().unwrap().is_empty() {
            problems.push(format!(
                "{}: threads still registered: {:?}",
                t.label,
                t.threads.lock().unwrap().keys().collect::<Vec<_>>()
            ));
        }
        starts += a;
        thread_starts += c;
        restarts += st.restarts;
    }
    let resets: u64 = tree.controllers.iter().map(|c| c.resets()).sum();
    let timed_loops = tree
        .loops
        .iter()
        .filter(|l| l.track.cycle_timeout.is_some())
        .count();
    let pools_summary = tree
        .pools
        .iter()
        .map(|p| {
            format!(
                "{} max {}{} grace {:?} peak {}",
                p.name,
                p.max,
                if p.queue { " queued" } else { "" },
                p.grace,
                p.peak.load(Ordering::Relaxed)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");

    // Drop everything: break the reference cycles, then the tree. Values are dropped here
    // (their Drop checks pairing once more).
    world.controllers.lock().unwrap().clear();
    world.loops.lock().unwrap().clear();
    dump_loops.lock().unwrap().clear();
    dump_controllers.lock().unwrap().clear();
    for l in &tree.loops {
        l.track.handle.lock().unwrap().take();
    }
    watch.call(final_slot, || "dropping the tree".into(), || drop(tree));
    problems.extend(world.violations.lock().unwrap()[seen..].iter().cloned());

    // Task threads end too. The crate's permanent threads are counted apart, each at most once.
    let back = wait_until(SETTLE_BOUND, || transient_thread_count() <= baseline);
    if !back {
        problems.push(format!(
            "{} threads now ({:?} of them {PERMANENT_THREADS:?}), {baseline} (apart from those) \
             before the tree was built:\n{}",
            thread_count(),
            permanent_threads(),
            thread_table()
        ));
    }
    // A thread the timer thread has just spawned (a `superloops-then`, running a late timer's
    // callbacks) carries its parent's name until it sets its own: read as a second timer
    // thread for a moment. A real second one stays.
    let one_each = wait_until(SETTLE_BOUND, || permanent_threads().iter().all(|&n| n <= 1));
    let permanent = permanent_threads();
    if !one_each {
        problems.push(format!(
            "more than one thread under a permanent name: {PERMANENT_THREADS:?} {permanent:?}\n{}",
            thread_table()
        ));
    }
    watch.done.store(true, Ordering::SeqCst);
    watchdog.join().unwrap();

    let t = &world.tally;
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "soak: seed {seed}: ran {ran:.1?}; {} hammer calls; {starts} allowed starts, \
         {thread_starts} loop threads ({restarts} restarts), {resets} group resets; chaos: \
         {} panics, {} errors, {} ctx.failure, {} ctx.stop, {} blocks, {} declined starts, \
         {} calls from inside, {} lock probes; {} stops left a thread abandoned, {} cycles \
         begun by superseded threads; \
         peak {} threads (baseline {baseline})",
        n(&t.hammer_calls),
        n(&t.panics),
        n(&t.errors),
        n(&t.ctx_failures),
        n(&t.ctx_stops),
        n(&t.blocks),
        n(&t.declines),
        n(&t.inside_calls),
        n(&t.lock_probes),
        n(&t.unclean_stops),
        n(&t.superseded_cycles),
        peak_threads.load(Ordering::Relaxed),
    );
    let stalls = STALL_REPORTS.load(Ordering::Relaxed) - stalls_before;
    let abandoned_tasks = TASKS_ABANDONED.load(Ordering::Relaxed) - abandoned_before;
    println!(
        "soak: seed {seed}: tasks: {} spawned, {} refused at max_threads, {} skipped (at \
         {MAX_LIVE_TASKS} live), {} OS refusals; {} joined ({} ok, {} failed, {} panicked, {} \
         cancelled), {} released, {} dropped; {} sleepers stopped, {} slept out; {} went on past \
         their grace after the stop, {} abandoned; {} overlaps past max_threads excused by an \
         abandonable task; pools: {pools_summary}",
        n(&t.tasks_spawned),
        n(&t.tasks_refused),
        n(&t.tasks_skipped),
        n(&t.tasks_os_refused),
        n(&t.task_joins),
        n(&t.joined_ok),
        n(&t.joined_failed),
        n(&t.joined_panicked),
        n(&t.joined_cancelled),
        n(&t.task_releases),
        n(&t.task_drops),
        n(&t.tasks_stopped),
        n(&t.tasks_slept_out),
        n(&t.tasks_blocked_past_grace),
        if counting_events {
            abandoned_tasks.to_string()
        } else {
            "?".into()
        },
        n(&t.task_excused_overlaps),
    );
    println!(
        "soak: seed {seed}: {timed_loops} loops with a cycle_timeout, {} slow cycles, {} stalls \
         reported; \
         timers: {} armed, {} waits, {} fired, latest {:.1} ms past its deadline; {} timer \
         callbacks stopped a loop; {} chains built from a stop token ({} read on); {} hook \
         calls of a sibling or a controller, {} stop-token callbacks stopping a sibling",
        n(&t.slow_cycles),
        if counting_events {
            stalls.to_string()
        } else {
            "?".into()
        },
        n(&t.timer_arms),
        n(&t.timer_waits),
        n(&t.timers_fired),
        n(&t.timer_max_late_us) as f64 / 1000.0,
        t.timer_stops_done.load(Ordering::SeqCst),
        n(&t.chains_built),
        n(&t.chains_on),
        n(&t.sibling_calls),
        n(&t.stop_callbacks),
    );
    println!(
        "soak: seed {seed}: the tracing subscriber panicked {} times; {} tasks stopped their own \
         controller; {} loops removed from their controller and added back",
        SUBSCRIBER_PANICS.load(Ordering::Relaxed),
        n(&t.tasks_stopping_controller),
        n(&t.removals)
    );
    if thread_starts < 2 * 64 || resets == 0 {
        problems.push(format!(
            "too little happened to prove anything: {thread_starts} threads, {resets} resets"
        ));
    }
    let joined_each = [&t.joined_ok, &t.joined_failed, &t.joined_panicked]
        .iter()
        .all(|a| n(a) > 0);
    if n(&t.tasks_spawned) < 100 || n(&t.task_joins) < 30 || !joined_each {
        problems.push(format!(
            "too little happened to prove anything about tasks: {} spawned, {} joined ({} ok, \
             {} failed, {} panicked)",
            n(&t.tasks_spawned),
            n(&t.task_joins),
            n(&t.joined_ok),
            n(&t.joined_failed),
            n(&t.joined_panicked)
        ));
    }
    if n(&t.sibling_calls) < 20 || n(&t.stop_callbacks) < 20 {
        problems.push(format!(
            "too little happened to prove anything about hooks calling siblings: {} calls, {} \
             stop-token callbacks",
            n(&t.sibling_calls),
            n(&t.stop_callbacks)
        ));
    }
    if n(&t.removals) < 20 {
        problems.push(format!(
            "too little happened to prove anything about removals: {} loops removed",
            n(&t.removals)
        ));
    }
    if n(&t.timer_stops_armed) < 20 || n(&t.chains_built) < 100 {
        problems.push(format!(
            "too little happened to prove anything about timer callbacks and chains: {} timer \
             stops armed, {} chains built",
            n(&t.timer_stops_armed),
            n(&t.chains_built)
        ));
    }
    if n(&t.timers_fired) < 100 || (timed_loops > 0 && counting_events && stalls == 0) {
        problems.push(format!(
            "too little happened to prove anything about timers and cycle_timeout: {} timers \
             fired, {stalls} stalls reported by {timed_loops} loops with a cycle_timeout",
            n(&t.timers_fired)
        ));
    }
    assert!(
        problems.is_empty(),
        "seed {seed} (replay with SUPERLOOPS_SOAK_SEED={seed}): {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Reads `SUPERLOOPS_SOAK_SECS` and `SUPERLOOPS_SOAK_SEED`, then soaks.
pub fn soak_from_env() {
    let secs = env_u64("SUPERLOOPS_SOAK_SECS").unwrap_or(DEFAULT_SECS);
    let seed = env_u64("SUPERLOOPS_SOAK_SEED").unwrap_or_else(fresh_seed);
    soak(secs, seed);
}

#[test]
fn chaos_soak_loses_nothing() {
    soak_from_env();
}
