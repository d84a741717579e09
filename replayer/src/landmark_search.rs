//! Looking for a recorded state at a landmark's breakpoint, with an end: passes are counted,
//! progress is one updating line, and a search that cannot succeed stops with a divergence
//! naming the thread, the address and the passes made.
//!
//! Two ways a search ends without the state: the thread's whole state (registers and
//! writable memory) is the same at two passes in a row without being the recorded one —
//! with the other threads stopped and no syscall in between, it will be that state forever
//! (checked at passes 2^k and 2^k + 1, so a stuck thread is caught within twice the passes
//! it took to get stuck, at a few memory hashes in all; a call handed back in-process in
//! between counts as a change); or the bound on passes
//! (`FTRUN_LANDMARK_PASSES`, default 1,000,000) is reached.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tracee::landmark::{landmark_regs_hash, memory_hash};
use tracee::{Regs, Tracee};

use crate::ReplayError;

/// Passes through one landmark before replay gives up, unless `FTRUN_LANDMARK_PASSES` says.
pub const DEFAULT_MAX_PASSES: u64 = 1_000_000;
/// A search is shown once it has lasted this long, and its line updated this often.
const SHOW_AFTER: Duration = Duration::from_secs(1);
const UPDATE_EVERY: Duration = Duration::from_millis(500);

pub fn max_passes() -> u64 {
    static MAX: OnceLock<u64> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::env::var("FTRUN_LANDMARK_PASSES")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_MAX_PASSES)
    })
}

/// One thread's search for the state of its next landmark event.
#[derive(Debug, Default)]
pub struct LandmarkSearch {
    pub passes: u64,
    /// The state at the last pass 2^k: registers and memory hashes, and the events
    /// replayed (calls the runtime handed back in-process between passes count).
    sample: Option<(u64, u64, u64)>,
    started: Option<Instant>,
    shown: Option<Instant>,
}

/// Why a search gave up.
pub enum GaveUp {
    /// The state at this pass is the one of the pass before.
    Stuck { passes: u64 },
    /// The bound on passes was reached.
    Bound { passes: u64, max: u64 },
}

impl LandmarkSearch {
    /// Counts a pass that did not find the state; says whether to give up. `replayed`: the
    /// events replayed so far.
    pub fn missed(
        &mut self,
        tracee: &mut Tracee,
        regs: &Regs,
        replayed: u64,
    ) -> Result<Option<GaveUp>, ReplayError> {
        self.passes += 1;
        let n = self.passes;
        let max = max_passes();
        if n >= max {
            return Ok(Some(GaveUp::Bound { passes: n, max }));
        }
        let sampled = n.is_power_of_two();
        let compared = n > 2 && (n - 1).is_power_of_two();
        if sampled || compared {
            let state = (
                landmark_regs_hash(tracee, regs)?,
                memory_hash(tracee)?,
                replayed,
            );
            if compared && self.sample == Some(state) {
                return Ok(Some(GaveUp::Stuck { passes: n }));
            }
            if sampled {
                self.sample = Some(state);
            }
        }
        Ok(None)
    }

    /// Shows the search on one line, rewritten in place, once it has lasted a while.
    pub fn show_progress(&mut self, what: &str, done: u64, trace_dir: &Path) {
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        if now.duration_since(started) < SHOW_AFTER
            || self
                .shown
                .is_some_and(|t| now.duration_since(t) < UPDATE_EVERY)
        {
            return;
        }
        self.shown = Some(now);
        let total = total_events(trace_dir)
            .map(|t| format!(" of {t}"))
            .unwrap_or_default();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rftrun: looking for {what}: {} passes, event {done}{total}",
            self.passes
        );
        let _ = err.flush();
    }

    /// Ends the search; ends the progress line if one was shown.
    pub fn finish(&mut self) {
        if self.shown.is_some() {
            eprintln!();
        }
        *self = LandmarkSearch::default();
    }
}

impl GaveUp {
    /// What replay got instead of the recorded state, for the divergence message.
    pub fn describe(&self, rip: u64) -> String {
        match self {
            GaveUp::Stuck { passes } => format!(
                "pass {passes} through {rip:#x} in the same state as the pass before, which is \
                 not the recorded one: with the other threads stopped it can never change"
            ),
            GaveUp::Bound { passes, max } => format!(
                "no pass through {rip:#x} in that state after {passes} passes (replay gives up \
                 after {max}; FTRUN_LANDMARK_PASSES sets that bound)"
            ),
        }
    }
}

/// The number of events of the trace in `dir` (read once, the first time a search is shown).
fn total_events(dir: &Path) -> Option<u64> {
    static TOTAL: OnceLock<Option<u64>> = OnceLock::new();
    *TOTAL.get_or_init(|| {
        let mut reader = schema::TraceReader::open(dir).ok()?;
        let mut count = 0u64;
        while let Ok(Some(_)) = reader.next_event() {
            count += 1;
        }
        Some(reader.footer().map(|f| f.event_count).unwrap_or(count))
    })
}
