//! What a group reports about itself: [`GroupHealth`], [`MemberHealth`] and [`StopReport`],
//! readable by a person (`Display`) and by a probe (the fields). Plain data; this file imports
//! only the loop's own [`LoopStatus`].

use std::fmt;
use std::time::Duration;

use crate::LoopStatus;

/// What stopping a group did: which loops and tasks stopped within their grace, which were
/// abandoned (their thread still running a cycle that ignores stop), and which were asked to
/// stop but could not be waited for.
///
/// A loop that had no thread running when the stop came (never started, or already stopped)
/// is in none of the lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StopReport {
    /// Loops (by thread name) and tasks whose thread this stop ended, within its grace.
    pub stopped: Vec<String>,
    /// Loops (by thread name) and tasks whose thread outlived its grace and was abandoned.
    pub abandoned: Vec<String>,
    /// Loops and tasks asked to stop and not waited for: the thread that called the stop is
    /// their own (a thread cannot wait for itself), or waits, through others, for theirs.
    /// Each ends on its own, as soon as it notices (a thread calling the stop: once that call
    /// returns).
    pub ending: Vec<String>,
}

impl StopReport {
    /// True when no loop or task was abandoned.
    pub fn is_clean(&self) -> bool {
        self.abandoned.is_empty()
    }

    /// True when no thread of the group is left running: none abandoned, none ending.
    pub fn all_stopped(&self) -> bool {
        self.abandoned.is_empty() && self.ending.is_empty()
    }
}

impl fmt::Display for StopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stopped in time: ")?;
        if self.stopped.is_empty() {
            write!(f, "none")?;
        } else {
            write!(f, "{}", self.stopped.join(", "))?;
        }
        write!(f, "; abandoned: ")?;
        if self.abandoned.is_empty() {
            write!(f, "none")?;
        } else {
            write!(f, "{}", self.abandoned.join(", "))?;
        }
        if !self.ending.is_empty() {
            write!(f, "; ending: {}", self.ending.join(", "))?;
        }
        Ok(())
    }
}

/// A snapshot of one member, from [`GroupHealth`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberHealth {
    /// A loop.
    Loop(LoopStatus),
    /// A nested group.
    Group(GroupHealth),
}

impl MemberHealth {
    /// The member's name: the loop's (thread name prefix) or the group's.
    pub fn name(&self) -> &str {
        match self {
            MemberHealth::Loop(s) => s.name,
            MemberHealth::Group(g) => &g.name,
        }
    }

    /// Whether any thread of the member is alive.
    pub fn alive(&self) -> bool {
        match self {
            MemberHealth::Loop(s) => s.alive,
            MemberHealth::Group(g) => g.members.iter().any(MemberHealth::alive),
        }
    }
}

/// A snapshot of a group, from [`LoopController::health`](crate::LoopController::health):
/// readable by a person (`Display`
/// prints a small table) and by a probe (the fields).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupHealth {
    /// The group's name.
    pub name: String,
    /// The supervisor thread's name, if it is running.
    pub supervisor: Option<String>,
    /// The green light: no reset under way, no member waiting for its restart, not given up,
    /// and no member stalled (none listed by
    /// [`stalled_loops`](crate::LoopController::stalled_loops)).
    pub green: bool,
    /// Gave up after too many restarts.
    pub failed: bool,
    /// A member waits for its restart: backing off after its thread ended, or to be started
    /// again after its start failed. The green light is off meanwhile.
    pub restoring: bool,
    /// All else is settled, but a member is stalled: a member that should run has no live
    /// thread (its start waits for the value an abandoned thread still holds), or it is left
    /// with an abandoned thread, or its cycle runs past its `cycle_timeout`. The green light
    /// is off meanwhile; `Display` shows the group as `stalled`.
    pub stalled: bool,
    /// The members waiting for their restart, by index into [`members`](Self::members),
    /// each with how long until it is due (`None`: never, a backoff past the end of time).
    /// `Display` shows such a member as `retrying`.
    pub retrying: Vec<(usize, Option<Duration>)>,
    /// While a reset or a member's restart waits out its backoff: how long until the next is
    /// due.
    pub next_restart_in: Option<Duration>,
    /// The supervisor's last decision, in words with the numbers behind it: "ApiFeed exceeded
    /// its failure budget: resetting ApiFeed, Process; restart 3 of at most 5 within 60s; next
    /// in 40ms". Also logged at `info` as `Decision: …`.
    pub last_decision: Option<String>,
    /// The supervisor thread panicked (a bug of the crate, reported rather than hidden): the
    /// message. The green light stays off until the controller is started again or
    /// `maintain_loops` brings it back; `Display` shows the group as `faulted`.
    pub fault: Option<String>,
    /// Resets performed so far.
    pub resets: u64,
    /// The delay the last reset waited before restarting (backoff).
    pub backoff: Duration,
    /// Each member, in declaration order.
    pub members: Vec<MemberHealth>,
}

impl GroupHealth {
    fn write_rows(&self, f: &mut fmt::Formatter<'_>, indent: usize) -> fmt::Result {
        for (i, member) in self.members.iter().enumerate() {
            let retrying = self.retrying.iter().any(|(r, _)| *r == i);
            match member {
                MemberHealth::Loop(s) => {
                    let name = s.thread_name.as_deref().unwrap_or(s.name);
                    let state = if retrying {
                        "retrying".to_owned()
                    } else {
                        s.state.to_string()
                    };
                    writeln!(
                        f,
                        "{:indent$}{:<w$}  {:<9}  {:<5}  {:>8}  {:>8}  {}",
                        "",
                        name,
                        state,
                        if s.alive { "yes" } else { "no" },
                        format!("{}/{}", s.failures, s.max_failures),
                        s.restarts,
                        s.last_error.as_deref().unwrap_or("-"),
                        w = 20usize.saturating_sub(indent),
                    )?;
                }
                MemberHealth::Group(g) => {
                    writeln!(
                        f,
                        "{:indent$}{:<w$}  {:<9}  {:<5}  {:>8}  {:>8}  -",
                        "",
                        g.name,
                        if retrying { "retrying" } else { g.state() },
                        if member.alive() { "yes" } else { "no" },
                        "",
                        g.resets,
                        w = 20usize.saturating_sub(indent),
                    )?;
                    g.write_rows(f, indent + 2)?;
                }
            }
        }
        Ok(())
    }

    /// `faulted`, `failed`, `green`, `restoring`, `stalled` or `resetting`.
    fn state(&self) -> &'static str {
        if self.fault.is_some() {
            "faulted"
        } else if self.failed {
            "failed"
        } else if self.green {
            "green"
        } else if self.restoring {
            "restoring"
        } else if self.stalled {
            "stalled"
        } else {
            "resetting"
        }
    }
}

impl fmt::Display for GroupHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} [{}] resets={} supervisor={}",
            self.name,
            self.state(),
            self.resets,
            self.supervisor.as_deref().unwrap_or("stopped")
        )?;
        if let Some(fault) = &self.fault {
            writeln!(f, "supervisor fault: {fault}")?;
        }
        if let Some(decision) = &self.last_decision {
            writeln!(f, "last decision: {decision}")?;
        }
        if let Some(next) = self.next_restart_in {
            writeln!(f, "next restart in {next:?}")?;
        }
        writeln!(
            f,
            "{:<20}  {:<9}  {:<5}  {:>8}  {:>8}  last error",
            "member", "state", "alive", "failures", "restarts"
        )?;
        self.write_rows(f, 0)
    }
}
