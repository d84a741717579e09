//! rdtsc and rdtscp trap (SIGSEGV under `PR_SET_TSC`): finding the instruction at the
//! faulting rip and completing it in the registers with a counter value.

use crate::{Regs, Tracee, TraceeError};

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

/// Completes the instruction in the tracee's registers with `value` (and `aux`).
pub fn apply(regs: &mut Regs, insn: TscInsn, value: u64, aux: u32) {
    regs.rax = value & 0xffff_ffff;
    regs.rdx = value >> 32;
    if insn == TscInsn::Rdtscp {
        regs.rcx = u64::from(aux);
    }
    regs.rip += insn.byte_len();
}
