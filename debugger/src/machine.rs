//! What the debugger reads from and writes to a stopped thread beyond the replay's API:
//! debug registers, int3 bytes, the bytes a rewritten syscall site had in its file, and
//! where a thread stepping into a rewritten site comes back to its own code.

use std::fs::File;
use std::os::unix::fs::FileExt;

use iced_x86::{Decoder, DecoderOptions, FlowControl};

/// `offsetof(struct user, u_debugreg)` on x86-64.
const DEBUGREG_OFFSET: usize = 848;

pub fn peek_debugreg(pid: i32, n: usize) -> u64 {
    // SAFETY: PTRACE_PEEKUSER with an offset into `struct user`; errors give -1.
    unsafe {
        libc::ptrace(
            libc::PTRACE_PEEKUSER,
            pid,
            (DEBUGREG_OFFSET + n * 8) as *mut libc::c_void,
            std::ptr::null_mut::<libc::c_void>(),
        ) as u64
    }
}

pub fn poke_debugreg(pid: i32, n: usize, value: u64) -> bool {
    // SAFETY: PTRACE_POKEUSER with an offset into `struct user` and an integer value.
    unsafe {
        libc::ptrace(
            libc::PTRACE_POKEUSER,
            pid,
            (DEBUGREG_OFFSET + n * 8) as *mut libc::c_void,
            value as usize as *mut libc::c_void,
        ) == 0
    }
}

/// The `si_code` of the signal a thread is stopped for.
pub fn si_code(pid: i32) -> i32 {
    siginfo(pid).map_or(0, |info| {
        i32::from_le_bytes(info[8..12].try_into().expect("4 bytes"))
    })
}

/// The `si_code` and faulting address of the fault a thread is stopped for.
pub fn fault_info(pid: i32) -> Option<(i32, u64)> {
    let info = siginfo(pid)?;
    let code = i32::from_le_bytes(info[8..12].try_into().expect("4 bytes"));
    let addr = u64::from_le_bytes(info[16..24].try_into().expect("8 bytes"));
    Some((code, addr))
}

/// The siginfo of the signal a thread is stopped for.
pub fn siginfo(pid: i32) -> Option<[u8; 128]> {
    let mut info = [0u8; 128];
    // SAFETY: PTRACE_GETSIGINFO fills a 128-byte siginfo.
    let ok = unsafe {
        libc::ptrace(
            libc::PTRACE_GETSIGINFO,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            info.as_mut_ptr() as *mut libc::c_void,
        )
    } == 0;
    ok.then_some(info)
}

/// A process's memory, opened once for several reads and writes (int3s at many places).
pub struct Memory(File);

impl Memory {
    pub fn open(pid: i32) -> Option<Memory> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{pid}/mem"))
            .ok()
            .map(Memory)
    }

    pub fn read(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        let mut got = 0;
        while got < len {
            match self.0.read_at(&mut buf[got..], addr + got as u64) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        buf.truncate(got);
        buf
    }

    pub fn write(&self, addr: u64, data: &[u8]) -> bool {
        self.0
            .write_at(data, addr)
            .map(|n| n == data.len())
            .unwrap_or(false)
    }
}

pub fn read_mem(pid: i32, addr: u64, len: usize) -> Vec<u8> {
    let Ok(f) = File::open(format!("/proc/{pid}/mem")) else {
        return Vec::new();
    };
    Memory(f).read(addr, len)
}

pub fn write_mem(pid: i32, addr: u64, data: &[u8]) -> bool {
    Memory::open(pid).is_some_and(|m| m.write(addr, data))
}

/// One line of /proc/PID/maps.
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub perms: String,
}

pub fn mappings(pid: i32) -> Vec<Mapping> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (a, b) = parts.next()?.split_once('-')?;
            let perms = parts.next()?.to_string();
            Some(Mapping {
                start: u64::from_str_radix(a, 16).ok()?,
                end: u64::from_str_radix(b, 16).ok()?,
                perms,
            })
        })
        .collect()
}

/// A page of stubs: it starts with the address of the runtime's entry.
fn in_stub_page(maps: &[Mapping], pid: i32, addr: u64) -> Option<u64> {
    if fastpath::space::in_runtime(addr) {
        return None;
    }
    let m = maps
        .iter()
        .find(|m| m.start <= addr && addr < m.end)
        .filter(|m| m.perms.starts_with("r-x"))?;
    let page = addr & !(fastpath::layout::STUB_PAGE_SIZE - 1);
    let first = read_mem(pid, page.max(m.start), 8);
    let entry = u64::from_le_bytes(first.try_into().ok()?);
    fastpath::space::in_runtime_code(entry).then_some(page)
}

/// The bytes a syscall site had before the fast path rewrote it, from its logged rewrite
/// (read from memory right before the replay applies it): where they start, and them.
pub fn original_site_bytes(pid: i32, p: &schema::SitePatch) -> Option<(u64, Vec<u8>)> {
    let slot = p.stub & !(fastpath::layout::STUB_PAGE_SIZE - 1);
    let from = p.site - fastpath::patch::BEFORE as u64;
    let code = read_mem(pid, from, fastpath::patch::SITE_WINDOW);
    let plan = fastpath::patch::plan(&code, p.site, p.stub, slot)?;
    let at = (plan.start - from) as usize;
    let bytes = code.get(at..at + plan.site_bytes.len())?.to_vec();
    Some((plan.start, bytes))
}

/// A thread about to step at `rip`: if the instruction there is the jump of a rewritten
/// syscall site (or the thread is inside a stub), where its stub jumps back to the code.
pub fn site_return(pid: i32, rip: u64) -> Option<u64> {
    let code = read_mem(pid, rip, 5);
    let maps = mappings(pid);
    let site_jump = (code.first() == Some(&0xe9) && code.len() == 5)
        .then(|| {
            let rel = i32::from_le_bytes(code[1..5].try_into().expect("4 bytes"));
            (rip + 5).wrapping_add(rel as i64 as u64)
        })
        .filter(|&target| in_stub_page(&maps, pid, target).is_some());
    // (A stub's own jump back is an `e9` too, to the program's code.)
    let stub = if let Some(target) = site_jump {
        target
    } else {
        let page = in_stub_page(&maps, pid, rip)?;
        let header = fastpath::layout::STUB_PAGE_HEADER;
        let size = fastpath::layout::STUB_SIZE;
        page + header + (rip - page - header) / size * size
    };
    let page = stub & !(fastpath::layout::STUB_PAGE_SIZE - 1);
    let bytes = read_mem(pid, stub, fastpath::layout::STUB_SIZE as usize);
    let mut decoder = Decoder::with_ip(64, &bytes, stub, DecoderOptions::NONE);
    while decoder.can_decode() {
        let ins = decoder.decode();
        if ins.flow_control() == FlowControl::UnconditionalBranch {
            let to = ins.near_branch_target();
            if !(page..page + fastpath::layout::STUB_PAGE_SIZE).contains(&to) {
                return Some(to);
            }
        }
    }
    None
}

/// Whether the instruction at `rip` is `syscall`.
pub fn at_syscall_insn(pid: i32, rip: u64) -> bool {
    read_mem(pid, rip, 2) == [0x0f, 0x05]
}
