//! A controller's supervised tasks: the book of running and queued ones, the `max_threads`
//! slots, and stopping them all.
//!
//! The book's lock is taken alone and held only to change the book (and while spawning a
//! task's thread, which runs no user code under it); a refused task's closure, the `then`
//! callbacks of cancelled tasks and every wait happen after it is released.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sync::Lock;

use crate::event::Link;
use crate::health::StopReport;
use crate::task::{SpawnError, TaskEnd, TaskEntry};
use crate::trace::{self, debug, error};

/// Where a controller's tasks report: its mailbox, and what frees a slot when one ends.
#[derive(Clone)]
pub(crate) struct TaskLine {
    pub(crate) link: Link,
    /// Runs on a task's thread when it ends: starts queued tasks in the freed slot.
    pub(crate) on_end: Arc<dyn Fn() + Send + Sync>,
}

#[derive(Default)]
struct Book {
    running: Vec<TaskEntry>,
    queued: VecDeque<TaskEntry>,
    max_threads: Option<usize>,
    queue: bool,
}

/// A controller's tasks.
pub(crate) struct Tasks {
    book: Lock<Book>,
    line: TaskLine,
}

impl Tasks {
    pub(crate) fn new(line: TaskLine) -> Self {
        Tasks {
            book: Lock::new(Book::default()),
            line,
        }
    }

    pub(crate) fn set_max_threads(&self, max: usize) {
        self.book.lock().max_threads = Some(max);
    }

    pub(crate) fn set_queue(&self) {
        self.book.lock().queue = true;
    }

    /// Runs `entry` now, queues it, or refuses it (giving it back with the reason, to be
    /// dropped by the caller with no lock held: it holds the caller's closure).
    // The refused entry comes back whole so that its closure (user code) is dropped by the
    // caller outside the lock; a rare path, not worth a box.
    #[allow(clippy::result_large_err)]
    pub(crate) fn spawn(&self, mut entry: TaskEntry) -> Result<(), (SpawnError, TaskEntry)> {
        let mut book = self.book.lock();
        // Slots freed by tasks that just ended go to the queue first: a new task never jumps
        // ahead of the queued ones.
        let unstarted = self.fill_slots(&mut book);
        let full = book
            .max_threads
            .is_some_and(|max| book.running.len() >= max);
        let mut queued = None;
        let outcome = if full || (book.queue && !book.queued.is_empty()) {
            if book.queue {
                queued = Some(entry.name().to_owned());
                book.queued.push_back(entry);
                Ok(())
            } else {
                let max = book.max_threads.unwrap_or_default();
                Err((SpawnError::ThreadLimitReached { max }, entry))
            }
        } else {
            match entry.spawn(self.line.link.clone(), self.end_hook()) {
                Ok(()) => {
                    book.running.push(entry);
                    Ok(())
                }
                Err(e) => Err((SpawnError::Spawn(e), entry)),
            }
        };
        drop(book);
        if let Some(name) = queued {
            debug!(thread = %name, "Task queued: max_threads are running");
        }
        cancel_all(unstarted);
        outcome
    }

    fn end_hook(&self) -> impl FnOnce() + Send + 'static {
        let on_end = self.line.on_end.clone();
        move || on_end()
    }

    /// A task ended: starts queued tasks in the slots free now.
    pub(crate) fn start_queued(&self) {
        let unstarted = self.fill_slots(&mut self.book.lock());
        cancel_all(unstarted);
    }

    /// Forgets ended tasks and starts queued ones, first in first out, while slots are free.
    /// Returns the queued tasks whose thread could not be spawned, for the caller to cancel
    /// once it has released the lock (cancelling runs `then` callbacks).
    #[must_use = "cancel the returned tasks after releasing the lock"]
    fn fill_slots(&self, book: &mut Book) -> Vec<TaskEntry> {
        book.running.retain(|t| !t.is_finished());
        let mut unstarted = Vec::new();
        while book.max_threads.is_none_or(|max| book.running.len() < max) {
            let Some(mut entry) = book.queued.pop_front() else {
                break;
            };
            match entry.spawn(self.line.link.clone(), self.end_hook()) {
                Ok(()) => book.running.push(entry),
                Err(e) => {
                    error!(thread = %entry.name(), "Could not spawn a queued task: {e}");
                    unstarted.push(entry);
                }
            }
        }
        unstarted
    }

    /// Tasks running now, including those a stop is waiting for.
    pub(crate) fn running(&self) -> usize {
        let mut book = self.book.lock();
        book.running.retain(|t| !t.is_finished());
        book.running.len()
    }

    /// Tasks waiting for a free slot.
    pub(crate) fn queued(&self) -> usize {
        self.book.lock().queued.len()
    }

    /// Cancels queued tasks, asks running ones to stop, and waits for each up to `grace` from
    /// the moment all were asked. A task whose own thread is stopping the controller (or that
    /// waits, through others, for the thread that is) is not waited for.
    pub(crate) fn stop(&self, grace: Duration, report: &mut StopReport) {
        let (queued, stopping) = {
            let mut book = self.book.lock();
            // Running tasks stay in the book while they stop: a task that is stopping still
            // holds its slot, so `max_threads` counts it. Each frees its slot as it ends.
            let stopping: Vec<_> = book.running.iter_mut().map(TaskEntry::begin_stop).collect();
            (std::mem::take(&mut book.queued), stopping)
        };
        cancel_all(queued);
        let deadline = Instant::now().checked_add(grace);
        let mut abandoned = Vec::new();
        for mut task in stopping {
            let name = task.name().to_owned();
            match task.finish(deadline) {
                TaskEnd::Ended => report.stopped.push(name),
                TaskEnd::Ending => report.ending.push(name),
                TaskEnd::Abandoned => {
                    report.abandoned.push(name);
                    abandoned.push(task);
                }
            }
        }
        if !abandoned.is_empty() {
            // An abandoned task gives its slot up, as an abandoned loop thread no longer
            // counts as its loop's thread: a queued task may take it.
            let unstarted = {
                let mut book = self.book.lock();
                book.running.retain(|t| !abandoned.iter().any(|a| t.is(a)));
                self.fill_slots(&mut book)
            };
            cancel_all(unstarted);
        }
    }
}

/// Cancels tasks that will never run (their handles' `join` returns `Cancelled`); called with
/// no lock held, since cancelling runs `then` callbacks on their `finished` signals.
pub(crate) fn cancel_all(tasks: impl IntoIterator<Item = TaskEntry>) {
    for task in tasks {
        task.cancel();
    }
}

/// Drops a refused task (the caller's closure: user code), catching a panic in it.
pub(crate) fn drop_refused(entry: TaskEntry) {
    trace::drop_caught("the Drop of a refused task's closure", entry);
}
