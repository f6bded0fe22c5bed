//! What a supervisor sees of its members: the [`Member`] trait, implemented here for a loop
//! (through its handle's shared owner) and by the controller for a nested group; and
//! [`Supervise`], the public trait of what can be added to a controller.

use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Instant;

use crate::event::Link;
use crate::handle::LoopOwner;
use crate::health::{MemberHealth, StopReport};
use crate::runner::Begun;
use crate::{LoopHandle, LoopState, SuperLoop};

/// The supervisor's view of a member: a loop, or a nested group.
pub(crate) trait Member: Send + Sync {
    fn name(&self) -> String;
    fn resets_globally(&self) -> bool;
    /// Links it to its group's mailbox, or unlinks it (`None`: removed from the group).
    fn set_link(&self, link: Option<Link>);
    /// For its group's `maintain_loops`: a loop is started if its thread is not alive; a
    /// nested group is always maintained in turn, so that a member of it that is not alive
    /// starts even while another one runs. `ticket`: taken as that `maintain_loops` began (a
    /// loop stopped from outside with a later one stays stopped); `go`: whether it is still
    /// current (no stop or reset of the group overtook it), asked under the member's own lock
    /// just before it is started; it reads atomics only.
    fn maintain(&self, ticket: u64, go: &dyn Fn() -> bool);
    /// Starts it again if it is still supervised and thread `gen` was its last.
    fn restart_if_ended(&self, gen: u64) -> bool;
    /// The retry of a start that failed: starts it if it is still supervised and wanted.
    fn restart_failed(&self) -> bool;
    /// Restarts it as part of a reset: only if still supervised (not stopped from outside
    /// since its last start); a nested group restarts each of its members by the same rule.
    fn restart_supervised(&self) -> bool;
    /// Stops it for good, in dependency order (a group: its members one after another, in
    /// reverse), adding each loop's outcome to `report`.
    fn stop_in_order(&self, unsupervise: bool, report: &mut StopReport);
    /// Out of supervision from now on, ahead of a stop from outside that will reach it (a
    /// group's stop takes every member out as it begins, so a reset under way restarts none
    /// of them, however far the stop has got); a nested group: each of its members.
    fn unsupervise(&self);
    fn begin_stop(&self, unsupervise: bool) -> Stopping;
    /// Waits for the stop begun at `signalled` for at most the member's own grace from then.
    fn finish_stop(&self, begun: Stopping, signalled: Instant) -> bool;
    /// [`finish_stop`](Self::finish_stop), adding each loop's outcome to `report`.
    fn finish_stop_into(&self, begun: Stopping, signalled: Instant, report: &mut StopReport);
    /// Ends any supervisor thread and tasks of its own (nested groups), adding the tasks'
    /// outcomes to `report`.
    fn shutdown(&self, _report: &mut StopReport) {}
    /// Stops it once it has been removed from its group (and unlinked): as its group's stop
    /// would, but as a stop of its own, which a stop of the old group under way does not
    /// wait for.
    fn stop_removed(&self, report: &mut StopReport) {
        self.stop_in_order(true, report);
        self.shutdown(report);
    }
    fn is_alive(&self) -> bool;
    fn is_stalled(&self) -> bool;
    /// [`is_stalled`](Self::is_stalled), leaving out a loop that `me` is a thread of: a
    /// loop's own thread waiting for its group does not wait for itself.
    fn is_stalled_but_for(&self, me: ThreadId) -> bool;
    /// A reset is about to restart it: a clean slate (failures zeroed, and the excesses
    /// counted before now answered).
    fn reset_restarting(&self);
    /// Resets that restarted it so far: an `Exceeded` of an older epoch is stale.
    fn epoch(&self) -> u64;
    fn health(&self) -> MemberHealth;
}

/// What the first half of a group's stop of a member left for the second.
pub(crate) enum Stopping {
    /// A loop's.
    Loop(Begun),
    /// A nested group's: each of its members (as they were when signalled, whatever is added
    /// or removed meanwhile), in the order signalled.
    Nested(Vec<(Arc<dyn Member>, Stopping)>),
}

/// A member handle as the controller holds it. Opaque; see [`Supervise`].
#[doc(hidden)]
#[derive(Clone)]
pub struct MemberRef(pub(crate) Arc<dyn Member>);

/// Something a [`LoopController`](crate::LoopController) can supervise: a [`LoopHandle`], a
/// `loop_group!` group, or another controller (a supervision tree).
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

/// Which list of a [`StopReport`] a loop's stop goes to, before the wait.
#[derive(Clone, Copy)]
enum Listed {
    /// Nothing of it was running: in no list.
    Nowhere,
    /// An older abandoned thread of it still runs.
    Abandoned,
    /// Asked, not waited for.
    Ending,
    /// Waited for: stopped, or abandoned after its grace.
    ByOutcome,
}

impl Listed {
    fn of(begun: &Begun) -> Listed {
        match begun {
            Begun::Idle { clean: true } | Begun::Asked { thread: false } => Listed::Nowhere,
            Begun::Idle { clean: false } => Listed::Abandoned,
            Begun::Asked { thread: true } => Listed::Ending,
            Begun::Waiting { .. } => Listed::ByOutcome,
        }
    }

    fn add(self, report: &mut StopReport, name: String, clean: bool) {
        match self {
            Listed::Nowhere => {}
            Listed::Abandoned => report.abandoned.push(name),
            Listed::Ending => report.ending.push(name),
            Listed::ByOutcome if clean => report.stopped.push(name),
            Listed::ByOutcome => report.abandoned.push(name),
        }
    }
}

/// A loop as a member (through its handle's shared owner, one impl for every loop type).
impl Member for LoopOwner {
    fn name(&self) -> String {
        self.runner.config().name.to_owned()
    }
    fn resets_globally(&self) -> bool {
        self.runner.config().reset_globally
    }
    fn set_link(&self, link: Option<Link>) {
        self.runner.set_link(link);
    }
    fn maintain(&self, ticket: u64, go: &dyn Fn() -> bool) {
        if !self.is_alive() {
            self.runner.maintain(ticket, go);
        }
    }
    fn restart_if_ended(&self, gen: u64) -> bool {
        self.runner.restart_if_ended(gen)
    }
    fn restart_failed(&self) -> bool {
        self.runner.restart_failed()
    }
    fn restart_supervised(&self) -> bool {
        self.runner.restart_supervised()
    }
    fn stop_in_order(&self, unsupervise: bool, report: &mut StopReport) {
        let begun = self.begin_stop(unsupervise);
        self.finish_stop_into(begun, Instant::now(), report);
    }
    fn unsupervise(&self) {
        self.runner.unsupervise();
    }
    fn begin_stop(&self, unsupervise: bool) -> Stopping {
        Stopping::Loop(self.runner.begin_group_stop(unsupervise))
    }
    fn finish_stop(&self, begun: Stopping, signalled: Instant) -> bool {
        let Stopping::Loop(begun) = begun else {
            unreachable!("a loop's stop is never nested")
        };
        let deadline = signalled.checked_add(self.runner.config().grace);
        self.runner.finish_group_stop(begun, deadline)
    }
    fn finish_stop_into(&self, begun: Stopping, signalled: Instant, report: &mut StopReport) {
        let Stopping::Loop(begun) = begun else {
            unreachable!("a loop's stop is never nested")
        };
        let listed = Listed::of(&begun);
        let clean = Member::finish_stop(self, Stopping::Loop(begun), signalled);
        listed.add(report, self.runner.report_name(), clean);
    }
    fn stop_removed(&self, report: &mut StopReport) {
        let ran = self.runner.is_alive();
        let clean = self.runner.stop();
        let listed = if ran {
            Listed::ByOutcome
        } else {
            Listed::Nowhere
        };
        listed.add(report, self.runner.report_name(), clean);
    }
    fn is_alive(&self) -> bool {
        self.runner.is_alive()
    }
    fn is_stalled(&self) -> bool {
        let status = self.runner.status();
        matches!(
            status.state,
            LoopState::Failed | LoopState::Abandoned | LoopState::Stalled
        ) || (status.state == LoopState::Starting && !status.alive && status.abandoned_threads > 0)
            // Its thread stopped itself (`ctx.stop()`, `stop_on_failure`): the group will
            // start it again, and it does not run meanwhile.
            || (status.state == LoopState::Stopped && self.runner.is_supervised())
    }
    fn is_stalled_but_for(&self, me: ThreadId) -> bool {
        self.is_stalled() && !self.runner.runs_on(me)
    }
    fn reset_restarting(&self) {
        self.runner.reset_restarting();
    }
    fn epoch(&self) -> u64 {
        self.runner.epoch()
    }
    fn health(&self) -> MemberHealth {
        MemberHealth::Loop(self.runner.status())
    }
}
