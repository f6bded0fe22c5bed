//! A loop's failure budget: a count, or a sliding window of failure times under `within`.
//! Pure: the clock is passed in. This file imports only [`LoopConfig`](crate::LoopConfig).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::LoopConfig;

/// Failures counted against a loop's budget.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    count: u32,
    times: VecDeque<Instant>,
}

impl Budget {
    /// Counts one failure at `now`; returns the number counted and whether it exceeded the
    /// budget (after which the count starts again at zero).
    pub(crate) fn record(&mut self, config: &LoopConfig, now: Instant) -> (u32, bool) {
        let n = match config.within {
            None => {
                self.count = self.count.saturating_add(1);
                self.count
            }
            Some(window) => {
                self.prune(now, window);
                self.times.push_back(now);
                u32::try_from(self.times.len()).unwrap_or(u32::MAX)
            }
        };
        let exceeded = n > config.max_failures;
        if exceeded {
            self.clear();
        }
        (n, exceeded)
    }

    /// Failures counting now.
    pub(crate) fn current(&mut self, config: &LoopConfig, now: Instant) -> u32 {
        match config.within {
            None => self.count,
            Some(window) => {
                self.prune(now, window);
                u32::try_from(self.times.len()).unwrap_or(u32::MAX)
            }
        }
    }

    fn prune(&mut self, now: Instant, window: Duration) {
        while let Some(&t) = self.times.front() {
            if now.saturating_duration_since(t) > window {
                self.times.pop_front();
            } else {
                break;
            }
        }
    }

    /// Starts again at zero.
    pub(crate) fn clear(&mut self) {
        self.count = 0;
        self.times.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_failure_after_the_budget_exceeds_it_and_the_count_starts_again() {
        let config = LoopConfig::new("t").max_failures(2);
        let (mut b, t0) = (Budget::default(), Instant::now());
        assert_eq!(b.record(&config, t0), (1, false));
        assert_eq!(b.record(&config, t0), (2, false));
        assert_eq!(b.record(&config, t0), (3, true));
        assert_eq!(b.current(&config, t0), 0);
    }

    #[test]
    fn within_counts_only_the_failures_inside_the_window() {
        let config = LoopConfig::new("t").max_failures(1).within(10 * MS);
        let (mut b, t0) = (Budget::default(), Instant::now());
        assert_eq!(b.record(&config, t0), (1, false));
        // At exactly the window's length the first still counts.
        assert_eq!(b.current(&config, t0 + 10 * MS), 1);
        assert_eq!(b.current(&config, t0 + 11 * MS), 0);
        assert_eq!(b.record(&config, t0 + 11 * MS), (1, false));
        assert_eq!(b.record(&config, t0 + 12 * MS), (2, true));
        assert_eq!(b.current(&config, t0 + 12 * MS), 0);
    }

    #[test]
    fn zero_budget_exceeds_on_the_first_failure_and_a_clear_starts_again() {
        let config = LoopConfig::new("t").max_failures(0);
        let (mut b, t0) = (Budget::default(), Instant::now());
        assert_eq!(b.record(&config, t0), (1, true));
        let config = LoopConfig::new("t").max_failures(5);
        b.record(&config, t0);
        b.clear();
        assert_eq!(b.current(&config, t0), 0);
    }
}
