//! The model of a controller's tasks: `spawn_task` with and without `max_threads` and
//! `queue_tasks`, the task handle's operations, and the controller operations that touch tasks
//! (a failed task's reset, `running_tasks`, `stop`, `stop_with_report`).
//!
//! Every task is a puppet too. It first reports its start on a channel shared by the case (so
//! the order in which queued tasks start is observed), then, by its kind: *listens* for one
//! command on its own channel (or for stop, through `ctx.recv`), *sleeps* until stopped
//! (`ctx.sleep` or `ctx.stopping().wait()`), or is *deaf*: waits for a command ignoring stop,
//! so that a controller stop abandons it after the task grace. A command ends the task: a
//! value, an `Err`, a panic, or `ctx.failure()` then a value. A command sent to a queued task
//! waits for it, and ends it as soon as it starts.
//!
//! The model predicts, after each step, the threads alive under the case's prefix `Tk` (task
//! threads, the member loop's thread, the supervisor thread: read from /proc/self/task, so a
//! task's slot is known to be free once its thread has gone), the order in which tasks started,
//! `running_tasks()`, `resets()`, every held handle's `is_finished()` and `finished()`, and
//! what `spawn_task`, `join`, `stop` and `stop_with_report` return.

use super::*;

use superloops::TaskError;

probe!(TkMember, grace = "20s");

/// Task grace of the task model: how long a stop waits for a deaf task.
const TASK_GRACE: Duration = Duration::from_millis(150);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskKind {
    Listens,
    Sleeps,
    Deaf,
}

/// How a command ends a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fin {
    Value,
    Err,
    Panic,
    Failure,
}

/// What a task returns when it returns `Ok`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Done {
    Value(usize),
    /// Ended by its stop token.
    Stopped,
    /// Called `ctx.failure()`, which returned this.
    Failure(bool),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TaskPhase {
    Refused,
    Queued,
    Running,
    /// Abandoned by a controller stop, still running (a deaf task).
    Abandoned,
    Ended(Result<Done, TaskError>),
}

#[derive(Clone, Debug)]
struct TaskModel {
    pub(crate) kind: TaskKind,
    phase: TaskPhase,
    pub(crate) stop: bool,
    pub(crate) cmd: Option<Fin>,
    held: bool,
}

fn task_name(id: usize) -> String {
    format!("Tk{id}")
}

#[derive(Clone, Debug)]
struct TasksModel {
    pub(crate) limit: Option<usize>,
    pub(crate) queue: bool,
    one_for_all: bool,
    pub(crate) tasks: Vec<TaskModel>,
    pub(crate) running: Vec<usize>,
    pub(crate) queued: VecDeque<usize>,
    pub(crate) started: Vec<usize>,
    pub(crate) supervisor: bool,
    pub(crate) supervisors: u64,
    /// Task failures sent and not handled (they wait while no supervisor runs, merged into
    /// one event: the mailbox merges task failures).
    pub(crate) pending: u64,
    /// The group's mailbox is closed: from a stop until the supervisor starts again, task
    /// failures are dropped (nobody would handle them, and a later start must not act on
    /// them). Open at first: what is sent before the first start waits for it.
    pub(crate) closed: bool,
    pub(crate) resets: u64,
    member_alive: bool,
    member_supervised: bool,
    member_gens: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct TasksObs {
    pub(crate) threads: Vec<String>,
    pub(crate) started: Vec<usize>,
    running_tasks: usize,
    pub(crate) resets: u64,
    member_thread: Option<String>,
    member_alive: bool,
    pub(crate) finished: Vec<Option<(bool, bool)>>,
}

impl TasksModel {
    pub(crate) fn expected(&self) -> TasksObs {
        let mut threads: Vec<String> = self
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| matches!(t.phase, TaskPhase::Running | TaskPhase::Abandoned))
            .map(|(i, _)| task_name(i))
            .collect();
        if self.member_alive {
            threads.push(format!("TkMember_{}", self.member_gens - 1));
        }
        if self.supervisor {
            threads.push(format!("TkCtl_{}", self.supervisors - 1));
        }
        threads.sort();
        TasksObs {
            threads,
            started: self.started.clone(),
            running_tasks: self.running.len(),
            resets: self.resets,
            member_thread: self
                .member_gens
                .checked_sub(1)
                .map(|g| format!("TkMember_{g}")),
            member_alive: self.member_alive,
            finished: self
                .tasks
                .iter()
                .map(|t| {
                    let ended = matches!(t.phase, TaskPhase::Ended(_));
                    t.held.then_some((ended, ended))
                })
                .collect(),
        }
    }

    pub(crate) fn spawn(&mut self, kind: TaskKind) -> bool {
        let id = self.tasks.len();
        let full = self.limit.is_some_and(|max| self.running.len() >= max);
        let phase = match (full, self.queue) {
            (true, false) => TaskPhase::Refused,
            (true, true) => TaskPhase::Queued,
            (false, _) => TaskPhase::Running,
        };
        self.tasks.push(TaskModel {
            kind,
            held: phase != TaskPhase::Refused,
            phase: phase.clone(),
            stop: false,
            cmd: None,
        });
        match phase {
            TaskPhase::Refused => return false,
            TaskPhase::Queued => self.queued.push_back(id),
            _ => self.begin(id),
        }
        true
    }

    /// Task `id` takes a slot and starts; it may end at once.
    pub(crate) fn begin(&mut self, id: usize) {
        self.tasks[id].phase = TaskPhase::Running;
        self.running.push(id);
        self.started.push(id);
        self.react(id);
    }

    /// A running (or abandoned) task reacts to its stop token and its command.
    fn react(&mut self, id: usize) {
        let t = &self.tasks[id];
        if !matches!(t.phase, TaskPhase::Running | TaskPhase::Abandoned) {
            return;
        }
        let outcome = match (t.kind, t.stop, t.cmd) {
            (TaskKind::Listens | TaskKind::Sleeps, true, _) => Ok(Done::Stopped),
            (TaskKind::Sleeps, false, _) | (_, _, None) => return,
            (_, _, Some(fin)) => fin_outcome(id, fin),
        };
        self.end(id, outcome);
    }

    pub(crate) fn end(&mut self, id: usize, outcome: Result<Done, TaskError>) {
        let failed = matches!(outcome, Err(_) | Ok(Done::Failure(_)));
        self.tasks[id].phase = TaskPhase::Ended(outcome);
        self.running.retain(|&r| r != id);
        if failed && !self.closed {
            self.pending = if self.supervisor {
                self.pending + 1
            } else {
                1 // merged into the one already waiting, if any
            };
            self.process();
        }
        while self.limit.is_none_or(|max| self.running.len() < max) {
            let Some(next) = self.queued.pop_front() else {
                break;
            };
            self.begin(next);
        }
    }

    pub(crate) fn process(&mut self) {
        if !self.supervisor {
            return;
        }
        while self.pending > 0 {
            self.pending -= 1;
            // Under one_for_one a failed task restarts nothing, so it is no reset: see
            // `under_one_for_one_a_failed_task_restarts_nothing_and_never_gives_up`.
            if self.one_for_all {
                self.resets += 1;
                if self.member_alive && self.member_supervised {
                    self.member_gens += 1;
                }
            }
        }
    }

    pub(crate) fn command(&mut self, id: usize, fin: Fin) {
        self.tasks[id].cmd = Some(fin);
        self.react(id);
    }

    fn stop_task(&mut self, id: usize) {
        self.tasks[id].stop = true;
        self.react(id);
    }

    /// A controller stop: (tasks stopped in time, tasks abandoned, clean).
    pub(crate) fn stop(&mut self) -> (Vec<String>, Vec<String>) {
        for id in std::mem::take(&mut self.queued) {
            self.tasks[id].phase = TaskPhase::Ended(Err(TaskError::Cancelled {
                task: task_name(id),
            }));
        }
        let (mut stopped, mut abandoned) = (Vec::new(), Vec::new());
        for id in std::mem::take(&mut self.running) {
            let t = &mut self.tasks[id];
            t.stop = true;
            if t.kind == TaskKind::Deaf {
                t.phase = TaskPhase::Abandoned;
                abandoned.push(task_name(id));
            } else {
                t.phase = TaskPhase::Ended(Ok(Done::Stopped));
                stopped.push(task_name(id));
            }
        }
        self.member_alive = false;
        self.member_supervised = false;
        // A stop closes the group's mailbox, whether or not a supervisor ran: what was sent
        // before it is not acted on by a later start.
        self.supervisor = false;
        self.pending = 0;
        self.closed = true;
        (stopped, abandoned)
    }
}

fn fin_outcome(id: usize, fin: Fin) -> Result<Done, TaskError> {
    match fin {
        Fin::Value => Ok(Done::Value(id)),
        Fin::Err => Err(TaskError::Failed {
            task: task_name(id),
            message: "planned task error".to_owned(),
        }),
        Fin::Panic => Err(TaskError::Panicked {
            task: task_name(id),
            message: "planned task panic".to_owned(),
        }),
        Fin::Failure => Ok(Done::Failure(true)),
    }
}

#[derive(Clone, Debug)]
pub(crate) enum TaskOp {
    Spawn(TaskKind),
    Command(usize, Fin),
    Join(usize),
    Release(usize),
    StopTask(usize),
    Reads,
    Start,
    Maintain,
    Stop,
    StopWithReport,
}

fn task_op() -> impl Strategy<Value = TaskOp> {
    let i = 0..12usize;
    let fin = prop_oneof![
        3 => Just(Fin::Value),
        1 => Just(Fin::Err),
        1 => Just(Fin::Panic),
        1 => Just(Fin::Failure),
    ];
    prop_oneof![
        8 => prop_oneof![
            4 => Just(TaskKind::Listens),
            2 => Just(TaskKind::Sleeps),
            1 => Just(TaskKind::Deaf),
        ]
        .prop_map(TaskOp::Spawn),
        6 => (i.clone(), fin).prop_map(|(i, f)| TaskOp::Command(i, f)),
        3 => i.clone().prop_map(TaskOp::Join),
        1 => i.clone().prop_map(TaskOp::Release),
        2 => i.prop_map(TaskOp::StopTask),
        1 => Just(TaskOp::Reads),
        2 => Just(TaskOp::Start),
        2 => Just(TaskOp::Maintain),
        1 => Just(TaskOp::Stop),
        1 => Just(TaskOp::StopWithReport),
    ]
}

/// The names of this process's threads that start with one of `prefixes`, sorted.
pub(crate) fn threads_named(prefixes: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|e| {
                let comm = std::fs::read_to_string(e.ok()?.path().join("comm")).ok()?;
                let comm = comm.trim_end().to_owned();
                prefixes.iter().any(|p| comm.starts_with(p)).then_some(comm)
            })
            .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The test's ends of one task's strings.
struct TaskControls {
    pub(crate) cmd: Sender<Fin>,
    pub(crate) handle: Option<superloops::TaskHandle<Done>>,
}

fn task_body(
    id: usize,
    kind: TaskKind,
    started: Sender<usize>,
    cmds: Receiver<Fin>,
) -> impl FnOnce(&Ctx) -> Result<Done, String> + Send + 'static {
    move |ctx: &Ctx| {
        let _ = started.send(id);
        let fin = match kind {
            TaskKind::Listens => ctx.recv(&cmds),
            TaskKind::Deaf => cmds.recv().ok(),
            TaskKind::Sleeps => {
                if id & 1 == 0 {
                    assert!(!ctx.sleep(Duration::from_secs(3600)));
                } else {
                    ctx.stopping().wait();
                }
                None
            }
        };
        match fin {
            None => Ok(Done::Stopped),
            Some(Fin::Value) => Ok(Done::Value(id)),
            Some(Fin::Err) => Err("planned task error".to_owned()),
            Some(Fin::Panic) => std::panic::panic_any("planned task panic".to_owned()),
            Some(Fin::Failure) => Ok(Done::Failure(ctx.failure())),
        }
    }
}

pub(crate) fn run_task_case(
    limit: Option<usize>,
    queue: bool,
    one_for_all: bool,
    ops: &[TaskOp],
) -> Result<(), TestCaseError> {
    // The case observes its threads by name: one case at a time in this process (the
    // proptest and a kept seed would otherwise see each other's `Tk0`).
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _alone = ONE_AT_A_TIME.lock();
    quiet_planned_panics();
    let mut c = LoopController::new()
        .named("TkCtl")
        .strategy(if one_for_all {
            Policy::OneForAll
        } else {
            Policy::OneForOne
        })
        .backoff(Duration::ZERO, Duration::ZERO)
        .task_grace(TASK_GRACE);
    if let Some(max) = limit {
        c = c.max_threads(max);
    }
    if queue {
        c = c.queue_tasks();
    }
    let member = c.new_loop(TkMember(common::Probe::new(
        common::CycleMode::SleepUntilStop,
    )));
    let (started_tx, started_rx) = unbounded::<usize>();
    let started_seen = Mutex::new(Vec::new());
    let mut strings: Vec<TaskControls> = Vec::new();
    let mut m = TasksModel {
        limit,
        queue,
        one_for_all,
        tasks: Vec::new(),
        running: Vec::new(),
        queued: VecDeque::new(),
        started: Vec::new(),
        supervisor: false,
        supervisors: 0,
        pending: 0,
        closed: false,
        resets: 0,
        member_alive: false,
        member_supervised: false,
        member_gens: 0,
    };

    let observe = |strings: &[TaskControls]| {
        started_seen.lock().extend(started_rx.try_iter());
        TasksObs {
            threads: threads_named(&["Tk"]),
            started: started_seen.lock().clone(),
            running_tasks: c.running_tasks(),
            resets: c.resets(),
            member_thread: member.thread_name(),
            member_alive: member.is_alive(),
            finished: strings
                .iter()
                .map(|s| {
                    s.handle
                        .as_ref()
                        .map(|h| (h.is_finished(), h.finished().is_go()))
                })
                .collect(),
        }
    };

    for (step, op) in ops.iter().enumerate() {
        let what = format!("step {step}: {op:?}");
        let pick = |i: usize| (!m.tasks.is_empty()).then(|| i % m.tasks.len());
        match *op {
            TaskOp::Spawn(kind) => {
                let id = m.tasks.len();
                let (cmd, cmds) = unbounded();
                let got =
                    c.spawn_task(task_name(id), task_body(id, kind, started_tx.clone(), cmds));
                let expect = m.spawn(kind);
                match got {
                    Ok(h) => {
                        prop_assert!(expect, "{}: spawned past the limit", what);
                        prop_assert_eq!(h.name(), task_name(id));
                        strings.push(TaskControls {
                            cmd,
                            handle: Some(h),
                        });
                    }
                    Err(superloops::SpawnError::ThreadLimitReached { max }) => {
                        prop_assert!(!expect, "{}: refused below the limit", what);
                        prop_assert_eq!(Some(max), limit);
                        strings.push(TaskControls { cmd, handle: None });
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("{what}: {e}"))),
                }
            }
            TaskOp::Command(i, fin) => {
                let Some(id) = pick(i) else { continue };
                let t = &m.tasks[id];
                let open = matches!(
                    t.phase,
                    TaskPhase::Queued | TaskPhase::Running | TaskPhase::Abandoned
                );
                if t.kind == TaskKind::Sleeps || t.cmd.is_some() || !open {
                    continue;
                }
                // A queued task told to fail would fail as soon as a slot frees: when another
                // task's failure frees it, the two failures may reach the supervisor as one
                // merged event (one reset) or as two, depending on timing. The model cannot
                // know which; it tells queued tasks only to return a value.
                if t.phase == TaskPhase::Queued && fin != Fin::Value {
                    continue;
                }
                strings[id].cmd.send(fin).unwrap();
                m.command(id, fin);
            }
            TaskOp::Join(i) => {
                let Some(id) = pick(i) else { continue };
                if strings[id].handle.is_none() || m.tasks[id].phase == TaskPhase::Queued {
                    continue;
                }
                // Make sure it ends: release its gate, or stop it.
                if matches!(m.tasks[id].phase, TaskPhase::Running | TaskPhase::Abandoned) {
                    if m.tasks[id].kind == TaskKind::Sleeps {
                        strings[id].handle.as_ref().unwrap().stop();
                        m.stop_task(id);
                    } else {
                        strings[id].cmd.send(Fin::Value).unwrap();
                        m.command(id, Fin::Value);
                    }
                }
                let h = strings[id].handle.take().unwrap();
                m.tasks[id].held = false;
                prop_assert!(
                    h.finished().wait_timeout(BOUND),
                    "{}: the task never ended",
                    what
                );
                let got = h.join();
                let TaskPhase::Ended(expected) = &m.tasks[id].phase else {
                    return Err(TestCaseError::fail(format!("{what}: model: not ended")));
                };
                prop_assert_eq!(&got, expected, "{}: join", what);
            }
            TaskOp::Release(i) => {
                let Some(id) = pick(i) else { continue };
                if let Some(h) = strings[id].handle.take() {
                    h.release();
                    m.tasks[id].held = false;
                }
            }
            TaskOp::StopTask(i) => {
                let Some(id) = pick(i) else { continue };
                let Some(h) = &strings[id].handle else {
                    continue;
                };
                h.stop();
                m.stop_task(id);
            }
            TaskOp::Reads => {
                for (id, s) in strings.iter().enumerate() {
                    if let Some(h) = &s.handle {
                        prop_assert_eq!(h.name(), task_name(id));
                        let _ = format!("{h:?}");
                    }
                }
            }
            TaskOp::Start => {
                let expect = !m.supervisor;
                if expect {
                    m.supervisor = true;
                    m.closed = false;
                    m.supervisors += 1;
                    m.process();
                }
                prop_assert_eq!(c.start(), expect, "{}", what);
            }
            TaskOp::Maintain => {
                c.maintain_loops();
                m.member_supervised = true;
                if !m.member_alive {
                    m.member_alive = true;
                    m.member_gens += 1;
                }
            }
            TaskOp::Stop | TaskOp::StopWithReport => {
                let (stopped, abandoned) = m.stop();
                let begun = Instant::now();
                let (got_stopped, got_clean) = if matches!(op, TaskOp::Stop) {
                    let clean = c.stop();
                    (None, clean)
                } else {
                    let mut r = c.stop_with_report();
                    let clean = r.is_clean();
                    // The tasks' part of the report (the member's is the controller model's).
                    let is_task = |n: &String| {
                        n.strip_prefix("Tk")
                            .is_some_and(|d| d.starts_with(|ch: char| ch.is_ascii_digit()))
                    };
                    r.stopped.retain(is_task);
                    r.abandoned.retain(is_task);
                    (Some(r), clean)
                };
                let took = begun.elapsed();
                if !abandoned.is_empty() {
                    prop_assert!(took >= TASK_GRACE, "{}: abandoned early ({:?})", what, took);
                }
                match got_stopped {
                    Some(r) if r.stopped != stopped || r.abandoned != abandoned => {
                        // A machine too loaded for a listening task to end within the task
                        // grace: accepted only when the call lasted it.
                        prop_assert!(
                            took >= TASK_GRACE,
                            "{}: report {:?}, model stopped {:?} abandoned {:?}",
                            what,
                            r,
                            stopped,
                            abandoned
                        );
                    }
                    None if got_clean != abandoned.is_empty() => {
                        prop_assert!(took >= TASK_GRACE, "{}: stop() = {}", what, got_clean);
                    }
                    _ => {}
                }
            }
        }
        let expected = m.expected();
        settle(&what, &expected, || observe(&strings))?;
        if m.supervisor {
            prop_assert!(c.wait_green(BOUND), "{}: wait_green", what);
            settle(&what, &expected, || observe(&strings))?;
        }
    }

    // The end: every deaf task released, the controller stopped, no thread of the case left.
    drop(strings);
    let (stopped, _) = m.stop();
    let _ = stopped;
    c.stop();
    let deadline = Instant::now() + BOUND;
    while !threads_named(&["Tk"]).is_empty() {
        prop_assert!(
            Instant::now() < deadline,
            "threads left after stop: {:?}",
            threads_named(&["Tk"])
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    common::assert_nothing_ran_under_a_lock();
    Ok(())
}

fn task_limit() -> impl Strategy<Value = Option<usize>> {
    prop::option::weighted(0.8, 1..=3usize)
}

proptest! {
    #![proptest_config(common::model_config(48))]

    #[test]
    fn tasks_follow_the_model(
        limit in task_limit(),
        queue in any::<bool>(),
        one_for_all in any::<bool>(),
        ops in prop::collection::vec(task_op(), 1..28),
    ) {
        run_task_case(limit, queue, one_for_all, &ops)?;
    }
}
