//! Signals at replay: found at the same point they were delivered when recording.

use schema::{Landmark, SignalEvent, SignalPlacement};
use tracee::{Regs, Tracee};

use crate::ReplayError;

/// The landmark of a signal that was delivered in a spin loop, if that is its placement.
pub fn landmark_of(ev: &SignalEvent) -> Option<&Landmark> {
    match &ev.placement {
        SignalPlacement::AtLandmark(lm) => Some(lm),
        _ => None,
    }
}

/// True when the tracee, stopped at the landmark's breakpoint, is in the recorded state.
pub fn at_landmark(tracee: &mut Tracee, regs: &Regs, lm: &Landmark) -> Result<bool, ReplayError> {
    if regs.rip != lm.rip || recorder::session::landmark_regs_hash(tracee, regs)? != lm.regs_hash {
        return Ok(false);
    }
    let mem = recorder::landmark::memory_hash(tracee)?;
    Ok(mem == lm.mem_hash)
}

/// The raw siginfo of a recorded signal, checked for size.
pub fn raw_siginfo(ev: &SignalEvent) -> Result<tracee::RawSiginfo, ReplayError> {
    ev.siginfo.as_slice().try_into().map_err(|_| {
        ReplayError::Setup(format!(
            "signal {} in the trace has a malformed siginfo",
            ev.signo
        ))
    })
}
