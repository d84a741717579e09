//! mmap at replay: every mapping is made again at its recorded address; a file mapping
//! becomes anonymous memory (shared if it was) filled with the bytes kept in the trace.

use std::path::Path;

use schema::SyscallEvent;
use tracee::{Regs, Tracee};

use crate::ReplayError;

const MAP_TYPE_MASK: u64 = 0x03; // MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE
const DROPPED_FLAGS: u64 = (libc::MAP_FIXED_NOREPLACE | libc::MAP_HUGETLB | libc::MAP_SYNC) as u64;

/// Rewrites the mmap the tracee is entering so that it lands where it did when recorded.
/// Shared memory stays shared (a parent and its forked children see each other's writes
/// through it, anonymous or a file's); everything else becomes private anonymous memory.
/// A file mapping that the recorded bytes cannot be written into as it is (shared and not
/// writable, or `PROT_NONE`) is made readable and writable for its filling, and
/// `finish_mapping` puts its protection back.
pub fn prepare_mmap(regs: &mut Regs, ev: &SyscallEvent) {
    let flags = regs.r10;
    let kind = if is_shared(flags) {
        libc::MAP_SHARED
    } else {
        libc::MAP_PRIVATE
    };
    regs.rdi = ev.result as u64;
    regs.r10 = (flags & !(MAP_TYPE_MASK | DROPPED_FLAGS))
        | (kind | libc::MAP_FIXED | libc::MAP_ANONYMOUS) as u64;
    regs.r8 = u64::MAX; // fd -1
    regs.r9 = 0;
    if filled_writable(ev) {
        regs.rdx |= (libc::PROT_READ | libc::PROT_WRITE) as u64;
    }
}

fn is_shared(flags: u64) -> bool {
    flags & libc::MAP_SHARED as u64 != 0
}

/// A file mapping filled through a temporarily writable mapping.
fn filled_writable(ev: &SyscallEvent) -> bool {
    let prot = ev.args[2] as i32;
    ev.mapping.is_some()
        && ((is_shared(ev.args[3]) && prot & libc::PROT_WRITE == 0)
            || prot & (libc::PROT_READ | libc::PROT_WRITE) == 0)
}

/// Puts back the arguments `prepare_mmap` changed: the program sees its registers as it left them.
pub fn restore_args(regs: &mut Regs, ev: &SyscallEvent) {
    regs.rdi = ev.args[0];
    regs.rdx = ev.args[2];
    regs.r10 = ev.args[3];
    regs.r8 = ev.args[4];
    regs.r9 = ev.args[5];
}

/// Fills a replayed file mapping and gives it its recorded protection; the tracee is at the
/// mmap's exit with the registers `regs` (the program's), which are put back afterwards.
pub fn finish_mapping(
    tracee: &mut Tracee,
    regs: &Regs,
    ev: &SyscallEvent,
    trace_dir: &Path,
) -> Result<(), ReplayError> {
    fill_mapping(tracee, ev, trace_dir)?;
    if filled_writable(ev) {
        let (addr, len, prot) = (ev.result as u64, ev.args[1], ev.args[2]);
        let r =
            tracee.inject_syscall(regs, regs.rip - 2, libc::SYS_mprotect, &[addr, len, prot])?;
        tracee.set_regs(regs)?;
        tracee.resend_deferred_signals()?;
        if r != 0 {
            return Err(ReplayError::Setup(format!(
                "could not give the mapping at {addr:#x} its recorded protection: error {}",
                -r
            )));
        }
    }
    Ok(())
}

/// Fills a replayed file mapping with the recorded file bytes.
fn fill_mapping(
    tracee: &mut Tracee,
    ev: &SyscallEvent,
    trace_dir: &Path,
) -> Result<(), ReplayError> {
    let Some(mapping) = &ev.mapping else {
        return Ok(());
    };
    let path = trace_dir.join("files").join(&mapping.stored_as);
    let data = std::fs::read(&path).map_err(|source| ReplayError::Io {
        what: format!(
            "reading the recorded copy of {} ({})",
            String::from_utf8_lossy(&mapping.file.path),
            path.display()
        ),
        source,
    })?;
    tracee.write_mem(ev.result as u64, &data)?;
    Ok(())
}
