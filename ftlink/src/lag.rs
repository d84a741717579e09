//! How far a follower's replay is behind what it received: in events, and in the time the
//! oldest received event not replayed yet has been waiting (`lag_ms` in `status`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Arrivals closer together than this share one entry (the lag is told to about this).
const GRAIN: Duration = Duration::from_millis(1);

/// When the received count reached each value (coarsened to `GRAIN`).
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    /// (events received by then, when), oldest first.
    marks: VecDeque<(u64, Instant)>,
}

impl Arrivals {
    /// `received` events have arrived by now.
    pub(crate) fn arrived(&mut self, received: u64, now: Instant) {
        match self.marks.back_mut() {
            Some((count, at)) if now.duration_since(*at) < GRAIN => *count = received,
            _ => self.marks.push_back((received, now)),
        }
    }

    /// The replay has been handed `replayed` events: how long the next one has waited
    /// since it arrived (zero when the replay has everything received).
    pub(crate) fn lag(&mut self, replayed: u64, now: Instant) -> Duration {
        while self
            .marks
            .front()
            .is_some_and(|&(count, _)| count <= replayed)
        {
            self.marks.pop_front();
        }
        self.marks
            .front()
            .map_or(Duration::ZERO, |&(_, at)| now.saturating_duration_since(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_is_the_wait_of_the_oldest_event_not_replayed() {
        let t0 = Instant::now();
        let mut a = Arrivals::default();
        a.arrived(10, t0);
        a.arrived(25, t0 + Duration::from_millis(40));
        let now = t0 + Duration::from_millis(100);
        assert_eq!(a.lag(0, now), Duration::from_millis(100));
        assert_eq!(a.lag(9, now), Duration::from_millis(100));
        // Events 10.. arrived 40 ms in.
        assert_eq!(a.lag(10, now), Duration::from_millis(60));
        assert_eq!(a.lag(25, now), Duration::ZERO, "caught up");
        // Arrivals within a millisecond share an entry.
        a.arrived(30, now);
        a.arrived(31, now + Duration::from_micros(300));
        assert_eq!(a.marks.len(), 1);
        assert_eq!(
            a.lag(30, now + Duration::from_millis(5)),
            Duration::from_millis(5)
        );
    }
}
