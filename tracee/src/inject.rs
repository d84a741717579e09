//! Running syscalls inside a stopped tracee on the tracer's behalf (mapping the in-process
//! runtime, installing its filter, making a stub page), from a syscall instruction chosen
//! by the caller.

use crate::error::TraceeError;
use crate::regs::Regs;
use crate::stop::Stop;
use crate::tracee::Tracee;

impl Tracee {
    /// Runs syscall `nr` with `args` from the `syscall` instruction at `insn`, the other
    /// registers taken from `base`; returns its result. The tracee must be at a syscall
    /// exit, an event or a signal stop, and is at a syscall exit afterwards (restore its
    /// registers to go on). Signals arriving meanwhile are kept and sent again by
    /// `resend_deferred_signals`.
    pub fn inject_syscall(
        &mut self,
        base: &Regs,
        insn: u64,
        nr: i64,
        args: &[u64],
    ) -> Result<i64, TraceeError> {
        let mut r = *base;
        r.rip = insn;
        r.rax = nr as u64;
        r.orig_rax = u64::MAX;
        let mut six = [0u64; 6];
        six[..args.len().min(6)].copy_from_slice(&args[..args.len().min(6)]);
        (r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9) = (six[0], six[1], six[2], six[3], six[4], six[5]);
        self.set_regs(&r)?;
        let mut entered = false;
        loop {
            self.resume_raw_syscall()?;
            match self.wait()? {
                Stop::SyscallEntry { .. } => entered = true,
                Stop::SyscallExit { ret } if entered => return Ok(ret),
                Stop::Exited { .. } | Stop::Killed { .. } => {
                    return Err(TraceeError::TraceeDied { pid: self.pid() })
                }
                Stop::Signal { signo } => self.deferred.push(signo),
                // The exit of the syscall the tracee was stopped in, or an event stop.
                _ => {}
            }
        }
    }

    /// Sends again the signals that arrived during injected syscalls (they were not
    /// delivered then): the tracee meets them as new signal stops.
    pub fn resend_deferred_signals(&mut self) -> Result<(), TraceeError> {
        for signo in std::mem::take(&mut self.deferred) {
            self.send_signal(signo)?;
        }
        Ok(())
    }
}
