//! Supervised tasks.

use super::*;

/// At most this many task closures live at once (queued, running, not yet dropped): bounds
/// the queues, and so how long a join may wait for a slot (well under [`CALL_BOUND`]).
pub(crate) const MAX_LIVE_TASKS: usize = 24;

/// A controller's task settings, and the tasks inside their bodies on it.
pub(crate) struct TaskPool {
    pub(crate) name: String,
    pub(crate) max: usize,
    pub(crate) queue: bool,
    pub(crate) grace: Duration,
    /// Tasks inside their body, by id: when its stop token went on, once it has.
    pub(crate) in_body: Mutex<BTreeMap<u64, Arc<Mutex<Option<Instant>>>>>,
    pub(crate) peak: AtomicUsize,
}

impl TaskPool {
    pub(crate) fn random(name: &str, queue: bool, rng: &mut Rng) -> Self {
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
    pub(crate) fn apply(&self, controller: LoopController) -> LoopController {
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
    pub(crate) fn unsignalled(&self) -> Vec<u64> {
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
    pub(crate) pool: Arc<TaskPool>,
    pub(crate) id: u64,
}

impl Drop for InBody {
    fn drop(&mut self) {
        self.pool.in_body.lock().unwrap().remove(&self.id);
    }
}

/// Counts a task closure as live until it is dropped: run, cancelled, or refused.
struct Live(Arc<World>);

impl Live {
    pub(crate) fn new(world: &Arc<World>) -> Self {
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
    pub(crate) fn random(rng: &mut Rng) -> Self {
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
    pub(crate) id: u64,
    pub(crate) name: String,
    plan: TaskPlan,
    /// Its controller, for a task that stops it.
    pub(crate) controller: LoopController,
    pub(crate) pool: Arc<TaskPool>,
    pub(crate) began: AtomicBool,
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
pub(crate) struct Held {
    handle: TaskHandle<TaskValue>,
    probe: Arc<TaskProbe>,
}

impl Held {
    /// Joins it (a watched call), first asking it to stop if it would not end on its own
    /// soon (or at random), and checks the outcome.
    pub(crate) fn join(self, world: &World, watch: &Watch, slot: usize, rng: &mut Rng) {
        if (!self.probe.plan.is_quick() && rng.below(4) != 0) || rng.below(20) == 0 {
            self.handle.stop();
        }
        let name = self.handle.name().to_owned();
        let result = watch.call(slot, || format!("{name}.join()"), || self.handle.join());
        world.tally.task_joins.fetch_add(1, Ordering::Relaxed);
        check_outcome(world, &self.probe, result);
    }

    /// Joins, releases or drops it.
    pub(crate) fn finish(self, world: &World, watch: &Watch, slot: usize, rng: &mut Rng) {
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
pub(crate) fn task_op(
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
