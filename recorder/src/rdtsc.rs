//! rdtsc and rdtscp trap (SIGSEGV under `PR_SET_TSC`); we run them for the tracee.

use tracee::{Regs, Tracee, TraceeError};

/// A time-stamp-counter instruction found at a faulting rip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TscInsn {
    Rdtsc,
    Rdtscp,
}

impl TscInsn {
    pub fn byte_len(self) -> u64 {
        match self {
            TscInsn::Rdtsc => 2,
            TscInsn::Rdtscp => 3,
        }
    }
}

/// Decodes the instruction at `rip` if it is rdtsc (0f 31) or rdtscp (0f 01 f9).
pub fn decode(tracee: &mut Tracee, rip: u64) -> Result<Option<TscInsn>, TraceeError> {
    let b = tracee.read_mem_partial(rip, 3)?;
    Ok(match b.as_slice() {
        [0x0f, 0x31, ..] => Some(TscInsn::Rdtsc),
        [0x0f, 0x01, 0xf9] => Some(TscInsn::Rdtscp),
        _ => None,
    })
}

/// Reads the real counter (and `IA32_TSC_AUX` for rdtscp) in the tracer.
pub fn read_counter(insn: TscInsn) -> (u64, u32) {
    match insn {
        // SAFETY: rdtsc has no preconditions; the tracer itself does not trap it.
        TscInsn::Rdtsc => (unsafe { core::arch::x86_64::_rdtsc() }, 0),
        TscInsn::Rdtscp => {
            let mut aux = 0u32;
            // SAFETY: as above; `aux` is a valid place for the TSC_AUX value.
            let v = unsafe { core::arch::x86_64::__rdtscp(&mut aux) };
            (v, aux)
        }
    }
}

/// Completes the instruction in the tracee's registers with `value` (and `aux`).
pub fn apply(regs: &mut Regs, insn: TscInsn, value: u64, aux: u32) {
    regs.rax = value & 0xffff_ffff;
    regs.rdx = value >> 32;
    if insn == TscInsn::Rdtscp {
        regs.rcx = u64::from(aux);
    }
    regs.rip += insn.byte_len();
}
