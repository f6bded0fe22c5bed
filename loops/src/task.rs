//! Supervised tasks: one-shot named threads owned by a controller (facet's `add_task`,
//! mo-threads' `Thread.run`/`join`, luminal's `ThreadManager`). This file holds one task: its
//! handle, and the entry its controller's [`tasks`](crate::tasks) book keeps.
//!
//! A task's thread always ends the same way, whatever its user code does: the result is in
//! its slot (a panic in the error's `Display` or in the value's `Drop` included), `done` goes
//! on, and its slot of `max_threads` is given back. A guard does the last two even if
//! something unwinds.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Instant;

use crate::sync::Lock;

use crate::ctx::{Control, Ctx};
use crate::event::{GroupEvent, Link};
use crate::spawn::{self, Kind};
use crate::trace::{self, catch, debug, error, panic_message, warn, Scope};
use crate::waits;
use crate::{LoopError, Signal};

/// Why a task did not give a value: what [`TaskHandle::join`] returns instead.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError {
    /// The task returned `Err`; its message.
    Failed {
        /// The task's name.
        task: String,
        /// The error's `Display` text.
        message: String,
    },
    /// The task panicked; the panic message.
    Panicked {
        /// The task's name.
        task: String,
        /// The panic's message.
        message: String,
    },
    /// The task was queued and never started: its controller stopped first.
    Cancelled {
        /// The task's name.
        task: String,
    },
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Failed { task, message } => write!(f, "task `{task}` failed: {message}"),
            TaskError::Panicked { task, message } => {
                write!(f, "task `{task}` panicked: {message}")
            }
            TaskError::Cancelled { task } => {
                write!(f, "task `{task}` was cancelled before it started")
            }
        }
    }
}

impl std::error::Error for TaskError {}

/// Why [`LoopController::spawn_task`](crate::LoopController::spawn_task) could not run a task.
#[derive(Debug)]
#[non_exhaustive]
pub enum SpawnError {
    /// `max` tasks are running already and the controller does not queue
    /// ([`max_threads`](crate::LoopController::max_threads)).
    ThreadLimitReached {
        /// The limit.
        max: usize,
    },
    /// The operating system would not create the thread.
    Spawn(std::io::Error),
    /// The name contains a NUL byte, which a thread's name cannot hold.
    InvalidName {
        /// The name given.
        name: String,
    },
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::ThreadLimitReached { max } => write!(
                f,
                "thread limit reached: {max} tasks are running; wait for one to end, raise \
                 max_threads, or build the controller with queue_tasks()"
            ),
            SpawnError::Spawn(e) => write!(f, "could not spawn the task's thread: {e}"),
            SpawnError::InvalidName { name } => write!(
                f,
                "a task's name may not contain a NUL byte (it names the task's thread): {name:?}"
            ),
        }
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnError::Spawn(e) => Some(e),
            SpawnError::ThreadLimitReached { .. } | SpawnError::InvalidName { .. } => None,
        }
    }
}

/// The result slot a task fills and its handle reads.
struct Outcome<R> {
    result: Lock<Option<Result<R, TaskError>>>,
    done: Signal,
}

/// A handle to a supervised task, from
/// [`LoopController::spawn_task`](crate::LoopController::spawn_task).
///
/// Dropping it (or calling [`release`](Self::release)) detaches it: the task goes on, its
/// failure still counts for its group, and its group still stops it.
pub struct TaskHandle<R> {
    name: Arc<str>,
    stop: Signal,
    outcome: Arc<Outcome<R>>,
}

impl<R> TaskHandle<R> {
    /// Waits for the task to end; its value, or why it has none.
    pub fn join(self) -> Result<R, TaskError> {
        self.outcome.done.wait();
        self.outcome
            .result
            .lock()
            .take()
            .expect("a finished task leaves its result")
    }

    /// Detaches the task: nobody will join it. It is still stopped with its group, and a
    /// failure is still logged and counted for its group.
    pub fn release(self) {}

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.outcome.done.is_go()
    }

    /// Asks the task to stop (`ctx.should_stop()` turns true, `ctx.sleep` returns at once).
    pub fn stop(&self) {
        self.stop.go();
    }

    /// The task's name, also its thread's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A signal that goes on when the task has ended.
    pub fn finished(&self) -> &Signal {
        &self.outcome.done
    }
}

impl<R> fmt::Debug for TaskHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("name", &self.name)
            .field("finished", &self.is_finished())
            .finish()
    }
}

type Body = Box<dyn FnOnce(&Ctx) -> Option<TaskError> + Send>;

/// What a task's thread needs to end well: fills the result slot if the body left it empty
/// (something unwound), turns `done` on, gives the slot back.
type Fallback = Box<dyn FnOnce(TaskError) + Send>;

/// A task the controller tracks: running, or queued for a free slot.
pub(crate) struct TaskEntry {
    name: Arc<str>,
    stop: Signal,
    done: Signal,
    thread: Option<JoinHandle<()>>,
    /// The task's thread, kept after the first stop takes its `JoinHandle`: a second stop (a
    /// task stopping its own controller while another stop waits for it) must still see that
    /// it would wait for itself.
    thread_id: Option<ThreadId>,
    /// Fills the handle's slot with `Cancelled` if the task never runs.
    cancel: Option<Fallback>,
    body: Option<(Body, Fallback)>,
}

/// What a task's context reports to.
struct TaskControl {
    name: Arc<str>,
    stop: Signal,
    link: Link,
}

impl Control for TaskControl {
    fn failure(&self, error: Option<LoopError>, _gen: u64) -> bool {
        let message = error.map_or_else(|| "ctx.failure()".to_owned(), |e| e.to_string());
        error!(thread = %self.name, "Task reported a failure: {message}");
        self.link.send(GroupEvent::TaskFailed {
            task: self.name.to_string(),
            count: 1,
        });
        true
    }

    fn request_stop(&self, _gen: u64) {
        self.stop.go();
    }
}

/// Builds a task: the entry the controller tracks and the handle the caller gets.
pub(crate) fn new_task<R, E, F>(name: &str, f: F) -> (TaskEntry, TaskHandle<R>)
where
    R: Send + 'static,
    E: fmt::Display,
    F: FnOnce(&Ctx) -> Result<R, E> + Send + 'static,
{
    let name: Arc<str> = Arc::from(name);
    let outcome = Arc::new(Outcome {
        result: Lock::new(None),
        done: Signal::new(),
    });
    let stop = Signal::new();
    let fill = |outcome: Arc<Outcome<R>>| -> Fallback {
        Box::new(move |error: TaskError| {
            let mut slot = outcome.result.lock();
            if slot.is_none() {
                *slot = Some(Err(error));
            }
        })
    };
    let body: Body = {
        let outcome = outcome.clone();
        let name = name.clone();
        Box::new(move |ctx: &Ctx| {
            let result = match panic::catch_unwind(AssertUnwindSafe(|| f(ctx))) {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => {
                    // User code: the error's `Display` and `Drop` may panic too.
                    let message = catch("the task's error's Display", || e.to_string())
                        .unwrap_or_else(|panicked| panicked);
                    trace::drop_caught("the Drop of a task's error", e);
                    Err(TaskError::Failed {
                        task: name.to_string(),
                        message,
                    })
                }
                Err(p) => {
                    let message = panic_message(&*p);
                    trace::drop_caught("the Drop of a task's panic", p);
                    Err(TaskError::Panicked {
                        task: name.to_string(),
                        message,
                    })
                }
            };
            let error = result.as_ref().err().cloned();
            *outcome.result.lock() = Some(result);
            // With its handle released or dropped, this is the last hold on the value: its
            // `Drop` runs here.
            trace::drop_caught("the Drop of a task's value", outcome);
            // `done` goes on in the thread, after a failure has been reported to the group:
            // whoever joins the task then sees its reset under way (`wait_green` covers it).
            error
        })
    };
    let cancel: Fallback = {
        let outcome = outcome.clone();
        Box::new(move |error: TaskError| {
            *outcome.result.lock() = Some(Err(error));
            outcome.done.go();
        })
    };
    let entry = TaskEntry {
        name: name.clone(),
        stop: stop.clone(),
        done: outcome.done.clone(),
        thread: None,
        thread_id: None,
        cancel: Some(cancel),
        body: Some((body, fill(outcome.clone()))),
    };
    (
        entry,
        TaskHandle {
            name,
            stop,
            outcome,
        },
    )
}

/// Ends a task's thread well, also if something unwinds: the result slot filled, `done`
/// on, the slot given back.
struct Ending {
    name: Arc<str>,
    done: Signal,
    fallback: Option<Fallback>,
    on_end: Option<Box<dyn FnOnce() + Send>>,
}

impl Drop for Ending {
    fn drop(&mut self) {
        if let Some(fill) = self.fallback.take() {
            fill(TaskError::Panicked {
                task: self.name.to_string(),
                message: "the task's thread unwound before it had a result".into(),
            });
        }
        self.done.go();
        if let Some(on_end) = self.on_end.take() {
            if let Err(e) = catch("a task's end", on_end) {
                error!(thread = %self.name, "{e}");
            }
        }
    }
}

impl TaskEntry {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Spawns the task's thread. `on_end` runs on it after the task, to free its slot.
    pub(crate) fn spawn(
        &mut self,
        link: Link,
        on_end: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<()> {
        let (body, fallback) = self.body.take().expect("a task is spawned once");
        let name = self.name.clone();
        let stop = self.stop.clone();
        let control = Arc::new(TaskControl {
            name: name.clone(),
            stop: stop.clone(),
            link: link.clone(),
        });
        let done = self.done.clone();
        let builder = thread::Builder::new().name(name.to_string());
        let spawned = spawn::spawn_or_return(
            Kind::Task,
            builder,
            (body, fallback),
            move |(body, fallback)| {
                let mut ending = Ending {
                    name: name.clone(),
                    done,
                    fallback: Some(fallback),
                    on_end: Some(Box::new(on_end)),
                };
                let _scope = Scope::enter(|| tracing::info_span!("task", thread = %name));
                debug!(thread = %name, "Task started");
                let ctx = Ctx::new(stop, name.clone(), 0, control);
                let error = catch("a task", || body(&ctx)).unwrap_or_else(|panicked| {
                    Some(TaskError::Panicked {
                        task: name.to_string(),
                        message: panicked,
                    })
                });
                match error {
                    None => debug!(thread = %name, "Task finished"),
                    Some(error) => {
                        if let Some(fill) = ending.fallback.take() {
                            fill(error.clone());
                        }
                        error!(thread = %name, "{error}");
                        link.send(GroupEvent::TaskFailed {
                            task: name.to_string(),
                            count: 1,
                        });
                    }
                }
                // The body filled the slot, or the fallback just did.
                ending.fallback = None;
                drop(ending);
            },
        );
        match spawned {
            Ok(thread) => {
                self.cancel = None;
                self.thread_id = Some(thread.thread().id());
                self.thread = Some(thread);
                Ok(())
            }
            Err((e, body)) => {
                self.body = Some(body);
                Err(e)
            }
        }
    }

    /// A queued task that will never run: its handle's `join` returns `Cancelled`.
    pub(crate) fn cancel(mut self) {
        if let Some(cancel) = self.cancel.take() {
            cancel(TaskError::Cancelled {
                task: self.name.to_string(),
            });
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.done.is_go()
    }

    /// Asks the task to stop and takes what waiting for it needs. The entry stays in the book
    /// and holds its slot until the task ends (or a stop abandons it).
    pub(crate) fn begin_stop(&mut self) -> TaskStop {
        self.stop.go();
        TaskStop {
            name: self.name.clone(),
            done: self.done.clone(),
            thread_id: self.thread_id,
            thread: self.thread.take(),
        }
    }

    /// Whether this is the entry `stop` was begun on.
    pub(crate) fn is(&self, stop: &TaskStop) -> bool {
        Arc::ptr_eq(&self.name, &stop.name)
    }
}

/// A running task asked to stop, to be waited for with no lock held.
pub(crate) struct TaskStop {
    name: Arc<str>,
    done: Signal,
    thread_id: Option<ThreadId>,
    thread: Option<JoinHandle<()>>,
}

/// How a task's stop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskEnd {
    /// It ended in time (and was joined).
    Ended,
    /// It outlived the grace: abandoned.
    Abandoned,
    /// It could not be waited for: the stopping thread is the task's own, or the task waits,
    /// through others, for it. It ends on its own.
    Ending,
}

impl TaskStop {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Waits until `deadline` for the task to end; joins it if it did.
    pub(crate) fn finish(&mut self, deadline: Option<Instant>) -> TaskEnd {
        if self.done.is_go() {
            self.join();
            return TaskEnd::Ended;
        }
        let waiting = match self.thread_id.map(waits::for_thread) {
            Some(Err(_)) => return TaskEnd::Ending,
            Some(Ok(waiting)) => Some(waiting),
            None => None,
        };
        let ended = match deadline {
            Some(d) => self.done.wait_deadline(d),
            None => {
                self.done.wait();
                true
            }
        };
        drop(waiting);
        if ended {
            self.join();
            TaskEnd::Ended
        } else {
            warn!(
                thread = %self.name,
                "Task abandoned: it did not stop within the controller's task grace"
            );
            TaskEnd::Abandoned
        }
    }

    fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            match waits::for_thread(thread.thread().id()) {
                Ok(waiting) => {
                    let _ = thread.join();
                    drop(waiting);
                }
                Err(_) => drop(thread),
            }
        }
    }
}
