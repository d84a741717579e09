//! The primary's monitor: it writes the status, ends a hold for a follower that never came,
//! and declares a silent follower (or one that stopped acknowledging) gone, after which the
//! arbiter decides whether this primary goes on alone or stops.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use super::{LinkState, Shared};
use crate::status;
use crate::status::RoleStatus;
use crate::{Arbiter, Timing};

/// What the monitor needs.
pub(super) struct Monitor {
    pub(super) timing: Timing,
    pub(super) arbiter: Arc<dyn Arbiter>,
    pub(super) state_dir: PathBuf,
}

/// Declares the follower dead after `timeout` of silence and asks the arbiter who goes on.
pub(super) fn monitor_loop(shared: &Shared, cfg: Monitor) {
    let tick = cfg.timing.heartbeat / 2;
    let mut last_tick = Instant::now();
    loop {
        thread::sleep(tick);
        let paused = last_tick.elapsed();
        last_tick = Instant::now();
        let mut st = shared.state.lock().expect("link state");
        if paused > cfg.timing.timeout && !st.alone && st.lost.is_none() && !st.finished {
            // This process did not run for a timeout (paused, or starved): messages the
            // follower sent before it went silent may still be arriving, so silence is not
            // the measure here; the arbiter is.
            let epoch = st.epoch;
            drop(st);
            let latest = cfg.arbiter.latest();
            let mut st = shared.state.lock().expect("link state");
            if let Ok(l) = latest {
                if l > epoch && st.epoch == epoch && st.lost.is_none() {
                    eprintln!(
                        "ftrun: this primary did not run for {} ms, and epoch {l} was claimed at {} meanwhile: it lost epoch {}; stopping the server",
                        paused.as_millis(),
                        cfg.arbiter.describe(),
                        epoch + 1
                    );
                    shared.lose(&mut st, epoch + 1);
                }
            }
            continue;
        }
        if st.hold_until.is_some() && !st.holding() {
            st.hold_until = None;
            eprintln!(
                "ftrun: no new follower has had the whole log in time; this primary goes on alone (its outputs are not protected)"
            );
            shared.notify(&st);
        }
        let report = st.report(cfg.timing);
        let silent = st.last_heard.elapsed();
        let gate_stuck = st
            .gate_since
            .is_some_and(|t| t.elapsed() > cfg.timing.timeout)
            && st.ack_progress.elapsed() > cfg.timing.timeout;
        let decide = !st.alone
            && st.lost.is_none()
            && !st.finished
            && (silent > cfg.timing.timeout || gate_stuck);
        let next_epoch = st.epoch + 1;
        // While this primary claims the next epoch, a late acknowledgement's check of the
        // arbiter must not take that claim for the follower's.
        st.claiming = decide;
        drop(st);
        status::write(&cfg.state_dir, "primary", &report);
        if !decide {
            continue;
        }
        let who = format!("primary pid {}", std::process::id());
        let won = cfg.arbiter.claim(next_epoch, &who);
        let mut st = shared.state.lock().expect("link state");
        st.claiming = false;
        match won {
            Ok(true) => {
                st.alone = true;
                st.epoch = next_epoch;
                st.alone_since = Some(Instant::now());
                st.catching_up = None;
                // The lost follower's link is closed; a new one may join.
                st.link = 0;
                st.acked = None;
                st.follower_lag = None;
                eprintln!(
                    "ftrun: the follower is gone ({}); this primary won epoch {next_epoch} at {} and goes on alone",
                    if gate_stuck { "no acknowledgement within the timeout".to_string() } else { format!("silent for {} ms", silent.as_millis()) },
                    cfg.arbiter.describe()
                );
            }
            Ok(false) | Err(_) => {
                match won {
                    Err(e) => eprintln!(
                        "ftrun: the follower is unreachable and the arbiter could not be asked ({e}): this primary does not go on alone; it lost epoch {next_epoch}; stopping the server"
                    ),
                    _ => eprintln!(
                        "ftrun: the follower is unreachable and epoch {next_epoch} is taken at {}: this primary lost epoch {next_epoch}; stopping the server",
                        cfg.arbiter.describe()
                    ),
                }
                shared.lose(&mut st, next_epoch);
            }
        }
        shared.notify(&st);
    }
}

impl LinkState {
    /// This side's section of `status.json`.
    pub(super) fn report(&self, timing: Timing) -> RoleStatus {
        RoleStatus {
            role: if self.lost.is_some() {
                "lost"
            } else if self.finished {
                "exited"
            } else if self.alone {
                "alone"
            } else {
                "primary"
            }
            .into(),
            epoch: self.epoch,
            pid: std::process::id() as i32,
            server_pid: self.tracee_pid,
            server_start: self.tracee_start,
            last_seq: self.events_logged.checked_sub(1),
            acked_seq: self.acked,
            replayed: None,
            timeout: timing.timeout,
            peer_silent: (!self.alone && self.lost.is_none()).then(|| self.last_heard.elapsed()),
            gate_waiting: self.gate_since.map(|t| t.elapsed()),
            lag_ms: self.follower_lag.map(|d| d.as_millis() as u64),
        }
    }
}
