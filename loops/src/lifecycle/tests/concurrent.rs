//! Operations that meet another thread's operation under way: what waits for the value, what
//! does not, and which call wins.

use super::*;

/// A start asked while another thread runs `on_start` is that start: it waits for nobody's
/// hook, and if a stop was asked meanwhile (before it), the start under way spawns the thread
/// rather than undo itself (the later call wins). With no start after the stop, it is undone.
#[test]
fn a_start_during_a_start_is_that_start_and_wins_over_an_earlier_stop() {
    let mut l = build(At::Starting);
    assert!(
        l.stop_refused(true).is_none(),
        "no thread yet: nothing to signal"
    );
    assert!(matches!(l.start(OTHER), Start::Already));
    assert!(matches!(
        l.on_start_done(Outcome::Allowed, 7),
        AfterStart::Spawn { value: 7, gen: 0 }
    ));
    assert!(l.is_supervised());

    let mut l = build(At::Starting);
    assert!(l.stop_refused(true).is_none());
    assert!(matches!(l.restart_supervised(OTHER), Start::Already));
    assert!(matches!(
        l.on_start_done(Outcome::Allowed, 7),
        AfterStart::Undo(7)
    ));
}

/// A stop from outside after a `maintain_loops` began (its ticket is later) leaves the loop
/// stopped for that maintain; one before it does not, and the loop's own thread's stop never
/// counts.
#[test]
fn a_maintain_does_not_start_a_loop_stopped_from_outside_after_it_began() {
    let mut l = build(At::Stopped);
    l.stopped_from_outside(OTHER, 5);
    assert!(matches!(l.maintain(OTHER, 4), Start::Already));
    assert!(matches!(l.maintain(OTHER, 6), Start::Begin(_)));

    let mut l = build(At::Running);
    l.stopped_from_outside(T0, 5);
    assert!(matches!(l.stop(T0, true), Stop::Asked(Some(_))));
    let Finished::OnStopHere(v) = l.thread_finished(0, 7) else {
        panic!("nobody waits for it")
    };
    l.thread_done(0, v);
    assert!(
        matches!(l.maintain(OTHER, 4), Start::Begin(_)),
        "its own thread's stop does not count"
    );
}

/// The supervisor's starts never wait for another thread's operation: a start under way is
/// theirs (a reset's restart after its own stop was refused makes it spawn again), and a stop
/// under way decides.
#[test]
fn a_supervisors_start_leaves_a_loop_to_the_thread_operating_on_it() {
    let mut l = build(At::Starting);
    assert!(l.stop_refused(false).is_none());
    assert!(matches!(l.restart_supervised(OTHER), Start::Already));
    assert!(matches!(
        l.on_start_done(Outcome::Allowed, 7),
        AfterStart::Spawn { value: 7, gen: 0 }
    ));

    let mut l = build(At::Stopping);
    assert!(matches!(l.restart_if_ended(OTHER, 0), Start::Already));
    assert!(matches!(l.restart_failed(OTHER), Start::Already));
    assert!(matches!(l.restart_supervised(OTHER), Start::Already));
}

/// A stop that waits for the operation under way counts from when it was asked: a start under
/// way undoes itself, and a stop from outside takes the loop out of supervision at once, so a
/// reset's restart meanwhile passes it over.
#[test]
fn a_waiting_stop_counts_from_when_it_was_asked() {
    let mut l = build(At::Starting);
    assert!(matches!(l.stop(OTHER, true), Stop::Wait(STARTER)));
    assert!(matches!(
        l.on_start_done(Outcome::Allowed, 7),
        AfterStart::Undo(7)
    ));

    let mut l = build(At::Stopping);
    assert!(matches!(
        l.stop_from_group(OTHER, true),
        Stop::Wait(STOPPER)
    ));
    assert!(!l.is_supervised());
    let Finished::HandedBack = l.thread_finished(0, 7) else {
        panic!("the stopper waits for it")
    };
    let joined = l.take_ended().expect("ended");
    l.value_back(joined.handback.expect("handed back"));
    assert!(l.release(STOPPER).is_none());
    assert!(matches!(l.restart_supervised(3), Start::Already));
}
