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
//! (within a bounded wait: abandoned threads end when their blocking returns).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use superloops::channel::{unbounded, Receiver, Sender};
use superloops::prelude::*;
use superloops::{LoopConfig, LoopError, SuperLoop};

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
// The world: what every loop value, hammer and the watchdog share.

/// Chaos counters, for the summary (and a sanity check that chaos happened).
#[derive(Default)]
struct Tally {
    panics: AtomicU64,
    errors: AtomicU64,
    ctx_failures: AtomicU64,
    ctx_stops: AtomicU64,
    blocks: AtomicU64,
    declines: AtomicU64,
    inside_calls: AtomicU64,
    lock_probes: AtomicU64,
    hammer_calls: AtomicU64,
    /// Hammer `stop`s that returned false: a thread was abandoned (or was already).
    unclean_stops: AtomicU64,
    superseded_cycles: AtomicU64,
}

struct World {
    seed: u64,
    draws: AtomicU64,
    /// Once set, hooks and cycles behave (no chaos, no calls from inside): the final stop.
    calm: AtomicBool,
    /// Blocked cycles wait on it; the chaos thread releases them one by one.
    gate: Receiver<()>,
    violations: Mutex<Vec<String>>,
    tally: Tally,
    /// Every controller of the tree, for `health()` probes from hooks. Cleared at the end
    /// (it makes a reference cycle: controllers own the values that reach the world).
    controllers: Mutex<Vec<LoopController>>,
}

impl World {
    fn rng(&self) -> Rng {
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let mut r = Rng::new(self.seed ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }
    fn calm(&self) -> bool {
        self.calm.load(Ordering::SeqCst)
    }
    /// Records a broken guarantee; the first 100 are printed at once and 1000 are kept.
    fn violation(&self, what: String) {
        let mut v = self.violations.lock().unwrap();
        if v.len() < 100 {
            eprintln!("VIOLATION: {what}");
        }
        if v.len() < 1000 {
            v.push(what);
        }
    }
    /// Calls `health()` on a random controller: deadlocks if the caller's hook runs under a
    /// controller lock (the watchdog reports it).
    fn probe_a_controller(&self, rng: &mut Rng) {
        let c = {
            let cs = self.controllers.lock().unwrap();
            if cs.is_empty() {
                return;
            }
            cs[rng.below(cs.len() as u64) as usize].clone()
        };
        let _ = c.health();
        self.tally.lock_probes.fetch_add(1, Ordering::Relaxed);
    }
}

/// A planned panic; the panic hook keeps these quiet.
fn chaos_panic(world: &World, hook: &str) -> ! {
    world.tally.panics.fetch_add(1, Ordering::Relaxed);
    std::panic::panic_any(format!("chaos: planned panic in {hook}"))
}

// ---------------------------------------------------------------------------------------
// What the soak calls on a handle, type-erased.

trait Ops: Send + Sync {
    fn start(&self) -> bool;
    fn stop(&self) -> bool;
    fn hard_reset(&self) -> bool;
    fn failure(&self) -> bool;
    fn status(&self) -> LoopStatus;
    fn reads(&self);
}

impl<T: SuperLoop> Ops for LoopHandle<T> {
    fn start(&self) -> bool {
        LoopHandle::start(self)
    }
    fn stop(&self) -> bool {
        LoopHandle::stop(self)
    }
    fn hard_reset(&self) -> bool {
        LoopHandle::hard_reset(self)
    }
    fn failure(&self) -> bool {
        LoopHandle::failure(self)
    }
    fn status(&self) -> LoopStatus {
        LoopHandle::status(self)
    }
    fn reads(&self) {
        let _ = (
            self.is_alive(),
            self.is_running(),
            self.failures(),
            self.thread_name(),
            self.config(),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Per-loop tracking, shared by every value of the loop (a `from_fn` loop makes many).

struct ThreadRec {
    /// Its stop token, known from its first cycle on.
    stop: Option<Signal>,
}

struct Track {
    label: String,
    world: Arc<World>,
    starts_allowed: AtomicU64,
    stops: AtomicU64,
    thread_starts_returned: AtomicU64,
    thread_stops: AtomicU64,
    /// Threads between `on_thread_start` and `on_thread_stop`, by generation.
    threads: Mutex<BTreeMap<u64, ThreadRec>>,
    /// One more than the newest generation that ran `on_thread_start`.
    newest: AtomicU64,
    /// The loop's handle, for calls from inside. Cleared at the end (a reference cycle).
    handle: Mutex<Option<Arc<dyn Ops>>>,
}

impl Track {
    fn ops(&self) -> Option<Arc<dyn Ops>> {
        self.handle.lock().unwrap().clone()
    }
    fn violation(&self, what: String) {
        self.world.violation(format!("{}: {what}", self.label));
    }
}

fn generation(thread_name: &str) -> u64 {
    thread_name
        .rsplit('_')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a loop thread name: {thread_name:?}"))
}

fn current_generation() -> u64 {
    generation(thread::current().name().unwrap_or("?"))
}

/// A loop value: its own pairing state, and the chaos.
struct Chaotic {
    track: Arc<Track>,
    /// `on_start` returned true and `on_stop` has not run since.
    started: bool,
    /// The generation of the thread running this value's thread hooks, if one is.
    thread: Option<u64>,
    /// The generation of the last thread that ran this value.
    last_thread: Option<u64>,
    /// The stop token was on when this thread's last cycle returned.
    returned_stopping: bool,
}

impl Chaotic {
    fn new(track: Arc<Track>) -> Self {
        Chaotic {
            track,
            started: false,
            thread: None,
            last_thread: None,
            returned_stopping: false,
        }
    }

    fn world(&self) -> &World {
        &self.track.world
    }

    /// Sometimes: read this loop's status and a controller's health from inside a hook.
    fn lock_probe(&self, rng: &mut Rng) {
        if rng.below(100) < 3 {
            if let Some(ops) = self.track.ops() {
                let _ = ops.status();
                self.world()
                    .tally
                    .lock_probes
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        if rng.below(100) < 1 {
            self.world().probe_a_controller(rng);
        }
    }

    /// Sometimes sleeps in a hook (not past any grace on its own, but on a loaded machine it
    /// may be).
    fn maybe_slow(&self, rng: &mut Rng, per_mille: u64, max_ms: u64) {
        if rng.below(1000) < per_mille {
            thread::sleep(rng.range_ms(1, max_ms));
        }
    }

    /// Blocks ignoring stop: sleeps, or waits on the gate the chaos thread releases.
    fn block(&self, rng: &mut Rng) {
        self.world().tally.blocks.fetch_add(1, Ordering::Relaxed);
        if rng.below(2) == 0 {
            thread::sleep(rng.range_ms(10, 120));
        } else {
            let _ = self.world().gate.recv_timeout(Duration::from_millis(250));
        }
    }

    fn on_start(&mut self) -> Result<bool, LoopError> {
        if self.started {
            self.track
                .violation("on_start on a value that is started (no on_stop since)".into());
        }
        if let Some(g) = self.thread {
            self.track
                .violation(format!("on_start while thread {g} still holds the value"));
        }
        let mut rng = self.world().rng();
        if !self.world().calm() {
            self.lock_probe(&mut rng);
            self.maybe_slow(&mut rng, 30, 15);
            match rng.below(1000) {
                0..=19 => chaos_panic(self.world(), "on_start"),
                20..=39 => {
                    self.world().tally.declines.fetch_add(1, Ordering::Relaxed);
                    return Ok(false);
                }
                40..=59 => {
                    self.world().tally.errors.fetch_add(1, Ordering::Relaxed);
                    return Err(LoopError::new("chaos: on_start failed"));
                }
                _ => {}
            }
        }
        self.started = true;
        self.track.starts_allowed.fetch_add(1, Ordering::SeqCst);
        Ok(true)
    }

    fn on_stop(&mut self) {
        self.track.stops.fetch_add(1, Ordering::SeqCst);
        if !self.started {
            self.track
                .violation("on_stop on a value that is not started".into());
        }
        self.started = false;
        if let Some(g) = self.thread {
            self.track
                .violation(format!("on_stop while thread {g} runs this value's hooks"));
        }
        if let Some(g) = self.last_thread {
            if self.track.threads.lock().unwrap().contains_key(&g) {
                self.track.violation(format!(
                    "on_stop while its thread {g} is still inside its hooks or cycle"
                ));
            }
        }
        let mut rng = self.world().rng();
        if !self.world().calm() {
            self.lock_probe(&mut rng);
            self.maybe_slow(&mut rng, 30, 15);
            if rng.below(1000) < 20 {
                chaos_panic(self.world(), "on_stop");
            }
        }
    }

    fn on_thread_start(&mut self) {
        let g = current_generation();
        if !self.started {
            self.track
                .violation(format!("thread {g} started on a value that is not started"));
        }
        if let Some(old) = self.thread {
            self.track.violation(format!(
                "thread {g} started on a value thread {old} still runs"
            ));
        }
        self.track.newest.fetch_max(g + 1, Ordering::SeqCst);
        if self
            .track
            .threads
            .lock()
            .unwrap()
            .insert(g, ThreadRec { stop: None })
            .is_some()
        {
            self.track
                .violation(format!("generation {g} started twice"));
        }
        self.last_thread = Some(g);
        self.returned_stopping = false;
        let mut rng = self.world().rng();
        if !self.world().calm() {
            self.lock_probe(&mut rng);
            self.maybe_slow(&mut rng, 30, 20);
            match rng.below(1000) {
                0..=14 => {
                    // No on_thread_stop pairs a panicked on_thread_start: unregister first.
                    self.track.threads.lock().unwrap().remove(&g);
                    chaos_panic(self.world(), "on_thread_start");
                }
                15..=19 => self.block(&mut rng),
                _ => {}
            }
        }
        self.thread = Some(g);
        self.track
            .thread_starts_returned
            .fetch_add(1, Ordering::SeqCst);
    }

    fn on_thread_stop(&mut self) {
        let g = current_generation();
        self.track.thread_stops.fetch_add(1, Ordering::SeqCst);
        if self.thread != Some(g) {
            self.track.violation(format!(
                "on_thread_stop on thread {g}, but the value's thread is {:?}",
                self.thread
            ));
        }
        self.thread = None;
        self.track.threads.lock().unwrap().remove(&g);
        let mut rng = self.world().rng();
        if !self.world().calm() {
            self.lock_probe(&mut rng);
            self.maybe_slow(&mut rng, 30, 20);
            match rng.below(1000) {
                0..=14 => chaos_panic(self.world(), "on_thread_stop"),
                15..=19 => self.block(&mut rng),
                _ => {}
            }
        }
    }

    /// The checks made each time a cycle begins; see the module docs.
    fn check_cycle_entry(&mut self, ctx: &Ctx, g: u64) {
        if self.thread != Some(g) {
            self.track.violation(format!(
                "cycle on thread {g}, but the value's thread is {:?}",
                self.thread
            ));
        }
        if self.returned_stopping {
            self.track.violation(format!(
                "thread {g} began a cycle after its stop token was on at the end of the last one"
            ));
        }
        // Newer generation started => this one has been signalled (it was abandoned).
        let newest = self.track.newest.load(Ordering::SeqCst);
        if newest > g + 1 {
            self.world()
                .tally
                .superseded_cycles
                .fetch_add(1, Ordering::Relaxed);
            if !ctx.should_stop() {
                self.track.violation(format!(
                    "two live threads: thread {g} runs a cycle un-signalled while thread {} has started",
                    newest - 1
                ));
            }
        }
        // Older registered threads must be signalled and abandoned. Status first (see docs).
        let has_older = {
            let mut threads = self.track.threads.lock().unwrap();
            let rec = threads.entry(g).or_insert(ThreadRec { stop: None });
            if rec.stop.is_none() {
                rec.stop = Some(ctx.stopping().clone());
            }
            threads.range(..g).next().is_some()
        };
        if has_older {
            let abandoned = self.track.ops().map(|o| o.status().abandoned_threads);
            let threads = self.track.threads.lock().unwrap();
            let older: Vec<u64> = threads.range(..g).map(|(k, _)| *k).collect();
            for (h, rec) in threads.range(..g) {
                if rec.stop.as_ref().is_some_and(|s| !s.is_go()) {
                    self.track.violation(format!(
                        "two live threads: thread {g} runs a cycle while older thread {h} was never signalled"
                    ));
                }
            }
            if let Some(abandoned) = abandoned {
                if abandoned < older.len() {
                    self.track.violation(format!(
                        "thread {g} runs a cycle while older threads {older:?} are not ended, but only {abandoned} thread(s) are abandoned"
                    ));
                }
            }
        }
    }

    fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
        let g = generation(ctx.thread_name());
        self.check_cycle_entry(ctx, g);
        let result = self.cycle_body(ctx);
        // The runtime checks the token after this returns; it is monotonic.
        self.returned_stopping = ctx.should_stop();
        result
    }

    fn cycle_body(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
        let mut rng = self.world().rng();
        if self.world().calm() {
            ctx.sleep(rng.range_ms(1, 5));
            return Ok(());
        }
        let tally = &self.world().tally;
        match rng.below(10_000) {
            0..=29 => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                ctx.sleep(rng.range_ms(0, 2));
                return Err(LoopError::new("chaos: cycle failed"));
            }
            30..=44 => chaos_panic(self.world(), "cycle"),
            45..=74 => {
                tally.ctx_failures.fetch_add(1, Ordering::Relaxed);
                ctx.failure();
            }
            75..=89 => {
                tally.ctx_stops.fetch_add(1, Ordering::Relaxed);
                ctx.stop();
            }
            90..=114 => self.block(&mut rng),
            115..=129 => {
                if let Some(ops) = self.track.ops() {
                    tally.inside_calls.fetch_add(1, Ordering::Relaxed);
                    match rng.below(6) {
                        0 => {
                            if ops.start() {
                                self.track
                                    .violation("start from inside its own thread started".into());
                            }
                        }
                        1 => {
                            if ops.stop() {
                                self.track.violation(
                                    "stop from inside its own thread returned true".into(),
                                );
                            }
                        }
                        2 => {
                            if ops.hard_reset() {
                                self.track.violation(
                                    "hard_reset from inside its own thread started at once".into(),
                                );
                            }
                        }
                        3 => {
                            ops.failure();
                        }
                        4 => {
                            if !ops.status().alive && !ctx.should_stop() {
                                // Our own thread, not asked to stop, must be the live one —
                                // unless it was abandoned (then it is signalled).
                                self.track.violation(format!(
                                    "is_alive is false inside un-signalled thread {}",
                                    ctx.thread_name()
                                ));
                            }
                        }
                        _ => ops.reads(),
                    }
                }
            }
            130..=159 => self.lock_probe(&mut rng),
            _ => {}
        }
        ctx.sleep(rng.range_ms(1, 8));
        Ok(())
    }
}

impl Drop for Chaotic {
    fn drop(&mut self) {
        if self.started {
            self.track
                .violation("a value was dropped between on_start and on_stop".into());
        }
        if let Some(g) = self.thread {
            self.track
                .violation(format!("a value was dropped while thread {g} ran it"));
        }
    }
}

/// Declares a loop type around [`Chaotic`] with a hand-written `SuperLoop` impl (so that the
/// builder's whole range of options is available, zero grace included).
macro_rules! chaos_type {
    ($ty:ident, $config:expr) => {
        struct $ty(Chaotic);
        impl SuperLoop for $ty {
            const CONFIG: LoopConfig = $config;
            fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
                self.0.cycle(ctx)
            }
            fn on_start(&mut self) -> Result<bool, LoopError> {
                self.0.on_start()
            }
            fn on_stop(&mut self) {
                self.0.on_stop()
            }
            fn on_thread_start(&mut self) {
                self.0.on_thread_start()
            }
            fn on_thread_stop(&mut self) {
                self.0.on_thread_stop()
            }
        }
    };
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

chaos_type!(
    Brisk,
    LoopConfig::new("Brisk")
        .grace(ms(20))
        .max_failures(2)
        .stop_on_failure(true)
);
chaos_type!(
    Steady,
    LoopConfig::new("Steady").grace(ms(50)).max_failures(5)
);
chaos_type!(
    Loner,
    LoopConfig::new("Loner")
        .grace(ms(30))
        .max_failures(3)
        .reset_globally(false)
);
chaos_type!(
    Fragile,
    LoopConfig::new("Fragile")
        .grace(ms(25))
        .max_failures(0)
        .stop_on_failure(true)
);
chaos_type!(
    Windowed,
    LoopConfig::new("Windowed")
        .grace(ms(40))
        .max_failures(4)
        .within(ms(200))
);
chaos_type!(
    Patient,
    LoopConfig::new("Patient").grace(ms(400)).max_failures(10)
);
chaos_type!(
    Hasty,
    LoopConfig::new("Hasty")
        .grace(Duration::ZERO)
        .max_failures(3)
        .reset_globally(false)
);
chaos_type!(
    Small,
    LoopConfig::new("Small")
        .grace(ms(30))
        .max_failures(6)
        .stack_size(256 * 1024)
        .stop_on_failure(true)
);

// ---------------------------------------------------------------------------------------
// Building the tree.

struct Loop {
    ops: Arc<dyn Ops>,
    track: Arc<Track>,
}

fn add_loop<T: SuperLoop>(
    world: &Arc<World>,
    parent: &LoopController,
    label: String,
    from_fn: bool,
    wrap: fn(Chaotic) -> T,
) -> Loop {
    let track = Arc::new(Track {
        label,
        world: world.clone(),
        starts_allowed: AtomicU64::new(0),
        stops: AtomicU64::new(0),
        thread_starts_returned: AtomicU64::new(0),
        thread_stops: AtomicU64::new(0),
        threads: Mutex::new(BTreeMap::new()),
        newest: AtomicU64::new(0),
        handle: Mutex::new(None),
    });
    let handle: LoopHandle<T> = if from_fn {
        let t = track.clone();
        LoopHandle::from_fn(move || {
            let mut rng = t.world.rng();
            if !t.world.calm() && rng.below(1000) < 10 {
                chaos_panic(&t.world, "the factory");
            }
            wrap(Chaotic::new(t.clone()))
        })
    } else {
        LoopHandle::new(wrap(Chaotic::new(track.clone())))
    };
    parent.add(&handle);
    let ops: Arc<dyn Ops> = Arc::new(handle);
    *track.handle.lock().unwrap() = Some(ops.clone());
    Loop { ops, track }
}

fn add_random_loop(
    world: &Arc<World>,
    rng: &mut Rng,
    parent: &LoopController,
    where_: &str,
    i: usize,
) -> Loop {
    let from_fn = rng.below(10) < 4;
    let kind = rng.below(8);
    let label = format!("{where_}[{i}]{}", if from_fn { " (from_fn)" } else { "" });
    match kind {
        0 => add_loop(world, parent, format!("Brisk {label}"), from_fn, Brisk),
        1 => add_loop(world, parent, format!("Steady {label}"), from_fn, Steady),
        2 => add_loop(world, parent, format!("Loner {label}"), from_fn, Loner),
        3 => add_loop(world, parent, format!("Fragile {label}"), from_fn, Fragile),
        4 => add_loop(
            world,
            parent,
            format!("Windowed {label}"),
            from_fn,
            Windowed,
        ),
        5 => add_loop(world, parent, format!("Patient {label}"), from_fn, Patient),
        6 => add_loop(world, parent, format!("Hasty {label}"), from_fn, Hasty),
        _ => add_loop(world, parent, format!("Small {label}"), from_fn, Small),
    }
}

struct Tree {
    root: LoopController,
    /// Every controller, root first.
    controllers: Vec<LoopController>,
    loops: Vec<Loop>,
}

fn on_reset_chaos(world: &Arc<World>) -> impl Fn() + Send + Sync + 'static {
    let w = Arc::downgrade(world);
    move || {
        let Some(world) = w.upgrade() else { return };
        if world.calm() {
            return;
        }
        let mut rng = world.rng();
        world.probe_a_controller(&mut rng);
        if rng.below(100) < 5 {
            chaos_panic(&world, "on_reset");
        }
    }
}

/// Root (one_for_all) ─┬─ 16 loops
///                     ├─ MidA (one_for_one) ─┬─ 12 loops
///                     │                      └─ Leaf (rest_for_one, max_restarts 3/500ms) ─ 12 loops
///                     ├─ MidB (rest_for_one) ─ 16 loops
///                     └─ 8 loops
fn build_tree(world: &Arc<World>, rng: &mut Rng) -> Tree {
    let backoff = (ms(1), ms(20));
    let root = LoopController::new()
        .named("Root")
        .strategy(Strategy::OneForAll)
        .backoff(backoff.0, backoff.1)
        .on_reset(on_reset_chaos(world));
    let mid_a = LoopController::new()
        .named("MidA")
        .strategy(Strategy::OneForOne)
        .backoff(backoff.0, backoff.1)
        .on_reset(on_reset_chaos(world));
    let leaf = LoopController::new()
        .named("Leaf")
        .strategy(Strategy::RestForOne)
        .max_restarts(3, ms(500))
        .backoff(backoff.0, backoff.1);
    let mid_b = LoopController::new()
        .named("MidB")
        .strategy(Strategy::RestForOne)
        .backoff(backoff.0, backoff.1);

    let mut loops = Vec::new();
    for i in 0..16 {
        loops.push(add_random_loop(world, rng, &root, "Root", i));
    }
    for i in 0..12 {
        loops.push(add_random_loop(world, rng, &mid_a, "MidA", i));
    }
    for i in 0..12 {
        loops.push(add_random_loop(world, rng, &leaf, "Leaf", i));
    }
    mid_a.add(&leaf);
    root.add(&mid_a);
    for i in 0..16 {
        loops.push(add_random_loop(world, rng, &mid_b, "MidB", i));
    }
    root.add(&mid_b);
    for i in 16..24 {
        loops.push(add_random_loop(world, rng, &root, "Root", i));
    }
    let controllers = vec![root.clone(), mid_a, leaf, mid_b];
    *world.controllers.lock().unwrap() = controllers.clone();
    Tree {
        root,
        controllers,
        loops,
    }
}

// ---------------------------------------------------------------------------------------
// The watchdog.

/// Every loop, by label, for the watchdog's dump.
type DumpLoops = Arc<Mutex<Vec<(String, Arc<dyn Ops>)>>>;

struct Watch {
    /// Per caller: the call under way and when it began.
    slots: Vec<Mutex<Option<(String, Instant)>>>,
    done: AtomicBool,
}

impl Watch {
    fn call<R>(&self, slot: usize, what: impl FnOnce() -> String, f: impl FnOnce() -> R) -> R {
        *self.slots[slot].lock().unwrap() = Some((what(), Instant::now()));
        let r = f();
        *self.slots[slot].lock().unwrap() = None;
        r
    }
}

/// Names and states of the process's threads, from /proc.
fn thread_table() -> String {
    let mut out = String::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for task in dir.flatten() {
            let p = task.path();
            let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
            // Field 3 of stat, after the parenthesised name: the state letter.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or("?");
            let wchan = std::fs::read_to_string(p.join("wchan")).unwrap_or_default();
            out.push_str(&format!(
                "  {:>8} {:<16} {state} {wchan}\n",
                task.file_name().to_string_lossy(),
                comm.trim()
            ));
        }
    }
    out
}

/// With `SUPERLOOPS_SOAK_GDB=1` (and gdb installed): every thread's stack, printed by gdb
/// attached to this process, for a deadlock found by the watchdog.
fn backtraces_with_gdb() {
    if std::env::var_os("SUPERLOOPS_SOAK_GDB").is_none() {
        return;
    }
    let out = std::process::Command::new("gdb")
        .args(["-p", &std::process::id().to_string(), "-batch", "-nx"])
        .args(["-ex", "set pagination off", "-ex", "thread apply all bt"])
        .output();
    match out {
        Ok(out) => to_stderr(&format!(
            "== gdb: thread apply all bt ==\n{}",
            String::from_utf8_lossy(&out.stdout)
        )),
        Err(e) => to_stderr(&format!("SUPERLOOPS_SOAK_GDB: could not run gdb: {e}")),
    }
}

/// Writes straight to the process's stderr. Under `cargo test`, `eprintln!` from the test's
/// threads is captured and shown only when the test fails by panicking; the watchdog ends the
/// process with `exit` instead, which would discard its report.
fn to_stderr(text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.write_all(b"\n");
    let _ = err.flush();
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Every loop's status and every controller's health, collected on a helper thread (a
/// deadlocked lock would block the collector, not the watchdog).
fn dump(loops: &[(String, Arc<dyn Ops>)], controllers: &[LoopController]) -> String {
    let loops = loops.to_vec();
    let controllers = controllers.to_vec();
    let (tx, rx) = unbounded();
    thread::spawn(move || {
        for (label, ops) in &loops {
            let _ = tx.send(format!("{label}: {}\n", ops.status()));
        }
        for c in &controllers {
            let _ = tx.send(format!("{}\n", c.health()));
        }
        let _ = tx.send(String::from("<end>"));
    });
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match rx.recv_deadline(deadline) {
            Ok(s) if s == "<end>" => break,
            Ok(s) => out.push_str(&s),
            Err(_) => {
                out.push_str("<collecting statuses blocked: a lock is held>\n");
                break;
            }
        }
    }
    out
}

fn spawn_watchdog(
    watch: Arc<Watch>,
    seed: u64,
    loops: DumpLoops,
    controllers: Arc<Mutex<Vec<LoopController>>>,
) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("soak-watchdog".into())
        .spawn(move || {
            while !watch.done.load(Ordering::SeqCst) {
                thread::sleep(ms(100));
                for (i, slot) in watch.slots.iter().enumerate() {
                    let stuck = slot
                        .lock()
                        .unwrap()
                        .as_ref()
                        .filter(|(_, t)| t.elapsed() > CALL_BOUND)
                        .map(|(what, t)| (what.clone(), t.elapsed()));
                    if let Some((what, took)) = stuck {
                        let loops = loops.lock().unwrap().clone();
                        let controllers = controllers.lock().unwrap().clone();
                        to_stderr(&format!(
                            "\nDEADLOCK? caller {i}: `{what}` has not returned after {took:?} \
                             (seed {seed}; replay with SUPERLOOPS_SOAK_SEED={seed})\n\
                             == statuses ==\n{}\n== threads (tid, name, state, wchan) ==\n{}",
                            dump(&loops, &controllers),
                            thread_table()
                        ));
                        backtraces_with_gdb();
                        std::process::exit(101);
                    }
                }
            }
        })
        .expect("spawn the watchdog")
}

// ---------------------------------------------------------------------------------------
// The hammers.

fn hammer(
    id: usize,
    seed: u64,
    watch: &Watch,
    stop: &AtomicBool,
    loops: &[Loop],
    controllers: &[LoopController],
    world: &World,
) {
    let mut rng = Rng::new(seed ^ (0xA5A5_0000 + id as u64));
    rng.next();
    while !stop.load(Ordering::SeqCst) {
        world.tally.hammer_calls.fetch_add(1, Ordering::Relaxed);
        let roll = rng.below(1000);
        if roll < 900 {
            let i = rng.below(loops.len() as u64) as usize;
            let l = &loops[i];
            let label = &l.track.label;
            match roll {
                0..=279 => watch.call(id, || format!("{label}.start()"), || l.ops.start()),
                280..=459 => {
                    let clean = watch.call(id, || format!("{label}.stop()"), || l.ops.stop());
                    if !clean {
                        world.tally.unclean_stops.fetch_add(1, Ordering::Relaxed);
                    }
                    clean
                }
                460..=579 => watch.call(
                    id,
                    || format!("{label}.hard_reset()"),
                    || l.ops.hard_reset(),
                ),
                580..=819 => watch.call(id, || format!("{label}.failure()"), || l.ops.failure()),
                _ => watch.call(
                    id,
                    || format!("{label} reads"),
                    || {
                        l.ops.reads();
                        l.ops.status().alive
                    },
                ),
            };
        } else {
            let c = rng.pick(controllers);
            let name = c.health().name;
            match roll {
                900..=939 => watch.call(
                    id,
                    || format!("{name}.maintain_loops()"),
                    || c.maintain_loops(),
                ),
                940..=969 => watch.call(
                    id,
                    || format!("{name} health and lists"),
                    || {
                        let _ = (
                            c.health().to_string(),
                            c.alive_loops(),
                            c.stalled_loops(),
                            c.has_alive_loops(),
                            c.is_green(),
                            c.resets(),
                        );
                    },
                ),
                970..=984 => watch.call(
                    id,
                    || format!("{name}.stop_loops()"),
                    || {
                        c.stop_loops();
                    },
                ),
                985..=994 => watch.call(
                    id,
                    || format!("{name}.start()"),
                    || {
                        c.start();
                    },
                ),
                _ => watch.call(
                    id,
                    || format!("{name}.stop() then start()"),
                    || {
                        c.stop();
                        c.start();
                        c.maintain_loops();
                    },
                ),
            }
        }
        if rng.below(4) == 0 {
            thread::sleep(rng.range_ms(0, 3));
        }
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
    let baseline = thread_count();

    let (gate_tx, gate): (Sender<()>, Receiver<()>) = unbounded();
    let world = Arc::new(World {
        seed,
        draws: AtomicU64::new(0),
        calm: AtomicBool::new(false),
        gate,
        violations: Mutex::new(Vec::new()),
        tally: Tally::default(),
        controllers: Mutex::new(Vec::new()),
    });
    let mut rng = Rng::new(seed);
    let tree = build_tree(&world, &mut rng);
    *dump_loops.lock().unwrap() = tree
        .loops
        .iter()
        .map(|l| (l.track.label.clone(), l.ops.clone()))
        .collect();
    *dump_controllers.lock().unwrap() = tree.controllers.clone();
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
    thread::scope(|s| {
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
        for id in 0..4 {
            let (watch, stop, loops, controllers, world) = (
                &*watch,
                &stop_hammers,
                &tree.loops[..],
                &tree.controllers[..],
                &*world,
            );
            s.spawn(move || hammer(id, seed, watch, stop, loops, controllers, world));
        }
        thread::sleep(Duration::from_secs(secs));
        stop_hammers.store(true, Ordering::SeqCst);
    });
    let ran = started.elapsed();

    // The end: calm the chaos, let abandoned threads finish, stop everything.
    world.calm.store(true, Ordering::SeqCst);
    watch.call(
        final_slot,
        || "Root.stop() (first)".into(),
        || {
            tree.root.stop();
        },
    );
    let all_idle = || {
        tree.loops.iter().all(|l| {
            let st = l.ops.status();
            !st.alive && st.abandoned_threads == 0
        })
    };
    let idle = wait_until(SETTLE_BOUND, all_idle);
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

    let mut problems: Vec<String> = world.violations.lock().unwrap().clone();
    let seen = problems.len();
    if let Some(not_idle) = not_idle {
        problems.push(format!(
            "threads still alive or abandoned {SETTLE_BOUND:?} after the stop\n{not_idle}"
        ));
    }
    if !clean {
        problems.push("the final Root.stop() returned false with every thread idle".into());
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

    // Drop everything: break the reference cycles, then the tree. Values are dropped here
    // (their Drop checks pairing once more).
    world.controllers.lock().unwrap().clear();
    dump_loops.lock().unwrap().clear();
    dump_controllers.lock().unwrap().clear();
    for l in &tree.loops {
        l.track.handle.lock().unwrap().take();
    }
    watch.call(final_slot, || "dropping the tree".into(), || drop(tree));
    problems.extend(world.violations.lock().unwrap()[seen..].iter().cloned());

    let back = wait_until(SETTLE_BOUND, || thread_count() <= baseline);
    if !back {
        problems.push(format!(
            "{} threads now, {baseline} before the tree was built:\n{}",
            thread_count(),
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
    if thread_starts < 2 * 64 || resets == 0 {
        problems.push(format!(
            "too little happened to prove anything: {thread_starts} threads, {resets} resets"
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
