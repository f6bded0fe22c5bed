//! `loop_group!`: the struct it declares, start and stop order, resets across members, health,
//! `Drop`, nested groups, and the options reaching the controller. Tests wait on events
//! (hook logs, `wait_green`), never sleep.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use superloops::channel::{unbounded, Receiver, Sender};
use superloops::prelude::*;
use superloops::SpawnError;

/// Declares a loop type that records its hooks in a log shared by the whole group, each
/// event tagged with the member's name, so that the order across members can be checked.
macro_rules! step {
    ($name:ident $(, $($opt:tt)*)?) => {
        struct $name {
            tag: &'static str,
            log: Log,
        }

        #[superloop($($($opt)*)?)]
        impl $name {
            fn on_start(&mut self) -> bool {
                self.log.push_detail("on_start", self.tag.into());
                true
            }
            fn on_stop(&mut self) {
                self.log.push_detail("on_stop", self.tag.into());
            }
            fn on_thread_start(&mut self) {
                self.log.push_detail("on_thread_start", self.tag.into());
            }
            fn on_thread_stop(&mut self) {
                self.log.push_detail("on_thread_stop", self.tag.into());
            }
            fn cycle(&mut self, ctx: &Ctx) {
                self.log.push_detail("cycle", self.tag.into());
                ctx.sleep(Duration::from_secs(3600));
            }
        }
    };
}

step!(Step, grace = "20s");
step!(FragileStep, grace = "20s", max_failures = 0);

fn step(tag: &'static str, log: &Log) -> Step {
    Step {
        tag,
        log: log.clone(),
    }
}

fn fragile_step(tag: &'static str, log: &Log) -> FragileStep {
    FragileStep {
        tag,
        log: log.clone(),
    }
}

/// The members that ran `hook`, in order.
fn order(log: &Log, hook: &str) -> Vec<String> {
    log.events()
        .into_iter()
        .filter(|e| e.hook == hook)
        .map(|e| e.detail)
        .collect()
}

/// Waits until every one of `tags` has run `hook` at least `n` times.
fn wait_each(log: &Log, hook: &str, tags: &[&str], n: usize) {
    log.wait_until(&format!("{n}× {hook} of each of {tags:?}"), |events| {
        tags.iter().all(|tag| {
            events
                .iter()
                .filter(|e| e.hook == hook && e.detail == *tag)
                .count()
                >= n
        })
    });
}

loop_group! {
    /// Three members of one type, named.
    Trio<first: Step, second: Step, third: Step>
}

#[test]
fn members_start_in_declaration_order_and_stop_in_reverse() {
    let log = Log::default();
    let trio = Trio::new(
        step("first", &log),
        step("second", &log),
        step("third", &log),
    );
    assert!(log.events().is_empty(), "nothing runs until start");

    trio.start();
    assert_eq!(order(&log, "on_start"), ["first", "second", "third"]);
    wait_each(&log, "cycle", &["first", "second", "third"], 1);
    assert_eq!(
        trio.controller().health().supervisor.as_deref(),
        Some("Trio_0")
    );

    assert!(trio.stop());
    assert_eq!(order(&log, "on_stop"), ["third", "second", "first"]);
    assert!(!trio.first.is_alive() && !trio.second.is_alive() && !trio.third.is_alive());
    assert_eq!(trio.health().supervisor, None);
    assert_eq!(log.count("on_thread_start"), log.count("on_thread_stop"));

    // A stopped group starts again: a new supervisor thread, new member threads.
    trio.start();
    wait_each(&log, "cycle", &["first", "second", "third"], 2);
    assert_eq!(trio.health().supervisor.as_deref(), Some("Trio_1"));
    assert_eq!(trio.second.thread_name().as_deref(), Some("Step_1"));
    assert!(trio.stop());
}

probe!(ProcessLoop, grace = "20s");
probe!(ApiFeed, grace = "20s");

loop_group! {
    /// DESIGN.md's pipeline: a failure in either restarts both.
    pub Pipeline<ProcessLoop, ApiFeed>
}

fn pipeline() -> (Pipeline, Log, Log) {
    let process = Probe::new(CycleMode::SleepUntilStop);
    let feed = Probe::new(CycleMode::SleepUntilStop);
    let (process_log, feed_log) = (process.log.clone(), feed.log.clone());
    (
        Pipeline::new(ProcessLoop(process), ApiFeed(feed)),
        process_log,
        feed_log,
    )
}

#[test]
fn members_are_public_fields_named_in_snake_case() {
    let (pipeline, process_log, feed_log) = pipeline();
    let process: &LoopHandle<ProcessLoop> = &pipeline.process_loop;
    let feed: &LoopHandle<ApiFeed> = &pipeline.api_feed;
    pipeline.start();
    process_log.wait_for("cycle", 1);
    feed_log.wait_for("cycle", 1);
    assert_eq!(process.thread_name().as_deref(), Some("ProcessLoop_0"));
    assert_eq!(feed.thread_name().as_deref(), Some("ApiFeed_0"));
    // The fields are the group's own handles: a clone outlives a borrow of the group.
    let feed = feed.clone();
    assert!(pipeline.stop());
    assert!(!feed.is_alive());
}

#[test]
fn a_failure_in_one_member_restarts_both() {
    let (pipeline, process_log, feed_log) = pipeline();
    pipeline.start();
    process_log.wait_for("cycle", 1);
    feed_log.wait_for("cycle", 1);

    // The default budget is 10 failures: the 11th exceeds it.
    for _ in 0..10 {
        assert!(!pipeline.api_feed.failure());
    }
    assert!(pipeline.api_feed.failure());

    process_log.wait_for("on_thread_start", 2);
    feed_log.wait_for("on_thread_start", 2);
    green(pipeline.controller());
    assert_eq!(pipeline.controller().resets(), 1);
    assert_eq!(
        pipeline.process_loop.thread_name().as_deref(),
        Some("ProcessLoop_1")
    );
    assert_eq!(
        pipeline.api_feed.thread_name().as_deref(),
        Some("ApiFeed_1")
    );
    assert_eq!(pipeline.api_feed.failures(), 0, "a clean slate");
    for log in [&process_log, &feed_log] {
        // Each member's first thread ended (and `on_stop` ran) before its second began.
        let hooks = log.hooks();
        let stop = hooks.iter().position(|h| *h == "on_stop").unwrap();
        let restart = hooks.iter().rposition(|h| *h == "on_thread_start").unwrap();
        assert!(stop < restart, "{hooks:?}");
    }
    assert!(pipeline.stop());
    assert_paired(&process_log, 2, 0);
    assert_paired(&feed_log, 2, 0);
}

#[test]
fn a_reset_stops_in_reverse_order_and_restarts_in_declaration_order() {
    loop_group! {
        Chain<first: Step, second: Step, trigger: FragileStep>
    }
    let log = Log::default();
    let chain = Chain::new(
        step("first", &log),
        step("second", &log),
        fragile_step("trigger", &log),
    );
    chain.start();
    wait_each(&log, "cycle", &["first", "second", "trigger"], 1);
    assert!(chain.trigger.failure(), "max_failures = 0");
    wait_each(&log, "cycle", &["first", "second", "trigger"], 2);
    green(chain.controller());
    assert_eq!(order(&log, "on_stop"), ["trigger", "second", "first"]);
    let starts = order(&log, "on_start");
    assert_eq!(starts[3..], ["first", "second", "trigger"]);
    assert!(chain.stop());
}

loop_group! {
    /// One type twice, under two names.
    Pool<primary: Worker, spare: Worker>
}

probe!(Worker, grace = "20s", max_failures = 0);

#[test]
fn named_members_can_share_a_type() {
    let primary = Probe::new(CycleMode::SleepUntilStop);
    let spare = Probe::new(CycleMode::SleepUntilStop);
    let (primary_log, spare_log) = (primary.log.clone(), spare.log.clone());
    let pool = Pool::new(Worker(primary), Worker(spare));
    pool.start();
    primary_log.wait_for("cycle", 1);
    spare_log.wait_for("cycle", 1);
    assert_eq!(pool.primary.thread_name().as_deref(), Some("Worker_0"));
    assert_eq!(pool.spare.thread_name().as_deref(), Some("Worker_0"));

    // Two handles, two threads: a failure of one restarts both (one_for_all).
    assert!(pool.spare.failure());
    primary_log.wait_for("on_thread_start", 2);
    spare_log.wait_for("on_thread_start", 2);
    green(pool.controller());
    assert_eq!(pool.primary.thread_name().as_deref(), Some("Worker_1"));
    assert!(pool.stop());
    assert_paired(&primary_log, 2, 0);
    assert_paired(&spare_log, 2, 0);
}

#[test]
fn health_shows_every_member() {
    let (pipeline, process_log, feed_log) = pipeline();
    let health = pipeline.health();
    assert_eq!(health.name, "Pipeline");
    assert_eq!(health.supervisor, None, "not started");
    assert_eq!(health.members.len(), 2);

    pipeline.start();
    process_log.wait_for("cycle", 1);
    feed_log.wait_for("cycle", 1);
    assert!(!pipeline.api_feed.failure());
    let health = pipeline.health();
    assert!(health.green);
    let members: Vec<(&str, bool)> = health
        .members
        .iter()
        .map(|m| (m.name(), m.alive()))
        .collect();
    assert_eq!(members, [("ProcessLoop", true), ("ApiFeed", true)]);
    match &health.members[1] {
        MemberHealth::Loop(status) => assert_eq!(status.failures, 1),
        other => panic!("a loop member: {other:?}"),
    }
    let table = health.to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "Pipeline [green] resets=0 supervisor=Pipeline_0");
    assert!(lines[2].starts_with("ProcessLoop_0"), "{table}");
    assert!(
        lines[3].starts_with("ApiFeed_0") && lines[3].contains("1/10"),
        "{table}"
    );
    pipeline.stop();
}

#[test]
fn dropping_the_group_stops_everything() {
    let (pipeline, process_log, feed_log) = pipeline();
    let process = pipeline.process_loop.clone();
    let feed = pipeline.api_feed.clone();
    // A clone of the controller would keep it alive; the group's `Drop` stops it anyway.
    let controller = pipeline.controller().clone();
    pipeline.start();
    process_log.wait_for("cycle", 1);
    feed_log.wait_for("cycle", 1);

    drop(pipeline);
    assert!(!process.is_alive() && !feed.is_alive());
    assert!(!process.is_running() && !feed.is_running());
    assert_eq!(controller.health().supervisor, None);
    assert_paired(&process_log, 1, 0);
    assert_paired(&feed_log, 1, 0);
}

loop_group! {
    Inner<leaf: FragileStep, sibling: Step>;
    Outer<first: Step, Inner, last: Step>
}

fn outer(log: &Log) -> Outer {
    Outer::new(
        step("first", log),
        Inner::new(fragile_step("leaf", log), step("sibling", log)),
        step("last", log),
    )
}

#[test]
fn a_nested_group_starts_and_stops_as_one_member_in_order() {
    let log = Log::default();
    let outer = outer(&log);
    let _: &Inner = &outer.inner;
    outer.start();
    assert_eq!(
        order(&log, "on_start"),
        ["first", "leaf", "sibling", "last"]
    );
    wait_each(&log, "cycle", &["first", "leaf", "sibling", "last"], 1);
    assert_eq!(outer.health().supervisor.as_deref(), Some("Outer_0"));
    assert_eq!(outer.inner.health().supervisor.as_deref(), Some("Inner_0"));
    let health = outer.health();
    assert!(matches!(&health.members[1], MemberHealth::Group(g) if g.name == "Inner"));

    assert!(outer.stop());
    assert_eq!(order(&log, "on_stop"), ["last", "sibling", "leaf", "first"]);
    assert_eq!(outer.inner.health().supervisor, None);
    assert!(!outer.inner.leaf.is_alive());
}

#[test]
fn a_nested_group_restarts_its_own_members() {
    let log = Log::default();
    let outer = outer(&log);
    outer.start();
    wait_each(&log, "cycle", &["first", "leaf", "sibling", "last"], 1);

    // The inner group handles its member's failure; the outer group's members run on.
    assert!(outer.inner.leaf.failure());
    wait_each(&log, "cycle", &["leaf", "sibling"], 2);
    green(outer.inner.controller());
    assert_eq!(outer.inner.controller().resets(), 1);
    assert_eq!(outer.controller().resets(), 0);
    assert_eq!(order(&log, "on_start").len(), 6, "{:?}", log.events());
    assert_eq!(outer.first.thread_name().as_deref(), Some("Step_0"));
    assert_eq!(outer.inner.sibling.thread_name().as_deref(), Some("Step_1"));
    assert!(outer.stop());
}

#[test]
fn dropping_the_outer_group_stops_the_inner_one() {
    let log = Log::default();
    let outer = outer(&log);
    let leaf = outer.inner.leaf.clone();
    let inner = outer.inner.controller().clone();
    outer.start();
    wait_each(&log, "cycle", &["first", "leaf", "sibling", "last"], 1);
    drop(outer);
    assert!(!leaf.is_alive());
    assert_eq!(inner.health().supervisor, None);
    assert_eq!(order(&log, "on_stop"), ["last", "sibling", "leaf", "first"]);
}

#[test]
fn strategy_one_for_one_restarts_only_the_failing_member() {
    loop_group! {
        Solo<first: Step, trigger: FragileStep, last: Step> { strategy = one_for_one }
    }
    let log = Log::default();
    let solo = Solo::new(
        step("first", &log),
        fragile_step("trigger", &log),
        step("last", &log),
    );
    solo.start();
    wait_each(&log, "cycle", &["first", "trigger", "last"], 1);
    assert!(solo.trigger.failure());
    wait_each(&log, "cycle", &["trigger"], 2);
    green(solo.controller());
    assert_eq!(
        order(&log, "on_start"),
        ["first", "trigger", "last", "trigger"]
    );
    assert_eq!(solo.first.thread_name().as_deref(), Some("Step_0"));
    assert!(solo.stop());
}

#[test]
fn strategy_rest_for_one_restarts_the_failing_member_and_those_after_it() {
    loop_group! {
        Rest<first: Step, trigger: FragileStep, last: Step> { strategy = rest_for_one }
    }
    let log = Log::default();
    let rest = Rest::new(
        step("first", &log),
        fragile_step("trigger", &log),
        step("last", &log),
    );
    rest.start();
    wait_each(&log, "cycle", &["first", "trigger", "last"], 1);
    assert!(rest.trigger.failure());
    wait_each(&log, "cycle", &["trigger", "last"], 2);
    green(rest.controller());
    assert_eq!(
        order(&log, "on_start"),
        ["first", "trigger", "last", "trigger", "last"]
    );
    assert!(rest.stop());
}

#[test]
fn max_restarts_gives_up_and_stops_every_member() {
    loop_group! {
        Brittle<trigger: FragileStep, other: Step> {
            max_restarts = 1,
            within = "1h",
            backoff = "1ms..2ms",
        }
    }
    let log = Log::default();
    let brittle = Brittle::new(fragile_step("trigger", &log), step("other", &log));
    brittle.start();
    wait_each(&log, "cycle", &["trigger", "other"], 1);
    assert!(brittle.trigger.failure());
    wait_each(&log, "cycle", &["trigger", "other"], 2);
    green(brittle.controller());

    // The second reset within the hour is one too many.
    assert!(brittle.trigger.failure());
    eventually("the group to give up", || brittle.health().failed);
    eventually("every member to stop", || {
        !brittle.controller().has_alive_loops()
    });
    assert_eq!(brittle.health().resets, 1);
    assert_eq!(order(&log, "on_stop").len(), 4, "{:?}", log.events());

    // Given up, it stays down until started again.
    brittle.start();
    assert!(brittle.health().green && brittle.other.is_alive());
    assert!(brittle.stop());
}

/// Where `on_reset_to_channel` reports: one channel per test process, used by one test.
fn reset_channel() -> &'static (Sender<()>, Receiver<()>) {
    static CHANNEL: OnceLock<(Sender<()>, Receiver<()>)> = OnceLock::new();
    CHANNEL.get_or_init(unbounded)
}

fn on_reset_to_channel() {
    reset_channel().0.send(()).unwrap();
}

#[test]
fn on_reset_runs_between_stop_and_restart() {
    loop_group! {
        Hooked<trigger: FragileStep, other: Step> {
            on_reset = on_reset_to_channel,
            backoff = "3ms..1h",
        }
    }
    let log = Log::default();
    let hooked = Hooked::new(fragile_step("trigger", &log), step("other", &log));
    hooked.start();
    for round in 1..=2 {
        wait_each(&log, "cycle", &["trigger", "other"], round);
        assert!(hooked.trigger.failure());
        reset_channel().1.recv_timeout(BOUND).unwrap();
        // on_reset ran after both members had stopped.
        assert_eq!(order(&log, "on_stop").len(), 2 * round);
        wait_each(&log, "cycle", &["trigger", "other"], round + 1);
        green(hooked.controller());
    }
    // The second reset followed the first closely: it waited the backoff's first delay.
    assert_eq!(hooked.health().backoff, Duration::from_millis(3));
    assert!(reset_channel().1.try_recv().is_err(), "once per reset");
    assert!(hooked.stop());
}

#[test]
fn task_options_reach_the_controller() {
    loop_group! {
        Capped<Step> { max_threads = 1 }
    }
    let log = Log::default();
    let capped = Capped::new(step("step", &log));
    capped.start();
    let (entered_tx, entered) = unbounded();
    // On the group itself, as on its controller.
    let first = capped
        .spawn_task("first", move |ctx| {
            entered_tx.send(()).unwrap();
            ctx.stopping().wait(); // runs until the group stops
            Ok::<_, String>(1)
        })
        .unwrap();
    entered.recv_timeout(BOUND).unwrap();
    let second = capped.spawn_task("second", |_ctx| Ok::<_, String>(2));
    assert!(
        matches!(second, Err(SpawnError::ThreadLimitReached { max: 1 })),
        "max_threads = 1: {second:?}"
    );
    assert!(capped.stop());
    assert_eq!(first.join().unwrap(), 1);
}
