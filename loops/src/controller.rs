//! [`LoopController`]: a supervisor that keeps a set of loops healthy together.
//!
//! # How the supervisor works
//!
//! Every member reports to the controller's channel: `Exceeded` when a failure exceeds its
//! budget, `Ended` when its thread ends without anyone stopping it (a panic, `ctx.stop()`,
//! `stop_on_failure`). The supervisor thread blocks on that channel and on nothing else, so it
//! uses no CPU while members are healthy (Guarantee 8), and no event is ever dropped: a
//! failure that exceeds a budget while a reset runs waits in the channel and causes another
//! reset (Guarantee 4).
//!
//! Group-level operations (`maintain_loops`, `stop_loops`, a reset's stop phase and restart
//! phase) are serialised by the controller's `busy` flag, waited on with a condvar, never a
//! lock held across user code. A reset's backoff delay and `on_reset` run with `busy` free, so
//! `stop` is never kept waiting by them, and a member stopped from outside is never restarted
//! by a reset that was already under way (Guarantee 7).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};

use crate::handle::{panic_message, LoopOwner, StopBegun};
use crate::task::{new_task, SpawnError, TaskBook, TaskEntry, TaskHandle};
use crate::{Ctx, LoopHandle, LoopState, LoopStatus, Signal, SuperLoop};

/// What a member tells its supervisor.
pub(crate) enum GroupEvent {
    /// A failure exceeded the member's budget.
    Exceeded { index: usize },
    /// The member's thread `gen` ended without being stopped by anyone.
    Ended { index: usize, gen: u64 },
    /// A supervised task failed (returned `Err`, panicked, or called `ctx.failure()`).
    TaskFailed { task: String },
}

/// A member's line to its supervisor.
#[derive(Clone)]
pub(crate) struct Link {
    tx: Sender<GroupEvent>,
    /// Events sent and not yet handled, shared with the controller (for `wait_green`).
    pending: Arc<AtomicUsize>,
    pub(crate) index: usize,
}

impl Link {
    pub(crate) fn send(&self, event: GroupEvent) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        // Unbounded: never blocks. The receiver lives as long as the controller.
        if self.tx.send(event).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The supervisor's view of a member: a loop, or a nested group.
pub(crate) trait Member: Send + Sync {
    fn name(&self) -> String;
    fn resets_globally(&self) -> bool;
    fn set_link(&self, link: Link);
    /// Starts it (and puts it under supervision again).
    fn start(&self) -> bool;
    /// For its group's `maintain_loops`: a loop is started if its thread is not alive; a
    /// nested group is always maintained in turn, so that a member of it that is not alive
    /// starts even while another one runs.
    fn maintain(&self) {
        if !self.is_alive() {
            self.start();
        }
    }
    /// Starts it again if it is still supervised and thread `gen` was its last.
    fn restart_if_ended(&self, gen: u64) -> bool;
    /// Restarts it as part of a reset: only if still supervised (not stopped from outside
    /// since its last start); a nested group restarts each of its members by the same rule.
    fn restart_supervised(&self) -> bool;
    /// Stops it for good, in dependency order (a group: its members one after another, in
    /// reverse), adding each loop's outcome to `report`.
    fn stop_in_order(&self, unsupervise: bool, report: &mut StopReport);
    fn begin_stop(&self, unsupervise: bool) -> StopBegun;
    /// Waits for the stop begun at `signalled` for at most the member's own grace from then.
    fn finish_stop(&self, begun: StopBegun, signalled: Instant) -> bool;
    /// [`finish_stop`](Self::finish_stop), adding each loop's outcome to `report`.
    fn finish_stop_into(&self, begun: StopBegun, signalled: Instant, report: &mut StopReport);
    /// Ends any supervisor thread and tasks of its own (nested groups), adding the tasks'
    /// outcomes to `report`.
    fn shutdown(&self, _report: &mut StopReport) {}
    fn is_alive(&self) -> bool;
    fn is_stalled(&self) -> bool;
    fn clear_failures(&self);
    fn health(&self) -> MemberHealth;
}

/// A member handle as the controller holds it. Opaque; see [`Supervise`].
#[doc(hidden)]
#[derive(Clone)]
pub struct MemberRef(pub(crate) Arc<dyn Member>);

/// Something a [`LoopController`] can supervise: a [`LoopHandle`], a `loop_group!` group, or
/// another controller (a supervision tree).
pub trait Supervise {
    #[doc(hidden)]
    fn __member(&self) -> MemberRef;
}

impl<T: SuperLoop> Supervise for LoopHandle<T> {
    fn __member(&self) -> MemberRef {
        // The handle's shared owner: the group keeps the loop as a clone of the handle would.
        MemberRef(self.owner().clone())
    }
}

/// How a group restarts its members when one exceeds its failure budget (Erlang/OTP's
/// supervisor strategies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Restart every member that resets globally (SuperLoops' behaviour).
    #[default]
    OneForAll,
    /// Restart only the member that exceeded its budget.
    OneForOne,
    /// Restart the member that exceeded its budget and every member declared after it that
    /// resets globally.
    RestForOne,
}

/// The default backoff between resets that follow each other: from 10 ms up to 5 s.
pub const DEFAULT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_secs(5));

/// The delay before a reset: none after a quiet spell (no reset for `max`, or none yet);
/// otherwise `min`, then twice the previous delay, up to `max`.
fn next_backoff(
    previous: Duration,
    since_last: Option<Duration>,
    (min, max): (Duration, Duration),
) -> Duration {
    match since_last {
        None => Duration::ZERO,
        Some(gap) if gap >= max => Duration::ZERO,
        Some(_) if previous.is_zero() => min,
        Some(_) => (previous * 2).min(max),
    }
}

/// The supervisor's bookkeeping of members restarted alone because their thread ended (a
/// panic, `ctx.stop()`): each member's restarts back off like resets do, so a member whose
/// thread ends as soon as it starts cannot make its supervisor spin. Kept by the supervisor
/// thread alone.
#[derive(Default)]
struct LoneRestarts {
    /// Per member: when it was last restarted alone, and the delay that restart waited.
    last: HashMap<usize, (Instant, Duration)>,
    /// Restarts waiting out their delay: when, which member, which thread of it ended, and
    /// the delay.
    deferred: Vec<(Instant, usize, u64, Duration)>,
}

impl LoneRestarts {
    /// The delay before restarting member `index` now: none after a quiet spell.
    fn delay(&self, index: usize, backoff: (Duration, Duration)) -> Duration {
        match self.last.get(&index) {
            None => Duration::ZERO,
            Some(&(at, previous)) => next_backoff(previous, Some(at.elapsed()), backoff),
        }
    }

    fn defer(&mut self, index: usize, gen: u64, delay: Duration) {
        self.deferred
            .push((Instant::now() + delay, index, gen, delay));
    }

    /// Member `index` was restarted after waiting `delay`: the next restart that follows
    /// closely waits twice as long.
    fn restarted(&mut self, index: usize, delay: Duration) {
        self.last.insert(index, (Instant::now(), delay));
    }

    fn next_due(&self) -> Option<Instant> {
        self.deferred.iter().map(|&(due, ..)| due).min()
    }

    /// The deferred restarts that are due, in the order they were deferred.
    fn take_due(&mut self) -> Vec<(usize, u64, Duration)> {
        let now = Instant::now();
        let mut due = Vec::new();
        self.deferred.retain(|&(at, index, gen, delay)| {
            let ready = at <= now;
            if ready {
                due.push((index, gen, delay));
            }
            !ready
        });
        due
    }

    fn take_all(&mut self) -> Vec<(usize, u64)> {
        self.deferred
            .drain(..)
            .map(|(_, index, gen, _)| (index, gen))
            .collect()
    }
}

/// How a group is configured; set through [`LoopController`]'s builder methods.
#[derive(Clone)]
struct Settings {
    name: Arc<str>,
    strategy: Strategy,
    max_restarts: Option<(u32, Duration)>,
    backoff: (Duration, Duration),
    on_reset: Option<Arc<dyn Fn() + Send + Sync>>,
    /// How long `stop` waits for each running task before abandoning it.
    task_grace: Duration,
    /// Stop every member at once instead of in dependency order.
    stop_all_at_once: bool,
}

/// A supervisor for a set of loops known at run time: SuperLoops' `LoopController`, with
/// OTP's strategies, restart limits and backoff. `loop_group!` builds one for a set known at
/// compile time.
///
/// ```
/// use std::time::Duration;
/// use superloops::prelude::*;
///
/// #[derive(Default)]
/// struct Fetch;
/// #[superloop(grace = "1s", max_failures = 0)]
/// impl Fetch {
///     fn cycle(&mut self, ctx: &Ctx) { ctx.sleep(Duration::from_secs(60)); }
/// }
/// #[derive(Default)]
/// struct Store;
/// #[superloop(grace = "1s")]
/// impl Store {
///     fn cycle(&mut self, ctx: &Ctx) { ctx.sleep(Duration::from_secs(60)); }
/// }
///
/// let (reset_tx, resets) = superloops::channel::unbounded();
/// let controller = LoopController::new().on_reset(move || { let _ = reset_tx.send(()); });
/// let fetch = controller.new_loop(Fetch);
/// let store = controller.new_loop(Store);
/// controller.start();            // the supervisor thread, LoopController_0
/// controller.maintain_loops();   // Fetch_0, Store_0
///
/// assert!(fetch.failure());      // exceeds max_failures = 0: both restart
/// resets.recv().unwrap();
/// controller.wait_green(Duration::from_secs(10));
/// assert_eq!(store.thread_name().as_deref(), Some("Store_1"));
/// controller.stop();
/// assert!(!controller.has_alive_loops());
/// ```
#[derive(Clone)]
pub struct LoopController {
    owner: Arc<Owner>,
}

/// Shared by every clone; its drop (the last clone's) stops everything.
struct Owner {
    ctrl: Arc<Ctrl>,
}

struct Ctrl {
    /// Itself, so that a nested group started through `&self` can spawn its supervisor.
    me: Weak<Ctrl>,
    settings: Mutex<Settings>,
    members: Mutex<Vec<(String, Arc<dyn Member>)>>,
    tasks: Mutex<TaskBook>,
    tx: Sender<GroupEvent>,
    rx: Receiver<GroupEvent>,
    /// Member events sent and not yet handled.
    pending: Arc<AtomicUsize>,
    state: Mutex<CtrlState>,
    changed: Condvar,
}

struct CtrlState {
    /// A group operation (maintain, stop, a reset phase) is under way.
    /// The thread running a group operation, and how deeply: a member's hook that the
    /// operation runs (an `on_start` during `maintain_loops` or a reset) may call back into the
    /// controller on the same thread without waiting for itself.
    busy: Option<(thread::ThreadId, usize)>,
    supervisor: Option<Supervisor>,
    /// Supervisor threads started so far: the next is `{name}_{generations}`.
    generations: u64,
    /// The green light: no reset is under way and the group has not given up.
    green: bool,
    /// Gave up after too many restarts.
    failed: bool,
    resets: u64,
    reset_times: VecDeque<Instant>,
    last_reset: Option<Instant>,
    /// The delay before the next reset, if it follows the last one closely.
    backoff: Duration,
    parent: Option<Link>,
}

struct Supervisor {
    thread: JoinHandle<()>,
    shutdown: Signal,
    name: Arc<str>,
}

impl Default for LoopController {
    fn default() -> Self {
        Self::new()
    }
}

impl LoopController {
    /// A controller named `LoopController`, with the default strategy (`OneForAll`), no
    /// restart limit (it never gives up, like SuperLoops) and the default backoff.
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        LoopController {
            owner: Arc::new(Owner {
                ctrl: Arc::new_cyclic(|me| Ctrl {
                    me: me.clone(),
                    pending: Arc::new(AtomicUsize::new(0)),
                    settings: Mutex::new(Settings {
                        name: Arc::from("LoopController"),
                        strategy: Strategy::OneForAll,
                        max_restarts: None,
                        backoff: DEFAULT_BACKOFF,
                        on_reset: None,
                        task_grace: Duration::from_secs(5),
                        stop_all_at_once: false,
                    }),
                    members: Mutex::new(Vec::new()),
                    tasks: Mutex::new(TaskBook::default()),
                    tx,
                    rx,
                    state: Mutex::new(CtrlState {
                        busy: None,
                        supervisor: None,
                        generations: 0,
                        green: true,
                        failed: false,
                        resets: 0,
                        reset_times: VecDeque::new(),
                        last_reset: None,
                        backoff: Duration::ZERO,
                        parent: None,
                    }),
                    changed: Condvar::new(),
                }),
            }),
        }
    }

    fn ctrl(&self) -> &Arc<Ctrl> {
        &self.owner.ctrl
    }

    /// Names the supervisor thread (`{name}_{n}`) and the group in logs and health.
    pub fn named(self, name: impl Into<String>) -> Self {
        self.ctrl().settings.lock().name = Arc::from(name.into());
        self
    }

    /// Sets the restart strategy.
    pub fn strategy(self, strategy: Strategy) -> Self {
        self.ctrl().settings.lock().strategy = strategy;
        self
    }

    /// Gives up past `max` resets within `within`: stops every member and reports the group
    /// failed (to its parent group, when nested). Its own members' events then restart
    /// nothing; [`maintain_loops`](Self::maintain_loops), or the parent's reset when nested,
    /// brings it back.
    pub fn max_restarts(self, max: u32, within: Duration) -> Self {
        self.ctrl().settings.lock().max_restarts = Some((max, within));
        self
    }

    /// Backoff between resets that follow each other: the first reset after a quiet spell
    /// (no reset for `max`) is immediate, the next waits `min`, then twice as long each time,
    /// up to `max`. Default: [`DEFAULT_BACKOFF`], 10 ms up to 5 s.
    ///
    /// A member restarted alone because its thread ended (a panic, `ctx.stop()`) backs off
    /// on the same schedule, counted per member: a member whose thread ends as soon as it
    /// starts is restarted at most once per `max`, instead of spinning. The supervisor
    /// goes on handling the other members' events meanwhile.
    pub fn backoff(self, min: Duration, max: Duration) -> Self {
        self.ctrl().settings.lock().backoff = (min, max.max(min));
        self
    }

    /// A callback run during every reset, after the members have stopped and before they
    /// start again. A panic in it is logged, not fatal.
    pub fn on_reset(self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.ctrl().settings.lock().on_reset = Some(Arc::new(f));
        self
    }

    /// Caps the tasks running at once at `max` ([`spawn_task`](Self::spawn_task)): past it,
    /// `spawn_task` returns [`SpawnError::ThreadLimitReached`], or, with
    /// [`queue_tasks`](Self::queue_tasks), queues the task until a slot frees.
    pub fn max_threads(self, max: usize) -> Self {
        self.ctrl().tasks.lock().max_threads = Some(max);
        self
    }

    /// Past [`max_threads`](Self::max_threads), queue tasks instead of refusing them; each
    /// starts as soon as a running task ends.
    pub fn queue_tasks(self) -> Self {
        self.ctrl().tasks.lock().queue = true;
        self
    }

    /// Stop members all at once instead of in dependency order: every member is asked to stop
    /// at the same moment and each gets its own grace from then. For large sets of independent
    /// loops (thousands of workers), where waiting for each before asking the next costs a
    /// context switch apiece; members can then no longer rely on the ones declared before
    /// them while they stop.
    pub fn stop_all_at_once(self) -> Self {
        self.ctrl().settings.lock().stop_all_at_once = true;
        self
    }

    /// How long [`stop`](Self::stop) waits for each running task before abandoning it.
    /// Default: 5 s.
    pub fn task_grace(self, grace: Duration) -> Self {
        self.ctrl().settings.lock().task_grace = grace;
        self
    }

    /// Runs `f` once on a supervised thread named `name`, with a [`Ctx`] whose stop token goes
    /// on when the controller stops.
    ///
    /// The task's failure — an `Err`, a panic, or `ctx.failure()` — is logged and counts as a
    /// failure of the group: it brings the group through a reset under its strategy (every
    /// member that resets globally, under `one_for_all` and `rest_for_one`; nothing under
    /// `one_for_one`). [`TaskHandle::join`] returns the value or a [`TaskError`](crate::TaskError)
    /// with the message.
    ///
    /// # Errors
    ///
    /// [`SpawnError::ThreadLimitReached`] when [`max_threads`](Self::max_threads) tasks are
    /// running and the controller does not [queue](Self::queue_tasks);
    /// [`SpawnError::InvalidName`] when `name` contains a NUL byte; [`SpawnError::Spawn`] when
    /// the operating system will not create the thread.
    ///
    /// ```
    /// use superloops::prelude::*;
    ///
    /// let controller = LoopController::new().max_threads(4);
    /// let task = controller
    ///     .spawn_task("checksum", |_ctx| Ok::<_, String>(6 * 7))
    ///     .unwrap();
    /// assert_eq!(task.join().unwrap(), 42);
    /// ```
    pub fn spawn_task<R, E, F>(
        &self,
        name: impl Into<String>,
        f: F,
    ) -> Result<TaskHandle<R>, SpawnError>
    where
        R: Send + 'static,
        E: fmt::Display,
        F: FnOnce(&Ctx) -> Result<R, E> + Send + 'static,
    {
        let name = name.into();
        if name.contains('\0') {
            return Err(SpawnError::InvalidName { name });
        }
        let ctrl = self.ctrl();
        let (mut entry, handle) = new_task(&name, f);
        let mut book = ctrl.tasks.lock();
        // Slots freed by tasks that just ended go to the queue first: a new task never jumps
        // ahead of the queued ones.
        let unstarted = ctrl.fill_slots(&mut book);
        let full = book
            .max_threads
            .is_some_and(|max| book.running.len() >= max);
        // A task refused here is dropped after the lock is released: it holds the caller's
        // closure, whose captures' `Drop` is user code.
        let refused = if full || (book.queue && !book.queued.is_empty()) {
            if book.queue {
                tracing::debug!(thread = %entry.name(), "Task queued: max_threads are running");
                book.queued.push_back(entry);
                None
            } else {
                let max = book.max_threads.unwrap_or_default();
                Some((SpawnError::ThreadLimitReached { max }, entry))
            }
        } else {
            match entry.spawn(ctrl.task_link(), ctrl.task_end_hook()) {
                Ok(()) => {
                    book.running.push(entry);
                    None
                }
                Err(e) => Some((SpawnError::Spawn(e), entry)),
            }
        };
        drop(book);
        cancel_all(unstarted);
        match refused {
            None => Ok(handle),
            Some((error, entry)) => {
                drop(entry);
                Err(error)
            }
        }
    }

    /// Blocks until `signal` goes on, then [`stop`](Self::stop)s everything and reports what
    /// stopped within its grace and what was abandoned. It starts nothing: call it after
    /// starting the loops. With [`Signal::after`] it runs for a fixed time.
    pub fn run_until(&self, signal: &Signal) -> StopReport {
        signal.wait();
        tracing::info!(group = %self.ctrl().name(), "Shutting down");
        self.stop_with_report()
    }

    /// Blocks until the process receives SIGINT (Ctrl-C) or SIGTERM, then stops everything
    /// gracefully — tasks, then members in reverse declaration order, each within its grace —
    /// and reports what stopped in time and what was abandoned. It starts nothing: call it
    /// after starting the loops (Unix only).
    ///
    /// While it waits, the two signals only wake it. From the first one on they have their
    /// default effect again: a second Ctrl-C during a slow shutdown ends the process at once
    /// (no `on_stop` runs then), and so does a signal after it has returned, as if it had never
    /// been called. Once it has been called, a handler you install yourself for these signals
    /// still runs, but cannot keep the process alive except while a `run_until_signal` waits.
    ///
    /// ```no_run
    /// use superloops::prelude::*;
    /// let controller = LoopController::new();
    /// // … new_loop, start, maintain_loops …
    /// let report = controller.run_until_signal().expect("signal handlers");
    /// println!("{report}");
    /// ```
    #[cfg(unix)]
    pub fn run_until_signal(&self) -> std::io::Result<StopReport> {
        let received = crate::shutdown::wait_for_termination_signal()?;
        tracing::info!(
            group = %self.ctrl().name(),
            signal = if received == signal_hook::consts::SIGINT { "SIGINT" } else { "SIGTERM" },
            "Received a termination signal"
        );
        let go = Signal::new();
        go.go();
        Ok(self.run_until(&go))
    }

    /// Tasks running now (started and not ended), including tasks a stop is waiting for:
    /// each holds a slot of [`max_threads`](Self::max_threads) until it ends, or until the
    /// stop abandons it after the task grace.
    pub fn running_tasks(&self) -> usize {
        let mut book = self.ctrl().tasks.lock();
        book.running.retain(|t| !t.is_finished());
        book.running.len()
    }

    /// Tasks waiting for a free slot (under [`queue_tasks`](Self::queue_tasks)).
    pub fn queued_tasks(&self) -> usize {
        self.ctrl().tasks.lock().queued.len()
    }

    /// Adds `value` as a new member loop and returns its handle.
    pub fn new_loop<T: SuperLoop>(&self, value: T) -> LoopHandle<T> {
        let handle = LoopHandle::new(value);
        self.add(&handle);
        handle
    }

    /// Adds an existing loop handle, group or controller as a member. Members start in the
    /// order they were added and stop in reverse.
    pub fn add(&self, member: &impl Supervise) {
        let member = member.__member().0;
        let ctrl = self.ctrl();
        let index = {
            let mut members = ctrl.members.lock();
            members.push((member.name(), member.clone()));
            members.len() - 1
        };
        member.set_link(Link {
            tx: ctrl.tx.clone(),
            pending: ctrl.pending.clone(),
            index,
        });
    }

    /// Starts the supervisor thread (`LoopController_0`, or the group's name), if it is not
    /// running. It does not start the members: see [`maintain_loops`](Self::maintain_loops).
    pub fn start(&self) -> bool {
        self.ctrl().start_supervisor()
    }

    /// Starts every member whose thread is not alive, in order (and puts it under
    /// supervision again).
    pub fn maintain_loops(&self) {
        self.ctrl().maintain();
    }

    /// Stops every member in dependency order: the last declared first, each one's thread
    /// ended (or abandoned after its grace) before the member declared before it is asked. They
    /// are out of supervision until started again: no reset starts them, not even one of a
    /// parent group already under way; a start does ([`maintain_loops`](Self::maintain_loops)
    /// here or on a parent, or a member's own `start`). True when no member thread is left
    /// running.
    pub fn stop_loops(&self) -> bool {
        self.ctrl().stop_members()
    }

    /// Stops every member (as [`stop_loops`](Self::stop_loops) does), then the supervisor
    /// thread. A reset under way is cut short: nothing it had not restarted yet is started.
    /// True when no member thread is left running.
    pub fn stop(&self) -> bool {
        self.ctrl().stop_all().is_clean()
    }

    /// [`stop`](Self::stop), reporting which loops stopped within their grace and which were
    /// abandoned.
    pub fn stop_with_report(&self) -> StopReport {
        self.ctrl().stop_all()
    }

    /// Whether any member's thread is alive.
    pub fn has_alive_loops(&self) -> bool {
        self.ctrl().members().iter().any(|(_, m)| m.is_alive())
    }

    /// The health of the members whose thread is alive.
    pub fn alive_loops(&self) -> Vec<MemberHealth> {
        self.ctrl()
            .members()
            .iter()
            .filter(|(_, m)| m.is_alive())
            .map(|(_, m)| m.health())
            .collect()
    }

    /// The health of members that should run but do not: wanted running (or under
    /// supervision) with no live thread, or left with an abandoned thread.
    pub fn stalled_loops(&self) -> Vec<MemberHealth> {
        self.ctrl()
            .members()
            .iter()
            .filter(|(_, m)| m.is_stalled())
            .map(|(_, m)| m.health())
            .collect()
    }

    /// A snapshot of the group: the green light, resets, and each member's status.
    pub fn health(&self) -> GroupHealth {
        self.ctrl().health()
    }

    /// Whether the green light is on: no reset under way, not given up.
    pub fn is_green(&self) -> bool {
        self.ctrl().state.lock().green
    }

    /// Waits until the green light is on (a reset under way has finished) and every member
    /// event sent so far has been handled (including a restart waiting out its backoff), or
    /// `timeout` passes; true if the group settled.
    pub fn wait_green(&self, timeout: Duration) -> bool {
        let ctrl = self.ctrl();
        let deadline = Instant::now() + timeout;
        let mut st = ctrl.state.lock();
        while !(st.green && ctrl.pending.load(Ordering::SeqCst) == 0) {
            if ctrl.changed.wait_until(&mut st, deadline).timed_out() {
                return st.green && ctrl.pending.load(Ordering::SeqCst) == 0;
            }
        }
        true
    }

    /// Resets performed so far.
    pub fn resets(&self) -> u64 {
        self.ctrl().state.lock().resets
    }
}

impl fmt::Debug for LoopController {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LoopController")
            .field(&self.health())
            .finish()
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.ctrl.stop_all();
    }
}

/// A parent group holds the nested controller as a full owner, like a clone of it: dropping
/// the user's own handle to the nested group leaves it to its parent.
impl Supervise for LoopController {
    fn __member(&self) -> MemberRef {
        MemberRef(self.owner.clone())
    }
}

impl Member for Owner {
    fn name(&self) -> String {
        Member::name(&*self.ctrl)
    }
    fn resets_globally(&self) -> bool {
        self.ctrl.resets_globally()
    }
    fn set_link(&self, link: Link) {
        self.ctrl.set_link(link);
    }
    fn start(&self) -> bool {
        Member::start(&*self.ctrl)
    }
    fn maintain(&self) {
        Member::maintain(&*self.ctrl);
    }
    fn restart_if_ended(&self, gen: u64) -> bool {
        self.ctrl.restart_if_ended(gen)
    }
    fn restart_supervised(&self) -> bool {
        self.ctrl.restart_supervised()
    }
    fn stop_in_order(&self, unsupervise: bool, report: &mut StopReport) {
        self.ctrl.stop_in_order(unsupervise, report);
    }
    fn begin_stop(&self, unsupervise: bool) -> StopBegun {
        self.ctrl.begin_stop(unsupervise)
    }
    fn finish_stop(&self, begun: StopBegun, signalled: Instant) -> bool {
        self.ctrl.finish_stop(begun, signalled)
    }
    fn finish_stop_into(&self, begun: StopBegun, signalled: Instant, report: &mut StopReport) {
        self.ctrl.finish_stop_into(begun, signalled, report);
    }
    fn shutdown(&self, report: &mut StopReport) {
        self.ctrl.shutdown(report);
    }
    fn is_alive(&self) -> bool {
        Member::is_alive(&*self.ctrl)
    }
    fn is_stalled(&self) -> bool {
        self.ctrl.is_stalled()
    }
    fn clear_failures(&self) {
        self.ctrl.clear_failures();
    }
    fn health(&self) -> MemberHealth {
        Member::health(&*self.ctrl)
    }
}

impl Ctrl {
    fn name(&self) -> Arc<str> {
        self.settings.lock().name.clone()
    }

    fn members(&self) -> Vec<(String, Arc<dyn Member>)> {
        self.members.lock().clone()
    }

    /// The line a task reports its failure on.
    fn task_link(&self) -> Link {
        Link {
            tx: self.tx.clone(),
            pending: self.pending.clone(),
            index: usize::MAX,
        }
    }

    /// Runs on a task's thread when it ends: frees its slot and starts a queued task.
    fn task_end_hook(&self) -> impl FnOnce() + Send + 'static {
        let me = self.me.clone();
        move || {
            if let Some(ctrl) = me.upgrade() {
                ctrl.start_queued_tasks();
            }
        }
    }

    fn start_queued_tasks(&self) {
        let unstarted = self.fill_slots(&mut self.tasks.lock());
        cancel_all(unstarted);
    }

    /// Forgets ended tasks and starts queued ones, first in first out, while slots are free.
    /// Returns the queued tasks whose thread could not be spawned, for the caller to cancel
    /// once it has released the tasks lock (cancelling runs `then` callbacks).
    #[must_use = "cancel the returned tasks after releasing the lock"]
    fn fill_slots(&self, book: &mut TaskBook) -> Vec<TaskEntry> {
        book.running.retain(|t| !t.is_finished());
        let mut unstarted = Vec::new();
        while book.max_threads.is_none_or(|max| book.running.len() < max) {
            let Some(mut entry) = book.queued.pop_front() else {
                break;
            };
            match entry.spawn(self.task_link(), self.task_end_hook()) {
                Ok(()) => book.running.push(entry),
                Err(e) => {
                    tracing::error!(thread = %entry.name(), "Could not spawn a queued task: {e}");
                    unstarted.push(entry);
                }
            }
        }
        unstarted
    }

    /// Cancels queued tasks, asks running ones to stop, and waits for each up to the task
    /// grace from the moment all were asked.
    fn stop_tasks(&self, report: &mut StopReport) {
        let (queued, stopping) = {
            let mut book = self.tasks.lock();
            // Running tasks stay in the book while they stop: a task that is stopping still
            // holds its slot, so `max_threads` counts it. Each frees its slot as it ends.
            let stopping: Vec<_> = book.running.iter_mut().map(TaskEntry::begin_stop).collect();
            (std::mem::take(&mut book.queued), stopping)
        };
        cancel_all(queued);
        let deadline = Instant::now().checked_add(self.settings.lock().task_grace);
        let mut abandoned = Vec::new();
        for mut task in stopping {
            let name = task.name().to_owned();
            if task.finish(deadline) {
                report.stopped.push(name);
            } else {
                report.abandoned.push(name);
                abandoned.push(task);
            }
        }
        if !abandoned.is_empty() {
            // An abandoned task gives its slot up, as an abandoned loop thread no longer
            // counts as its loop's thread: a queued task may take it.
            let unstarted = {
                let mut book = self.tasks.lock();
                book.running.retain(|t| !abandoned.iter().any(|a| t.is(a)));
                self.fill_slots(&mut book)
            };
            cancel_all(unstarted);
        }
    }

    /// Waits until no other thread runs a group operation, and claims `busy` (again, if
    /// this thread holds it already).
    fn claim(&self) {
        let me = thread::current().id();
        let mut st = self.state.lock();
        loop {
            match &mut st.busy {
                None => {
                    st.busy = Some((me, 1));
                    return;
                }
                Some((owner, depth)) if *owner == me => {
                    *depth += 1;
                    return;
                }
                Some(_) => self.changed.wait(&mut st),
            }
        }
    }

    fn release(&self) {
        let mut st = self.state.lock();
        Self::release_locked(&mut st);
        self.changed.notify_all();
    }

    fn release_locked(st: &mut CtrlState) {
        match &mut st.busy {
            Some((_, depth)) if *depth > 1 => *depth -= 1,
            _ => st.busy = None,
        }
    }

    fn set_green(&self, on: bool) {
        let mut st = self.state.lock();
        st.green = on;
        self.changed.notify_all();
    }

    fn start_supervisor(self: &Arc<Self>) -> bool {
        let group = self.name();
        let mut st = self.state.lock();
        if st.supervisor.is_some() {
            return false;
        }
        let name: Arc<str> = Arc::from(format!("{group}_{}", st.generations));
        let shutdown = Signal::new();
        let spawned = {
            let ctrl = self.clone();
            let shutdown = shutdown.clone();
            let name = name.clone();
            thread::Builder::new()
                .name(name.to_string())
                .spawn(move || ctrl.supervise(&name, &shutdown))
        };
        match spawned {
            Ok(thread) => {
                st.generations += 1;
                st.supervisor = Some(Supervisor {
                    thread,
                    shutdown,
                    name: name.clone(),
                });
                tracing::info!(thread = %name, "Started");
                true
            }
            Err(e) => {
                tracing::error!(thread = %name, "Could not spawn the supervisor thread: {e}");
                false
            }
        }
    }

    /// The supervisor thread: blocks on the members' events, handles each in turn, until its
    /// own `shutdown` signal goes on.
    ///
    /// Each supervisor waits on its own signal, not on a message in the shared queue: a
    /// supervisor started while the one before it is still ending (a `start` racing a
    /// `stop`) must not take the message meant for the other, which would then wait forever
    /// and hang the `stop` that joins it.
    fn supervise(self: &Arc<Self>, name: &Arc<str>, shutdown: &Signal) {
        let span = tracing::info_span!("supervisor", thread = %name);
        let _entered = span.enter();
        let mut lone = LoneRestarts::default();
        loop {
            // A timer only while a restart waits out its backoff: an idle supervisor sleeps.
            let timer = lone
                .next_due()
                .map_or_else(crossbeam_channel::never, crossbeam_channel::at);
            let event = crossbeam_channel::select_biased! {
                recv(shutdown.receiver()) -> _ => break,
                recv(self.rx) -> event => match event {
                    Ok(event) => Some(event),
                    Err(_) => break, // unreachable: the controller holds a sender
                },
                recv(timer) -> _ => None,
            };
            if shutdown.is_go() {
                // Shut down while taking it: leave it to the next supervisor (or to the
                // drain below). It is still pending.
                if let Some(event) = event {
                    let _ = self.tx.send(event);
                }
                break;
            }
            match event {
                Some(GroupEvent::Exceeded { index }) => self.reset(Some(index), name, shutdown),
                Some(GroupEvent::TaskFailed { task }) => {
                    tracing::warn!(thread = %name, task = %task, "A task failed");
                    self.reset(None, name, shutdown);
                }
                Some(GroupEvent::Ended { index, gen }) => {
                    let backoff = self.settings.lock().backoff;
                    let delay = lone.delay(index, backoff);
                    if !delay.is_zero() {
                        tracing::info!(
                            thread = %name,
                            member = %self.member_name(index),
                            ?delay,
                            "Backing off before restarting a member whose thread ended"
                        );
                        // Still pending until it runs: `wait_green` waits for it.
                        lone.defer(index, gen, delay);
                        continue;
                    }
                    if self.restart_ended(index, gen, name, shutdown) {
                        lone.restarted(index, Duration::ZERO);
                    }
                }
                None => {
                    for (index, gen, delay) in lone.take_due() {
                        if self.restart_ended(index, gen, name, shutdown) {
                            lone.restarted(index, delay);
                        }
                        self.handled();
                    }
                    continue;
                }
            }
            self.handled();
        }
        // Restarts still waiting out their backoff go back to the queue, still pending: the
        // next supervisor handles them, or the drain drops them.
        for (index, gen) in lone.take_all() {
            let _ = self.tx.send(GroupEvent::Ended { index, gen });
        }
        self.drain_if_unsupervised();
        tracing::info!(thread = %name, "Exited gracefully");
    }

    /// One member event handled: wakes `wait_green` callers, who also wait for the queue to
    /// drain.
    fn handled(&self) {
        let _st = self.state.lock();
        self.pending.fetch_sub(1, Ordering::SeqCst);
        self.changed.notify_all();
    }

    fn member_name(&self, index: usize) -> String {
        self.members
            .lock()
            .get(index)
            .map_or_else(String::new, |(_, m)| m.name())
    }

    /// Once no supervisor runs: drops the events nobody will handle now, so that they no
    /// longer hold `wait_green` back, and a later `start` does not act on them. Under the state
    /// lock, so a supervisor started meanwhile keeps every event.
    fn drain_if_unsupervised(&self) {
        let st = self.state.lock();
        if st.supervisor.is_none() {
            while self.rx.try_recv().is_ok() {
                self.pending.fetch_sub(1, Ordering::SeqCst);
            }
            self.changed.notify_all();
        }
        drop(st);
    }

    /// A member's thread ended with nobody stopping it: start it again if it is still
    /// supervised and nothing else has started it since. True if it restarted it.
    fn restart_ended(&self, index: usize, gen: u64, name: &Arc<str>, shutdown: &Signal) -> bool {
        let Some(member) = self.members.lock().get(index).map(|(_, m)| m.clone()) else {
            return false;
        };
        if self.state.lock().failed {
            return false;
        }
        self.claim();
        let restarted = !shutdown.is_go() && member.restart_if_ended(gen);
        if restarted {
            tracing::info!(
                thread = %name,
                member = %member.name(),
                "Restarted a member whose thread ended"
            );
        }
        self.release();
        restarted
    }

    /// The members a reset triggered by member `trigger` (or by a task: `None`) restarts,
    /// in declaration order.
    fn restart_set(
        &self,
        members: &[(String, Arc<dyn Member>)],
        trigger: Option<usize>,
    ) -> Vec<usize> {
        let strategy = self.settings.lock().strategy;
        let global = |i: usize| members[i].1.resets_globally();
        let is_trigger = |i: usize| trigger == Some(i);
        match strategy {
            Strategy::OneForOne => trigger.into_iter().collect(),
            Strategy::OneForAll => (0..members.len())
                .filter(|&i| global(i) || (is_trigger(i) && !members[i].1.is_alive()))
                .collect(),
            Strategy::RestForOne => {
                let from = trigger.unwrap_or(0);
                (0..members.len())
                    .filter(|&i| is_trigger(i) || (i >= from && global(i)))
                    .collect()
            }
        }
    }

    /// One reset, triggered by member `trigger` exceeding its budget, or by a failed task
    /// (`None`).
    fn reset(self: &Arc<Self>, trigger: Option<usize>, name: &Arc<str>, shutdown: &Signal) {
        let members = self.members();
        if trigger.is_some_and(|t| t >= members.len()) {
            return;
        }
        let settings = self.settings.lock().clone();
        let now = Instant::now();
        let set = self.restart_set(&members, trigger);
        if trigger.is_none() && set.is_empty() {
            // A failed task under `one_for_one`: there is no member to restart, so there is
            // no reset, nothing counted against `max_restarts`, and no backoff.
            tracing::info!(thread = %name, "A task failed; one_for_one restarts no member for it");
            return;
        }

        // The restart limit and the backoff.
        let delay = {
            let mut st = self.state.lock();
            if st.failed {
                return; // gave up: only a start brings the group back
            }
            if let Some((max, window)) = settings.max_restarts {
                while st
                    .reset_times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > window)
                {
                    st.reset_times.pop_front();
                }
                if st.reset_times.len() as u32 >= max {
                    drop(st);
                    self.give_up(name, max, window);
                    return;
                }
                st.reset_times.push_back(now);
            }
            let since_last = st.last_reset.map(|last| now.duration_since(last));
            st.backoff = next_backoff(st.backoff, since_last, settings.backoff);
            st.green = false;
            st.resets += 1;
            st.backoff
        };

        let trigger_name = trigger.map_or("a task", |t| members[t].0.as_str());
        tracing::warn!(thread = %name, trigger = %trigger_name, "Stopping loops");

        // Stop phase: every member of the set signalled at once, in reverse order; each then
        // gets its own grace from that instant, so the whole wait is at most the longest.
        self.claim();
        let begun: Vec<_> = set
            .iter()
            .rev()
            .map(|&i| (i, members[i].1.begin_stop(false)))
            .collect();
        let signalled = Instant::now();
        for (i, b) in begun {
            members[i].1.finish_stop(b, signalled);
        }
        self.release();

        if !delay.is_zero() {
            tracing::info!(thread = %name, ?delay, "Backing off before restarting");
            if shutdown.wait_timeout(delay) {
                return;
            }
        }
        if let Some(on_reset) = &settings.on_reset {
            if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| on_reset())) {
                tracing::error!(
                    thread = %name,
                    "panic in on_reset: {}; restarting anyway",
                    panic_message(&*p)
                );
            }
        }

        // Restart phase, in declaration order; stop wins.
        tracing::info!(thread = %name, "Restarting loops");
        self.claim();
        for &i in &set {
            if shutdown.is_go() {
                break;
            }
            // A clean slate: failures of the run that was reset do not count against the new one.
            members[i].1.clear_failures();
            members[i].1.restart_supervised();
        }
        {
            let mut st = self.state.lock();
            st.last_reset = Some(Instant::now());
            Self::release_locked(&mut st);
            st.green = !shutdown.is_go();
            self.changed.notify_all();
        }
    }

    fn give_up(&self, name: &Arc<str>, max: u32, window: Duration) {
        tracing::error!(
            thread = %name,
            "More than {max} restarts within {window:?}: giving up; stopping every member"
        );
        // Not out of supervision: a parent's reset restarts them (while this group has given
        // up, its own events restart nothing).
        self.stop_members_report(false, &mut StopReport::default());
        let parent = {
            let mut st = self.state.lock();
            st.failed = true;
            st.green = false;
            self.changed.notify_all();
            st.parent.clone()
        };
        if let Some(parent) = parent {
            parent.send(GroupEvent::Exceeded {
                index: parent.index,
            });
        }
    }

    fn maintain(&self) {
        let members = self.members();
        self.claim();
        {
            let mut st = self.state.lock();
            st.failed = false;
            st.green = true;
        }
        for (_, member) in &members {
            member.maintain();
        }
        self.release();
    }

    fn stop_members(&self) -> bool {
        let mut report = StopReport::default();
        self.stop_members_report(true, &mut report);
        report.is_clean()
    }

    /// Stops every member in dependency order: the last declared first, each one's thread
    /// ended (or abandoned after its grace) before the one declared before it is asked, so a
    /// member can rely on the members declared before it until its own `on_stop` has run.
    fn stop_members_report(&self, unsupervise: bool, report: &mut StopReport) {
        let members = self.members();
        let at_once = self.settings.lock().stop_all_at_once;
        self.claim();
        if at_once {
            let begun: Vec<_> = members
                .iter()
                .enumerate()
                .rev()
                .map(|(i, (_, m))| (i, m.begin_stop(unsupervise)))
                .collect();
            let signalled = Instant::now();
            for (i, b) in begun {
                members[i].1.finish_stop_into(b, signalled, report);
            }
        } else {
            for (_, member) in members.iter().rev() {
                member.stop_in_order(unsupervise, report);
            }
        }
        self.release();
    }

    fn stop_supervisor(&self) {
        let supervisor = self.state.lock().supervisor.take();
        if let Some(sup) = supervisor {
            sup.shutdown.go();
            if sup.thread.thread().id() == thread::current().id() {
                // Stopped from a hook the supervisor runs: it ends (and drains) when that
                // returns.
                return;
            }
            if sup.thread.join().is_err() {
                tracing::error!(thread = %sup.name, "The supervisor thread panicked");
            }
            // The supervisor drains as it ends; this covers one that panicked instead.
            self.drain_if_unsupervised();
        }
    }

    fn stop_all(&self) -> StopReport {
        // Signal the supervisor first, so a reset under way restarts nothing more.
        let shutdown = self
            .state
            .lock()
            .supervisor
            .as_ref()
            .map(|s| s.shutdown.clone());
        if let Some(s) = shutdown {
            s.go();
        }
        let mut report = StopReport::default();
        self.stop_tasks(&mut report);
        self.stop_members_report(true, &mut report);
        for (_, member) in self.members() {
            member.shutdown(&mut report);
        }
        self.stop_supervisor();
        self.set_green(true);
        report
    }

    fn health(&self) -> GroupHealth {
        let st = self.state.lock();
        let (green, failed, resets, backoff) = (st.green, st.failed, st.resets, st.backoff);
        let supervisor = st.supervisor.as_ref().map(|s| s.name.to_string());
        drop(st);
        GroupHealth {
            name: self.name().to_string(),
            supervisor,
            green,
            failed,
            resets,
            backoff,
            members: self.members().iter().map(|(_, m)| m.health()).collect(),
        }
    }
}

/// A nested group (or controller) as a member of another group.
impl Member for Ctrl {
    fn name(&self) -> String {
        Ctrl::name(self).to_string()
    }

    fn resets_globally(&self) -> bool {
        true
    }

    fn set_link(&self, link: Link) {
        self.state.lock().parent = Some(link);
    }

    fn start(&self) -> bool {
        if let Some(me) = self.me.upgrade() {
            me.start_supervisor();
        }
        self.maintain();
        true
    }

    fn restart_if_ended(&self, _gen: u64) -> bool {
        false
    }

    fn maintain(&self) {
        Member::start(self);
    }

    /// Each member restarted by its own rule (a loop only if still supervised), not
    /// `maintain`: a member stopped from outside (its handle's `stop`, this group's
    /// `stop`/`stop_loops`, or an ancestor's) stays stopped, even when the stop came while the
    /// parent's reset was under way. Its supervisor is not started here: only a stop from
    /// outside ends it.
    fn restart_supervised(&self) -> bool {
        let members = self.members();
        self.claim();
        {
            let mut st = self.state.lock();
            st.failed = false;
            st.green = true;
            self.changed.notify_all();
        }
        let mut any = false;
        for (_, member) in &members {
            any |= member.restart_supervised();
        }
        self.release();
        any
    }

    fn stop_in_order(&self, unsupervise: bool, report: &mut StopReport) {
        self.stop_members_report(unsupervise, report);
    }

    fn begin_stop(&self, unsupervise: bool) -> StopBegun {
        let members = self.members();
        self.claim();
        let begun = members
            .iter()
            .enumerate()
            .rev()
            .map(|(i, (_, m))| (i, m.begin_stop(unsupervise)))
            .collect();
        StopBegun::Nested(begun)
    }

    fn finish_stop_into(&self, begun: StopBegun, signalled: Instant, report: &mut StopReport) {
        let StopBegun::Nested(begun) = begun else {
            return;
        };
        let members = self.members();
        for (i, b) in begun {
            members[i].1.finish_stop_into(b, signalled, report);
        }
        self.release();
    }

    fn finish_stop(&self, begun: StopBegun, signalled: Instant) -> bool {
        let StopBegun::Nested(begun) = begun else {
            return true;
        };
        let members = self.members();
        let mut clean = true;
        for (i, b) in begun {
            clean &= members[i].1.finish_stop(b, signalled);
        }
        self.release();
        clean
    }

    fn shutdown(&self, report: &mut StopReport) {
        self.stop_tasks(report);
        for (_, member) in self.members() {
            member.shutdown(report);
        }
        self.stop_supervisor();
    }

    fn is_alive(&self) -> bool {
        self.members().iter().any(|(_, m)| m.is_alive())
    }

    fn is_stalled(&self) -> bool {
        let failed = self.state.lock().failed;
        failed || self.members().iter().any(|(_, m)| m.is_stalled())
    }

    fn clear_failures(&self) {
        for (_, member) in self.members() {
            member.clear_failures();
        }
    }

    fn health(&self) -> MemberHealth {
        MemberHealth::Group(Ctrl::health(self))
    }
}

/// What stopping a group did: which loops stopped within their grace, and which were
/// abandoned (their thread still running a cycle that ignores stop).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StopReport {
    /// Loops (by thread name) with no thread left running.
    pub stopped: Vec<String>,
    /// Loops (by thread name) whose thread outlived its grace and was abandoned.
    pub abandoned: Vec<String>,
}

impl StopReport {
    /// True when every loop stopped within its grace.
    pub fn is_clean(&self) -> bool {
        self.abandoned.is_empty()
    }
}

impl fmt::Display for StopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stopped in time: ")?;
        if self.stopped.is_empty() {
            write!(f, "none")?;
        } else {
            write!(f, "{}", self.stopped.join(", "))?;
        }
        write!(f, "; abandoned: ")?;
        if self.abandoned.is_empty() {
            write!(f, "none")
        } else {
            write!(f, "{}", self.abandoned.join(", "))
        }
    }
}

/// A snapshot of one member, from [`GroupHealth`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberHealth {
    /// A loop.
    Loop(LoopStatus),
    /// A nested group.
    Group(GroupHealth),
}

impl MemberHealth {
    /// The member's name: the loop's (thread name prefix) or the group's.
    pub fn name(&self) -> &str {
        match self {
            MemberHealth::Loop(s) => s.name,
            MemberHealth::Group(g) => &g.name,
        }
    }

    /// Whether any thread of the member is alive.
    pub fn alive(&self) -> bool {
        match self {
            MemberHealth::Loop(s) => s.alive,
            MemberHealth::Group(g) => g.members.iter().any(MemberHealth::alive),
        }
    }
}

/// A snapshot of a group, from [`LoopController::health`]: readable by a person (`Display`
/// prints a small table) and by a probe (the fields).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupHealth {
    /// The group's name.
    pub name: String,
    /// The supervisor thread's name, if it is running.
    pub supervisor: Option<String>,
    /// The green light: no reset under way and not given up.
    pub green: bool,
    /// Gave up after too many restarts.
    pub failed: bool,
    /// Resets performed so far.
    pub resets: u64,
    /// The delay the last reset waited before restarting (backoff).
    pub backoff: Duration,
    /// Each member, in declaration order.
    pub members: Vec<MemberHealth>,
}

impl GroupHealth {
    fn write_rows(&self, f: &mut fmt::Formatter<'_>, indent: usize) -> fmt::Result {
        for member in &self.members {
            match member {
                MemberHealth::Loop(s) => {
                    let name = s.thread_name.as_deref().unwrap_or(s.name);
                    writeln!(
                        f,
                        "{:indent$}{:<w$}  {:<9}  {:<5}  {:>8}  {:>8}  {}",
                        "",
                        name,
                        s.state,
                        if s.alive { "yes" } else { "no" },
                        format!("{}/{}", s.failures, s.max_failures),
                        s.restarts,
                        s.last_error.as_deref().unwrap_or("-"),
                        w = 20usize.saturating_sub(indent),
                    )?;
                }
                MemberHealth::Group(g) => {
                    writeln!(
                        f,
                        "{:indent$}{:<w$}  {:<9}  {:<5}  {:>8}  {:>8}  -",
                        "",
                        g.name,
                        g.state(),
                        if member.alive() { "yes" } else { "no" },
                        "",
                        g.resets,
                        w = 20usize.saturating_sub(indent),
                    )?;
                    g.write_rows(f, indent + 2)?;
                }
            }
        }
        Ok(())
    }

    /// `green`, `resetting`, or `failed`.
    fn state(&self) -> &'static str {
        if self.failed {
            "failed"
        } else if self.green {
            "green"
        } else {
            "resetting"
        }
    }
}

impl fmt::Display for GroupHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} [{}] resets={} supervisor={}",
            self.name,
            self.state(),
            self.resets,
            self.supervisor.as_deref().unwrap_or("stopped")
        )?;
        writeln!(
            f,
            "{:<20}  {:<9}  {:<5}  {:>8}  {:>8}  last error",
            "member", "state", "alive", "failures", "restarts"
        )?;
        self.write_rows(f, 0)
    }
}

/// A loop as a member (through its handle's shared owner, one impl for every loop type).
impl Member for LoopOwner {
    fn name(&self) -> String {
        self.inner.config().name.to_owned()
    }
    fn resets_globally(&self) -> bool {
        self.inner.config().reset_globally
    }
    fn set_link(&self, link: Link) {
        self.inner.set_link(link);
    }
    fn start(&self) -> bool {
        self.inner.start()
    }
    fn restart_if_ended(&self, gen: u64) -> bool {
        self.inner.restart_if_ended(gen)
    }
    fn restart_supervised(&self) -> bool {
        self.inner.restart_supervised()
    }
    fn stop_in_order(&self, unsupervise: bool, report: &mut StopReport) {
        let begun = self.inner.begin_stop_from_supervisor(unsupervise);
        self.finish_stop_into(begun, Instant::now(), report);
    }

    fn finish_stop_into(&self, begun: StopBegun, signalled: Instant, report: &mut StopReport) {
        let clean = Member::finish_stop(self, begun, signalled);
        let name = self
            .inner
            .thread_name()
            .unwrap_or_else(|| self.inner.config().name.to_owned());
        if clean {
            report.stopped.push(name);
        } else {
            report.abandoned.push(name);
        }
    }

    fn begin_stop(&self, unsupervise: bool) -> StopBegun {
        self.inner.begin_stop_from_supervisor(unsupervise)
    }
    fn finish_stop(&self, begun: StopBegun, signalled: Instant) -> bool {
        let deadline = signalled.checked_add(self.inner.config().grace);
        self.inner.stop_finish(begun, deadline)
    }
    fn is_alive(&self) -> bool {
        self.inner.is_alive()
    }
    fn is_stalled(&self) -> bool {
        let status = self.inner.status();
        matches!(
            status.state,
            LoopState::Failed | LoopState::Abandoned | LoopState::Stalled
        ) || (status.state == LoopState::Starting && !status.alive && status.abandoned_threads > 0)
            // Its thread stopped itself (`ctx.stop()`, `stop_on_failure`): the group will
            // start it again, and it does not run meanwhile.
            || (status.state == LoopState::Stopped && self.inner.is_supervised())
    }
    fn clear_failures(&self) {
        self.inner.clear_failures();
    }
    fn health(&self) -> MemberHealth {
        MemberHealth::Loop(self.inner.status())
    }
}

/// Cancels tasks that will never run (their handles' `join` returns `Cancelled`); called with
/// no lock held, since cancelling runs `then` callbacks on their `finished` signals.
fn cancel_all(tasks: impl IntoIterator<Item = TaskEntry>) {
    for task in tasks {
        task.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_immediate_after_a_quiet_spell_then_doubles_up_to_the_cap() {
        let ms = Duration::from_millis;
        let b = (ms(10), ms(40));
        let close = Some(ms(1));
        assert_eq!(
            next_backoff(Duration::ZERO, None, b),
            Duration::ZERO,
            "first reset"
        );
        assert_eq!(next_backoff(Duration::ZERO, close, b), ms(10));
        assert_eq!(next_backoff(ms(10), close, b), ms(20));
        assert_eq!(next_backoff(ms(20), close, b), ms(40));
        assert_eq!(next_backoff(ms(40), close, b), ms(40), "capped");
        assert_eq!(
            next_backoff(ms(40), Some(ms(40)), b),
            Duration::ZERO,
            "quiet spell"
        );
    }
}
