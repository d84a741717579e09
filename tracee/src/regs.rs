//! General-purpose registers of a stopped thread and their hash for divergence checks.

/// The x86-64 general-purpose registers as ptrace presents them.
pub type Regs = libc::user_regs_struct;

fn regs_words(r: &Regs) -> [u64; 27] {
    [
        r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx,
        r.rsi, r.rdi, r.orig_rax, r.rip, r.cs, r.eflags, r.rsp, r.ss, r.fs_base, r.gs_base, r.ds,
        r.es, r.fs, r.gs,
    ]
}

/// A hash of every general-purpose register: equal hashes at two points mean the same
/// register state (used to find a point again and to check replay against the recording).
pub fn regs_hash(r: &Regs) -> u64 {
    // FNV-1a over the words: cheap, stable across versions, no dependency.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in regs_words(r) {
        for b in w.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}
