//! A thread stopped by a signal while blocked in a call the runtime made for it: the
//! registers it would have had at the stub's traced `syscall`, so that the call can be made
//! from there instead and the signal interrupt it the way it interrupts a traced call.
//!
//! The runtime's frame for the call is simply abandoned: nothing was committed to the ring
//! (a record is published only after its call returns), and the next entry overwrites the
//! control page's `saved_rsp` and `target`.

use tracee::{Regs, Tracee};

use crate::layout::*;
use crate::runtime_syms::UNTRACED_INSN;
use crate::FastPathError;

/// The general-purpose registers `ftrun_entry` pushes, lowest address first.
const FRAME_WORDS: usize = 15;
/// What `ftrun_entry` moved below the program's stack pointer before saving it: the
/// 128-byte red zone the stub stepped over, the return address of its `call`, the flags.
const BELOW_PROGRAM_RSP: u64 = 128 + 8 + 8;

/// The kernel's results for a call a signal interrupted.
fn interrupted(result: i64) -> bool {
    const EINTR: i64 = 4;
    // ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK.
    matches!(-result, EINTR | 512 | 513 | 514 | 516)
}

/// If `regs` (at a signal stop) are those of a thread inside the runtime's untraced
/// `syscall` making the program's own call, which the signal interrupted: the program's
/// registers just before the stub's traced `syscall` for that call (`orig_rax` cleared, so
/// that the kernel restarts nothing itself on resuming).
pub fn blocked_call_regs(tracee: &mut Tracee, regs: &Regs) -> Result<Option<Regs>, FastPathError> {
    if regs.rip != UNTRACED_INSN + 2 || !interrupted(regs.rax as i64) {
        return Ok(None);
    }
    let frame_at = STACK_BASE + STACK_SIZE - (FRAME_WORDS as u64) * 8;
    let frame = words::<FRAME_WORDS>(&tracee.read_mem(frame_at, FRAME_WORDS * 8)?);
    let [r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax] = frame;
    if rax != regs.orig_rax {
        // One of the runtime's own probes (a poll with no wait, an fcntl) was cut short.
        return Ok(None);
    }
    let saved_rsp = tracee.read_u64(CONTROL_SAVED_RSP)?;
    let target = tracee.read_u64(CONTROL_TARGET)?;
    let eflags = tracee.read_u64(saved_rsp)?;
    Ok(Some(Regs {
        r15,
        r14,
        r13,
        r12,
        r11,
        r10,
        r9,
        r8,
        rdi,
        rsi,
        rbp,
        rbx,
        rdx,
        rcx,
        rax,
        orig_rax: u64::MAX,
        rip: target,
        rsp: saved_rsp + BELOW_PROGRAM_RSP,
        eflags,
        ..*regs
    }))
}

fn words<const N: usize>(bytes: &[u8]) -> [u64; N] {
    let mut out = [0u64; N];
    for (w, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        *w = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
    }
    out
}
