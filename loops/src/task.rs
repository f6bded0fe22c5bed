//! Supervised tasks: one-shot named threads owned by a controller (facet's `add_task`,
//! mo-threads' `Thread.run`/`join`, luminal's `ThreadManager`).

use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use parking_lot::Mutex;

use crate::controller::{GroupEvent, Link};
use crate::ctx::{Control, Ctx};
use crate::handle::panic_message;
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
    result: Mutex<Option<Result<R, TaskError>>>,
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

/// A task the controller tracks: running, or queued for a free slot.
pub(crate) struct TaskEntry {
    name: Arc<str>,
    stop: Signal,
    done: Signal,
    thread: Option<JoinHandle<()>>,
    /// Fills the handle's slot with `Cancelled` if the task never runs.
    cancel: Option<Box<dyn FnOnce() + Send>>,
    body: Option<Body>,
}

/// The tasks of one controller.
#[derive(Default)]
pub(crate) struct TaskBook {
    pub(crate) running: Vec<TaskEntry>,
    pub(crate) queued: VecDeque<TaskEntry>,
    pub(crate) max_threads: Option<usize>,
    pub(crate) queue: bool,
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
        tracing::error!(thread = %self.name, "Task reported a failure: {message}");
        self.link.send(GroupEvent::TaskFailed {
            task: self.name.to_string(),
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
        result: Mutex::new(None),
        done: Signal::new(),
    });
    let stop = Signal::new();
    let body: Body = {
        let outcome = outcome.clone();
        let name = name.clone();
        Box::new(move |ctx: &Ctx| {
            let result = match panic::catch_unwind(AssertUnwindSafe(|| f(ctx))) {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => Err(TaskError::Failed {
                    task: name.to_string(),
                    message: e.to_string(),
                }),
                Err(p) => Err(TaskError::Panicked {
                    task: name.to_string(),
                    message: panic_message(&*p),
                }),
            };
            let error = result.as_ref().err().cloned();
            *outcome.result.lock() = Some(result);
            // `done` goes on in the thread, after a failure has been reported to the group:
            // whoever joins the task then sees its reset under way (`wait_green` covers it).
            error
        })
    };
    let cancel: Box<dyn FnOnce() + Send> = {
        let outcome = outcome.clone();
        let name = name.clone();
        Box::new(move || {
            *outcome.result.lock() = Some(Err(TaskError::Cancelled {
                task: name.to_string(),
            }));
            outcome.done.go();
        })
    };
    let entry = TaskEntry {
        name: name.clone(),
        stop: stop.clone(),
        done: outcome.done.clone(),
        thread: None,
        cancel: Some(cancel),
        body: Some(body),
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
        let body = self.body.take().expect("a task is spawned once");
        let name = self.name.clone();
        let stop = self.stop.clone();
        let control = Arc::new(TaskControl {
            name: name.clone(),
            stop: stop.clone(),
            link: link.clone(),
        });
        let done = self.done.clone();
        let spawned = thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let span = tracing::info_span!("task", thread = %name);
                let _entered = span.enter();
                tracing::debug!(thread = %name, "Task started");
                let ctx = Ctx::new(stop, name.clone(), 0, control);
                match body(&ctx) {
                    None => tracing::debug!(thread = %name, "Task finished"),
                    Some(error) => {
                        tracing::error!(thread = %name, "{error}");
                        link.send(GroupEvent::TaskFailed {
                            task: name.to_string(),
                        });
                    }
                }
                done.go();
                on_end();
            });
        match spawned {
            Ok(thread) => {
                self.cancel = None;
                self.thread = Some(thread);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// A queued task that will never run: its handle's `join` returns `Cancelled`.
    pub(crate) fn cancel(mut self) {
        if let Some(cancel) = self.cancel.take() {
            cancel();
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
    thread: Option<JoinHandle<()>>,
}

impl TaskStop {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Waits until `deadline` for the task to end; joins it if it did. True if it ended.
    pub(crate) fn finish(&mut self, deadline: Option<Instant>) -> bool {
        let ended = match deadline {
            Some(d) => self.done.wait_deadline(d),
            None => {
                self.done.wait();
                true
            }
        };
        if ended {
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        } else {
            tracing::warn!(
                thread = %self.name,
                "Task abandoned: it did not stop within the controller's task grace"
            );
        }
        ended
    }
}
