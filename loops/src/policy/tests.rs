//! Unit tests of the supervision policy: a fake clock, no threads.

use super::*;

const MS: Duration = Duration::from_millis(1);

/// A fake clock: instants `ms` after a fixed origin.
struct Clock(Instant);
impl Clock {
    fn new() -> Self {
        Clock(Instant::now())
    }
    fn at(&self, ms: u64) -> Instant {
        self.0 + Duration::from_millis(ms)
    }
}

fn facts(spec: &[(bool, bool)]) -> Vec<Facts> {
    spec.iter()
        .enumerate()
        .map(|(id, &(resets_globally, alive))| Facts {
            id,
            resets_globally,
            alive,
            epoch: 0,
        })
        .collect()
}

fn policy(strategy: Strategy) -> Policy {
    Policy {
        strategy,
        max_restarts: None,
        backoff: (10 * MS, 40 * MS),
    }
}

#[test]
fn each_strategy_restarts_its_set() {
    // Member 1 does not reset globally.
    let m = facts(&[(true, true), (false, true), (true, true), (true, true)]);
    use Strategy::*;
    assert_eq!(restart_set(OneForAll, &m, Some(2)), [0, 2, 3]);
    assert_eq!(
        restart_set(OneForAll, &m, Some(1)),
        [0, 2, 3],
        "alive: kept"
    );
    let dead = facts(&[(true, true), (false, false), (true, true)]);
    assert_eq!(
        restart_set(OneForAll, &dead, Some(1)),
        [0, 1, 2],
        "dead: restarted"
    );
    assert_eq!(restart_set(OneForOne, &m, Some(1)), [1]);
    assert_eq!(restart_set(OneForOne, &m, None), [] as [usize; 0], "a task");
    assert_eq!(restart_set(RestForOne, &m, Some(1)), [1, 2, 3]);
    assert_eq!(restart_set(RestForOne, &m, Some(2)), [2, 3]);
    assert_eq!(
        restart_set(RestForOne, &m, None),
        [0, 2, 3],
        "a task: from the first"
    );
    assert_eq!(restart_set(OneForAll, &m, None), [0, 2, 3]);
}

#[test]
fn backoff_is_immediate_after_a_quiet_spell_then_doubles_up_to_the_cap() {
    let b = (10 * MS, 40 * MS);
    let close = Some(MS);
    assert_eq!(
        next_backoff(Duration::ZERO, None, b),
        Duration::ZERO,
        "first"
    );
    assert_eq!(next_backoff(Duration::ZERO, close, b), 10 * MS);
    assert_eq!(next_backoff(10 * MS, close, b), 20 * MS);
    assert_eq!(next_backoff(20 * MS, close, b), 40 * MS);
    assert_eq!(next_backoff(40 * MS, close, b), 40 * MS, "capped");
    assert_eq!(
        next_backoff(40 * MS, Some(40 * MS), b),
        Duration::ZERO,
        "quiet spell"
    );
    let max = (Duration::MAX, Duration::MAX);
    assert_eq!(
        next_backoff(Duration::MAX, close, max),
        Duration::MAX,
        "no overflow"
    );
}

#[test]
fn resets_back_off_while_they_follow_each_other_and_not_after_a_quiet_spell() {
    let (c, p) = (Clock::new(), policy(Strategy::OneForAll));
    let m = facts(&[(true, true), (true, true)]);
    let mut s = Supervision::default();
    let delay = |d: Decision| match d {
        Decision::Reset(r) => r.delay,
        other => panic!("not a reset: {other:?}"),
    };
    assert_eq!(delay(s.exceeded(&p, &m, Some(0), c.at(0))), Duration::ZERO);
    s.reset_done(c.at(1));
    assert_eq!(delay(s.exceeded(&p, &m, Some(0), c.at(2))), 10 * MS);
    s.reset_done(c.at(15));
    assert_eq!(delay(s.exceeded(&p, &m, Some(1), c.at(16))), 20 * MS);
    s.reset_done(c.at(40));
    assert_eq!(delay(s.exceeded(&p, &m, Some(1), c.at(41))), 40 * MS);
    s.reset_done(c.at(90));
    assert_eq!(
        delay(s.exceeded(&p, &m, Some(1), c.at(91))),
        40 * MS,
        "capped"
    );
    s.reset_done(c.at(140));
    // Quiet for the cap (40 ms): immediate again, and the growth starts over.
    assert_eq!(
        delay(s.exceeded(&p, &m, Some(0), c.at(180))),
        Duration::ZERO
    );
    s.reset_done(c.at(181));
    assert_eq!(delay(s.exceeded(&p, &m, Some(0), c.at(182))), 10 * MS);
}

#[test]
fn the_intensity_window_counts_restarts_and_gives_up_past_max() {
    let c = Clock::new();
    let p = Policy {
        max_restarts: Some((2, 100 * MS)),
        ..policy(Strategy::OneForOne)
    };
    let m = facts(&[(true, true)]);
    let mut s = Supervision::default();
    let window = |d: Decision| match d {
        Decision::Reset(r) => r.within_window,
        other => panic!("not a reset: {other:?}"),
    };
    assert_eq!(
        window(s.exceeded(&p, &m, Some(0), c.at(0))),
        Some((1, 2, 100 * MS))
    );
    assert_eq!(
        window(s.exceeded(&p, &m, Some(0), c.at(50))),
        Some((2, 2, 100 * MS))
    );
    // At exactly the window's length the first still counts: a third gives up.
    let mut edge = Supervision {
        intensity: s.intensity.clone(),
        ..Supervision::default()
    };
    assert_eq!(
        edge.exceeded(&p, &m, Some(0), c.at(100)),
        Decision::GiveUp {
            max: 2,
            window: 100 * MS
        }
    );
    assert!(edge.gave_up());
    // Just past it, the first has left the window.
    assert_eq!(
        window(s.exceeded(&p, &m, Some(0), c.at(101))),
        Some((2, 2, 100 * MS))
    );
    // Gave up: nothing is decided until it is revived.
    assert_eq!(
        edge.exceeded(&p, &m, Some(0), c.at(500)),
        Decision::Nothing(Skip::GaveUp)
    );
    assert_eq!(
        edge.ended(&p, 0, 3, c.at(500)),
        Decision::Nothing(Skip::GaveUp)
    );
    edge.revive();
    assert!(matches!(
        edge.exceeded(&p, &m, Some(0), c.at(500)),
        Decision::Reset(_)
    ));
}

#[test]
fn a_failed_task_under_one_for_one_is_no_reset_and_is_not_counted() {
    let c = Clock::new();
    let p = Policy {
        max_restarts: Some((1, 100 * MS)),
        ..policy(Strategy::OneForOne)
    };
    let m = facts(&[(true, true)]);
    let mut s = Supervision::default();
    for t in 0..5 {
        assert_eq!(
            s.exceeded(&p, &m, None, c.at(t)),
            Decision::Nothing(Skip::NoMemberForTask)
        );
    }
    assert!(matches!(
        s.exceeded(&p, &m, Some(0), c.at(6)),
        Decision::Reset(_)
    ));
    assert_eq!(
        s.exceeded(&p, &m, Some(3), c.at(6)),
        Decision::Nothing(Skip::UnknownMember)
    );
}

#[test]
fn lone_restarts_back_off_per_member_and_are_not_counted_against_the_limit() {
    let c = Clock::new();
    let p = Policy {
        max_restarts: Some((1, 1000 * MS)),
        ..policy(Strategy::OneForAll)
    };
    let mut s = Supervision::default();
    let Decision::RestartNow(first) = s.ended(&p, 0, 0, c.at(0)) else {
        panic!("the first restart is immediate")
    };
    s.restarted_alone(&first, c.at(0));
    // Another member is not held back by member 0's restarts.
    assert!(matches!(
        s.ended(&p, 1, 0, c.at(1)),
        Decision::RestartNow(_)
    ));
    let Decision::RestartLater(second) = s.ended(&p, 0, 1, c.at(2)) else {
        panic!("a restart that follows closely backs off")
    };
    assert_eq!((second.delay, second.due), (10 * MS, Some(c.at(12))));
    assert!(s.restoring());
    assert_eq!(s.next_due(), Some(c.at(12)));
    assert_eq!(s.due(c.at(11)), []);
    assert_eq!(s.due(c.at(12)), [second]);
    assert!(s.restoring(), "in progress until carried out");
    s.restarted_alone(&second, c.at(12));
    assert!(!s.restoring());
    let Decision::RestartLater(third) = s.ended(&p, 0, 2, c.at(13)) else {
        panic!("backs off")
    };
    assert_eq!(third.delay, 20 * MS);
    s.due(c.at(33));
    s.restarted_alone(&third, c.at(33));
    // A quiet spell of the cap: immediate again.
    assert!(matches!(
        s.ended(&p, 0, 3, c.at(73)),
        Decision::RestartNow(_)
    ));
    // None of these counted: a reset is still allowed.
    let m = facts(&[(true, true), (true, true)]);
    assert!(matches!(
        s.exceeded(&p, &m, Some(0), c.at(74)),
        Decision::Reset(_)
    ));
}

#[test]
fn a_failed_start_is_retried_with_backoff_and_counted_until_the_group_gives_up() {
    let c = Clock::new();
    let p = Policy {
        max_restarts: Some((3, 1000 * MS)),
        ..policy(Strategy::OneForAll)
    };
    let mut s = Supervision::default();
    let Decision::RestartNow(r) = s.start_failed(&p, 0, c.at(0)) else {
        panic!("the first retry is at once")
    };
    assert_eq!(r.why, Alone::StartFailed);
    s.restarted_alone(&r, c.at(0));
    let Decision::RestartLater(r) = s.start_failed(&p, 0, c.at(1)) else {
        panic!("the second backs off")
    };
    assert_eq!(r.delay, 10 * MS);
    // Failing again while that retry waits adds nothing, and is not counted.
    assert_eq!(s.start_failed(&p, 0, c.at(2)), Decision::RestartLater(r));
    assert_eq!(s.due(c.at(11)), [r]);
    s.restarted_alone(&r, c.at(11));
    assert!(matches!(
        s.start_failed(&p, 0, c.at(12)),
        Decision::RestartLater(_)
    ));
    // Three counted: the fourth gives up, and drops the waiting retry.
    assert_eq!(
        s.start_failed(&p, 1, c.at(13)),
        Decision::GiveUp {
            max: 3,
            window: 1000 * MS
        }
    );
    assert!(!s.restoring() && s.gave_up());
}

#[test]
fn a_backoff_past_the_end_of_time_is_never_due() {
    let c = Clock::new();
    let p = Policy {
        backoff: (Duration::MAX, Duration::MAX),
        ..policy(Strategy::OneForAll)
    };
    let mut s = Supervision::default();
    let Decision::RestartNow(r) = s.ended(&p, 0, 0, c.at(0)) else {
        panic!()
    };
    s.restarted_alone(&r, c.at(0));
    let Decision::RestartLater(r) = s.ended(&p, 0, 1, c.at(1)) else {
        panic!()
    };
    assert_eq!((r.delay, r.due), (Duration::MAX, None));
    assert_eq!(s.next_due(), None);
    assert_eq!(s.take_deferred(), [r]);
}

#[test]
fn an_excess_counted_before_the_reset_that_restarted_the_member_is_stale() {
    let c = Clock::new();
    let p = Policy {
        max_restarts: Some((1, 1000 * MS)),
        ..policy(Strategy::OneForAll)
    };
    let mut m = facts(&[(true, true), (true, true)]);
    let mut s = Supervision::default();
    assert!(matches!(
        s.member_exceeded(&p, &m, 0, 0, c.at(0)),
        Decision::Reset(_)
    ));
    s.reset_done(c.at(1));
    // The reset restarted both: their epoch moved on.
    m.iter_mut().for_each(|f| f.epoch = 1);
    // Excesses counted before it (epoch 0), of either member, are answered: no reset, and
    // not counted against the limit of one.
    for i in [0, 1, 0] {
        assert_eq!(
            s.member_exceeded(&p, &m, i, 0, c.at(2)),
            Decision::Nothing(Skip::Stale)
        );
    }
    assert!(!s.gave_up());
    assert_eq!(
        s.member_exceeded(&p, &m, 5, 1, c.at(2)),
        Decision::Nothing(Skip::UnknownMember)
    );
    // One of the current epoch is a real one: past the limit, give up.
    assert_eq!(
        s.member_exceeded(&p, &m, 1, 1, c.at(3)),
        Decision::GiveUp {
            max: 1,
            window: 1000 * MS
        }
    );
}

#[test]
fn a_group_restarted_by_its_parent_starts_with_a_fresh_intensity() {
    let c = Clock::new();
    let p = Policy {
        max_restarts: Some((2, 1000 * MS)),
        ..policy(Strategy::OneForAll)
    };
    let m = facts(&[(true, true)]);
    let mut s = Supervision::default();
    for t in [0, 1] {
        assert!(matches!(
            s.exceeded(&p, &m, Some(0), c.at(t)),
            Decision::Reset(_)
        ));
        s.reset_done(c.at(t));
    }
    let Decision::RestartNow(r) = s.ended(&p, 0, 0, c.at(2)) else {
        panic!("the first lone restart is immediate")
    };
    s.restarted_alone(&r, c.at(2));
    assert!(matches!(
        s.ended(&p, 0, 1, c.at(3)),
        Decision::RestartLater(_)
    ));
    assert!(matches!(
        s.exceeded(&p, &m, Some(0), c.at(4)),
        Decision::GiveUp { .. }
    ));
    // Its parent restarts it: nothing counted, nothing waiting, no backoff carried over.
    s.restarted_by_parent();
    assert!(!s.gave_up() && !s.restoring());
    assert_eq!(s.reset_backoff(), Duration::ZERO);
    let Decision::Reset(r) = s.exceeded(&p, &m, Some(0), c.at(5)) else {
        panic!("its next failure is a reset, not giving up again at once")
    };
    assert_eq!(r.within_window, Some((1, 2, 1000 * MS)));
    assert_eq!(
        r.delay,
        Duration::ZERO,
        "the first reset after it is immediate"
    );
    assert!(matches!(
        s.ended(&p, 0, 2, c.at(5)),
        Decision::RestartNow(_)
    ));
}

#[test]
fn an_intensity_window_and_a_backoff_of_duration_max_saturate() {
    let c = Clock::new();
    let p = Policy {
        max_restarts: Some((1, Duration::MAX)),
        backoff: (Duration::MAX, Duration::MAX),
        ..policy(Strategy::OneForAll)
    };
    let m = facts(&[(true, true)]);
    let mut s = Supervision::default();
    assert!(matches!(
        s.exceeded(&p, &m, Some(0), c.at(0)),
        Decision::Reset(_)
    ));
    s.reset_done(c.at(0));
    // Every restart stays in a window of Duration::MAX: the second gives up.
    assert!(matches!(
        s.exceeded(&p, &m, Some(0), c.at(1)),
        Decision::GiveUp { .. }
    ));
    // Doubling Duration::MAX saturates at the cap.
    let max = (Duration::MAX, Duration::MAX);
    assert_eq!(
        next_backoff(Duration::MAX, Some(Duration::ZERO), max),
        Duration::MAX
    );
    assert_eq!(
        next_backoff(Duration::ZERO, Some(Duration::ZERO), max),
        Duration::MAX
    );
    assert_eq!(next_backoff(Duration::MAX, None, max), Duration::ZERO);
}

#[test]
fn a_due_restart_keeps_the_member_waiting_until_it_is_carried_out() {
    let c = Clock::new();
    let p = policy(Strategy::OneForOne);
    let mut s = Supervision::default();
    let Decision::RestartNow(first) = s.start_failed(&p, 0, c.at(0)) else {
        panic!()
    };
    s.restarted_alone(&first, c.at(0));
    let Decision::RestartLater(later) = s.start_failed(&p, 0, c.at(1)) else {
        panic!()
    };
    assert_eq!(s.waiting(), [(0, Some(c.at(11)))]);
    assert_eq!(s.due(c.at(11)), [later]);
    // Due, not yet carried out: still waiting, so the green light cannot flash on between
    // the backoff and the start.
    assert!(s.restoring());
    assert_eq!(s.waiting(), [(0, Some(c.at(11)))]);
    assert_eq!(s.next_due(), None, "nothing left to wake for");
    s.restarted_alone(&later, c.at(11));
    assert!(!s.restoring() && s.waiting().is_empty());
    // Giving up and shutting down forget restarts in progress too.
    let Decision::RestartLater(r) = s.ended(&p, 0, 5, c.at(12)) else {
        panic!()
    };
    assert_eq!(s.due(c.at(100)), [r]);
    assert!(s.take_deferred().is_empty());
    assert!(!s.restoring());
}

#[test]
fn decisions_explain_themselves_with_their_numbers() {
    let c = Clock::new();
    let names: Vec<(usize, String)> = vec![(0, "ApiFeed".into()), (1, "Process".into())];
    let p = Policy {
        max_restarts: Some((5, 60_000 * MS)),
        ..policy(Strategy::OneForAll)
    };
    let m = facts(&[(true, true), (true, true)]);
    let mut s = Supervision::default();
    let d = s.exceeded(&p, &m, Some(0), c.at(0));
    assert_eq!(
        explain(&d, "ApiFeed exceeded its failure budget", &names).unwrap(),
        "ApiFeed exceeded its failure budget: resetting ApiFeed, Process; restart 1 of at most \
         5 within 60s; at once"
    );
    s.reset_done(c.at(0));
    let d = s.exceeded(&p, &m, Some(1), c.at(1));
    assert!(explain(&d, "x", &names)
        .unwrap()
        .ends_with("restart 2 of at most 5 within 60s; next in 10ms"));
    let d = s.ended(&p, 1, 0, c.at(2));
    assert_eq!(
        explain(&d, "Process's thread ended", &names).unwrap(),
        "Process's thread ended: restarting Process alone (not counted against the restart \
         limit); at once"
    );
    let d = Decision::GiveUp {
        max: 5,
        window: 60_000 * MS,
    };
    assert!(explain(&d, "x", &names)
        .unwrap()
        .contains("more than 5 restarts within 60s"));
    assert_eq!(explain(&Decision::Nothing(Skip::Stale), "x", &names), None);
}

/// After a removal the members' numbers have a gap: each strategy still picks by number, in
/// declaration order, and "the rest" of rest-for-one is the rest in that order.
#[test]
fn restart_sets_follow_the_members_numbers_after_a_removal() {
    // Members 0..4, member 1 removed.
    let mut m = facts(&[(true, true), (true, true), (false, true), (true, true)]);
    m.remove(1);
    for (at, id) in [(0, 0), (1, 2), (2, 3)] {
        assert_eq!(m[at].id, id);
    }
    use Strategy::*;
    assert_eq!(restart_set(OneForAll, &m, Some(3)), [0, 3]);
    assert_eq!(restart_set(OneForOne, &m, Some(2)), [2]);
    assert_eq!(restart_set(RestForOne, &m, Some(2)), [2, 3]);
    assert_eq!(restart_set(RestForOne, &m, None), [0, 3], "a task");
    let mut s = Supervision::default();
    let p = policy(OneForAll);
    let c = Clock::new();
    assert_eq!(
        s.exceeded(&p, &m, Some(1), c.at(0)),
        Decision::Nothing(Skip::UnknownMember),
        "the removed member's own excess"
    );
    assert_eq!(
        s.member_exceeded(&p, &m, 1, 0, c.at(0)),
        Decision::Nothing(Skip::UnknownMember)
    );
}

/// A restart waiting out its backoff for a member that is then removed is dropped: the
/// supervisor never brings a removed member back, and the group is green again.
#[test]
fn a_removed_members_waiting_restart_is_dropped() {
    let c = Clock::new();
    let p = policy(Strategy::OneForOne);
    let mut s = Supervision::default();
    let now = s.ended(&p, 2, 0, c.at(0));
    let Decision::RestartNow(r) = now else {
        panic!("the first lone restart is at once: {now:?}");
    };
    s.restarted_alone(&r, c.at(0));
    assert!(matches!(
        s.ended(&p, 2, 1, c.at(1)),
        Decision::RestartLater(_)
    ));
    assert!(matches!(
        s.ended(&p, 3, 0, c.at(1)),
        Decision::RestartNow(_)
    ));
    assert!(s.restoring());
    s.forget(2);
    assert!(!s.restoring(), "nothing waits any more");
    assert!(s.due(c.at(1_000)).is_empty());
    // Its backoff is forgotten too: nothing of it is kept.
    assert!(matches!(
        s.ended(&p, 2, 2, c.at(2)),
        Decision::RestartNow(_)
    ));
}
