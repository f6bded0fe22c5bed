//! Deadlock avoidance: the wait-for graph of every blocking wait the crate makes on another
//! thread.
//!
//! User code runs inside the crate's operations (a loop's `on_start` inside `start`, its
//! `on_stop` inside `stop` or a group's reset, a `then` callback inside a stop-token's `go`),
//! and it may call back into any loop or controller. So the crate's waits can form a circle
//! that no fixed lock order prevents: a reset waits for a member that a user thread is
//! stopping, while that member's `on_stop` waits for a sibling the reset is stopping.
//!
//! Every such wait is registered here before it blocks, as an edge from the waiting thread to
//! the thread it waits for:
//! - the *holder* of a loop's `busy` (the thread inside an operation on it, which has the
//!   loop's value in a hook or waits for the loop's thread), or
//! - a thread whose end (a loop thread, a task, a supervisor) it waits for.
//!
//! Each thread waits for one thing at a time, so following edges from any thread is a chain.
//! A wait whose chain comes back to the waiting thread would close a circle: it is refused
//! ([`WouldDeadlock`]) and never entered, and the operation falls back to the form it takes
//! when called from a loop's own hook (ask, and return without waiting). Since a circle can
//! only form when its last edge is added, and every edge is checked when it is added, under
//! one lock, with the holders kept exact, no circle of the crate's waits ever forms.
//!
//! Holders are kept exact this way: a wait for a busy flag is registered under that flag's
//! own lock with its holder of the moment, and while any thread waits for a flag, every change
//! of its holder (claim or release, made under the same lock) is reported with
//! [`holder_changed`]. The graph's lock is a leaf: nothing else is locked while it is held,
//! and it is taken only by threads that are about to wait or that release a flag somebody
//! waits for, never on an uncontended path.
//!
//! This file imports nothing from the crate.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::thread::{self, ThreadId};

use crate::sync::Lock;

/// A busy flag, named by the address of the state that holds it.
pub(crate) type Key = usize;

/// What a waiting thread waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum On {
    /// A thread to end (or to do something only it can do).
    Thread(ThreadId),
    /// A busy flag to be released.
    Busy(Key),
}

struct Graph {
    /// Each waiting thread and what it waits for, with its name (for [`describe`]).
    waits: Vec<(ThreadId, On, Option<Arc<str>>)>,
    /// The holder of each busy flag that some thread waits for (none: released, and the
    /// waiters not yet awake).
    holders: Vec<(Key, Option<ThreadId>)>,
}

static GRAPH: Lock<Graph> = Lock::new(Graph {
    waits: Vec::new(),
    holders: Vec::new(),
});

/// The wait asked for would close a circle of waits: the caller must not block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WouldDeadlock;

/// A registered wait; dropping it removes it (the wait is over, or about to be registered
/// again after a wake-up).
#[must_use = "the wait is registered only while this lives"]
pub(crate) struct Waiting {
    me: ThreadId,
}

impl Graph {
    fn holder(&self, key: Key) -> Option<ThreadId> {
        self.holders
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, h)| *h)
    }

    /// Whether following waits from `first` leads back to `me`.
    fn leads_to(&self, first: ThreadId, me: ThreadId) -> bool {
        let mut t = first;
        // Every step follows a different thread's edge: no chain is longer than the edges.
        for _ in 0..=self.waits.len() {
            if t == me {
                return true;
            }
            let next = match self.waits.iter().find(|(w, _, _)| *w == t) {
                None => return false,
                Some((_, On::Thread(u), _)) => Some(*u),
                Some((_, On::Busy(k), _)) => self.holder(*k),
            };
            match next {
                Some(n) => t = n,
                None => return false,
            }
        }
        false
    }

    fn add(&mut self, me: ThreadId, on: On) -> Waiting {
        debug_assert!(
            !self.waits.iter().any(|(w, _, _)| *w == me),
            "a thread waits for one thing at a time"
        );
        let name = thread::current().name().map(Arc::from);
        self.waits.push((me, on, name));
        Waiting { me }
    }
}

/// Registers that this thread is about to wait for `thread` (to end, say). Refused when
/// `thread` is this thread, or waits, through others, for this thread.
pub(crate) fn for_thread(thread: ThreadId) -> Result<Waiting, WouldDeadlock> {
    let me = thread::current().id();
    let mut g = GRAPH.lock();
    if g.leads_to(thread, me) {
        let graph = describe_graph(&g);
        drop(g);
        note_refusal(format!("thread {thread:?} to end"), graph);
        return Err(WouldDeadlock);
    }
    Ok(g.add(me, On::Thread(thread)))
}

/// Registers that this thread is about to wait for busy flag `key`, held now by `holder`.
/// Call it under the flag's own lock, and report the flag's holder changes with
/// [`holder_changed`] while any thread waits for it.
pub(crate) fn for_busy(key: Key, holder: ThreadId) -> Result<Waiting, WouldDeadlock> {
    let me = thread::current().id();
    let mut g = GRAPH.lock();
    if g.leads_to(holder, me) {
        let graph = describe_graph(&g);
        drop(g);
        note_refusal(format!("busy flag {key:#x}, held by {holder:?}"), graph);
        return Err(WouldDeadlock);
    }
    match g.holders.iter_mut().find(|(k, _)| *k == key) {
        Some(entry) => entry.1 = Some(holder),
        None => g.holders.push((key, Some(holder))),
    }
    Ok(g.add(me, On::Busy(key)))
}

/// Busy flag `key`, which some thread waits for, is now held by `holder` (`None`: released).
/// Call it under the flag's own lock.
pub(crate) fn holder_changed(key: Key, holder: Option<ThreadId>) {
    let mut g = GRAPH.lock();
    if let Some(entry) = g.holders.iter_mut().find(|(k, _)| *k == key) {
        entry.1 = holder;
    }
}

/// The waits registered now, one line each (`name (id) waits for …`), then the last waits
/// refused and the graph each met: for a test's failure message.
pub(crate) fn describe() -> String {
    let mut out = describe_graph(&GRAPH.lock());
    let refused = REFUSED.lock().clone();
    for (i, r) in refused.iter().enumerate() {
        let _ = write!(
            out,
            "refused ({} of the last {}): {r}",
            i + 1,
            refused.len()
        );
    }
    out
}

/// The last few waits refused (newest last), each with the graph it met.
static REFUSED: Lock<VecDeque<String>> = Lock::new(VecDeque::new());

/// Notes a refused wait of the current thread for `what`, with the graph that refused it.
/// Taken apart from the graph's lock: each lock here is a leaf.
fn note_refusal(what: String, graph: String) {
    let me = thread::current();
    let who = me.name().unwrap_or("?");
    let mut refused = REFUSED.lock();
    if refused.len() == 8 {
        refused.pop_front();
    }
    refused.push_back(format!(
        "{who} ({:?}) for {what}; the graph:\n{graph}",
        me.id()
    ));
}

fn describe_graph(g: &Graph) -> String {
    let name = |t: ThreadId| {
        g.waits
            .iter()
            .find(|(w, _, _)| *w == t)
            .and_then(|(_, _, n)| n.clone())
            .map_or_else(|| format!("{t:?}"), |n| format!("{n} ({t:?})"))
    };
    let mut out = String::new();
    for (w, on, _) in &g.waits {
        let what = match on {
            On::Thread(t) => format!("thread {} to end", name(*t)),
            On::Busy(k) => match g.holder(*k) {
                Some(h) => format!("busy flag {k:#x}, held by {}", name(h)),
                None => format!("busy flag {k:#x}, released"),
            },
        };
        let _ = writeln!(out, "{} waits for {what}", name(*w));
    }
    if out.is_empty() {
        out.push_str("no thread waits\n");
    }
    out
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut g = GRAPH.lock();
        let Some(at) = g.waits.iter().position(|(w, _, _)| *w == self.me) else {
            return;
        };
        let (_, on, _) = g.waits.swap_remove(at);
        if let On::Busy(key) = on {
            if !g.waits.iter().any(|(_, o, _)| *o == On::Busy(key)) {
                g.holders.retain(|(k, _)| *k != key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Parks a new thread in a registered wait, built by `register`, until told to leave.
    fn parked(
        register: impl FnOnce() -> Result<Waiting, WouldDeadlock> + Send + 'static,
    ) -> (ThreadId, mpsc::Sender<()>, thread::JoinHandle<()>) {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (leave_tx, leave_rx) = mpsc::channel::<()>();
        let handle = thread::spawn(move || {
            let waiting = register().expect("no circle");
            ready_tx.send(thread::current().id()).unwrap();
            let _ = leave_rx.recv();
            drop(waiting);
        });
        (ready_rx.recv().unwrap(), leave_tx, handle)
    }

    #[test]
    fn waiting_for_oneself_is_refused() {
        let me = thread::current().id();
        assert_eq!(for_thread(me).err(), Some(WouldDeadlock));
        assert_eq!(for_busy(0x10, me).err(), Some(WouldDeadlock));
    }

    #[test]
    fn the_edge_that_would_close_a_circle_is_refused() {
        let me = thread::current().id();
        // A waits for busy flag 0x20, which this thread holds.
        let (a, leave_a, ja) = parked(move || for_busy(0x20, me));
        // B waits for A to end.
        let (b, leave_b, jb) = parked(move || for_thread(a));
        // Waiting for B, or for a flag B holds, or for A, would close the circle.
        assert_eq!(for_thread(b).err(), Some(WouldDeadlock));
        let told = describe();
        assert!(
            told.contains(&format!("{me:?}) for thread {b:?} to end; the graph:")),
            "a refusal is told with the graph it met: {told}"
        );
        assert_eq!(for_busy(0x21, b).err(), Some(WouldDeadlock));
        assert_eq!(for_thread(a).err(), Some(WouldDeadlock));
        // This thread releases 0x20: A is no longer waiting for it, so no circle.
        holder_changed(0x20, None);
        let w = for_thread(b).expect("the chain ends at a released flag");
        drop(w);
        // Claimed again by this thread: the circle is back.
        holder_changed(0x20, Some(me));
        assert_eq!(for_thread(b).err(), Some(WouldDeadlock));
        leave_b.send(()).unwrap();
        jb.join().unwrap();
        leave_a.send(()).unwrap();
        ja.join().unwrap();
        // Both gone: nothing leads back.
        drop(for_thread(a).expect("a thread that waits for nothing"));
    }

    #[test]
    fn a_chain_that_does_not_come_back_is_allowed() {
        let (a, leave_a, ja) = parked(|| {
            Ok(Waiting {
                me: thread::current().id(),
            })
        });
        let other = thread::spawn(|| ()).thread().id();
        let (b, leave_b, jb) = parked(move || for_thread(other));
        drop(for_thread(a).expect("a does not wait for us"));
        drop(for_busy(0x30, b).expect("b waits for a third thread"));
        leave_a.send(()).unwrap();
        leave_b.send(()).unwrap();
        ja.join().unwrap();
        jb.join().unwrap();
    }
}
