//! The figures of the README's "Performance" section: superloops beside a hand-written
//! `std::thread` baseline, measured in the same run, alternating rep by rep so that load from
//! elsewhere on the machine hits both alike.
//!
//! ```text
//! cargo run --release --example bench              # every figure, well under 2 minutes
//! cargo run --release --example bench -- quick     # fewer repetitions
//! cargo run --release --example bench -- start stop   # only figures whose name contains a word
//! ```
//!
//! One line per figure: `name superloops=… baseline=… unit ratio=… target=… met|MISSED`,
//! where every value is the median over the repetitions (`reps=`) and `ratio` is
//! superloops ÷ baseline. Figures report; nothing here asserts a timing.
//!
//! No `tracing` subscriber is installed: these are the crate's own costs. With a subscriber
//! every start and stop also writes its log lines.

use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use superloops::channel::{bounded, unbounded, Receiver, Sender};
use superloops::prelude::*;

const LONG: Duration = Duration::from_secs(3600);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1..]);
        return;
    }
    let quick = args.iter().any(|a| a == "quick");
    let filters: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "quick")
        .collect();
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    let reps = |full: usize| if quick { full.div_ceil(3).max(3) } else { full };

    let began = Instant::now();
    println!(
        "# superloops figures: {} cores, {}; medians, ratio = superloops / baseline",
        thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    if wanted("empty_cycle_rate") {
        empty_cycle_rate(reps(7));
    }
    if wanted("stop_latency_sleep") {
        stop_latency_sleep(reps(41));
    }
    if wanted("stop_latency_recv") {
        stop_latency_recv(reps(41));
    }
    if wanted("start_latency") {
        start_latency(reps(61));
    }
    for (n, r) in [(2, 31), (8, 21), (64, 9)] {
        if wanted(&format!("group_restart_{n}")) {
            group_restart(n, reps(r));
        }
    }
    if wanted("idle_controller_cpu") {
        idle_controller_cpu(reps(5));
    }
    for (n, r) in [(1_000, 5), (10_000, 3)] {
        if wanted(&format!("many_{n}")) {
            many_loops(n, reps(r));
        }
    }
    println!("# done in {:.1} s", began.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// Reporting

/// What a figure's target says about its ratio.
#[derive(Clone, Copy)]
enum Target {
    /// ratio ≥ this (rates: higher is better).
    AtLeast(f64),
    /// ratio ≤ this (times: lower is better).
    AtMost(f64),
    /// No target: shown for information.
    None,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The spread of a sample as (max − min) / median, for the noise note.
fn spread(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    let m = median(&mut v);
    (v[v.len() - 1] - v[0]) / m
}

fn fmt_value(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.abs() >= 1e6 || x.abs() < 1e-2 {
        format!("{x:.3e}")
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn report(name: &str, unit: &str, ours: &[f64], base: &[f64], target: Target) {
    let (o, b) = (median(&mut ours.to_vec()), median(&mut base.to_vec()));
    let ratio = o / b;
    let verdict = match target {
        Target::AtLeast(t) => format!(
            " target=>={t} {}",
            if ratio >= t { "met" } else { "MISSED" }
        ),
        Target::AtMost(t) => format!(
            " target=<={t} {}",
            if ratio <= t { "met" } else { "MISSED" }
        ),
        Target::None => String::new(),
    };
    println!(
        "{name} superloops={} baseline={} {unit} ratio={ratio:.2}{verdict} reps={} spread={:.0}%/{:.0}%",
        fmt_value(o),
        fmt_value(b),
        ours.len(),
        spread(ours) * 100.0,
        spread(base) * 100.0,
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// A hand-written stop flag: a mutex-guarded bool and a condvar, as a user would write.
#[derive(Clone, Default)]
struct StopFlag(Arc<(Mutex<bool>, Condvar)>);

impl StopFlag {
    fn set(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
    /// Blocks until set or `timeout`; true if set.
    fn wait_timeout(&self, timeout: Duration) -> bool {
        let (m, cv) = &*self.0;
        let deadline = Instant::now() + timeout;
        let mut set = m.lock().unwrap();
        while !*set {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            set = cv.wait_timeout(set, deadline - now).unwrap().0;
        }
        true
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Empty-cycle rate

/// Times its own thread's run, from `on_thread_start` to `on_thread_stop`.
#[derive(Clone, Default)]
struct RunClock(Arc<Mutex<Option<(Instant, Instant)>>>);

struct Empty {
    clock: RunClock,
    began: Option<Instant>,
}

#[superloop]
impl Empty {
    fn on_thread_start(&mut self) {
        self.began = Some(Instant::now());
    }
    fn cycle(&mut self) {}
    fn on_thread_stop(&mut self) {
        let end = Instant::now();
        *self.clock.0.lock().unwrap() = self.began.map(|b| (b, end));
    }
}

fn empty_cycle_rate(reps: usize) {
    let window = Duration::from_millis(150);
    let clock = RunClock::default();
    let handle = Empty {
        clock: clock.clone(),
        began: None,
    }
    .into_loop();
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        handle.start();
        thread::sleep(window);
        handle.stop();
        let cycles = handle.status().cycles as f64;
        let (b, e) = clock.0.lock().unwrap().take().expect("the run was timed");
        ours.push(cycles / (e - b).as_secs_f64());

        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let t = thread::spawn(move || {
            let began = Instant::now();
            let mut n = 0u64;
            while !flag.load(Ordering::Acquire) {
                n += 1;
            }
            n as f64 / began.elapsed().as_secs_f64()
        });
        thread::sleep(window);
        stop.store(true, Ordering::Release);
        base.push(t.join().unwrap());
    }
    report(
        "empty_cycle_rate",
        "cycles_per_s",
        &ours,
        &base,
        Target::AtLeast(0.9),
    );
    println!(
        "# empty_cycle_rate times a loop of six instructions: where the compiler places it \
         (across a 64-byte line or not) can halve either side's rate; see PERF.md"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Stop latency

struct Sleeper {
    entered: Sender<()>,
}

#[superloop(grace = "30s")]
impl Sleeper {
    fn cycle(&mut self, ctx: &Ctx) {
        let _ = self.entered.send(());
        ctx.sleep(Duration::from_secs(10));
    }
}

fn stop_latency_sleep(reps: usize) {
    let (entered, in_cycle) = unbounded();
    let handle = Sleeper { entered }.into_loop();
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        handle.start();
        in_cycle.recv().unwrap();
        thread::sleep(Duration::from_millis(2)); // let it block in the sleep
        let t0 = Instant::now();
        handle.stop();
        ours.push(micros(t0.elapsed()));

        let stop = StopFlag::default();
        let (entered, in_wait) = bounded(1);
        let flag = stop.clone();
        let t = thread::spawn(move || loop {
            let _ = entered.send(());
            if flag.wait_timeout(Duration::from_secs(10)) {
                break;
            }
        });
        in_wait.recv().unwrap();
        thread::sleep(Duration::from_millis(2));
        let t0 = Instant::now();
        stop.set();
        t.join().unwrap();
        base.push(micros(t0.elapsed()));
    }
    report(
        "stop_latency_sleep",
        "us",
        &ours,
        &base,
        Target::AtMost(1.5),
    );
}

struct Receiving {
    jobs: Receiver<u64>,
    entered: Sender<()>,
    sum: u64,
}

#[superloop(grace = "30s")]
impl Receiving {
    fn cycle(&mut self, ctx: &Ctx) {
        let _ = self.entered.send(());
        if let Some(job) = ctx.recv(&self.jobs) {
            self.sum += job;
        }
    }
}

enum Msg {
    Job(u64),
    Stop,
}

fn stop_latency_recv(reps: usize) {
    let (jobs, rx) = unbounded::<u64>();
    let (entered, in_cycle) = unbounded();
    let handle = Receiving {
        jobs: rx,
        entered,
        sum: 0,
    }
    .into_loop();
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        jobs.send(1).unwrap();
        handle.start();
        in_cycle.recv().unwrap();
        in_cycle.recv().unwrap(); // the second cycle, after the job: waiting on the channel
        thread::sleep(Duration::from_millis(2));
        let t0 = Instant::now();
        handle.stop();
        ours.push(micros(t0.elapsed()));

        // The hand-written worker: one channel carries jobs and the stop message.
        let (tx, rx) = unbounded::<Msg>();
        let (entered, in_recv) = bounded(1);
        let t = thread::spawn(move || {
            let mut sum = 0u64;
            let _ = entered.send(());
            while let Ok(Msg::Job(n)) = rx.recv() {
                sum += n;
            }
            sum
        });
        tx.send(Msg::Job(1)).unwrap();
        in_recv.recv().unwrap();
        thread::sleep(Duration::from_millis(2));
        let t0 = Instant::now();
        tx.send(Msg::Stop).unwrap();
        black_box(t.join().unwrap());
        base.push(micros(t0.elapsed()));
    }
    report("stop_latency_recv", "us", &ours, &base, Target::AtMost(1.5));
}

// ---------------------------------------------------------------------------------------------
// 3. Start latency

struct Starter {
    started: Sender<Instant>,
}

#[superloop(grace = "30s")]
impl Starter {
    fn on_thread_start(&mut self) {
        let now = Instant::now();
        let _ = self.started.send(now);
    }
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(LONG);
    }
}

fn start_latency(reps: usize) {
    let (started, first) = unbounded();
    let handle = Starter { started }.into_loop();
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let t0 = Instant::now();
        handle.start();
        let t1 = first.recv().unwrap();
        ours.push(micros(t1 - t0));
        handle.stop();

        let stop = StopFlag::default();
        let (started, first) = bounded(1);
        let flag = stop.clone();
        let t0 = Instant::now();
        let t = thread::spawn(move || {
            let now = Instant::now();
            let _ = started.send(now);
            flag.wait_timeout(LONG);
        });
        let t1 = first.recv().unwrap();
        base.push(micros(t1 - t0));
        stop.set();
        t.join().unwrap();
    }
    report("start_latency", "us", &ours, &base, Target::AtMost(1.5));
}

// ---------------------------------------------------------------------------------------------
// 4. Group restart latency

/// How many threads have started, and when the latest did.
type Arrived = (usize, Option<Instant>);

/// Counts thread starts and keeps the latest one's instant.
#[derive(Clone, Default)]
struct Arrivals(Arc<(Mutex<Arrived>, Condvar)>);

impl Arrivals {
    fn arrive(&self) {
        let now = Instant::now();
        let mut a = self.0 .0.lock().unwrap();
        a.0 += 1;
        a.1 = Some(a.1.map_or(now, |t| t.max(now)));
        self.0 .1.notify_all();
    }
    /// Waits until `n` have arrived in all; the latest arrival's instant.
    fn wait_for(&self, n: usize) -> Instant {
        let (m, cv) = &*self.0;
        let mut a = m.lock().unwrap();
        while a.0 < n {
            a = cv.wait(a).unwrap();
        }
        a.1.expect("arrived")
    }
}

struct Member {
    arrivals: Arrivals,
}

#[superloop(grace = "30s")]
impl Member {
    fn on_thread_start(&mut self) {
        self.arrivals.arrive();
    }
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(LONG);
    }
}

struct Trigger {
    arrivals: Arrivals,
}

#[superloop(grace = "30s", max_failures = 0)]
impl Trigger {
    fn on_thread_start(&mut self) {
        self.arrivals.arrive();
    }
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(LONG);
    }
}

fn group_restart(n: usize, reps: usize) {
    // No backoff: every reset here follows the last closely, and is measured alone.
    let controller = LoopController::new().backoff(Duration::ZERO, Duration::ZERO);
    let arrivals = Arrivals::default();
    let trigger = controller.new_loop(Trigger {
        arrivals: arrivals.clone(),
    });
    let _members: Vec<_> = (1..n)
        .map(|_| {
            controller.new_loop(Member {
                arrivals: arrivals.clone(),
            })
        })
        .collect();
    controller.start();
    controller.maintain_loops();
    arrivals.wait_for(n);

    let base_arrivals = Arrivals::default();
    let spawn_all = |arrivals: &Arrivals| -> Vec<(StopFlag, thread::JoinHandle<()>)> {
        (0..n)
            .map(|_| {
                let stop = StopFlag::default();
                let flag = stop.clone();
                let arrivals = arrivals.clone();
                let t = thread::spawn(move || {
                    arrivals.arrive();
                    flag.wait_timeout(LONG);
                });
                (stop, t)
            })
            .collect()
    };
    let mut threads = spawn_all(&base_arrivals);
    base_arrivals.wait_for(n);

    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for rep in 0..reps {
        let t0 = Instant::now();
        assert!(trigger.failure(), "max_failures = 0: the first one exceeds");
        let last = arrivals.wait_for(n * (rep + 2));
        ours.push(micros(last - t0));
        controller.wait_green(Duration::from_secs(60));

        // By hand: signal all, join all, respawn all.
        let t0 = Instant::now();
        for (stop, _) in &threads {
            stop.set();
        }
        for (_, t) in threads.drain(..) {
            t.join().unwrap();
        }
        threads = spawn_all(&base_arrivals);
        let last = base_arrivals.wait_for(n * (rep + 2));
        base.push(micros(last - t0));
    }
    controller.stop();
    for (stop, _) in &threads {
        stop.set();
    }
    for (_, t) in threads {
        t.join().unwrap();
    }
    report(
        &format!("group_restart_{n}"),
        "us",
        &ours,
        &base,
        Target::AtMost(2.0),
    );
    let (o, b) = (median(&mut ours), median(&mut base));
    println!(
        "group_restart_{n}_per_member superloops={} baseline={} us",
        fmt_value(o / n as f64),
        fmt_value(b / n as f64)
    );
}

// ---------------------------------------------------------------------------------------------
// 5. CPU of an idle controller

struct Napper;

#[superloop(grace = "30s")]
impl Napper {
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_millis(100));
    }
}

/// On-CPU time of every thread of this process, from `/proc/self/task/*/schedstat`
/// (nanoseconds, unlike the clock ticks of `/proc/self/stat`), by thread id.
fn thread_cpu() -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for entry in dir.flatten() {
            let Ok(tid) = entry.file_name().to_string_lossy().parse::<u64>() else {
                continue;
            };
            if let Ok(s) = std::fs::read_to_string(entry.path().join("schedstat")) {
                if let Some(ns) = s.split_whitespace().next().and_then(|x| x.parse().ok()) {
                    out.push((tid, ns));
                }
            }
        }
    }
    out
}

/// CPU seconds per wall second used by the process over `window` (threads that lived through
/// the whole window).
fn cpu_per_s(window: Duration) -> f64 {
    let before = thread_cpu();
    let t0 = Instant::now();
    thread::sleep(window);
    let after = thread_cpu();
    let wall = t0.elapsed().as_secs_f64();
    let used: u64 = after
        .iter()
        .filter_map(|(tid, ns)| {
            before
                .iter()
                .find(|(t, _)| t == tid)
                .map(|(_, b)| ns.saturating_sub(*b))
        })
        .sum();
    used as f64 / 1e9 / wall
}

fn idle_controller_cpu(reps: usize) {
    let window = Duration::from_millis(1500);
    let settle = Duration::from_millis(200);
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        {
            let controller = LoopController::new();
            let _loops: Vec<_> = (0..8).map(|_| controller.new_loop(Napper)).collect();
            controller.start();
            controller.maintain_loops();
            thread::sleep(settle);
            ours.push(cpu_per_s(window));
            controller.stop();
        }
        {
            let loops: Vec<_> = (0..8).map(|_| Napper.into_loop()).collect();
            for l in &loops {
                l.start();
            }
            thread::sleep(settle);
            base.push(cpu_per_s(window));
            for l in &loops {
                l.stop();
            }
        }
    }
    let (o, b) = (median(&mut ours.clone()), median(&mut base.clone()));
    report(
        "idle_controller_cpu",
        "cpu_s_per_s",
        &ours,
        &base,
        Target::None,
    );
    let added = o - b;
    println!(
        "idle_controller_cpu_added superloops={} cpu_s_per_s target=<0.005 {}",
        fmt_value(added),
        if added < 0.005 { "met" } else { "MISSED" }
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Thousands of loops under one controller, each measured in a fresh child process (so that
// neither side inherits the other's freed heap or glibc's cache of thread stacks).

/// The stack of every thread in this figure, both sides.
const SMALL_STACK: usize = 64 * 1024;

struct Idle {
    arrived: Arc<AtomicUsize>,
    all: Sender<()>,
    n: usize,
}

#[superloop(stack_size = "64 KiB", grace = "30s")]
impl Idle {
    fn on_thread_start(&mut self) {
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.n {
            let _ = self.all.send(());
        }
    }
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(LONG);
    }
}

fn vm_rss_kib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(f64::NAN)
}

/// `--child many superloops|baseline|in_order N`: prints `start_ms stop_ms rss_kib_per_loop`.
/// `in_order` is the baseline stopping its threads one after another, last first.
fn child(args: &[String]) {
    let side = args[1].as_str();
    let n: usize = args[2].parse().expect("a count");
    let arrived = Arc::new(AtomicUsize::new(0));
    let (all, all_arrived) = bounded(1);
    let rss0 = vm_rss_kib();
    let (start, stop, rss1) = if side.starts_with("superloops") {
        // Thousands of independent workers: stop them all at once, like the baseline. The
        // default, dependency order, is measured beside a hand-written stop in that order.
        let controller = if side == "superloops_in_order" {
            LoopController::new()
        } else {
            LoopController::new().stop_all_at_once()
        };
        let handles: Vec<_> = (0..n)
            .map(|_| {
                controller.new_loop(Idle {
                    arrived: arrived.clone(),
                    all: all.clone(),
                    n,
                })
            })
            .collect();
        controller.start();
        let t0 = Instant::now();
        controller.maintain_loops();
        all_arrived.recv().unwrap();
        let start = t0.elapsed();
        let rss1 = vm_rss_kib();
        let t0 = Instant::now();
        controller.stop_loops();
        let stop = t0.elapsed();
        controller.stop();
        drop(handles);
        (start, stop, rss1)
    } else {
        let t0 = Instant::now();
        let threads: Vec<_> = (0..n)
            .map(|_| {
                let stop = StopFlag::default();
                let flag = stop.clone();
                let arrived = arrived.clone();
                let all = all.clone();
                let t = thread::Builder::new()
                    .stack_size(SMALL_STACK)
                    .spawn(move || {
                        if arrived.fetch_add(1, Ordering::AcqRel) + 1 == n {
                            let _ = all.send(());
                        }
                        flag.wait_timeout(LONG);
                    })
                    .expect("spawn");
                (stop, t)
            })
            .collect();
        all_arrived.recv().unwrap();
        let start = t0.elapsed();
        let rss1 = vm_rss_kib();
        let t0 = Instant::now();
        if side == "in_order" {
            // As the controller stops: the last started first, each joined before the next.
            for (stop, t) in threads.into_iter().rev() {
                stop.set();
                t.join().unwrap();
            }
        } else {
            for (stop, _) in &threads {
                stop.set();
            }
            for (_, t) in threads {
                t.join().unwrap();
            }
        }
        (start, t0.elapsed(), rss1)
    };
    println!(
        "{} {} {}",
        start.as_secs_f64() * 1e3,
        stop.as_secs_f64() * 1e3,
        (rss1 - rss0) / n as f64
    );
}

fn run_child(side: &str, n: usize) -> Option<(f64, f64, f64)> {
    let exe = std::env::current_exe().ok()?;
    let out = Command::new(exe)
        .args(["--child", "many", side, &n.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "child {side} {n} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (v.len() == 3).then(|| (v[0], v[1], v[2]))
}

fn many_loops(n: usize, reps: usize) {
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    let (mut ours_in_order, mut in_order) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        ours.extend(run_child("superloops", n));
        base.extend(run_child("baseline", n));
        ours_in_order.extend(run_child("superloops_in_order", n));
        in_order.extend(run_child("in_order", n));
    }
    if ours.is_empty() || base.is_empty() {
        println!("many_{n} could not run");
        return;
    }
    let col = |v: &[(f64, f64, f64)], f: fn(&(f64, f64, f64)) -> f64| -> Vec<f64> {
        v.iter().map(f).collect()
    };
    report(
        &format!("many_{n}_start_all"),
        "ms",
        &col(&ours, |r| r.0),
        &col(&base, |r| r.0),
        Target::AtMost(1.5),
    );
    report(
        &format!("many_{n}_stop_all"),
        "ms",
        &col(&ours, |r| r.1),
        &col(&base, |r| r.1),
        Target::AtMost(1.5),
    );
    if !in_order.is_empty() && !ours_in_order.is_empty() {
        // By default a controller stops members in dependency order (each ended before the
        // one declared before it is asked): beside a hand-written stop that does the same.
        report(
            &format!("many_{n}_stop_all_in_order"),
            "ms",
            &col(&ours_in_order, |r| r.1),
            &col(&in_order, |r| r.1),
            Target::None,
        );
    }
    let (o, b) = (
        median(&mut col(&ours, |r| r.2)),
        median(&mut col(&base, |r| r.2)),
    );
    report(
        &format!("many_{n}_rss_per_loop"),
        "KiB",
        &col(&ours, |r| r.2),
        &col(&base, |r| r.2),
        Target::None,
    );
    let extra = o - b;
    println!(
        "many_{n}_bookkeeping_per_loop superloops={} KiB target=<2 {}",
        fmt_value(extra),
        if extra < 2.0 { "met" } else { "MISSED" }
    );
}
