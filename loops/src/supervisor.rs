//! The supervisor thread of a controller: takes its members' events from the mailbox, asks
//! the [`policy`](crate::policy) what to do, and does it (a reset, a lone restart now or
//! after its backoff, giving up).
//!
//! It blocks on the mailbox's bell, its own shutdown signal and, only while a restart waits
//! out its backoff, a timer: an idle supervisor uses no CPU (Guarantee 8). No event is ever
//! dropped while it runs: a failure that exceeds a budget during a reset waits in the mailbox
//! and causes another reset (Guarantee 4), unless that reset restarted the member after the
//! failure was counted (the event is then stale: the reset answered it).
//!
//! No flag of the controller is held by a reset (see [`ctrl`](crate::ctrl)): a `stop` runs
//! beside it and is never kept waiting by it, and a member stopped from outside is never
//! restarted by a reset that was already under way (Guarantee 7).

use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crate::sync::Lock;

use crate::clock::Clock;
use crate::ctrl::{Ctrl, Entry, Supervisor};
use crate::event::GroupEvent;
use crate::health::StopReport;
use crate::policy::{explain, Alone, Decision, Reset, Restart, Skip};
use crate::spawn::{self, Kind};
use crate::trace::{catch, debug, error, info, warn, Scope};
use crate::Signal;

impl Ctrl {
    /// Starts the supervisor thread (`{name}_{n}`), if it is not running.
    pub(crate) fn start_supervisor(self: &Arc<Self>) -> bool {
        self.start_supervisor_if(&|| true)
    }

    /// [`start_supervisor`](Self::start_supervisor) if `go` still holds, asked under the
    /// state lock (where a stop takes the supervisor): a parent's `maintain_loops` that a stop
    /// overtook starts no supervisor the stop would not end.
    pub(crate) fn start_supervisor_if(self: &Arc<Self>, go: &dyn Fn() -> bool) -> bool {
        let group = self.name();
        let mut st = self.lock_state();
        if st.supervisor.is_some() || !go() {
            return false;
        }
        let name: Arc<str> = Arc::from(format!("{group}_{}", st.generations));
        let shutdown = Signal::new();
        self.mailbox.open();
        let builder = thread::Builder::new().name(name.to_string());
        let body = {
            let ctrl = self.clone();
            let (shutdown, name) = (shutdown.clone(), name.clone());
            move || {
                // Each step is guarded on its own; this catches a panic anywhere else, so that
                // the thread never ends silently.
                if let Err(e) = catch("the supervisor", || ctrl.supervise(&name, &shutdown)) {
                    ctrl.faulted(&name, &e);
                    error!(thread = %name, "{e}; the supervisor thread ended: the group is no longer supervised");
                }
            }
        };
        match spawn::spawn(Kind::Supervisor, builder, body) {
            Ok(thread) => {
                st.generations += 1;
                st.fault = None;
                st.supervisor = Some(Supervisor {
                    thread,
                    shutdown,
                    name: name.clone(),
                });
                drop(st);
                info!(thread = %name, "Started");
                true
            }
            Err(e) => {
                drop(st);
                error!(thread = %name, "Could not spawn the supervisor thread: {e}");
                false
            }
        }
    }

    /// The supervisor thread: handles the members' events in turn, and the restarts whose
    /// backoff is over, until its own `shutdown` signal goes on.
    ///
    /// Each supervisor waits on its own signal, not on a message in the shared mailbox: a
    /// supervisor started while the one before it is still ending (a `start` racing a `stop`)
    /// must not take the message meant for the other.
    fn supervise(self: &Arc<Self>, name: &Arc<str>, shutdown: &Signal) {
        let _scope = Scope::enter(|| tracing::info_span!("supervisor", thread = %name));
        let clock = self.clock();
        // A test's clock rings on every advance; the real one never (its deadlines are timers).
        let ticks = clock.ticks();
        'events: loop {
            let due = self.lock_state().supervision.next_due();
            // A timer only while a restart waits out its backoff: an idle supervisor sleeps.
            let timer = clock.timer(due);
            crossbeam_channel::select_biased! {
                recv(shutdown.receiver()) -> _ => break,
                recv(self.mailbox.bell()) -> _ => {}
                recv(timer) -> _ => {}
                recv(ticks) -> _ => {}
            }
            while let Some(event) = self.mailbox.take() {
                if shutdown.is_go() {
                    // Shut down while taking it: leave it to the next supervisor (or to the
                    // close below). It is still pending.
                    self.mailbox.put_back(event);
                    break 'events;
                }
                self.guarded(name, || self.handle(event, name, shutdown));
                self.mailbox.handled();
                self.notify();
            }
            let now = clock.now();
            let due = self.lock_state().supervision.due(now);
            for restart in due {
                if shutdown.is_go() {
                    break 'events;
                }
                self.guarded(name, || self.restart_alone(&restart, name, shutdown));
            }
            self.notify();
        }
        // Restarts still waiting out their backoff go back to the mailbox: the next
        // supervisor handles them, or the close drops them.
        let waiting = self.lock_state().supervision.take_deferred();
        for restart in waiting {
            self.mailbox.send(match restart.why {
                Alone::Ended(gen) => GroupEvent::Ended {
                    index: restart.index,
                    gen,
                },
                Alone::StartFailed => GroupEvent::StartFailed {
                    index: restart.index,
                },
            });
        }
        self.close_if_unsupervised();
        info!(thread = %name, "Exited gracefully");
    }

    /// Runs one step of supervision; a panic in it (a bug of the crate) is logged, recorded
    /// as the group's fault (not green, and `health()` says why), and the supervisor goes on
    /// with the next event rather than leave the group unsupervised.
    fn guarded(&self, name: &str, step: impl FnOnce()) {
        let group = self.name();
        let step = || {
            if take_injected_fault(&group) {
                panic!("a fault injected by a test");
            }
            step();
        };
        if let Err(e) = catch("the supervisor", step) {
            self.faulted(name, &e);
            error!(
                thread = %name,
                "{e}; going on with the next event, the group not green until it is started again or maintain_loops"
            );
        }
    }

    /// Records a panic of the supervisor: the group is not green, `health()` shows it, and a
    /// reset it cut short no longer reads as under way (a `maintain_loops` left to it is
    /// dropped too: the group is not green until `maintain_loops` or a new start).
    fn faulted(&self, name: &str, message: &str) {
        let mut st = self.lock_state();
        st.fault = Some(format!("{name}: {message}"));
        st.resetting = false;
        st.drop_deferred_maintain();
        self.changed.notify_all();
    }

    /// The clock the supervision reads (real, or a test's).
    fn clock(&self) -> Clock {
        self.settings.lock().clock.clone()
    }

    /// Wakes `wait_green` callers (the green light or the mailbox changed).
    fn notify(&self) {
        let _st = self.lock_state();
        self.changed.notify_all();
    }

    fn handle(self: &Arc<Self>, event: GroupEvent, name: &Arc<str>, shutdown: &Signal) {
        let members = self.members();
        let (policy, now) = {
            let settings = self.settings.lock();
            (settings.policy, settings.clock.now())
        };
        let (decision, trigger, cause) = match event {
            GroupEvent::Exceeded { index, epoch } => {
                let facts = Ctrl::facts(&members);
                let decision = self
                    .lock_state()
                    .supervision
                    .member_exceeded(&policy, &facts, index, epoch, now);
                let member = self.member_name(index);
                let cause = format!("{member} exceeded its failure budget");
                (decision, member, cause)
            }
            GroupEvent::TaskFailed { task, count } => {
                warn!(thread = %name, task = %task, count, "A task failed");
                let facts = Ctrl::facts(&members);
                let decision = self
                    .lock_state()
                    .supervision
                    .exceeded(&policy, &facts, None, now);
                let cause = if count > 1 {
                    format!("task {task} and {} more failed", count - 1)
                } else {
                    format!("task {task} failed")
                };
                (decision, "a task".to_owned(), cause)
            }
            // One the supervisor had in hand when its member was removed names no member.
            GroupEvent::Ended { index, .. } | GroupEvent::StartFailed { index }
                if !members.iter().any(|e| e.id == index) =>
            {
                (
                    Decision::Nothing(Skip::UnknownMember),
                    String::new(),
                    String::new(),
                )
            }
            GroupEvent::Ended { index, gen } => {
                let decision = self
                    .lock_state()
                    .supervision
                    .ended(&policy, index, gen, now);
                let member = self.member_name(index);
                let cause = format!("{member}'s thread ended with nobody stopping it");
                (decision, member, cause)
            }
            GroupEvent::StartFailed { index } => {
                let decision = self
                    .lock_state()
                    .supervision
                    .start_failed(&policy, index, now);
                let member = self.member_name(index);
                let cause = format!("{member} could not be started");
                (decision, member, cause)
            }
        };
        // The decision in words, kept for `health()` and logged with its numbers.
        let names: Vec<(usize, String)> = members.iter().map(|e| (e.id, e.name.clone())).collect();
        if let Some(text) = explain(&decision, &cause, &names) {
            {
                let mut st = self.lock_state();
                st.last_decision = Some(text.clone());
            }
            info!(thread = %name, "Decision: {text}");
        }
        match decision {
            Decision::Nothing(Skip::NoMemberForTask) => {
                info!(thread = %name, "A task failed; one_for_one restarts no member for it");
            }
            Decision::Nothing(Skip::Stale) => debug!(
                thread = %name,
                member = %trigger,
                "A failure budget exceeded before the reset that restarted this member: answered by that reset"
            ),
            Decision::Nothing(Skip::GaveUp | Skip::UnknownMember) => {}
            Decision::GiveUp { max, window } => {
                error!(
                    thread = %name,
                    "More than {max} restarts within {window:?}: giving up; stopping every member"
                );
                self.give_up();
            }
            Decision::Reset(reset) => self.reset(&reset, &trigger, name, shutdown),
            Decision::RestartNow(restart) => self.restart_alone(&restart, name, shutdown),
            Decision::RestartLater(restart) => {
                let what = match restart.why {
                    Alone::Ended(_) => "Backing off before restarting a member whose thread ended",
                    Alone::StartFailed => {
                        "Backing off before starting again a member whose start failed"
                    }
                };
                info!(thread = %name, member = %trigger, delay = ?restart.delay, "{what}");
            }
        }
    }

    fn member_name(&self, index: usize) -> String {
        self.member(index).map_or_else(String::new, |e| e.name)
    }

    /// Restarts one member alone (its thread ended, or its start failed).
    fn restart_alone(&self, restart: &Restart, name: &Arc<str>, shutdown: &Signal) {
        let Some(member) = self.member(restart.index).map(|e| e.member) else {
            // Removed meanwhile: nothing of it is kept.
            self.lock_state().supervision.forget(restart.index);
            return;
        };
        if self.lock_state().supervision.gave_up() || shutdown.is_go() {
            // Nothing to do; the restart is no longer in progress.
            let now = self.clock().now();
            self.lock_state().supervision.restarted_alone(restart, now);
            return;
        }
        let restarted = !shutdown.is_go()
            && match restart.why {
                Alone::Ended(gen) => member.restart_if_ended(gen),
                Alone::StartFailed => member.restart_failed(),
            };
        let now = self.clock().now();
        self.lock_state().supervision.restarted_alone(restart, now);
        if restarted {
            let what = match restart.why {
                Alone::Ended(_) => "Restarted a member whose thread ended",
                Alone::StartFailed => "Started again a member whose start failed",
            };
            info!(thread = %name, member = %member.name(), "{what}");
        }
    }

    /// One reset: stop the set (all asked at once, in reverse), back off, `on_reset`, start
    /// the set again in declaration order. Stop wins: a shutdown cuts it short.
    fn reset(&self, reset: &Reset, trigger: &str, name: &Arc<str>, shutdown: &Signal) {
        let members = self.members();
        let on_reset = self.settings.lock().on_reset.clone();
        self.reset_begins();
        warn!(thread = %name, trigger = %trigger, "Stopping loops");

        // Stop phase: every member of the set signalled at once, in reverse order; each then
        // gets its own grace from that instant, so the whole wait is at most the longest.
        // The set, as members now: one removed since the decision is left out. (Numbers go up
        // in declaration order: a binary search each.)
        let set: Vec<&Entry> = reset
            .set
            .iter()
            .filter_map(|&id| {
                let at = members.binary_search_by_key(&id, |e| e.id).ok()?;
                Some(&members[at])
            })
            .collect();
        let begun: Vec<_> = set
            .iter()
            .rev()
            .map(|e| (e, e.member.begin_stop(false)))
            .collect();
        let signalled = Instant::now();
        for (e, b) in begun {
            e.member.finish_stop(b, signalled);
        }

        let cut_short = !reset.delay.is_zero() && {
            info!(thread = %name, delay = ?reset.delay, "Backing off before restarting");
            let clock = self.clock();
            self.lock_state().reset_due = clock.now().checked_add(reset.delay);
            let cut = clock.sleep(reset.delay, shutdown.receiver());
            self.lock_state().reset_due = None;
            cut
        };
        if !cut_short {
            if let Some(on_reset) = &on_reset {
                if let Err(e) = catch("on_reset", || on_reset()) {
                    error!(thread = %name, "{e}; restarting anyway");
                }
            }
            // Restart phase, in declaration order; stop wins.
            info!(thread = %name, "Restarting loops");
            for e in &set {
                if shutdown.is_go() {
                    break;
                }
                // A clean slate: failures of the run that was reset do not count against the
                // new one, and excesses counted before now are answered. (A member removed
                // meanwhile is neither started nor waited for: it is no longer linked.)
                e.member.reset_restarting();
                e.member.restart_supervised();
            }
        }
        let now = self.clock().now();
        self.reset_ends(now);
    }

    /// Past the restart limit: stops every member and reports the group failed (to its
    /// parent, when nested).
    fn give_up(&self) {
        // Not out of supervision: a parent's reset restarts them (while this group has given
        // up, its own events restart nothing).
        self.stop_members_report(false, &mut StopReport::default());
        let parent = {
            let st = self.lock_state();
            self.changed.notify_all();
            st.parent.clone().map(|p| (p, st.epoch))
        };
        if let Some((parent, epoch)) = parent {
            parent.exceeded(epoch);
        }
    }
}

/// Groups whose next supervision steps are to panic, for tests of the crate's own failure
/// paths ([`fail_supervisor_steps`]).
static INJECTED: Lock<Vec<(String, u32)>> = Lock::new(Vec::new());

/// Makes the next `n` supervision steps of the group named `group` panic, as a bug of the
/// crate would: the group must report it (not green, `health().fault`), never hide it.
pub fn fail_supervisor_steps(group: &str, n: u32) {
    let mut injected = INJECTED.lock();
    injected.retain(|(g, _)| g != group);
    if n > 0 {
        injected.push((group.to_owned(), n));
    }
}

fn take_injected_fault(group: &str) -> bool {
    let mut injected = INJECTED.lock();
    let Some(i) = injected.iter().position(|(g, _)| g == group) else {
        return false;
    };
    injected[i].1 -= 1;
    if injected[i].1 == 0 {
        injected.remove(i);
    }
    true
}
