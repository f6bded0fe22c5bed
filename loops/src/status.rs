//! [`LoopStatus`]: a snapshot of one loop, for people and probes.

use std::fmt;

/// Where a loop is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoopState {
    /// No thread, and not wanted running.
    Stopped,
    /// `on_start` is running on the caller's thread, or a start is queued until an abandoned
    /// thread hands the value back.
    Starting,
    /// Its thread is alive and has not been asked to stop.
    Running,
    /// Running, but its current cycle has run longer than its `cycle_timeout`.
    Stalled,
    /// Its thread has been asked to stop and has not ended yet.
    Stopping,
    /// Its last thread outlived the grace period and was abandoned; it still holds the value.
    Abandoned,
    /// Wanted running, but its thread ended without being asked to (a panic); a supervisor
    /// restarts it, or call `start`.
    Failed,
}

impl fmt::Display for LoopState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            LoopState::Stopped => "stopped",
            LoopState::Starting => "starting",
            LoopState::Running => "running",
            LoopState::Stalled => "stalled",
            LoopState::Stopping => "stopping",
            LoopState::Abandoned => "abandoned",
            LoopState::Failed => "failed",
        })
    }
}

/// A snapshot of one loop, from [`LoopHandle::status`](crate::LoopHandle::status).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopStatus {
    /// The loop's name (the thread name prefix).
    pub name: &'static str,
    /// The name of its most recent thread, if it ever started one.
    pub thread_name: Option<String>,
    /// Where it is in its life.
    pub state: LoopState,
    /// Whether its current (non-abandoned) thread exists and has not ended.
    pub alive: bool,
    /// Whether it is wanted running: started, and not asked to stop since.
    pub running: bool,
    /// Failures counted against the budget now.
    pub failures: u32,
    /// The budget: the failure after this many exceeds it.
    pub max_failures: u32,
    /// Threads started after the first one.
    pub restarts: u64,
    /// Cycles begun by the current or most recent thread.
    pub cycles: u64,
    /// Cycles begun by every thread of the loop since its handle was made.
    pub total_cycles: u64,
    /// Every failure counted since the handle was made (`failures` starts again at 0 when
    /// the budget is exceeded or a group reset clears it; this does not).
    pub total_failures: u64,
    /// While its thread is alive: how long its current cycle has run, *at least*. No clock is
    /// read per cycle, so this counts from the first time this cycle was observed (by a
    /// `status` call or the `cycle_timeout` watchdog); it only ever under-reports.
    pub since_cycle_began: Option<std::time::Duration>,
    /// Threads abandoned after their grace that have not ended yet.
    pub abandoned_threads: usize,
    /// The last error or panic message.
    pub last_error: Option<String>,
}

impl fmt::Display for LoopStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}] alive={} failures={}/{} restarts={} cycles={}",
            self.thread_name.as_deref().unwrap_or(self.name),
            self.state,
            self.alive,
            self.failures,
            self.max_failures,
            self.restarts,
            self.cycles
        )?;
        if self.abandoned_threads > 0 {
            write!(f, " abandoned_threads={}", self.abandoned_threads)?;
        }
        if let Some(e) = &self.last_error {
            write!(f, " last_error={e:?}")?;
        }
        Ok(())
    }
}
