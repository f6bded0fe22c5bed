//! What a loop tells its supervisor and what the supervisor asks of it: failures counted
//! against the budget, restarts, and the watchdog's and the thread's own reports.

use super::stopping::asked;
use super::*;

impl Runner {
    // ---- Failures --------------------------------------------------------------------

    /// Counts one failure. `from`: the thread it comes from, if it comes from one; with
    /// `stop_on_failure`, exceeding the budget stops that thread only. Returns whether it
    /// exceeded the budget.
    pub(crate) fn record_failure(&self, error: Option<LoopError>, from: Option<u64>) -> bool {
        let (exceeded, stop) = self.count_failure(error, from);
        if let Some((token, name)) = stop {
            // That thread's own token: if a new thread has started meanwhile, it is untouched.
            go(&token, &name);
        }
        exceeded
    }

    /// [`record_failure`](Self::record_failure), leaving the stop (with `stop_on_failure`) to
    /// the caller: the token to signal, and the thread's name.
    pub(super) fn count_failure(
        &self,
        error: Option<LoopError>,
        from: Option<u64>,
    ) -> (bool, Option<(Signal, Arc<str>)>) {
        self.count_failure_in(self.lock(), error, from, || {})
    }

    /// [`count_failure`](Self::count_failure) under a lock its caller took: what the caller
    /// marked under it (a stall) is never seen without this failure counted. `report` runs
    /// once the lock is released, before the failure is logged.
    fn count_failure_in(
        &self,
        mut st: Guard<'_, State>,
        error: Option<LoopError>,
        from: Option<u64>,
        report: impl FnOnce(),
    ) -> (bool, Option<(Signal, Arc<str>)>) {
        if let Some(e) = &error {
            st.books.last_error = Some(e.message().to_owned());
        }
        // The group's clock (a test's, maybe) when it has one.
        let now = st.link.as_ref().map_or_else(Instant::now, Link::now);
        let (n, exceeded) = st.books.budget.record(&self.config, now);
        st.books.total_failures += 1;
        let name = st.books.display_name(&self.config);
        // With `stop_on_failure`, which thread stops is decided here, under the same lock as
        // the event to the supervisor: a reset that restarts the loop before this call goes on
        // must not see its new thread stopped by this (older) failure.
        let mut stop = None;
        if exceeded {
            let epoch = st.life.epoch_of(from);
            if let Some(link) = &st.link {
                link.exceeded(epoch);
            }
            if self.config.stop_on_failure {
                stop = st.life.ask_stop(from).map(|t| (t, name.clone()));
            }
        }
        drop(st);
        report();
        let max = self.config.max_failures;
        if exceeded {
            error!(thread = %name, "Exceeded maximum number of failures ({n}/{max})");
        } else {
            warn!(thread = %name, "Failure ({n}/{max})");
        }
        (exceeded, stop)
    }

    // ---- For the supervisor ----------------------------------------------------------

    /// Links it to its group's mailbox (`Some`), or unlinks it (`None`: removed from its
    /// group; a `maintain_loops` of that group under way no longer starts it).
    pub(crate) fn set_link(&self, link: Option<Link>) {
        let mut st = self.lock();
        st.life.link(link.is_some());
        st.link = link;
        // A group's stop waiting for its thread no longer does once it is removed.
        self.changed.notify_all();
    }

    /// For its group's `maintain_loops` that took `ticket` as it began: starts it unless it
    /// has been removed from the group, or stopped from outside since that ticket, or `go`
    /// (asked under this loop's lock, each time before a start would begin) says a stop or
    /// reset of the group has overtaken that `maintain_loops`.
    pub(crate) fn maintain(self: &Arc<Self>, ticket: u64, go: &dyn Fn() -> bool) -> bool {
        let me = thread::current().id();
        let st = self.lock();
        self.start_with(st, me, |life, me| {
            if go() {
                life.maintain(me, ticket)
            } else {
                Start::Already
            }
        })
    }

    /// Out of its group's supervision from now on: a stop from outside is on its way.
    pub(crate) fn unsupervise(&self) {
        self.lock().life.unsupervise();
    }

    /// Whether its group still supervises it: started, and not stopped from outside since
    /// (a thread that ended on its own, by `ctx.stop()` or a panic, leaves it supervised).
    pub(crate) fn is_supervised(&self) -> bool {
        self.lock().life.is_supervised()
    }

    /// `me` is one of its threads: the current one, or an abandoned one.
    pub(crate) fn runs_on(&self, me: ThreadId) -> bool {
        matches!(
            self.lock().life.caller(me),
            Caller::OwnThread | Caller::Abandoned
        )
    }

    /// A reset restarts it: a clean slate (its failures zeroed, and the excesses counted
    /// before now answered).
    pub(crate) fn reset_restarting(&self) {
        let mut st = self.lock();
        st.books.budget.clear();
        st.life.reset_restarted();
        if let Some(link) = &st.link {
            link.restarted_into(st.life.epoch_of(None));
        }
    }

    /// Resets that restarted it so far (an `Exceeded` of an older epoch is stale).
    pub(crate) fn epoch(&self) -> u64 {
        self.lock().life.epoch_of(None)
    }

    /// For the supervisor: starts it again if it is still supervised and thread `gen` was
    /// its last one.
    pub(crate) fn restart_if_ended(self: &Arc<Self>, gen: u64) -> bool {
        self.supervised_start(|life, me| life.restart_if_ended(me, gen))
    }

    /// For the supervisor: the retry of a start that failed.
    pub(crate) fn restart_failed(self: &Arc<Self>) -> bool {
        self.supervised_start(Lifecycle::restart_failed)
    }

    /// For a reset's restart phase: starts it if it is still supervised (a member stopped
    /// from outside meanwhile stays stopped).
    pub(crate) fn restart_supervised(self: &Arc<Self>) -> bool {
        self.supervised_start(Lifecycle::restart_supervised)
    }

    /// A start the supervisor makes. It never waits: the lifecycle leaves a loop that another
    /// thread is starting or stopping to that thread (see `operated_by_another`), so the
    /// supervisor is never held up by a hook on another thread.
    pub(super) fn supervised_start(
        self: &Arc<Self>,
        step: impl Fn(&mut Lifecycle<Real>, ThreadId) -> Start<Boxed, ThreadId>,
    ) -> bool {
        let me = thread::current().id();
        let mut st = self.lock();
        let next = step(&mut st.life, me);
        self.sync(&mut st);
        match next {
            Start::Begin(source) => self.run_start(st, me, source),
            Start::Wait(_) => {
                debug_assert!(false, "a supervisor's start never waits");
                false
            }
            Start::Already | Start::Queued(_) | Start::Ignored(_) => false,
        }
    }

    /// The first half of a group's stop: the thread signalled, `busy` claimed for the second
    /// half. From the loop's own thread or its own hook it only asks (it cannot wait for
    /// itself). `unsupervise`: a stop from outside (not a reset).
    pub(crate) fn begin_group_stop(self: &Arc<Self>, unsupervise: bool) -> Begun {
        let me = thread::current().id();
        let mut st = self.lock();
        if unsupervise {
            st.life.stopped_from_outside(me, ticket());
        }
        loop {
            let step = st.life.stop_from_group(me, unsupervise);
            self.sync(&mut st);
            let name = st.books.display_name(&self.config);
            match step {
                Stop::Idle { clean } => return Begun::Idle { clean },
                Stop::Signal(token) => {
                    drop(st);
                    go(&token, &name);
                    return Begun::Waiting { name };
                }
                Stop::Asked(token) => {
                    drop(st);
                    return asked(token, &name);
                }
                Stop::Wait(holder) => {
                    if self.wait_busy(&mut st, holder).is_err() {
                        let token = st.life.stop_refused(unsupervise);
                        drop(st);
                        return asked(token, &name);
                    }
                }
                Stop::Ignored => unreachable!("a group's stop is never ignored"),
            }
        }
    }

    /// The second half of a group's stop, waiting at most until `deadline`.
    pub(crate) fn finish_group_stop(
        self: &Arc<Self>,
        begun: Begun,
        deadline: Option<Instant>,
    ) -> bool {
        match begun {
            Begun::Idle { clean } => clean,
            Begun::Asked { .. } => false,
            Begun::Waiting { name } => self.stop_finish(deadline, name, true),
        }
    }
}

impl Watched for Runner {
    fn stalled(&self, gen: u64, timeout: Duration) -> Option<Fired> {
        let mut st = self.lock();
        if st.life.alive_gen() != Some(gen) {
            return None;
        }
        let name = st.books.display_name(&self.config);
        let cycles = st.books.cycles.load(Ordering::Relaxed);
        // The stall and its failure under one lock: a status reading "stalled" has it counted.
        st.books.stalled = Some((gen, cycles));
        let error = LoopError::new(format_args!(
            "cycle {cycles} ran longer than its cycle_timeout of {timeout:?}"
        ));
        // The watchdog runs no user code: a stop's callbacks are its caller's to run apart.
        let (_, stop) = self.count_failure_in(st, Some(error), Some(gen), || {
            warn!(thread = %name, ?timeout, "Cycle stalled: running longer than its cycle_timeout");
        });
        let (token, name) = stop?;
        let fired = token.go_deferred()?;
        info!(thread = %name, "Stopping");
        Some(fired)
    }
}

impl Control for Runner {
    fn failure(&self, error: Option<LoopError>, gen: u64) -> bool {
        self.record_failure(error, Some(gen))
    }

    fn request_stop(&self, gen: u64) {
        Runner::request_stop(self, Some(gen));
    }
}
