//! The lifecycle without threads: every state × every operation, from every kind of caller,
//! checked against a table; then the paths through it that the runtime takes.

use super::*;

/// Values are numbers, threads are numbers, a join handle is nothing.
struct Fake;
impl Kinds for Fake {
    type Value = u32;
    type Join = ();
    type Tid = u8;
}

type Life = Lifecycle<Fake>;

/// The thread that holds `busy` in `Starting` (inside `on_start`).
const STARTER: u8 = 1;
/// The thread that holds `busy` in `Stopping` (waiting for the thread to end).
const STOPPER: u8 = 2;
/// Anybody else.
const OTHER: u8 = 3;
/// The loop's thread number 0.
const T0: u8 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    Stopped,
    Starting,
    Running,
    Stopping,
    Abandoned,
    Failed,
}

const STATES: [At; 6] = [
    At::Stopped,
    At::Starting,
    At::Running,
    At::Stopping,
    At::Abandoned,
    At::Failed,
];

/// A member of a group (linked), brought to `at` by the transitions the runtime makes.
fn build(at: At) -> Life {
    let mut l = Life::new(Some(7), false);
    l.link(true);
    if at == At::Stopped {
        return l;
    }
    let Start::Begin(Source::Value(v)) = l.start(STARTER) else {
        panic!("a stopped loop starts")
    };
    if at == At::Starting {
        return l;
    }
    let AfterStart::Spawn { value, gen } = l.on_start_done(Outcome::Allowed, v) else {
        panic!("spawn")
    };
    assert_eq!((value, gen), (7, 0));
    l.spawned(0, Signal::new(), T0, ());
    assert!(l.release(STARTER).is_none());
    match at {
        At::Running => l,
        At::Stopping | At::Abandoned => {
            let Stop::Signal(token) = l.stop(STOPPER, true) else {
                panic!("a running loop is signalled")
            };
            token.go();
            if at == At::Abandoned {
                assert_eq!(l.abandon(), 0);
                assert!(l.release(STOPPER).is_none());
            }
            l
        }
        At::Failed => {
            // Its thread ended on its own (a panic): on_stop ran there.
            let Finished::OnStopHere(v) = l.thread_finished(0, 7) else {
                panic!("nobody waits")
            };
            assert_eq!(l.thread_done(0, v), Done::Current { alone: true });
            l
        }
        At::Stopped | At::Starting => unreachable!(),
    }
}

/// The thread inside an operation in `at`, or [`OTHER`].
fn holder(at: At) -> u8 {
    match at {
        At::Starting => STARTER,
        At::Stopping => STOPPER,
        _ => OTHER,
    }
}

fn start(s: Start<u32, u8>) -> String {
    match s {
        Start::Begin(Source::Value(v)) => format!("begin({v})"),
        Start::Begin(Source::Factory) => "begin(factory)".into(),
        Start::Already => "already".into(),
        Start::Queued(q) => format!("queued({q:?})"),
        Start::Ignored(i) => format!("ignored({i:?})"),
        Start::Wait(t) => format!("wait({t})"),
    }
}

/// Begins a start of a stopped loop from `OTHER`; the value its `on_start` gets.
fn begin_start(l: &mut Life) -> u32 {
    let Start::Begin(Source::Value(v)) = l.start(OTHER) else {
        panic!("a stopped loop with its value begins to start")
    };
    v
}

/// Signals what a stop hands out, as the runtime does.
fn stop(s: Stop<u8>) -> String {
    match s {
        Stop::Idle { clean } => format!("idle(clean={clean})"),
        Stop::Signal(t) => {
            t.go();
            "signal".into()
        }
        Stop::Asked(t) => {
            let had = t.is_some();
            if let Some(t) = t {
                t.go();
            }
            format!("asked(token={had})")
        }
        Stop::Ignored => "ignored".into(),
        Stop::Wait(t) => format!("wait({t})"),
    }
}

fn hard_reset(h: HardReset<u8>) -> String {
    match h {
        HardReset::Proceed => "proceed".into(),
        HardReset::Asked(t) => {
            if let Some(t) = &t {
                t.go();
            }
            format!("asked(token={})", t.is_some())
        }
        HardReset::Ignored(i) => format!("ignored({i:?})"),
        HardReset::Wait(t) => format!("wait({t})"),
    }
}

fn token(t: Option<Signal>) -> String {
    match t {
        Some(t) => {
            t.go();
            "token".into()
        }
        None => "none".into(),
    }
}

/// The operations, by name: each applied to a fresh loop in each state.
const OPS: [&str; 16] = [
    "start by other",
    "start by its thread",
    "start by the holder",
    "stop by other",
    "stop by its thread",
    "stop by the holder",
    "hard_reset by other",
    "hard_reset by its thread",
    "ctx.stop of thread 0",
    "restart_if_ended(0)",
    "restart_supervised",
    "restart_failed",
    "group stop (reset)",
    "thread 0 finishes",
    "start refused",
    "stop refused",
];

fn apply(l: &mut Life, at: At, op: &str) -> String {
    match op {
        "start by other" => start(l.start(OTHER)),
        "start by its thread" => start(l.start(T0)),
        "start by the holder" => start(l.start(holder(at))),
        "stop by other" => stop(l.stop(OTHER, true)),
        "stop by its thread" => stop(l.stop(T0, true)),
        "stop by the holder" => stop(l.stop(holder(at), true)),
        "hard_reset by other" => hard_reset(l.hard_reset(OTHER)),
        "hard_reset by its thread" => hard_reset(l.hard_reset(T0)),
        "ctx.stop of thread 0" => token(l.ask_stop(Some(0))),
        "restart_if_ended(0)" => start(l.restart_if_ended(OTHER, 0)),
        "restart_supervised" => start(l.restart_supervised(OTHER)),
        "restart_failed" => start(l.restart_failed(OTHER)),
        "group stop (reset)" => stop(l.stop_from_group(OTHER, false)),
        "thread 0 finishes" => {
            if !matches!(at, At::Running | At::Stopping | At::Abandoned) {
                return "n/a".into();
            }
            match l.thread_finished(0, 7) {
                Finished::HandedBack => "handed back".into(),
                Finished::OnStopHere(v) => format!("on_stop here, {:?}", l.thread_done(0, v)),
            }
        }
        "start refused" => start(l.start_refused()),
        "stop refused" => token(l.stop_refused(true)),
        other => unreachable!("{other}"),
    }
}

/// What each operation answers in each state, and the state it leaves.
fn expected(at: At) -> [&'static str; 16] {
    match at {
        At::Stopped => [
            "begin(7) → starting",
            "begin(7) → starting",
            "begin(7) → starting",
            "idle(clean=true) → stopped",
            "idle(clean=true) → stopped",
            "idle(clean=true) → stopped",
            "proceed → stopped",
            "proceed → stopped",
            "none → stopped",
            "already → stopped",
            "already → stopped",
            "already → stopped",
            "idle(clean=true) → stopped",
            "n/a → stopped",
            "already → stopped",
            "none → stopped",
        ],
        At::Starting => [
            "already → starting",
            "already → starting",
            "ignored(FromHolder(Start)) → starting",
            "wait(1) → starting",
            "wait(1) → starting",
            "asked(token=false) → starting",
            "wait(1) → starting",
            "wait(1) → starting",
            "none → starting",
            "already → starting",
            "already → starting",
            "already → starting",
            "wait(1) → starting",
            "n/a → starting",
            "already → starting",
            "none → starting",
        ],
        At::Running => [
            "already → running",
            "already → running",
            "already → running",
            "signal → stopping",
            "asked(token=true) → stopping",
            "signal → stopping",
            "proceed → running",
            "asked(token=true) → stopping",
            "token → stopping",
            "already → running",
            "already → running",
            "already → running",
            "signal → stopping",
            "on_stop here, Current { alone: true } → failed",
            "already → running",
            "token → stopping",
        ],
        At::Stopping => [
            "wait(2) → stopping",
            "ignored(StopWins) → stopping",
            "ignored(FromHolder(Stop)) → stopping",
            "wait(2) → stopping",
            "asked(token=true) → stopping",
            "asked(token=true) → stopping",
            "wait(2) → stopping",
            "ignored(StopWins) → stopping",
            "token → stopping",
            "already → stopping",
            "already → stopping",
            "already → stopping",
            "wait(2) → stopping",
            "handed back → stopping",
            "queued(StopUnderWay) → stopping",
            "token → stopping",
        ],
        At::Abandoned => [
            "queued(AbandonedThread) → starting",
            "ignored(FromAbandoned) → abandoned",
            "queued(AbandonedThread) → starting",
            "idle(clean=false) → abandoned",
            "ignored → abandoned",
            "idle(clean=false) → abandoned",
            "proceed → abandoned",
            "ignored(FromAbandoned) → abandoned",
            "none → abandoned",
            "already → abandoned",
            "already → abandoned",
            "already → abandoned",
            "idle(clean=false) → abandoned",
            "on_stop here, Abandoned { stale: None } → stopped",
            "already → abandoned",
            "none → abandoned",
        ],
        At::Failed => [
            "begin(7) → starting",
            "begin(7) → starting",
            "begin(7) → starting",
            "idle(clean=true) → stopped",
            "idle(clean=true) → stopped",
            "idle(clean=true) → stopped",
            "proceed → failed",
            "proceed → failed",
            "none → failed",
            "begin(7) → starting",
            "begin(7) → starting",
            "begin(7) → starting",
            "idle(clean=true) → stopped",
            "n/a → failed",
            "already → failed",
            "none → stopped",
        ],
    }
}

#[test]
fn every_state_times_every_operation() {
    let mut wrong = Vec::new();
    for at in STATES {
        let want = expected(at);
        for (op, want) in OPS.iter().zip(want) {
            let mut l = build(at);
            let answer = apply(&mut l, at, op);
            let got = format!("{answer} → {}", l.state(false));
            if got != want {
                wrong.push(format!("{at:?} × {op}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// `state` reads each state as `LoopState` names it.
#[test]
fn each_state_reads_as_its_loop_state() {
    let read: Vec<_> = STATES.iter().map(|&at| build(at).state(false)).collect();
    use LoopState::*;
    assert_eq!(
        read,
        [Stopped, Starting, Running, Stopping, Abandoned, Failed]
    );
    assert_eq!(build(At::Running).state(true), Stalled);
    assert_eq!(
        build(At::Stopping).state(true),
        Stopping,
        "stalled only while running"
    );
}

#[test]
fn a_stop_joins_hands_the_value_back_and_is_clean() {
    let mut l = build(At::Stopping);
    assert_eq!(l.joining(), Joining::Running(T0));
    assert_eq!(l.thread_finished(0, 7), Finished::HandedBack);
    assert_eq!(l.joining(), Joining::Ended);
    let joined = l.take_ended().expect("ended");
    assert_eq!(joined.handback, Some(7));
    l.value_back(7);
    assert!(l.release(STOPPER).is_none());
    assert_eq!(l.state(false), LoopState::Stopped);
    assert!(!l.is_supervised(), "a stop from outside ends supervision");
    assert_eq!(l.abandoned_threads(), 0);
}

#[test]
fn a_start_queued_behind_a_stop_runs_when_the_stop_releases() {
    let mut l = build(At::Stopping);
    assert_eq!(start(l.start_refused()), "queued(StopUnderWay)");
    assert_eq!(l.thread_finished(0, 7), Finished::HandedBack);
    let joined = l.take_ended().expect("ended");
    l.value_back(joined.handback.expect("handed back"));
    assert_eq!(
        l.release(STOPPER),
        Some(Source::Value(7)),
        "the stopper starts it"
    );
    assert_eq!(l.state(false), LoopState::Starting);
    assert!(l.is_supervised(), "the queued start supervises it again");
}

#[test]
fn an_abandoned_thread_hands_its_value_to_the_queued_start() {
    let mut l = build(At::Abandoned);
    assert_eq!(start(l.start(OTHER)), "queued(AbandonedThread)");
    // The abandoned thread ends: its value comes back, and the start can run.
    let Finished::OnStopHere(v) = l.thread_finished(0, 7) else {
        panic!("nobody waits for an abandoned thread")
    };
    assert_eq!(l.thread_done(0, v), Done::Abandoned { stale: None });
    assert_eq!(l.settle(T0), Some(Source::Value(7)));
}

#[test]
fn a_factory_replaces_the_value_of_an_abandoned_thread_which_then_drops_it() {
    let mut l = Life::new(None, true);
    assert_eq!(start(l.start(OTHER)), "begin(factory)");
    assert_eq!(l.value_made(Some(1)), Ok(1));
    let AfterStart::Spawn { .. } = l.on_start_done(Outcome::Allowed, 1) else {
        panic!("spawn")
    };
    l.spawned(0, Signal::new(), T0, ());
    assert!(l.release(OTHER).is_none());
    let Stop::Signal(t) = l.stop(OTHER, true) else {
        panic!()
    };
    t.go();
    l.abandon();
    assert!(l.release(OTHER).is_none());
    // A start makes a fresh value at once.
    assert_eq!(start(l.start(OTHER)), "begin(factory)");
    assert_eq!(l.value_made(Some(2)), Ok(2));
    let AfterStart::Spawn { gen, .. } = l.on_start_done(Outcome::Allowed, 2) else {
        panic!()
    };
    l.spawned(gen, Signal::new(), 11, ());
    assert!(l.release(OTHER).is_none());
    // The abandoned thread's value is stale when it comes back.
    let Finished::OnStopHere(v) = l.thread_finished(0, 1) else {
        panic!()
    };
    assert_eq!(l.thread_done(0, v), Done::Abandoned { stale: Some(1) });
    assert_eq!(l.state(false), LoopState::Running);
}

/// Found by the soak under load (seed 4922492015668665985): an abandoned thread that ended
/// while the factory made the fresh value handed its own value back too, so the loop held
/// two, and the next hand-back tripped an assertion on a supervisor thread mid-reset.
#[test]
fn an_abandoned_thread_ending_while_the_factory_runs_leaves_one_value() {
    let mut l = Life::new(None, true);
    assert_eq!(start(l.start(OTHER)), "begin(factory)");
    assert_eq!(l.value_made(Some(1)), Ok(1));
    let AfterStart::Spawn { .. } = l.on_start_done(Outcome::Allowed, 1) else {
        panic!("spawn")
    };
    l.spawned(0, Signal::new(), T0, ());
    assert!(l.release(OTHER).is_none());
    let Stop::Signal(t) = l.stop(OTHER, true) else {
        panic!()
    };
    t.go();
    l.abandon();
    assert!(l.release(OTHER).is_none());
    // A start calls the factory; before it returns, the abandoned thread ends and hands its
    // value back (a factory that panicked would leave the loop that one).
    assert_eq!(start(l.start(OTHER)), "begin(factory)");
    let Finished::OnStopHere(v) = l.thread_finished(0, 1) else {
        panic!()
    };
    assert_eq!(l.thread_done(0, v), Done::Abandoned { stale: None });
    // The factory's value replaces it: the old one is handed over to be dropped.
    assert_eq!(l.value_made(Some(2)), Ok(2));
    assert_eq!(l.take_stale(), Some(1));
    assert_eq!(l.take_stale(), None);
    let AfterStart::Spawn { gen, .. } = l.on_start_done(Outcome::Allowed, 2) else {
        panic!()
    };
    l.spawned(gen, Signal::new(), 11, ());
    assert!(l.release(OTHER).is_none());
    // Its thread hands the one value back to a stop: nothing else is there.
    let Stop::Signal(t) = l.stop(OTHER, true) else {
        panic!()
    };
    t.go();
    assert_eq!(l.thread_finished(gen, 2), Finished::HandedBack);
    let joined = l.take_ended().expect("ended");
    l.value_back(joined.handback.expect("the value"));
    assert_eq!(l.state(false), LoopState::Stopped);
}

#[test]
fn a_refused_start_of_a_member_stays_wanted_for_its_retry() {
    let mut member = build(At::Stopped);
    let v = begin_start(&mut member);
    assert_eq!(
        member.on_start_done(Outcome::Refused, v),
        AfterStart::NotStarted { retry: true }
    );
    member.release(OTHER);
    assert_eq!(
        member.state(false),
        LoopState::Failed,
        "shown as failed, not stopped"
    );
    // Refused again (`false`, `Err` or a panic alike: OTP's `try_again_restart`): still
    // wanted, still supervised, retried again.
    assert_eq!(start(member.restart_failed(OTHER)), "begin(7)");
    assert_eq!(
        member.on_start_done(Outcome::Refused, 7),
        AfterStart::NotStarted { retry: true }
    );
    member.release(OTHER);
    assert_eq!(member.state(false), LoopState::Failed);
    assert!(member.is_supervised() && member.is_wanted());
    assert_eq!(start(member.restart_failed(OTHER)), "begin(7)");

    // A loop of no group is simply not running after a failed start.
    let mut alone = Life::new(Some(7), false);
    let v = begin_start(&mut alone);
    assert_eq!(
        alone.on_start_done(Outcome::Refused, v),
        AfterStart::NotStarted { retry: false }
    );
    alone.release(OTHER);
    assert_eq!(alone.state(false), LoopState::Stopped);
}

#[test]
fn a_stop_during_on_start_undoes_the_start() {
    let mut l = build(At::Starting);
    // From the hook itself (the holder), or from a caller that could not wait.
    assert!(l.stop_refused(true).is_none(), "no thread to signal yet");
    assert_eq!(l.on_start_done(Outcome::Allowed, 7), AfterStart::Undo(7));
    l.value_back(7);
    assert!(l.release(STARTER).is_none());
    assert_eq!(l.state(false), LoopState::Stopped);
    assert!(!l.is_supervised());
}

#[test]
fn a_stop_that_cannot_wait_for_its_thread_leaves_it_to_end_alone() {
    let mut l = build(At::Stopping);
    l.leave_unjoined();
    assert!(l.release(STOPPER).is_none());
    // The thread now runs on_stop itself, and nobody restarts it (it was stopped from
    // outside: out of supervision).
    let Finished::OnStopHere(v) = l.thread_finished(0, 7) else {
        panic!("nobody waits any more")
    };
    assert_eq!(l.thread_done(0, v), Done::Current { alone: true });
    assert!(!l.is_supervised());
    assert_eq!(l.state(false), LoopState::Stopped);
}

#[test]
fn an_old_threads_request_never_stops_its_replacement() {
    let mut l = build(At::Running);
    // A reset-like stop and restart: thread 1 replaces thread 0.
    let Stop::Signal(t) = l.stop_from_group(OTHER, false) else {
        panic!()
    };
    t.go();
    assert_eq!(l.thread_finished(0, 7), Finished::HandedBack);
    let joined = l.take_ended().expect("ended");
    l.value_back(joined.handback.expect("value"));
    assert!(l.release(OTHER).is_none());
    assert_eq!(start(l.restart_supervised(OTHER)), "begin(7)");
    let AfterStart::Spawn { gen, .. } = l.on_start_done(Outcome::Allowed, 7) else {
        panic!()
    };
    assert_eq!(gen, 1);
    l.spawned(1, Signal::new(), 11, ());
    l.release(OTHER);
    assert!(
        l.ask_stop(Some(0)).is_none(),
        "thread 0 asks: nothing happens"
    );
    assert_eq!(l.state(false), LoopState::Running);
    assert!(l.ask_stop(Some(1)).is_some());
}

#[test]
fn epochs_move_on_with_each_reset_and_threads_keep_theirs() {
    let mut l = build(At::Running);
    assert_eq!(l.epoch_of(None), 0);
    l.reset_restarted();
    assert_eq!(l.epoch_of(None), 1);
    assert_eq!(l.epoch_of(Some(0)), 0, "thread 0 started in epoch 0");
    assert_eq!(
        l.epoch_of(Some(9)),
        1,
        "an unknown thread: the current epoch"
    );
}

/// A loop removed from its group is not started by that group's `maintain_loops` (one already
/// under way when it was removed): only its own `start` starts it.
#[test]
fn a_removed_loop_is_not_maintained() {
    let mut l = Life::new(Some(7), false);
    l.link(true);
    l.link(false);
    assert!(matches!(l.maintain(OTHER, 1), Start::Already));
    assert!(matches!(l.start(OTHER), Start::Begin(_)));
    let mut member = Life::new(Some(7), false);
    member.link(true);
    assert!(matches!(member.maintain(OTHER, 1), Start::Begin(_)));
}

/// A loop removed from its group while the group's supervisor acts on it: the group's stop
/// and its restarts neither act nor wait, whoever holds the loop's busy flag (its removal,
/// stopping it within its grace).
#[test]
fn a_removed_loop_is_neither_stopped_nor_restarted_by_its_old_group() {
    for at in STATES {
        let mut l = build(at);
        l.link(false);
        assert!(
            matches!(l.stop_from_group(OTHER, false), Stop::Idle { clean: true }),
            "{at:?}"
        );
        assert!(
            matches!(l.restart_supervised(OTHER), Start::Already),
            "{at:?}"
        );
        assert!(matches!(l.restart_failed(OTHER), Start::Already), "{at:?}");
        assert!(
            matches!(l.restart_if_ended(OTHER, 0), Start::Already),
            "{at:?}"
        );
    }
}

mod concurrent; // operations that meet another thread's operation under way
