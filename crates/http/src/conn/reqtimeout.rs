//! mod_reqtimeout's clocks (`RequestReadTimeout`): a stage (reading the
//! head, reading the body) must end within its timeout from its start;
//! with `MinRate` every `rate` bytes received move the end one second
//! later, up to the stage's maximum.  Each wait for the client is bounded
//! by the sooner of this end and `Timeout` (which still bounds every wait,
//! as the socket timeout does in Apache).

use std::time::Duration;

use tokio::time::Instant;
use wsgid_config::model::ReqTimeoutStage;

/// A running stage.
#[derive(Debug, Clone, Copy)]
pub(super) struct RateClock {
    deadline: Instant,
    /// None: no maximum.
    max: Option<Instant>,
    /// How much later the end moves per byte received (zero: no MinRate).
    per_byte: Duration,
}

impl RateClock {
    /// The stage started `now`; None when the stage is off (timeout 0).
    pub(super) fn start(stage: &ReqTimeoutStage, now: Instant) -> Option<RateClock> {
        if stage.timeout == 0 {
            return None;
        }
        let secs = |s: u32| Duration::from_secs(u64::from(s));
        Some(RateClock {
            deadline: now + secs(stage.timeout),
            max: (stage.max_timeout > 0).then(|| now + secs(stage.max_timeout)),
            per_byte: match stage.min_rate {
                0 => Duration::ZERO,
                // mod_reqtimeout's rate factor: whole microseconds per byte.
                rate => Duration::from_micros(1_000_000 / u64::from(rate)),
            },
        })
    }

    /// `n` more bytes of the stage arrived.
    pub(super) fn received(&mut self, n: usize) {
        if self.per_byte.is_zero() || n == 0 {
            return;
        }
        let more = self
            .per_byte
            .saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
        let later = self.deadline + more;
        self.deadline = match self.max {
            Some(max) if later > max => max,
            _ => later,
        };
    }

    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// The body stage of the current request.
#[derive(Debug, Clone, Copy, Default)]
pub(super) enum BodyClock {
    /// No body stage (mod_reqtimeout not in use, or no body).
    #[default]
    Off,
    /// Starts at the first wait for body bytes.
    Armed(ReqTimeoutStage),
    Running(RateClock),
}

impl BodyClock {
    /// The end of the stage, starting it if it was only armed.
    pub(super) fn deadline(&mut self, now: Instant) -> Option<Instant> {
        if let BodyClock::Armed(stage) = *self {
            *self = RateClock::start(&stage, now).map_or(BodyClock::Off, BodyClock::Running);
        }
        match self {
            BodyClock::Running(c) => Some(c.deadline()),
            _ => None,
        }
    }

    pub(super) fn received(&mut self, n: usize) {
        if let BodyClock::Running(c) = self {
            c.received(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(timeout: u32, max_timeout: u32, min_rate: u32) -> ReqTimeoutStage {
        ReqTimeoutStage {
            timeout,
            max_timeout,
            min_rate,
        }
    }

    #[test]
    fn bytes_move_the_end_later_up_to_the_maximum() {
        let t0 = Instant::now();
        let mut c = RateClock::start(&stage(20, 40, 500), t0).expect("on");
        assert_eq!(c.deadline(), t0 + Duration::from_secs(20));
        c.received(500);
        assert_eq!(c.deadline(), t0 + Duration::from_secs(21));
        c.received(1_000_000);
        assert_eq!(c.deadline(), t0 + Duration::from_secs(40));
        assert!(RateClock::start(&stage(0, 0, 0), t0).is_none());
        // Without MinRate the end does not move.
        let mut fixed = RateClock::start(&stage(5, 0, 0), t0).expect("on");
        fixed.received(10_000);
        assert_eq!(fixed.deadline(), t0 + Duration::from_secs(5));
    }

    #[test]
    fn a_body_clock_starts_at_its_first_wait() {
        let t0 = Instant::now();
        let mut b = BodyClock::Armed(stage(20, 0, 500));
        b.received(500);
        let later = t0 + Duration::from_secs(3);
        assert_eq!(b.deadline(later), Some(later + Duration::from_secs(20)));
        b.received(1000);
        assert_eq!(b.deadline(later), Some(later + Duration::from_secs(22)));
        assert_eq!(BodyClock::Off.deadline(t0), None);
    }
}
