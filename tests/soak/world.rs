//! The world: what every loop value, hammer and the watchdog share.

use super::*;

/// Chaos counters, for the summary (and a sanity check that chaos happened).
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) panics: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) ctx_failures: AtomicU64,
    pub(crate) ctx_stops: AtomicU64,
    pub(crate) blocks: AtomicU64,
    pub(crate) declines: AtomicU64,
    pub(crate) inside_calls: AtomicU64,
    pub(crate) lock_probes: AtomicU64,
    pub(crate) hammer_calls: AtomicU64,
    /// Hammer `stop`s that returned false: a thread was abandoned (or was already).
    pub(crate) unclean_stops: AtomicU64,
    pub(crate) superseded_cycles: AtomicU64,
    // Supervised tasks.
    pub(crate) tasks_spawned: AtomicU64,
    /// `ThreadLimitReached` from a controller that does not queue.
    pub(crate) tasks_refused: AtomicU64,
    /// `SpawnError::Spawn`: the OS would not create the thread.
    pub(crate) tasks_os_refused: AtomicU64,
    /// Spawns skipped because [`MAX_LIVE_TASKS`] tasks were live.
    pub(crate) tasks_skipped: AtomicU64,
    pub(crate) task_joins: AtomicU64,
    pub(crate) task_releases: AtomicU64,
    pub(crate) task_drops: AtomicU64,
    pub(crate) joined_ok: AtomicU64,
    pub(crate) joined_failed: AtomicU64,
    pub(crate) joined_panicked: AtomicU64,
    pub(crate) joined_cancelled: AtomicU64,
    /// Sleeping tasks that ended because they were stopped, or because their bound passed.
    pub(crate) tasks_stopped: AtomicU64,
    pub(crate) tasks_slept_out: AtomicU64,
    /// Tasks that went on past the task grace after their stop.
    pub(crate) tasks_blocked_past_grace: AtomicU64,
    /// Peak of tasks inside their bodies on one controller, in excess of its `max_threads`,
    /// excused because the excess had been stopped `task_grace` before.
    pub(crate) task_excused_overlaps: AtomicU64,
    // Timers.
    pub(crate) timer_arms: AtomicU64,
    pub(crate) timer_waits: AtomicU64,
    pub(crate) timers_fired: AtomicU64,
    /// The latest a `Signal::after` fired after its deadline, in microseconds.
    pub(crate) timer_max_late_us: AtomicU64,
    /// Cycles of loops with a `cycle_timeout` that slept past it on purpose.
    pub(crate) slow_cycles: AtomicU64,
    /// `Signal::after(d).then(|| loop.stop())` armed by the hammers, and those whose callback
    /// has returned.
    pub(crate) timer_stops_armed: AtomicU64,
    pub(crate) timer_stops_done: Arc<AtomicU64>,
    /// Chains (`stop | x | …`, some links `& on`) built from a cycle's stop token while the
    /// hammers stop its loop.
    pub(crate) chains_built: AtomicU64,
    pub(crate) chains_on: AtomicU64,
    /// Hooks that called a sibling loop or a controller; stop-token callbacks registered to
    /// stop a sibling.
    pub(crate) sibling_calls: AtomicU64,
    pub(crate) stop_callbacks: AtomicU64,
    /// Tasks that stopped their own controller.
    pub(crate) tasks_stopping_controller: AtomicU64,
    /// Loops removed from their controller (and added back, the last of its members).
    pub(crate) removals: AtomicU64,
}

pub(crate) struct World {
    pub(crate) seed: u64,
    pub(crate) draws: AtomicU64,
    /// Once set, hooks and cycles behave (no chaos, no calls from inside): the final stop.
    pub(crate) calm: AtomicBool,
    /// Blocked cycles wait on it; the chaos thread releases them one by one.
    pub(crate) gate: Receiver<()>,
    pub(crate) violations: Mutex<Vec<String>>,
    pub(crate) tally: Tally,
    /// Every controller of the tree, for `health()` probes from hooks. Cleared at the end
    /// (it makes a reference cycle: controllers own the values that reach the world).
    pub(crate) controllers: Mutex<Vec<LoopController>>,
    /// Task closures not yet dropped (queued, running, or refused and not yet dropped).
    pub(crate) tasks_live: AtomicUsize,
    pub(crate) next_task: AtomicU64,
    /// The timers whose `then` stops a loop, held until they have fired (a timer nobody
    /// holds is forgotten, its callback with it).
    pub(crate) timer_stops: Mutex<Vec<Signal>>,
    /// Every loop of the tree, for hooks and stop-token callbacks that call a sibling.
    /// Cleared at the end (a reference cycle, like `controllers`).
    pub(crate) loops: Mutex<Vec<Arc<dyn Ops>>>,
}

impl World {
    pub(crate) fn rng(&self) -> Rng {
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let mut r = Rng::new(self.seed ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }
    pub(crate) fn calm(&self) -> bool {
        self.calm.load(Ordering::SeqCst)
    }
    /// Records a broken guarantee; the first 100 are printed at once and 1000 are kept.
    pub(crate) fn violation(&self, what: String) {
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
    pub(crate) fn probe_a_controller(&self, rng: &mut Rng) {
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
    pub(crate) fn call_a_sibling(&self, rng: &mut Rng) {
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

    pub(crate) fn random_loop(&self, rng: &mut Rng) -> Option<Arc<dyn Ops>> {
        let loops = self.loops.lock().unwrap();
        (!loops.is_empty()).then(|| loops[rng.below(loops.len() as u64) as usize].clone())
    }
}

/// A planned panic; the panic hook keeps these quiet.
pub(crate) fn chaos_panic(world: &World, hook: &str) -> ! {
    world.tally.panics.fetch_add(1, Ordering::Relaxed);
    std::panic::panic_any(format!("chaos: planned panic in {hook}"))
}

// ---------------------------------------------------------------------------------------
// What the soak calls on a handle, type-erased.

pub(crate) trait Ops: Send + Sync {
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
