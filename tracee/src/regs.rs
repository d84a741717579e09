//! General-purpose registers of a stopped thread and their hash for divergence checks.

/// The x86-64 general-purpose registers as ptrace presents them.
pub type Regs = libc::user_regs_struct;

/// The registers as 27 words, in `user_regs_struct` order.
pub fn regs_words(r: &Regs) -> [u64; 27] {
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

/// Registers from the words `regs_words` made (`None` unless there are exactly 27).
pub fn regs_from_words(w: &[u64]) -> Option<Regs> {
    let w: &[u64; 27] = w.try_into().ok()?;
    Some(Regs {
        r15: w[0],
        r14: w[1],
        r13: w[2],
        r12: w[3],
        rbp: w[4],
        rbx: w[5],
        r11: w[6],
        r10: w[7],
        r9: w[8],
        r8: w[9],
        rax: w[10],
        rcx: w[11],
        rdx: w[12],
        rsi: w[13],
        rdi: w[14],
        orig_rax: w[15],
        rip: w[16],
        cs: w[17],
        eflags: w[18],
        rsp: w[19],
        ss: w[20],
        fs_base: w[21],
        gs_base: w[22],
        ds: w[23],
        es: w[24],
        fs: w[25],
        gs: w[26],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        let words: Vec<u64> = (1..=27).collect();
        let regs = regs_from_words(&words).unwrap();
        assert_eq!(regs_words(&regs).to_vec(), words);
        assert!(regs_from_words(&words[..26]).is_none());
    }
}
