//! The seccomp filter of a recorded process: every syscall stops it for the tracer
//! (`SECCOMP_RET_TRACE`) except those made from the runtime's one untraced instruction.
//! Fail-closed: a site that was not rewritten, JIT code, a 32-bit `int 0x80` — all traced.

use crate::runtime_syms::UNTRACED_INSN;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_RET_K: u16 = 0x06;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
/// `offsetof(struct seccomp_data, ...)`.
const ARCH: u32 = 4;
const IP_LOW: u32 = 8;
const IP_HIGH: u32 = 12;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..2].copy_from_slice(&code.to_le_bytes());
    b[2] = jt;
    b[3] = jf;
    b[4..].copy_from_slice(&k.to_le_bytes());
    b
}

/// The filter's instructions (`struct sock_filter` array) as bytes.
pub fn filter_program() -> Vec<u8> {
    // seccomp_data.instruction_pointer is the address after the syscall instruction.
    let allowed = UNTRACED_INSN + 2;
    let prog = [
        insn(BPF_LD_W_ABS, 0, 0, ARCH),
        insn(BPF_JEQ_K, 0, 5, AUDIT_ARCH_X86_64),
        insn(BPF_LD_W_ABS, 0, 0, IP_LOW),
        insn(BPF_JEQ_K, 0, 3, allowed as u32),
        insn(BPF_LD_W_ABS, 0, 0, IP_HIGH),
        insn(BPF_JEQ_K, 0, 1, (allowed >> 32) as u32),
        insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        insn(BPF_RET_K, 0, 0, SECCOMP_RET_TRACE),
    ];
    prog.concat()
}

/// Number of instructions in `filter_program`.
pub fn filter_len() -> u16 {
    (filter_program().len() / 8) as u16
}
