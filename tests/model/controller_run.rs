//! Running a controller case: each operation applied to the runtime and to the model
//! (`ControllerModel`), the two compared after each step, and the cases proptest generates.
//! The model's rules are in `controller.rs`.

use super::*;

fn add_member<T: SuperLoop>(
    c: &LoopController,
    from_fn: bool,
    wrap: fn(Strings) -> T,
    s: &Strings,
) -> Arc<dyn MemberOps> {
    let h = puppet_handle(from_fn, wrap, s);
    c.add(&h);
    Arc::new(h)
}

fn observe_controller(
    c: &LoopController,
    members: &Members,
    on_reset: &AtomicU64,
) -> ControllerObs {
    let health = c.health();
    ControllerObs {
        supervisor: health.supervisor.clone(),
        green: c.is_green(),
        failed: health.failed,
        resets: c.resets(),
        on_reset: on_reset.load(Ordering::SeqCst),
        has_alive: c.has_alive_loops(),
        alive: c.alive_loops().len(),
        stalled: c.stalled_loops().len(),
        members: members.iter().map(|(m, c)| m.observe(&c.log)).collect(),
        threads: ctrl_threads(),
    }
}

/// What a stop of the whole group returned.
pub(crate) enum Stopped {
    Clean(bool),
    Report(StopReport),
    /// The controller's drop returns nothing.
    Nothing,
}

/// Runs a stop of every member on this thread (`whole`: of the controller too) and applies it
/// to the model: the return value or report, and the order in which the members were asked.
fn stop_group(
    m: &mut ControllerModel,
    members: &Members,
    what: &str,
    whole: bool,
    call: impl FnOnce() -> Stopped,
) -> Result<(), TestCaseError> {
    let me = current_thread();
    let on_stops = |members: &Members| -> Vec<usize> {
        members
            .iter()
            .map(|(_, c)| c.log.count_on("on_stop", &me))
            .collect()
    };
    let before = on_stops(members);
    let joinable: Vec<bool> = m
        .members
        .iter()
        .map(|h| h.live.as_ref().is_some_and(|t| !t.blocked))
        .collect();
    let cycling: Vec<bool> = m
        .members
        .iter()
        .map(|h| h.live.as_ref().is_some_and(|t| !t.signalled))
        .collect();
    let began = Instant::now();
    let got = call();
    let took = began.elapsed();
    let joined: Vec<bool> = on_stops(members)
        .iter()
        .zip(&before)
        .map(|(after, before)| after > before)
        .collect();
    // A member removed from the group is not stopped by it.
    let abandon: Vec<bool> = (0..members.len())
        .map(|i| m.members[i].linked && joinable[i] && !joined[i])
        .collect();
    for (i, h) in m.members.iter().enumerate() {
        if abandon[i] {
            prop_assert!(
                took >= h.grace,
                "{}: {}'s thread was not blocked, yet abandoned after {:?}, before its grace",
                what,
                h.name,
                took
            );
        }
    }
    let (stopped, abandoned) = if whole {
        m.stop_all(&abandon)
    } else {
        m.stop_members(&abandon, true)
    };
    match got {
        Stopped::Clean(clean) => prop_assert_eq!(clean, abandoned.is_empty(), "{}", what),
        Stopped::Report(r) => {
            prop_assert_eq!(&r.stopped, &stopped, "{}: stopped in time", what);
            prop_assert_eq!(&r.abandoned, &abandoned, "{}: abandoned", what);
        }
        Stopped::Nothing => {}
    }
    // When member `j`'s on_stop ran here, in dependency order every member declared before it
    // that was running was still running (not yet asked); all at once, none was.
    for (j, (_, ctl)) in members.iter().enumerate() {
        if !joined[j] {
            continue;
        }
        let seen = ctl
            .log
            .events()
            .into_iter()
            .rev()
            .find(|e| e.hook == "on_stop" && e.thread == me)
            .map(|e| e.detail)
            .unwrap_or_default();
        let place = |i: usize| m.order.iter().position(|&k| k == i);
        let want: String = (0..members.len())
            .map(|i| {
                let before = place(i).zip(place(j)).is_some_and(|(a, b)| a < b);
                // A removed member runs on through the group's stop.
                let removed = !m.members[i].linked;
                if cycling[i] && (removed || (before && !m.at_once)) {
                    'R'
                } else {
                    '-'
                }
            })
            .collect();
        prop_assert_eq!(
            seen,
            want,
            "{}: running members (R) when member {}'s on_stop ran",
            what,
            j
        );
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Ending {
    Stop,
    /// Drops the controller (its only clone) while members run.
    Drop,
}

pub(crate) fn run_controller_case(
    strategy: Policy,
    max_restarts: Option<u32>,
    at_once: bool,
    spec: [(Kind, bool); 3],
    ops: &[CtrlOp],
    ending: Ending,
) -> Result<(), TestCaseError> {
    // The case observes its threads by name: one case at a time in this process.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _alone = ONE_AT_A_TIME.lock();
    quiet_planned_panics();
    let on_reset = Arc::new(AtomicU64::new(0));
    let counter = on_reset.clone();
    let mut c = LoopController::new()
        .named(CTL)
        .strategy(strategy)
        // No backoff: every restart is made as its event is handled, in the order the model
        // handles them. With one, whether a member's second lone restart waits depends on the
        // time since its first (`next_backoff`), and a restart that waits lets the events
        // queued behind it go first (a restart limit reached meanwhile gives up before the
        // retry): an order the model cannot know. Backoffs are tested on a `ManualClock`
        // (tests/supervision.rs and the policy's unit tests).
        .backoff(Duration::ZERO, Duration::ZERO)
        .on_reset(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
    if let Some(max) = max_restarts {
        c = c.max_restarts(max, Duration::from_secs(3600));
    }
    if at_once {
        c = c.stop_all_at_once();
    }
    let members: Vec<(Arc<dyn MemberOps>, Controls)> = spec
        .iter()
        .map(|&(kind, from_fn)| {
            let (s, ctl) = strings();
            let h = match kind {
                Kind::Steady => add_member(&c, from_fn, Steady, &s),
                Kind::Brittle => add_member(&c, from_fn, Brittle, &s),
                Kind::Loner => add_member(&c, from_fn, Loner, &s),
            };
            (h, ctl)
        })
        .collect();
    // Every on_stop notes which members are running (R) at that moment.
    let weak: Vec<Weak<dyn MemberOps>> = members.iter().map(|(h, _)| Arc::downgrade(h)).collect();
    let note: Note = Arc::new(move || {
        weak.iter()
            .map(|h| match h.upgrade() {
                Some(h) if h.state() == LoopState::Running => 'R',
                _ => '-',
            })
            .collect()
    });
    for (_, ctl) in &members {
        *ctl.note.lock() = Some(note.clone());
    }
    let mut m = ControllerModel {
        strategy,
        max_restarts,
        at_once,
        supervisor: false,
        supervisors: 0,
        failed: false,
        green: true,
        resets: 0,
        reset_times: 0,
        on_reset: 0,
        members: spec
            .iter()
            .map(|&(kind, from_fn)| HandleModel {
                linked: true,
                ..HandleModel::new(&kind.config(), from_fn)
            })
            .collect(),
        order: vec![0, 1, 2],
        pending: VecDeque::new(),
        mailbox_open: true,
        unobservable: false,
        supervisor_joins: Vec::new(),
    };
    let release_all = |m: &mut ControllerModel| {
        for (h, (_, ctl)) in m.members.iter_mut().zip(&members) {
            for _ in 0..h.blocked() {
                ctl.release.send(()).unwrap();
            }
            h.release_all();
        }
        m.collect();
    };

    for (step, op) in ops.iter().enumerate() {
        let what = format!("step {step}: {op:?}");
        match op {
            CtrlOp::Start => {
                let got = c.start();
                let want = !m.supervisor;
                if want {
                    m.supervisor = true;
                    m.mailbox_open = true;
                    m.supervisors += 1;
                }
                prop_assert_eq!(got, want, "{}: start()", what);
            }
            CtrlOp::Stop => {
                stop_group(&mut m, &members, &what, true, || Stopped::Clean(c.stop()))?;
            }
            CtrlOp::StopWithReport => {
                stop_group(&mut m, &members, &what, true, || {
                    Stopped::Report(c.stop_with_report())
                })?;
            }
            CtrlOp::RunUntil(on) => {
                let signal = if *on {
                    let s = Signal::new();
                    s.go();
                    s
                } else {
                    Signal::after(Duration::from_millis(1))
                };
                stop_group(&mut m, &members, &what, true, || {
                    Stopped::Report(c.run_until(&signal))
                })?;
            }
            CtrlOp::StopLoops => {
                stop_group(&mut m, &members, &what, false, || {
                    Stopped::Clean(c.stop_loops())
                })?;
            }
            CtrlOp::Maintain => {
                // A start that fails (or is declined) during maintain_loops sends its supervisor
                // an event that, past max_restarts, gives the group up: a stop of the group,
                // which the maintain under way heeds at its next member. Which later members it
                // starts is then a race the model does not predict: the step is skipped.
                let racy = m.supervisor
                    && m.max_restarts.is_some_and(|max| m.reset_times >= max)
                    && m.grouped().any(|h| {
                        h.live.is_none()
                            && matches!(h.start_plan, StartPlan::Fail | StartPlan::Decline)
                    });
                if racy {
                    continue;
                }
                c.maintain_loops();
                m.failed = false;
                m.green = true;
                for i in m.order.clone() {
                    let h = &mut m.members[i];
                    if h.live.is_none() {
                        h.start_locked();
                    }
                }
            }
            CtrlOp::MemberNextStart(i, plan) => {
                members[*i].1.plans.lock().start = *plan;
                m.members[*i].start_plan = *plan;
            }
            CtrlOp::MemberStart(i) => {
                let got = members[*i].0.start();
                let want = m.members[*i].start_locked();
                prop_assert_eq!(got, want, "{}: start()", what);
            }
            CtrlOp::MemberStop(i) => {
                let (got, want) = stop_like(
                    &mut m.members[*i],
                    &members[*i].1.log,
                    || members[*i].0.stop(),
                    |h, a| {
                        let r = h.stop(a);
                        h.advance();
                        r
                    },
                )?;
                prop_assert_eq!(got, want, "{}: stop()", what);
            }
            CtrlOp::MemberHardReset(i) => {
                let (got, want) = stop_like(
                    &mut m.members[*i],
                    &members[*i].1.log,
                    || members[*i].0.hard_reset(),
                    |h, a| {
                        h.stop(a);
                        let r = h.start_locked();
                        h.advance();
                        r
                    },
                )?;
                prop_assert_eq!(got, want, "{}: hard_reset()", what);
            }
            CtrlOp::MemberFailure(i) => {
                let got = members[*i].0.failure();
                let want = m.record_failure(*i, None);
                prop_assert_eq!(got, want, "{}: failure()", what);
            }
            CtrlOp::MemberCycle(i, cmd) => {
                let Some(gen) = m.members[*i].live_cycling() else {
                    continue;
                };
                let thread = format!("{}_{gen}", m.members[*i].name);
                let exceeded = command(&members[*i].1, *cmd, &thread)?;
                match cmd {
                    Cmd::Err => {
                        m.record_failure(*i, Some(gen));
                    }
                    Cmd::Panic => {
                        m.record_failure(*i, Some(gen));
                        if m.members[*i].live.is_some() {
                            m.members[*i].end_live_on_its_own(true);
                        }
                    }
                    Cmd::CtxStop => {
                        m.members[*i].request_stop(Some(gen));
                        m.members[*i].advance();
                    }
                    Cmd::CtxFailure => {
                        let want = m.record_failure(*i, Some(gen));
                        prop_assert_eq!(exceeded, want, "{}: ctx.failure()", what);
                    }
                    Cmd::Block => {
                        if let Some(t) = &mut m.members[*i].live {
                            t.blocked = true;
                        }
                    }
                }
            }
            CtrlOp::Remove(i) => {
                let was = m.members[*i].linked;
                if !was {
                    // Not a member: nothing happens to it.
                    prop_assert!(!members[*i].0.remove_from(&c), "{}: remove()", what);
                    continue;
                }
                let (got, _) = stop_like(
                    &mut m.members[*i],
                    &members[*i].1.log,
                    || members[*i].0.remove_from(&c),
                    |h, a| {
                        if h.linked {
                            h.stop_as(a, true);
                        }
                        h.advance();
                        true
                    },
                )?;
                prop_assert_eq!(got, was, "{}: remove()", what);
                if was {
                    m.members[*i].linked = false;
                    m.order.retain(|&k| k != *i);
                    // Its queued events are dropped with it.
                    m.pending.retain(|e| match e {
                        Ev::Exceeded(k) | Ev::Ended(k, _) | Ev::StartFailed(k) => k != i,
                    });
                    m.collect();
                }
            }
            CtrlOp::Add(i) => {
                if m.members[*i].linked {
                    // Adding a member twice is not a thing the model does.
                    continue;
                }
                members[*i].0.add_to(&c);
                m.members[*i].linked = true;
                m.order.push(*i);
            }
            CtrlOp::Release => release_all(&mut m),
            CtrlOp::Reads => {
                let health = c.health();
                prop_assert_eq!(health.members.len(), m.order.len());
                prop_assert!(health.to_string().contains(CTL));
                let shown = format!("{:?}", c);
                prop_assert!(shown.starts_with("LoopController"), "{}", shown);
                // Dropping a clone that is not the last stops nothing.
                drop(c.clone());
            }
        }
        m.process();
        let expected = m.expected();
        // Green unless a member is stalled (blocked, abandoned, or its start queued behind an
        // abandoned thread): then the observations below wait for the light to stay off.
        if m.supervisor && !m.failed && expected.green {
            let waited = Instant::now();
            let green = c.wait_green(BOUND);
            prop_assert!(
                green,
                "{}: never green again (wait_green returned after {:?}):\n{}waits: {}state: {}",
                what,
                waited.elapsed(),
                c.health(),
                superloops::__private::wait_graph(),
                superloops::__private::controller_state(&c)
            );
        }
        let settled = settle_unless(
            &what,
            &expected,
            || observe_controller(&c, &members, &on_reset),
            || {
                m.supervisor_joins
                    .iter()
                    .any(|(i, t)| members[*i].1.log.count_on("on_stop", t) > 0)
            },
        )?;
        if !settled {
            return end_inconclusive(
                &what,
                "a reset abandoned a thread that was not blocked (a loaded machine)",
                c,
                &members,
                &m,
            );
        }
        m.supervisor_joins.clear();
        if m.unobservable {
            break;
        }
    }

    // The end: stop (or drop the controller), release every blocked thread; then no thread of
    // the case is left, and hooks pair. A removed member is not the group's to stop: its own
    // handle stops it first.
    for (i, (h, ctl)) in members.iter().enumerate() {
        if m.members[i].linked {
            continue;
        }
        let (got, want) = stop_like(
            &mut m.members[i],
            &ctl.log,
            || h.stop(),
            |h, a| {
                let r = h.stop(a);
                h.advance();
                r
            },
        )?;
        prop_assert_eq!(got, want, "the end: stop() of removed member {}", i);
    }
    match ending {
        Ending::Stop => {
            stop_group(&mut m, &members, "final stop()", true, || {
                Stopped::Clean(c.stop())
            })?;
        }
        Ending::Drop => {
            stop_group(
                &mut m,
                &members,
                "dropping the controller",
                true,
                move || {
                    drop(c);
                    Stopped::Nothing
                },
            )?;
        }
    }
    release_all(&mut m);
    let expected = m.expected();
    let observe = || {
        (
            members
                .iter()
                .map(|(h, ctl)| h.observe(&ctl.log))
                .collect::<Vec<_>>(),
            ctrl_threads(),
        )
    };
    settle(
        &format!("the end ({ending:?}), every thread released"),
        &(expected.members, expected.threads),
        observe,
    )?;
    let (obs, threads) = observe();
    prop_assert!(threads.is_empty(), "threads left: {:?}", threads);
    for (h, o) in m.members.iter().zip(&obs) {
        prop_assert_eq!(o.state, LoopState::Stopped);
        prop_assert_eq!(
            o.on_stop,
            h.allowed,
            "every allowed on_start has one on_stop"
        );
        prop_assert_eq!(o.on_thread_start, o.on_thread_stop, "pairing");
    }
    common::assert_nothing_ran_under_a_lock();
    Ok(())
}

/// A stop on the supervisor thread (a reset's, or giving up) abandoned a thread that was not
/// blocked: a machine too loaded for it to end within its grace. What follows depends on when
/// that thread hands its value back (a second reset before then finds the restart still queued,
/// and restarts the member once, not twice), which the model does not follow. The case ends
/// here, checking what holds either way: once every thread is released and the controller
/// stopped, no thread of the case is left, and hooks pair.
pub(crate) fn end_inconclusive(
    what: &str,
    why: &str,
    c: LoopController,
    members: &Members,
    m: &ControllerModel,
) -> Result<(), TestCaseError> {
    eprintln!("{what}: {why}; the case ends here");
    for (h, (_, ctl)) in m.members.iter().zip(members) {
        for _ in 0..h.blocked() {
            ctl.release.send(()).unwrap();
        }
    }
    c.stop();
    drop(c);
    // Members removed from the group are stopped by their handles.
    for (h, _) in members {
        h.stop();
    }
    settle(
        "the inconclusive case's stop",
        &Vec::<String>::new(),
        ctrl_threads,
    )?;
    for (h, ctl) in members {
        let o = h.observe(&ctl.log);
        prop_assert_eq!(o.state, LoopState::Stopped);
        prop_assert_eq!(o.on_start, o.on_stop, "pairing");
        prop_assert_eq!(o.on_thread_start, o.on_thread_stop, "pairing");
    }
    common::assert_nothing_ran_under_a_lock();
    Ok(())
}

fn strategy_choice() -> impl Strategy<Value = Policy> {
    prop_oneof![
        Just(Policy::OneForAll),
        Just(Policy::OneForOne),
        Just(Policy::RestForOne),
    ]
}

fn member_spec() -> impl Strategy<Value = (Kind, bool)> {
    (
        prop_oneof![Just(Kind::Steady), Just(Kind::Brittle), Just(Kind::Loner)],
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(common::model_config(64))]

    #[test]
    fn controller_follows_the_model(
        strategy in strategy_choice(),
        max_restarts in prop::option::of(0..3u32),
        at_once in any::<bool>(),
        spec in [member_spec(), member_spec(), member_spec()],
        warm in any::<bool>(),
        ops in prop::collection::vec(ctrl_op(), 1..32),
        drop_at_end in any::<bool>(),
    ) {
        // Half the cases begin with the supervisor and every member running.
        let ops: Vec<CtrlOp> = warm
            .then_some([CtrlOp::Start, CtrlOp::Maintain])
            .into_iter()
            .flatten()
            .chain(ops)
            .collect();
        let ending = if drop_at_end { Ending::Drop } else { Ending::Stop };
        run_controller_case(strategy, max_restarts, at_once, spec, &ops, ending)?;
    }
}
