//! The restart policy for worker processes, kept free of OS calls so it can
//! be unit-tested: how long to wait before restarting a worker that exited,
//! and when a worker's exit means the whole server must stop.

use std::time::Duration;

/// Exit status a worker uses when it cannot start at all (bad configuration,
/// Python failed to initialise, cannot drop privileges).  Restarting would
/// only fail again, so the master stops, as Apache does for APEXIT_CHILDFATAL.
pub const EXIT_FATAL: i32 = 3;

/// A worker that lived at least this long is considered healthy: its exit
/// resets the back-off.
const HEALTHY_UPTIME: Duration = Duration::from_secs(10);
/// Back-off bounds for workers that die quickly, one after the other.
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(10);

/// What the master does after a worker exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start a replacement after this delay.
    Restart(Duration),
    /// Stop the whole server (the worker reported a fatal start-up error).
    Shutdown,
}

/// Per-slot memory of recent failures.
#[derive(Debug, Default, Clone)]
pub struct SlotHistory {
    quick_failures: u32,
}

impl SlotHistory {
    /// Decide what to do about a worker that ran for `uptime` and exited
    /// with `exit_code` (None when killed by a signal).
    pub fn on_exit(&mut self, uptime: Duration, exit_code: Option<i32>) -> Decision {
        if exit_code == Some(EXIT_FATAL) {
            return Decision::Shutdown;
        }
        if uptime >= HEALTHY_UPTIME {
            self.quick_failures = 0;
            return Decision::Restart(Duration::ZERO);
        }
        let delay = FIRST_DELAY.saturating_mul(1u32 << self.quick_failures.min(7));
        self.quick_failures = self.quick_failures.saturating_add(1);
        Decision::Restart(delay.min(MAX_DELAY))
    }
}

/// How many worker processes embedded mode runs: `StartServers`, bounded by
/// `ServerLimit` and by what `MaxRequestWorkers` allows (at least one).
/// wsgid keeps that number fixed instead of growing and shrinking the pool
/// (documented in the README's compatibility section).
pub fn worker_count(mpm: &wsgid_config::model::Mpm) -> u32 {
    let per_child = mpm.threads_per_child.max(1);
    let by_workers = mpm.max_request_workers.div_ceil(per_child).max(1);
    mpm.start_servers
        .clamp(1, mpm.server_limit.max(1))
        .min(by_workers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_exit_stops_everything() {
        let mut h = SlotHistory::default();
        assert_eq!(
            h.on_exit(Duration::from_secs(100), Some(EXIT_FATAL)),
            Decision::Shutdown
        );
    }

    #[test]
    fn quick_failures_back_off_and_healthy_run_resets() {
        let mut h = SlotHistory::default();
        let quick = Duration::from_millis(50);
        assert_eq!(
            h.on_exit(quick, None),
            Decision::Restart(Duration::from_millis(100))
        );
        assert_eq!(
            h.on_exit(quick, Some(1)),
            Decision::Restart(Duration::from_millis(200))
        );
        assert_eq!(
            h.on_exit(quick, None),
            Decision::Restart(Duration::from_millis(400))
        );
        for _ in 0..20 {
            h.on_exit(quick, None);
        }
        assert_eq!(h.on_exit(quick, None), Decision::Restart(MAX_DELAY));
        assert_eq!(
            h.on_exit(Duration::from_secs(60), Some(0)),
            Decision::Restart(Duration::ZERO)
        );
        assert_eq!(
            h.on_exit(quick, None),
            Decision::Restart(Duration::from_millis(100))
        );
    }

    fn mpm(start: u32, limit: u32, threads: u32, max: u32) -> wsgid_config::model::Mpm {
        wsgid_config::model::Mpm {
            start_servers: start,
            server_limit: limit,
            threads_per_child: threads,
            thread_limit: 64,
            max_request_workers: max,
            max_connections_per_child: 0,
            graceful_shutdown_timeout: 0,
            explicit: true,
        }
    }

    #[test]
    fn worker_count_follows_the_mpm_directives() {
        assert_eq!(worker_count(&mpm(1, 1, 16, 16)), 1);
        assert_eq!(worker_count(&mpm(2, 2, 8, 16)), 2);
        assert_eq!(worker_count(&mpm(3, 16, 25, 400)), 3);
        assert_eq!(worker_count(&mpm(3, 16, 25, 25)), 1);
        assert_eq!(worker_count(&mpm(0, 0, 0, 0)), 1);
    }
}
