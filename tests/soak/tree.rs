//! The loop types, one per mix of options, and building the tree of controllers and loops.

use super::*;

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

pub(crate) const fn ms(n: u64) -> Duration {
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

pub(crate) struct Loop {
    pub(crate) ops: Arc<dyn Ops>,
    pub(crate) track: Arc<Track>,
    /// Its controller, and a lock that makes a removal and its adding back one step (two
    /// hammers must not add it twice).
    pub(crate) parent: LoopController,
    pub(crate) membership: Arc<Mutex<()>>,
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

pub(crate) struct Tree {
    pub(crate) root: LoopController,
    /// Every controller, root first.
    pub(crate) controllers: Vec<LoopController>,
    /// Each controller's task settings and tasks, in the same order.
    pub(crate) pools: Vec<Arc<TaskPool>>,
    pub(crate) loops: Vec<Loop>,
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
pub(crate) fn build_tree(world: &Arc<World>, rng: &mut Rng) -> Tree {
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
