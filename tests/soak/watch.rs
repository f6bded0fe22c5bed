//! The soak's watchdog (on a deadlock it prints every loop's status and the threads'
//! backtraces), and the runtime events the soak counts.

use super::*;

/// Every loop, by label, for the watchdog's dump.
pub(crate) type DumpLoops = Arc<Mutex<Vec<(String, Arc<dyn Ops>)>>>;

pub(crate) struct Watch {
    /// Per caller: the call under way and when it began.
    pub(crate) slots: Vec<Mutex<Option<(String, Instant)>>>,
    pub(crate) done: AtomicBool,
}

impl Watch {
    pub(crate) fn call<R>(
        &self,
        slot: usize,
        what: impl FnOnce() -> String,
        f: impl FnOnce() -> R,
    ) -> R {
        *self.slots[slot].lock().unwrap() = Some((what(), Instant::now()));
        let r = f();
        *self.slots[slot].lock().unwrap() = None;
        r
    }
}

/// Names and states of the process's threads, from /proc.
pub(crate) fn thread_table() -> String {
    let mut out = String::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for task in dir.flatten() {
            let p = task.path();
            let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
            // Field 3 of stat, after the parenthesised name: the state letter.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or("?");
            let wchan = std::fs::read_to_string(p.join("wchan")).unwrap_or_default();
            out.push_str(&format!(
                "  {:>8} {:<16} {state} {wchan}\n",
                task.file_name().to_string_lossy(),
                comm.trim()
            ));
        }
    }
    out
}

/// With `SUPERLOOPS_SOAK_GDB=1` (and gdb installed): every thread's stack, printed by gdb
/// attached to this process, for a deadlock found by the watchdog.
fn backtraces_with_gdb() {
    if std::env::var_os("SUPERLOOPS_SOAK_GDB").is_none() {
        return;
    }
    let out = std::process::Command::new("gdb")
        .args(["-p", &std::process::id().to_string(), "-batch", "-nx"])
        .args(["-ex", "set pagination off", "-ex", "thread apply all bt"])
        .output();
    match out {
        Ok(out) => to_stderr(&format!(
            "== gdb: thread apply all bt ==\n{}",
            String::from_utf8_lossy(&out.stdout)
        )),
        Err(e) => to_stderr(&format!("SUPERLOOPS_SOAK_GDB: could not run gdb: {e}")),
    }
}

/// Writes straight to the process's stderr. Under `cargo test`, `eprintln!` from the test's
/// threads is captured and shown only when the test fails by panicking; the watchdog ends the
/// process with `exit` instead, which would discard its report.
fn to_stderr(text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.write_all(b"\n");
    let _ = err.flush();
}

pub(crate) fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The crate's process-wide threads, started on first use and never ended.
pub(crate) const PERMANENT_THREADS: [&str; 2] = ["superloops-timer", "superloops-watchdog"];

/// How many threads of the process run under each of [`PERMANENT_THREADS`]' names (as
/// `/proc` shows them: cut to 15 bytes).
pub(crate) fn permanent_threads() -> [usize; 2] {
    let mut counts = [0; 2];
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for task in dir.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            for (count, name) in counts.iter_mut().zip(PERMANENT_THREADS) {
                if comm.trim_end() == &name[..name.len().min(15)] {
                    *count += 1;
                }
            }
        }
    }
    counts
}

/// The process's threads, apart from the crate's permanent ones.
pub(crate) fn transient_thread_count() -> usize {
    thread_count() - permanent_threads().iter().sum::<usize>()
}

// ---------------------------------------------------------------------------------------
// Runtime events the soak counts: a `tracing` subscriber that sees only the runtime's warnings.

pub(crate) static STALL_REPORTS: AtomicU64 = AtomicU64::new(0);
/// The warnings the subscriber saw apart from those it counts, and the panics it threw.
static SUBSCRIBER_EVENTS: AtomicU64 = AtomicU64::new(0);
pub(crate) static SUBSCRIBER_PANICS: AtomicU64 = AtomicU64::new(0);
pub(crate) static TASKS_ABANDONED: AtomicU64 = AtomicU64::new(0);

struct EventCounter;

impl EventCounter {
    fn wants(m: &tracing::Metadata<'_>) -> bool {
        m.is_event() && *m.level() == tracing::Level::WARN && m.target().starts_with("superloops")
    }
}

impl tracing::Subscriber for EventCounter {
    fn register_callsite(
        &self,
        m: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if Self::wants(m) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        Self::wants(m)
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::WARN)
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        if m.0.starts_with("Cycle stalled") {
            STALL_REPORTS.fetch_add(1, Ordering::Relaxed);
        } else if m.0.starts_with("Task abandoned") {
            TASKS_ABANDONED.fetch_add(1, Ordering::Relaxed);
        } else if SUBSCRIBER_EVENTS.fetch_add(1, Ordering::Relaxed) % 97 == 96 {
            // A "fail on warnings" test subscriber: the runtime must contain its panic (drop
            // the event, change no state) wherever it emits one.
            SUBSCRIBER_PANICS.fetch_add(1, Ordering::Relaxed);
            panic!("chaos: the subscriber panicked on {:?}", m.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Installs [`EventCounter`] as the process's subscriber, once; false if another one is.
pub(crate) fn count_runtime_events() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(EventCounter).is_ok())
}

/// Every loop's status and every controller's health, collected on a helper thread (a
/// deadlocked lock would block the collector, not the watchdog).
pub(crate) fn dump(loops: &[(String, Arc<dyn Ops>)], controllers: &[LoopController]) -> String {
    let loops = loops.to_vec();
    let controllers = controllers.to_vec();
    let (tx, rx) = unbounded();
    thread::spawn(move || {
        for (label, ops) in &loops {
            let _ = tx.send(format!("{label}: {}\n", ops.status()));
        }
        for c in &controllers {
            let _ = tx.send(format!(
                "{} (running_tasks {})\n",
                c.health(),
                c.running_tasks()
            ));
        }
        let _ = tx.send(String::from("<end>"));
    });
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match rx.recv_deadline(deadline) {
            Ok(s) if s == "<end>" => break,
            Ok(s) => out.push_str(&s),
            Err(_) => {
                out.push_str("<collecting statuses blocked: a lock is held>\n");
                break;
            }
        }
    }
    out
}

pub(crate) fn spawn_watchdog(
    watch: Arc<Watch>,
    seed: u64,
    loops: DumpLoops,
    controllers: Arc<Mutex<Vec<LoopController>>>,
) -> thread::JoinHandle<()> {
    thread::Builder::new()
        .name("soak-watchdog".into())
        .spawn(move || {
            while !watch.done.load(Ordering::SeqCst) {
                thread::sleep(ms(100));
                for (i, slot) in watch.slots.iter().enumerate() {
                    let stuck = slot
                        .lock()
                        .unwrap()
                        .as_ref()
                        .filter(|(_, t)| t.elapsed() > CALL_BOUND)
                        .map(|(what, t)| (what.clone(), t.elapsed()));
                    if let Some((what, took)) = stuck {
                        let loops = loops.lock().unwrap().clone();
                        let controllers = controllers.lock().unwrap().clone();
                        to_stderr(&format!(
                            "\nDEADLOCK? caller {i}: `{what}` has not returned after {took:?} \
                             (seed {seed}; replay with SUPERLOOPS_SOAK_SEED={seed})\n\
                             == statuses ==\n{}\n== threads (tid, name, state, wchan) ==\n{}",
                            dump(&loops, &controllers),
                            thread_table()
                        ));
                        backtraces_with_gdb();
                        std::process::exit(101);
                    }
                }
            }
        })
        .expect("spawn the watchdog")
}
