//! Landmark filters: replay finding, in-process, the pass of a loop at which a thread was
//! preempted while it computed without syscalls.
//!
//! Without a tick counter, the recorder preempts such a thread at a pass through one
//! instruction (the *carrier*) and logs its whole state there: the registers, and the
//! memory words that changed between the two passes before (a loop's counters). A
//! hardware breakpoint would stop the replayed thread at every pass (a ptrace stop each,
//! millions for a hot loop). Instead replay rewrites the carrier into a `jmp` to a stub
//! that saves the registers, compares them and those words with the recorded ones, and
//! traps (`int3`) only when all match; otherwise it runs the carrier, moved into the stub,
//! and jumps back. At the trap the tracer checks the whole state (register and memory
//! hashes), and takes the filter out once it is found.
//!
//! The carrier (`crate::carrier`) is one instruction of at least 5 bytes, or the first
//! instructions of a loop's body where no branch lands after the first, so that the `jmp`
//! covers nothing a branch could land on; it must not depend on where it runs beyond what
//! relocating a `rip`-relative operand fixes (no branch, no call). The stub
//! keeps its registers and its stack in the runtime's stack, which replay never uses and
//! landmark hashes leave out; the stub's own page is read-only, so hashes leave it out too.

use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, Instruction};
use tracee::{Regs, Tracee};

use crate::carrier::{carrier_instructions, JMP_LEN};
use crate::layout::FILTER_DATA;
use crate::runtime_syms::UNTRACED_INSN;
use crate::FastPathError;

/// Memory words a filter compares, at most.
pub const MAX_WORDS: usize = 16;
/// The flags a program's code can see change: CF, PF, AF, ZF, SF, DF, OF.
const FLAGS_MASK: u64 = 0xcd5;

// Where the filter keeps its state, from `FILTER_DATA`: the registers of this pass
// (`SAVED`, 50 words: 16 general-purpose in `GPRS` order, the masked flags, a zero word,
// then xmm0–xmm15), the recorded ones in the same order (`WANTED`), the flags as they
// were, the words to compare, and a small stack of its own.
const SAVED: u64 = FILTER_DATA;
const WANTED: u64 = FILTER_DATA + 0x200;
const RAW_FLAGS: u64 = FILTER_DATA + 0x400;
const WORD_COUNT: u64 = FILTER_DATA + 0x408;
const WORDS: u64 = FILTER_DATA + 0x410;
const STACK_TOP: u64 = FILTER_DATA + 0x2000;
const COMPARED_WORDS: u32 = 50;
const SLOT_FLAGS: u64 = 16;
const SLOT_XMM: u64 = 18;

const _: () = assert!(WORDS + (MAX_WORDS as u64) * 16 <= STACK_TOP - 0x100);

/// The general-purpose registers in the order the filter saves them.
const GPRS: [AsmRegister64; 16] = [
    rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8, r9, r10, r11, r12, r13, r14, r15,
];
const XMMS: [AsmRegisterXmm; 16] = [
    xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13, xmm14,
    xmm15,
];

fn gpr_values(r: &Regs) -> [u64; 16] {
    [
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11, r.r12,
        r.r13, r.r14, r.r15,
    ]
}

fn set_gprs(r: &mut Regs, v: &[u64; 16]) {
    [
        r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11, r.r12,
        r.r13, r.r14, r.r15,
    ] = *v;
}

/// The general-purpose registers that differ between two passes, one bit each in the
/// order `Key::Reg` counts them.
pub fn changed_regs(before: &Regs, now: &Regs) -> u32 {
    let (a, b) = (gpr_values(before), gpr_values(now));
    (0..16).filter(|&i| a[i] != b[i]).map(|i| 1 << i).sum()
}

/// The one value a filter checks first, without touching the flags or the stack, before
/// it saves and compares everything (most passes differ there, and go on at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A general-purpose register (index in rax rbx rcx rdx rsi rdi rbp rsp r8..r15).
    Reg(usize, u64),
    /// A memory word.
    Word(u64, u64),
}

impl Key {
    /// The key of a recorded state: a register that changed between the two passes before
    /// it, or else a watched word.
    pub fn of(w: &Wanted<'_>) -> Option<Key> {
        let values = gpr_values(w.regs);
        (0..16)
            .find(|i| w.changed_regs & (1 << i) != 0)
            .map(|i| Key::Reg(i, values[i]))
            .or_else(|| w.words.first().map(|&(a, v)| Key::Word(a, v)))
    }
}

/// What arming a filter writes: the bytes over the carrier, the stub, and where its trap is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterPlan {
    pub site: u64,
    pub site_bytes: Vec<u8>,
    pub stub: u64,
    pub stub_bytes: Vec<u8>,
    /// The address right after the stub's `int3`: a thread trapped there is at a match.
    pub trapped_at: u64,
}

/// Plans the filter of the carrier at `site` (`code` holds its bytes; `run_len`: the
/// bytes of a run, 0 for one instruction) with its stub at `stub`; `None` if it cannot
/// carry one or the stub is out of reach.
pub fn plan(
    code: &[u8],
    site: u64,
    run_len: u8,
    stub: u64,
    key: Option<Key>,
) -> Option<FilterPlan> {
    let carrier = carrier_instructions(code, site, run_len)?;
    let (stub_bytes, trapped_at) = assemble_stub(&carrier, stub, key).ok()?;
    let rel = i32::try_from(stub.wrapping_sub(site + JMP_LEN as u64) as i64).ok()?;
    let mut site_bytes = vec![0xe9];
    site_bytes.extend_from_slice(&rel.to_le_bytes());
    // Never executed: nothing jumps past the carrier's start (checked for a run).
    let len = carrier.iter().map(|i| i.len()).sum();
    site_bytes.resize(len, 0xcc);
    Some(FilterPlan {
        site,
        site_bytes,
        stub,
        stub_bytes,
        trapped_at,
    })
}

/// Adds the carrier's instructions and the `jmp` back after them. `copy`: a second copy
/// in one stub (the encoder wants each instruction's address once; a `rip`-relative
/// operand keeps its target whatever the copy's address).
fn run_carrier(
    a: &mut CodeAssembler,
    carrier: &[Instruction],
    copy: bool,
) -> Result<(), IcedError> {
    for ins in carrier {
        let mut ins = *ins;
        if copy {
            ins.set_ip(ins.ip() | COPY_BIT);
        }
        a.add_instruction(ins)?;
    }
    let end = carrier.last().map_or(0, |i| i.next_ip());
    a.jmp(end)
}

/// Marks the addresses of a carrier's second copy (no user address has it).
const COPY_BIT: u64 = 1 << 62;

fn at(addr: u64) -> AsmMemoryOperand {
    qword_ptr(addr)
}

/// The key's check: `rcx` gets the key's value minus the recorded one (`lea` and `jrcxz`
/// leave the flags alone); equal goes to `full`, anything else runs the carrier and on.
fn check_key(
    a: &mut CodeAssembler,
    key: Key,
    carrier: &[Instruction],
    full: CodeLabel,
) -> Result<(), IcedError> {
    let slot = |reg: AsmRegister64| {
        let i = GPRS.iter().position(|&r| r == reg).expect("listed") as u64;
        at(SAVED + 8 * i)
    };
    a.mov(slot(rcx), rcx)?;
    a.mov(slot(rax), rax)?;
    let wanted = match key {
        Key::Reg(i, v) => {
            a.mov(rcx, GPRS[i])?;
            v
        }
        Key::Word(addr, v) => {
            a.mov(rax, addr)?;
            a.mov(rcx, qword_ptr(rax))?;
            v
        }
    };
    a.mov(rax, wanted.wrapping_neg())?;
    a.lea(rcx, qword_ptr(rcx + rax))?;
    a.jrcxz(full)?;
    a.mov(rcx, slot(rcx))?;
    a.mov(rax, slot(rax))?;
    run_carrier(a, carrier, true)
}

fn assemble_stub(
    carrier: &[Instruction],
    stub: u64,
    key: Option<Key>,
) -> Result<(Vec<u8>, u64), IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut hit = a.create_label();
    let mut miss = a.create_label();
    let mut next_word = a.create_label();
    let mut full = a.create_label();
    if let Some(key) = key {
        check_key(&mut a, key, carrier, full)?;
        a.set_label(&mut full)?;
        for reg in [rcx, rax] {
            let i = GPRS.iter().position(|&r| r == reg).expect("listed") as u64;
            a.mov(reg, at(SAVED + 8 * i))?;
        }
    }
    // Save this pass's registers (no instruction here changes the flags before pushfq).
    a.mov(at(SAVED + 7 * 8), rsp)?;
    a.mov(rsp, STACK_TOP as i64)?;
    a.pushfq()?;
    a.pop(at(RAW_FLAGS))?;
    for (i, &reg) in GPRS.iter().enumerate() {
        if reg != rsp {
            a.mov(at(SAVED + 8 * i as u64), reg)?;
        }
    }
    for (i, &x) in XMMS.iter().enumerate() {
        a.movdqu(xmmword_ptr(SAVED + 8 * SLOT_XMM + 16 * i as u64), x)?;
    }
    a.mov(rax, at(RAW_FLAGS))?;
    a.and(rax, FLAGS_MASK as i32)?;
    a.mov(at(SAVED + 8 * SLOT_FLAGS), rax)?;
    // Compare them with the recorded ones, then the memory words.
    a.cld()?;
    a.mov(esi, SAVED as u32)?;
    a.mov(edi, WANTED as u32)?;
    a.mov(ecx, COMPARED_WORDS)?;
    a.repe().cmpsq()?;
    a.jne(miss)?;
    a.mov(ecx, dword_ptr(WORD_COUNT))?;
    a.mov(esi, WORDS as u32)?;
    a.set_label(&mut next_word)?;
    a.test(ecx, ecx)?;
    a.jz(hit)?;
    a.mov(rdi, qword_ptr(rsi))?;
    a.mov(rax, qword_ptr(rdi))?;
    a.cmp(rax, qword_ptr(rsi + 8))?;
    a.jne(miss)?;
    a.add(rsi, 16)?;
    a.dec(ecx)?;
    a.jmp(next_word)?;
    a.set_label(&mut hit)?;
    a.int3()?;
    // Not the pass: the registers back as they were, the carrier, and on.
    a.set_label(&mut miss)?;
    a.push(at(RAW_FLAGS))?;
    a.popfq()?;
    for reg in [rax, rcx, rsi, rdi] {
        let i = GPRS.iter().position(|&r| r == reg).expect("listed") as u64;
        a.mov(reg, at(SAVED + 8 * i))?;
    }
    a.mov(rsp, at(SAVED + 7 * 8))?;
    run_carrier(&mut a, carrier, false)?;
    let out = a.assemble_options(stub, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let trapped_at = out.label_ip(&hit)? + 1;
    Ok((out.inner.code_buffer, trapped_at))
}

/// The recorded state a filter looks for.
pub struct Wanted<'a> {
    pub regs: &'a Regs,
    /// The FXSAVE area (xmm0–xmm15 are compared in-process).
    pub fpregs: &'a [u8],
    pub words: &'a [(u64, u64)],
    /// The registers that changed between the two passes before (see `Key::of`).
    pub changed_regs: u32,
    /// The bytes of the carrier's run (0: one instruction; see `carrier`).
    pub run_len: u8,
}

fn wanted_block(w: &Wanted<'_>) -> Vec<u8> {
    let mut words = [0u64; COMPARED_WORDS as usize];
    words[..16].copy_from_slice(&gpr_values(w.regs));
    words[SLOT_FLAGS as usize] = w.regs.eflags & FLAGS_MASK;
    for (i, chunk) in w.fpregs.get(160..416).unwrap_or(&[]).chunks(8).enumerate() {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        words[SLOT_XMM as usize + i] = u64::from_le_bytes(b);
    }
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// A filter in place in a replayed process.
#[derive(Debug, Clone)]
pub struct ArmedFilter {
    pub plan: FilterPlan,
    original: Vec<u8>,
    page: u64,
}

const PAGE: u64 = 0x1000;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
/// How far from its carrier a stub page may be (a `jmp rel32` reaches 2 GiB).
const STUB_REACH: u64 = 0x7000_0000;
/// Free pages tried for a stub, nearest first.
const PAGE_TRIES: usize = 4;

/// Arms a filter on the carrier at `site` in a process whose runtime is mapped, the thread
/// stopped with `regs` at a syscall exit, an event or a signal stop (not at a syscall
/// entry: the call made to map the stub's page would take that syscall's place). `None`:
/// the carrier cannot take one (not read-only code, or no page for a stub within reach).
pub fn arm(
    tracee: &mut Tracee,
    regs: &Regs,
    site: u64,
    wanted: &Wanted<'_>,
) -> Result<Option<ArmedFilter>, FastPathError> {
    if wanted.words.len() > MAX_WORDS || !in_read_only_code(tracee.pid(), site) {
        return Ok(None);
    }
    let code = tracee.read_mem_partial(site, 32)?;
    let Some(carrier) = carrier_instructions(&code, site, wanted.run_len) else {
        return Ok(None);
    };
    let end = carrier.last().map_or(site, |i| i.next_ip());
    if (site + 1..end).contains(&regs.rip) {
        // The thread would go on inside the `jmp`.
        return Ok(None);
    }
    let Some((page, plan)) = map_stub_page(tracee, regs, &code, site, wanted)? else {
        return Ok(None);
    };
    let mut data = vec![0u8; (WANTED - SAVED) as usize];
    data.extend_from_slice(&wanted_block(wanted));
    tracee.write_mem(SAVED, &data)?;
    let mut words = Vec::with_capacity(8 + wanted.words.len() * 16);
    words.extend_from_slice(&(wanted.words.len() as u64).to_le_bytes());
    for &(addr, value) in wanted.words {
        words.extend_from_slice(&addr.to_le_bytes());
        words.extend_from_slice(&value.to_le_bytes());
    }
    tracee.write_mem(WORD_COUNT, &words)?;
    tracee.write_mem(plan.stub, &plan.stub_bytes)?;
    let original = code[..plan.site_bytes.len()].to_vec();
    tracee.write_mem(site, &plan.site_bytes)?;
    Ok(Some(ArmedFilter {
        plan,
        original,
        page,
    }))
}

/// Free pages within reach of `site`, nearest first: the edge of each hole between the
/// process's mappings that faces the site.
fn free_pages_near(pid: i32, site: u64) -> Vec<u64> {
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return Vec::new();
    };
    let mut taken: Vec<(u64, u64)> = maps
        .lines()
        .filter_map(|l| {
            let (a, b) = l.split_whitespace().next()?.split_once('-')?;
            Some((
                u64::from_str_radix(a, 16).ok()?,
                u64::from_str_radix(b, 16).ok()?,
            ))
        })
        .collect();
    taken.sort_unstable();
    let mut pages: Vec<u64> = taken
        .windows(2)
        .filter(|w| w[1].0 >= w[0].1 + PAGE)
        .map(|w| {
            let (hole_start, hole_end) = (w[0].1, w[1].0);
            if hole_end <= site {
                hole_end - PAGE
            } else {
                hole_start.max(site & !(PAGE - 1)).min(hole_end - PAGE)
            }
        })
        .filter(|&p| p >= 0x1_0000 && p.abs_diff(site) < STUB_REACH)
        .collect();
    pages.sort_by_key(|p| p.abs_diff(site));
    pages
}

fn map_stub_page(
    tracee: &mut Tracee,
    regs: &Regs,
    code: &[u8],
    site: u64,
    wanted: &Wanted<'_>,
) -> Result<Option<(u64, FilterPlan)>, FastPathError> {
    let key = Key::of(wanted);
    let prot = (libc::PROT_READ | libc::PROT_EXEC) as u64;
    let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64 | MAP_FIXED_NOREPLACE;
    let mut found = None;
    for page in free_pages_near(tracee.pid(), site)
        .into_iter()
        .take(PAGE_TRIES)
    {
        let Some(plan) = plan(code, site, wanted.run_len, page, key) else {
            continue;
        };
        let args = [page, PAGE, prot, flags, u64::MAX, 0];
        let at = tracee.inject_syscall(regs, UNTRACED_INSN, libc::SYS_mmap, &args)?;
        if at as u64 == page {
            found = Some((page, plan));
            break;
        }
    }
    tracee.set_regs(regs)?;
    tracee.resend_deferred_signals()?;
    Ok(found)
}

impl ArmedFilter {
    /// True for addresses in the filter's stub page.
    pub fn holds(&self, rip: u64) -> bool {
        (self.page..self.page + PAGE).contains(&rip)
    }

    /// True when the thread, stopped by a `SIGTRAP` with `rip`, trapped at this filter.
    pub fn trapped(&self, rip: u64) -> bool {
        rip == self.plan.trapped_at
    }

    /// The program's registers at the pass the thread trapped at (`now`: its registers in
    /// the stub): as they were at the carrier.
    pub fn program_regs(&self, tracee: &mut Tracee, now: &Regs) -> Result<Regs, FastPathError> {
        let bytes = tracee.read_mem(SAVED, 16 * 8)?;
        let mut gprs = [0u64; 16];
        for (w, b) in gprs.iter_mut().zip(bytes.chunks(8)) {
            *w = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        }
        let flags = tracee.read_mem(RAW_FLAGS, 8)?;
        let mut r = *now;
        set_gprs(&mut r, &gprs);
        r.eflags = u64::from_le_bytes(flags.try_into().expect("8 bytes"));
        r.rip = self.plan.site;
        Ok(r)
    }

    /// Takes the filter out: the carrier's bytes back, the stub page unmapped. The thread
    /// is stopped; it gets `regs` back.
    pub fn disarm(&self, tracee: &mut Tracee, regs: &Regs) -> Result<(), FastPathError> {
        tracee.write_mem(self.plan.site, &self.original)?;
        let r = tracee.inject_syscall(regs, UNTRACED_INSN, libc::SYS_munmap, &[self.page, PAGE]);
        tracee.set_regs(regs)?;
        tracee.resend_deferred_signals()?;
        r?;
        Ok(())
    }
}

/// Whether `addr` is in an executable mapping that is not writable (code nothing rewrites
/// at run time, whose bytes landmark hashes leave out).
pub fn in_read_only_code(pid: i32, addr: u64) -> bool {
    crate::space::in_code(pid, addr, 16, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Mnemonic};

    #[test]
    fn a_long_store_carries_a_filter_and_moves_into_the_stub() {
        // mov %rax,0x2e49(%rip)
        let code = [0x48, 0x89, 0x05, 0x49, 0x2e, 0x00, 0x00, 0x90, 0x90];
        let (site, stub) = (0x5555_5555_51f8, 0x5555_5545_5000);
        let p = plan(&code, site, 0, stub, None).unwrap();
        assert_eq!(p.site_bytes.len(), 7);
        assert_eq!(p.site_bytes[0], 0xe9);
        assert_eq!(&p.site_bytes[5..], &[0xcc, 0xcc]);
        assert!(p.trapped_at > stub && p.trapped_at < stub + p.stub_bytes.len() as u64);
        assert_eq!(p.stub_bytes[(p.trapped_at - stub - 1) as usize], 0xcc);
        // The moved store still writes the same global, from its new place.
        let moved = find_moved(&p, 0x89);
        let target = site + 7 + 0x2e49;
        assert_eq!(moved.ip_rel_memory_address(), target);
    }

    #[test]
    fn a_key_is_checked_first_without_the_flags() {
        let code = [0x48, 0x89, 0x05, 0x49, 0x2e, 0x00, 0x00];
        let (site, stub) = (0x5555_5555_51f8, 0x5555_5545_5000);
        let keyed = plan(&code, site, 0, stub, Some(Key::Reg(3, 5))).unwrap();
        let plain = plan(&code, site, 0, stub, None).unwrap();
        assert!(keyed.stub_bytes.len() > plain.stub_bytes.len());
        let mut d = Decoder::with_ip(64, &keyed.stub_bytes, stub, DecoderOptions::NONE);
        let first: Vec<Mnemonic> = (0..7).map(|_| d.decode().mnemonic()).collect();
        assert_eq!(
            first,
            [
                Mnemonic::Mov,
                Mnemonic::Mov,
                Mnemonic::Mov,
                Mnemonic::Mov,
                Mnemonic::Lea,
                Mnemonic::Jrcxz,
                Mnemonic::Mov
            ]
        );
        // Both copies of the carrier store to the same global.
        let mut d = Decoder::with_ip(64, &keyed.stub_bytes, stub, DecoderOptions::NONE);
        let stores: Vec<u64> = std::iter::from_fn(|| d.can_decode().then(|| d.decode()))
            .filter(|i| i.is_ip_rel_memory_operand())
            .map(|i| i.ip_rel_memory_address())
            .collect();
        assert_eq!(stores, [site + 7 + 0x2e49; 2]);
        // The key's value is in the stub, negated for the `lea`.
        let neg = 5u64.wrapping_neg().to_le_bytes();
        assert!(keyed.stub_bytes.windows(8).any(|w| w == neg));
    }

    #[test]
    fn the_key_is_a_changed_register_or_else_a_word() {
        // SAFETY: user_regs_struct is plain integers; all zeros is a valid value.
        let mut r: Regs = unsafe { std::mem::zeroed() };
        r.rdx = 42;
        let words = [(0x4048, 9)];
        let w = |changed_regs| Wanted {
            regs: &r,
            fpregs: &[],
            words: &words,
            changed_regs,
            run_len: 0,
        };
        assert_eq!(Key::of(&w(1 << 3)), Some(Key::Reg(3, 42)));
        assert_eq!(Key::of(&w(0)), Some(Key::Word(0x4048, 9)));
    }

    fn find_moved(p: &FilterPlan, opcode: u8) -> Instruction {
        let mut d = Decoder::with_ip(64, &p.stub_bytes, p.stub, DecoderOptions::NONE);
        let mut last = None;
        while d.can_decode() {
            let i = d.decode();
            if i.is_ip_rel_memory_operand()
                && p.stub_bytes[(i.ip() - p.stub) as usize + 1] == opcode
            {
                last = Some(i);
            }
        }
        last.expect("the carrier is in the stub")
    }

    #[test]
    fn a_run_of_short_instructions_moves_whole_and_the_stub_goes_on_after_it() {
        // imul %rcx,%rax; add %rdx,%rax; add $1,%rdx
        let code = [
            0x48, 0x0f, 0xaf, 0xc1, 0x48, 0x01, 0xd0, 0x48, 0x83, 0xc2, 0x01,
        ];
        let (site, stub) = (0x5555_5555_5100, 0x5555_5545_5000);
        assert!(plan(&code, site, 0, stub, None).is_none());
        let p = plan(&code, site, 7, stub, Some(Key::Reg(0, 1))).unwrap();
        assert_eq!(p.site_bytes.len(), 7);
        let mut d = Decoder::with_ip(64, &p.stub_bytes, stub, DecoderOptions::NONE);
        let all: Vec<Instruction> =
            std::iter::from_fn(|| d.can_decode().then(|| d.decode())).collect();
        let imuls = all
            .iter()
            .filter(|i| i.mnemonic() == Mnemonic::Imul)
            .count();
        assert_eq!(
            imuls, 2,
            "the run in the key's miss path and in the full check's"
        );
        let back: Vec<u64> = all
            .iter()
            .filter(|i| i.mnemonic() == Mnemonic::Jmp)
            .map(|i| i.near_branch_target())
            .filter(|&t| t == site + 7)
            .collect();
        assert_eq!(back.len(), 2);
    }

    #[test]
    fn the_wanted_block_holds_masked_flags_and_the_xmm_registers() {
        // SAFETY: user_regs_struct is plain integers; all zeros is a valid value.
        let mut r: Regs = unsafe { std::mem::zeroed() };
        r.rax = 7;
        r.rsp = 0x7ffe_0000;
        r.eflags = 0x10246; // RF, IF, ZF, PF and the reserved bit
        let mut fp = vec![0u8; 512];
        fp[160] = 0xab;
        fp[415] = 0xcd;
        let b = wanted_block(&Wanted {
            regs: &r,
            fpregs: &fp,
            words: &[],
            changed_regs: 0,
            run_len: 0,
        });
        let word = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!(b.len(), COMPARED_WORDS as usize * 8);
        assert_eq!(word(0), 7);
        assert_eq!(word(7), 0x7ffe_0000);
        assert_eq!(word(SLOT_FLAGS as usize), 0x44);
        assert_eq!(word(SLOT_XMM as usize), 0xab);
        assert_eq!(word(COMPARED_WORDS as usize - 1), 0xcd << 56);
    }
}
