//! Rewriting a syscall site: the 2-byte `syscall` and the instructions after it (at least 3
//! more bytes) become a 5-byte `jmp` to a stub; the stub calls the runtime, holds the traced
//! `syscall` the runtime returns to when it does not handle the call, then the relocated
//! instructions and a jump back. Only instructions that cannot change control flow are
//! relocated, so the bytes after a site are what compilers put there (`cmp $-4095,%rax`,
//! `mov %eax,%edx`, …), not a branch target.

use iced_x86::{
    BlockEncoder, BlockEncoderOptions, Decoder, DecoderOptions, FlowControl, Instruction,
    InstructionBlock, Mnemonic,
};

use crate::layout::STUB_SIZE;

/// Bytes read around a site to plan its patch: `BEFORE` before the `syscall`, the rest
/// from it on.
pub const BEFORE: usize = 8;
pub const SITE_WINDOW: usize = 32;
const JMP_LEN: u64 = 5;
/// `mov $imm32,%eax`, which syscall wrappers put right before the `syscall`.
const MOV_EAX_IMM: u8 = 0xb8;

/// What to write where, and how old instruction addresses map into the stub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchPlan {
    /// The `syscall` instruction.
    pub site: u64,
    /// Where the rewritten bytes start (the site, or the `mov` before it).
    pub start: u64,
    pub site_bytes: Vec<u8>,
    pub stub: u64,
    pub stub_bytes: Vec<u8>,
    /// (address in the site, the same point in the stub): a thread stopped there goes on
    /// in the stub.
    pub moved: Vec<(u64, u64)>,
}

impl PatchPlan {
    /// Where a thread at `rip` goes on once the site is patched (`None`: not inside it).
    pub fn translate(&self, rip: u64) -> Option<u64> {
        self.moved
            .iter()
            .find(|&&(old, _)| old == rip)
            .map(|&(_, new)| new)
    }
}

/// An instruction that may run moved into a stub: one that goes on to the next, and that
/// neither enters the kernel, traps, nor reads the time-stamp counter (moved code is not
/// looked at again for counter reads, `tsc_sites`). Shared with `carrier`.
pub(crate) fn relocatable(ins: &Instruction) -> bool {
    !ins.is_invalid()
        && ins.flow_control() == FlowControl::Next
        && !matches!(
            ins.mnemonic(),
            Mnemonic::Syscall
                | Mnemonic::Sysenter
                | Mnemonic::Int
                | Mnemonic::Int3
                | Mnemonic::Rdtsc
                | Mnemonic::Rdtscp
        )
}

fn rel32(from_end: u64, to: u64) -> Option<[u8; 4]> {
    let d = to.wrapping_sub(from_end) as i64;
    i32::try_from(d).ok().map(|d| d.to_le_bytes())
}

/// The instructions after the syscall that fill the rest of a 5-byte jump, if they can
/// all be moved.
fn tail_after(code: &[u8], at: u64, need: u64) -> Option<(Vec<Instruction>, u64)> {
    let mut decoder = Decoder::with_ip(64, code, at, DecoderOptions::NONE);
    let (mut tail, mut covered) = (Vec::new(), 0u64);
    while covered < need {
        if !decoder.can_decode() {
            return None;
        }
        let ins = decoder.decode();
        if ins.is_invalid() || !relocatable(&ins) {
            return None;
        }
        covered += ins.len() as u64;
        tail.push(ins);
    }
    Some((tail, covered))
}

/// Plans the patch of the `syscall` at `site`, its stub at `stub` (whose page starts with
/// the runtime entry's address at `slot`). `window` holds the bytes from `site - BEFORE`.
/// Either the instructions after the syscall move into the stub, or, when what follows
/// cannot move (`syscall; ret`), the `mov $NR,%eax` before it does.
pub fn plan(window: &[u8], site: u64, stub: u64, slot: u64) -> Option<PatchPlan> {
    let code = window.get(BEFORE..)?;
    if code.get(..2) != Some(&[0x0f, 0x05]) {
        return None;
    }
    let mut stub_bytes = Vec::new();
    let (start, head_moved, tail, covered) = match tail_after(&code[2..], site + 2, JMP_LEN - 2) {
        Some((tail, covered)) => (site, false, tail, 2 + covered),
        None if window[BEFORE - 5] == MOV_EAX_IMM => {
            stub_bytes.extend_from_slice(&window[BEFORE - 5..BEFORE]);
            (site - 5, true, Vec::new(), 2)
        }
        None => return None,
    };
    let call_at = stub + stub_bytes.len() as u64;
    stub_bytes.extend_from_slice(&[0x48, 0x8d, 0x64, 0x24, 0x80, 0xff, 0x15]);
    stub_bytes.extend_from_slice(&rel32(call_at + 11, slot)?);
    let traced = stub + stub_bytes.len() as u64;
    stub_bytes.extend_from_slice(&[0x0f, 0x05]);
    let after = traced + 2;
    let mut moved = vec![(site + 2, after)];
    if head_moved {
        moved.push((site, traced));
    }
    if !tail.is_empty() {
        let encoded = BlockEncoder::encode(
            64,
            InstructionBlock::new(&tail, after),
            BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
        )
        .ok()?;
        for (ins, &off) in tail.iter().zip(&encoded.new_instruction_offsets).skip(1) {
            moved.push((ins.ip(), after + off as u64));
        }
        stub_bytes.extend_from_slice(&encoded.code_buffer);
    }
    stub_bytes.push(0xe9);
    let jmp_end = stub + stub_bytes.len() as u64 + 4;
    stub_bytes.extend_from_slice(&rel32(jmp_end, site + covered)?);
    if stub_bytes.len() as u64 > STUB_SIZE {
        return None;
    }
    let mut site_bytes = vec![0xe9];
    site_bytes.extend_from_slice(&rel32(start + JMP_LEN, stub)?);
    // Never executed; a trap if anything ever jumps there.
    site_bytes.resize((site + covered - start) as usize, 0xcc);
    Some(PatchPlan {
        site,
        start,
        site_bytes,
        stub,
        stub_bytes,
        moved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(code: &[u8]) -> Vec<u8> {
        let mut w = vec![0x90; BEFORE];
        w.extend_from_slice(code);
        w
    }

    #[test]
    fn the_usual_libc_site_moves_its_compare() {
        // syscall; cmp $-4095,%rax; jae …
        let code = [
            0x0f, 0x05, 0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff, 0x73, 0x01, 0xc3,
        ];
        let p = plan(
            &window(&code),
            0x7fff_0000_1000,
            0x7fff_0000_8010,
            0x7fff_0000_8000,
        )
        .unwrap();
        assert_eq!(p.site_bytes.len(), 8);
        assert_eq!(p.site_bytes[0], 0xe9);
        assert_eq!(&p.site_bytes[5..], &[0xcc; 3]);
        // The compare is copied as is, after the stub's call and traced syscall.
        assert_eq!(&p.stub_bytes[11..13], &[0x0f, 0x05]);
        assert_eq!(&p.stub_bytes[13..19], &code[2..8]);
        assert_eq!(p.translate(0x7fff_0000_1002), Some(0x7fff_0000_8010 + 13));
        assert_eq!(p.translate(0x7fff_0000_1000), None);
    }

    #[test]
    fn a_branch_after_the_syscall_is_not_moved() {
        // syscall; ret
        let ret = window(&[0x0f, 0x05, 0xc3, 0x90, 0x90, 0x90]);
        assert!(plan(&ret, 0x1000, 0x2000, 0x2000).is_none());
        // syscall; jmp
        let jmp = window(&[0x0f, 0x05, 0xeb, 0x00, 0x90, 0x90]);
        assert!(plan(&jmp, 0x1000, 0x2000, 0x2000).is_none());
    }

    #[test]
    fn short_instructions_are_moved_together() {
        // syscall; mov %eax,%edx; test %eax,%eax; …
        let code = [0x0f, 0x05, 0x89, 0xc2, 0x85, 0xc0, 0x78, 0x02];
        let p = plan(&window(&code), 0x40_1000, 0x7020_0010, 0x7020_0000).unwrap();
        assert_eq!(p.site_bytes.len(), 6);
        assert_eq!(p.moved.len(), 2);
        assert_eq!(p.translate(0x40_1004), Some(0x7020_0010 + 13 + 2));
    }

    #[test]
    fn a_stub_out_of_reach_is_refused() {
        let code = [0x0f, 0x05, 0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff];
        assert!(plan(&window(&code), 0x1000, 0x7fff_0000_0000, 0x7fff_0000_0000).is_none());
    }

    #[test]
    fn a_wrapper_ending_in_ret_moves_its_mov_instead() {
        // mov $0x6e,%eax; syscall; ret (getppid)
        let mut w = vec![0x90; BEFORE - 5];
        w.extend_from_slice(&[0xb8, 0x6e, 0, 0, 0, 0x0f, 0x05, 0xc3, 0x90, 0x90]);
        let (site, stub) = (0x7fff_f7e0_1005, 0x7fff_a000_0010);
        let p = plan(&w, site, stub, 0x7fff_a000_0000).unwrap();
        assert_eq!(p.start, site - 5);
        assert_eq!(p.site_bytes.len(), 7);
        assert_eq!(&p.stub_bytes[..5], &[0xb8, 0x6e, 0, 0, 0]);
        // After the traced syscall the stub jumps back to the `ret`.
        assert_eq!(p.translate(site + 2), Some(stub + 5 + 11 + 2));
        assert_eq!(p.translate(site), Some(stub + 5 + 11));
    }
}
