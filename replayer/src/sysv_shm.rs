//! SysV shared memory at replay: the recorded segment does not exist here, so `shmat` and
//! `shmdt` are not run. An attach maps the segment's replay file (shared by every
//! attachment, in this process or another, like a shared file's); a detach unmaps what
//! the kernel's `shmdt` would have unmapped.

use std::path::Path;

use schema::SyscallEvent;
use tracee::{Regs, Tracee};

use crate::mem::{read_copy, SharedFiles};
use crate::ReplayError;

const SHM_RDONLY: u64 = 0o10000;
const SHM_EXEC: u64 = 0o100000;

/// Calls replay does itself instead of the kernel.
pub fn replayed_by_hand(nr: u64) -> bool {
    nr == libc::SYS_shmat as u64 || nr == libc::SYS_shmdt as u64
}

/// At the exit of a skipped `shmat` or `shmdt` (the tracee has the registers `regs`, its
/// result already set), does what the call did when recorded.
pub fn finish(
    tracee: &mut Tracee,
    regs: &Regs,
    ev: &SyscallEvent,
    trace_dir: &Path,
    shared: &mut SharedFiles,
) -> Result<(), ReplayError> {
    if ev.result < 0 {
        return Ok(());
    }
    let r = if ev.number == libc::SYS_shmat as u64 {
        attach(tracee, regs, ev, trace_dir, shared)
    } else {
        detach(tracee, regs, ev.args[0], shared)
    };
    tracee.set_regs(regs)?;
    tracee.resend_deferred_signals()?;
    r
}

fn attach(
    tracee: &mut Tracee,
    regs: &Regs,
    ev: &SyscallEvent,
    trace_dir: &Path,
    shared: &mut SharedFiles,
) -> Result<(), ReplayError> {
    let Some(mapping) = &ev.mapping else {
        return Err(ReplayError::Setup(format!(
            "the trace does not say what shmat attached at {:#x}",
            ev.result
        )));
    };
    let (addr, len) = (ev.result as u64, mapping.length);
    let mut prot = libc::PROT_READ as u64;
    if ev.args[2] & SHM_RDONLY == 0 {
        prot |= libc::PROT_WRITE as u64;
    }
    if ev.args[2] & SHM_EXEC != 0 {
        prot |= libc::PROT_EXEC as u64;
    }
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let anon = (libc::MAP_SHARED | libc::MAP_FIXED | libc::MAP_ANONYMOUS) as u64;
    let insn = regs.rip - 2;
    let r = tracee.inject_syscall(
        regs,
        insn,
        libc::SYS_mmap,
        &[addr, len, rw, anon, u64::MAX, 0],
    )?;
    if r as u64 != addr {
        return Err(ReplayError::Setup(format!(
            "could not map the SysV segment at {addr:#x} again: error {}",
            -r
        )));
    }
    let data = read_copy(mapping, trace_dir)?;
    // The segment as an mmap of its replay file would be.
    let as_mmap = SyscallEvent {
        args: [addr, len, prot, libc::MAP_SHARED as u64, 0, 0],
        ..ev.clone()
    };
    if let Err(why) = shared.map(tracee, regs, &as_mmap, mapping, &data) {
        shared.warn_once(&why);
        tracee.write_mem(addr, &data)?;
        tracee.inject_syscall(regs, insn, libc::SYS_mprotect, &[addr, len, prot])?;
    }
    Ok(())
}

/// Unmaps, as the kernel's `shmdt(addr)` does, the first segment mapping at or after `addr`
/// whose offset in the segment equals its distance from `addr`, and every later mapping of
/// the same segment in the same relation that ends within the segment's size from `addr`.
fn detach(
    tracee: &mut Tracee,
    regs: &Regs,
    addr: u64,
    shared: &SharedFiles,
) -> Result<(), ReplayError> {
    let maps =
        std::fs::read_to_string(format!("/proc/{}/maps", tracee.pid())).map_err(|source| {
            ReplayError::Io {
                what: "reading the replayed program's mappings for shmdt".to_string(),
                source,
            }
        })?;
    let in_place = |v: &Vma| v.start >= addr && v.start - addr == v.offset;
    let mut segment: Option<((u64, u64), u64)> = None;
    let mut doomed = Vec::new();
    for v in maps.lines().filter_map(Vma::parse).filter(|v| v.end > addr) {
        match segment {
            None => {
                if let Some(size) = shared.sysv_segment_size(v.dev, v.ino) {
                    if in_place(&v) {
                        segment = Some(((v.dev, v.ino), size.div_ceil(4096) * 4096));
                        doomed.push(v);
                    }
                }
            }
            Some((file, size)) => {
                if v.end - addr > size {
                    break;
                }
                if (v.dev, v.ino) == file && in_place(&v) {
                    doomed.push(v);
                }
            }
        }
    }
    for v in doomed {
        let r = tracee.inject_syscall(
            regs,
            regs.rip - 2,
            libc::SYS_munmap,
            &[v.start, v.end - v.start],
        )?;
        if r != 0 {
            return Err(ReplayError::Setup(format!(
                "could not detach the SysV segment at {:#x}: error {}",
                v.start, -r
            )));
        }
    }
    Ok(())
}

struct Vma {
    start: u64,
    end: u64,
    offset: u64,
    dev: u64,
    ino: u64,
}

impl Vma {
    fn parse(line: &str) -> Option<Vma> {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (start, end) = cols.first()?.split_once('-')?;
        let (major, minor) = cols.get(3)?.split_once(':')?;
        Some(Vma {
            start: u64::from_str_radix(start, 16).ok()?,
            end: u64::from_str_radix(end, 16).ok()?,
            offset: u64::from_str_radix(cols.get(2)?, 16).ok()?,
            dev: libc::makedev(
                u32::from_str_radix(major, 16).ok()?,
                u32::from_str_radix(minor, 16).ok()?,
            ),
            ino: cols.get(4)?.parse().ok()?,
        })
    }
}
