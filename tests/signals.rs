//! `run_until_signal` on a real process: SIGTERM/SIGINT stop a group gracefully and report;
//! a second signal during a slow shutdown ends the process at once; after `run_until_signal`
//! has returned, the signals have their default effect again.
//!
//! Each scenario runs in a child process (this test binary, running the ignored test `child`),
//! since the signals end it. The parent reads the child's log line by line and sends a signal
//! only when the child has said it is listening: events, no sleeps.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::BOUND;
use superloops::channel::{unbounded, Receiver, Sender};
use superloops::prelude::*;

/// Names the scenario a child runs.
const CHILD: &str = "SUPERLOOPS_SIGNALS_CHILD";

#[derive(Default)]
struct Ingest;

#[superloop(grace = "5s")]
impl Ingest {
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(3600));
    }
}

#[derive(Default)]
struct Export;

#[superloop(grace = "5s")]
impl Export {
    fn cycle(&mut self, ctx: &Ctx) {
        ctx.sleep(Duration::from_secs(3600));
    }
}

loop_group! {
    Pipeline<Ingest, Export>
}

/// A loop whose cycle ignores stop: its stop waits out a grace longer than any test.
/// Ignores its stop: blocks in its cycle until its channel disconnects. Says when it is in.
struct Deaf(Receiver<()>, Sender<()>);

#[superloop(grace = "10m")]
impl Deaf {
    fn cycle(&mut self) {
        let _ = self.1.send(());
        let _ = self.0.recv();
    }
}

/// The child process's side. Ignored in a normal run; the parent runs it with `--ignored`.
#[test]
#[ignore = "run by the other tests of this file, in a child process"]
fn child() {
    let scenario = std::env::var(CHILD).expect("run by the parent tests");
    tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .init();
    match scenario.as_str() {
        "group" => {
            let pipeline = Pipeline::new(Ingest, Export);
            pipeline.start();
            let report = pipeline.run_until_signal().expect("signal handlers");
            println!("report: {report}");
            println!("returned");
            // Superloops no longer listens: the default effect ends the process here.
            signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
            println!("survived a SIGTERM after run_until_signal returned");
        }
        "slow-shutdown" => {
            let (_keep, rx) = unbounded();
            let (inside_tx, inside) = unbounded();
            let controller = LoopController::new();
            controller.new_loop(Deaf(rx, inside_tx));
            controller.start();
            controller.maintain_loops();
            // Deaf in its cycle before the parent is told to signal: a stop signalled before
            // its first cycle ends it at once, and there is no slow shutdown to cut short.
            inside.recv().expect("Deaf's first cycle");
            let report = controller.run_until_signal().expect("signal handlers");
            println!("report: {report}");
            println!("returned");
        }
        other => panic!("no scenario {other}"),
    }
}

/// A child running `scenario`, and its stdout's lines as they come.
struct ChildProcess {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl ChildProcess {
    fn spawn(scenario: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "child", "--nocapture"])
            .env(CHILD, scenario)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = unbounded();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildProcess {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text`.
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + BOUND;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "the child never printed {text:?}; it printed:\n{:#?}",
                        self.seen
                    );
                }
            }
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the child to end; returns its status and the rest of its output.
    fn finish(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + BOUND;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the child did not end; it printed:\n{:#?}", self.seen);
            }
            // Also drains the output while waiting, so the child never blocks on a full pipe.
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(20)) {
                self.seen.push(line);
            }
        };
        self.seen.extend(self.lines.iter());
        (status, self.seen)
    }
}

#[test]
fn sigterm_stops_a_group_gracefully_and_the_default_effect_comes_back_after() {
    let mut child = ChildProcess::spawn("group");
    child.wait_for("Waiting for SIGINT or SIGTERM");
    child.signal("TERM");
    let (status, out) = child.finish();
    let text = out.join("\n");
    assert!(
        text.contains("Received a termination signal") && text.contains("signal=\"SIGTERM\""),
        "{text}"
    );
    assert!(
        out.iter()
            .any(|l| l == "report: stopped in time: Export_0, Ingest_0; abandoned: none"),
        "every member stopped within its grace, in reverse order:\n{text}"
    );
    assert!(out.iter().any(|l| l == "returned"), "{text}");
    assert!(
        !text.contains("survived"),
        "a SIGTERM after run_until_signal returned must end the process:\n{text}"
    );
    assert_eq!(
        status.signal(),
        Some(15),
        "ended by SIGTERM: {status:?}\n{text}"
    );
}

#[test]
fn a_second_ctrl_c_during_a_slow_shutdown_ends_the_process_at_once() {
    let mut child = ChildProcess::spawn("slow-shutdown");
    child.wait_for("Waiting for SIGINT or SIGTERM");
    child.signal("INT");
    // The shutdown is under way, waiting out Deaf's ten-minute grace.
    child.wait_for("Received a termination signal");
    child.signal("INT");
    let (status, out) = child.finish();
    let text = out.join("\n");
    assert!(
        !out.iter().any(|l| l == "returned"),
        "the second Ctrl-C must not wait for the shutdown:\n{text}"
    );
    assert_eq!(
        status.signal(),
        Some(2),
        "ended by SIGINT: {status:?}\n{text}"
    );
}
