//! The fault-tolerant sink's answers to the in-process output gate (`recorder::output_gate`):
//! the same rule as `FtSink::wait_for_acks`, asked without waiting. The recording thread asks
//! at its ticks and whenever acknowledgements come, so nothing here blocks but an arbiter
//! question, and that only for an acknowledgement that came late.

use std::sync::Arc;
use std::time::Instant;

use recorder::sink::Clearance;
use recorder::RecordError;

use super::{FtSink, LinkState};

impl FtSink {
    /// A follower whose replay is more than `limit` behind.
    fn behind(st: &LinkState, limit: std::time::Duration) -> bool {
        st.follower_lag.is_some_and(|l| l > limit) && !st.ungated() && st.lost.is_none()
    }

    pub(super) fn gate_clearance(&mut self) -> Clearance {
        let st = self.shared.state.lock().expect("link state");
        if st.ungated() {
            return Clearance::OPEN;
        }
        let throttled = self.throttle_since.is_some() || Self::behind(&st, self.max_lag);
        Clearance {
            acked_events: match st.lost {
                Some(_) => 0,
                None => st.acked.map_or(0, |a| a + 1),
            },
            fresh_until: st
                .ack_heard
                .filter(|_| !throttled && st.lost.is_none())
                .map(|at| at + self.timing.timeout / 2),
        }
    }

    pub(super) fn gate_decision(&mut self, need: u64, since: Instant) -> Result<bool, RecordError> {
        let mut st = self.shared.state.lock().expect("link state");
        if let Some(epoch) = st.lost {
            return Err(RecordError::Other(format!(
                "the follower took over: this primary lost epoch {epoch} and stops"
            )));
        }
        if st.ungated() {
            st.gate_since = None;
            drop(st);
            self.count_released(since);
            return Ok(true);
        }
        st.gate_since.get_or_insert(since);
        if st.acked.is_none_or(|a| a + 1 < need) {
            return Ok(false);
        }
        let fresh = st
            .ack_heard
            .is_some_and(|at| at.elapsed() < self.timing.timeout / 2);
        if !fresh {
            // The acknowledgement came late (this primary may have been paused): the
            // follower may have gone live meanwhile. Only the arbiter knows.
            let epoch = st.epoch;
            drop(st);
            let latest = self.arbiter.latest();
            st = self.shared.state.lock().expect("link state");
            match latest {
                Ok(l) if l <= epoch || st.epoch > epoch => {}
                Ok(l) => {
                    eprintln!(
                        "ftrun: an acknowledgement came late, and epoch {l} was claimed at {} meanwhile: this primary lost epoch {}; stopping the server without releasing its output",
                        self.arbiter.describe(),
                        epoch + 1
                    );
                    self.shared.lose(&mut st, epoch + 1);
                    return Ok(false);
                }
                // Not known: hold the output; the monitor decides once the gate has waited
                // a timeout.
                Err(_) => return Ok(false),
            }
        }
        // Throttling: a follower too far behind makes outputs wait until it is back
        // within half the limit, at most the limit.
        if self.throttle_since.is_none() && Self::behind(&st, self.max_lag) {
            self.throttle_since = Some(Instant::now());
            self.throttled += 1;
        }
        if let Some(t) = self.throttle_since {
            if Self::behind(&st, self.max_lag / 2) && t.elapsed() < self.max_lag {
                return Ok(false);
            }
            self.throttle_since = None;
            self.throttle_wait += t.elapsed();
        }
        st.gate_since = None;
        drop(st);
        self.count_released(since);
        Ok(true)
    }

    /// An output that asked was let through (the ring's count includes it).
    fn count_released(&mut self, since: Instant) {
        self.gated_outputs += 1;
        self.gate_wait += since.elapsed();
    }

    pub(super) fn set_waker(&mut self, waker: Arc<dyn Fn() + Send + Sync>) {
        *self.shared.gate_waker.lock().expect("gate waker") = Some(waker);
    }
}
