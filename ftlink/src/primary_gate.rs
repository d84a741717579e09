//! The fault-tolerant sink's answers to the in-process output gate (`recorder::output_gate`):
//! the same rule as `FtSink::wait_for_acks`, asked without waiting. What the follower has
//! acknowledged is published into the runtimes' rings by the link's receiving thread as
//! it arrives (`Hooks::changed`), so an output whose inputs it covers goes on at once; the
//! recording thread decides the rest (`gate_decision`) at its ticks and when woken, and
//! nothing here blocks but an arbiter question, asked only for an acknowledgement that
//! came late.

use std::sync::Arc;
use std::time::{Duration, Instant};

use recorder::sink::Clearance;
use recorder::RecordError;

use super::{FtSink, LinkState};

/// What the recorder gave the sink for its gates.
pub(super) struct Hooks {
    /// Wakes the recording thread.
    wake: Arc<dyn Fn() + Send + Sync>,
    /// Publishes a clearance into the rings.
    publish: Arc<dyn Fn(Clearance) + Send + Sync>,
}

impl Hooks {
    /// The follower's state changed (an acknowledgement, a heartbeat, a lost epoch): the
    /// rings learn what may go now; the recording thread is woken when an output may have
    /// to wait for its decision rather than for an acknowledgement.
    pub(super) fn changed(&self, st: &LinkState) {
        let clear = st.clearance();
        (self.publish)(clear);
        if clear.acked_events != u64::MAX && clear.fresh_until.is_none_or(|t| t <= Instant::now()) {
            (self.wake)();
        }
    }
}

impl LinkState {
    /// A follower whose replay is more than `limit` behind.
    fn behind(&self, limit: Duration) -> bool {
        self.follower_lag.is_some_and(|l| l > limit) && !self.ungated() && self.lost.is_none()
    }

    /// What an output may go on: every event acknowledged, until half a timeout after the
    /// hand-over of the newest frame acknowledged — unless outputs are throttled or the
    /// epoch is lost.
    pub(super) fn clearance(&self) -> Clearance {
        if self.ungated() {
            return Clearance::OPEN;
        }
        let throttled = self.throttling || self.behind(self.max_lag);
        Clearance {
            acked_events: match self.lost {
                Some(_) => 0,
                None => self.acked.map_or(0, |a| a + 1),
            },
            fresh_until: self
                .ack_heard
                .filter(|_| !throttled && self.lost.is_none())
                .map(|at| at + self.half_timeout),
        }
    }
}

impl FtSink {
    pub(super) fn gate_clearance(&mut self) -> Clearance {
        let st = self.shared.state.lock().expect("link state");
        let clear = st.clearance();
        if let Some(hooks) = self.shared.gate_hooks.lock().expect("gate hooks").as_ref() {
            (hooks.publish)(clear);
        }
        clear
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
            return Ok(true);
        }
        st.gate_since.get_or_insert(since);
        if st.acked.is_none_or(|a| a + 1 < need) {
            return Ok(false);
        }
        // Acknowledged: whatever holds the output now (the arbiter, throttling) is not a
        // follower that stopped acknowledging.
        st.gate_since = None;
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
                // This primary's own monitor is claiming: its verdict comes first.
                Ok(_) if st.claiming => return Ok(false),
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
        if self.throttle_since.is_none() && st.behind(self.max_lag) {
            self.throttle_since = Some(Instant::now());
            st.throttling = true;
            self.throttled += 1;
        }
        if let Some(t) = self.throttle_since {
            if st.behind(self.max_lag / 2) && t.elapsed() < self.max_lag {
                return Ok(false);
            }
            self.throttle_since = None;
            st.throttling = false;
            self.throttle_wait += t.elapsed();
        }
        st.gate_since = None;
        // Counted for the report by the runtime, which measured the wait itself.
        Ok(true)
    }

    pub(super) fn set_hooks(
        &mut self,
        wake: Arc<dyn Fn() + Send + Sync>,
        publish: Arc<dyn Fn(Clearance) + Send + Sync>,
    ) {
        *self.shared.gate_hooks.lock().expect("gate hooks") = Some(Hooks { wake, publish });
    }
}
