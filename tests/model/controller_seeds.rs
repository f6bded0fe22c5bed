//! Controller cases kept from failures (CI's and long model runs'), each with what it found,
//! and the regressions found while modelling the controller.

use super::*;

/// CI seed (stop 26): under one-for-all, all at once, a member blocked in its cycle is
/// abandoned by a reset; its restarted thread then panics past its budget, and the controller
/// never turned green again.
#[test]
fn controller_model_seed_a_reset_after_an_abandoned_member() {
    use CtrlOp::*;
    let ops = [
        MemberHardReset(0),
        MemberFailure(2),
        Release,
        RunUntil(true),
        Reads,
        MemberHardReset(0),
        MemberStop(1),
        MemberStart(2),
        Start,
        Reads,
        MemberCycle(2, Cmd::Panic),
        Reads,
        MemberCycle(1, Cmd::CtxStop),
        Start,
        MemberCycle(0, Cmd::Block),
        MemberStop(1),
        MemberCycle(1, Cmd::CtxFailure),
        Maintain,
        MemberCycle(2, Cmd::Panic),
        MemberCycle(0, Cmd::Panic),
        Release,
        MemberHardReset(1),
        RunUntil(false),
        Stop,
        MemberCycle(2, Cmd::CtxStop),
    ];
    let spec = [
        (Kind::Steady, true),
        (Kind::Loner, false),
        (Kind::Brittle, true),
    ];
    run_controller_case(Policy::OneForAll, None, true, spec, &ops, Ending::Stop).unwrap();
}

/// A long model run: a member's failed start and another's exceeded budget both wait in the
/// mailbox when the supervisor starts, with a restart limit of one. The runtime gave up before
/// retrying the start (the retry waited out a backoff, and the exceeded budget was handled
/// meanwhile, as documented); the model retried first. The model now runs with no backoff.
#[test]
fn controller_model_seed_a_failed_start_and_a_give_up_both_queued() {
    use CtrlOp::*;
    let ops = [
        Reads,
        MemberFailure(0),
        Maintain,
        MemberCycle(1, Cmd::CtxStop),
        MemberStop(2),
        MemberStart(1),
        StopLoops,
        MemberNextStart(1, StartPlan::Fail),
        Maintain,
        MemberFailure(0),
        Start,
        MemberCycle(2, Cmd::Block),
        MemberNextStart(0, StartPlan::Decline),
        MemberFailure(2),
        Stop,
        MemberCycle(2, Cmd::Err),
        MemberCycle(2, Cmd::Err),
        Reads,
        MemberFailure(2),
        MemberCycle(0, Cmd::Block),
        MemberStart(2),
        MemberFailure(1),
        Release,
    ];
    let spec = [
        (Kind::Steady, true),
        (Kind::Loner, true),
        (Kind::Brittle, false),
    ];
    run_controller_case(Policy::OneForAll, Some(1), true, spec, &ops, Ending::Stop).unwrap();
}

/// A long model run: three brittle members under rest-for-one, their events queued before
/// the supervisor starts. Member 0's thread ended (`ctx.stop()`); its next one failed past
/// the budget and ended. The mailbox merged that second end into the first's place, ahead of
/// the failure: member 0 was restarted alone, then reset for the failure (started twice).
/// Fixed: a merged end goes to the back (the mailbox's unit tests pin it).
#[test]
fn controller_model_seed_failures_queued_before_the_supervisor() {
    use CtrlOp::*;
    let ops = [
        MemberFailure(2),
        MemberCycle(0, Cmd::CtxFailure),
        Maintain,
        Maintain,
        Reads,
        MemberCycle(2, Cmd::CtxFailure),
        MemberCycle(1, Cmd::Block),
        Release,
        MemberCycle(1, Cmd::Block),
        MemberCycle(0, Cmd::CtxStop),
        MemberHardReset(0),
        MemberCycle(0, Cmd::Err),
        MemberStart(1),
        Start,
        MemberHardReset(0),
        MemberStart(0),
        MemberNextStart(2, StartPlan::Decline),
        MemberCycle(2, Cmd::CtxFailure),
        Maintain,
        MemberCycle(2, Cmd::Block),
        MemberCycle(1, Cmd::Block),
        MemberFailure(2),
    ];
    let spec = [
        (Kind::Brittle, true),
        (Kind::Brittle, true),
        (Kind::Brittle, false),
    ];
    run_controller_case(Policy::RestForOne, None, true, spec, &ops, Ending::Drop).unwrap();
}

/// A long model run: a member whose next start fails exceeds its budget under a restart limit
/// of one.
#[test]
fn controller_model_seed_a_failed_restart_at_the_restart_limit() {
    use CtrlOp::*;
    let ops = [
        Start,
        Maintain,
        MemberHardReset(0),
        MemberNextStart(0, StartPlan::Fail),
        MemberFailure(0),
        MemberCycle(1, Cmd::Block),
        MemberCycle(1, Cmd::Block),
        MemberCycle(1, Cmd::Block),
        MemberHardReset(2),
        MemberNextStart(2, StartPlan::Decline),
        Reads,
        MemberHardReset(1),
        StopWithReport,
        MemberHardReset(0),
        MemberStart(2),
        MemberCycle(2, Cmd::Block),
        Reads,
        StopWithReport,
        Reads,
    ];
    let spec = [
        (Kind::Brittle, true),
        (Kind::Brittle, false),
        (Kind::Brittle, true),
    ];
    run_controller_case(Policy::OneForAll, Some(1), false, spec, &ops, Ending::Drop).unwrap();
}

/// A long model run under load (1 case in 1,500; alone, 1 run in 2): a member past its budget
/// stops its own thread (`stop_on_failure`) as the reset it caused stops it, and the reset's
/// start of it fails, at a restart limit of one. When its thread ended on its own first, that
/// end stayed queued and started the member again alone, uncounted, before the failed start's
/// retry gave the group up; when the reset's stop got there first, it did not. Fixed: a
/// reset's restart answers the member's queued thread ends too (`Mailbox::drop_stale`).
#[test]
fn controller_model_seed_a_failed_restart_in_a_reset_at_the_limit() {
    use CtrlOp::*;
    let ops = [
        Start,
        Maintain,
        MemberNextStart(2, StartPlan::Fail),
        Maintain,
        MemberFailure(2),
        MemberCycle(2, Cmd::Panic),
        Stop,
        MemberNextStart(2, StartPlan::Fail),
        Maintain,
        Maintain,
        MemberCycle(0, Cmd::Panic),
        Add(1),
        Remove(0),
        MemberStop(0),
        MemberFailure(2),
        MemberCycle(0, Cmd::CtxStop),
        Maintain,
        MemberCycle(1, Cmd::Block),
        Maintain,
        MemberCycle(2, Cmd::CtxStop),
    ];
    let spec = [
        (Kind::Brittle, true),
        (Kind::Brittle, true),
        (Kind::Brittle, false),
    ];
    run_controller_case(Policy::OneForAll, Some(1), true, spec, &ops, Ending::Stop).unwrap();
}

// ---------------------------------------------------------------------------------------
// Found while modelling the controller: an event the supervisor takes after its shutdown.

probe!(Tripwire, grace = "20s", max_failures = 0);
probe!(Witness, grace = "20s", reset_globally = false);

/// `stop()` while a member event waits behind a reset: the supervisor takes that event, sees
/// its shutdown and ends without counting it handled, so `wait_green` (which waits for the
/// queue to drain) never returns true again — after this stop, and after any later start.
#[test]
fn wait_green_after_a_stop_that_raced_a_member_event() {
    use common::{CycleMode, Probe};
    let (gate_tx, gate) = unbounded::<()>();
    let (in_reset_tx, in_reset) = unbounded::<()>();
    let first = std::sync::atomic::AtomicBool::new(true);
    let c = LoopController::new()
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .on_reset(move || {
            if first.swap(false, Ordering::SeqCst) {
                in_reset_tx.send(()).unwrap();
                let _ = gate.recv();
            }
        });
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let log = probe.log.clone();
    let trigger = c.new_loop(Tripwire(probe));
    let probe = Probe::new(CycleMode::SleepUntilStop);
    let witness_log = probe.log.clone();
    let _witness = c.new_loop(Witness(probe));
    assert!(c.start());
    c.maintain_loops();
    log.wait_for("cycle", 1);
    witness_log.wait_for("cycle", 1);

    assert!(trigger.failure());
    in_reset.recv_timeout(BOUND).unwrap(); // the supervisor is inside on_reset
    assert!(
        trigger.failure(),
        "exceeds again: the event waits behind the reset"
    );
    let stopper = {
        let c = c.clone();
        std::thread::spawn(move || c.stop())
    };
    // The witness (not in the reset) is stopped by stop(), after stop() has signalled the
    // supervisor's shutdown.
    witness_log.wait_for("on_stop", 1);
    gate_tx.send(()).unwrap();
    assert!(stopper.join().unwrap());
    assert!(c.is_green());
    assert!(
        c.wait_green(Duration::from_secs(5)),
        "green, nothing left to handle, yet wait_green times out"
    );
}

probe!(Quitter, grace = "20s");
probe!(Crasher, grace = "20s");

/// `stalled_loops` lists "members that should run but do not: wanted running (or under
/// supervision) with no live thread", and DESIGN.md has the group want a member running after
/// its thread ended on its own, by a panic or by `ctx.stop()` alike ("restarted alone"). Yet
/// of two members waiting out their lone-restart backoff, only the one that panicked is listed:
/// after `ctx.stop()` a member's state is `Stopped` (its handle no longer wants it running),
/// and `stalled_loops` goes by the state alone, although the member is still under supervision
/// and the supervisor restarts it when the backoff has passed. (The same holds while no
/// supervisor runs, and for a member that `stop_on_failure` stopped.) Fixed: a supervised
/// member that is `Stopped` is stalled; the controller model's `stalled` rule says so too.
#[test]
fn stalled_loops_lists_a_supervised_member_whose_thread_stopped_itself() {
    use common::{eventually, CycleMode, Probe};
    quiet_planned_panics();
    let c = LoopController::new().backoff(Duration::from_secs(60), Duration::from_secs(60));
    let quitter = Probe::new(CycleMode::StopSelf);
    let quitter_log = quitter.log.clone();
    let quitter = c.new_loop(Quitter(quitter));
    let crasher = Probe::new(CycleMode::Panic).panic_in("cycle");
    let crasher_log = crasher.log.clone();
    let crasher = c.new_loop(Crasher(crasher));
    assert!(c.start());
    c.maintain_loops();
    // Each thread ends at once; the first lone restart is immediate, the second waits 60 s.
    quitter_log.wait_for("on_stop", 2);
    crasher_log.wait_for("on_stop", 2);
    eventually("both second threads to have ended", || {
        !quitter.is_alive() && !crasher.is_alive()
    });
    let stalled: Vec<String> = c
        .stalled_loops()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let threads = (quitter.thread_name(), crasher.thread_name());
    c.stop();
    assert_eq!(
        threads,
        (Some("Quitter_1".to_owned()), Some("Crasher_1".to_owned())),
        "restarted once each, the second restart waiting out its backoff"
    );
    assert_eq!(
        stalled,
        ["Quitter", "Crasher"],
        "both will be restarted by the group, neither runs"
    );
}

/// The same root cause as `bad_input::a_panicking_callback_on_the_stop_token_does_not_wedge_the_loop`
/// (`Signal::go` runs `then` callbacks without catching a panic), on the process-wide timer
/// thread: one panicking callback on a `Signal::after` kills that thread, and no
/// `Signal::after` in the process ever fires again. (Here, not in bad_input.rs, whose tests use
/// timers: while the bug is there this test breaks the timer for the rest of its binary.)
#[test]
fn a_panicking_timer_callback_does_not_stop_every_timer() {
    quiet_planned_panics();
    let doomed = superloops::Signal::after(Duration::from_millis(1));
    doomed.then(|| std::panic::panic_any("planned: a timer callback that panics".to_owned()));
    assert!(doomed.wait_timeout(BOUND));
    let later = superloops::Signal::after(Duration::from_millis(1));
    assert!(
        later.wait_timeout(Duration::from_secs(5)),
        "the timer thread died with the callback"
    );
}

/// A long model run: a user's `hard_reset` of a member whose next start fails. The failed
/// start told the supervisor before it was over; the supervisor, finding a start under way on
/// another thread, left the member to it, and the retry was lost (the group read green with
/// the member not running). A failed start now tells its supervisor once it is over. The race
/// is narrow: the case runs 20 times.
#[test]
fn controller_model_seed_a_hard_reset_beside_a_retried_start() {
    use CtrlOp::*;
    let ops = [
        Maintain,
        MemberCycle(2, Cmd::Block),
        Release,
        Maintain,
        Start,
        StopLoops,
        MemberNextStart(2, StartPlan::Fail),
        Start,
        MemberStart(0),
        MemberCycle(2, Cmd::CtxStop),
        Start,
        MemberHardReset(2),
        Maintain,
    ];
    let spec = [
        (Kind::Loner, true),
        (Kind::Loner, false),
        (Kind::Brittle, false),
    ];
    for _ in 0..20 {
        run_controller_case(Policy::RestForOne, Some(1), true, spec, &ops, Ending::Stop).unwrap();
    }
}

/// A long model run (4,000 cases): "never green again" at a member's planned panic, with its
/// `Exceeded` just queued: the double reading of `wait_green` (see
/// `controller_model_seed_never_green_after_a_give_up_and_maintains`).
#[test]
fn controller_model_seed_a_panic_after_two_lone_restarts() {
    use CtrlOp::*;
    let ops = [
        Start,
        Maintain,
        MemberCycle(2, Cmd::CtxStop),
        MemberCycle(0, Cmd::Panic),
        MemberCycle(0, Cmd::CtxStop),
        Release,
        MemberCycle(0, Cmd::Panic),
        Start,
        MemberFailure(1),
        MemberNextStart(2, StartPlan::Fail),
        MemberCycle(1, Cmd::Panic),
        Release,
        MemberCycle(0, Cmd::Err),
        Start,
        MemberHardReset(1),
        MemberStart(1),
    ];
    let spec = [
        (Kind::Steady, false),
        (Kind::Steady, true),
        (Kind::Brittle, true),
    ];
    for _ in 0..20 {
        run_controller_case(Policy::OneForAll, Some(1), true, spec, &ops, Ending::Drop).unwrap();
    }
}

/// A long model run under load (6,000 cases; one of the two "never green again" seeds this
/// session found): `wait_green` answered `false` within microseconds. It read "settled" twice:
/// once to end its wait, once for its answer; `settled` reads the mailbox, which a member
/// changes without the controller's lock, and a failure sent between the two readings (the
/// model's planned panic, just after its ack) turned the answer. It now answers the reading
/// that ended its wait. Failed about once in 300 runs of this sequence with a core busy;
/// `SEED_REPEAT=300` runs it that often. Likely stop 26's CI failure too, which was put down
/// to the wait-for graph (no refusal was recorded here).
#[test]
fn controller_model_seed_never_green_after_a_give_up_and_maintains() {
    use CtrlOp::*;
    let ops = [
        Start,
        Maintain,
        MemberStart(1),
        MemberCycle(2, Cmd::Panic),
        MemberCycle(2, Cmd::Panic),
        Add(0),
        Maintain,
        MemberNextStart(0, StartPlan::Fail),
        Maintain,
        Maintain,
        MemberStop(2),
        Maintain,
        MemberHardReset(0),
        MemberCycle(0, Cmd::Block),
        MemberCycle(1, Cmd::CtxStop),
        Maintain,
        MemberCycle(2, Cmd::CtxStop),
        MemberStop(0),
        MemberCycle(1, Cmd::Block),
        MemberCycle(2, Cmd::Block),
        MemberStop(0),
        MemberCycle(2, Cmd::Panic),
        Reads,
    ];
    let spec = [
        (Kind::Loner, false),
        (Kind::Steady, true),
        (Kind::Brittle, false),
    ];
    let n = std::env::var("SEED_REPEAT").map_or(3, |v| v.parse().unwrap());
    for _ in 0..n {
        run_controller_case(Policy::RestForOne, Some(2), true, spec, &ops, Ending::Drop).unwrap();
    }
}
