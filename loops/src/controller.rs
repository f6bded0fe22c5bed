//! [`LoopController`]: a supervisor that keeps a set of loops healthy together — the public
//! face of a controller's core ([`Ctrl`], in `ctrl.rs`) and of its supervisor thread (in
//! `supervisor.rs`).
//!
//! # How the supervisor works
//!
//! Every member reports to the controller's mailbox (`event.rs`): `Exceeded` when a failure
//! exceeds its budget, `Ended` when its thread ends without anyone stopping it (a panic,
//! `ctx.stop()`, `stop_on_failure`), `StartFailed` when it could not be started. The
//! supervisor thread blocks on that mailbox and on nothing else, so it uses no CPU while
//! members are healthy (Guarantee 8), and asks the pure policy (`policy.rs`) what to do.

use std::fmt;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::clock::{Clock, ManualClock};
use crate::ctrl::{Ctrl, Entry};
use crate::event::Link;
use crate::health::{GroupHealth, MemberHealth, StopReport};
use crate::member::{Member, MemberRef, Stopping, Supervise};
use crate::task::{new_task, SpawnError, TaskHandle};
use crate::tasks::drop_refused;
use crate::trace::info;
use crate::{Ctx, LoopHandle, Signal, Strategy, SuperLoop};

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

impl Default for LoopController {
    fn default() -> Self {
        Self::new()
    }
}

impl LoopController {
    /// A controller named `LoopController`, with the default strategy (`OneForAll`), no
    /// restart limit (it never gives up, like SuperLoops) and the default backoff.
    pub fn new() -> Self {
        LoopController {
            owner: Arc::new(Owner { ctrl: Ctrl::new() }),
        }
    }

    /// For `__private::controller_state`.
    pub(crate) fn __ctrl(&self) -> &Arc<Ctrl> {
        self.ctrl()
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
        self.ctrl().settings.lock().policy.strategy = strategy;
        self
    }

    /// Gives up past `max` resets within `within`: stops every member and reports the group
    /// failed (to its parent group, when nested). Its own members' events then restart
    /// nothing; [`maintain_loops`](Self::maintain_loops), or the parent's reset when nested,
    /// brings it back.
    pub fn max_restarts(self, max: u32, within: Duration) -> Self {
        self.ctrl().settings.lock().policy.max_restarts = Some((max, within));
        self
    }

    /// Backoff between resets that follow each other: the first reset after a quiet spell
    /// (no reset for `max`) is immediate, the next waits `min`, then twice as long each time,
    /// up to `max`. Default: [`DEFAULT_BACKOFF`](crate::DEFAULT_BACKOFF), 10 ms up to 5 s.
    ///
    /// A member restarted alone because its thread ended (a panic, `ctx.stop()`) backs off
    /// on the same schedule, counted per member: a member whose thread ends as soon as it
    /// starts is restarted at most once per `max`, instead of spinning. The supervisor
    /// goes on handling the other members' events meanwhile.
    pub fn backoff(self, min: Duration, max: Duration) -> Self {
        self.ctrl().settings.lock().policy.backoff = (min, max.max(min));
        self
    }

    /// Runs this controller's supervision on a test's [`ManualClock`]: its backoff waits
    /// (of resets and of lone restarts), its restart-intensity window and the failure `within`
    /// windows of its loops follow the clock, which stands still until advanced, so that a
    /// test of restart settings runs in milliseconds. Grace waits, thread joins,
    /// `cycle_timeout` and [`Signal::after`] stay on real time. Set it before the controller
    /// starts.
    pub fn clock(self, clock: ManualClock) -> Self {
        let clock = Clock::manual(clock);
        self.ctrl().mailbox.set_clock(clock.clone());
        self.ctrl().settings.lock().clock = clock;
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
        self.ctrl().tasks.set_max_threads(max);
        self
    }

    /// Past [`max_threads`](Self::max_threads), queue tasks instead of refusing them; each
    /// starts as soon as a running task ends.
    pub fn queue_tasks(self) -> Self {
        self.ctrl().tasks.set_queue();
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
    /// A task may stop, drop or query its own controller: [`stop`](Self::stop) called from
    /// inside a task stops everything but that task, which it cannot wait for, and returns;
    /// [`stop_with_report`](Self::stop_with_report) lists the calling task under
    /// [`ending`](crate::StopReport::ending), never as stopped or abandoned.
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
        let (entry, handle) = new_task(&name, f);
        match self.ctrl().tasks.spawn(entry) {
            Ok(()) => Ok(handle),
            Err((error, entry)) => {
                // The refused task holds the caller's closure: its `Drop` is user code.
                drop_refused(entry);
                Err(error)
            }
        }
    }

    /// Blocks until `signal` goes on, then [`stop`](Self::stop)s everything and reports what
    /// stopped within its grace and what was abandoned. It starts nothing: call it after
    /// starting the loops. With [`Signal::after`] it runs for a fixed time.
    pub fn run_until(&self, signal: &Signal) -> StopReport {
        signal.wait();
        info!(group = %self.ctrl().name(), "Shutting down");
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
        info!(
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
        self.ctrl().tasks.running()
    }

    /// Tasks waiting for a free slot (under [`queue_tasks`](Self::queue_tasks)).
    pub fn queued_tasks(&self) -> usize {
        self.ctrl().tasks.queued()
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
        self.ctrl().add(member.__member().0);
    }

    /// Removes a member (a loop handle, a group or a controller added to this one): stops
    /// it (within its grace, with the usual pairing of hooks; a thread past its grace is
    /// abandoned), takes it out of supervision and out of [`health`](Self::health), and returns
    /// whether it was a member. A restart or backoff already scheduled for it is dropped, and
    /// its events not yet handled too; a reset under way neither restarts it nor waits for its
    /// thread (this call does). The removed
    /// handle still works on its own, as a loop of no group: its `start`, `stop` and
    /// `status` behave as for a loop never added. Added again, it is a new member, the last
    /// in declaration order.
    ///
    /// It may be called from anywhere, the controller's own hooks and tasks included, and
    /// returns: from the member's own thread or hook, the stop only asks (as `stop` does
    /// there), and the member ends on its own.
    ///
    /// Adding during a reset: the reset restarts the set it decided on; the new member joins
    /// after it, started by its own `start` or by [`maintain_loops`](Self::maintain_loops).
    ///
    /// ```
    /// use superloops::prelude::*;
    /// # struct Device;
    /// # #[superloop]
    /// # impl Device { fn cycle(&mut self, ctx: &Ctx) { ctx.sleep(std::time::Duration::from_millis(5)); } }
    /// let controller = LoopController::new();
    /// let device = controller.new_loop(Device);
    /// controller.start();
    /// controller.maintain_loops();
    /// // The device went away.
    /// assert!(controller.remove(&device));
    /// assert!(!device.status().alive);
    /// assert!(controller.health().members.is_empty());
    /// assert!(!controller.remove(&device), "no longer a member");
    /// controller.stop();
    /// ```
    pub fn remove(&self, member: &impl Supervise) -> bool {
        self.ctrl()
            .remove(&member.__member().0, &mut StopReport::default())
    }

    /// Starts the supervisor thread (`LoopController_0`, or the group's name), if it is not
    /// running. It does not start the members: see [`maintain_loops`](Self::maintain_loops).
    pub fn start(&self) -> bool {
        self.ctrl().start_supervisor()
    }

    /// Starts every member whose thread is not alive, in order (and puts it under
    /// supervision again).
    ///
    /// It waits for no other group operation. A stop of the group that comes while it runs
    /// wins: the members after it stay stopped; so does a member's own `stop` after it began
    /// (that member stays stopped). During a reset it returns at once and the
    /// reset does it, once the reset's members are started again (a member of the reset's set
    /// is never started while `on_reset` runs); [`wait_green`](Self::wait_green) waits for
    /// that too. A member another thread is starting meanwhile is left to that start.
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
        self.ctrl().stop_all().all_stopped()
    }

    /// [`stop`](Self::stop), reporting which loops stopped within their grace and which were
    /// abandoned.
    pub fn stop_with_report(&self) -> StopReport {
        self.ctrl().stop_all()
    }

    /// Whether any member's thread is alive.
    pub fn has_alive_loops(&self) -> bool {
        self.ctrl().members().iter().any(|e| e.member.is_alive())
    }

    /// The health of the members whose thread is alive.
    pub fn alive_loops(&self) -> Vec<MemberHealth> {
        self.ctrl()
            .members()
            .iter()
            .filter(|e| e.member.is_alive())
            .map(|e| e.member.health())
            .collect()
    }

    /// The health of members that should run but do not: wanted running (or under
    /// supervision) with no live thread, or left with an abandoned thread.
    pub fn stalled_loops(&self) -> Vec<MemberHealth> {
        self.ctrl()
            .members()
            .iter()
            .filter(|e| e.member.is_stalled())
            .map(|e| e.member.health())
            .collect()
    }

    /// A snapshot of the group: the green light, resets, and each member's status.
    pub fn health(&self) -> GroupHealth {
        self.ctrl().health()
    }

    /// Whether the green light is on: no reset under way, no member waiting for its restart
    /// (backing off, or to be started again after its start failed), not given up, no panic
    /// of the supervisor, every event the members sent handled (one not handled yet may be a
    /// member that should run and does not), and no member stalled: every member that should
    /// run has a live thread (not a start queued behind an abandoned thread), none is left
    /// with an abandoned thread, none runs a cycle past its `cycle_timeout`. The same light as
    /// [`wait_green`](Self::wait_green) and [`health`](Self::health)`().green`; it is on only
    /// when [`stalled_loops`](Self::stalled_loops) is empty.
    pub fn is_green(&self) -> bool {
        self.ctrl().is_green()
    }

    /// Waits until the green light is on (a reset under way has finished, no member waits
    /// for its restart, none is stalled) and every member event sent so far has been
    /// handled, or `timeout` passes; true if the group settled. `Duration::MAX` waits as long
    /// as it takes. While a member is stalled (its recovery tells the group nothing), it
    /// looks again every 5 ms. Called from a member's own thread (its `cycle`, say), that
    /// member does not count as stalled for this wait: its cycle may run past its
    /// `cycle_timeout` because it waits here, and a wait must not wait for itself.
    ///
    /// Called from a hook that the supervisor runs (`on_reset`, or a member's `on_start`
    /// during a reset), it cannot wait for the supervisor it blocks: it answers at once.
    pub fn wait_green(&self, timeout: Duration) -> bool {
        self.ctrl().wait_green(Instant::now().checked_add(timeout))
    }

    /// Resets performed so far.
    pub fn resets(&self) -> u64 {
        self.ctrl().lock_state().resets
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

/// A nested group (through the parent's full owner of it), as a member of its parent.
impl Member for Owner {
    fn name(&self) -> String {
        Member::name(&*self.ctrl)
    }
    fn resets_globally(&self) -> bool {
        self.ctrl.resets_globally()
    }
    fn set_link(&self, link: Option<Link>) {
        self.ctrl.set_link(link);
    }
    fn maintain(&self, ticket: u64, go: &dyn Fn() -> bool) {
        Member::maintain(&*self.ctrl, ticket, go);
    }
    fn restart_if_ended(&self, gen: u64) -> bool {
        self.ctrl.restart_if_ended(gen)
    }
    fn restart_failed(&self) -> bool {
        self.ctrl.restart_failed()
    }
    fn restart_supervised(&self) -> bool {
        self.ctrl.restart_supervised()
    }
    fn stop_in_order(&self, unsupervise: bool, report: &mut StopReport) {
        self.ctrl.stop_in_order(unsupervise, report);
    }
    fn unsupervise(&self) {
        Member::unsupervise(&*self.ctrl);
    }
    fn begin_stop(&self, unsupervise: bool) -> Stopping {
        self.ctrl.begin_stop(unsupervise)
    }
    fn finish_stop(&self, begun: Stopping, signalled: Instant) -> bool {
        self.ctrl.finish_stop(begun, signalled)
    }
    fn finish_stop_into(&self, begun: Stopping, signalled: Instant, report: &mut StopReport) {
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
    fn is_stalled_but_for(&self, me: ThreadId) -> bool {
        self.ctrl.is_stalled_but_for(me)
    }
    fn reset_restarting(&self) {
        self.ctrl.reset_restarting();
    }
    fn epoch(&self) -> u64 {
        self.ctrl.epoch()
    }
    fn health(&self) -> MemberHealth {
        Member::health(&*self.ctrl)
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

    fn set_link(&self, link: Option<Link>) {
        self.lock_state().parent = link;
    }

    fn restart_if_ended(&self, _gen: u64) -> bool {
        false
    }

    fn restart_failed(&self) -> bool {
        false
    }

    /// Its parent's `maintain_loops`: unless it has been removed from that parent meanwhile,
    /// or the parent's operation has been overtaken (`go`).
    fn maintain(&self, ticket: u64, go: &dyn Fn() -> bool) {
        self.maintain_with(Some(ticket), go);
    }

    /// Each member restarted by its own rule (a loop only if still supervised), not
    /// `maintain`: a member stopped from outside (its handle's `stop`, this group's
    /// `stop`/`stop_loops`, or an ancestor's) stays stopped, even when the stop came while the
    /// parent's reset was under way. Its supervisor is not started here: only a stop from
    /// outside ends it.
    fn restart_supervised(&self) -> bool {
        let members = self.members();
        {
            let mut st = self.lock_state();
            st.supervision.revive();
            self.changed.notify_all();
        }
        let mut any = false;
        for Entry { member, .. } in &members {
            any |= member.restart_supervised();
        }
        any
    }

    fn stop_in_order(&self, unsupervise: bool, report: &mut StopReport) {
        self.stop_members_report(unsupervise, report);
    }

    fn unsupervise(&self) {
        for Entry { member, .. } in self.members() {
            member.unsupervise();
        }
    }

    fn begin_stop(&self, unsupervise: bool) -> Stopping {
        let members = self
            .members()
            .into_iter()
            .rev()
            .map(|e| {
                let begun = e.member.begin_stop(unsupervise);
                (e.member, begun)
            })
            .collect();
        Stopping::Nested(members)
    }

    fn finish_stop_into(&self, begun: Stopping, signalled: Instant, report: &mut StopReport) {
        let Stopping::Nested(begun) = begun else {
            return;
        };
        for (member, b) in begun {
            member.finish_stop_into(b, signalled, report);
        }
    }

    fn finish_stop(&self, begun: Stopping, signalled: Instant) -> bool {
        let Stopping::Nested(begun) = begun else {
            return true;
        };
        let mut clean = true;
        for (member, b) in begun {
            clean &= member.finish_stop(b, signalled);
        }
        clean
    }

    fn shutdown(&self, report: &mut StopReport) {
        let task_grace = self.settings.lock().task_grace;
        self.tasks.stop(task_grace, report);
        for Entry { member, .. } in self.members() {
            member.shutdown(report);
        }
        self.stop_supervisor();
    }

    fn is_alive(&self) -> bool {
        self.members().iter().any(|e| e.member.is_alive())
    }

    fn is_stalled(&self) -> bool {
        let failed = self.lock_state().supervision.gave_up();
        failed || self.members().iter().any(|e| e.member.is_stalled())
    }

    fn is_stalled_but_for(&self, me: ThreadId) -> bool {
        let failed = self.lock_state().supervision.gave_up();
        failed || !self.members_steady_but_for(me)
    }

    fn reset_restarting(&self) {
        {
            let mut st = self.lock_state();
            st.epoch += 1;
            // Restarted by its parent: a fresh intensity, as OTP starts a restarted supervisor.
            st.supervision.restarted_by_parent();
            if let Some(parent) = &st.parent {
                parent.restarted_into(st.epoch);
            }
        }
        for Entry { member, .. } in self.members() {
            member.reset_restarting();
        }
        // Its members' stale excesses may have left its mailbox: a `wait_green` looks again.
        let st = self.lock_state();
        self.changed.notify_all();
        drop(st);
    }

    fn epoch(&self) -> u64 {
        self.lock_state().epoch
    }

    fn health(&self) -> MemberHealth {
        MemberHealth::Group(Ctrl::health(self))
    }
}
