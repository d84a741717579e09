//! Running syscalls inside a stopped tracee on the tracer's behalf (mapping the in-process
//! runtime, installing its filter, making a stub page), from a syscall instruction chosen
//! by the caller.

use crate::error::TraceeError;
use crate::regs::Regs;
use crate::stop::Stop;
use crate::tracee::Tracee;

/// Where a batch of injected syscalls runs (see [`Tracee::inject_batch`]).
#[derive(Debug, Clone, Copy)]
pub struct Runner {
    /// The runner's code.
    pub code: u64,
    /// Its `int3`, reached when every call was made.
    pub done: u64,
    /// The table of calls, in memory the tracee can write.
    pub table: u64,
    /// The stack pointer it runs with.
    pub stack: u64,
}

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

    /// Runs several syscalls in a row with one stop instead of two each, through a runner in
    /// the tracee's memory: code at `runner` that makes the calls of the table at `table`
    /// (entries of eight words: number, six arguments, and the result, written back; a
    /// number of -1 ends it) and then executes the `int3` at `done`. `stack` is the stack
    /// pointer it runs with. The other registers are taken from `base`; the tracee must be
    /// at a syscall exit, an event or a signal stop, and is at a signal stop afterwards
    /// (restore its registers to go on). Signals arriving meanwhile are kept, as with
    /// [`inject_syscall`](Self::inject_syscall).
    pub fn inject_batch(
        &mut self,
        base: &Regs,
        runner: Runner,
        calls: &[(i64, [u64; 6])],
    ) -> Result<Vec<i64>, TraceeError> {
        let mut words = Vec::with_capacity(calls.len() * 8 + 1);
        for (nr, args) in calls {
            words.push(*nr as u64);
            words.extend_from_slice(args);
            words.push(0);
        }
        words.push(u64::MAX);
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.write_mem(runner.table, &bytes)?;
        let mut r = *base;
        r.rip = runner.code;
        r.rbx = runner.table;
        r.rsp = runner.stack;
        r.orig_rax = u64::MAX;
        self.set_regs(&r)?;
        loop {
            self.resume(crate::Resume::Continue, 0)?;
            match self.wait()? {
                Stop::Exited { .. } | Stop::Killed { .. } => {
                    return Err(TraceeError::TraceeDied { pid: self.pid() })
                }
                Stop::Signal {
                    signo: libc::SIGTRAP,
                } if self.regs()?.rip == runner.done + 1 => break,
                Stop::Signal { signo } => self.deferred.push(signo),
                _ => {}
            }
        }
        let done = self.read_mem(runner.table, bytes.len())?;
        Ok((0..calls.len())
            .map(|i| {
                let at = i * 64 + 56;
                i64::from_le_bytes(done[at..at + 8].try_into().expect("8 bytes"))
            })
            .collect())
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
