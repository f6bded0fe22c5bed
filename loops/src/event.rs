//! What members tell their supervisor: the events, and the mailbox they travel through.
//!
//! The ground floor of supervision: loops, tasks and nested groups send through a [`Link`];
//! the supervisor thread of their controller takes from the [`Mailbox`]. This file imports
//! only [`sync`](crate::sync) and [`clock`](crate::clock) (the mailbox carries the
//! controller's clock, which its members' failure windows read).
//!
//! The mailbox is bounded by construction: an event that says again what one still queued
//! says is merged into it (a member that fails 50 times before the supervisor gets to it
//! causes one reset, not 50), so the queue holds at most a few events per member. While no
//! supervisor runs (after a controller's stop, until it is started again) the mailbox is
//! closed and drops what it is sent: nobody would handle it, and it must not hold
//! `wait_green` back nor act on a later start.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::clock::Clock;
use crate::sync::Lock;

/// A member's report to its supervisor.
#[derive(Clone, Debug, PartialEq, Eq)]
///
/// A member is named by its number `index`: members are numbered in the order they were
/// added, and a removed member's number is never given to another.
pub(crate) enum GroupEvent {
    /// Member `index` exceeded its failure budget; `epoch` counts the resets that had
    /// restarted it when the failure was counted. A reset that restarts the member answers
    /// every excess counted before it: an older epoch is stale.
    Exceeded { index: usize, epoch: u64 },
    /// Member `index`'s thread `gen` ended without anyone stopping it.
    Ended { index: usize, gen: u64 },
    /// Member `index`, under supervision, could not be started: its `on_start` failed or
    /// panicked, or its thread could not be spawned.
    StartFailed { index: usize },
    /// Supervised tasks failed (returned `Err`, panicked, or called `ctx.failure()`): the
    /// first one's name, and how many in all since the supervisor last took this event.
    TaskFailed { task: String, count: u32 },
}

struct Inbox {
    /// A supervisor runs (or is about to): events are kept.
    open: bool,
    queue: VecDeque<GroupEvent>,
    /// Events taken by the supervisor and not yet handled.
    in_hand: usize,
}

/// A controller's queue of member events, and the bell that wakes its supervisor.
pub(crate) struct Mailbox {
    inbox: Lock<Inbox>,
    /// The controller's clock, which its members' failure windows read too.
    clock: Lock<Clock>,
    /// Holds at most one ring: the supervisor empties the inbox on each.
    bell_tx: Sender<()>,
    bell_rx: Receiver<()>,
}

impl Mailbox {
    /// A mailbox, open: events sent before the first supervisor starts wait for it.
    pub(crate) fn new() -> Arc<Mailbox> {
        let (bell_tx, bell_rx) = crossbeam_channel::bounded(1);
        Arc::new(Mailbox {
            clock: Lock::new(Clock::default()),
            inbox: Lock::new(Inbox {
                open: true,
                queue: VecDeque::new(),
                in_hand: 0,
            }),
            bell_tx,
            bell_rx,
        })
    }

    /// Queues `event`, merged into one already queued that says the same; dropped while the
    /// mailbox is closed. Never blocks on the supervisor.
    pub(crate) fn send(&self, event: GroupEvent) {
        let mut inbox = self.inbox.lock();
        if !inbox.open {
            return;
        }
        if !merge(&mut inbox.queue, &event) {
            inbox.queue.push_back(event);
        }
        drop(inbox);
        // Full: the supervisor has a ring it has not answered yet, and will see this event.
        let _ = self.bell_tx.try_send(());
    }

    /// The bell the supervisor selects on.
    pub(crate) fn bell(&self) -> &Receiver<()> {
        &self.bell_rx
    }

    /// The next event, to be [`handled`](Self::handled) once acted on.
    pub(crate) fn take(&self) -> Option<GroupEvent> {
        let mut inbox = self.inbox.lock();
        let event = inbox.queue.pop_front()?;
        inbox.in_hand += 1;
        Some(event)
    }

    /// Gives an event taken but not acted on back to the front of the queue (the supervisor
    /// was told to shut down while taking it); it stays pending.
    pub(crate) fn put_back(&self, event: GroupEvent) {
        let mut inbox = self.inbox.lock();
        inbox.in_hand = inbox.in_hand.saturating_sub(1);
        if inbox.open {
            inbox.queue.push_front(event);
        }
    }

    /// Member `index` was removed from the group: its queued events are dropped (nobody acts
    /// on them; one the supervisor has in hand finds no such member).
    pub(crate) fn forget(&self, index: usize) {
        let mut inbox = self.inbox.lock();
        inbox.queue.retain(|e| match e {
            GroupEvent::Exceeded { index: i, .. }
            | GroupEvent::Ended { index: i, .. }
            | GroupEvent::StartFailed { index: i } => *i != index,
            GroupEvent::TaskFailed { .. } => true,
        });
    }

    /// An event taken has been acted on.
    pub(crate) fn handled(&self) {
        let mut inbox = self.inbox.lock();
        inbox.in_hand = inbox.in_hand.saturating_sub(1);
    }

    /// Member `index` is being restarted by a reset, into `epoch`: what it queued before is
    /// answered by that restart, and dropped: its excesses from an older epoch, and the end of
    /// a thread the reset replaces. (Left queued, that end would start the member again alone,
    /// uncounted, even when the reset's start of it failed and its retry waits out a backoff
    /// counted against `max_restarts`; and whether it was queued at all depends on whether
    /// its thread ended on its own just before the reset's stop reached it.) Without this, a
    /// nested group whose supervisor is not running would also count them as pending forever,
    /// and never be settled (`wait_green`), although nothing is left to act on. Returns
    /// whether any was dropped. An event the supervisor has in hand is left to it (it sees it
    /// is stale).
    pub(crate) fn drop_stale(&self, index: usize, epoch: u64) -> bool {
        let mut inbox = self.inbox.lock();
        let before = inbox.queue.len();
        inbox.queue.retain(|e| match e {
            GroupEvent::Exceeded { index: i, epoch: e } => !(*i == index && *e < epoch),
            GroupEvent::Ended { index: i, .. } => *i != index,
            _ => true,
        });
        inbox.queue.len() != before
    }

    /// The controller's clock, for its members too.
    pub(crate) fn set_clock(&self, clock: Clock) {
        *self.clock.lock() = clock;
    }

    /// What is queued and how many are in hand, in words: for a test's failure message.
    pub(crate) fn describe(&self) -> String {
        let inbox = self.inbox.lock();
        format!(
            "mailbox {}: queued {:?}, in hand {}",
            if inbox.open { "open" } else { "closed" },
            inbox.queue,
            inbox.in_hand
        )
    }

    /// Events sent and not yet handled.
    pub(crate) fn pending(&self) -> usize {
        let inbox = self.inbox.lock();
        inbox.queue.len() + inbox.in_hand
    }

    /// A supervisor starts: keep what is sent from now on.
    pub(crate) fn open(&self) {
        self.inbox.lock().open = true;
    }

    /// No supervisor runs any more: drop what is queued and what is sent until
    /// [`open`](Self::open).
    pub(crate) fn close(&self) {
        let mut inbox = self.inbox.lock();
        inbox.open = false;
        inbox.queue.clear();
    }
}

/// Merges `event` into an equivalent one in `queue`; false if there is none.
///
/// A thread's end replaces the member's end already queued, and goes at the back: only the
/// member's latest thread can be restarted for having ended, and that end comes after what
/// the member sent before it (its failure, say). Merged in place instead, it would overtake
/// that failure: the member restarted alone, then reset again for the failure.
fn merge(queue: &mut VecDeque<GroupEvent>, event: &GroupEvent) -> bool {
    if let GroupEvent::Ended { index: i, gen: g } = event {
        let older = queue
            .iter()
            .position(|q| matches!(q, GroupEvent::Ended { index, .. } if index == i));
        if let Some(GroupEvent::Ended { gen, .. }) = older.and_then(|at| queue.remove(at)) {
            queue.push_back(GroupEvent::Ended {
                index: *i,
                gen: gen.max(*g),
            });
            return true;
        }
        return false;
    }
    for queued in queue.iter_mut() {
        match (queued, event) {
            (
                GroupEvent::Exceeded { index, epoch },
                GroupEvent::Exceeded { index: i, epoch: e },
            ) if index == i => {
                // The newer epoch: an excess counted after a reset must not be taken for one
                // of before it.
                *epoch = (*epoch).max(*e);
                return true;
            }
            (GroupEvent::StartFailed { index }, GroupEvent::StartFailed { index: i })
                if index == i =>
            {
                return true;
            }
            (GroupEvent::TaskFailed { count, .. }, GroupEvent::TaskFailed { count: c, .. }) => {
                *count = count.saturating_add(*c);
                return true;
            }
            _ => {}
        }
    }
    false
}

/// A member's line to its supervisor, and its place (`index`) among the members.
#[derive(Clone)]
pub(crate) struct Link {
    mailbox: Arc<Mailbox>,
    pub(crate) index: usize,
}

impl Link {
    /// The line of member `index` to `mailbox`.
    pub(crate) fn new(mailbox: Arc<Mailbox>, index: usize) -> Link {
        Link { mailbox, index }
    }

    /// The time by the controller's clock (real, or a test's).
    pub(crate) fn now(&self) -> Instant {
        self.mailbox.clock.lock().now()
    }

    /// Sends `event` (see [`Mailbox::send`]).
    pub(crate) fn send(&self, event: GroupEvent) {
        self.mailbox.send(event);
    }

    /// This member exceeded its budget, counted at reset epoch `epoch`.
    pub(crate) fn exceeded(&self, epoch: u64) {
        self.send(GroupEvent::Exceeded {
            index: self.index,
            epoch,
        });
    }

    /// This member's thread `gen` ended without being stopped.
    pub(crate) fn ended(&self, gen: u64) {
        self.send(GroupEvent::Ended {
            index: self.index,
            gen,
        });
    }

    /// This member has been restarted by a reset, into `epoch`: its older excesses still
    /// queued are dropped (see [`Mailbox::drop_stale`]).
    pub(crate) fn restarted_into(&self, epoch: u64) -> bool {
        self.mailbox.drop_stale(self.index, epoch)
    }

    /// This member could not be started.
    pub(crate) fn start_failed(&self) {
        self.send(GroupEvent::StartFailed { index: self.index });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(m: &Mailbox) -> Vec<GroupEvent> {
        let mut out = Vec::new();
        while let Some(e) = m.take() {
            m.handled();
            out.push(e);
        }
        out
    }

    #[test]
    fn repeated_events_merge_so_the_queue_stays_small() {
        let m = Mailbox::new();
        let a = Link::new(m.clone(), 0);
        let b = Link::new(m.clone(), 1);
        for _ in 0..50 {
            a.exceeded(3);
        }
        a.exceeded(4);
        b.ended(7);
        b.ended(8);
        b.start_failed();
        b.start_failed();
        for task in ["t1", "t2"] {
            m.send(GroupEvent::TaskFailed {
                task: task.into(),
                count: 1,
            });
        }
        assert_eq!(m.pending(), 4);
        assert_eq!(
            drain(&m),
            vec![
                GroupEvent::Exceeded { index: 0, epoch: 4 },
                GroupEvent::Ended { index: 1, gen: 8 },
                GroupEvent::StartFailed { index: 1 },
                GroupEvent::TaskFailed {
                    task: "t1".into(),
                    count: 2
                },
            ]
        );
        assert_eq!(m.pending(), 0);
    }

    /// Found by the controller model: a member's thread ended (`ctx.stop()`), its next thread
    /// exceeded the budget and ended. Merged into the first end's place, the second end was
    /// handled before the failure: the member was restarted alone, then reset for the failure,
    /// starting it twice.
    #[test]
    fn a_merged_end_does_not_overtake_what_was_sent_before_it() {
        let m = Mailbox::new();
        let a = Link::new(m.clone(), 0);
        a.ended(0);
        a.exceeded(0);
        a.ended(1);
        assert_eq!(m.pending(), 2);
        assert_eq!(
            drain(&m),
            vec![
                GroupEvent::Exceeded { index: 0, epoch: 0 },
                GroupEvent::Ended { index: 0, gen: 1 },
            ]
        );
    }

    #[test]
    fn an_event_taken_is_pending_until_handled_and_a_new_one_is_not_merged_into_it() {
        let m = Mailbox::new();
        let a = Link::new(m.clone(), 0);
        a.exceeded(0);
        assert_eq!(m.take(), Some(GroupEvent::Exceeded { index: 0, epoch: 0 }));
        assert_eq!(m.pending(), 1, "taken, not yet handled");
        a.exceeded(0);
        assert_eq!(
            m.pending(),
            2,
            "an excess during the reset waits for another"
        );
        m.handled();
        assert_eq!(m.pending(), 1);
    }

    #[test]
    fn a_restart_drops_the_members_older_excesses_and_ends_only() {
        let m = Mailbox::new();
        let a = Link::new(m.clone(), 0);
        let b = Link::new(m.clone(), 1);
        a.exceeded(0);
        b.exceeded(0);
        a.ended(3);
        b.ended(5);
        assert_eq!(m.pending(), 4);
        assert!(
            a.restarted_into(1),
            "a's excess of epoch 0 and its thread's end are answered"
        );
        assert!(!a.restarted_into(1), "nothing more to drop");
        assert_eq!(
            drain(&m),
            vec![
                GroupEvent::Exceeded { index: 1, epoch: 0 },
                GroupEvent::Ended { index: 1, gen: 5 },
            ]
        );
        a.exceeded(1);
        assert!(!a.restarted_into(1), "an excess of the current epoch stays");
        assert_eq!(m.pending(), 1);
    }

    #[test]
    fn a_closed_mailbox_drops_what_it_is_sent_until_opened() {
        let m = Mailbox::new();
        let a = Link::new(m.clone(), 0);
        a.ended(0);
        m.close();
        assert_eq!(m.pending(), 0, "closing drops the queue");
        a.ended(1);
        assert_eq!(m.pending(), 0, "and what comes while closed");
        m.open();
        a.ended(2);
        assert_eq!(drain(&m), vec![GroupEvent::Ended { index: 0, gen: 2 }]);
        assert!(m.bell().try_recv().is_ok(), "each send rings");
    }
}
