//! The chaotic loop value: the tracking shared by every value of a loop (a `from_fn` loop makes
//! many), the chaos its hooks and cycles play, and the timers it checks.

use super::*;

pub(crate) struct ThreadRec {
    /// Its stop token, known from its first cycle on.
    pub(crate) stop: Option<Signal>,
}

pub(crate) struct Track {
    pub(crate) label: String,
    pub(crate) world: Arc<World>,
    pub(crate) starts_allowed: AtomicU64,
    pub(crate) stops: AtomicU64,
    pub(crate) thread_starts_returned: AtomicU64,
    pub(crate) thread_stops: AtomicU64,
    /// Threads between `on_thread_start` and `on_thread_stop`, by generation.
    pub(crate) threads: Mutex<BTreeMap<u64, ThreadRec>>,
    /// One more than the newest generation that ran `on_thread_start`.
    pub(crate) newest: AtomicU64,
    /// The loop's handle, for calls from inside. Cleared at the end (a reference cycle).
    pub(crate) handle: Mutex<Option<Arc<dyn Ops>>>,
    /// The type's `cycle_timeout`.
    pub(crate) cycle_timeout: Option<Duration>,
}

impl Track {
    pub(crate) fn ops(&self) -> Option<Arc<dyn Ops>> {
        self.handle.lock().unwrap().clone()
    }
    pub(crate) fn violation(&self, what: String) {
        self.world.violation(format!("{}: {what}", self.label));
    }
}

pub(crate) fn generation(thread_name: &str) -> u64 {
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
pub(crate) struct Chaotic {
    pub(crate) track: Arc<Track>,
    /// `on_start` returned true and `on_stop` has not run since.
    pub(crate) started: bool,
    /// The generation of the thread running this value's thread hooks, if one is.
    pub(crate) thread: Option<u64>,
    /// The generation of the last thread that ran this value.
    last_thread: Option<u64>,
    /// The stop token was on when this thread's last cycle returned.
    returned_stopping: bool,
    /// This thread's timer, combined with its stop token (see [`ThreadTimer`]).
    timer: Option<ThreadTimer>,
}

impl Chaotic {
    pub(crate) fn new(track: Arc<Track>) -> Self {
        Chaotic {
            track,
            started: false,
            thread: None,
            last_thread: None,
            returned_stopping: false,
            timer: None,
        }
    }

    pub(crate) fn world(&self) -> &World {
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
    pub(crate) fn block(&self, rng: &mut Rng) {
        self.world().tally.blocks.fetch_add(1, Ordering::Relaxed);
        if rng.below(2) == 0 {
            thread::sleep(rng.range_ms(10, 120));
        } else {
            let _ = self.world().gate.recv_timeout(Duration::from_millis(250));
        }
    }

    pub(crate) fn on_start(&mut self) -> Result<bool, LoopError> {
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

    pub(crate) fn on_stop(&mut self) {
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

    pub(crate) fn on_thread_start(&mut self) {
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

    pub(crate) fn on_thread_stop(&mut self) {
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

    pub(crate) fn cycle(&mut self, ctx: &Ctx) -> Result<(), LoopError> {
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
    pub(crate) armed: Instant,
    pub(crate) d: Duration,
    d_both: Duration,
    either: Signal,
    pub(crate) both: Signal,
}

impl ThreadTimer {
    pub(crate) fn arm(stop: &Signal, rng: &mut Rng, world: &Arc<World>, label: &str) -> Self {
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
    pub(crate) fn check(&self, stop: &Signal, world: &World, label: &str) -> bool {
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
