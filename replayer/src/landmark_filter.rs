//! Finding a forced switch's pass in-process (see `fastpath::landmark`): the thread runs
//! its loop at full speed through a filter that traps only at a pass whose registers and
//! watched words are the recorded ones; the tracer checks the whole state there.
//!
//! Used when the process has the in-process runtime (whose stack holds the filter's
//! state) and no debugger drives the replay (a debugger's breakpoints and steps inside the
//! rewritten instruction would meet the filter's code instead); otherwise, or when the
//! recorded instruction cannot carry a filter, a hardware breakpoint stops every pass.

use fastpath::landmark::{self, Wanted};
use fastpath::FastPathError;
use schema::{EventKind, ForcedSwitch};
use tracee::Regs;

use crate::session::Replayer;
use crate::signal::{at_landmark, preempted_state};
use crate::ReplayError;

fn filter_error(e: FastPathError) -> ReplayError {
    match e {
        FastPathError::Tracee(e) => e.into(),
        other => ReplayError::Setup(format!("a landmark filter: {other}")),
    }
}

impl Replayer<'_> {
    /// Arms a filter for the forced switch that is the next event, if it can take one.
    pub(crate) fn arm_filter(&mut self, switch: &ForcedSwitch) -> Result<bool, ReplayError> {
        if self.hook.is_some() || !self.spaces.contains_key(&self.t.tgid) {
            return Ok(false);
        }
        if self.t.tracee.at_syscall_entry() {
            // The call that maps the stub's page would take that syscall's place: tried
            // again at its exit.
            self.t.filter_deferred = true;
            return Ok(false);
        }
        let (Some(recorded), true) = (
            tracee::regs_from_words(&switch.regs),
            switch.fpregs.len() == 512,
        ) else {
            return Ok(false);
        };
        let regs = self.t.tracee.regs()?;
        let wanted = Wanted {
            regs: &recorded,
            fpregs: &switch.fpregs,
            words: &switch.words,
            changed_regs: switch.changed_regs,
            run_len: switch.run_len,
        };
        let armed = landmark::arm(&mut self.t.tracee, &regs, switch.landmark.rip, &wanted)
            .map_err(filter_error)?;
        let Some(armed) = armed else {
            if crate::session::debug_stops() {
                eprintln!(
                    "ftrun: [replay] {} cannot filter at {:#x}: a breakpoint stops every pass",
                    self.t.tid, switch.landmark.rip
                );
            }
            return Ok(false);
        };
        if crate::session::debug_stops() {
            eprintln!(
                "ftrun: [replay] {} looks for its preempted pass at {:#x} in-process ({} watched words)",
                self.t.tid,
                switch.landmark.rip,
                switch.words.len()
            );
        }
        self.t.filter = Some(armed);
        Ok(true)
    }

    /// At a syscall's exit: the filter that could not be armed at its entry is armed now,
    /// in place of the breakpoint.
    pub(crate) fn arm_deferred_filter(&mut self) -> Result<(), ReplayError> {
        if !std::mem::take(&mut self.t.filter_deferred) || !self.t.landmark_armed {
            return Ok(());
        }
        let Some(EventKind::SchedAtState(switch)) = self.peek()?.map(|e| e.kind.clone()) else {
            return Ok(());
        };
        if self.arm_filter(&switch)? {
            self.t.tracee.clear_breakpoints()?;
        }
        Ok(())
    }

    /// True when the thread, stopped by `SIGTRAP` at `rip`, trapped at its filter.
    pub(crate) fn trapped_at_filter(&self, rip: u64) -> bool {
        self.t.filter.as_ref().is_some_and(|f| f.trapped(rip))
    }

    /// A pass through the filter with the recorded registers and words: the thread is at
    /// its preempted pass if its whole state is the recorded one; otherwise it goes on.
    pub(crate) fn on_filter_trap(&mut self, regs: &Regs) -> Result<(), ReplayError> {
        let Some(filter) = self.t.filter.clone() else {
            return Ok(());
        };
        let program = filter
            .program_regs(&mut self.t.tracee, regs)
            .map_err(filter_error)?;
        let switch = match self.peek()?.map(|e| &e.kind) {
            Some(EventKind::SchedAtState(s)) => s.clone(),
            _ => {
                return Err(ReplayError::Setup(format!(
                    "thread {} met a landmark filter with no forced switch next",
                    self.t.tid
                )))
            }
        };
        let lm = &switch.landmark;
        if at_landmark(&mut self.t.tracee, &program, lm, &switch.unlogged_writes)? {
            self.drop_filter(&program)?;
            self.t.landmark_search.finish();
            self.t.landmark_armed = false;
            self.take()?;
            return Ok(());
        }
        let what = preempted_state(self.t.tid, lm);
        // It goes on in the stub, where the pass is let through.
        self.landmark_missed(&program, lm.rip, what)
    }

    /// Takes the current thread's filter out; the thread gets `regs`.
    pub(crate) fn drop_filter(&mut self, regs: &Regs) -> Result<(), ReplayError> {
        if let Some(filter) = self.t.filter.take() {
            filter
                .disarm(&mut self.t.tracee, regs)
                .map_err(filter_error)?;
        }
        Ok(())
    }

    /// The filter of a thread stopped outside it (a takeover): taken out, the thread's
    /// registers kept. A thread stopped inside the filter's code cannot be left so.
    pub(crate) fn drop_filter_here(&mut self) -> Result<(), ReplayError> {
        let Some(filter) = self.t.filter.as_ref() else {
            return Ok(());
        };
        let regs = self.t.tracee.regs()?;
        if filter.holds(regs.rip) {
            return Err(ReplayError::Setup(format!(
                "thread {} is inside a landmark filter at {:#x}",
                self.t.tid, regs.rip
            )));
        }
        self.drop_filter(&regs)
    }
}
