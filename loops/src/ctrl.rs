//! A controller's core ([`Ctrl`]): its settings, members, tasks and mailbox, and the group
//! operations that act on every member (`maintain_loops`, `stop_loops`, `stop`), side by side
//! with no busy flag.
//!
//! The supervisor thread's part (reacting to member events: resets, lone restarts, giving
//! up) is in [`supervisor`](crate::supervisor); the public face is
//! [`LoopController`](crate::LoopController), in `controller.rs`.
//!
//! # No busy flag
//!
//! Group operations run user code on the caller's thread (a member's `on_start` inside
//! `maintain_loops`, its `on_stop` inside `stop_loops`), and the supervisor's resets run it on
//! the supervisor thread. No flag of the controller is held across that code, and no group
//! operation waits for another one: they run side by side, each member's own start and stop
//! serialised by that member, and they agree through two counters, read under each member's
//! own lock just before it is started:
//!
//! - a **stop** of the group (`stop_loops`, `stop`, a removal, giving up) counts a *stop
//!   turn*: a `maintain_loops` under way that sees it starts no more members (stop wins), and
//!   a `maintain_loops` waiting for a reset is dropped;
//! - a **reset** counts a *reset turn* and is marked under way until its restart phase is
//!   over: a `maintain_loops` under way that sees it, or that begins meanwhile, leaves the
//!   rest to the reset, which runs it on the supervisor thread once its members are started
//!   again (so `on_reset` never runs while a member of the set is being started).
//!
//! Because the counter is read under the member's lock, a start and a stop (or a reset's
//! stop) of the same member are ordered by that lock: whichever comes second sees the other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Guard, Lock};

use crate::clock::Clock;
use crate::event::{Link, Mailbox};
use crate::health::{GroupHealth, StopReport};

/// How often [`Ctrl::wait_green`] looks again at a settled group's stalled members.
const STALLED_LOOK_AGAIN: Duration = Duration::from_millis(5);
use crate::member::Member;
use crate::policy::{Facts, Policy, Supervision};
use crate::runner::ticket;
use crate::tasks::{TaskLine, Tasks};
use crate::trace::{debug, error};
use crate::waits;
use crate::Signal;

/// How a group is configured; set through [`LoopController`](crate::LoopController)'s
/// builder methods.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) name: Arc<str>,
    pub(crate) policy: Policy,
    pub(crate) on_reset: Option<Arc<dyn Fn() + Send + Sync>>,
    /// How long `stop` waits for each running task before abandoning it.
    pub(crate) task_grace: Duration,
    /// Stop every member at once instead of in dependency order.
    pub(crate) stop_all_at_once: bool,
    /// The clock its supervision reads (real, or a test's).
    pub(crate) clock: Clock,
}

/// A member of a controller, as its group knows it.
#[derive(Clone)]
pub(crate) struct Entry {
    /// Its number: members are numbered in the order they were added, and a removed member's
    /// number is never given to another (events, decisions and waiting restarts name it).
    pub(crate) id: usize,
    pub(crate) name: String,
    pub(crate) member: Arc<dyn Member>,
}

/// The members, in declaration order (so their numbers go up), and the number the next one
/// added gets.
#[derive(Default)]
pub(crate) struct Members {
    pub(crate) list: Vec<Entry>,
    pub(crate) next_id: usize,
}

/// A controller's core, shared by its handles, its supervisor thread and its parent group.
pub(crate) struct Ctrl {
    /// Itself, so that a nested group started through `&self` can spawn its supervisor.
    pub(crate) me: Weak<Ctrl>,
    pub(crate) settings: Lock<Settings>,
    pub(crate) members: Lock<Members>,
    pub(crate) tasks: Tasks,
    pub(crate) mailbox: Arc<Mailbox>,
    pub(crate) state: Lock<CtrlState>,
    pub(crate) changed: Condvar,
    /// Stops of the group so far (see "No busy flag" above); changed under `state`, read
    /// under a member's lock as well.
    stop_turn: AtomicU64,
    /// Resets begun so far; changed under `state` with `resetting`.
    reset_turn: AtomicU64,
}

/// What a `maintain_loops` saw when it began: it starts a member only while both are still
/// current (and its parent's, when nested, through `outer`).
#[derive(Clone, Copy)]
struct Turns {
    stops: u64,
    resets: u64,
}

pub(crate) struct CtrlState {
    /// A `maintain_loops` that came while a reset was under way, by its ticket (the latest,
    /// if several came): the reset runs it once its members are started again (a stop of the
    /// group drops it).
    deferred_maintain: Option<u64>,
    pub(crate) supervisor: Option<Supervisor>,
    /// Supervisor threads started so far: the next is `{name}_{generations}`.
    pub(crate) generations: u64,
    /// The supervisor's memory between events (restart intensity, backoffs, waiting
    /// restarts, given up).
    pub(crate) supervision: Supervision,
    /// A reset is under way.
    pub(crate) resetting: bool,
    pub(crate) resets: u64,
    /// Resets of its parent that restarted this group (when nested).
    pub(crate) epoch: u64,
    /// The supervisor panicked (a bug of the crate): why. The group is not green until a new
    /// supervisor starts or `maintain_loops` brings it back.
    pub(crate) fault: Option<String>,
    /// The supervisor's last decision, in words.
    pub(crate) last_decision: Option<String>,
    /// While a reset waits out its backoff: when it restarts its members.
    pub(crate) reset_due: Option<Instant>,
    pub(crate) parent: Option<Link>,
}

impl CtrlState {
    /// A `maintain_loops` left to a reset is not run (a stop of the group came after it, or
    /// the reset was cut short by a fault).
    pub(crate) fn drop_deferred_maintain(&mut self) {
        self.deferred_maintain = None;
    }

    /// Leaves a `maintain_loops` with `ticket` to the reset under way (the later of two).
    fn defer_maintain(&mut self, ticket: u64) {
        self.deferred_maintain = Some(self.deferred_maintain.map_or(ticket, |t| t.max(ticket)));
    }

    /// The green light: no reset under way, no member waiting for its restart, not given up,
    /// and no panic of its supervisor.
    pub(crate) fn green(&self) -> bool {
        !self.resetting
            && !self.supervision.gave_up()
            && !self.supervision.restoring()
            && self.fault.is_none()
    }
}

pub(crate) struct Supervisor {
    pub(crate) thread: JoinHandle<()>,
    pub(crate) shutdown: Signal,
    pub(crate) name: Arc<str>,
}

impl Ctrl {
    /// A controller named `LoopController` with the default policy.
    pub(crate) fn new() -> Arc<Ctrl> {
        Arc::new_cyclic(|me: &Weak<Ctrl>| {
            let mailbox = Mailbox::new();
            let on_end: Arc<dyn Fn() + Send + Sync> = {
                let me = me.clone();
                Arc::new(move || {
                    if let Some(ctrl) = me.upgrade() {
                        ctrl.tasks.start_queued();
                    }
                })
            };
            Ctrl {
                me: me.clone(),
                settings: Lock::new(Settings {
                    name: Arc::from("LoopController"),
                    policy: Policy::default(),
                    on_reset: None,
                    task_grace: Duration::from_secs(5),
                    stop_all_at_once: false,
                    clock: Clock::default(),
                }),
                members: Lock::new(Members::default()),
                tasks: Tasks::new(TaskLine {
                    link: Link::new(mailbox.clone(), usize::MAX),
                    on_end,
                }),
                mailbox,
                state: Lock::new(CtrlState {
                    deferred_maintain: None,
                    supervisor: None,
                    generations: 0,
                    supervision: Supervision::default(),
                    resetting: false,
                    resets: 0,
                    epoch: 0,
                    fault: None,
                    last_decision: None,
                    reset_due: None,
                    parent: None,
                }),
                changed: Condvar::new(),
                stop_turn: AtomicU64::new(0),
                reset_turn: AtomicU64::new(0),
            }
        })
    }

    pub(crate) fn name(&self) -> Arc<str> {
        self.settings.lock().name.clone()
    }

    pub(crate) fn members(&self) -> Vec<Entry> {
        self.members.lock().list.clone()
    }

    /// Member number `id`, if it is still a member.
    pub(crate) fn member(&self, id: usize) -> Option<Entry> {
        let members = self.members.lock();
        let at = members.list.binary_search_by_key(&id, |e| e.id).ok()?;
        Some(members.list[at].clone())
    }

    /// Adds `member`, and links it to this controller's mailbox.
    pub(crate) fn add(&self, member: Arc<dyn Member>) {
        let id = {
            let mut members = self.members.lock();
            let id = members.next_id;
            members.next_id += 1;
            members.list.push(Entry {
                id,
                name: member.name(),
                member: member.clone(),
            });
            id
        };
        member.set_link(Some(Link::new(self.mailbox.clone(), id)));
    }

    /// Removes `member`: out of the list (no reset, maintain or `health()` of this group sees
    /// it from now on), its waiting restart and its queued events dropped, unlinked from the
    /// mailbox, then stopped as the group's stop stops a member (out of supervision, within its
    /// grace; a nested group's supervisor and tasks end too). False if it was not a member.
    ///
    /// It waits for no other group operation: removing from one of the group's own hooks or
    /// tasks never waits for the operation that runs that hook. An operation under way that
    /// took its list of members before the removal may still reach the member; each one
    /// checks, under the member's own lock, that it is still a member (a `maintain_loops`) or
    /// still supervised (a reset's restart), and the removal unlinks it before it stops it.
    pub(crate) fn remove(&self, member: &Arc<dyn Member>, report: &mut StopReport) -> bool {
        let entry = {
            let mut members = self.members.lock();
            let Some(at) = members
                .list
                .iter()
                .position(|e| std::ptr::addr_eq(Arc::as_ptr(&e.member), Arc::as_ptr(member)))
            else {
                return false;
            };
            members.list.remove(at)
        };
        // Unlinked first: it sends nothing more, and what it sent before is dropped.
        entry.member.set_link(None);
        self.mailbox.forget(entry.id);
        {
            let mut st = self.state.lock();
            st.supervision.forget(entry.id);
            self.changed.notify_all();
        }
        entry.member.stop_removed(report);
        self.notify_changed();
        true
    }

    /// Wakes `wait_green` callers (the green light or the mailbox may have changed).
    pub(crate) fn notify_changed(&self) {
        let _st = self.state.lock();
        self.changed.notify_all();
    }

    /// What the policy knows of each member now.
    pub(crate) fn facts(members: &[Entry]) -> Vec<Facts> {
        members
            .iter()
            .map(|e| Facts {
                id: e.id,
                resets_globally: e.member.resets_globally(),
                alive: e.member.is_alive(),
                epoch: e.member.epoch(),
            })
            .collect()
    }

    /// The turns now (under `state`, where they change).
    fn turns(&self) -> Turns {
        Turns {
            stops: self.stop_turn.load(Ordering::SeqCst),
            resets: self.reset_turn.load(Ordering::SeqCst),
        }
    }

    /// Whether `turns` are still current: no stop or reset of the group since. Reads two
    /// atomics only, so it may be asked under any lock (a member's, before it is started).
    fn current(&self, turns: Turns) -> bool {
        self.stop_turn.load(Ordering::SeqCst) == turns.stops
            && self.reset_turn.load(Ordering::SeqCst) == turns.resets
    }

    /// Starts every member whose thread is not alive, in order (and puts it under
    /// supervision again), until a stop of the group comes. During a reset, the reset does it
    /// once its members are started again.
    pub(crate) fn maintain(&self) {
        self.maintain_with(None, &|| true);
    }

    /// [`maintain`](Self::maintain). `parent`: for its parent group's `maintain_loops` with
    /// that ticket, which starts its supervisor too, unless it has been removed from that
    /// parent; `outer` is then whether the parent's `maintain_loops` is still current, asked
    /// with this group's own turns.
    pub(crate) fn maintain_with(&self, parent: Option<u64>, outer: &dyn Fn() -> bool) {
        let as_member = parent.is_some();
        let ticket = parent.unwrap_or_else(ticket);
        let turns = {
            let mut st = self.state.lock();
            if (as_member && st.parent.is_none()) || !outer() {
                return;
            }
            if st.resetting {
                // Not while the reset's set is stopped: it maintains when it is done.
                st.defer_maintain(ticket);
                return;
            }
            st.supervision.revive();
            st.fault = None;
            self.changed.notify_all();
            self.turns()
        };
        if as_member {
            if let Some(me) = self.me.upgrade() {
                me.start_supervisor_if(&|| outer() && self.current(turns));
            }
        }
        self.maintain_members(ticket, turns, outer);
    }

    /// Starts each member that is not alive, in order, while `turns` (and `outer`) are
    /// current. Cut short by a reset, it leaves the rest to that reset; by a stop, it stops.
    fn maintain_members(&self, ticket: u64, mut turns: Turns, outer: &dyn Fn() -> bool) {
        let members = self.members();
        let mut i = 0;
        while let Some(Entry { member, .. }) = members.get(i) {
            let go = || outer() && self.current(turns);
            if !go() {
                let mut st = self.state.lock();
                if self.stop_turn.load(Ordering::SeqCst) != turns.stops || !outer() {
                    // A stop wins: the members after it stay stopped.
                    return;
                }
                if st.resetting {
                    st.defer_maintain(ticket);
                    return;
                }
                // A reset came and went: go on from here.
                turns = self.turns();
                continue;
            }
            member.maintain(ticket, &go);
            // Overtaken while at this member (it may have been passed over): decided above,
            // with this member again if the maintain goes on.
            if go() {
                i += 1;
            }
        }
    }

    /// A reset begins: `maintain_loops` calls from now on are left to it.
    pub(crate) fn reset_begins(&self) {
        let mut st = self.state.lock();
        st.resetting = true;
        st.resets += 1;
        self.reset_turn.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_all();
    }

    /// A reset's restart phase is over: runs the `maintain_loops` calls left to it (on this,
    /// the supervisor's, thread), then marks it over.
    pub(crate) fn reset_ends(&self, now: Instant) {
        loop {
            let (ticket, turns) = {
                let mut st = self.state.lock();
                let Some(ticket) = st.deferred_maintain.take() else {
                    st.resetting = false;
                    st.supervision.reset_done(now);
                    self.changed.notify_all();
                    return;
                };
                st.supervision.revive();
                st.fault = None;
                (ticket, self.turns())
            };
            self.maintain_members(ticket, turns, &|| true);
        }
    }

    pub(crate) fn stop_members(&self) -> bool {
        let mut report = StopReport::default();
        self.stop_members_report(true, &mut report);
        report.all_stopped()
    }

    /// Stops every member in dependency order: the last declared first, each one's thread
    /// ended (or abandoned after its grace) before the one declared before it is asked, so a
    /// member can rely on the members declared before it until its own `on_stop` has run.
    pub(crate) fn stop_members_report(&self, unsupervise: bool, report: &mut StopReport) {
        let members = self.members();
        let at_once = self.settings.lock().stop_all_at_once;
        {
            // Stop wins over a `maintain_loops` under way or waiting for a reset. It runs
            // beside any other operation: each member's own stop is serialised on its own.
            let mut st = self.state.lock();
            self.stop_turn.fetch_add(1, Ordering::SeqCst);
            st.drop_deferred_maintain();
        }
        if unsupervise {
            // All of them at once: a reset under way restarts none, whichever it reaches first.
            for Entry { member, .. } in &members {
                member.unsupervise();
            }
        }
        if at_once {
            let begun: Vec<_> = members
                .iter()
                .rev()
                .map(|e| (e, e.member.begin_stop(unsupervise)))
                .collect();
            let signalled = Instant::now();
            for (e, b) in begun {
                e.member.finish_stop_into(b, signalled, report);
            }
        } else {
            for Entry { member, .. } in members.iter().rev() {
                member.stop_in_order(unsupervise, report);
            }
        }
    }

    /// Ends the supervisor thread: signals it, and joins it unless that would wait for
    /// itself (a hook the supervisor runs stopped the controller) or close a circle of waits;
    /// such a supervisor ends on its own as soon as it returns.
    pub(crate) fn stop_supervisor(&self) {
        let supervisor = self.state.lock().supervisor.take();
        let Some(sup) = supervisor else {
            // None ran: what was sent before this stop is not acted on by a later start.
            self.close_if_unsupervised();
            return;
        };
        sup.shutdown.go();
        // Err: it would wait for itself; it ends (and closes the mailbox) on its own.
        if let Ok(waiting) = waits::for_thread(sup.thread.thread().id()) {
            if sup.thread.join().is_err() {
                error!(thread = %sup.name, "The supervisor thread panicked");
            }
            drop(waiting);
            // The supervisor closes the mailbox as it ends; this covers one that panicked.
            self.close_if_unsupervised();
        }
    }

    /// Once no supervisor runs: closes the mailbox (dropping what nobody will handle now, so
    /// it no longer holds `wait_green` back, and a later start does not act on it). Under the
    /// state lock, so a supervisor started meanwhile keeps every event.
    pub(crate) fn close_if_unsupervised(&self) {
        let st = self.state.lock();
        if st.supervisor.is_none() {
            self.mailbox.close();
        }
        self.changed.notify_all();
        drop(st);
    }

    /// Stops tasks, then every member in dependency order, then the supervisor thread.
    pub(crate) fn stop_all(&self) -> StopReport {
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
        let task_grace = self.settings.lock().task_grace;
        self.tasks.stop(task_grace, &mut report);
        self.stop_members_report(true, &mut report);
        for Entry { member, .. } in self.members() {
            member.shutdown(&mut report);
        }
        self.stop_supervisor();
        report
    }

    /// Settled: green, and every member event sent so far handled. With
    /// [`members_steady`](Self::members_steady), what the public green light is
    /// (`is_green`, `wait_green`, `health().green`): an event not yet handled may be a member
    /// that should run and does not.
    pub(crate) fn settled(&self, st: &CtrlState) -> bool {
        st.green() && self.mailbox.pending() == 0
    }

    /// No member is stalled (what `stalled_loops` lists): every member that should run has a
    /// live thread, none is left with an abandoned thread, and none runs a cycle past its
    /// `cycle_timeout`. A member's restart the supervisor decided may still wait for its
    /// value (queued behind an abandoned thread): not running, so not green. Read without
    /// the state lock: each lock of a controller is taken alone.
    pub(crate) fn members_steady(&self) -> bool {
        !self.members().iter().any(|e| e.member.is_stalled())
    }

    /// [`members_steady`](Self::members_steady) for a wait on thread `me`: a loop that `me`
    /// is a thread of (its cycle past its `cycle_timeout` because it waits, say) does not
    /// keep the light off for its own wait.
    pub(crate) fn members_steady_but_for(&self, me: ThreadId) -> bool {
        !self
            .members()
            .iter()
            .any(|e| e.member.is_stalled_but_for(me))
    }

    /// The green light: [`settled`](Self::settled), and then
    /// [`members_steady`](Self::members_steady).
    pub(crate) fn is_green(&self) -> bool {
        let settled = self.settled(&self.state.lock());
        settled && self.members_steady()
    }

    /// Waits until [`is_green`](Self::is_green) or `deadline` (`None`: no deadline); a loop
    /// whose thread this is does not count as stalled (see
    /// [`members_steady_but_for`](Self::members_steady_but_for)).
    pub(crate) fn wait_green(&self, deadline: Option<Instant>) -> bool {
        let me = std::thread::current().id();
        let mut st = self.state.lock();
        // A hook the supervisor runs (or something it waits for) would wait for itself: the
        // group cannot settle while it blocks it.
        let waiting = match st.supervisor.as_ref().map(|s| s.thread.thread().id()) {
            Some(sup) => match waits::for_thread(sup) {
                Ok(w) => Some(w),
                Err(_) => {
                    let settled = self.settled(&st);
                    drop(st);
                    let green = settled && self.members_steady_but_for(me);
                    debug!(
                        group = %self.name(),
                        green,
                        "wait_green answers at once: the supervisor waits, through others, for this thread"
                    );
                    return green;
                }
            },
            None => None,
        };
        // The answer is the last reading: `settled` also reads the mailbox, which members
        // change without this lock, so a second reading may differ from the one that ended
        // the wait (a failure sent just after the group settled). Read twice, a group seen
        // settled could answer `false` at once.
        let green = loop {
            let settled = self.settled(&st);
            if settled {
                drop(st);
                let steady = self.members_steady_but_for(me);
                if steady {
                    break true;
                }
                st = self.state.lock();
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                drop(st);
                break false;
            }
            // Settled, but a member is stalled: its recovery (an abandoned thread that ends,
            // a stuck cycle that returns) tells this controller nothing, so look again every
            // few milliseconds while it lasts. A healthy group is never polled.
            let until = if settled {
                let again = now + STALLED_LOOK_AGAIN;
                Some(deadline.map_or(again, |d| d.min(again)))
            } else {
                deadline
            };
            match until {
                Some(u) => drop(st.wait_until(&self.changed, u)),
                None => st.wait(&self.changed),
            }
        };
        drop(waiting);
        green
    }

    pub(crate) fn health(&self) -> GroupHealth {
        // Read before the state lock: each lock of a controller is taken alone.
        let now = self.settings.lock().clock.now();
        let members = self.members();
        let st = self.state.lock();
        let settled = self.settled(&st);
        let failed = st.supervision.gave_up();
        let restoring = st.supervision.restoring();
        let (resets, backoff) = (st.resets, st.supervision.reset_backoff());
        let supervisor = st.supervisor.as_ref().map(|s| s.name.to_string());
        let fault = st.fault.clone();
        // By number in the policy; by place among the members in the snapshot.
        let retrying: Vec<(usize, Option<Duration>)> = st
            .supervision
            .waiting()
            .into_iter()
            .filter_map(|(id, due)| {
                let at = members.iter().position(|e| e.id == id)?;
                Some((at, due.map(|d| d.saturating_duration_since(now))))
            })
            .collect();
        let next_restart_in = st
            .reset_due
            .map(|d| d.saturating_duration_since(now))
            .into_iter()
            .chain(retrying.iter().filter_map(|(_, due)| *due))
            .min();
        let last_decision = st.last_decision.clone();
        drop(st);
        let table = members.iter().map(|e| e.member.health()).collect();
        let stalled = settled && members.iter().any(|e| e.member.is_stalled());
        GroupHealth {
            name: self.name().to_string(),
            supervisor,
            green: settled && !stalled,
            failed,
            restoring,
            stalled,
            retrying,
            next_restart_in,
            last_decision,
            fault,
            resets,
            backoff,
            members: table,
        }
    }

    /// Its inner state in words (not a stable format): for a test's failure message when a
    /// group never settles.
    pub(crate) fn describe(&self) -> String {
        let mailbox = self.mailbox.describe();
        let st = self.state.lock();
        let text = format!(
            "resetting {}, resets {}, deferred maintain {:?}, supervisor {}, gave up {}, \
             restoring {}, fault {:?}, waiting {:?}; {mailbox}",
            st.resetting,
            st.resets,
            st.deferred_maintain,
            st.supervisor.as_ref().map_or("none", |s| &*s.name),
            st.supervision.gave_up(),
            st.supervision.restoring(),
            st.fault,
            st.supervision.waiting(),
        );
        drop(st);
        text
    }

    /// Locks the state (for the supervisor's decisions).
    pub(crate) fn lock_state(&self) -> Guard<'_, CtrlState> {
        self.state.lock()
    }
}
