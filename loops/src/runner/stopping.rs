//! A loop's stops: from outside, from a group, and the hard reset (stop, then start).

use super::*;

impl Runner {
    // ---- Stop ------------------------------------------------------------------------

    pub(crate) fn stop(self: &Arc<Self>) -> bool {
        let me = thread::current().id();
        let mut st = self.lock();
        st.life.stopped_from_outside(me, ticket());
        loop {
            let caller = st.life.caller(me);
            let step = st.life.stop(me, true);
            self.sync(&mut st);
            let name = st.books.display_name(&self.config);
            match step {
                Stop::Idle { clean } => return clean,
                Stop::Signal(token) => {
                    drop(st);
                    go(&token, &name);
                    // The grace counts from the request: it is the thread's time to react.
                    let deadline = Instant::now().checked_add(self.config.grace);
                    return self.stop_finish(deadline, name, false);
                }
                Stop::Asked(token) => {
                    drop(st);
                    if let Caller::Holder(op) = caller {
                        warn!(thread = %name, "{}", holder_stop_message(op));
                    }
                    if let Some(token) = token {
                        go(&token, &name);
                    }
                    return false;
                }
                Stop::Ignored => {
                    drop(st);
                    log_ignored(&name, "stop", Ignored::FromAbandoned);
                    return false;
                }
                Stop::Wait(holder) => {
                    if self.wait_busy(&mut st, holder).is_err() {
                        let token = st.life.stop_refused(true);
                        drop(st);
                        asked_without_waiting("Stop", token, &name);
                        return false;
                    }
                }
            }
        }
    }

    /// The second half of a stop (`busy` held): waits until the thread has ended or
    /// `deadline` (`None`: forever), then runs `on_stop` here, or abandons the thread.
    /// Releases `busy`. True when no thread of the loop is left running.
    ///
    /// `group`: a stop by its group (a reset, the group's stop). If the loop is removed from
    /// the group meanwhile, that stop no longer waits for it: it is left to end on its own,
    /// and the removal's own stop waits for it instead.
    pub(crate) fn stop_finish(
        self: &Arc<Self>,
        deadline: Option<Instant>,
        name: Arc<str>,
        group: bool,
    ) -> bool {
        let me = thread::current().id();
        let mut st = self.lock();
        while let Joining::Running(thread) = st.life.joining() {
            // Left to end on its own: the stop releases `busy` and does not wait.
            let leave = |mut st: Guard<'_, State>, why: &str| {
                st.life.leave_unjoined();
                drop(st);
                debug!(thread = %name, "{why}");
                self.finish_op(self.lock(), me);
                false
            };
            if group && !st.life.is_linked() {
                return leave(
                    st,
                    "Removed from its group: the group's stop no longer waits for it",
                );
            }
            let Ok(waiting) = waits::for_thread(thread) else {
                // That thread waits, through others, for this one: it cannot be waited for.
                return leave(
                    st,
                    "Not waiting for the thread to end: it waits, through others, for the thread stopping it; it ends on its own",
                );
            };
            let timed_out = match deadline {
                Some(d) => st.wait_until(&self.changed, d).timed_out(),
                None => {
                    st.wait(&self.changed);
                    false
                }
            };
            drop(waiting);
            if timed_out && matches!(st.life.joining(), Joining::Running(_)) {
                st.life.abandon();
                drop(st);
                warn!(
                    thread = %name,
                    grace = ?self.config.grace,
                    "Abandoned: did not stop within its grace; it will not begin another cycle"
                );
                self.finish_op(self.lock(), me);
                return false;
            }
        }

        let joined = st
            .life
            .take_ended()
            .expect("a stop takes the thread it saw end");
        drop(st);
        if let Some(join) = joined.join {
            join_thread(join, &name);
        }
        let mut st = match joined.handback {
            Some(value) => {
                info!(thread = %name, "Exited gracefully");
                let value = self.run_on_stop(value, None, Some(&name));
                let mut st = self.lock();
                st.life.value_back(value);
                st
            }
            None => self.lock(),
        };
        let clean = st.life.abandoned_threads() == 0;
        self.sync(&mut st);
        self.finish_op(st, me);
        clean
    }

    pub(crate) fn hard_reset(self: &Arc<Self>) -> bool {
        let me = thread::current().id();
        let mut st = self.lock();
        loop {
            let step = st.life.hard_reset(me);
            let name = st.books.display_name(&self.config);
            match step {
                HardReset::Ignored(why) => {
                    drop(st);
                    log_ignored(&name, "hard_reset", why);
                    return false;
                }
                HardReset::Asked(token) => {
                    drop(st);
                    if let Some(token) = token {
                        go(&token, &name);
                    }
                    return false;
                }
                HardReset::Wait(holder) => {
                    if self.wait_busy(&mut st, holder).is_err() {
                        let token = st.life.hard_reset_refused();
                        drop(st);
                        asked_without_waiting("Hard reset", token, &name);
                        return false;
                    }
                }
                HardReset::Proceed => {
                    drop(st);
                    info!(thread = %name, "Hard reset");
                    st = self.lock();
                    let step = st.life.stop(me, true);
                    self.sync(&mut st);
                    if let Stop::Signal(token) = step {
                        drop(st);
                        go(&token, &name);
                        let deadline = Instant::now().checked_add(self.config.grace);
                        self.stop_finish(deadline, name, false);
                        st = self.lock();
                    }
                    return self.start_from(st, me);
                }
            }
        }
    }

    /// Asks the current thread to stop without waiting. `only_gen`: only if it is that thread
    /// (a request from an old thread must not stop its replacement).
    pub(super) fn request_stop(&self, only_gen: Option<u64>) {
        let mut st = self.lock();
        let token = st.life.ask_stop(only_gen);
        let name = st.books.display_name(&self.config);
        drop(st);
        if let Some(token) = token {
            go(&token, &name);
        }
    }
}

/// A stop asked without waiting: signals the token, if the loop had a thread.
pub(super) fn asked(token: Option<Signal>, name: &str) -> Begun {
    let thread = token.is_some();
    if let Some(token) = token {
        go(&token, name);
    }
    Begun::Asked { thread }
}

/// Joins a thread that has done its work. It may still be leaving (its thread-locals'
/// destructors run): if waiting for that would close a circle of waits, it is detached.
pub(super) fn join_thread(join: JoinHandle<()>, name: &str) {
    match waits::for_thread(join.thread().id()) {
        Ok(waiting) => {
            if join.join().is_err() {
                error!(thread = %name, "The loop's thread panicked outside its hooks");
            }
            drop(waiting);
        }
        Err(WouldDeadlock) => drop(join),
    }
}

pub(super) fn holder_stop_message(op: Op) -> &'static str {
    match op {
        Op::Start => "stop called from this loop's own on_start/on_stop; the start is undone",
        Op::Stop => "stop called while this thread stops this loop; it stops, out of supervision",
    }
}

/// The answer to an operation that would wait, through others, for the thread that asks it
/// (see the crate docs' "Locking rules"): ask the loop's thread to stop, without waiting.
fn asked_without_waiting(what: &str, token: Option<Signal>, name: &str) {
    debug!(
        thread = %name,
        "{what} asked without waiting: the operation under way waits, through others, for this thread"
    );
    if let Some(token) = token {
        go(&token, name);
    }
}
