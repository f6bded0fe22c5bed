//! The lifecycle's transitions that a loop's group asks for: its supervisor's restarts, the
//! group's stops, its `maintain_loops`, and its membership (added, removed).

use super::*;

impl<K: Kinds> Lifecycle<K> {
    /// Starts it again if it is still supervised and thread `gen` was its last one, and
    /// nothing has started it since.
    pub(crate) fn restart_if_ended(&mut self, me: K::Tid, gen: u64) -> Start<K::Value, K::Tid> {
        if self.operated_by_another(me) {
            return Start::Already;
        }
        self.supervisor_start(me, |l| {
            l.supervised && l.run.is_none() && !l.queued && l.generations == gen + 1
        })
    }

    /// Starts it again if it is still supervised, wanted and not running: the retry of a
    /// start that failed.
    pub(crate) fn restart_failed(&mut self, me: K::Tid) -> Start<K::Value, K::Tid> {
        if self.operated_by_another(me) {
            return Start::Already;
        }
        self.supervisor_start(me, |l| {
            l.supervised && l.wanted && l.run.is_none() && !l.queued
        })
    }

    /// A reset's restart: starts it if it is still supervised (a member stopped from outside
    /// meanwhile stays stopped). A start under way on another thread is this restart: if the
    /// reset's own stop asked it to undo itself, it no longer does.
    pub(crate) fn restart_supervised(&mut self, me: K::Tid) -> Start<K::Value, K::Tid> {
        if self.caller(me) != Caller::Other {
            return Start::Already;
        }
        if self.operated_by_another(me) {
            if self.linked && self.supervised && self.started_by_another(me) {
                self.wanted = true;
            }
            return Start::Already;
        }
        self.supervisor_start(me, |l| l.supervised)
    }

    /// Another thread is inside an operation on it: a start under way is the supervisor's
    /// start, and a stop under way decides (from outside, it takes the loop out of
    /// supervision; by a reset or stop of a group, that group restarts it or not). The
    /// supervisor waits for neither: it never waits for a hook on another thread to return.
    fn operated_by_another(&self, me: K::Tid) -> bool {
        self.wait_for(me).is_some()
    }

    /// A start its supervisor makes, with no other thread inside an operation on it: none for
    /// a loop removed from the group (neither started nor waited for: its removal may be
    /// stopping it, up to its grace); else a start if `may` says so.
    fn supervisor_start(
        &mut self,
        me: K::Tid,
        may: impl FnOnce(&Self) -> bool,
    ) -> Start<K::Value, K::Tid> {
        if !self.linked {
            return Start::Already;
        }
        if self.busy.is_none() && may(self) {
            self.start_now(me)
        } else {
            Start::Already
        }
    }

    /// A reset's or a group stop's stop: from the loop's own thread or the holder it only
    /// asks (it cannot wait for itself).
    pub(crate) fn stop_from_group(&mut self, me: K::Tid, unsupervise: bool) -> Stop<K::Tid> {
        if !self.linked {
            // Removed from the group: its removal stops it; the group neither does nor waits.
            return Stop::Idle { clean: true };
        }
        match self.caller(me) {
            Caller::OwnThread | Caller::Holder(_) => Stop::Asked(self.stop_refused(unsupervise)),
            _ => match self.wait_for(me) {
                Some(holder) => self.stop_waits(holder, unsupervise),
                None => self.stop_now(me, unsupervise),
            },
        }
    }

    /// A reset restarted it: failures counted before now are answered (`epoch` moves on).
    pub(crate) fn reset_restarted(&mut self) {
        self.epoch += 1;
    }

    /// A stop from outside is on its way (its group's stop has begun): no restart by its
    /// group from now on.
    pub(crate) fn unsupervise(&mut self) {
        self.supervised = false;
    }

    /// It became a member of a group (`true`), or was removed from its group (`false`).
    pub(crate) fn link(&mut self, linked: bool) {
        self.linked = linked;
    }

    /// A member of a group (not removed from it).
    pub(crate) fn is_linked(&self) -> bool {
        self.linked
    }

    /// Its group's `maintain_loops`, which took `ticket` as it began: a start, unless it is no
    /// longer a member (removed while the maintain was under way: a removed loop is never
    /// started by its old group), or was stopped from outside after the maintain began (from
    /// a hook that maintain ran, say: the later call wins, and it stays stopped).
    pub(crate) fn maintain(&mut self, me: K::Tid, ticket: u64) -> Start<K::Value, K::Tid> {
        if self.linked && self.outside_stop < ticket {
            self.start(me)
        } else {
            Start::Already
        }
    }

    /// A stop from outside (a handle's `stop`, its group's stop), with its `ticket`: a
    /// `maintain_loops` that began before it does not start the loop again. From the loop's
    /// own thread it is the thread's own stop (it stays supervised), and does not count.
    pub(crate) fn stopped_from_outside(&mut self, me: K::Tid, ticket: u64) {
        if !matches!(self.caller(me), Caller::OwnThread | Caller::Abandoned) {
            self.outside_stop = ticket;
        }
    }
}
