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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use superloops::channel::{unbounded, Receiver, Sender};
use superloops::prelude::*;
use superloops::{LoopConfig, LoopError, SpawnError, SuperLoop};

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
    // Supervised tasks.
    tasks_spawned: AtomicU64,
    /// `ThreadLimitReached` from a controller that does not queue.
    tasks_refused: AtomicU64,
    /// `SpawnError::Spawn`: the OS would not create the thread.
    tasks_os_refused: AtomicU64,
    /// Spawns skipped because [`MAX_LIVE_TASKS`] tasks were live.
    tasks_skipped: AtomicU64,
    task_joins: AtomicU64,
    task_releases: AtomicU64,
    task_drops: AtomicU64,
    joined_ok: AtomicU64,
    joined_failed: AtomicU64,
    joined_panicked: AtomicU64,
    joined_cancelled: AtomicU64,
    /// Sleeping tasks that ended because they were stopped, or because their bound passed.
    tasks_stopped: AtomicU64,
    tasks_slept_out: AtomicU64,
    /// Tasks that went on past the task grace after their stop.
    tasks_blocked_past_grace: AtomicU64,
    /// Peak of tasks inside their bodies on one controller, in excess of its `max_threads`,
    /// excused because the excess had been stopped `task_grace` before.
    task_excused_overlaps: AtomicU64,
    // Timers.
    timer_arms: AtomicU64,
    timer_waits: AtomicU64,
    timers_fired: AtomicU64,
    /// The latest a `Signal::after` fired after its deadline, in microseconds.
    timer_max_late_us: AtomicU64,
    /// Cycles of loops with a `cycle_timeout` that slept past it on purpose.
    slow_cycles: AtomicU64,
    /// `Signal::after(d).then(|| loop.stop())` armed by the hammers, and those whose callback
    /// has returned.
    timer_stops_armed: AtomicU64,
    timer_stops_done: Arc<AtomicU64>,
    /// Chains (`stop | x | …`, some links `& on`) built from a cycle's stop token while the
    /// hammers stop its loop.
    chains_built: AtomicU64,
    chains_on: AtomicU64,
    /// Hooks that called a sibling loop or a controller; stop-token callbacks registered to
    /// stop a sibling.
    sibling_calls: AtomicU64,
    stop_callbacks: AtomicU64,
    /// Tasks that stopped their own controller.
    tasks_stopping_controller: AtomicU64,
    /// Loops removed from their controller (and added back, the last of its members).
    removals: AtomicU64,
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
    /// Task closures not yet dropped (queued, running, or refused and not yet dropped).
    tasks_live: AtomicUsize,
    next_task: AtomicU64,
    /// The timers whose `then` stops a loop, held until they have fired (a timer nobody
    /// holds is forgotten, its callback with it).
    timer_stops: Mutex<Vec<Signal>>,
    /// Every loop of the tree, for hooks and stop-token callbacks that call a sibling.
    /// Cleared at the end (a reference cycle, like `controllers`).
    loops: Mutex<Vec<Arc<dyn Ops>>>,
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

    /// From a hook, which may run on a user's thread inside `stop`/`start` or on a supervisor
    /// thread inside a reset: calls a random sibling (`stop`, `failure`, its status) or a
    /// random controller (`stop_loops`, `health`, `is_green`). Every such call must return
    /// (the watchdog reports a hang of the call that ran the hook, or of the final stop).
    fn call_a_sibling(&self, rng: &mut Rng) {
        self.tally.sibling_calls.fetch_add(1, Ordering::Relaxed);
        if rng.below(4) == 0 {
            let c = {
                let cs = self.controllers.lock().unwrap();
                if cs.is_empty() {
                    return;
                }
                cs[rng.below(cs.len() as u64) as usize].clone()
            };
            match rng.below(3) {
                0 => {
                    c.stop_loops();
                }
                1 => {
                    let _ = c.is_green();
                }
                _ => {
                    let _ = c.health().to_string();
                }
            }
            return;
        }
        let Some(sibling) = self.random_loop(rng) else {
            return;
        };
        match rng.below(3) {
            0 => {
                sibling.stop();
            }
            1 => {
                sibling.failure();
            }
            _ => {
                let _ = sibling.status();
            }
        }
    }

    fn random_loop(&self, rng: &mut Rng) -> Option<Arc<dyn Ops>> {
        let loops = self.loops.lock().unwrap();
        (!loops.is_empty()).then(|| loops[rng.below(loops.len() as u64) as usize].clone())
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
    fn remove_from(&self, c: &LoopController) -> bool;
    fn add_to(&self, c: &LoopController);
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
    fn remove_from(&self, c: &LoopController) -> bool {
        c.remove(self)
    }
    fn add_to(&self, c: &LoopController) {
        c.add(self);
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
    /// The type's `cycle_timeout`.
    cycle_timeout: Option<Duration>,
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
    /// This thread's timer, combined with its stop token (see [`ThreadTimer`]).
    timer: Option<ThreadTimer>,
}

impl Chaotic {
    fn new(track: Arc<Track>) -> Self {
        Chaotic {
            track,
            started: false,
            thread: None,
            last_thread: None,
            returned_stopping: false,
            timer: None,
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
            if rng.below(100) < 3 {
                self.world().call_a_sibling(&mut rng);
            }
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
            if rng.below(100) < 3 {
                self.world().call_a_sibling(&mut rng);
            }
            if rng.below(1000) < 20 {
                chaos_panic(self.world(), "on_stop");
            }
        }
    }

    fn on_thread_start(&mut self) {
        let began = Instant::now();
        let g = current_generation();
        self.timer = None;
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
        self.check_no_stall_before_first_cycle(began);
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
        self.timer = None;
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

    /// A `cycle_timeout` watches cycles: a thread that has begun none, still in
    /// `on_thread_start` however long that takes, must not be reported stalled.
    fn check_no_stall_before_first_cycle(&self, began: Instant) {
        let Some(timeout) = self.track.cycle_timeout else {
            return;
        };
        let took = began.elapsed();
        if took < timeout {
            return;
        }
        let Some(ops) = self.track.ops() else { return };
        let st = ops.status();
        let me = thread::current().name().map(str::to_owned);
        // `thread_name` is ours: we are the loop's current thread, and `status` reports our
        // stall only, whose cycle count is still 0.
        if st.thread_name == me && st.state == LoopState::Stalled && st.cycles == 0 {
            self.track.violation(format!(
                "thread {} reported stalled before its first cycle, in on_thread_start \
                 (which has run {took:?}; cycle_timeout {timeout:?}): {st}",
                me.unwrap_or_default()
            ));
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
            200..=299 => self.chain_from_stop(ctx, &mut rng),
            300..=329 => {
                // A stop-token callback that stops a sibling: it runs on whatever thread stops
                // this loop (a hammer, a supervisor in a reset, a timer's callback thread).
                if let Some(sibling) = self.world().random_loop(&mut rng) {
                    tally.stop_callbacks.fetch_add(1, Ordering::Relaxed);
                    ctx.stopping().then(move || {
                        sibling.stop();
                    });
                }
            }
            160..=199 => {
                // A slow call that heeds stop: past the cycle_timeout, a stall to report.
                if let Some(timeout) = self.track.cycle_timeout {
                    tally.slow_cycles.fetch_add(1, Ordering::Relaxed);
                    ctx.sleep(timeout + rng.range_ms(5, 40));
                }
            }
            _ => {}
        }
        if rng.below(4) == 0 {
            self.timed_wait(ctx, &mut rng);
        } else {
            ctx.sleep(rng.range_ms(1, 8));
        }
        Ok(())
    }

    /// Builds a chain from this thread's stop token while the hammers (and resets, and timer
    /// callbacks) stop the loop: `stop | x | x & on | …`, where each `x` never goes on and
    /// `on` already is. It goes on exactly when the stop does, so whenever it reads on, the
    /// stop must read on too (read in that order: a combination never reads on before what
    /// makes it on).
    fn chain_from_stop(&self, ctx: &Ctx, rng: &mut Rng) {
        let tally = &self.world().tally;
        tally.chains_built.fetch_add(1, Ordering::Relaxed);
        let on = Signal::new();
        on.go();
        let mut chain = ctx.stopping().clone();
        for _ in 0..1 + rng.below(48) {
            chain = if rng.below(3) == 0 {
                chain & on.clone()
            } else {
                chain | Signal::new()
            };
            if chain.is_go() {
                break;
            }
        }
        // Then wait on it a moment, as a cycle would: a stop meanwhile wakes it through every
        // link.
        chain.wait_timeout(rng.range_ms(0, 6));
        if chain.is_go() {
            tally.chains_on.fetch_add(1, Ordering::Relaxed);
            if !ctx.should_stop() {
                self.track.violation(format!(
                    "a chain built from {}'s stop token read on while the token read off",
                    ctx.thread_name()
                ));
            }
        }
    }

    /// Waits a few milliseconds on this thread's `stop | timer` (or `stop & timer`), armed
    /// once and renewed only once its timer has fired, and checks what woke it.
    fn timed_wait(&mut self, ctx: &Ctx, rng: &mut Rng) {
        let track = self.track.clone();
        let world = &track.world;
        let timer = self
            .timer
            .get_or_insert_with(|| ThreadTimer::arm(ctx.stopping(), rng, world, &track.label));
        let wait = rng.range_ms(1, 8);
        if rng.below(4) == 0 {
            timer.both.wait_timeout(wait);
        } else {
            timer.either.wait_timeout(wait);
        }
        world.tally.timer_waits.fetch_add(1, Ordering::Relaxed);
        if timer.check(ctx.stopping(), world, &track.label) {
            world.tally.timers_fired.fetch_add(1, Ordering::Relaxed);
            self.timer = None;
        }
    }
}

/// A timer still off this long after its deadline has been lost.
const TIMER_LOST: Duration = Duration::from_secs(10);

/// A thread's timer: `stop | after(d)` and `stop & after(d_both)`, made once.
struct ThreadTimer {
    armed: Instant,
    d: Duration,
    d_both: Duration,
    either: Signal,
    both: Signal,
}

impl ThreadTimer {
    fn arm(stop: &Signal, rng: &mut Rng, world: &Arc<World>, label: &str) -> Self {
        world.tally.timer_arms.fetch_add(1, Ordering::Relaxed);
        let (d, d_both) = (rng.range_ms(2, 60), rng.range_ms(2, 60));
        let armed = Instant::now();
        let after = timer_checked(d, world, label);
        ThreadTimer {
            armed,
            d,
            d_both,
            either: stop.clone() | after,
            both: stop.clone() & timer_checked(d_both, world, label),
        }
    }

    /// Checks the signals against the clock; true when the timer (not the stop) woke `either`.
    fn check(&self, stop: &Signal, world: &World, label: &str) -> bool {
        let before = Instant::now();
        // Combined first, stop second: `go` sets the stop flag before it fires the links, so
        // a combination on because of the stop is seen with the stop on.
        let either = self.either.is_go();
        let both = self.both.is_go();
        let stopping = stop.is_go();
        let after = Instant::now();
        if either && !stopping && after < self.armed + self.d {
            world.violation(format!(
                "{label}: stop | Signal::after({:?}) went on after {:?}, with no stop",
                self.d,
                after - self.armed
            ));
        }
        if both && (!stopping || after < self.armed + self.d_both) {
            world.violation(format!(
                "{label}: stop & Signal::after({:?}) went on after {:?}, stop {}",
                self.d_both,
                after - self.armed,
                if stopping { "on" } else { "off" }
            ));
        }
        if !either && !stopping && before > self.armed + self.d + TIMER_LOST {
            world.violation(format!(
                "{label}: Signal::after({:?}) still off {:?} after it was made",
                self.d,
                before - self.armed
            ));
        }
        either && !stopping
    }
}

/// `Signal::after(d)`, checked on the timer thread when it fires: never before its deadline.
/// Records how late it fired.
fn timer_checked(d: Duration, world: &Arc<World>, label: &str) -> Signal {
    let made = Instant::now();
    let timer = Signal::after(d);
    let (w, label) = (Arc::downgrade(world), label.to_owned());
    timer.then(move || {
        let Some(world) = w.upgrade() else { return };
        let took = made.elapsed();
        if took < d {
            world.violation(format!(
                "{label}: Signal::after({d:?}) went on after {took:?}"
            ));
        }
        let late = took.saturating_sub(d).as_micros() as u64;
        world
            .tally
            .timer_max_late_us
            .fetch_max(late, Ordering::Relaxed);
    });
    timer
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
// The chaos's blocked cycles (10–250 ms) run past these timeouts: stalls are reported.
chaos_type!(
    Watched,
    LoopConfig::new("Watched")
        .grace(ms(60))
        .max_failures(6)
        .cycle_timeout(ms(40))
);
chaos_type!(
    Sentinel,
    LoopConfig::new("Sentinel")
        .grace(ms(30))
        .max_failures(3)
        .within(ms(300))
        .reset_globally(false)
        .cycle_timeout(ms(25))
);

// ---------------------------------------------------------------------------------------
// Building the tree.

struct Loop {
    ops: Arc<dyn Ops>,
    track: Arc<Track>,
    /// Its controller, and a lock that makes a removal and its adding back one step (two
    /// hammers must not add it twice).
    parent: LoopController,
    membership: Arc<Mutex<()>>,
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
        cycle_timeout: T::CONFIG.cycle_timeout,
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
    Loop {
        ops,
        track,
        parent: parent.clone(),
        membership: Arc::default(),
    }
}

fn add_random_loop(
    world: &Arc<World>,
    rng: &mut Rng,
    parent: &LoopController,
    where_: &str,
    i: usize,
) -> Loop {
    let from_fn = rng.below(10) < 4;
    let kind = rng.below(10);
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
        7 => add_loop(world, parent, format!("Small {label}"), from_fn, Small),
        8 => add_loop(world, parent, format!("Watched {label}"), from_fn, Watched),
        _ => add_loop(
            world,
            parent,
            format!("Sentinel {label}"),
            from_fn,
            Sentinel,
        ),
    }
}

struct Tree {
    root: LoopController,
    /// Every controller, root first.
    controllers: Vec<LoopController>,
    /// Each controller's task settings and tasks, in the same order.
    pools: Vec<Arc<TaskPool>>,
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
///
/// Two controllers (every other one, from a random first) queue tasks past `max_threads`;
/// the other two refuse them.
fn build_tree(world: &Arc<World>, rng: &mut Rng) -> Tree {
    let backoff = (ms(1), ms(20));
    let first_queue = rng.below(2);
    let pools: Vec<Arc<TaskPool>> = ["Root", "MidA", "Leaf", "MidB"]
        .iter()
        .zip(0..)
        .map(|(name, i)| Arc::new(TaskPool::random(name, i % 2 == first_queue, rng)))
        .collect();
    let root = pools[0]
        .apply(LoopController::new())
        .named("Root")
        .strategy(Strategy::OneForAll)
        .backoff(backoff.0, backoff.1)
        .on_reset(on_reset_chaos(world));
    let mid_a = pools[1]
        .apply(LoopController::new())
        .named("MidA")
        .strategy(Strategy::OneForOne)
        .backoff(backoff.0, backoff.1)
        .on_reset(on_reset_chaos(world));
    let leaf = pools[2]
        .apply(LoopController::new())
        .named("Leaf")
        .strategy(Strategy::RestForOne)
        .max_restarts(3, ms(500))
        .backoff(backoff.0, backoff.1);
    let mid_b = pools[3]
        .apply(LoopController::new())
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
        pools,
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

/// The crate's process-wide threads, started on first use and never ended.
const PERMANENT_THREADS: [&str; 2] = ["superloops-timer", "superloops-watchdog"];

/// How many threads of the process run under each of [`PERMANENT_THREADS`]' names (as
/// `/proc` shows them: cut to 15 bytes).
fn permanent_threads() -> [usize; 2] {
    let mut counts = [0; 2];
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for task in dir.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            for (count, name) in counts.iter_mut().zip(PERMANENT_THREADS) {
                if comm.trim_end() == &name[..name.len().min(15)] {
                    *count += 1;
                }
            }
        }
    }
    counts
}

/// The process's threads, apart from the crate's permanent ones.
fn transient_thread_count() -> usize {
    thread_count() - permanent_threads().iter().sum::<usize>()
}

// ---------------------------------------------------------------------------------------
// Runtime events the soak counts: a `tracing` subscriber that sees only the runtime's warnings.

static STALL_REPORTS: AtomicU64 = AtomicU64::new(0);
/// The warnings the subscriber saw apart from those it counts, and the panics it threw.
static SUBSCRIBER_EVENTS: AtomicU64 = AtomicU64::new(0);
static SUBSCRIBER_PANICS: AtomicU64 = AtomicU64::new(0);
static TASKS_ABANDONED: AtomicU64 = AtomicU64::new(0);

struct EventCounter;

impl EventCounter {
    fn wants(m: &tracing::Metadata<'_>) -> bool {
        m.is_event() && *m.level() == tracing::Level::WARN && m.target().starts_with("superloops")
    }
}

impl tracing::Subscriber for EventCounter {
    fn register_callsite(
        &self,
        m: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if Self::wants(m) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        Self::wants(m)
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::WARN)
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        if m.0.starts_with("Cycle stalled") {
            STALL_REPORTS.fetch_add(1, Ordering::Relaxed);
        } else if m.0.starts_with("Task abandoned") {
            TASKS_ABANDONED.fetch_add(1, Ordering::Relaxed);
        } else if SUBSCRIBER_EVENTS.fetch_add(1, Ordering::Relaxed) % 97 == 96 {
            // A "fail on warnings" test subscriber: the runtime must contain its panic (drop
            // the event, change no state) wherever it emits one.
            SUBSCRIBER_PANICS.fetch_add(1, Ordering::Relaxed);
            panic!("chaos: the subscriber panicked on {:?}", m.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Installs [`EventCounter`] as the process's subscriber, once; false if another one is.
fn count_runtime_events() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(EventCounter).is_ok())
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
            let _ = tx.send(format!(
                "{} (running_tasks {})\n",
                c.health(),
                c.running_tasks()
            ));
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
// Supervised tasks.

/// At most this many task closures live at once (queued, running, not yet dropped): bounds
/// the queues, and so how long a join may wait for a slot (well under [`CALL_BOUND`]).
const MAX_LIVE_TASKS: usize = 24;

/// A controller's task settings, and the tasks inside their bodies on it.
struct TaskPool {
    name: String,
    max: usize,
    queue: bool,
    grace: Duration,
    /// Tasks inside their body, by id: when its stop token went on, once it has.
    in_body: Mutex<BTreeMap<u64, Arc<Mutex<Option<Instant>>>>>,
    peak: AtomicUsize,
}

impl TaskPool {
    fn random(name: &str, queue: bool, rng: &mut Rng) -> Self {
        TaskPool {
            name: name.to_owned(),
            max: 1 + rng.below(3) as usize + usize::from(queue),
            queue,
            grace: rng.range_ms(10, 50),
            in_body: Mutex::new(BTreeMap::new()),
            peak: AtomicUsize::new(0),
        }
    }

    /// Builds `controller` with these settings.
    fn apply(&self, controller: LoopController) -> LoopController {
        let c = controller.max_threads(self.max).task_grace(self.grace);
        if self.queue {
            c.queue_tasks()
        } else {
            c
        }
    }

    /// A task's body begins: registers it and checks `max_threads` (see the module docs).
    fn enter(self: &Arc<Self>, world: &World, id: u64, stop: &Signal) -> InBody {
        let stopped_at = Arc::new(Mutex::new(None));
        {
            let at = stopped_at.clone();
            // On the stopping thread, before the grace deadline is taken (or here, now, if
            // the stop came first: later than the truth, so never excusing too early).
            stop.then(move || *at.lock().unwrap() = Some(Instant::now()));
        }
        let mut in_body = self.in_body.lock().unwrap();
        in_body.insert(id, stopped_at);
        let n = in_body.len();
        self.peak.fetch_max(n, Ordering::Relaxed);
        if n > self.max {
            let stopped: Vec<Duration> = in_body
                .iter()
                .filter(|(k, _)| **k != id)
                .filter_map(|(_, at)| at.lock().unwrap().map(|t| t.elapsed()))
                .collect();
            let excused = stopped.iter().filter(|&&t| t >= self.grace).count();
            if n - excused > self.max {
                world.violation(format!(
                    "{}: {n} tasks inside their bodies at once, max_threads {}; {} of the \
                     others had been stopped (for {stopped:.1?}), {excused} of them at least \
                     the task grace ({:?}) before (abandonable)",
                    self.name,
                    self.max,
                    stopped.len(),
                    self.grace
                ));
            } else {
                world
                    .tally
                    .task_excused_overlaps
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        InBody {
            pool: self.clone(),
            id,
        }
    }

    /// Tasks inside their body whose stop token is still off.
    fn unsignalled(&self) -> Vec<u64> {
        self.in_body
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, at)| at.lock().unwrap().is_none())
            .map(|(k, _)| *k)
            .collect()
    }
}

/// A task inside its body; unregisters on drop (also when the body panics).
struct InBody {
    pool: Arc<TaskPool>,
    id: u64,
}

impl Drop for InBody {
    fn drop(&mut self) {
        self.pool.in_body.lock().unwrap().remove(&self.id);
    }
}

/// Counts a task closure as live until it is dropped: run, cancelled, or refused.
struct Live(Arc<World>);

impl Live {
    fn new(world: &Arc<World>) -> Self {
        world.tasks_live.fetch_add(1, Ordering::SeqCst);
        Live(world.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.tasks_live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a task's body does, chosen by the hammer's RNG.
#[derive(Clone, Copy, Debug)]
enum TaskPlan {
    Return,
    Fail,
    Panic,
    CtxFailure,
    /// Sleeps on the context until stopped (`ctx.sleep`, or waiting on
    /// `ctx.stopping() | Signal::after(bound)`); `bound` keeps joins bounded.
    Sleep {
        bound: Duration,
        combined: bool,
    },
    /// Waits for its stop (at most `bound`), then goes on for the task grace and `past`.
    Block {
        bound: Duration,
        past: Duration,
    },
    /// Stops its own controller (`stop_with_report`), then returns: the stop must not wait
    /// for the calling task, and its report names it as ending, never stopped or abandoned.
    StopsController,
}

impl TaskPlan {
    fn random(rng: &mut Rng) -> Self {
        match rng.below(100) {
            0..=29 => TaskPlan::Return,
            30..=41 => TaskPlan::Fail,
            42..=53 => TaskPlan::Panic,
            54..=63 => TaskPlan::CtxFailure,
            64..=65 => TaskPlan::StopsController,
            66..=87 => TaskPlan::Sleep {
                bound: rng.range_ms(100, 1000),
                combined: rng.below(2) == 0,
            },
            _ => TaskPlan::Block {
                bound: rng.range_ms(100, 1000),
                past: rng.range_ms(10, 100),
            },
        }
    }

    /// Ends on its own soon: a join need not stop it first.
    fn is_quick(self) -> bool {
        !matches!(self, TaskPlan::Sleep { .. } | TaskPlan::Block { .. })
    }
}

/// A task's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TaskValue {
    Done(u64),
    Slept { stopped: bool },
    Blocked { stopped: bool },
}

/// What a task's body chose to end with.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Chosen {
    Value(TaskValue),
    Failed(String),
    Panicked(String),
}

/// Shared by a task's body and whoever holds its handle.
struct TaskProbe {
    id: u64,
    name: String,
    plan: TaskPlan,
    /// Its controller, for a task that stops it.
    controller: LoopController,
    pool: Arc<TaskPool>,
    began: AtomicBool,
    chosen: Mutex<Option<Chosen>>,
}

impl TaskProbe {
    fn choose(&self, c: Chosen) {
        *self.chosen.lock().unwrap() = Some(c);
    }
}

fn task_body(world: &World, probe: &TaskProbe, ctx: &Ctx) -> Result<TaskValue, String> {
    probe.began.store(true, Ordering::SeqCst);
    if thread::current().name() != Some(probe.name.as_str()) || ctx.thread_name() != probe.name {
        world.violation(format!(
            "task {} runs on thread {:?} (ctx: {:?})",
            probe.name,
            thread::current().name(),
            ctx.thread_name()
        ));
    }
    let _in_body = probe.pool.enter(world, probe.id, ctx.stopping());
    let tally = &world.tally;
    let id = probe.id;
    let value = match probe.plan {
        TaskPlan::Return => {
            ctx.sleep(ms(id % 3));
            TaskValue::Done(id)
        }
        TaskPlan::Fail => {
            let message = format!("chaos: task {id} failed");
            probe.choose(Chosen::Failed(message.clone()));
            return Err(message);
        }
        TaskPlan::Panic => {
            tally.panics.fetch_add(1, Ordering::Relaxed);
            let message = format!("chaos: planned panic in task {id}");
            probe.choose(Chosen::Panicked(message.clone()));
            std::panic::panic_any(message);
        }
        TaskPlan::CtxFailure => {
            tally.ctx_failures.fetch_add(1, Ordering::Relaxed);
            ctx.failure();
            TaskValue::Done(id)
        }
        TaskPlan::StopsController => {
            tally
                .tasks_stopping_controller
                .fetch_add(1, Ordering::Relaxed);
            let report = probe.controller.stop_with_report();
            if report.stopped.contains(&probe.name) || report.abandoned.contains(&probe.name) {
                world.violation(format!(
                    "task {} stopped its own controller, and the report says it was stopped or \
                     abandoned: {report:?}",
                    probe.name
                ));
            }
            TaskValue::Done(id)
        }
        TaskPlan::Sleep { bound, combined } => {
            let began = Instant::now();
            let stopped = if combined {
                // One combination for the task's whole life.
                let wake = ctx.stopping().clone() | Signal::after(bound);
                wake.wait();
                ctx.should_stop()
            } else {
                !ctx.sleep(bound)
            };
            if stopped {
                tally.tasks_stopped.fetch_add(1, Ordering::Relaxed);
            } else {
                tally.tasks_slept_out.fetch_add(1, Ordering::Relaxed);
                if began.elapsed() < bound {
                    world.violation(format!(
                        "task {}: woke after {:?} of a {bound:?} sleep without a stop \
                         (combined: {combined})",
                        probe.name,
                        began.elapsed()
                    ));
                }
            }
            TaskValue::Slept { stopped }
        }
        TaskPlan::Block { bound, past } => {
            let stopped = ctx.stopping().wait_timeout(bound);
            if stopped {
                tally
                    .tasks_blocked_past_grace
                    .fetch_add(1, Ordering::Relaxed);
                // Ignores the stop: past the grace, the controller abandons it.
                thread::sleep(probe.pool.grace + past);
            }
            TaskValue::Blocked { stopped }
        }
    };
    probe.choose(Chosen::Value(value));
    Ok(value)
}

/// A task handle a hammer keeps, to join later.
struct Held {
    handle: TaskHandle<TaskValue>,
    probe: Arc<TaskProbe>,
}

impl Held {
    /// Joins it (a watched call), first asking it to stop if it would not end on its own
    /// soon (or at random), and checks the outcome.
    fn join(self, world: &World, watch: &Watch, slot: usize, rng: &mut Rng) {
        if (!self.probe.plan.is_quick() && rng.below(4) != 0) || rng.below(20) == 0 {
            self.handle.stop();
        }
        let name = self.handle.name().to_owned();
        let result = watch.call(slot, || format!("{name}.join()"), || self.handle.join());
        world.tally.task_joins.fetch_add(1, Ordering::Relaxed);
        check_outcome(world, &self.probe, result);
    }

    /// Joins, releases or drops it.
    fn finish(self, world: &World, watch: &Watch, slot: usize, rng: &mut Rng) {
        match rng.below(10) {
            0..=5 => self.join(world, watch, slot, rng),
            6..=7 => {
                world.tally.task_releases.fetch_add(1, Ordering::Relaxed);
                self.handle.release();
            }
            _ => {
                world.tally.task_drops.fetch_add(1, Ordering::Relaxed);
                drop(self);
            }
        }
    }
}

/// `join` returned what the body chose; `Cancelled` only if it never began, on a queue.
fn check_outcome(world: &World, probe: &TaskProbe, result: Result<TaskValue, TaskError>) {
    let chosen = probe.chosen.lock().unwrap().clone();
    let began = probe.began.load(Ordering::SeqCst);
    let name = probe.name.as_str();
    let tally = &world.tally;
    let fine = match (&result, &chosen) {
        (Ok(v), Some(Chosen::Value(c))) if v == c => {
            tally.joined_ok.fetch_add(1, Ordering::Relaxed);
            true
        }
        (Err(e @ TaskError::Failed { task, message }), Some(Chosen::Failed(c))) => {
            tally.joined_failed.fetch_add(1, Ordering::Relaxed);
            task == name && message == c && e.to_string().contains(c.as_str())
        }
        (Err(e @ TaskError::Panicked { task, message }), Some(Chosen::Panicked(c))) => {
            tally.joined_panicked.fetch_add(1, Ordering::Relaxed);
            task == name && message == c && e.to_string().contains(c.as_str())
        }
        (Err(TaskError::Cancelled { task }), None) => {
            tally.joined_cancelled.fetch_add(1, Ordering::Relaxed);
            task == name && !began && probe.pool.queue
        }
        _ => false,
    };
    if !fine {
        world.violation(format!(
            "task {name} ({:?} on {}, queue {}): join returned {result:?}, but its body {}",
            probe.plan,
            probe.pool.name,
            probe.pool.queue,
            match (&chosen, began) {
                (Some(c), _) => format!("chose {c:?}"),
                (None, true) => "began and chose nothing yet".to_owned(),
                (None, false) => "never began".to_owned(),
            }
        ));
    }
}

/// One hammer task operation: finish a kept handle, or spawn a task on a random controller.
#[allow(clippy::too_many_arguments)]
fn task_op(
    id: usize,
    rng: &mut Rng,
    watch: &Watch,
    controllers: &[LoopController],
    pools: &[Arc<TaskPool>],
    world: &Arc<World>,
    held: &mut Vec<Held>,
) {
    const KEEP: usize = 6;
    if !held.is_empty() && rng.below(4) == 0 {
        let i = rng.below(held.len() as u64) as usize;
        held.swap_remove(i).finish(world, watch, id, rng);
        return;
    }
    if world.tasks_live.load(Ordering::SeqCst) >= MAX_LIVE_TASKS {
        world.tally.tasks_skipped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let i = rng.below(controllers.len() as u64) as usize;
    let (c, pool) = (&controllers[i], &pools[i]);
    let n = world.next_task.fetch_add(1, Ordering::Relaxed);
    let probe = Arc::new(TaskProbe {
        id: n,
        name: format!("task{n}"),
        plan: TaskPlan::random(rng),
        controller: c.clone(),
        pool: pool.clone(),
        began: AtomicBool::new(false),
        chosen: Mutex::new(None),
    });
    let body = {
        let (live, probe, world) = (Live::new(world), probe.clone(), world.clone());
        move |ctx: &Ctx| {
            let _live = live;
            task_body(&world, &probe, ctx)
        }
    };
    let spawned = watch.call(
        id,
        || format!("{}.spawn_task({})", pool.name, probe.name),
        || c.spawn_task(probe.name.clone(), body),
    );
    match spawned {
        Ok(handle) => {
            world.tally.tasks_spawned.fetch_add(1, Ordering::Relaxed);
            let h = Held { handle, probe };
            if rng.below(10) < 4 {
                h.join(world, watch, id, rng);
            } else if held.len() < KEEP && rng.below(2) == 0 {
                held.push(h);
            } else {
                h.finish(world, watch, id, rng);
            }
        }
        Err(SpawnError::ThreadLimitReached { max }) => {
            world.tally.tasks_refused.fetch_add(1, Ordering::Relaxed);
            if pool.queue || max != pool.max {
                world.violation(format!(
                    "{}: spawn_task refused with ThreadLimitReached {{ max: {max} }}, but the \
                     controller has max_threads {} and queue {}",
                    pool.name, pool.max, pool.queue
                ));
            }
        }
        Err(SpawnError::Spawn(e)) => {
            world.tally.tasks_os_refused.fetch_add(1, Ordering::Relaxed);
            eprintln!(
                "soak: the OS would not create task thread {}: {e}",
                probe.name
            );
        }
        Err(e) => world.violation(format!("spawn_task({}) failed: {e}", probe.name)),
    }
}

// ---------------------------------------------------------------------------------------
// The hammers.

/// Hammers until `stop`; returns the task handles it still keeps.
fn hammer(
    id: usize,
    seed: u64,
    watch: &Watch,
    stop: &AtomicBool,
    tree: &Tree,
    world: &Arc<World>,
) -> Vec<Held> {
    let (loops, controllers) = (&tree.loops[..], &tree.controllers[..]);
    let mut held = Vec::new();
    let mut rng = Rng::new(seed ^ (0xA5A5_0000 + id as u64));
    rng.next();
    while !stop.load(Ordering::SeqCst) {
        world.tally.hammer_calls.fetch_add(1, Ordering::Relaxed);
        let roll = rng.below(1000);
        if rng.below(100) < 2 {
            arm_timer_stop(&mut rng, loops, world);
        } else if rng.below(100) < 2 {
            remove_and_add_back(id, &mut rng, watch, loops, world);
        } else if rng.below(100) < 5 {
            task_op(
                id,
                &mut rng,
                watch,
                controllers,
                &tree.pools,
                world,
                &mut held,
            );
        } else if roll < 900 {
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
                940..=969 => {
                    let running = watch.call(
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
                            c.running_tasks()
                        },
                    );
                    let pool = tree
                        .pools
                        .iter()
                        .find(|p| p.name == name)
                        .expect("every controller has a pool");
                    if running > pool.max {
                        world.violation(format!(
                            "{name}.running_tasks() is {running}, max_threads {}",
                            pool.max
                        ));
                    }
                }
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
    held
}

/// Removes a random loop from its controller while everything else goes on (a reset may be
/// under way, or a hook may be stopping it), checks that it is no longer a member, and adds it
/// back (the last of its controller's members): it must return, and pair its hooks.
fn remove_and_add_back(id: usize, rng: &mut Rng, watch: &Watch, loops: &[Loop], world: &World) {
    let l = rng.pick(loops);
    let Ok(_one) = l.membership.try_lock() else {
        return;
    };
    let label = &l.track.label;
    let removed = watch.call(
        id,
        || format!("remove({label})"),
        || l.ops.remove_from(&l.parent),
    );
    if !removed {
        world.violation(format!("remove({label}) said it was not a member"));
    }
    if l.ops.remove_from(&l.parent) {
        world.violation(format!("{label} was still a member after its removal"));
    }
    world.tally.removals.fetch_add(1, Ordering::Relaxed);
    if rng.below(2) == 0 {
        thread::sleep(rng.range_ms(0, 3));
    }
    watch.call(id, || format!("add({label})"), || l.ops.add_to(&l.parent));
}

/// `Signal::after(d).then(|| loop.stop())` on a random loop: the callback runs on a thread of
/// the crate's own (never the timer thread, which other timers need meanwhile), racing the
/// hammers, resets and other timers. Every such callback must return: counted at the end.
fn arm_timer_stop(rng: &mut Rng, loops: &[Loop], world: &Arc<World>) {
    let ops = rng.pick(loops).ops.clone();
    let done = world.tally.timer_stops_done.clone();
    let timer = Signal::after(rng.range_ms(0, 20));
    world
        .tally
        .timer_stops_armed
        .fetch_add(1, Ordering::Relaxed);
    timer.then(move || {
        ops.stop();
        done.fetch_add(1, Ordering::SeqCst);
    });
    let mut held = world.timer_stops.lock().unwrap();
    held.retain(|t| !t.is_go());
    held.push(timer);
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
